/*
 * cli/cmd_decide.c: ban, allow, unban, decisions: the operator's manual
 * verdicts, replicated to every node by the decisions map (last writer
 * wins, with a TTL; see design.md).
 */
#include <string.h>

#include "base/duration.h"
#include "base/mp.h"
#include "cli/internal.h"
#include "crdt/lww.h"

/* A ban nobody renews lapses within a working day, as `cscli decisions
 * add` defaults to 4h: a forgotten ban must not block a network forever. */
#define DECIDE_DEFAULT_TTL_MS (4 * IVT_MS_PER_HOUR)
/* Room for the decide params: two strings bounded by the key and reason. */
enum { DECIDE_PARAMS_MAX = 8 << 10 };

static int decide(struct ivtctl *c, const char *action, int argc, char **argv)
{
    bool clear = strcmp(action, "unban") == 0;
    struct ivtctl_opt opts[] = {
        {"ttl", 't', "DURATION", NULL},
        {"reason", 'r', "TEXT", NULL},
        {NULL, 0, NULL, NULL},
    };
    /* unban takes no options: hide them from its parser. */
    int rc = ivtctl_args_parse(c, clear ? opts + 2 : opts, argc, argv, 2, 2);
    if (rc < 0)
        return -rc;
    if ((rc = ivtctl_entity_args(c, argv)))
        return rc;
    ivt_ms ttl = clear ? 0 : DECIDE_DEFAULT_TTL_MS;
    if (opts[0].value) {
        if (ivtctl_opt_duration(c, "--ttl", opts[0].value, &ttl))
            return IVTCTL_EXIT_USAGE;
        if (ttl <= 0)
            return ivtctl_usage(c, "--ttl must be more than 0 (%s)", IVT_DURATION_FORMS);
        /* ivtd caps it (a decision's tombstone must outlive it); say so
         * here rather than relay the node's refusal as exit 1. */
        if (ttl > CRDT_LWW_MAX_TTL) {
            char d[32];
            return ivtctl_usage(c, "--ttl must be at most %s",
                                ivt_duration_format(d, sizeof(d), CRDT_LWW_MAX_TTL));
        }
    }
    const char *reason = opts[1].value ? opts[1].value : clear ? "" : "manual";
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, DECIDE_PARAMS_MAX);
    ivt_mpw_array(&w, 5);
    ivt_mpw_cstr(&w, action);
    ivt_mpw_cstr(&w, argv[0]);
    ivt_mpw_cstr(&w, argv[1]);
    ivt_mpw_uint(&w, (uint64_t)ttl);
    ivt_mpw_cstr(&w, reason);
    json_t *res = NULL;
    rc = ivt_mpw_error(&w) ? ivtctl_usage(c, "KEY or --reason too long")
                           : ivtctl_call(c, "decide", &w, &res);
    ivt_mpw_destroy(&w);
    if (rc)
        return rc;
    if (c->output == IVTCTL_OUT_JSON)
        return ivtctl_finish(c, res, NULL);
    json_decref(res);
    char d[32];
    if (clear)
        fprintf(c->out, "cleared %s %s on every node\n", argv[0], argv[1]);
    else
        fprintf(c->out, "%s %s %s for %s on every node: %s\n",
                strcmp(action, "ban") == 0 ? "banned" : "allowed", argv[0], argv[1],
                ivt_duration_format(d, sizeof(d), ttl), reason);
    return IVTCTL_EXIT_OK;
}

int ivtctl_cmd_ban(struct ivtctl *c, int argc, char **argv)
{
    return decide(c, "ban", argc, argv);
}

int ivtctl_cmd_allow(struct ivtctl *c, int argc, char **argv)
{
    return decide(c, "allow", argc, argv);
}

int ivtctl_cmd_unban(struct ivtctl *c, int argc, char **argv)
{
    return decide(c, "unban", argc, argv);
}

/* Milliseconds from now to a wall-clock ms field, as whole seconds. */
static json_t *seconds_from_now(const json_t *wall_ms, ivt_ms now, bool future)
{
    if (!json_is_integer(wall_ms))
        return NULL;
    ivt_ms d = future ? json_integer_value(wall_ms) - now : now - json_integer_value(wall_ms);
    return json_integer(d / IVT_MS_PER_S);
}

static int decisions_text(struct ivtctl *c, const json_t *res)
{
    static const struct ivtctl_column cols[] = {
        {"KIND", IVTCTL_LEFT},        {"KEY", IVTCTL_LEFT},  {"ACTION", IVTCTL_LEFT},
        {"EXPIRES IN", IVTCTL_RIGHT}, {"SET", IVTCTL_RIGHT}, {"ORIGIN", IVTCTL_LEFT},
        {"REASON", IVTCTL_LEFT},
    };
    if (!json_is_array(res))
        return ivtctl_bad_reply(c, "an array");
    struct ivtctl_table t;
    ivtctl_table_init(&t, cols, 7, true);
    ivt_ms now = ivtctl_wall_ms();
    size_t i;
    const json_t *d;
    char buf[64];
    json_array_foreach(res, i, d)
    {
        ivtctl_table_json(&t, json_object_get(d, "kind"));
        ivtctl_table_json(&t, json_object_get(d, "key"));
        ivtctl_table_json(&t, json_object_get(d, "action"));
        json_t *left = seconds_from_now(json_object_get(d, "expires"), now, true);
        json_t *ago = seconds_from_now(json_object_get(d, "set_at"), now, false);
        ivtctl_table_cell(&t, "%s", ivtctl_secs_text(buf, sizeof(buf), left));
        ivtctl_table_cell(&t, "%s ago", ivtctl_secs_text(buf, sizeof(buf), ago));
        json_decref(left);
        json_decref(ago);
        ivtctl_table_json(&t, json_object_get(d, "origin"));
        ivtctl_table_json(&t, json_object_get(d, "reason"));
    }
    return ivtctl_table_done(c, &t);
}

int ivtctl_cmd_decisions(struct ivtctl *c, int argc, char **argv)
{
    return ivtctl_simple(c, argc, argv, "decisions", decisions_text);
}
