/*
 * tests/bench/bench.c: the benchmark runner.
 *
 *   bin/ivt-bench            every benchmark but the BX rows
 *   bin/ivt-bench NAME...    some ("crdt_*" runs a prefix; a BX row runs
 *                            only when named in full: it takes an hour)
 *   bin/ivt-bench --list     their names
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

static void usage(FILE *f)
{
    fprintf(f, "usage: ivt-bench [--list] [NAME|PREFIX*]...\n"
               "Runs ivt's benchmarks (all but the long ones without arguments) and prints\n"
               "one line per figure: BENCH <name> <value> <unit>. A long one (marked\n"
               "\"by name only\" in --list) runs only when named in full. Some read the\n"
               "shipped data: run from the repository or set IVT_ROOT.\n");
}

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (unsigned i = 0; i < sizeof(all_benches) / sizeof(all_benches[0]); i++)
            printf("%s%s\n", all_benches[i].name,
                   all_benches[i].by_name_only ? " (by name only)" : "");
        return 0;
    }
    for (int a = 1; a < argc; a++)
        if (argv[a][0] == '-') {
            fprintf(stderr, "ivt-bench: unknown option '%s'\n", argv[a]);
            usage(stderr);
            return 2;
        }
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
        fprintf(stderr, "ivt-bench: no benchmark matches (--list names them)\n");
        return 2;
    }
    return 0;
}
