/*
 * What a first touch of fresh memory costs on this host, the figure that
 * node/hugemem.h's reservoir is built on: a 2 MiB huge page faulted in by
 * the daemon's allocator (cleared whole, and on a VM backed by the host
 * first) against a 4 KiB page. `bin/ivt-bench node_hugemem_first_touch`.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

#include "node/hugemem.h"
#include "tests/bench/bench.h"

enum { REGION = 64 << 20, HUGE = 2 << 20, SMALL = 4096 };

/* The slowest and the mean first write, one per page of step bytes. */
static void touch(volatile uint8_t *p, size_t step, const char *name)
{
    uint64_t total = 0, worst = 0;
    size_t n = REGION / step;
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();
        p[i * step] = 1;
        uint64_t d = bench_now_ns() - t0;
        total += d;
        worst = d > worst ? d : worst;
    }
    char row[96];
    snprintf(row, sizeof(row), "%s_mean", name);
    bench_report(row, (double)total / (double)n / 1000, "us");
    snprintf(row, sizeof(row), "%s_max", name);
    bench_report(row, (double)worst / 1000, "us");
}

BENCH(node_hugemem_first_touch)
{
    struct crdt_alloc a;
    ivtd_hugemem_alloc(&a);
    uint8_t *huge = a.map(a.ctx, REGION);
    if (huge) {
        touch(huge, HUGE, "node_hugemem_first_touch_2mib_page");
        a.unmap(a.ctx, huge, REGION);
    }
    uint8_t *small = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (small != MAP_FAILED) {
        madvise(small, REGION, MADV_NOHUGEPAGE);
        touch(small, SMALL, "node_hugemem_first_touch_4kib_page");
        munmap(small, REGION);
    }
}
