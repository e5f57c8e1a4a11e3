/*
 * sim/args.c: the ivtsim command line.
 *
 *   ivtsim SCENARIO.cfg [--seed N] [--nodes N] [--out DIR] [--duration S]
 *          [--check-determinism] [--membership-only] [--quiet] [--root DIR]
 *   ivtsim SCENARIO.cfg --emit-events N [--seed N]
 *
 * Each number is checked whole by base/num.h (digits only, in range; a
 * duration finite, so the run never converts a NaN or an infinity into
 * milliseconds). A mistake names the option and the value.
 */
#include "sim/args.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/num.h"
#include "gossip/envelope.h"
#include "sim/scenario.h"

/* How much of a bad argument a message quotes. */
enum { QUOTE_MAX = 60 };

void sim_usage(FILE *f)
{
    fprintf(f, "usage: ivtsim SCENARIO.cfg [--seed N] [--nodes N] [--out DIR] [--duration S]\n"
               "              [--check-determinism] [--membership-only] [--quiet] [--root DIR]\n"
               "              [--cipher xchacha20-poly1305|aes-256-gcm]\n"
               "       ivtsim SCENARIO.cfg --emit-events N [--seed N]\n"
               "Runs a scenario on N simulated nodes and writes summary.json, timeline.csv and\n"
               "timeline.svg into DIR (default out/sim-NAME). Exit status: 0 every check passed,\n"
               "1 a check failed (the replay command is printed), 2 usage, 3 error.\n"
               "--emit-events writes N workload events as JSON lines (the event keys of\n"
               "`ivtctl observe`) and exits. --root is where sim/data and node/data are (default:\n"
               "IVT_ROOT, else the checkout the binary is in: bin/ or build/release/bin/).\n");
}

int sim_args_parse(struct sim_args *o, int argc, char *const *argv, char *msg, size_t cap)
{
    memset(o, 0, sizeof(*o));
    o->emit = -1;
    o->prog = argc > 0 && argv[0] && argv[0][0] ? argv[0] : "ivtsim";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes_value = !strcmp(a, "--seed") || !strcmp(a, "--nodes") ||
                           !strcmp(a, "--duration") || !strcmp(a, "--out") ||
                           !strcmp(a, "--root") || !strcmp(a, "--emit-events") ||
                           !strcmp(a, "--cipher");
        if (takes_value && i + 1 == argc) {
            snprintf(msg, cap, "%s needs a value", a);
            return IVT_EINVAL;
        }
        const char *v = takes_value ? argv[++i] : NULL;
        uint64_t n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            o->help = true;
            return 0;
        } else if (!strcmp(a, "--seed")) {
            if (!ivt_parse_uint(v, 0, 0, UINT64_MAX, &n)) {
                snprintf(msg, cap, "--seed '%.*s' must be a whole number (decimal or 0x hex)",
                         QUOTE_MAX, v);
                return IVT_EINVAL;
            }
            o->seed = n;
            o->has_seed = true;
        } else if (!strcmp(a, "--nodes")) {
            if (!ivt_parse_uint(v, 10, 1, SIM_MAX_NODES, &n)) {
                snprintf(msg, cap, "--nodes '%.*s' must be a whole number from 1 to %d", QUOTE_MAX,
                         v, SIM_MAX_NODES);
                return IVT_EINVAL;
            }
            o->nodes = (uint32_t)n;
        } else if (!strcmp(a, "--duration")) {
            double d;
            if (!ivt_parse_positive(v, SIM_MAX_DURATION_S, &d)) {
                snprintf(msg, cap,
                         "--duration '%.*s' must be simulated seconds, more than 0 and at most "
                         "%d",
                         QUOTE_MAX, v, SIM_MAX_DURATION_S);
                return IVT_EINVAL;
            }
            o->duration_s = d;
        } else if (!strcmp(a, "--out")) {
            o->out = v;
        } else if (!strcmp(a, "--root")) {
            o->root = v;
        } else if (!strcmp(a, "--emit-events")) {
            if (!ivt_parse_uint(v, 10, 0, INT64_MAX, &n)) {
                snprintf(msg, cap, "--emit-events '%.*s' must be a whole number", QUOTE_MAX, v);
                return IVT_EINVAL;
            }
            o->emit = (long long)n;
        } else if (!strcmp(a, "--cipher")) {
            o->aead = (uint8_t)gossip_aead_parse(v);
            if (!o->aead) {
                snprintf(msg, cap, "--cipher '%.*s' must be xchacha20-poly1305 or aes-256-gcm",
                         QUOTE_MAX, v);
                return IVT_EINVAL;
            }
        } else if (!strcmp(a, "--check-determinism")) {
            o->determinism = true;
        } else if (!strcmp(a, "--membership-only")) {
            o->membership_only = true;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = true;
        } else if (a[0] == '-') {
            snprintf(msg, cap, "unknown option '%.*s'", QUOTE_MAX, a);
            return IVT_EINVAL;
        } else if (o->scenario) {
            snprintf(msg, cap, "one SCENARIO.cfg at a time: '%.*s' is a second", QUOTE_MAX, a);
            return IVT_EINVAL;
        } else {
            o->scenario = a;
        }
    }
    if (!o->scenario) {
        snprintf(msg, cap, "no SCENARIO.cfg given");
        return IVT_EINVAL;
    }
    return 0;
}

/* Appends what snprintf made of the rest to buf's first *len bytes. */
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = *len < cap ? snprintf(buf + *len, cap - *len, __VA_ARGS__)                        \
                            : snprintf(NULL, 0, __VA_ARGS__);                                      \
        *len += n_ > 0 ? (size_t)n_ : 0;                                                           \
    } while (0)

/* s after a space (none before the first word), single-quoted unless
 * every byte is one a shell takes as it is ('=' is not: a first word
 * with one would be a variable assignment). */
static void put_word(char *buf, size_t cap, size_t *len, const char *s)
{
    if (*len)
        PUT(" ");
    bool plain = *s != '\0';
    for (const char *c = s; *c && plain; c++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-+:,@%",
                       *c) != NULL;
    if (plain) {
        PUT("%s", s);
        return;
    }
    PUT("'");
    for (const char *c = s; *c; c++)
        if (*c == '\'')
            PUT("'\\''");
        else
            PUT("%c", *c);
    PUT("'");
}

int sim_replay_command(char *buf, size_t cap, const struct sim_args *o, uint64_t seed,
                       uint32_t nodes)
{
    size_t used = 0, *len = &used;
    if (cap)
        buf[0] = '\0';
    put_word(buf, cap, len, o->prog ? o->prog : "ivtsim");
    put_word(buf, cap, len, o->scenario ? o->scenario : "");
    PUT(" --seed %llu --nodes %u", (unsigned long long)seed, nodes);
    if (o->duration_s > 0) {
        /* the fewest digits that read back as the same number */
        char d[32];
        for (int p = 6; p <= 17; p++) {
            snprintf(d, sizeof(d), "%.*g", p, o->duration_s);
            if (strtod(d, NULL) == o->duration_s)
                break;
        }
        PUT(" --duration %s", d);
    }
    if (o->membership_only)
        PUT(" --membership-only");
    if (o->aead)
        PUT(" --cipher %s", gossip_aead_name((enum gossip_aead)o->aead));
    if (o->root) {
        PUT(" --root");
        put_word(buf, cap, len, o->root);
    }
    if (o->determinism)
        PUT(" --check-determinism");
    return used >= cap ? IVT_ENOSPC : (int)used;
}
