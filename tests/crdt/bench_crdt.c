/* Benchmarks of crdt/: the hot path, HLL adds, delta merges, memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mp.h"
#include "base/rng.h"
#include "crdt/hll.h"
#include "crdt/store.h"
#include "tests/bench/bench.h"

static const ivt_ms WALL = (ivt_ms)29000000 * 60000;

static struct crdt_store *bench_store(int node, uint32_t max_entities)
{
    struct crdt_config c;
    crdt_config_defaults(&c);
    c.origin.id[0] = (uint8_t)node;
    c.origin.gen = 1;
    memset(c.hash_key, 3, 16);
    c.max_entities = max_entities;
    struct crdt_store *s;
    return crdt_store_new(&s, &c, WALL) ? NULL : s;
}

BENCH(crdt_hll_add)
{
    enum { P = 12, N = 50000000 };
    uint8_t *r = calloc(1, 1 << P);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 1);
    uint64_t h = ivt_rng_next(&rng), t0 = bench_now_ns();
    for (int i = 0; i < N; i++) {
        crdt_hll_add(r, P, h);
        h = h * 0x9e3779b97f4a7c15ULL + 1; /* cheap distinct hashes */
    }
    uint64_t t1 = bench_now_ns();
    bench_sink(r[5]);
    bench_report("crdt_hll_add", (double)(t1 - t0) / N, "ns/op");
    t0 = bench_now_ns();
    double e = 0;
    for (int i = 0; i < 1000; i++)
        e += crdt_hll_estimate(r, P);
    t1 = bench_now_ns();
    bench_sink((uint64_t)e);
    bench_report("crdt_hll_estimate_p12", (double)(t1 - t0) / 1000, "ns/op");
    free(r);
}

/* Keys of the synthetic fleet: nk entities per kind. */
static void key_of(char *buf, size_t cap, size_t *len, int kind, uint64_t i)
{
    static const char *pfx[] = {"10.", "pfx-", "dev-", "Mozilla/5.0 (bench) ua-", "pub-"};
    *len = (size_t)snprintf(buf, cap, "%s%llu", pfx[kind], (unsigned long long)i);
}

BENCH(crdt_store_event)
{
    /* One event = 5 entities (ip, prefix, device, ua, pub), counters on
     * each, and 2 distinct updates (UA per IP, IP per device). 1 M live
     * entities: 200 k per kind. */
    enum { PER_KIND = 200000, EVENTS = 4000000 };
    struct crdt_store *s = bench_store(1, 1200000);
    uint32_t ep = crdt_store_epoch(s);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 2);
    char keys[5][64];
    struct crdt_update u[5];
    /* Fill first so every entity is live. */
    for (uint64_t i = 0; i < PER_KIND; i++) {
        for (int k = 0; k < 5; k++) {
            memset(&u[k], 0, sizeof(u[k]));
            u[k].kind = (enum crdt_kind)k;
            key_of(keys[k], sizeof(keys[k]), &u[k].key_len, k, i);
            u[k].key = keys[k];
            u[k].add[0] = 1;
        }
        crdt_store_update(s, ep, u, 5);
    }
    struct crdt_store_stats st;
    crdt_store_stats(s, &st);
    bench_report("crdt_store_live_entities", (double)st.entities, "entities");
    bench_report("crdt_store_bytes_per_entity", (double)st.bytes / (double)st.entities, "B");
    uint64_t t0 = bench_now_ns();
    for (int n = 0; n < EVENTS; n++) {
        uint64_t ip = ivt_rng_below(&rng, PER_KIND);
        for (int k = 0; k < 5; k++) {
            memset(&u[k], 0, sizeof(u[k]));
            u[k].kind = (enum crdt_kind)k;
            uint64_t id = k == 0 ? ip : ivt_rng_below(&rng, PER_KIND);
            key_of(keys[k], sizeof(keys[k]), &u[k].key_len, k, id);
            u[k].key = keys[k];
            u[k].add[0] = 1;
            u[k].hash = crdt_store_key_hash(s, u[k].kind, keys[k], u[k].key_len);
        }
        u[0].item_mask = 1; /* distinct UAs of the IP */
        u[0].item[0] = u[3].hash;
        u[2].item_mask = 1; /* distinct IPs of the device */
        u[2].item[0] = u[0].hash;
        crdt_store_update(s, ep, u, 5);
    }
    uint64_t t1 = bench_now_ns();
    bench_report("crdt_store_event", (double)EVENTS * 1e9 / (double)(t1 - t0), "events/s");
    bench_report("crdt_store_event_ns", (double)(t1 - t0) / EVENTS, "ns/event");
    crdt_store_stats(s, &st);
    bench_report("crdt_store_bytes_per_entity_after", (double)st.bytes / (double)st.entities, "B");
    /* The score path: one lookup with its window sums and distincts. */
    struct crdt_view v;
    t0 = bench_now_ns();
    enum { Q = 1000000 };
    uint64_t acc = 0;
    for (int n = 0; n < Q; n++) {
        char k[64];
        size_t len;
        key_of(k, sizeof(k), &len, 0, ivt_rng_below(&rng, PER_KIND));
        if (crdt_store_get(s, &v, CRDT_KIND_IP, k, len) == 0)
            acc += v.fleet[0] + v.distinct[0];
    }
    t1 = bench_now_ns();
    bench_sink(acc);
    bench_report("crdt_store_get", (double)(t1 - t0) / Q, "ns/op");
    crdt_store_delete(s);
}

BENCH(crdt_store_merge_delta)
{
    /* A 1,000-entity delta from another node, merged into a store that
     * already holds those entities (the steady state of gossip). */
    struct crdt_store *a = bench_store(1, 100000), *b = bench_store(2, 100000);
    uint32_t ep = crdt_store_epoch(a);
    struct crdt_update u;
    char key[64];
    for (uint64_t i = 0; i < 1000; i++) {
        for (int k = 0; k < 2; k++) {
            struct crdt_store *s = k ? b : a;
            memset(&u, 0, sizeof(u));
            u.kind = (enum crdt_kind)(i % 5);
            key_of(key, sizeof(key), &u.key_len, (int)u.kind, i);
            u.key = key;
            u.add[0] = 1 + (uint32_t)i % 7;
            u.item_mask = 1;
            u.item[0] = i * 31 + (uint64_t)k;
            crdt_store_update(s, ep, &u, 1);
        }
    }
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 24);
    size_t n;
    crdt_store_flush(a, &w, 1 << 24, &n);
    bench_report("crdt_delta_bytes_per_entity", (double)w.len / (double)n, "B");
    enum { R = 300 };
    uint64_t total = 0;
    for (int r = 0; r < R; r++) {
        /* Raise a's slots so every merge does real work. */
        for (uint64_t i = 0; i < 1000; i++) {
            memset(&u, 0, sizeof(u));
            u.kind = (enum crdt_kind)(i % 5);
            key_of(key, sizeof(key), &u.key_len, (int)u.kind, i);
            u.key = key;
            u.add[0] = 1;
            crdt_store_update(a, ep, &u, 1);
        }
        ivt_mpw_reset(&w);
        crdt_store_flush(a, &w, 1 << 24, &n);
        uint64_t t0 = bench_now_ns();
        crdt_store_merge(b, w.data, w.len, NULL);
        total += bench_now_ns() - t0;
    }
    bench_report("crdt_merge_1000_entity_delta", (double)total / R / 1000.0, "us");
    ivt_mpw_destroy(&w);
    crdt_store_delete(a);
    crdt_store_delete(b);
}
