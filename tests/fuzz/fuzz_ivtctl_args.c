/* libFuzzer target: ivtctl's command line (cli/ivtctl.h, ivtctl_check):
 * the global options, the command table, every command's option parser and
 * argument checks, up to where the command would reach the node. Every
 * input must be accepted or refused with a message on stderr and nothing
 * on stdout; never a crash, a hang or a socket. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/ivtctl.h"
#include "tests/fuzz/fuzz_argv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A usage error is a sentence, the usage line and a pointer to --help:
 * far less than this, whatever the arguments (they are quoted cut short). */
enum { USAGE_TEXT_MAX = 1024 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_argv a;
    if (!fuzz_argv_split(&a, "ivtctl", data, size))
        return 0;
    char *out = NULL, *err = NULL;
    size_t out_len = 0, err_len = 0;
    FILE *fo = open_memstream(&out, &out_len), *fe = open_memstream(&err, &err_len);
    if (fo && fe) {
        int rc = ivtctl_check(a.argc, a.argv, fo, fe);
        fflush(fo);
        fflush(fe);
        if (rc != IVTCTL_EXIT_OK && rc != IVTCTL_EXIT_USAGE)
            __builtin_trap(); /* a command line is good or a usage error */
        if (rc == IVTCTL_EXIT_USAGE && (!err_len || out_len || err_len > USAGE_TEXT_MAX))
            __builtin_trap(); /* refused: says why, on stderr only, briefly */
        if (rc == IVTCTL_EXIT_OK && err_len)
            __builtin_trap(); /* accepted: no complaint */
    }
    if (fo)
        fclose(fo);
    if (fe)
        fclose(fe);
    free(out);
    free(err);
    fuzz_argv_free(&a);
    return 0;
}
