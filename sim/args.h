/*
 * sim/args.h: the ivtsim command line, parsed apart from running it so
 * tests and a fuzz target can drive it (sim/main.c is the caller).
 */
#ifndef IVT_SIM_ARGS_H
#define IVT_SIM_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sim_args {
    const char *prog;     /* argv[0]: the replay command names it ("ivtsim" when absent) */
    const char *scenario; /* SCENARIO.cfg; argv entries, like out and root */
    const char *out;      /* --out DIR; NULL: out/sim-NAME */
    const char *root;     /* --root DIR; NULL: IVT_ROOT, else beside the binary */
    uint64_t seed;        /* --seed N (decimal, or 0x hex) when has_seed */
    bool has_seed;
    uint32_t nodes;       /* --nodes N; 0: the scenario's */
    double duration_s;    /* --duration S; 0: the scenario's */
    long long emit;       /* --emit-events N; -1: run the scenario */
    bool determinism;     /* --check-determinism */
    bool membership_only; /* --membership-only */
    uint8_t aead;         /* --cipher NAME: an enum gossip_aead; 0: the scenario's */
    bool quiet;           /* --quiet */
    bool help;            /* --help or -h: the usage on stdout, exit 0 */
};

/* Room for any message of sim_args_parse. */
enum { SIM_ARGS_MSG_MAX = 256 };

/*
 * Parses argv[1..argc) left to right: the first --help or mistake decides.
 * Touches no file. Returns 0, or IVT_EINVAL with msg naming the argument
 * ("--nodes '0' must be a whole number from 1 to 100000", "unknown option
 * '--sed'", "no SCENARIO.cfg given"); main prints the usage after it.
 */
int sim_args_parse(struct sim_args *o, int argc, char *const *argv, char *msg, size_t cap);

/*
 * The one command that replays a run of o with the scenario's seed and
 * node count resolved (seed, nodes): the program as it was invoked, the
 * scenario, --seed and --nodes always, and every option that changes what
 * runs (--duration, --membership-only, --cipher, --root,
 * --check-determinism); not --out or --quiet. Words a shell would split or
 * expand are single-quoted. Returns its length, or IVT_ENOSPC (buf then
 * holds a truncated, NUL-terminated command) when cap is too small.
 */
int sim_replay_command(char *buf, size_t cap, const struct sim_args *o, uint64_t seed,
                       uint32_t nodes);

/* The --help text. */
void sim_usage(FILE *f);

#endif
