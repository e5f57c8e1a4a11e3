/* Tests of crdt/hll.c: lattice laws, canonical codec, accuracy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "crdt/hll.h"
#include "tests/test.h"

enum { P = 8, M = 1 << P };

static void fill(uint8_t *r, struct ivt_rng *rng, size_t n)
{
    memset(r, 0, M);
    for (size_t i = 0; i < n; i++)
        crdt_hll_add(r, P, ivt_rng_next(rng));
}

TEST(crdt_hll_merge_laws)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    uint8_t a[M], b[M], c[M], x[M], y[M];
    for (int t = 0; t < 2000; t++) {
        fill(a, &rng, ivt_rng_below(&rng, 600));
        fill(b, &rng, ivt_rng_below(&rng, 600));
        fill(c, &rng, ivt_rng_below(&rng, 600));
        memcpy(x, a, M);
        assert_false(crdt_hll_merge(x, a, P)); /* idempotent */
        assert_memory_equal(x, a, M);
        memcpy(x, a, M);
        crdt_hll_merge(x, b, P);
        memcpy(y, b, M);
        crdt_hll_merge(y, a, P);
        assert_memory_equal(x, y, M); /* commutative */
        crdt_hll_merge(x, c, P);
        memcpy(y, b, M);
        crdt_hll_merge(y, c, P);
        uint8_t z[M];
        memcpy(z, a, M);
        crdt_hll_merge(z, y, P);
        assert_memory_equal(x, z, M); /* associative */
        /* The estimate is a function of the registers alone. */
        assert_true(crdt_hll_estimate(x, P) == crdt_hll_estimate(z, P));
    }
}

TEST(crdt_hll_union_equals_single_stream)
{
    (void)state;
    /* Items split over two sketches merge into exactly the sketch of all. */
    uint8_t a[M] = {0}, b[M] = {0}, all[M] = {0};
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    for (int i = 0; i < 5000; i++) {
        uint64_t h = ivt_rng_next(&rng);
        crdt_hll_add(i % 3 ? a : b, P, h);
        crdt_hll_add(all, P, h);
    }
    crdt_hll_merge(a, b, P);
    assert_memory_equal(a, all, M);
}

TEST(crdt_hll_codec_roundtrip_canonical)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    uint8_t a[M], back[M], buf[2 * M];
    for (int t = 0; t < 2000; t++) {
        /* From empty through sparse to dense. */
        fill(a, &rng, ivt_rng_below(&rng, 400));
        struct ivt_mpw w;
        ivt_mpw_init_fixed(&w, buf, sizeof(buf));
        crdt_hll_encode(&w, a, P);
        assert_int_equal(ivt_mpw_error(&w), 0);
        memset(back, 0, M);
        const uint8_t *pos = buf;
        assert_true(crdt_hll_decode_merge(&pos, buf + w.len, back, P) >= 0);
        assert_ptr_equal(pos, buf + w.len);
        assert_memory_equal(a, back, M);
        /* Equal registers, equal bytes. */
        uint8_t buf2[2 * M];
        struct ivt_mpw w2;
        ivt_mpw_init_fixed(&w2, buf2, sizeof(buf2));
        crdt_hll_encode(&w2, back, P);
        assert_int_equal(w.len, w2.len);
        assert_memory_equal(buf, buf2, w.len);
    }
}

/* The sparse form peers hash and decode: a bin of (index u16 BE, value)
 * entries in index order, whatever word of the registers they sit in. */
TEST(crdt_hll_sparse_form_bytes)
{
    (void)state;
    uint8_t a[M] = {0};
    a[0] = 2;
    a[7] = 1;
    a[9] = 5;
    a[15] = 4;
    a[M - 1] = 3;
    static const uint8_t want[] = {0xc4, 15, 0, 0, 2, 0, 7, 1, 0, 9, 5, 0, 15, 4, 0, M - 1, 3};
    /* A fixed writer of exactly the form's size: no room asked beyond it. */
    uint8_t buf[sizeof(want)];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    crdt_hll_encode(&w, a, P);
    assert_int_equal(ivt_mpw_error(&w), 0);
    assert_int_equal(w.len, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

TEST(crdt_hll_decode_rejects)
{
    (void)state;
    uint8_t reg[M] = {0}, buf[M + 8];
    const uint8_t *pos;
    /* sparse out of order */
    uint8_t bad1[] = {0xc4, 6, 0, 5, 1, 0, 4, 1};
    pos = bad1;
    assert_int_equal(crdt_hll_decode_merge(&pos, bad1 + sizeof(bad1), reg, P), IVT_EPROTO);
    /* zero value */
    uint8_t bad2[] = {0xc4, 3, 0, 5, 0};
    pos = bad2;
    assert_int_equal(crdt_hll_decode_merge(&pos, bad2 + sizeof(bad2), reg, P), IVT_EPROTO);
    /* value above 65 - p */
    uint8_t bad3[] = {0xc4, 3, 0, 5, 65 - P + 1};
    pos = bad3;
    assert_int_equal(crdt_hll_decode_merge(&pos, bad3 + sizeof(bad3), reg, P), IVT_EPROTO);
    /* index beyond 2^p */
    uint8_t bad4[] = {0xc4, 3, 1, 0, 1};
    pos = bad4;
    assert_int_equal(crdt_hll_decode_merge(&pos, bad4 + sizeof(bad4), reg, P), IVT_EPROTO);
    /* a length that is no form */
    uint8_t bad5[] = {0xc4, 4, 0, 1, 1, 1};
    pos = bad5;
    assert_int_equal(crdt_hll_decode_merge(&pos, bad5 + sizeof(bad5), reg, P), IVT_EPROTO);
    /* dense where sparse is shorter: not canonical */
    buf[0] = 0xc5;
    buf[1] = M >> 8;
    buf[2] = M & 0xff;
    memset(buf + 3, 0, M);
    buf[3 + 7] = 2;
    pos = buf;
    assert_int_equal(crdt_hll_decode_merge(&pos, buf + 3 + M, reg, P), IVT_EPROTO);
    /* truncated */
    pos = buf;
    assert_int_equal(crdt_hll_decode_merge(&pos, buf + 10, reg, P), IVT_EPROTO);
    assert_true(crdt_hll_empty(reg, P));
}

TEST(crdt_hll_accuracy_3_sigma)
{
    (void)state;
    /* From 100 to 10 million distinct items, one run per size on a log
     * scale, at p = 12: the error stays within 3 standard errors. */
    enum { PA = 12 };
    uint8_t *r = calloc(1, 1 << PA);
    assert_non_null(r);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    double bound = 3 * crdt_hll_rse(PA);
    uint64_t n = 0;
    for (uint64_t target = 100; target <= 10000000; target *= 10) {
        for (; n < target; n++)
            crdt_hll_add(r, PA, ivt_rng_next(&rng));
        double est = crdt_hll_estimate(r, PA);
        double err = fabs(est - (double)n) / (double)n;
        if (err > bound)
            print_error("n=%llu est=%.0f err=%.4f bound=%.4f seed=%llu\n", (unsigned long long)n,
                        est, err, bound, (unsigned long long)ivt_test_seed());
        assert_true(err <= bound);
    }
    free(r);
}

TEST(crdt_hll_small_counts_near_exact)
{
    (void)state;
    uint8_t r[1 << 12] = {0};
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    assert_true(crdt_hll_estimate(r, 12) == 0.0);
    for (int n = 1; n <= 50; n++) {
        crdt_hll_add(r, 12, ivt_rng_next(&rng));
        assert_true(fabs(crdt_hll_estimate(r, 12) - n) < 1.0);
    }
}

/* The estimate is a function of the register histogram only: any shuffle
 * of the registers (zero runs split or joined, the top value included)
 * gives the same double, for every precision. */
TEST(crdt_hll_estimate_depends_on_histogram_only)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    static uint8_t r[1 << 16], sh[1 << 16];
    for (int t = 0; t < 60; t++) {
        unsigned p = CRDT_HLL_P_MIN + (unsigned)ivt_rng_below(&rng, 9);
        size_t m = crdt_hll_size(p);
        memset(r, 0, m);
        size_t n = ivt_rng_below(&rng, 4) ? ivt_rng_below(&rng, 40) : ivt_rng_below(&rng, 20 * m);
        for (size_t i = 0; i < n; i++)
            crdt_hll_add(r, p, ivt_rng_next(&rng));
        if (ivt_rng_below(&rng, 2))
            r[ivt_rng_below(&rng, m)] = (uint8_t)(65 - p); /* the cap */
        memcpy(sh, r, m);
        for (size_t i = m - 1; i > 0; i--) {
            size_t j = ivt_rng_below(&rng, i + 1);
            uint8_t x = sh[i];
            sh[i] = sh[j];
            sh[j] = x;
        }
        assert_true(crdt_hll_estimate(r, p) == crdt_hll_estimate(sh, p));
    }
}

/* A histogram kept by crdt_hll_add_hist stays the registers' histogram,
 * and the estimate from it is the estimate from the registers. */
TEST(crdt_hll_kept_histogram_matches)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    static uint8_t r[1 << 16];
    for (int t = 0; t < 40; t++) {
        unsigned p = CRDT_HLL_P_MIN + (unsigned)ivt_rng_below(&rng, 9);
        size_t m = crdt_hll_size(p);
        memset(r, 0, m);
        uint32_t kept[CRDT_HLL_HIST] = {0}, fresh[CRDT_HLL_HIST];
        kept[0] = (uint32_t)m;
        size_t n = ivt_rng_below(&rng, 2) ? ivt_rng_below(&rng, 50) : ivt_rng_below(&rng, 30 * m);
        for (size_t i = 0; i < n; i++) {
            uint64_t h = ivt_rng_next(&rng);
            uint8_t copy = r[h & (m - 1)];
            bool rose = crdt_hll_add_hist(r, kept, p, h);
            assert_int_equal(rose, r[h & (m - 1)] != copy);
        }
        crdt_hll_histogram(fresh, r, p);
        assert_memory_equal(kept, fresh, sizeof(kept));
        assert_true(crdt_hll_estimate_hist(kept, p) == crdt_hll_estimate(r, p));
    }
}

/* A histogram kept through crdt_hll_decode_merge_hist (sparse and dense
 * encodings joined into a sketch) stays the registers' histogram, and the
 * registers are those of crdt_hll_decode_merge. */
TEST(crdt_hll_decode_merge_keeps_histogram)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    uint8_t r[M], plain[M], src[M];
    uint32_t kept[CRDT_HLL_HIST] = {0}, fresh[CRDT_HLL_HIST];
    fill(r, &rng, 30);
    memcpy(plain, r, M);
    crdt_hll_histogram(kept, r, P);
    for (int t = 0; t < 30; t++) {
        /* Few items encode sparse, many dense. */
        fill(src, &rng,
             ivt_rng_below(&rng, 2) ? ivt_rng_below(&rng, 20) : 50 + ivt_rng_below(&rng, 2000));
        struct ivt_mpw w;
        ivt_mpw_init_dyn(&w, 1 << 16);
        crdt_hll_encode(&w, src, P);
        const uint8_t *pos = w.data;
        int a = crdt_hll_decode_merge_hist(&pos, w.data + w.len, r, kept, P);
        pos = w.data;
        int b = crdt_hll_decode_merge(&pos, w.data + w.len, plain, P);
        assert_int_equal(a, b);
        assert_memory_equal(r, plain, M);
        crdt_hll_histogram(fresh, r, P);
        assert_memory_equal(kept, fresh, sizeof(kept));
        ivt_mpw_destroy(&w);
    }
}

/* ---- runs of event ids (promoted counters) ---- */

static void fill_p(uint8_t *r, unsigned p, struct ivt_rng *rng, size_t n)
{
    memset(r, 0, (size_t)1 << p);
    for (size_t i = 0; i < n; i++)
        crdt_hll_add(r, p, ivt_rng_next(rng));
}

/* A run added by its descent leaves exactly the registers, histogram and
 * rise that adding each of its ids does, whatever the registers held
 * before: what lets a node join a peer's count as a run and its own
 * events one id at a time, and still agree with every other replica. */
TEST(crdt_hll_run_descent_equals_each_id)
{
    (void)state;
    enum { PR = 6, MR = 1 << PR };
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    for (int t = 0; t < 400; t++) {
        uint8_t a[MR], b[MR];
        uint32_t ha[CRDT_HLL_HIST], hb[CRDT_HLL_HIST];
        fill_p(a, PR, &rng, ivt_rng_below(&rng, 3) ? ivt_rng_below(&rng, 400) : 0);
        memcpy(b, a, MR);
        crdt_hll_histogram(ha, a, PR);
        memcpy(hb, ha, sizeof(ha));
        uint64_t seed = ivt_rng_next(&rng);
        uint64_t from = 1 + ivt_rng_below(&rng, t % 4 ? 50 : 100000);
        uint64_t len = ivt_rng_below(&rng, t % 3 ? 3000 : 70);
        uint64_t visited = 0;
        bool rose = crdt_hll_add_run(a, ha, PR, seed, from, from + len, &visited);
        bool rose_each = false;
        for (uint64_t i = from; i <= from + len; i++)
            rose_each |= crdt_hll_add_hist(b, hb, PR, crdt_hll_run_hash(seed, i, PR));
        assert_memory_equal(a, b, MR);
        assert_memory_equal(ha, hb, sizeof(ha));
        assert_int_equal(rose, rose_each);
        assert_true(visited >= 1 && visited <= len + 1);
    }
    /* An empty run adds nothing; id 0 is not an id. */
    uint8_t r[MR] = {0};
    uint32_t h[CRDT_HLL_HIST] = {MR};
    assert_false(crdt_hll_add_run(r, h, PR, 7, 5, 4, NULL));
    assert_false(crdt_hll_add_run(r, h, PR, 7, 0, 0, NULL));
}

/* A count of four billion, as a peer may send in a slot, is joined in a
 * bounded number of adds, and its estimate is the count within the
 * sketch's error. Each id alone, it was four billion adds (many seconds
 * of a node's event loop). */
TEST(crdt_hll_run_of_any_length_is_bounded)
{
    (void)state;
    enum { PB = 10, MB = 1 << PB };
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    double bound = 4 * crdt_hll_rse(PB);
    uint64_t worst = 0;
    for (int t = 0; t < 20; t++) {
        uint8_t r[MB] = {0};
        uint32_t h[CRDT_HLL_HIST] = {MB};
        uint64_t c = UINT32_MAX - ivt_rng_below(&rng, 1000), visited = 0;
        uint64_t seed = ivt_rng_next(&rng);
        assert_true(crdt_hll_add_run(r, h, PB, seed, 1, c, &visited));
        double err = fabs(crdt_hll_estimate(r, PB) - (double)c) / (double)c;
        assert_true(err <= bound);
        worst = visited > worst ? visited : worst;
        /* Joined again (a peer resends its slot), then a shorter count
         * of it: nothing rises, and the two together cost at most twice
         * what the first did. */
        uint64_t again = 0;
        assert_false(crdt_hll_add_run(r, h, PB, seed, 1, c, &again));
        assert_false(crdt_hll_add_run(r, h, PB, seed, 1, c / 2, &again));
        assert_true(again <= 2 * visited);
    }
    /* 2^p ln 2^p is 7,098 at p = 10, and a 2^32 run stops at a level: a
     * power of two of adds, 16,384 or 32,768 as a rule (the most in 5,000
     * runs of crdt_hll_run_join), 65,536 in the collector's far tail.
     * Against 2^32, what matters is that it is bounded at all. */
    enum { RUN_ADDS_BOUND = 1 << 17 };
    assert_true(worst < RUN_ADDS_BOUND);
    /* The bound holds past it too: ids beyond CRDT_HLL_RUN_MAX are not
     * added, and a run that long costs what any long run costs. */
    uint8_t r[MB] = {0};
    uint32_t h[CRDT_HLL_HIST] = {MB};
    uint64_t visited = 0;
    crdt_hll_add_run(r, h, PB, 42, 1, UINT64_MAX, &visited);
    assert_true(visited < RUN_ADDS_BOUND);
}

/* The runs' ids are as good as hashed items for the estimator: many
 * origins' runs of random lengths (one event each, or hundreds) in one
 * sketch, at three sizes, give the union's count with the sketch's error:
 * the mean error of 64 trials near 0, their spread near crdt_hll_rse. */
TEST(crdt_hll_run_union_estimates_like_hashed_items)
{
    (void)state;
    enum { PU = 10, MU = 1 << PU };
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    static const uint32_t origins[] = {20, 500, 5000};
    static const uint32_t longest[] = {2000, 1, 40};
    for (int k = 0; k < 3; k++) {
        double sum = 0, sq = 0;
        enum { TRIALS = 64 };
        for (int t = 0; t < TRIALS; t++) {
            uint8_t r[MU] = {0};
            uint32_t h[CRDT_HLL_HIST] = {MU};
            uint64_t exact = 0;
            for (uint32_t o = 0; o < origins[k]; o++) {
                uint64_t c = 1 + ivt_rng_below(&rng, longest[k]);
                crdt_hll_add_run(r, h, PU, ivt_rng_next(&rng), 1, c, NULL);
                exact += c;
            }
            double err = (crdt_hll_estimate(r, PU) - (double)exact) / (double)exact;
            sum += err;
            sq += err * err;
        }
        double mean = sum / TRIALS, rms = sqrt(sq / TRIALS);
        /* 0.015: 3.7 standard errors of a 64-trial mean at p = 10 */
        if (fabs(mean) > 0.015 || rms > 1.5 * crdt_hll_rse(PU))
            print_error("origins=%u mean=%.4f rms=%.4f rse=%.4f\n", origins[k], mean, rms,
                        crdt_hll_rse(PU));
        assert_true(fabs(mean) <= 0.015);
        assert_true(rms <= 1.5 * crdt_hll_rse(PU));
    }
}
