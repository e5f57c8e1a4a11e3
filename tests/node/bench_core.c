/*
 * Benchmarks of the node core's request path, in process (no sockets):
 * node_observe throughput with about a million live entities, and the
 * latency distribution of node_score. `bin/ivt-bench 'node_core_*'`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/rng.h"
#include "node/hugemem.h"
#include "node/node.h"
#include "tests/bench/bench.h"
#include "tests/node/bench_node.h"

#define WALL0 ((ivt_ms)1795651200000LL)

static struct node *bench_node(uint32_t max_entities)
{
    if (sodium_init() < 0)
        return 0;
    struct node_config cfg;
    bench_node_config(&cfg);
    cfg.max_entities = max_entities;
    struct crdt_alloc alloc; /* the daemon's (node/hugemem.h); node_new copies it */
    ivtd_hugemem_alloc(&alloc);
    cfg.store_alloc = &alloc;
    struct node *n = 0;
    if (node_new(&n, &cfg, 1, 0, WALL0))
        return 0;
    return n;
}

static const char *const UAS[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/145.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/26.6.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/145.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/145.0.0.0 Mobile Safari/537.36",
};

static void make_event(struct node_event *ev, struct ivt_rng *r, uint32_t ips, char *dev, char *pub)
{
    memset(ev, 0, sizeof(*ev));
    uint32_t ip = (uint32_t)ivt_rng_below(r, ips) + 0x0b000000u; /* 11.0.0.0 + i */
    ev->ip.family = 4;
    ev->ip.bytes[0] = (uint8_t)(ip >> 24);
    ev->ip.bytes[1] = (uint8_t)(ip >> 16);
    ev->ip.bytes[2] = (uint8_t)(ip >> 8);
    ev->ip.bytes[3] = (uint8_t)ip;
    ev->ua = UAS[ivt_rng_below(r, 4)];
    ev->ua_len = strlen(ev->ua);
    snprintf(dev, 24, "dev-%u", (unsigned)ivt_rng_below(r, ips));
    ev->device = dev;
    ev->device_len = strlen(dev);
    snprintf(pub, 24, "pub-%u", (unsigned)ivt_rng_below(r, 1000));
    ev->pub = pub;
    ev->pub_len = strlen(pub);
    ev->kind = NODE_EV_REQUEST;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

BENCH(node_core_request_path)
{
    enum { IPS = 400000, WARM = 1000000, N = 1000000, SCORES = 200000 };
    struct node *n = bench_node(2000000);
    if (!n)
        return;
    struct ivt_rng r;
    ivt_rng_seed(&r, 7);
    char dev[24], pub[24];
    struct node_event ev;
    for (int i = 0; i < WARM; i++) {
        make_event(&ev, &r, IPS, dev, pub);
        node_observe(n, &ev, 0, WALL0);
    }
    struct node_stats st;
    node_get_stats(n, &st);
    bench_report("node_core_live_entities", (double)st.entities, "entities");
    bench_report("node_core_bytes_per_entity", (double)st.evidence_bytes / (double)st.entities,
                 "B");
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < N; i++) {
        make_event(&ev, &r, IPS, dev, pub);
        node_observe(n, &ev, 0, WALL0 + 1000);
    }
    uint64_t t1 = bench_now_ns();
    bench_report("node_core_observe", (double)N / ((double)(t1 - t0) / 1e9), "events/s");

    uint64_t *lat = malloc(SCORES * sizeof(*lat));
    struct node_score s;
    for (int i = 0; i < SCORES; i++) {
        make_event(&ev, &r, IPS, dev, pub);
        uint64_t a = bench_now_ns();
        node_score(n, &s, &ev, true, 0, WALL0 + 2000);
        lat[i] = bench_now_ns() - a;
        bench_sink(s.score);
    }
    qsort(lat, SCORES, sizeof(*lat), cmp_u64);
    bench_report("node_core_score_p50", (double)lat[SCORES / 2] / 1000.0, "us");
    bench_report("node_core_score_p99", (double)lat[SCORES * 99 / 100] / 1000.0, "us");
    bench_report("node_core_score_p999", (double)lat[SCORES * 999 / 1000] / 1000.0, "us");
    free(lat);
    node_delete(n);
}
