/* Benchmarks of base/: the costs every layer above pays. */
#include "base/mp.h"
#include "base/rng.h"
#include "tests/bench/bench.h"

BENCH(base_rng)
{
    struct ivt_rng r;
    ivt_rng_seed(&r, 1);
    enum { N = 50000000 };
    uint64_t acc = 0, t0 = bench_now_ns();
    for (int i = 0; i < N; i++)
        acc += ivt_rng_next(&r);
    uint64_t t1 = bench_now_ns();
    bench_sink(acc);
    bench_report("base_rng_next", (double)(t1 - t0) / N, "ns/op");
}

BENCH(base_mp_decode)
{
    uint8_t buf[256];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    ivt_mpw_map(&w, 5);
    ivt_mpw_cstr(&w, "ts");
    ivt_mpw_uint(&w, 1764127000000ULL);
    ivt_mpw_cstr(&w, "ip");
    ivt_mpw_cstr(&w, "198.51.100.23");
    ivt_mpw_cstr(&w, "ua");
    ivt_mpw_cstr(&w, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36");
    ivt_mpw_cstr(&w, "pub");
    ivt_mpw_cstr(&w, "pub-1234");
    ivt_mpw_cstr(&w, "kind");
    ivt_mpw_cstr(&w, "request");
    enum { N = 10000000 };
    uint64_t acc = 0, t0 = bench_now_ns();
    for (int i = 0; i < N; i++) {
        const uint8_t *p = buf;
        if (ivt_mp_skip(&p, buf + w.len) == 0)
            acc += (uint64_t)(p - buf);
    }
    uint64_t t1 = bench_now_ns();
    bench_sink(acc);
    bench_report("base_mp_skip_event", (double)(t1 - t0) / N, "ns/op");
}
