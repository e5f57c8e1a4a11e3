/* Unit tests of base/: the RNG a simulated run replays with, and the bounded
 * msgpack reader every decoder stands on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/checkout.h"
#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "tests/test.h"

TEST(base_rng_deterministic)
{
    (void)state;
    struct ivt_rng a, b, c;
    ivt_rng_seed(&a, 42);
    ivt_rng_seed(&b, 42);
    ivt_rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = ivt_rng_next(&a), y = ivt_rng_next(&b), z = ivt_rng_next(&c);
        assert_int_equal(x, y);
        differ += x != z;
    }
    assert_true(differ > 990);
}

TEST(base_rng_below_uniform)
{
    (void)state;
    struct ivt_rng r;
    ivt_rng_seed(&r, ivt_test_seed());
    enum { BUCKETS = 10, DRAWS = 100000 };
    int hist[BUCKETS] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint64_t v = ivt_rng_below(&r, BUCKETS);
        assert_true(v < BUCKETS);
        hist[v]++;
    }
    /* Each bucket expects 10,000 with sd ~95: 6 sd is a real bug, not luck. */
    for (int i = 0; i < BUCKETS; i++)
        assert_true(abs(hist[i] - DRAWS / BUCKETS) < 600);
    assert_int_equal(ivt_rng_below(&r, 0), 0);
    for (int i = 0; i < 1000; i++) {
        double d = ivt_rng_double(&r);
        assert_true(d >= 0.0 && d < 1.0);
    }
}

TEST(base_mp_roundtrip_scalars)
{
    (void)state;
    uint8_t buf[256];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    const uint64_t uints[] = {
        0, 1, 127, 128, 255, 256, 65535, 65536, 0xffffffffULL, 0x100000000ULL, UINT64_MAX};
    const int64_t ints[] = {-1, -32, -33, -128, -129, -32768, -32769, INT64_MIN};
    ivt_mpw_array(&w, 4);
    for (unsigned i = 0; i < sizeof(uints) / sizeof(uints[0]); i++)
        ivt_mpw_uint(&w, uints[i]);
    for (unsigned i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        ivt_mpw_int(&w, ints[i]);
    ivt_mpw_cstr(&w, "hello");
    ivt_mpw_bin(&w, "\x01\x02\x03", 3);
    ivt_mpw_double(&w, 2.5);
    ivt_mpw_bool(&w, true);
    ivt_mpw_nil(&w);
    assert_int_equal(ivt_mpw_error(&w), 0);

    const uint8_t *p = buf, *end = buf + w.len;
    uint32_t n;
    assert_int_equal(ivt_mp_read_array(&p, end, &n), 0);
    assert_int_equal(n, 4);
    for (unsigned i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
        uint64_t v;
        assert_int_equal(ivt_mp_read_uint(&p, end, &v), 0);
        assert_true(v == uints[i]);
    }
    for (unsigned i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        int64_t v;
        assert_int_equal(ivt_mp_read_int(&p, end, &v), 0);
        assert_true(v == ints[i]);
    }
    const char *s;
    assert_int_equal(ivt_mp_read_str(&p, end, &s, &n), 0);
    assert_true(ivt_mp_str_eq(s, n, "hello"));
    uint8_t bin[3];
    assert_int_equal(ivt_mp_read_bin_exact(&p, end, bin, 3), 0);
    assert_memory_equal(bin, "\x01\x02\x03", 3);
    double d;
    assert_int_equal(ivt_mp_read_double(&p, end, &d), 0);
    assert_true(d == 2.5);
    bool b;
    /* a reader of the wrong type fails and does not move the cursor */
    const uint8_t *before = p;
    assert_int_equal(ivt_mp_read_nil(&p, end), IVT_EPROTO);
    assert_ptr_equal(p, before);
    assert_int_equal(ivt_mp_read_bool(&p, end, &b), 0);
    assert_true(b);
    assert_int_equal(ivt_mp_read_nil(&p, end), 0);
    assert_ptr_equal(p, end);
    uint64_t u;
    assert_int_equal(ivt_mp_read_uint(&p, end, &u), IVT_EPROTO);
}

TEST(base_mp_rejects_lying_counts)
{
    (void)state;
    /* array32 declaring 4 billion elements, then nothing */
    const uint8_t arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t *p = arr;
    uint32_t n;
    assert_int_equal(ivt_mp_read_array(&p, arr + sizeof(arr), &n), IVT_EPROTO);
    assert_ptr_equal(p, arr);
    /* map16 of 3 pairs with 5 bytes left: pairs need 6 */
    const uint8_t map[] = {0xde, 0x00, 0x03, 1, 2, 3, 4, 5};
    p = map;
    assert_int_equal(ivt_mp_read_map(&p, map + sizeof(map), &n), IVT_EPROTO);
    /* str8 claiming 200 bytes with 2 present */
    const uint8_t str[] = {0xd9, 200, 'a', 'b'};
    const char *s;
    p = str;
    assert_int_equal(ivt_mp_read_str(&p, str + sizeof(str), &s, &n), IVT_EPROTO);
    /* 0xc1 is never valid */
    const uint8_t bad[] = {0xc1};
    p = bad;
    assert_int_equal(ivt_mp_skip(&p, bad + 1), IVT_EPROTO);
    /* uint over a bound */
    const uint8_t big[] = {0xcd, 0x01, 0x00};
    p = big;
    uint64_t u;
    assert_int_equal(ivt_mp_read_uint_max(&p, big + 3, 255, &u), IVT_EPROTO);
    assert_int_equal(ivt_mp_read_uint_max(&p, big + 3, 256, &u), 0);
    assert_int_equal(u, 256);
}

TEST(base_mp_value_len_stream)
{
    (void)state;
    uint8_t buf[64];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    ivt_mpw_array(&w, 4);
    ivt_mpw_uint(&w, 0);
    ivt_mpw_uint(&w, 7);
    ivt_mpw_cstr(&w, "score");
    ivt_mpw_map(&w, 1);
    ivt_mpw_cstr(&w, "ip");
    ivt_mpw_cstr(&w, "192.0.2.1");
    assert_int_equal(ivt_mpw_error(&w), 0);
    for (size_t cut = 0; cut < w.len; cut++)
        assert_int_equal(ivt_mp_value_len(buf, cut), IVT_EAGAIN);
    assert_int_equal(ivt_mp_value_len(buf, w.len), (long)w.len);
    buf[w.len] = 0x01; /* a following message does not change the first's length */
    assert_int_equal(ivt_mp_value_len(buf, w.len + 1), (long)w.len);
}

TEST(base_mp_fixed_writer_overflow)
{
    (void)state;
    uint8_t buf[8];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    ivt_mpw_cstr(&w, "0123456789");
    assert_int_equal(ivt_mpw_error(&w), IVT_ENOSPC);
    assert_true(w.len <= sizeof(buf));
    ivt_mpw_reset(&w);
    ivt_mpw_uint(&w, 5);
    assert_int_equal(ivt_mpw_error(&w), 0);
    assert_int_equal(w.len, 1);
}

TEST(base_mp_dyn_writer_limit)
{
    (void)state;
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1000);
    for (int i = 0; i < 100; i++)
        ivt_mpw_uint(&w, 1000000);
    assert_int_equal(ivt_mpw_error(&w), 0);
    assert_int_equal(w.len, 500);
    for (int i = 0; i < 200; i++)
        ivt_mpw_uint(&w, 1000000);
    assert_int_equal(ivt_mpw_error(&w), IVT_ETOOBIG);
    assert_true(w.len <= 1000);
    ivt_mpw_destroy(&w);
}

/* The cursor writers store the bytes the packer's wrappers write: every
 * length class of a uint, an array header and a bin, and the boundaries
 * between them (a record encoded either way must hash alike). */
TEST(base_mp_cursor_matches_packer)
{
    (void)state;
    static const uint64_t uints[] = {
        0,         1, 127, 128, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, UINT64_MAX - 1,
        UINT64_MAX};
    static const uint32_t counts[] = {0, 1, 15, 16, 255, 256, 65535, 65536, 70000};
    static uint8_t body[70000];
    struct ivt_mpw a, b;
    ivt_mpw_init_dyn(&a, 1 << 20);
    ivt_mpw_init_dyn(&b, 1 << 20);
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
        ivt_mpw_uint(&a, uints[i]);
        uint8_t *p = ivt_mpw_reserve(&b, IVT_MP_UINT_MAX);
        assert_non_null(p);
        ivt_mpw_commit(&b, ivt_mp_put_uint(p, uints[i]));
    }
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        ivt_mpw_array(&a, counts[i]);
        ivt_mpw_bin(&a, body, counts[i]);
        uint8_t *p = ivt_mpw_reserve(&b, IVT_MP_ARRAY_MAX + IVT_MP_BIN_HEAD_MAX + counts[i]);
        assert_non_null(p);
        p = ivt_mp_put_array(p, counts[i]);
        ivt_mpw_commit(&b, ivt_mp_put_bin(p, body, counts[i]));
    }
    assert_int_equal(ivt_mpw_error(&a), 0);
    assert_int_equal(ivt_mpw_error(&b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    ivt_mpw_destroy(&a);
    ivt_mpw_destroy(&b);
}

/* A reservation a writer cannot hold fails as a write of that size does,
 * and leaves what was written. */
TEST(base_mp_cursor_reserve_limits)
{
    (void)state;
    uint8_t buf[8];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    uint8_t *p = ivt_mpw_reserve(&w, 3);
    assert_non_null(p);
    ivt_mpw_commit(&w, ivt_mp_put_uint(p, 300));
    assert_int_equal(w.len, 3);
    assert_null(ivt_mpw_reserve(&w, 6));
    assert_int_equal(ivt_mpw_error(&w), IVT_ENOSPC);
    assert_int_equal(w.len, 3);
    assert_null(ivt_mpw_reserve(&w, 1)); /* the first error stays */
    /* A heap writer holds max bytes, not more, even below its first
     * allocation's size (it held 256). */
    struct ivt_mpw d;
    ivt_mpw_init_dyn(&d, 100);
    assert_non_null(ivt_mpw_reserve(&d, 100));
    assert_null(ivt_mpw_reserve(&d, 101));
    assert_int_equal(ivt_mpw_error(&d), IVT_ETOOBIG);
    ivt_mpw_destroy(&d);
    ivt_mpw_init_dyn(&d, 100);
    for (int i = 0; i < 101; i++)
        ivt_mpw_uint(&d, 1);
    assert_int_equal(ivt_mpw_error(&d), IVT_ETOOBIG);
    assert_int_equal(d.len, 100);
    ivt_mpw_destroy(&d);
}

TEST(base_mp_truncations_never_read_past_end)
{
    (void)state;
    /* Every prefix of a valid nested message, copied to an exact-size heap
     * block so ASan catches any read past the end. */
    uint8_t buf[128];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    ivt_mpw_map(&w, 2);
    ivt_mpw_cstr(&w, "a");
    ivt_mpw_array(&w, 3);
    ivt_mpw_uint(&w, 1ULL << 40);
    ivt_mpw_double(&w, 1.5);
    ivt_mpw_bin(&w, "xyz", 3);
    ivt_mpw_cstr(&w, "b");
    ivt_mpw_int(&w, -100000);
    for (size_t cut = 0; cut <= w.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        const uint8_t *p = copy;
        int rc = ivt_mp_skip(&p, copy + cut);
        assert_int_equal(rc, cut == w.len ? 0 : IVT_EPROTO);
        free(copy);
    }
}

/* The binaries' data in the checkout: bin/ (make) one level below it,
 * build/release/bin/ (make release) three; one level wins when both hold
 * the file, and a checkout without it is no answer. */
TEST(base_checkout_root_bin_and_release)
{
    (void)state;
    char top[64], path[256], out[256];
    ivt_test_tmpdir(top, sizeof(top), "checkout");
    const char *dirs[] = {"bin", "build", "build/release", "build/release/bin", "sim", "sim/data"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", top, dirs[i]);
        assert_int_equal(mkdir(path, 0700), 0);
    }
    char bin[128], rel[128];
    snprintf(bin, sizeof(bin), "%s/bin", top);
    snprintf(rel, sizeof(rel), "%s/build/release/bin", top);
    assert_true(ivt_checkout_root(out, sizeof(out), bin, strlen(bin), "sim/data"));
    snprintf(path, sizeof(path), "%s/..", bin);
    assert_string_equal(out, path);
    assert_true(ivt_checkout_root(out, sizeof(out), rel, strlen(rel), "sim/data"));
    snprintf(path, sizeof(path), "%s/../../..", rel);
    assert_string_equal(out, path);
    /* only the first bindir_len bytes name the directory */
    snprintf(path, sizeof(path), "%s/ivtsim", rel);
    assert_true(ivt_checkout_root(out, sizeof(out), path, strlen(rel), "sim/data"));
    assert_false(ivt_checkout_root(out, sizeof(out), rel, strlen(rel), "node/data"));
    assert_false(ivt_checkout_root(out, 16, rel, strlen(rel), "sim/data")); /* does not fit */
    snprintf(path, sizeof(path), "%s/build/release/sim", top);              /* both hold it now */
    assert_int_equal(mkdir(path, 0700), 0);
    assert_true(ivt_checkout_root(out, sizeof(out), rel, strlen(rel), "sim"));
    snprintf(path, sizeof(path), "%s/..", rel);
    assert_string_equal(out, path);
    ivt_test_rmdir(top);
}
