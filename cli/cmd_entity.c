/*
 * cli/cmd_entity.c: score, explain, top: what the fleet thinks of a
 * request or an entity, and which entities look worst.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/err.h"
#include "base/mp.h"
#include "cli/internal.h"

/* Params of score and explain: an event or two strings, well under this. */
enum { PARAMS_MAX = 16 << 10 };

static int score_text(struct ivtctl *c, const json_t *res)
{
    if (!json_is_object(res))
        return ivtctl_bad_reply(c, "an object");
    char line[128];
    ivtctl_score_line(line, sizeof(line), res);
    fprintf(c->out, "Score: %s\n", line);
    return ivtctl_print_reasons(c, res);
}

int ivtctl_cmd_score(struct ivtctl *c, int argc, char **argv)
{
    struct ivtctl_opt opts[] = {
        {"ua", 0, "UA", NULL},     {"device", 0, "ID", NULL},  {"pub", 0, "P", NULL},
        {"kind", 0, "KIND", NULL}, {"country", 0, "CC", NULL}, {"asn", 0, "N", NULL},
        {NULL, 0, NULL, NULL},
    };
    int rc = ivtctl_args_parse(c, opts, argc, argv, 1, 1);
    if (rc < 0)
        return -rc;
    struct ivtctl_event ev = {
        .ip = argv[0],
        .ua = opts[0].value ? opts[0].value : "",
        .device = opts[1].value,
        .pub = opts[2].value ? opts[2].value : "",
        .kind = opts[3].value ? opts[3].value : "request",
        .country = opts[4].value,
    };
    if (opts[5].value && ivtctl_opt_uint(c, "--asn", opts[5].value, 0, UINT32_MAX, &ev.asn))
        return IVTCTL_EXIT_USAGE;
    char msg[160];
    if (ivtctl_event_check(&ev, msg, sizeof(msg)))
        return ivtctl_usage(c, "%s", msg);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, PARAMS_MAX);
    ivt_mpw_array(&w, 2);
    ivtctl_event_write(&w, &ev);
    /* Scoring from ivtctl must not count as traffic. */
    ivt_mpw_map(&w, 1);
    ivt_mpw_cstr(&w, "observe");
    ivt_mpw_bool(&w, false);
    json_t *res = NULL;
    if (ivt_mpw_error(&w))
        rc = ivtctl_usage(c, "arguments too long");
    else
        rc = ivtctl_call(c, "score", &w, &res);
    ivt_mpw_destroy(&w);
    if (rc)
        return rc;
    return ivtctl_finish(c, res, score_text);
}

/* The prefixes ivtd keeps evidence under: a /24 of IPv4 or a /48 of IPv6,
 * named by any address in it with or without that length. */
static bool prefix_ok(const char *key)
{
    const char *slash = strchr(key, '/');
    char addr[64];
    size_t n = slash ? (size_t)(slash - key) : strlen(key);
    if (n == 0 || n >= sizeof(addr))
        return false;
    memcpy(addr, key, n);
    addr[n] = '\0';
    if (!ivtctl_is_ip(addr))
        return false;
    return !slash || strcmp(slash + 1, strchr(addr, ':') ? "48" : "24") == 0;
}

int ivtctl_entity_args(struct ivtctl *c, char **argv)
{
    if (ivtctl_opt_word(c, "KIND", argv[0], ivtctl_entity_kinds) < 0)
        return IVTCTL_EXIT_USAGE;
    if (!*argv[1])
        return ivtctl_usage(c, "KEY must not be empty");
    /* ivtd refuses it too, but as a node error (exit 1) after a round trip;
     * a typo in an address is the operator's, so it is a usage error. */
    if (strcmp(argv[0], "ip") == 0 && !ivtctl_is_ip(argv[1]))
        return ivtctl_usage(c, "KEY '%.60s' is not an IPv4 or IPv6 address (KIND ip)", argv[1]);
    if (strcmp(argv[0], "prefix") == 0 && !prefix_ok(argv[1]))
        return ivtctl_usage(c,
                            "KEY '%.60s' is not a prefix: an address, ADDR/24 (IPv4) or ADDR/48 "
                            "(IPv6), e.g. 198.51.100.0/24",
                            argv[1]);
    return 0;
}

static int explain_text(struct ivtctl *c, const json_t *res)
{
    if (!json_is_object(res))
        return ivtctl_bad_reply(c, "an object");
    struct ivtctl_table t = {0};
    char a[64], b[64], line[160];
    const char *kind = json_string_value(json_object_get(res, "kind"));
    const char *key = json_string_value(json_object_get(res, "key"));
    ivtctl_kv(&t, "Entity", "%s %s", kind ? kind : "-", key ? key : "-");
    ivtctl_kv_json(&t, "Known", json_object_get(res, "known"));
    if (json_is_true(json_object_get(res, "known")))
        ivtctl_kv(&t, "Shared", "%s",
                  json_is_true(json_object_get(res, "shared"))
                      ? "yes: admitted, every node that sees it contributes"
                      : "no: this node's evidence only (not admitted)");
    const json_t *score = json_object_get(res, "score");
    ivtctl_score_line(line, sizeof(line), score);
    ivtctl_kv(&t, "Score", "%s", line);
    ivtctl_kv(&t, "Epochs", "%s .. %s",
              ivtctl_json_text(a, sizeof(a), json_object_get(res, "first_epoch")),
              ivtctl_json_text(b, sizeof(b), json_object_get(res, "last_epoch")));
    const json_t *d = json_object_get(res, "decision");
    if (json_is_object(d)) {
        const json_t *exp = json_object_get(d, "expires");
        json_t *left = json_is_integer(exp)
                           ? json_integer((json_integer_value(exp) - ivtctl_wall_ms()) / 1000)
                           : NULL;
        ivtctl_kv(&t, "Decision", "%s for %s more, by %s: %s",
                  json_string_value(json_object_get(d, "action"))
                      ? json_string_value(json_object_get(d, "action"))
                      : "-",
                  ivtctl_secs_text(a, sizeof(a), left),
                  json_string_value(json_object_get(d, "origin"))
                      ? json_string_value(json_object_get(d, "origin"))
                      : "-",
                  json_string_value(json_object_get(d, "reason"))
                      ? json_string_value(json_object_get(d, "reason"))
                      : "-");
        json_decref(left);
    } else {
        ivtctl_kv(&t, "Decision", "none");
    }
    int rc = ivtctl_table_done(c, &t);
    if (rc)
        return rc;
    const json_t *metrics = json_object_get(res, "metrics");
    if (json_array_size(metrics)) {
        static const struct ivtctl_column cols[] = {
            {"METRIC", IVTCTL_LEFT}, {"LOCAL", IVTCTL_RIGHT}, {"FLEET", IVTCTL_RIGHT}};
        static const char *const keys[] = {"name", "local", "fleet", NULL};
        ivtctl_table_init(&t, cols, 3, true);
        ivtctl_table_rows(&t, metrics, keys);
        fputc('\n', c->out);
        if ((rc = ivtctl_table_done(c, &t)))
            return rc;
    }
    return ivtctl_print_reasons(c, score);
}

int ivtctl_cmd_explain(struct ivtctl *c, int argc, char **argv)
{
    int rc = ivtctl_args_parse(c, NULL, argc, argv, 2, 2);
    if (rc < 0)
        return -rc;
    if ((rc = ivtctl_entity_args(c, argv)))
        return rc;
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, PARAMS_MAX);
    ivt_mpw_array(&w, 2);
    ivt_mpw_cstr(&w, argv[0]);
    ivt_mpw_cstr(&w, argv[1]);
    json_t *res = NULL;
    rc = ivt_mpw_error(&w) ? ivtctl_usage(c, "KEY too long") : ivtctl_call(c, "explain", &w, &res);
    ivt_mpw_destroy(&w);
    if (rc)
        return rc;
    return ivtctl_finish(c, res, explain_text);
}

static int top_text(struct ivtctl *c, const json_t *res)
{
    static const struct ivtctl_column cols[] = {
        {"KIND", IVTCTL_LEFT},       {"KEY", IVTCTL_LEFT},   {"SCORE", IVTCTL_RIGHT},
        {"VERDICT", IVTCTL_LEFT},    {"CLASS", IVTCTL_LEFT}, {"REQUESTS", IVTCTL_RIGHT},
        {"TOP SIGNAL", IVTCTL_LEFT},
    };
    static const char *const keys[] = {"kind",  "key",      "score",      "verdict",
                                       "class", "requests", "top_signal", NULL};
    if (!json_is_array(res))
        return ivtctl_bad_reply(c, "an array");
    struct ivtctl_table t;
    ivtctl_table_init(&t, cols, 7, true);
    ivtctl_table_rows(&t, res, keys);
    return ivtctl_table_done(c, &t);
}

/* top -n: a screenful is 20; the daemon need not rank more than this. */
enum { TOP_DEFAULT = 20, TOP_MAX = 1000 };
/* Between --watch refreshes, as watch(1) does by default. */
#define TOP_INTERVAL_MS (2 * IVT_MS_PER_S)

static void sleep_ms(ivt_ms ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int ivtctl_cmd_top(struct ivtctl *c, int argc, char **argv)
{
    struct ivtctl_opt opts[] = {
        {"kind", 0, "KIND", NULL},         {"n", 'n', "N", NULL},   {"watch", 'w', NULL, NULL},
        {"interval", 0, "DURATION", NULL}, {"count", 0, "N", NULL}, {NULL, 0, NULL, NULL},
    };
    int rc = ivtctl_args_parse(c, opts, argc, argv, 0, 0);
    if (rc < 0)
        return -rc;
    uint64_t n = TOP_DEFAULT, count = 0;
    ivt_ms interval = TOP_INTERVAL_MS;
    if (opts[0].value && ivtctl_opt_word(c, "--kind", opts[0].value, ivtctl_entity_kinds) < 0)
        return IVTCTL_EXIT_USAGE;
    if (opts[1].value && ivtctl_opt_uint(c, "-n", opts[1].value, 1, TOP_MAX, &n))
        return IVTCTL_EXIT_USAGE;
    if (opts[3].value && ivtctl_opt_duration(c, "--interval", opts[3].value, &interval))
        return IVTCTL_EXIT_USAGE;
    if (opts[3].value && interval < 100)
        return ivtctl_usage(c, "--interval must be at least 100ms");
    if (opts[4].value && ivtctl_opt_uint(c, "--count", opts[4].value, 1, UINT32_MAX, &count))
        return IVTCTL_EXIT_USAGE;
    bool watch = opts[2].value != NULL;
    if (!watch && (opts[3].value || opts[4].value))
        return ivtctl_usage(c, "--interval and --count go with --watch");
    uint8_t buf[64];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    ivt_mpw_array(&w, 2);
    if (opts[0].value)
        ivt_mpw_cstr(&w, opts[0].value);
    else
        ivt_mpw_nil(&w);
    ivt_mpw_uint(&w, n);
    bool tty = isatty(fileno(c->out));
    for (uint64_t round = 1;; round++) {
        json_t *res;
        if ((rc = ivtctl_call(c, "top", &w, &res)))
            return rc;
        if (watch && c->output == IVTCTL_OUT_JSON) {
            /* One compact document a line: what `jq -c` and log shippers read. */
            json_dumpf(res, c->out, JSON_COMPACT | JSON_ENCODE_ANY);
            fputc('\n', c->out);
            json_decref(res);
        } else {
            if (watch && tty)
                fputs("\033[H\033[2J", c->out); /* home, clear: redraw in place */
            if (watch) {
                char d[32];
                time_t now = time(NULL);
                char when[32];
                strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
                fprintf(c->out, "Every %s: ivtctl top%s%s   %s\n\n",
                        ivt_duration_format(d, sizeof(d), interval),
                        opts[0].value ? " --kind " : "", opts[0].value ? opts[0].value : "", when);
            }
            if ((rc = ivtctl_finish(c, res, top_text)))
                return rc;
        }
        fflush(c->out);
        if (!watch || (count && round >= count))
            return IVTCTL_EXIT_OK;
        sleep_ms(interval);
    }
}
