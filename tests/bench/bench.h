/*
 * tests/bench/bench.h: benchmarks print figures, they assert nothing.
 * Each prints lines "BENCH <name> <value> <unit>"; `make bench` runs all,
 * `bin/ivt-bench NAME...` some.
 */
#ifndef IVT_TESTS_BENCH_H
#define IVT_TESTS_BENCH_H

#include <stdint.h>

#define BENCH(name)                                                                                \
    void bench_##name(void);                                                                       \
    void bench_##name(void)

/* Monotonic nanoseconds (benchmarks may read the clock; the core may not). */
uint64_t bench_now_ns(void);

/* Prints "BENCH name value unit". */
void bench_report(const char *name, double value, const char *unit);

/* Keeps the compiler from discarding a computed value. */
void bench_sink(uint64_t v);

#endif
