/*
 * tests/loadgen.h: the event mix of bin/ivt-loadgen, shared with the
 * in-process API benchmark (tests/node/bench_api.c) so both measure the
 * same traffic: addresses 10.x.y.z from an index, four user agents (one a
 * crawler), 500 publishers.
 */
#ifndef IVT_TESTS_LOADGEN_H
#define IVT_TESTS_LOADGEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "base/err.h"
#include "base/num.h"
#include "base/mp.h"
#include "base/rng.h"
#include "node/config.h"

/* Distinct client addresses in score traffic: a realistic working set. */
enum { LOADGEN_IP_POOL = 100000 };

/* ---- the command line ----------------------------------------------------
 *
 *   ivt-loadgen score   ADDR RATE SECONDS [CONNS [TAG]]
 *   ivt-loadgen observe ADDR BATCH SECONDS [CONNS]
 *   ivt-loadgen fill    ADDR ENTITIES|pool
 *   ivt-loadgen sync    ADDR SECONDS [TAG]
 *   ivt-loadgen wake    SECONDS
 *
 * Parsed here, apart from the run, so fuzz_loadgen_args drives it. Every
 * number is checked whole and bounded: score keeps 12 bytes per request it
 * will send, so RATE x SECONDS is what it allocates.
 */

enum loadgen_mode { LOADGEN_SCORE, LOADGEN_OBSERVE, LOADGEN_FILL, LOADGEN_SYNC, LOADGEN_WAKE };

enum {
    LOADGEN_MAX_CONNS = 64,           /* connections (poll sets are arrays of this) */
    LOADGEN_MAX_SECS = 24 * 3600,     /* a day: a soak test is not this tool's job */
    LOADGEN_MAX_RATE = 10000000,      /* requests/s: 20x what one daemon does */
    LOADGEN_MAX_REQUESTS = 100000000, /* RATE x SECONDS: 1.2 GB of latency records */
    LOADGEN_MAX_BATCH = 10000,        /* events per observe: well past the 1 MiB frame */
    LOADGEN_MAX_ENTITIES = 100000000, /* fill: distinct addresses (10.x.y.z repeats past 2^24) */
    LOADGEN_DEFAULT_CONNS = 2,
    LOADGEN_FILL_BATCH = 1000,
    LOADGEN_MSG_MAX = 256
};

struct loadgen_args {
    enum loadgen_mode mode;
    const char *addr;  /* ip:port or unix:/path; NULL for wake */
    double rate;       /* score */
    double secs;       /* all but fill */
    int batch;         /* observe, fill */
    int conns;         /* score, observe, fill */
    uint32_t distinct; /* fill: addresses to observe; 0 otherwise */
    const char *tag;   /* score, sync: "" when absent */
};

static inline bool loadgen_addr_ok(const char *a)
{
    struct sockaddr_storage ss;
    if (strncmp(a, "unix:", 5) == 0)
        return a[5] && strlen(a + 5) < sizeof(((struct sockaddr_un *)0)->sun_path);
    return ivtd_sockaddr_parse(&ss, a) == 0;
}

/*
 * Parses argv[1..argc). Returns 0, or IVT_EINVAL with msg naming the
 * argument (main prints it and the usage). Touches nothing.
 */
static inline int loadgen_args_parse(struct loadgen_args *o, int argc, char *const *argv, char *msg,
                                     size_t cap)
{
    static const struct {
        const char *name;
        enum loadgen_mode mode;
        int min, max; /* arguments after the mode word */
    } modes[] = {{"score", LOADGEN_SCORE, 3, 5},
                 {"observe", LOADGEN_OBSERVE, 3, 4},
                 {"fill", LOADGEN_FILL, 2, 2},
                 {"sync", LOADGEN_SYNC, 2, 3},
                 {"wake", LOADGEN_WAKE, 1, 1}};
    memset(o, 0, sizeof(*o));
    o->conns = LOADGEN_DEFAULT_CONNS;
    o->tag = "";
    size_t m = 0;
    while (argc > 1 && m < sizeof(modes) / sizeof(modes[0]) && strcmp(argv[1], modes[m].name))
        m++;
    if (argc < 2 || m == sizeof(modes) / sizeof(modes[0])) {
        snprintf(msg, cap, "%s%.40s%s", argc < 2 ? "no mode" : "unknown mode '",
                 argc < 2 ? "" : argv[1], argc < 2 ? "" : "'");
        return IVT_EINVAL;
    }
    int n = argc - 2;
    char *const *a = argv + 2;
    if (n < modes[m].min || n > modes[m].max) {
        snprintf(msg, cap, "%s takes %d to %d arguments, not %d", modes[m].name, modes[m].min,
                 modes[m].max, n);
        return IVT_EINVAL;
    }
    o->mode = modes[m].mode;
    /* Which argument is which: ADDR first but for wake; then the numbers. */
    int i = 0;
    if (o->mode != LOADGEN_WAKE) {
        o->addr = a[i++];
        if (!loadgen_addr_ok(o->addr)) {
            snprintf(msg, cap, "ADDR '%.60s' is not ip:port or unix:/path", o->addr);
            return IVT_EINVAL;
        }
    }
    uint64_t v;
    const char *bad = NULL, *want = NULL;
    switch (o->mode) {
    case LOADGEN_SCORE:
        if (!ivt_parse_positive(a[i], LOADGEN_MAX_RATE, &o->rate))
            bad = a[i], want = "RATE must be requests/s above 0, at most 10000000";
        else if (!ivt_parse_positive(a[++i], LOADGEN_MAX_SECS, &o->secs))
            bad = a[i], want = "SECONDS must be above 0, at most 86400";
        else if (o->rate * o->secs > LOADGEN_MAX_REQUESTS)
            bad = a[i], want = "RATE x SECONDS must be at most 100000000 requests";
        break;
    case LOADGEN_OBSERVE:
        if (!ivt_parse_uint(a[i], 10, 1, LOADGEN_MAX_BATCH, &v)) {
            bad = a[i], want = "BATCH must be a whole number from 1 to 10000";
            break;
        }
        o->batch = (int)v;
        if (!ivt_parse_positive(a[++i], LOADGEN_MAX_SECS, &o->secs))
            bad = a[i], want = "SECONDS must be above 0, at most 86400";
        break;
    case LOADGEN_FILL:
        o->batch = LOADGEN_FILL_BATCH;
        if (strcmp(a[i], "pool") == 0)
            o->distinct = LOADGEN_IP_POOL;
        else if (!ivt_parse_uint(a[i], 10, 1, LOADGEN_MAX_ENTITIES, &v))
            bad = a[i], want = "ENTITIES must be 'pool' or a whole number from 1 to 100000000";
        else
            o->distinct = (uint32_t)v;
        break;
    case LOADGEN_SYNC:
    case LOADGEN_WAKE:
        if (!ivt_parse_positive(a[i], LOADGEN_MAX_SECS, &o->secs))
            bad = a[i], want = "SECONDS must be above 0, at most 86400";
        break;
    }
    if (!bad && ++i < n && (o->mode == LOADGEN_SCORE || o->mode == LOADGEN_OBSERVE)) {
        if (!ivt_parse_uint(a[i], 10, 1, LOADGEN_MAX_CONNS, &v))
            bad = a[i], want = "CONNS must be a whole number from 1 to 64";
        else
            o->conns = (int)v;
        i++;
    }
    if (!bad && i < n)
        o->tag = a[i]; /* score's and sync's last: free text */
    if (bad) {
        snprintf(msg, cap, "'%.40s': %s", bad, want);
        return IVT_EINVAL;
    }
    return 0;
}

static inline void loadgen_usage(FILE *f)
{
    fprintf(f, "usage: ivt-loadgen score ADDR RATE SECONDS [CONNS [TAG]]\n"
               "       (ADDR: ip:port, or unix:/path for a unix socket)\n"
               "       ivt-loadgen observe ADDR BATCH SECONDS [CONNS]\n"
               "       ivt-loadgen fill ADDR ENTITIES|pool\n"
               "       ivt-loadgen sync ADDR SECONDS [TAG]\n"
               "       ivt-loadgen wake SECONDS\n");
}

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
