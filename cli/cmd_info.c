/*
 * cli/cmd_info.c: status, members, metrics: what the node and the cluster
 * look like from here.
 */
#include <string.h>

#include "base/mp.h"
#include "cli/internal.h"

static const char *const member_states[] = {"alive", "suspect", "dead", "left", NULL};
/* status.keyring: alive members whose keyring matches this node's. */
static const char *const keyring_matches[] = {"same", "different", "unknown", NULL};

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* "3 alive, 1 suspect, ...": the counts of an object, in the order of
 * names, or with names NULL in the order the node sent them (names it
 * owns, such as its callback kinds); "-" when the node did not send it
 * (an older ivtd). */
static void counts_line(struct ivtctl_table *t, const char *label, const json_t *counts,
                        const char *const *names, const char *suffix)
{
    if (!json_is_object(counts)) {
        ivtctl_kv(t, label, "-");
        return;
    }
    char line[256], a[64];
    size_t len = 0;
    void *it = names ? NULL : json_object_iter((json_t *)counts);
    for (int i = 0; (names ? names[i] != NULL : it != NULL) && len < sizeof(line); i++) {
        const char *name = names ? names[i] : json_object_iter_key(it);
        const json_t *v = names ? json_object_get(counts, name) : json_object_iter_value(it);
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s %s", i ? ", " : "",
                                ivtctl_json_text(a, sizeof(a), v), name);
        if (it)
            it = json_object_iter_next((json_t *)counts, it);
    }
    ivtctl_kv(t, label, "%s%s", line, suffix);
}

static int status_text(struct ivtctl *c, const json_t *res)
{
    if (!json_is_object(res))
        return ivtctl_bad_reply(c, "an object");
    struct ivtctl_table t = {0};
    char a[64], b[64], d[64];
    const json_t *m = json_object_get(res, "members");
    ivtctl_kv_json(&t, "Name", json_object_get(res, "name"));
    ivtctl_kv_json(&t, "ID", json_object_get(res, "id"));
    ivtctl_kv_json(&t, "Generation", json_object_get(res, "generation"));
    ivtctl_kv(&t, "Cluster", "%s (profile %s)", str_or(res, "label", "-"),
              str_or(res, "profile", "-"));
    counts_line(&t, "Members", m, member_states, "");
    ivtctl_kv_json(&t, "Epoch", json_object_get(res, "epoch"));
    ivtctl_kv(&t, "Keys", "%s (primary %s)",
              ivtctl_json_text(a, sizeof(a), json_object_get(res, "keys")),
              str_or(res, "primary_key", "-"));
    counts_line(&t, "Keyring", json_object_get(res, "keyring"), keyring_matches,
                " (alive members)");
    ivtctl_kv(&t, "Uptime", "%s", ivtctl_secs_text(a, sizeof(a), json_object_get(res, "uptime_s")));
    ivtctl_kv(&t, "Events", "%s/s (%s observed)",
              ivtctl_json_text(a, sizeof(a), json_object_get(res, "events_per_s")),
              ivtctl_json_text(b, sizeof(b), json_object_get(res, "events_observed")));
    ivtctl_kv(&t, "Evidence", "%s entities (%s shared), %s",
              ivtctl_json_text(a, sizeof(a), json_object_get(res, "entities")),
              ivtctl_json_text(b, sizeof(b), json_object_get(res, "entities_shared")),
              ivtctl_bytes_text(d, sizeof(d), json_object_get(res, "evidence_bytes")));
    ivtctl_kv(&t, "Gossip", "%s/s",
              ivtctl_bytes_text(a, sizeof(a), json_object_get(res, "gossip_bytes_per_s")));
    /* What held the event loop since start: an SRE's first look when the
     * score latency rose (docs/operations.md). */
    const json_t *loop = json_object_get(res, "loop");
    char lag[96];
    snprintf(lag, sizeof(lag), " over 1 ms; lag max %s ms",
             ivtctl_json_text(a, sizeof(a), json_object_get(loop, "lag_max_ms")));
    counts_line(&t, "Loop", json_object_get(loop, "slow_callbacks"), NULL, lag);
    ivtctl_kv_json(&t, "Version", json_object_get(res, "version"));
    return ivtctl_table_done(c, &t);
}

int ivtctl_cmd_status(struct ivtctl *c, int argc, char **argv)
{
    return ivtctl_simple(c, argc, argv, "status", status_text);
}

static int members_text(struct ivtctl *c, const json_t *res)
{
    static const struct ivtctl_column cols[] = {
        {"NAME", IVTCTL_LEFT},         {"ADDRESS", IVTCTL_LEFT}, {"STATUS", IVTCTL_LEFT},
        {"INCARNATION", IVTCTL_RIGHT}, {"GEN", IVTCTL_RIGHT},    {"LAST CHANGE", IVTCTL_RIGHT},
        {"TAGS", IVTCTL_LEFT},
    };
    if (!json_is_array(res))
        return ivtctl_bad_reply(c, "an array");
    struct ivtctl_table t;
    ivtctl_table_init(&t, cols, sizeof(cols) / sizeof(cols[0]), true);
    size_t i;
    const json_t *m;
    char buf[64];
    json_array_foreach(res, i, m)
    {
        ivtctl_table_cell(&t, "%s", str_or(m, "name", "-"));
        ivtctl_table_cell(&t, "%s", str_or(m, "addr", "-"));
        ivtctl_table_cell(&t, "%s", str_or(m, "status", "-"));
        ivtctl_table_json(&t, json_object_get(m, "incarnation"));
        ivtctl_table_json(&t, json_object_get(m, "generation"));
        ivtctl_table_cell(&t, "%s ago",
                          ivtctl_secs_text(buf, sizeof(buf), json_object_get(m, "last_change_s")));
        ivtctl_table_json(&t, json_object_get(m, "tags"));
    }
    return ivtctl_table_done(c, &t);
}

int ivtctl_cmd_members(struct ivtctl *c, int argc, char **argv)
{
    struct ivtctl_opt opts[] = {{"status", 0, "STATUS", NULL}, {NULL, 0, NULL, NULL}};
    int rc = ivtctl_args_parse(c, opts, argc, argv, 0, 0);
    if (rc < 0)
        return -rc;
    uint8_t buf[64];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    if (opts[0].value) {
        if (ivtctl_opt_word(c, "--status", opts[0].value, member_states) < 0)
            return IVTCTL_EXIT_USAGE;
        ivt_mpw_array(&w, 1);
        ivt_mpw_cstr(&w, opts[0].value);
    } else {
        ivt_mpw_array(&w, 0);
    }
    json_t *res;
    if ((rc = ivtctl_call(c, "members", &w, &res)))
        return rc;
    return ivtctl_finish(c, res, members_text);
}

static int metrics_text(struct ivtctl *c, const json_t *res)
{
    const char *s = json_string_value(json_object_get(res, "metrics"));
    if (!s)
        return ivtctl_bad_reply(c, "a string");
    size_t n = json_string_length(json_object_get(res, "metrics"));
    fwrite(s, 1, n, c->out);
    if (n && s[n - 1] != '\n')
        fputc('\n', c->out);
    return IVTCTL_EXIT_OK;
}

int ivtctl_cmd_metrics(struct ivtctl *c, int argc, char **argv)
{
    int rc = ivtctl_args_parse(c, NULL, argc, argv, 0, 0);
    if (rc < 0)
        return -rc;
    json_t *res;
    if ((rc = ivtctl_call0(c, "metrics", &res)))
        return rc;
    if (!json_is_string(res)) {
        json_decref(res);
        return ivtctl_bad_reply(c, "a string");
    }
    /* One JSON document with a named field, so scripts need not guess. */
    json_t *doc = json_pack("{s:o}", "metrics", res);
    if (!doc)
        return ivtctl_fail(c, IVTCTL_EXIT_NODE, "ENOMEM", "out of memory");
    return ivtctl_finish(c, doc, metrics_text);
}
