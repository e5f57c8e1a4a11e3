/* libFuzzer target: ivtd's strict configuration reader on arbitrary file
 * contents. Every input must load or give one error line; never a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "node/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig 1.5's scanner leaks its string buffer when a file ends inside a
 * string (a syntax error): its bug, 64 bytes once per bad file read, so only
 * that is suppressed; our own leaks are still reported. */
const char *__lsan_default_suppressions(void)
{
    return "leak:libconfig.so\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/ivt-fuzz-config-%d.cfg", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    struct ivtd_config cfg;
    char err[IVTD_ERR_MAX];
    ivtd_config_defaults(&cfg);
    if (ivtd_config_load(&cfg, path, err, sizeof(err)) != 0 && !err[0])
        __builtin_trap(); /* every failure says why */
    return 0;
}
