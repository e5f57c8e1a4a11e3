/*
 * sim/report.c: trace hash, timeline (CSV and SVG) and summary.json.
 *
 * The SVG is written by hand: four stacked panels sharing the time axis
 * (membership as the mean view sees it, bytes per node, detections per
 * second, evidence divergence), each with its own y axis, grid, tick labels
 * and legend, so that a person sees at a glance when a crash was noticed,
 * what it cost on the wire and when the fleet agreed again.
 */
#include "sim/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"

/* ---- trace ------------------------------------------------------------- */

enum { TRACE_DIGEST = 16 /* 128 bits: collisions are not a concern at our scale */ };

void sim_trace_init(struct sim_trace *tr)
{
    crypto_generichash_init(&tr->st, NULL, 0, TRACE_DIGEST);
    tr->n = 0;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void sim_trace_add(struct sim_trace *tr, const struct sim_trace_rec *r)
{
    /* Serialised field by field: struct padding never reaches the hash. */
    uint8_t b[48];
    put64(b, (uint64_t)r->t);
    put64(b + 8, r->seq);
    put64(b + 16, (uint64_t)r->kind << 32 | r->node);
    put64(b + 24, r->a);
    put64(b + 32, r->b);
    put64(b + 40, tr->n);
    crypto_generichash_update(&tr->st, b, sizeof(b));
    tr->n++;
}

void sim_trace_hex(const struct sim_trace *tr, char out[SIM_TRACE_HEX])
{
    crypto_generichash_state copy = tr->st;
    uint8_t d[TRACE_DIGEST];
    crypto_generichash_final(&copy, d, sizeof(d));
    sodium_bin2hex(out, SIM_TRACE_HEX, d, sizeof(d));
}

uint64_t sim_digest64(const void *p, size_t n)
{
    /* FNV-1a: cheap and stable; this only summarises bytes for the trace.
     * Eight bytes a turn (the same sequence of steps): every datagram sent
     * is summarised, and the loop's own count was half the cost. */
    const uint8_t *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    const uint64_t prime = 0x100000001b3ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        h = (h ^ s[i]) * prime;
        h = (h ^ s[i + 1]) * prime;
        h = (h ^ s[i + 2]) * prime;
        h = (h ^ s[i + 3]) * prime;
        h = (h ^ s[i + 4]) * prime;
        h = (h ^ s[i + 5]) * prime;
        h = (h ^ s[i + 6]) * prime;
        h = (h ^ s[i + 7]) * prime;
    }
    for (; i < n; i++)
        h = (h ^ s[i]) * prime;
    return h;
}

/* ---- timeline ---------------------------------------------------------- */

int sim_timeline_add(struct sim_timeline *tl, const struct sim_timeline_row *row)
{
    if (tl->n == tl->cap) {
        size_t cap = tl->cap ? tl->cap * 2 : 256;
        struct sim_timeline_row *p = realloc(tl->rows, cap * sizeof(*p));
        if (!p)
            return IVT_ENOMEM;
        tl->rows = p;
        tl->cap = cap;
    }
    tl->rows[tl->n++] = *row;
    return 0;
}

void sim_timeline_destroy(struct sim_timeline *tl)
{
    free(tl->rows);
    memset(tl, 0, sizeof(*tl));
}

int sim_timeline_write_csv(const struct sim_timeline *tl, FILE *f)
{
    fprintf(f, "t_s,live,alive,suspect,dead,views_agree,bytes,bytes_per_node,divergence,events,"
               "bot_events,flagged,flagged_bots\n");
    for (size_t i = 0; i < tl->n; i++) {
        const struct sim_timeline_row *r = &tl->rows[i];
        fprintf(f, "%.0f,%u,%.3f,%.3f,%.3f,%.4f,%llu,%.1f,%.4f,%llu,%llu,%llu,%llu\n", r->t_s,
                r->live, r->alive, r->suspect, r->dead, r->views_agree,
                (unsigned long long)r->bytes, r->bytes_per_node, r->divergence,
                (unsigned long long)r->events, (unsigned long long)r->bot_events,
                (unsigned long long)r->flagged, (unsigned long long)r->flagged_bots);
    }
    return ferror(f) ? IVT_ENOSPC : 0;
}

enum series {
    S_LIVE,
    S_ALIVE,
    S_SUSPECT,
    S_DEAD,
    S_BYTES,
    S_EVENTS,
    S_BOTS,
    S_FLAGGED,
    S_FLAGGED_BOTS,
    S_DIVERGENCE,
    S_AGREE,
};

static double value(const struct sim_timeline_row *r, enum series s)
{
    switch (s) {
    case S_LIVE: return r->live;
    case S_ALIVE: return r->alive;
    case S_SUSPECT: return r->suspect;
    case S_DEAD: return r->dead;
    case S_BYTES: return r->bytes_per_node;
    case S_EVENTS: return (double)r->events;
    case S_BOTS: return (double)r->bot_events;
    case S_FLAGGED: return (double)r->flagged;
    case S_FLAGGED_BOTS: return (double)r->flagged_bots;
    case S_DIVERGENCE: return r->divergence;
    case S_AGREE: return r->views_agree;
    }
    return 0;
}

struct line {
    enum series s;
    const char *label;
    const char *color;
    bool dashed;
};

/* Layout of the picture, in SVG user units (pixels at 100%). */
enum {
    SVG_W = 1000,
    PANEL_H = 150,
    PANEL_GAP = 46,
    LEFT = 80,   /* room for y tick labels */
    RIGHT = 190, /* room for the legend */
    TOP = 50,
    BOTTOM = 50,
    TICKS = 4,
};

/* A round step (1, 2 or 5 x 10^k) that cuts [0, max] into about n parts. */
static double nice_step(double max, int n)
{
    if (max <= 0)
        return 1;
    double raw = max / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static void fmt_num(char *buf, size_t cap, double v)
{
    if (fabs(v) >= 1e6)
        snprintf(buf, cap, "%.3gM", v / 1e6);
    else if (fabs(v) >= 1e4)
        snprintf(buf, cap, "%.3gk", v / 1e3);
    else
        snprintf(buf, cap, "%g", v);
}

static void panel(FILE *f, const struct sim_timeline *tl, int y0, const char *title,
                  const char *unit, const struct line *lines, size_t n_lines, double tmax,
                  double fixed_max)
{
    int pw = SVG_W - LEFT - RIGHT;
    double ymax = fixed_max;
    if (ymax <= 0) {
        for (size_t i = 0; i < tl->n; i++)
            for (size_t k = 0; k < n_lines; k++)
                if (isfinite(value(&tl->rows[i], lines[k].s)))
                    ymax = fmax(ymax, value(&tl->rows[i], lines[k].s));
        double step = nice_step(ymax * 1.05, TICKS);
        ymax = ceil(ymax * 1.05 / step) * step;
        if (ymax <= 0)
            ymax = 1;
    }
    fprintf(f, "<g>\n<text x=\"%d\" y=\"%d\" class=\"title\">%s</text>\n", LEFT, y0 - 8, title);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"unit\" text-anchor=\"end\">%s</text>\n", LEFT - 8,
            y0 - 8, unit);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", LEFT, y0,
            pw, PANEL_H);
    double ystep = nice_step(ymax, TICKS);
    for (double v = 0; v <= ymax * 1.0001; v += ystep) {
        double y = y0 + PANEL_H - v / ymax * PANEL_H;
        char lab[32];
        fmt_num(lab, sizeof(lab), v);
        fprintf(f,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                "<text x=\"%d\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%s</text>\n",
                LEFT, LEFT + pw, y, y, LEFT - 6, y + 4, lab);
    }
    double tstep = nice_step(tmax, 8);
    for (double t = 0; t <= tmax * 1.0001; t += tstep) {
        double x = LEFT + t / tmax * pw;
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"grid\"/>"
                "<text x=\"%.1f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">%g</text>\n",
                x, x, y0, y0 + PANEL_H, x, y0 + PANEL_H + 14, t);
    }
    for (size_t k = 0; k < n_lines; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s points=\"",
                lines[k].color, lines[k].dashed ? " stroke-dasharray=\"5,3\"" : "");
        for (size_t i = 0; i < tl->n; i++) {
            double v = value(&tl->rows[i], lines[k].s);
            if (!isfinite(v))
                continue;
            double x = LEFT + tl->rows[i].t_s / tmax * pw;
            double y = y0 + PANEL_H - fmin(v, ymax) / ymax * PANEL_H;
            fprintf(f, "%.1f,%.1f ", x, y);
        }
        fprintf(f, "\"/>\n");
        int ly = y0 + 14 + (int)k * 18;
        fprintf(f,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"%s/>"
                "<text x=\"%d\" y=\"%d\" class=\"legend\">%s</text>\n",
                LEFT + pw + 14, LEFT + pw + 36, ly - 4, ly - 4, lines[k].color,
                lines[k].dashed ? " stroke-dasharray=\"5,3\"" : "", LEFT + pw + 42, ly,
                lines[k].label);
    }
    fprintf(f, "</g>\n");
}

int sim_timeline_write_svg(const struct sim_timeline *tl, FILE *f, const char *title)
{
    static const struct line members[] = {
        {S_LIVE, "nodes running (truth)", "#999999", true},
        {S_ALIVE, "alive (mean view)", "#2b8a3e", false},
        {S_SUSPECT, "suspect (mean view)", "#e8a317", false},
        {S_DEAD, "dead (mean view)", "#c92a2a", false},
    };
    static const struct line bytes[] = {{S_BYTES, "bytes sent per node", "#1864ab", false}};
    static const struct line detect[] = {
        {S_EVENTS, "events", "#999999", true},
        {S_BOTS, "bot events (truth)", "#c92a2a", true},
        {S_FLAGGED, "flagged", "#5f3dc4", false},
        {S_FLAGGED_BOTS, "flagged bots", "#c92a2a", false},
    };
    static const struct line div[] = {
        {S_DIVERGENCE, "evidence divergence", "#d9480f", false},
        {S_AGREE, "views matching truth", "#2b8a3e", true},
    };
    double tmax = tl->n ? tl->rows[tl->n - 1].t_s : 1;
    if (tmax <= 0)
        tmax = 1;
    int h = TOP + 4 * PANEL_H + 3 * PANEL_GAP + BOTTOM;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<style>.title{font-size:14px;font-weight:bold}.unit,.tick{font-size:11px;"
            "fill:#444}.legend{font-size:12px}.frame{fill:none;stroke:#333}"
            ".grid{stroke:#e5e5e5}</style>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"24\" font-size=\"16\">",
            SVG_W, h, SVG_W, h, LEFT);
    for (const char *p = title; *p; p++) {
        if (*p == '<')
            fputs("&lt;", f);
        else if (*p == '&')
            fputs("&amp;", f);
        else
            fputc(*p, f);
    }
    fprintf(f, "</text>\n");
    int y = TOP;
    panel(f, tl, y, "Membership", "members", members, 4, tmax, 0);
    y += PANEL_H + PANEL_GAP;
    panel(f, tl, y, "Gossip load", "bytes/s", bytes, 1, tmax, 0);
    y += PANEL_H + PANEL_GAP;
    panel(f, tl, y, "Detection", "events/s", detect, 4, tmax, 0);
    y += PANEL_H + PANEL_GAP;
    panel(f, tl, y, "Agreement", "fraction", div, 2, tmax, 1);
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" class=\"unit\" text-anchor=\"middle\">simulated "
            "seconds</text>\n</svg>\n",
            LEFT + (SVG_W - LEFT - RIGHT) / 2, h - 12);
    return ferror(f) ? IVT_ENOSPC : 0;
}

/* ---- figures and models ------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double sim_percentile(double *v, size_t n, double p)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof(*v), cmp_double);
    double rank = ceil(p / 100.0 * (double)n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    return v[i < n ? i : n - 1];
}

double sim_model_first_detect_s(double probe_interval_s)
{
    return probe_interval_s * M_E / (M_E - 1);
}

double sim_model_dissemination_s(double n, double fanout, double interval_s, double frac)
{
    /* x(t) = n / (1 + (n - 1) e^(-r t)), r = fanout / interval: solve x = frac n. */
    if (n <= 1 || fanout <= 0 || interval_s <= 0 || frac <= 0 || frac >= 1)
        return 0;
    double r = fanout / interval_s;
    return log((n - 1) * frac / (1 - frac)) / r;
}

/* ---- summary ----------------------------------------------------------- */

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

int sim_summary_write_json(const struct sim_summary *s, const char *path)
{
    json_t *o = json_object();
    json_t *model = json_object();
    json_t *checks = json_array();
    if (!o || !model || !checks) {
        json_decref(o);
        json_decref(model);
        json_decref(checks);
        return IVT_ENOMEM;
    }
    json_object_set_new(o, "scenario", json_string(s->scenario));
    json_object_set_new(o, "scenario_path", json_string(s->scenario_path));
    json_object_set_new(o, "nodes", json_integer(s->nodes));
    json_object_set_new(o, "sim_seconds", num(s->sim_seconds));
    json_object_set_new(o, "wall_seconds", num(s->wall_seconds));
    json_object_set_new(o, "seed", json_integer((json_int_t)s->seed));
    json_object_set_new(o, "trace_hash", json_string(s->trace_hash));
    json_object_set_new(o, "trace_events", json_integer((json_int_t)s->trace_events));
    json_object_set_new(o, "crashes", json_integer(s->crashes));
    json_object_set_new(o, "first_detect_s", num(s->first_detect_s));
    json_object_set_new(o, "first_dead_s", num(s->first_dead_s));
    json_object_set_new(o, "dead_everywhere_p50_s", num(s->dead_everywhere_p50_s));
    json_object_set_new(o, "dead_everywhere_p99_s", num(s->dead_everywhere_p99_s));
    json_object_set_new(o, "dead_everywhere_missing", json_integer(s->dead_everywhere_missing));
    json_object_set_new(o, "false_dead", json_integer(s->false_dead));
    json_object_set_new(o, "false_suspect_views", json_integer(s->false_suspect_views));
    json_object_set_new(o, "dissemination_p99_s", num(s->dissemination_p99_s));
    json_object_set_new(o, "bytes_per_node_per_s", num(s->bytes_per_node_per_s));
    json_object_set_new(o, "bytes_per_node_per_s_max_node", num(s->bytes_per_node_per_s_max_node));
    json_t *tr = json_object();
    if (tr) {
        const struct sim_traffic *t = &s->traffic;
        json_object_set_new(tr, "membership", num(t->membership));
        json_object_set_new(tr, "payload", num(t->payload));
        json_object_set_new(tr, "probe", num(t->probe));
        json_object_set_new(tr, "pushpull", num(t->pushpull));
        json_object_set_new(tr, "overhead", num(t->overhead));
        json_object_set_new(tr, "payloads_published",
                            json_integer((json_int_t)t->payloads_published));
        json_object_set_new(tr, "payloads_delivered",
                            json_integer((json_int_t)t->payloads_delivered));
        json_object_set_new(tr, "payload_datagrams",
                            json_integer((json_int_t)t->payload_datagrams));
        json_object_set_new(tr, "payloads_dropped", json_integer((json_int_t)t->payloads_dropped));
        json_object_set_new(tr, "payloads_asked", json_integer((json_int_t)t->asks_sent));
        json_object_set_new(tr, "asks_answered", json_integer((json_int_t)t->asks_answered));
        json_object_set_new(tr, "asks_unanswered", json_integer((json_int_t)t->asks_unanswered));
        json_object_set_new(tr, "asks_overflow", json_integer((json_int_t)t->asks_overflow));
        json_object_set_new(o, "bytes_per_node_per_s_by_kind", tr);
    }
    json_object_set_new(o, "packets_sent", json_integer((json_int_t)s->packets_sent));
    json_object_set_new(o, "packets_dropped_net", json_integer((json_int_t)s->packets_dropped_net));
    json_object_set_new(o, "packets_oversize", json_integer((json_int_t)s->packets_oversize));
    json_object_set_new(o, "packets_policed", json_integer((json_int_t)s->packets_policed));
    json_object_set_new(o, "gossip_nomem", json_integer((json_int_t)s->gossip_nomem));
    json_object_set_new(o, "ticks", json_integer((json_int_t)s->ticks));
    json_object_set_new(o, "storm_updates", json_integer((json_int_t)s->storm_updates));
    json_object_set_new(o, "syncs_after_growth", json_integer((json_int_t)s->syncs_after_growth));
    json_object_set_new(o, "pulls_again", json_integer((json_int_t)s->pulls_again));
    json_object_set_new(o, "suspects_heard", json_integer((json_int_t)s->suspects_heard));
    json_object_set_new(o, "suspects_shown", json_integer((json_int_t)s->suspects_shown));
    json_object_set_new(o, "converged", json_boolean(s->converged));
    json_object_set_new(o, "converged_after_s", num(s->converged_after_s));
    json_object_set_new(o, "divergence_final", num(s->divergence_final));
    json_object_set_new(o, "scored", json_integer((json_int_t)s->scored));
    json_object_set_new(o, "scored_bots", json_integer((json_int_t)s->scored_bots));
    json_object_set_new(o, "tp", json_integer((json_int_t)s->tp));
    json_object_set_new(o, "fp", json_integer((json_int_t)s->fp));
    json_object_set_new(o, "fn", json_integer((json_int_t)s->fn));
    json_object_set_new(o, "recall", num(s->recall));
    json_object_set_new(o, "precision", num(s->precision));
    json_object_set_new(o, "recall_isolated", num(s->recall_isolated));
    json_object_set_new(o, "precision_isolated", num(s->precision_isolated));
    json_object_set_new(o, "recall_oracle", num(s->recall_oracle));
    json_object_set_new(o, "precision_oracle", num(s->precision_oracle));
    json_t *actors = json_array();
    for (size_t i = 0; actors && i < s->n_actors; i++) {
        const struct sim_actor_result *a = &s->actors[i];
        json_t *row = json_pack("{s:s, s:s, s:I, s:I, s:o}", "name", a->name, "label",
                                a->bot ? "bot" : "human", "events", (json_int_t)a->events,
                                "flagged", (json_int_t)a->flagged, "flagged_share",
                                num(a->events ? (double)a->flagged / (double)a->events : NAN));
        if (row)
            json_array_append_new(actors, row);
    }
    if (actors)
        json_object_set_new(o, "actors", actors);
    json_object_set_new(model, "first_detect_s", num(s->first_detect_model_s));
    json_object_set_new(model, "dissemination_p99_s", num(s->dissemination_model_p99_s));
    json_object_set_new(o, "model", model);
    for (size_t i = 0; i < s->n_checks; i++) {
        const struct sim_check_result *c = &s->checks[i];
        json_t *row =
            json_pack("{s:s, s:b, s:o, s:o, s:s}", "name", c->name, "ok", c->ok, "measured",
                      num(c->measured), "limit", num(c->limit), "detail", c->detail);
        if (row)
            json_array_append_new(checks, row);
    }
    json_object_set_new(o, "checks", checks);
    json_object_set_new(o, "passed", json_boolean(s->passed));
    int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
    json_decref(o);
    return rc ? IVT_ENOENT : 0;
}
