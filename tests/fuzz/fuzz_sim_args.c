/* libFuzzer target: ivtsim's command line (sim/args.h, sim_args_parse).
 * Every input must parse or give one message; never a crash, and what
 * parses is in the documented ranges (no NaN or infinite duration) and
 * has a replay command (sim_replay_command) that fits its buffer. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "sim/args.h"
#include "tests/fuzz/fuzz_argv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_argv a;
    if (!fuzz_argv_split(&a, "ivtsim", data, size))
        return 0;
    struct sim_args o;
    char msg[SIM_ARGS_MSG_MAX] = "";
    int rc = sim_args_parse(&o, a.argc, a.argv, msg, sizeof(msg));
    if (rc != 0 && (rc != IVT_EINVAL || !msg[0]))
        __builtin_trap(); /* every failure says why */
    if (rc == 0 && !o.help) {
        if (!o.scenario || o.nodes > 100000 || o.emit < -1 || !isfinite(o.duration_s) ||
            o.duration_s < 0)
            __builtin_trap();
        /* what the run converts, as main.c does: must be defined */
        volatile int64_t ms = (int64_t)(o.duration_s * 1000);
        (void)ms;
        /* The replay command of a failed run: whole in a buffer of room
         * for every argument quoted, cut (and terminated) in a small one. */
        static char cmd[8 * FUZZ_ARG_MAX];
        int n = sim_replay_command(cmd, sizeof(cmd), &o, UINT64_MAX, o.nodes);
        if (n < 0 || (size_t)n != strlen(cmd))
            __builtin_trap();
        size_t small = size % 64;
        n = sim_replay_command(cmd, small, &o, 1, 1);
        if (small && (n == IVT_ENOSPC ? strlen(cmd) >= small : (size_t)n != strlen(cmd)))
            __builtin_trap();
    }
    fuzz_argv_free(&a);
    return 0;
}
