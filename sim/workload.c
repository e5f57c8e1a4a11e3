/*
 * sim/workload.c: the traffic of a simulated ad platform, with its truth.
 *
 * Parts:
 *   1. the reference data: browser user agents with their observed share,
 *      crawler user agents, consumer-ISP and hosting address ranges, parsed
 *      from bytes the host read;
 *   2. the actors: each actor group is one Poisson process (rate = members x
 *      per-member rate), thinned by a daily cosine so traffic has a diurnal
 *      shape; an accepted arrival picks a member uniformly;
 *   3. the event: a member's stable traits (address, user agent, device id,
 *      home region) are hashes of (actor seed, member), so a million humans
 *      cost no memory; what varies per event (the CGNAT address in use, the
 *      botnet's rotating user agent, the region a spread actor lands in, the
 *      load-balancer draw) comes from the actor's own random stream.
 *
 * Each actor has its own stream, derived from the scenario seed and its
 * index, so adding an actor to a scenario does not change the events of the
 * others. Ties in time go to the lower actor index: the order is total.
 *
 * Addresses are drawn from whole ranges weighted by their size, the way a
 * random visitor of a real ISP's customer base would land; the address
 * pools of the CGNAT and proxy actors are fixed draws from the ranges of
 * the ASNs they name (T-Mobile USA and Reliance Jio are carriers that put
 * thousands of phones behind one address).
 */
#include "sim/workload.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/rng.h"

/* ---- reference data ---------------------------------------------------- */

struct ua_row {
    uint32_t off;
    uint16_t len;
};

struct range {
    uint32_t first, last, asn;
};

/* A set of address ranges with the running total of their sizes, so a
 * uniform draw over all addresses is one binary search. */
struct range_table {
    struct range *r;
    uint64_t *cum; /* cum[i] = addresses in r[0..i] */
    size_t n;
};

struct sim_data {
    char *text; /* every user agent, back to back */
    size_t text_len, text_cap;
    struct ua_row *human;
    uint64_t *human_cum; /* running sum of weights */
    size_t n_human;
    struct ua_row *crawler;
    size_t n_crawler;
    struct range_table isp, hosting;
};

static int text_add(struct sim_data *d, const char *s, size_t len, struct ua_row *out)
{
    /* Rows hold 32-bit offsets: 4 GiB of user agents is no real data. */
    if (len > UINT32_MAX - d->text_len)
        return IVT_ETOOBIG;
    if (d->text_len + len > d->text_cap) {
        size_t cap = d->text_cap ? d->text_cap * 2 : 65536;
        while (cap < d->text_len + len)
            cap *= 2;
        char *p = realloc(d->text, cap);
        if (!p)
            return IVT_ENOMEM;
        d->text = p;
        d->text_cap = cap;
    }
    memcpy(d->text + d->text_len, s, len);
    out->off = (uint32_t)d->text_len;
    out->len = (uint16_t)len;
    d->text_len += len;
    return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 256;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return IVT_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* The next line of [*pos, end) without its newline (and \r). */
static bool next_line(const char **pos, const char *end, const char **line, size_t *len)
{
    if (*pos >= end)
        return false;
    const char *s = *pos;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl ? nl : end;
    *pos = nl ? nl + 1 : end;
    if (e > s && e[-1] == '\r')
        e--;
    *line = s;
    *len = (size_t)(e - s);
    return true;
}

static bool parse_u32(const char **p, const char *end, uint32_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    while (s < end && *s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return false;
        s++;
    }
    if (s == *p)
        return false;
    *p = s;
    *out = (uint32_t)v;
    return true;
}

static bool parse_ipv4(const char **p, const char *end, uint32_t *out)
{
    uint32_t ip = 0;
    for (int i = 0; i < 4; i++) {
        uint32_t octet;
        if (i && (*p >= end || *(*p)++ != '.'))
            return false;
        if (!parse_u32(p, end, &octet) || octet > 255)
            return false;
        ip = ip << 8 | octet;
    }
    *out = ip;
    return true;
}

/* Where a parser reports: the file being read and the message buffer. */
struct where {
    const char *file;
    char *err;
    size_t cap;
};

/* Writes "FILE:LINE: message" (no line when 0) into the report; returns rc. */
static int bad(const struct where *w, size_t line, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(const struct where *w, size_t line, int rc, const char *fmt, ...)
{
    char msg[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line)
        snprintf(w->err, w->cap, "%s:%zu: %s", w->file, line, msg);
    else
        snprintf(w->err, w->cap, "%s: %s", w->file, msg);
    return rc;
}

static int parse_human(struct sim_data *d, const char *s, size_t len, const struct where *w)
{
    const char *pos = s, *end = s + len, *line;
    size_t n, cap = 0, cumcap = 0, lineno = 0;
    uint64_t total = 0;
    while (next_line(&pos, end, &line, &n)) {
        lineno++;
        if (!n || line[0] == '#')
            continue;
        const char *p = line, *le = line + n;
        uint32_t wt;
        if (!parse_u32(&p, le, &wt) || p >= le || *p != '\t')
            return bad(w, lineno, IVT_EPROTO,
                       "expected WEIGHT<TAB>USER AGENT (a weight below 2^32)");
        p++;
        size_t ualen = (size_t)(le - p);
        if (!wt || !ualen || ualen > SIM_UA_MAX)
            continue;
        if (grow((void **)&d->human, &cap, d->n_human + 1, sizeof(*d->human)) ||
            grow((void **)&d->human_cum, &cumcap, d->n_human + 1, sizeof(*d->human_cum)))
            return bad(w, 0, IVT_ENOMEM, "out of memory");
        int rc = text_add(d, p, ualen, &d->human[d->n_human]);
        if (rc)
            return bad(w, lineno, rc, "%s", ivt_strerror(rc));
        total += wt;
        d->human_cum[d->n_human++] = total;
    }
    return d->n_human ? 0
                      : bad(w, 0, IVT_EPROTO,
                            "no usable row (a weight above 0 and a user agent of 1 to %d bytes)",
                            SIM_UA_MAX);
}

static int parse_ranges(struct range_table *t, const char *s, size_t len, const struct where *w)
{
    const char *pos = s, *end = s + len, *line;
    size_t n, cap = 0, cumcap = 0, lineno = 0;
    uint64_t total = 0;
    while (next_line(&pos, end, &line, &n)) {
        lineno++;
        if (!n || line[0] == '#')
            continue;
        const char *p = line, *le = line + n;
        struct range r;
        if (!parse_ipv4(&p, le, &r.first) || p >= le || *p++ != ',' ||
            !parse_ipv4(&p, le, &r.last) || p >= le || *p++ != ',' || !parse_u32(&p, le, &r.asn))
            return bad(w, lineno, IVT_EPROTO,
                       "expected FIRST_IP,LAST_IP,ASN (IPv4, IPv4, a number)");
        if (r.last < r.first)
            return bad(w, lineno, IVT_EPROTO, "the range ends before it starts");
        if (grow((void **)&t->r, &cap, t->n + 1, sizeof(*t->r)) ||
            grow((void **)&t->cum, &cumcap, t->n + 1, sizeof(*t->cum)))
            return bad(w, 0, IVT_ENOMEM, "out of memory");
        total += (uint64_t)(r.last - r.first) + 1;
        t->r[t->n] = r;
        t->cum[t->n++] = total;
    }
    return t->n ? 0 : bad(w, 0, IVT_EPROTO, "no address range");
}

static int parse_crawlers(struct sim_data *d, const char *s, size_t len, const struct where *w)
{
    json_error_t jerr;
    json_t *root = json_loadb(s, len, 0, &jerr);
    if (!root)
        return bad(w, jerr.line > 0 ? (size_t)jerr.line : 0, IVT_EPROTO, "%s", jerr.text);
    if (!json_is_array(root)) {
        json_decref(root);
        return bad(w, 0, IVT_EPROTO, "expected an array of {\"instances\": [user agents]}");
    }
    size_t cap = 0, i;
    json_t *item;
    int rc = 0;
    json_array_foreach(root, i, item)
    {
        json_t *inst = json_object_get(item, "instances");
        size_t j;
        json_t *ua;
        json_array_foreach(inst, j, ua)
        {
            size_t ualen = json_string_length(ua);
            if (!json_is_string(ua) || !ualen || ualen > SIM_UA_MAX)
                continue;
            if (grow((void **)&d->crawler, &cap, d->n_crawler + 1, sizeof(*d->crawler))) {
                rc = bad(w, 0, IVT_ENOMEM, "out of memory");
                goto out;
            }
            rc = text_add(d, json_string_value(ua), ualen, &d->crawler[d->n_crawler]);
            if (rc) {
                bad(w, 0, rc, "%s", ivt_strerror(rc));
                goto out;
            }
            d->n_crawler++;
        }
    }
    if (!d->n_crawler)
        rc = bad(w, 0, IVT_EPROTO,
                 "no usable user agent (strings of 1 to %d bytes in \"instances\")", SIM_UA_MAX);
out:
    json_decref(root);
    return rc;
}

static void range_table_free(struct range_table *t)
{
    free(t->r);
    free(t->cum);
    memset(t, 0, sizeof(*t));
}

int sim_data_new(struct sim_data **out, const struct sim_data_files *f, char *err, size_t errcap)
{
    *out = NULL;
    struct sim_data *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errcap, "out of memory");
        return IVT_ENOMEM;
    }
    const struct where human = {SIM_DATA_HUMAN_UA, err, errcap},
                       crawler = {SIM_DATA_CRAWLER, err, errcap}, isp = {SIM_DATA_ISP, err, errcap},
                       hosting = {SIM_DATA_HOSTING, err, errcap};
    int rc = parse_human(d, f->human_ua_tsv, f->human_ua_tsv_len, &human);
    if (!rc)
        rc = parse_crawlers(d, f->crawler_json, f->crawler_json_len, &crawler);
    if (!rc)
        rc = parse_ranges(&d->isp, f->isp_csv, f->isp_csv_len, &isp);
    if (!rc)
        rc = parse_ranges(&d->hosting, f->hosting_csv, f->hosting_csv_len, &hosting);
    if (rc) {
        sim_data_delete(d);
        return rc;
    }
    *out = d;
    return 0;
}

void sim_data_delete(struct sim_data *d)
{
    if (!d)
        return;
    free(d->text);
    free(d->human);
    free(d->human_cum);
    free(d->crawler);
    range_table_free(&d->isp);
    range_table_free(&d->hosting);
    free(d);
}

size_t sim_data_human_uas(const struct sim_data *d)
{
    return d->n_human;
}

size_t sim_data_crawler_uas(const struct sim_data *d)
{
    return d->n_crawler;
}

size_t sim_data_ranges(const struct sim_data *d, bool hosting)
{
    return hosting ? d->hosting.n : d->isp.n;
}

/* The first index whose running total exceeds u (cum is increasing). */
static size_t cum_search(const uint64_t *cum, size_t n, uint64_t u)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void range_pick(const struct range_table *t, uint64_t h, uint32_t *ip, uint32_t *asn)
{
    uint64_t u = h % t->cum[t->n - 1];
    size_t i = cum_search(t->cum, t->n, u);
    uint64_t before = i ? t->cum[i - 1] : 0;
    *ip = t->r[i].first + (uint32_t)(u - before);
    *asn = t->r[i].asn;
}

/* ---- actors ------------------------------------------------------------ */

static const char *const kind_names[SIM_ACT_KINDS] = {
    "human",           "crawler", "scraper",         "botnet", "device_farm", "residential_proxy",
    "fraud_publisher", "cgnat",   "corporate_proxy",
};

const char *sim_actor_kind_name(enum sim_actor_kind kind)
{
    return (unsigned)kind < SIM_ACT_KINDS ? kind_names[kind] : "?";
}

int sim_actor_kind_parse(enum sim_actor_kind *out, const char *s)
{
    for (int k = 0; k < SIM_ACT_KINDS; k++)
        if (strcmp(s, kind_names[k]) == 0) {
            *out = (enum sim_actor_kind)k;
            return 0;
        }
    return IVT_EINVAL;
}

enum sim_label sim_actor_kind_label(enum sim_actor_kind kind)
{
    switch (kind) {
    case SIM_ACT_HUMAN:
    case SIM_ACT_CGNAT:
    case SIM_ACT_CORPORATE_PROXY: return SIM_HUMAN;
    default: return SIM_BOT;
    }
}

/* Carriers known for large CGNAT pools, and business ISPs that front
 * corporate proxies, as present in the shipped isp-asn-ipv4.csv. */
static const uint32_t carrier_asns[] = {21928 /* T-Mobile USA */, 55836 /* Reliance Jio */};
static const uint32_t business_asns[] = {7018 /* AT&T Enterprises */, 701 /* Verizon Business */};

void sim_actor_defaults(struct sim_actor_config *a, enum sim_actor_kind kind)
{
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    snprintf(a->name, sizeof(a->name), "%s", sim_actor_kind_name(kind));
    a->region = -1;
    a->impression_share = 0.3;
    a->click_share = 0.02;
    a->ips = 1;
    a->rotate = 1;
    a->ua_pool = 1;
    /* Rates: a browsing human loads an ad about every two minutes; bots are
     * tuned so each is below a single node's thresholds but not the fleet's. */
    switch (kind) {
    case SIM_ACT_HUMAN: a->count = 1000, a->rate_per_min = 0.5; break;
    case SIM_ACT_CRAWLER: a->count = 10, a->rate_per_min = 6, a->spread = true; break;
    case SIM_ACT_SCRAPER: a->count = 5, a->rate_per_min = 20; break;
    case SIM_ACT_BOTNET:
        a->count = 100, a->rate_per_min = 4, a->ua_pool = 12, a->spread = true;
        break;
    case SIM_ACT_DEVICE_FARM:
        a->count = 20, a->rate_per_min = 6, a->ips = 200, a->rotate = 3, a->spread = true;
        break;
    case SIM_ACT_RESIDENTIAL_PROXY:
        a->count = 20, a->rate_per_min = 4, a->ips = 5000, a->spread = true;
        break;
    case SIM_ACT_FRAUD_PUBLISHER:
        a->count = 50, a->rate_per_min = 3, a->click_share = 0.4, a->spread = true;
        snprintf(a->pub, sizeof(a->pub), "pub-fraud");
        break;
    case SIM_ACT_CGNAT:
        a->count = 2000, a->rate_per_min = 0.5, a->ips = 4;
        a->n_asns = sizeof(carrier_asns) / sizeof(carrier_asns[0]);
        memcpy(a->asns, carrier_asns, sizeof(carrier_asns));
        break;
    case SIM_ACT_CORPORATE_PROXY:
        a->count = 300, a->rate_per_min = 0.5, a->ips = 1;
        a->n_asns = sizeof(business_asns) / sizeof(business_asns[0]);
        memcpy(a->asns, business_asns, sizeof(business_asns));
        break;
    default: break;
    }
}

void sim_workload_config_defaults(struct sim_workload_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 1;
    cfg->start_wall = 1700000000000LL; /* 2023-11-14T22:13:20Z: any fixed instant */
    cfg->n_regions = 1;
    cfg->region_share[0] = 1;
    cfg->publishers = 200;
    cfg->diurnal = 0.3;
    cfg->peak_hour = 20;
    cfg->rate_scale = 1;
}

/* Salts that keep a member's traits independent of each other. */
enum {
    SALT_IP = 1,
    SALT_UA = 2,
    SALT_DEV = 3,
    SALT_REGION = 4,
    SALT_POOL = 5,
};

struct actor {
    struct sim_actor_config cfg;
    uint64_t seed;
    struct ivt_rng rng;
    double next;            /* next candidate arrival, simulated ms */
    double lambda_max;      /* candidates per ms: the peak of the daily curve */
    struct range_table own; /* the ASN-filtered table, when filtered */
    const struct range_table *tab;
    uint32_t *used; /* device farm: events per phone since its id reset */
};

struct sim_workload {
    struct sim_workload_config cfg;
    const struct sim_data *data;
    double *pub_cum; /* Zipf weights of honest publishers, running sum */
    double region_cum[SIM_MAX_REGIONS];
    size_t n_actors;
    struct actor *actors;
    struct sim_event pending;
    bool has_pending;
};

static uint64_t trait(const struct actor *a, uint32_t member, uint64_t salt)
{
    return ivt_mix64(a->seed ^ ivt_mix64(((uint64_t)member << 8) ^ salt));
}

static int filter_table(struct range_table *out, const struct range_table *in, const uint32_t *asns,
                        size_t n_asns)
{
    uint64_t total = 0;
    size_t cap = 0, cumcap = 0;
    for (size_t i = 0; i < in->n; i++) {
        bool keep = false;
        for (size_t k = 0; k < n_asns && !keep; k++)
            keep = in->r[i].asn == asns[k];
        if (!keep)
            continue;
        if (grow((void **)&out->r, &cap, out->n + 1, sizeof(*out->r)) ||
            grow((void **)&out->cum, &cumcap, out->n + 1, sizeof(*out->cum)))
            return IVT_ENOMEM;
        total += (uint64_t)(in->r[i].last - in->r[i].first) + 1;
        out->r[out->n] = in->r[i];
        out->cum[out->n++] = total;
    }
    return out->n ? 0 : IVT_EINVAL;
}

static bool uses_hosting(enum sim_actor_kind k)
{
    return k == SIM_ACT_CRAWLER || k == SIM_ACT_SCRAPER || k == SIM_ACT_FRAUD_PUBLISHER;
}

static double diurnal_factor(const struct sim_workload *wl, double t)
{
    double hours = ((double)wl->cfg.start_wall + t) / IVT_MS_PER_HOUR;
    double phase = 2 * M_PI * (fmod(hours, 24.0) - wl->cfg.peak_hour) / 24.0;
    return 1 + wl->cfg.diurnal * cos(phase);
}

static void advance(struct actor *a)
{
    /* 1 - u is in (0, 1]: the log is finite. */
    a->next += -log(1 - ivt_rng_double(&a->rng)) / a->lambda_max;
}

static void make_event(struct sim_workload *wl, size_t ai, struct sim_event *ev);

/* Draws candidates from the earliest actor until one survives thinning. */
static void prepare(struct sim_workload *wl)
{
    wl->has_pending = false;
    for (;;) {
        struct actor *best = NULL;
        size_t bi = 0;
        for (size_t i = 0; i < wl->n_actors; i++) {
            struct actor *a = &wl->actors[i];
            if (a->lambda_max > 0 && (!best || a->next < best->next))
                best = a, bi = i;
        }
        if (!best || best->next > (double)(IVT_MS_NEVER / 2))
            return;
        double t = best->next;
        double accept = diurnal_factor(wl, t) / (1 + wl->cfg.diurnal);
        bool keep = ivt_rng_double(&best->rng) < accept;
        if (keep) {
            make_event(wl, bi, &wl->pending);
            wl->pending.t = (ivt_ms)t;
            wl->pending.wall = wl->cfg.start_wall + wl->pending.t;
        }
        advance(best);
        if (keep) {
            wl->has_pending = true;
            return;
        }
    }
}

void sim_workload_delete(struct sim_workload *wl)
{
    if (!wl)
        return;
    for (size_t i = 0; i < wl->n_actors; i++) {
        range_table_free(&wl->actors[i].own);
        free(wl->actors[i].used);
    }
    free(wl->actors);
    free(wl->pub_cum);
    free(wl);
}

int sim_workload_new(struct sim_workload **out, const struct sim_workload_config *cfg,
                     const struct sim_data *data)
{
    *out = NULL;
    if (!cfg->n_regions || cfg->n_regions > SIM_MAX_REGIONS || cfg->n_actors > SIM_MAX_ACTORS ||
        cfg->diurnal < 0 || cfg->diurnal > 1 || cfg->rate_scale < 0)
        return IVT_EINVAL;
    struct sim_workload *wl = calloc(1, sizeof(*wl));
    if (!wl)
        return IVT_ENOMEM;
    wl->cfg = *cfg;
    wl->data = data;
    int rc = 0;
    double rsum = 0;
    for (uint32_t r = 0; r < cfg->n_regions; r++) {
        rsum += cfg->region_share[r] > 0 ? cfg->region_share[r] : 0;
        wl->region_cum[r] = rsum;
    }
    if (rsum <= 0) {
        rc = IVT_EINVAL;
        goto fail;
    }
    uint32_t npub = cfg->publishers ? cfg->publishers : 1;
    wl->pub_cum = malloc(npub * sizeof(double));
    wl->actors = calloc(cfg->n_actors ? cfg->n_actors : 1, sizeof(*wl->actors));
    if (!wl->pub_cum || !wl->actors) {
        rc = IVT_ENOMEM;
        goto fail;
    }
    double psum = 0;
    for (uint32_t p = 0; p < npub; p++)
        wl->pub_cum[p] = psum += 1.0 / (p + 1); /* Zipf, s = 1: a few big sites, a long tail */
    wl->cfg.publishers = npub;
    for (size_t i = 0; i < cfg->n_actors; i++) {
        struct actor *a = &wl->actors[i];
        a->cfg = cfg->actors[i];
        wl->n_actors = i + 1;
        if (a->cfg.region >= (int)cfg->n_regions || a->cfg.kind >= SIM_ACT_KINDS) {
            rc = IVT_EINVAL;
            goto fail;
        }
        if (!a->cfg.ips)
            a->cfg.ips = 1;
        if (!a->cfg.rotate)
            a->cfg.rotate = 1;
        if (!a->cfg.ua_pool)
            a->cfg.ua_pool = 1;
        a->seed = ivt_mix64(cfg->seed ^ ivt_mix64(0x5157a11ULL + i));
        ivt_rng_seed(&a->rng, a->seed);
        const struct range_table *base = uses_hosting(a->cfg.kind) ? &data->hosting : &data->isp;
        a->tab = base;
        if (a->cfg.n_asns) {
            rc = filter_table(&a->own, base, a->cfg.asns, a->cfg.n_asns);
            if (rc)
                goto fail;
            a->tab = &a->own;
        }
        if (a->cfg.kind == SIM_ACT_DEVICE_FARM && a->cfg.count) {
            a->used = calloc(a->cfg.count, sizeof(*a->used));
            if (!a->used) {
                rc = IVT_ENOMEM;
                goto fail;
            }
        }
        a->lambda_max = (double)a->cfg.count * a->cfg.rate_per_min * cfg->rate_scale *
                        (1 + cfg->diurnal) / IVT_MS_PER_MIN;
        if (a->lambda_max > 0)
            advance(a);
    }
    prepare(wl);
    *out = wl;
    return 0;
fail:
    sim_workload_delete(wl);
    return rc;
}

ivt_ms sim_workload_peek(const struct sim_workload *wl)
{
    return wl->has_pending ? wl->pending.t : IVT_MS_NEVER;
}

void sim_workload_next(struct sim_workload *wl, struct sim_event *ev)
{
    *ev = wl->pending;
    prepare(wl);
}

static void human_ua(const struct sim_workload *wl, uint64_t h, struct sim_event *ev)
{
    const struct sim_data *d = wl->data;
    size_t i = cum_search(d->human_cum, d->n_human, h % d->human_cum[d->n_human - 1]);
    ev->ua = d->text + d->human[i].off;
    ev->ua_len = d->human[i].len;
}

static void set_device(struct sim_event *ev, uint64_t h)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        ev->device[i] = hex[(h >> (4 * i)) & 15];
    ev->device[16] = 0;
    ev->device_len = 16;
}

static uint8_t home_region(const struct sim_workload *wl, const struct actor *a, uint64_t h)
{
    if (a->cfg.region >= 0)
        return (uint8_t)a->cfg.region;
    uint32_t n = wl->cfg.n_regions;
    double u = (double)(h >> 11) * 0x1.0p-53 * wl->region_cum[n - 1];
    for (uint32_t r = 0; r < n; r++)
        if (u < wl->region_cum[r])
            return (uint8_t)r;
    return (uint8_t)(n - 1);
}

static void make_event(struct sim_workload *wl, size_t ai, struct sim_event *ev)
{
    struct actor *a = &wl->actors[ai];
    struct ivt_rng *rng = &a->rng;
    uint32_t m = (uint32_t)ivt_rng_below(rng, a->cfg.count);
    memset(ev, 0, sizeof(*ev));
    ev->actor = (uint8_t)ai;
    ev->member = m;
    ev->label = (uint8_t)sim_actor_kind_label(a->cfg.kind);
    uint64_t h_ip = trait(a, m, SALT_IP), h_ua = trait(a, m, SALT_UA),
             h_dev = trait(a, m, SALT_DEV);
    /* An address from the actor's shared pool: pool slot j is a fixed draw. */
    uint64_t h_pool =
        ivt_mix64(a->seed ^ ivt_mix64(SALT_POOL ^ (ivt_rng_below(rng, a->cfg.ips) << 8)));
    switch (a->cfg.kind) {
    case SIM_ACT_HUMAN:
        range_pick(a->tab, h_ip, &ev->ip, &ev->asn);
        human_ua(wl, h_ua, ev);
        set_device(ev, h_dev);
        break;
    case SIM_ACT_CRAWLER: {
        const struct ua_row *u = &wl->data->crawler[h_ua % wl->data->n_crawler];
        ev->ua = wl->data->text + u->off;
        ev->ua_len = u->len;
        range_pick(a->tab, h_ip, &ev->ip, &ev->asn);
        break;
    }
    case SIM_ACT_SCRAPER:
        range_pick(a->tab, h_ip, &ev->ip, &ev->asn);
        human_ua(wl, h_ua, ev);
        break;
    case SIM_ACT_BOTNET:
        range_pick(a->tab, h_ip, &ev->ip, &ev->asn);
        human_ua(wl, ivt_mix64(h_ua ^ ivt_rng_below(rng, a->cfg.ua_pool)), ev);
        break;
    case SIM_ACT_DEVICE_FARM: {
        uint32_t resets = a->used[m]++ / a->cfg.rotate;
        range_pick(a->tab, h_pool, &ev->ip, &ev->asn);
        human_ua(wl, h_ua, ev);
        set_device(ev, ivt_mix64(h_dev ^ resets));
        break;
    }
    case SIM_ACT_RESIDENTIAL_PROXY:
    case SIM_ACT_CGNAT:
    case SIM_ACT_CORPORATE_PROXY:
        range_pick(a->tab, h_pool, &ev->ip, &ev->asn);
        human_ua(wl, h_ua, ev);
        set_device(ev, h_dev);
        break;
    case SIM_ACT_FRAUD_PUBLISHER:
        range_pick(a->tab, h_ip, &ev->ip, &ev->asn);
        human_ua(wl, h_ua, ev);
        set_device(ev, ivt_rng_next(rng)); /* bought traffic: a fresh id every time */
        break;
    default: break;
    }
    if (a->cfg.kind == SIM_ACT_FRAUD_PUBLISHER && a->cfg.pub[0]) {
        ev->pub_len = (uint8_t)snprintf(ev->pub, sizeof(ev->pub), "%s", a->cfg.pub);
    } else {
        uint32_t np = wl->cfg.publishers, p;
        if (sim_actor_kind_label(a->cfg.kind) == SIM_HUMAN) {
            double u = ivt_rng_double(rng) * wl->pub_cum[np - 1];
            uint32_t lo = 0, hi = np - 1;
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (wl->pub_cum[mid] > u)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            p = lo;
        } else {
            p = (uint32_t)ivt_rng_below(rng, np); /* bots do not follow audiences */
        }
        ev->pub_len = (uint8_t)snprintf(ev->pub, sizeof(ev->pub), "pub-%04u", p);
    }
    double u = ivt_rng_double(rng);
    ev->kind = u < a->cfg.click_share                             ? 2
               : u < a->cfg.click_share + a->cfg.impression_share ? 1
                                                                  : 0;
    ev->region = a->cfg.spread ? (uint8_t)ivt_rng_below(rng, wl->cfg.n_regions)
                               : home_region(wl, a, trait(a, m, SALT_REGION));
    ev->lb = (uint32_t)(ivt_rng_next(rng) >> 32);
}

const char *sim_ip_format(uint32_t ip, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    return buf;
}

/* Appends s as a JSON string body (escaped). Returns the new length or -1. */
static int json_escape(char *buf, size_t cap, size_t n, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[6];
        size_t k = 0;
        if (c == '"' || c == '\\') {
            tmp[k++] = '\\';
            tmp[k++] = (char)c;
        } else if (c < 0x20) {
            tmp[k++] = '\\', tmp[k++] = 'u', tmp[k++] = '0', tmp[k++] = '0';
            tmp[k++] = hex[c >> 4], tmp[k++] = hex[c & 15];
        } else {
            tmp[k++] = (char)c;
        }
        if (n + k >= cap)
            return -1;
        memcpy(buf + n, tmp, k);
        n += k;
    }
    return (int)n;
}

int sim_event_json(char *buf, size_t cap, const struct sim_event *ev)
{
    static const char *const kinds[] = {"request", "impression", "click"};
    char ip[16];
    int n = snprintf(buf, cap, "{\"ts\":%lld,\"ip\":\"%s\",\"ua\":\"", (long long)ev->wall,
                     sim_ip_format(ev->ip, ip, sizeof(ip)));
    if (n < 0 || (size_t)n >= cap)
        return IVT_ENOSPC;
    n = json_escape(buf, cap, (size_t)n, ev->ua, ev->ua_len);
    if (n < 0)
        return IVT_ENOSPC;
    int k = ev->device_len ? snprintf(buf + n, cap - (size_t)n, "\",\"device\":\"%.*s",
                                      (int)ev->device_len, ev->device)
                           : 0;
    if (k < 0 || (size_t)(n + k) >= cap)
        return IVT_ENOSPC;
    n += k;
    k = snprintf(buf + n, cap - (size_t)n, "\",\"pub\":\"%.*s\",\"kind\":\"%s\",\"asn\":%u}\n",
                 (int)ev->pub_len, ev->pub, kinds[ev->kind < 3 ? ev->kind : 0], ev->asn);
    if (k < 0 || (size_t)(n + k) >= cap)
        return IVT_ENOSPC;
    return n + k;
}
