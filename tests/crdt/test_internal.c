/* Tests of crdt/internal.h: the inline msgpack readers agree with base/mp.h. */
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "crdt/internal.h"
#include "tests/test.h"

/* Header bytes the fast paths take, and their neighbours the generic
 * readers must handle (fixmap, fixstr, nil, uint64, bin32, array16...). */
static const uint8_t HEADS[] = {0x00, 0x05, 0x7f, 0x80, 0x90, 0x93, 0x9f, 0xa0, 0xc0, 0xc4, 0xc5,
                                0xc6, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xdc, 0xdd, 0xe0, 0xff};

TEST(crdt_internal_readers_match_base)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    uint8_t buf[24];
    for (int t = 0; t < 200000; t++) {
        size_t len = ivt_rng_below(&rng, sizeof(buf) + 1);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)ivt_rng_next(&rng);
        if (len)
            buf[0] = HEADS[ivt_rng_below(&rng, sizeof(HEADS))];
        if (len > 1 && ivt_rng_below(&rng, 2))
            buf[1] = (uint8_t)ivt_rng_below(&rng, len + 2); /* plausible lengths */
        const uint8_t *end = buf + len;

        const uint8_t *p1 = buf, *p2 = buf;
        uint64_t v1 = 0, v2 = 0;
        int r1 = ivt_mp_read_uint(&p1, end, &v1), r2 = crdt__rd_uint(&p2, end, &v2);
        assert_int_equal(r1, r2);
        assert_ptr_equal(p1, p2);
        if (!r1)
            assert_true(v1 == v2);

        uint64_t max = ivt_rng_below(&rng, 2) ? UINT32_MAX : ivt_rng_below(&rng, 300);
        p1 = p2 = buf;
        r1 = ivt_mp_read_uint_max(&p1, end, max, &v1);
        r2 = crdt__rd_uint_max(&p2, end, max, &v2);
        assert_int_equal(r1, r2);
        assert_ptr_equal(p1, p2);
        if (!r1)
            assert_true(v1 == v2);

        uint32_t n1 = 0, n2 = 0;
        p1 = p2 = buf;
        r1 = ivt_mp_read_array(&p1, end, &n1);
        r2 = crdt__rd_array(&p2, end, &n2);
        assert_int_equal(r1, r2);
        assert_ptr_equal(p1, p2);
        if (!r1)
            assert_int_equal(n1, n2);

        const uint8_t *b1 = NULL, *b2 = NULL;
        p1 = p2 = buf;
        r1 = ivt_mp_read_bin(&p1, end, &b1, &n1);
        r2 = crdt__rd_bin(&p2, end, &b2, &n2);
        assert_int_equal(r1, r2);
        assert_ptr_equal(p1, p2);
        if (!r1) {
            assert_ptr_equal(b1, b2);
            assert_int_equal(n1, n2);
        }
    }
}
