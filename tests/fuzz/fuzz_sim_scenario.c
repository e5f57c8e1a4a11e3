/* libFuzzer target: ivtsim's scenario reader (sim/scenario.h,
 * sim_scenario_parse) on arbitrary text. Every input must load or give one
 * error message; never a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* As fuzz_ivtd_config: libconfig 1.5's scanner leaks its string buffer when
 * a text ends inside a string; only that is suppressed. */
const char *__lsan_default_suppressions(void)
{
    return "leak:libconfig.so\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct sim_scenario sc;
    char err[512] = "";
    if (sim_scenario_parse(&sc, text, "fuzz.cfg", err, sizeof(err)) == 0)
        sim_scenario_destroy(&sc);
    else if (!err[0])
        __builtin_trap(); /* every failure says why */
    free(text);
    return 0;
}
