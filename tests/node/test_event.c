/* Tests of node/event.c's address parsing against libc's inet_pton, which
 * node_ip_parse must agree with whatever fast path it takes. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "node/node.h"
#include "tests/test.h"

/* What node_ip_parse must answer for s: inet_pton's verdict (v4, else v6
 * with a v4-mapped v6 address folded to v4). */
static int expected(struct node_ip *out, const char *s)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, s, out->bytes) == 1) {
        out->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out->bytes) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out->bytes, mapped, sizeof(mapped)) == 0) {
            memmove(out->bytes, out->bytes + 12, 4);
            memset(out->bytes + 4, 0, 12);
            out->family = 4;
        } else {
            out->family = 6;
        }
        return 0;
    }
    return IVT_EINVAL;
}

static void agrees(const char *s)
{
    struct node_ip want, got;
    int rc = expected(&want, s);
    int grc = node_ip_parse(&got, s, strlen(s));
    if (grc != rc)
        fail_msg("'%s': node_ip_parse %d, inet_pton %d", s, grc, rc);
    if (rc == 0)
        assert_memory_equal(&got, &want, sizeof(want));
}

TEST(node_ip_parse_agrees_with_inet_pton)
{
    (void)state;
    static const char *const edge[] = {
        "0.0.0.0",    "255.255.255.255", "256.0.0.1",       "1.2.3.04", "01.2.3.4", "1.2.3.0",
        "1.2.3.00",   "1.2.3",           "1.2.3.4.5",       "1..2.3",   ".1.2.3",   "1.2.3.",
        "1.2.3.4a",   "a1.2.3.4",        "1.2.3.-4",        "1.2.3.4 ", " 1.2.3.4", "999.1.1.1",
        "1.2.3.2555", "10.0.0.1",        "::ffff:10.0.0.1", "::1"};
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
        agrees(edge[i]);
    /* Random strings over the characters a dotted quad is made of. */
    struct ivt_rng r;
    ivt_rng_seed(&r, ivt_test_seed());
    static const char alphabet[] = "0123456789..........:x";
    for (int i = 0; i < 200000; i++) {
        char s[24];
        size_t n = 1 + (size_t)ivt_rng_below(&r, 20);
        for (size_t k = 0; k < n; k++)
            s[k] = alphabet[ivt_rng_below(&r, sizeof(alphabet) - 1)];
        s[n] = 0;
        agrees(s);
    }
    /* And well-formed quads of random parts, some with leading zeros. */
    for (int i = 0; i < 100000; i++) {
        char s[32];
        unsigned p[4];
        for (int k = 0; k < 4; k++)
            p[k] = (unsigned)ivt_rng_below(&r, 300);
        snprintf(s, sizeof(s), ivt_rng_below(&r, 8) ? "%u.%u.%u.%u" : "%u.%03u.%u.%u", p[0], p[1],
                 p[2], p[3]);
        agrees(s);
    }
}
