/* libFuzzer target: ivt-loadgen's command line (tests/loadgen.h,
 * loadgen_args_parse). Every input must parse or give one message; never
 * a crash, and what parses is bounded: no NaN, no allocation past
 * LOADGEN_MAX_REQUESTS, connections within the poll arrays. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_argv.h"
#include "tests/loadgen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_argv a;
    if (!fuzz_argv_split(&a, "ivt-loadgen", data, size))
        return 0;
    struct loadgen_args o;
    char msg[LOADGEN_MSG_MAX] = "";
    int rc = loadgen_args_parse(&o, a.argc, a.argv, msg, sizeof(msg));
    if (rc != 0 && (rc != IVT_EINVAL || !msg[0]))
        __builtin_trap(); /* every failure says why */
    if (rc == 0) {
        if (o.conns < 1 || o.conns > LOADGEN_MAX_CONNS || !o.tag ||
            (o.mode != LOADGEN_WAKE) != (o.addr != NULL))
            __builtin_trap();
        if (!isfinite(o.secs) || o.secs < 0 || o.secs > LOADGEN_MAX_SECS)
            __builtin_trap();
        if (o.mode == LOADGEN_SCORE && (!(o.rate > 0) || o.rate * o.secs > LOADGEN_MAX_REQUESTS))
            __builtin_trap();
        if ((o.mode == LOADGEN_OBSERVE || o.mode == LOADGEN_FILL) &&
            (o.batch < 1 || o.batch > LOADGEN_MAX_BATCH))
            __builtin_trap();
        if ((o.mode == LOADGEN_FILL) != (o.distinct > 0))
            __builtin_trap();
    }
    fuzz_argv_free(&a);
    return 0;
}
