/*
 * tests/bench/bench.c: the benchmark runner.
 *
 *   bin/ivt-bench            every benchmark but the BX rows
 *   bin/ivt-bench NAME...    some ("crdt_*" runs a prefix; a BX row runs
 *                            only when named in full: it takes an hour)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tests/bench/bench.h"

#define B(name)  BENCH(name);
#define BX(name) BENCH(name);
#include "tests/bench/list.h"
#undef B
#undef BX

static const struct {
    const char *name;
    void (*fn)(void);
    int by_name_only;
} all_benches[] = {
#define B(name)  {#name, bench_##name, 0},
#define BX(name) {#name, bench_##name, 1},
#include "tests/bench/list.h"
#undef B
#undef BX
};

static volatile uint64_t sink;

void bench_sink(uint64_t v)
{
    sink ^= v;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void bench_report(const char *name, double value, const char *unit)
{
    printf("BENCH %s %.6g %s\n", name, value, unit);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int ran = 0;
    for (unsigned i = 0; i < sizeof(all_benches) / sizeof(all_benches[0]); i++) {
        int want = argc < 2 && !all_benches[i].by_name_only;
        for (int a = 1; a < argc && !want; a++) {
            size_t n = strlen(argv[a]);
            want = (n && argv[a][n - 1] == '*')
                       ? !all_benches[i].by_name_only &&
                             strncmp(argv[a], all_benches[i].name, n - 1) == 0
                       : strcmp(argv[a], all_benches[i].name) == 0;
        }
        if (want) {
            all_benches[i].fn();
            ran++;
        }
    }
    if (!ran) {
        fprintf(stderr, "ivt-bench: no benchmark matches\n");
        return 2;
    }
    return 0;
}
