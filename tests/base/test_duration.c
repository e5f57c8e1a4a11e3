/* Unit tests of base/duration: the forms operators type for TTLs and
 * timeouts, the ones rejected, and the round trip through the printer. */
#include <string.h>

#include "base/duration.h"
#include "base/err.h"
#include "base/num.h"
#include "base/rng.h"
#include "tests/test.h"

TEST(base_duration_accepts_documented_forms)
{
    (void)state;
    static const struct {
        const char *s;
        ivt_ms ms;
    } rows[] = {
        {"0", 0},
        {"500ms", 500},
        {"90s", 90 * IVT_MS_PER_S},
        {"15m", 15 * IVT_MS_PER_MIN},
        {"4h", 4 * IVT_MS_PER_HOUR},
        {"7d", 7 * IVT_MS_PER_DAY},
        {"1h30m", 90 * IVT_MS_PER_MIN},
        {"1m1ms", IVT_MS_PER_MIN + 1},
        {"0s", 0},
        {"007s", 7000},
        {"106751991167d", 106751991167LL * IVT_MS_PER_DAY},
    };
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        ivt_ms v = -1;
        assert_int_equal(ivt_duration_parse(&v, rows[i].s), 0);
        assert_true(v == rows[i].ms);
    }
}

TEST(base_duration_rejects_bad_forms)
{
    (void)state;
    static const char *bad[] = {"",   "90",  "s",  "-5s", "+5s",  "1.5h", "5 s", " 5s",  "5s ",
                                "5x", "5mx", "5w", "h5",  "5sec", "1h30", "ms",  "0x10s"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ivt_ms v = 1234;
        assert_int_equal(ivt_duration_parse(&v, bad[i]), IVT_EINVAL);
        assert_true(v == 1234); /* untouched on failure */
    }
    ivt_ms v;
    assert_int_equal(ivt_duration_parse(&v, NULL), IVT_EINVAL);
}

TEST(base_duration_overflow_is_too_big)
{
    (void)state;
    ivt_ms v = 7;
    assert_int_equal(ivt_duration_parse(&v, "106751991168d"), IVT_ETOOBIG);
    assert_int_equal(ivt_duration_parse(&v, "99999999999999999999999ms"), IVT_ETOOBIG);
    assert_int_equal(ivt_duration_parse(&v, "106751991167d106751991167d"), IVT_ETOOBIG);
    assert_int_equal(ivt_duration_parse(&v, "9223372036854775807ms"), 0);
    assert_true(v == INT64_MAX);
    /* A typo after a huge number is still a typo. */
    assert_int_equal(ivt_duration_parse(&v, "99999999999999999999999q"), IVT_EINVAL);
    assert_int_equal(ivt_duration_parse(&v, "99999999999999999999999d5q"), IVT_EINVAL);
}

TEST(base_duration_format_round_trips)
{
    (void)state;
    char buf[40];
    assert_string_equal(ivt_duration_format(buf, sizeof(buf), 0), "0s");
    assert_string_equal(ivt_duration_format(buf, sizeof(buf), 90 * IVT_MS_PER_S), "1m30s");
    assert_string_equal(ivt_duration_format(buf, sizeof(buf), 4 * IVT_MS_PER_HOUR), "4h");
    assert_string_equal(ivt_duration_format(buf, sizeof(buf), 1500), "1s500ms");
    assert_string_equal(ivt_duration_format(buf, sizeof(buf), -2000), "-2s");
    assert_string_equal(ivt_duration_format(buf, 3, 7 * IVT_MS_PER_DAY), "7d");
    struct ivt_rng r;
    ivt_rng_seed(&r, ivt_test_seed());
    for (int i = 0; i < 10000; i++) {
        ivt_ms d = (ivt_ms)(ivt_rng_next(&r) >> (1 + ivt_rng_below(&r, 63)));
        ivt_ms back = -1;
        ivt_duration_format(buf, sizeof(buf), d);
        assert_int_equal(ivt_duration_parse(&back, buf), 0);
        assert_true(back == d);
    }
    ivt_duration_format(buf, sizeof(buf), INT64_MAX);
    ivt_ms back;
    assert_int_equal(ivt_duration_parse(&back, buf), 0);
    assert_true(back == INT64_MAX);
}

TEST(base_parse_numbers_whole)
{
    (void)state;
    uint64_t u = 7;
    double d = 7;
    assert_true(ivt_parse_uint("42", 10, 1, 100, &u) && u == 42);
    assert_true(ivt_parse_uint("0x10", 0, 0, 100, &u) && u == 16);
    assert_true(ivt_parse_uint("18446744073709551615", 10, 0, UINT64_MAX, &u) && u == UINT64_MAX);
    u = 7;
    /* What strtoull alone accepts or wraps: refused, *out untouched. */
    static const char *const bad_uint[] = {"", " 1", "-1", "+1", "1x", "18446744073709551616", "0"};
    for (size_t i = 0; i < sizeof(bad_uint) / sizeof(bad_uint[0]); i++)
        assert_false(ivt_parse_uint(bad_uint[i], 10, 1, UINT64_MAX, &u));
    assert_false(ivt_parse_uint("101", 10, 1, 100, &u));
    assert_int_equal(u, 7);
    assert_true(ivt_parse_positive("2.5", 10, &d) && d == 2.5);
    static const char *const bad_pos[] = {"", "0", "-1", "nan", "inf", "1e300", "2s", " "};
    for (size_t i = 0; i < sizeof(bad_pos) / sizeof(bad_pos[0]); i++)
        assert_false(ivt_parse_positive(bad_pos[i], 1e6, &d));
    assert_true(d == 2.5);
}
