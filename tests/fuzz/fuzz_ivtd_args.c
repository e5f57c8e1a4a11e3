/* libFuzzer target: ivtd's command line (node/cmdline.h,
 * ivtd_cmdline_parse). Every input must give an action or one message;
 * never a crash, and a file to run only when -c named one. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "node/cmdline.h"
#include "tests/fuzz/fuzz_argv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_argv a;
    if (!fuzz_argv_split(&a, "ivtd", data, size))
        return 0;
    struct ivtd_cmdline cl;
    char msg[IVTD_CMDLINE_MSG_MAX] = "";
    int rc = ivtd_cmdline_parse(&cl, a.argc, a.argv, msg, sizeof(msg));
    if (rc != 0 && rc != IVT_EINVAL && rc != IVT_ENOENT)
        __builtin_trap(); /* the documented codes only */
    if (rc != 0 && !msg[0])
        __builtin_trap(); /* every failure says why */
    if (rc == 0 && (cl.action == IVTD_ACT_RUN || cl.action == IVTD_ACT_CHECK)) {
        /* the file to load is an argument that followed -c or --config */
        bool named = false;
        for (int i = 2; i < a.argc; i++)
            named |= cl.config == a.argv[i] &&
                     (!strcmp(a.argv[i - 1], "-c") || !strcmp(a.argv[i - 1], "--config"));
        if (!named)
            __builtin_trap();
    }
    fuzz_argv_free(&a);
    return 0;
}
