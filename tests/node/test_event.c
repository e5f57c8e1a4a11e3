/* Tests of node/event.c's address parsing against libc's inet_pton, which
 * node_ip_parse must agree with whatever fast path it takes. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "node/node.h"
#include "tests/test.h"

/* node_ip_parse answers as inet_pton does: the same four bytes for what it
 * reads as IPv4, success for what it reads as IPv6 (the v4-mapped folding
 * is node_ip_parse_forms' business), EINVAL for the rest. */
static void agrees(const char *s)
{
    uint8_t v4[4], v6[16];
    bool is4 = inet_pton(AF_INET, s, v4) == 1;
    bool is6 = !is4 && inet_pton(AF_INET6, s, v6) == 1;
    struct node_ip got;
    int rc = node_ip_parse(&got, s, strlen(s));
    if (is4) {
        if (rc != 0 || got.family != 4 || memcmp(got.bytes, v4, 4) != 0)
            fail_msg("'%s': inet_pton reads IPv4, node_ip_parse %d", s, rc);
    } else if (is6) {
        if (rc != 0)
            fail_msg("'%s': inet_pton reads IPv6, node_ip_parse %d", s, rc);
    } else if (rc != IVT_EINVAL) {
        fail_msg("'%s': inet_pton refuses it, node_ip_parse %d", s, rc);
    }
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
