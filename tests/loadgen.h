/*
 * tests/loadgen.h: the event mix of bin/ivt-loadgen, shared with the
 * in-process API benchmark (tests/node/bench_api.c) so both measure the
 * same traffic: addresses 10.x.y.z from an index, four user agents (one a
 * crawler), 500 publishers.
 */
#ifndef IVT_TESTS_LOADGEN_H
#define IVT_TESTS_LOADGEN_H

#include <stdint.h>
#include <string.h>

#include "base/mp.h"
#include "base/rng.h"

/* Distinct client addresses in score traffic: a realistic working set. */
enum { LOADGEN_IP_POOL = 100000 };

/* Decimal digits of v at p; returns the byte after them. */
static inline char *loadgen_put_uint(char *p, unsigned v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* One event map, as ivtd's docs/protocol.md has it. Formatted by hand, not
 * with snprintf: at 100,000 requests/s the generator shares the 2 cores
 * with the daemon it measures, and every microsecond it spends is one the
 * daemon may wait for. */
static inline void loadgen_write_event(struct ivt_mpw *w, struct ivt_rng *rng, uint32_t ip_index)
{
    static const char *const uas[] = {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"};
    static size_t ua_len[4];
    if (!ua_len[0])
        for (int i = 0; i < 4; i++)
            ua_len[i] = strlen(uas[i]);
    char ip[32], pub[32], *e;
    memcpy(ip, "10.", 3);
    e = loadgen_put_uint(ip + 3, (ip_index >> 16) & 255);
    *e++ = '.';
    e = loadgen_put_uint(e, (ip_index >> 8) & 255);
    *e++ = '.';
    e = loadgen_put_uint(e, ip_index & 255);
    size_t ip_len = (size_t)(e - ip);
    memcpy(pub, "pub-", 4);
    size_t pub_len = (size_t)(loadgen_put_uint(pub + 4, (unsigned)ivt_rng_below(rng, 500)) - pub);
    int ua = (int)ivt_rng_below(rng, 4);
    ivt_mpw_map(w, 4);
    ivt_mpw_str(w, "ip", 2);
    ivt_mpw_str(w, ip, ip_len);
    ivt_mpw_str(w, "ua", 2);
    ivt_mpw_str(w, uas[ua], ua_len[ua]);
    ivt_mpw_str(w, "pub", 3);
    ivt_mpw_str(w, pub, pub_len);
    ivt_mpw_str(w, "kind", 4);
    ivt_mpw_str(w, "request", 7);
}

#endif
