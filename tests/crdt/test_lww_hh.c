/* Tests of crdt/lww.c (decisions, HLC) and crdt/hh.c (heavy hitters). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "crdt/hh.h"
#include "crdt/lww.h"
#include "tests/test.h"

static const ivt_ms T0 = 1764100000000LL;

static struct crdt_origin origin(int n)
{
    struct crdt_origin o;
    memset(&o, 0, sizeof(o));
    o.id[15] = (uint8_t)n;
    o.gen = 1;
    return o;
}

static void lww_bytes(struct crdt_lww *l, struct ivt_mpw *w)
{
    ivt_mpw_init_dyn(w, 1 << 20);
    assert_int_equal(crdt_lww_encode(l, w), 0);
}

static void lww_sync(struct crdt_lww *dst, struct crdt_lww *src, ivt_ms wall)
{
    struct ivt_mpw w;
    lww_bytes(src, &w);
    assert_int_equal(crdt_lww_merge(dst, w.data, w.len, wall, NULL), 0);
    ivt_mpw_destroy(&w);
}

TEST(crdt_hlc_monotonic)
{
    (void)state;
    struct crdt_hlc c = {0};
    uint64_t a = crdt_hlc_now(&c, T0);
    uint64_t b = crdt_hlc_now(&c, T0 - 5000); /* the clock stepped back */
    assert_true(b > a);
    crdt_hlc_observe(&c, a + 1000);
    assert_true(crdt_hlc_now(&c, T0) > a + 1000);
    assert_int_equal(crdt_hlc_ms(crdt_hlc_now(&c, T0 + 60000)), T0 + 60000);
}

TEST(crdt_lww_converges_and_clear_wins)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    enum { N = 4 };
    struct crdt_lww *r[N];
    for (int i = 0; i < N; i++) {
        struct crdt_origin o = origin(i + 1);
        assert_int_equal(crdt_lww_new(&r[i], &o, 1000), 0);
    }
    for (int k = 0; k < 400; k++) {
        int i = (int)ivt_rng_below(&rng, N);
        enum crdt_action a = (enum crdt_action)(1 + ivt_rng_below(&rng, 3));
        uint64_t h = ivt_rng_below(&rng, 20);
        ivt_ms wall = T0 + (ivt_ms)ivt_rng_below(&rng, 100000);
        assert_int_equal(crdt_lww_set(r[i], CRDT_KIND_IP, h, "k", 1, a, "why", 3, 3600000, wall),
                         0);
        if (ivt_rng_below(&rng, 4) == 0)
            lww_sync(r[ivt_rng_below(&rng, N)], r[i], T0);
    }
    /* Everyone hears everyone (any order, twice): equal bytes. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                lww_sync(r[j], r[(i + pass) % N], T0);
    struct ivt_mpw a, b;
    lww_bytes(r[0], &a);
    for (int i = 1; i < N; i++) {
        lww_bytes(r[i], &b);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        ivt_mpw_destroy(&b);
    }
    ivt_mpw_destroy(&a);
    /* A later CLEAR beats an earlier BAN, wherever it was made. */
    assert_int_equal(
        crdt_lww_set(r[0], CRDT_KIND_IP, 77, "x", 1, CRDT_ACT_BAN, "", 0, 3600000, T0 + 200000), 0);
    lww_sync(r[1], r[0], T0 + 200000);
    assert_non_null(crdt_lww_get(r[1], CRDT_KIND_IP, 77, T0 + 200001));
    assert_int_equal(
        crdt_lww_set(r[1], CRDT_KIND_IP, 77, "x", 1, CRDT_ACT_CLEAR, "", 0, 0, T0 + 200000), 0);
    lww_sync(r[0], r[1], T0 + 200000);
    assert_null(crdt_lww_get(r[0], CRDT_KIND_IP, 77, T0 + 200001));
    /* Expiry, then GC past MAX_TTL + GRACE; a late copy is ignored. */
    assert_null(crdt_lww_get(r[2], CRDT_KIND_IP, 3, T0 + 2 * 3600000));
    ivt_mpw_init_dyn(&a, 1 << 20);
    crdt_lww_encode(r[0], &a);
    ivt_ms later = T0 + CRDT_LWW_MAX_TTL + CRDT_LWW_GRACE + 300000;
    assert_true(crdt_lww_gc(r[0], later) > 0);
    assert_int_equal(crdt_lww_count(r[0]), 0);
    size_t changed;
    assert_int_equal(crdt_lww_merge(r[0], a.data, a.len, later, &changed), 0);
    assert_int_equal(changed, 0);
    assert_int_equal(crdt_lww_count(r[0]), 0);
    ivt_mpw_destroy(&a);
    /* Bad arguments. */
    assert_int_equal(
        crdt_lww_set(r[0], CRDT_KIND_IP, 1, "x", 1, CRDT_ACT_BAN, "", 0, CRDT_LWW_MAX_TTL + 1, T0),
        IVT_EINVAL);
    assert_int_equal(crdt_lww_set(r[0], CRDT_KIND_IP, 1, "x", 1, CRDT_ACT_BAN, "", 0, 0, T0),
                     IVT_EINVAL);
    for (int i = 0; i < N; i++)
        crdt_lww_delete(r[i]);
}

TEST(crdt_lww_decode_rejects)
{
    (void)state;
    struct crdt_origin o = origin(1);
    struct crdt_lww *l;
    assert_int_equal(crdt_lww_new(&l, &o, 10), 0);
    for (int i = 0; i < 3; i++)
        crdt_lww_set(l, CRDT_KIND_PUB, (uint64_t)i, "p", 1, CRDT_ACT_BAN, "r", 1, 60000, T0);
    struct ivt_mpw w;
    lww_bytes(l, &w);
    struct crdt_lww *m;
    assert_int_equal(crdt_lww_new(&m, &o, 10), 0);
    for (size_t k = 0; k < w.len; k++)
        assert_true(crdt_lww_merge(m, w.data, k, T0, NULL) < 0);
    assert_int_equal(crdt_lww_count(m), 0);
    uint8_t v9[] = {0x92, 0x09, 0x90};
    assert_int_equal(crdt_lww_merge(m, v9, sizeof(v9), T0, NULL), IVT_EVERSION);
    /* map bound */
    struct crdt_lww *small;
    assert_int_equal(crdt_lww_new(&small, &o, 2), 0);
    assert_int_equal(crdt_lww_merge(small, w.data, w.len, T0, NULL), IVT_ELIMIT);
    ivt_mpw_destroy(&w);
    crdt_lww_delete(l);
    crdt_lww_delete(m);
    crdt_lww_delete(small);
}

TEST(crdt_hh_merge_and_top)
{
    (void)state;
    enum { N = 3, K = 32 };
    struct crdt_hh *h[N];
    for (int i = 0; i < N; i++) {
        struct crdt_origin o = origin(i + 1);
        assert_int_equal(crdt_hh_new(&h[i], &o, K, 16), 0);
    }
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    /* Item 1 is heavy everywhere; a long tail of others. */
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 5000; k++)
            crdt_hh_observe(h[i], k % 5 == 0 ? 1 : 100 + ivt_rng_below(&rng, 1000), 1);
        crdt_hh_publish(h[i], 100);
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                struct ivt_mpw w;
                ivt_mpw_init_dyn(&w, 1 << 20);
                assert_int_equal(crdt_hh_encode(h[i], &w), 0);
                assert_int_equal(crdt_hh_merge(h[j], w.data, w.len, 0), 0);
                ivt_mpw_destroy(&w);
            }
    struct crdt_hh_item top[4];
    for (int i = 0; i < N; i++) {
        assert_int_equal(crdt_hh_owners(h[i]), N);
        assert_true(crdt_hh_top(h[i], top, 4) > 0);
        assert_int_equal(top[0].hash, 1);
        /* Space-Saving never under-counts: the true count is 3000. */
        assert_true(top[0].count >= 3000 && top[0].count - top[0].error <= 3000);
    }
    /* Merging the same slots again changes nothing; expiry drops them. */
    struct ivt_mpw a, b;
    ivt_mpw_init_dyn(&a, 1 << 20);
    ivt_mpw_init_dyn(&b, 1 << 20);
    crdt_hh_encode(h[0], &a);
    crdt_hh_encode(h[2], &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    for (size_t k = 0; k < a.len; k += 7)
        assert_true(crdt_hh_merge(h[1], a.data, k, 0) < 0);
    ivt_mpw_destroy(&a);
    ivt_mpw_destroy(&b);
    assert_int_equal(crdt_hh_expire(h[0], 101), N);
    assert_int_equal(crdt_hh_owners(h[0]), 0);
    for (int i = 0; i < N; i++)
        crdt_hh_delete(h[i]);
}
