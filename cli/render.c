/*
 * cli/render.c: the pieces text mode repeats: finishing a command in either
 * output mode, label/value blocks, scores with their reasons, ages.
 *
 * Text renderers are lenient about the reply's shape below the top level:
 * a field a newer or older ivtd does not send shows as "-", so ivtctl and
 * ivtd of neighbouring versions still talk. JSON mode prints what came.
 */
#include <stdarg.h>
#include <string.h>

#include "cli/internal.h"

int ivtctl_finish(struct ivtctl *c, json_t *res, ivtctl_render *text)
{
    int rc = IVTCTL_EXIT_OK;
    if (c->output == IVTCTL_OUT_JSON)
        ivtctl_print_json(c, res);
    else
        rc = text(c, res);
    json_decref(res);
    return rc;
}

int ivtctl_simple(struct ivtctl *c, int argc, char **argv, const char *method, ivtctl_render *text)
{
    int rc = ivtctl_args_parse(c, NULL, argc, argv, 0, 0);
    if (rc < 0)
        return -rc;
    json_t *res;
    if ((rc = ivtctl_call0(c, method, &res)))
        return rc;
    return ivtctl_finish(c, res, text);
}

int ivtctl_bad_reply(struct ivtctl *c, const char *what)
{
    return ivtctl_fail(c, IVTCTL_EXIT_NODE, "EPROTO", "the node's reply to '%s' is not %s",
                       c->cmd ? c->cmd->name : "?", what);
}

static const struct ivtctl_column kv_cols[] = {{"", IVTCTL_LEFT}, {"", IVTCTL_LEFT}};

void ivtctl_kv(struct ivtctl_table *t, const char *label, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (!t->ncols)
        ivtctl_table_init(t, kv_cols, 2, false);
    ivtctl_table_cell(t, "%s:", label);
    ivtctl_table_cell(t, "%s", buf);
}

void ivtctl_kv_json(struct ivtctl_table *t, const char *label, const json_t *v)
{
    char buf[512];
    ivtctl_kv(t, label, "%s", v ? ivtctl_json_text(buf, sizeof(buf), v) : "-");
}

int ivtctl_table_done(struct ivtctl *c, struct ivtctl_table *t)
{
    int rc = ivtctl_table_print(t, c->out);
    ivtctl_table_destroy(t);
    if (rc)
        return ivtctl_fail(c, IVTCTL_EXIT_NODE, "ENOMEM", "out of memory");
    return IVTCTL_EXIT_OK;
}

void ivtctl_score_line(char *buf, size_t cap, const json_t *score)
{
    char s[32], v[32], k[32];
    const json_t *cls = json_object_get(score, "class");
    ivtctl_json_text(s, sizeof(s), json_object_get(score, "score"));
    ivtctl_json_text(v, sizeof(v), json_object_get(score, "verdict"));
    if (json_is_string(cls))
        snprintf(buf, cap, "%s (%s, %s)%s", s, v, ivtctl_json_text(k, sizeof(k), cls),
                 json_is_true(json_object_get(score, "decided")) ? ", decided by an operator" : "");
    else
        snprintf(buf, cap, "%s (%s)%s", s, v,
                 json_is_true(json_object_get(score, "decided")) ? ", decided by an operator" : "");
}

int ivtctl_print_reasons(struct ivtctl *c, const json_t *score)
{
    static const struct ivtctl_column cols[] = {
        {"SIGNAL", IVTCTL_LEFT},     {"LOCAL", IVTCTL_RIGHT},  {"FLEET", IVTCTL_RIGHT},
        {"THRESHOLD", IVTCTL_RIGHT}, {"POINTS", IVTCTL_RIGHT}, {"DETAIL", IVTCTL_LEFT},
    };
    static const char *const keys[] = {"signal", "local",  "fleet", "threshold",
                                       "points", "detail", NULL};
    const json_t *reasons = json_object_get(score, "reasons");
    if (!json_array_size(reasons))
        return IVTCTL_EXIT_OK;
    struct ivtctl_table t;
    ivtctl_table_init(&t, cols, 6, true);
    ivtctl_table_rows(&t, reasons, keys);
    fputc('\n', c->out);
    return ivtctl_table_done(c, &t);
}

const char *ivtctl_secs_text(char *buf, size_t cap, const json_t *secs)
{
    if (!json_is_number(secs)) {
        snprintf(buf, cap, "-");
        return buf;
    }
    double s = json_number_value(secs);
    /* Clamp before the cast: a double past INT64_MAX does not convert. */
    if (!(s >= 0))
        s = 0;
    if (s > 1e12)
        s = 1e12;
    /* The two largest units, rounded down, as `kubectl get` ages read:
     * "6d22h", "3h58m", "1m1s", "4s". A table cell needs no more. */
    static const struct {
        const char *name;
        int64_t secs;
    } units[] = {{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}};
    int64_t v = (int64_t)s;
    size_t len = 0;
    int shown = 0;
    buf[0] = '\0';
    for (int i = 0; i < 4 && shown < 2; i++) {
        int64_t n = v / units[i].secs;
        v -= n * units[i].secs;
        if (shown && n == 0)
            break; /* "1h" rather than "1h0m" */
        if (n || (i == 3 && !shown)) {
            len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%lld%s", (long long)n,
                                    units[i].name);
            shown++;
        }
    }
    return buf;
}

const char *ivtctl_bytes_text(char *buf, size_t cap, const json_t *bytes)
{
    if (!json_is_number(bytes)) {
        snprintf(buf, cap, "-");
        return buf;
    }
    double b = json_number_value(bytes);
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
    return buf;
}
