/* Benchmarks of crdt/: the hot path, HLL adds, delta merges, memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mp.h"
#include "base/rng.h"
#include "crdt/hll.h"
#include "crdt/store.h"
#include "node/hugemem.h"
#include "node/node.h"
#include "tests/bench/bench.h"
#include "tests/node/data.h"

/* This thread's CPU time: the machine is shared, and wall time then counts
 * the slices other processes ran in. Both are reported. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static const ivt_ms WALL = (ivt_ms)29000000 * 60000;

static struct crdt_store *bench_store(int node, uint32_t max_entities)
{
    struct crdt_config c;
    crdt_config_defaults(&c);
    c.origin.id[0] = (uint8_t)node;
    c.origin.gen = 1;
    memset(c.hash_key, 3, 16);
    c.max_entities = max_entities;
    /* The daemon's allocator (node/hugemem.h): the product's figure. */
    ivtd_hugemem_alloc(&c.alloc);
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
    t0 = cpu_ns();
    double e = 0;
    for (int i = 0; i < 1000; i++)
        e += crdt_hll_estimate(r, P);
    t1 = cpu_ns();
    bench_sink((uint64_t)e);
    bench_report("crdt_hll_estimate_p12_cpu", (double)(t1 - t0) / 1000, "ns/op");
    /* A set just promoted: 17 items in 4,096 registers. */
    memset(r, 0, 1 << P);
    for (int i = 0; i < 17; i++)
        crdt_hll_add(r, P, ivt_rng_next(&rng));
    t0 = cpu_ns();
    for (int i = 0; i < 1000; i++)
        e += crdt_hll_estimate(r, P);
    t1 = cpu_ns();
    bench_sink((uint64_t)e);
    bench_report("crdt_hll_estimate_p12_sparse_cpu", (double)(t1 - t0) / 1000, "ns/op");
    free(r);
}

/* Empty registers at precision p, with their histogram. */
static void hll_clear(uint8_t *r, uint32_t hist[CRDT_HLL_HIST], unsigned p)
{
    memset(r, 0, (size_t)1 << p);
    memset(hist, 0, CRDT_HLL_HIST * sizeof(*hist));
    hist[0] = 1u << p;
}

/* A peer's slot joined into a promoted counter epoch (p = 10, its
 * default) as a run (crdt_hll_add_run): a count of 2^32 - 1, the most a
 * slot can say, into empty registers (CPU, and adds: mean and most); runs
 * of up to 10^6 ids (the most adds); and a count of 3 (the common case: a
 * node's few events of a hot entity). Each id alone, the first was 2^32
 * adds: 5.4 s a join on session 13's host. Then the estimate: unions of
 * runs from 1 to 5,000 origins against the same unions of hashed items,
 * 400 trials each, the largest rms and mean relative error over the
 * mixes (docs/evidence.md, "Event ids as runs"). */
BENCH(crdt_hll_run_join)
{
    enum { P = 10, M = 1 << P, RUNS = 5000, TRIALS = 400 };
    uint8_t *r = calloc(1, M);
    uint32_t hist[CRDT_HLL_HIST];
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 1);
    uint64_t visited = 0, most = 0, spent = 0;
    for (int i = 0; i < RUNS; i++) {
        hll_clear(r, hist, P);
        uint64_t seed = ivt_rng_next(&rng), v = 0, t0 = cpu_ns();
        crdt_hll_add_run(r, hist, P, seed, 1, UINT32_MAX, &v);
        spent += cpu_ns() - t0;
        visited += v;
        most = v > most ? v : most;
    }
    bench_sink(r[3]);
    bench_report("crdt_hll_run_join_2p32_cpu", (double)spent / RUNS / 1000, "us/op");
    bench_report("crdt_hll_run_join_2p32_adds", (double)visited / RUNS, "adds/op");
    bench_report("crdt_hll_run_join_2p32_adds_max", (double)most, "adds");
    most = 0;
    for (int i = 0; i < RUNS; i++) {
        hll_clear(r, hist, P);
        uint64_t v = 0;
        crdt_hll_add_run(r, hist, P, ivt_rng_next(&rng), 1, 1 + ivt_rng_below(&rng, 1000000), &v);
        most = v > most ? v : most;
    }
    bench_report("crdt_hll_run_join_1e6_adds_max", (double)most, "adds");
    uint64_t t0 = cpu_ns();
    for (int i = 0; i < 1000000; i++)
        crdt_hll_add_run(r, hist, P, ivt_rng_next(&rng), 1, 3, NULL);
    bench_sink(r[5]);
    bench_report("crdt_hll_run_join_3_cpu", (double)(cpu_ns() - t0) / 1000000, "ns/op");

    /* origins x (1 .. longest) events each */
    static const uint32_t origins[] = {1, 20, 500, 5000}, longest[] = {5000, 2000, 1, 40};
    double rms_max[2] = {0, 0}, mean_max[2] = {0, 0};
    for (int hashed = 0; hashed < 2; hashed++)
        for (size_t k = 0; k < sizeof(origins) / sizeof(origins[0]); k++) {
            double sum = 0, sq = 0;
            for (int t = 0; t < TRIALS; t++) {
                hll_clear(r, hist, P);
                uint64_t exact = 0;
                for (uint32_t o = 0; o < origins[k]; o++) {
                    uint64_t c = 1 + ivt_rng_below(&rng, longest[k]);
                    if (hashed)
                        for (uint64_t i = 0; i < c; i++)
                            crdt_hll_add_hist(r, hist, P, ivt_rng_next(&rng));
                    else
                        crdt_hll_add_run(r, hist, P, ivt_rng_next(&rng), 1, c, NULL);
                    exact += c;
                }
                double e = (crdt_hll_estimate_hist(hist, P) - (double)exact) / (double)exact;
                sum += e;
                sq += e * e;
            }
            double rms = sqrt(sq / TRIALS), mean = fabs(sum / TRIALS);
            rms_max[hashed] = rms > rms_max[hashed] ? rms : rms_max[hashed];
            mean_max[hashed] = mean > mean_max[hashed] ? mean : mean_max[hashed];
        }
    bench_report("crdt_hll_run_union_rms_error_max", 100 * rms_max[0], "%");
    bench_report("crdt_hll_hashed_union_rms_error_max", 100 * rms_max[1], "%");
    bench_report("crdt_hll_run_union_mean_error_max", 100 * mean_max[0], "%");
    bench_report("crdt_hll_hashed_union_mean_error_max", 100 * mean_max[1], "%");
    free(r);
}

/* Keys of the synthetic fleet: nk entities per kind. */
static void key_of(char *buf, size_t cap, size_t *len, int kind, uint64_t i)
{
    static const char *pfx[] = {"10.", "pfx-", "dev-", "Mozilla/5.0 (bench) ua-", "pub-"};
    *len = (size_t)snprintf(buf, cap, "%s%llu", pfx[kind], (unsigned long long)i);
}

/* A batch of synthetic events prepared outside the timed part: the keys
 * formatted and hashed as the node does while it parses a request. */
struct event_batch {
    char (*keys)[5][64];
    struct crdt_update (*u)[5];
};

/*
 * Where an event's five entities come from. The uniform mix (per_kind > 0)
 * draws each key uniformly from per_kind per kind: no entity is hot, the
 * store's worst case. The realistic mix (per_kind == 0; mix_init below)
 * draws each kind by its own weights, and the prefix is the IP's /24.
 */
struct key_mix {
    uint64_t per_kind;
    uint64_t n[CRDT_KINDS];  /* live entities of each kind (realistic mix) */
    double *cum[CRDT_KINDS]; /* running sums of their weights, NULL for the prefix */
    uint64_t ips_per_prefix; /* IPs that share a /24 */
};

/* Entity i of a weighted kind: binary search of a uniform draw in the
 * running sums. */
static uint64_t mix_pick(const double *cum, uint64_t n, struct ivt_rng *rng)
{
    double x = ivt_rng_double(rng) * cum[n - 1];
    uint64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The /24 of IP i: IPs spread over the prefixes by a fixed mix, so a
 * prefix holds IPs of every popularity. */
static uint64_t mix_prefix_of(const struct key_mix *m, uint64_t ip)
{
    return ivt_mix64(ip) % m->n[CRDT_KIND_PREFIX];
}

static uint64_t mix_draw(const struct key_mix *m, struct ivt_rng *rng, int kind, uint64_t ip)
{
    if (m->per_kind)
        return kind == CRDT_KIND_IP ? ip : ivt_rng_below(rng, m->per_kind);
    if (kind == CRDT_KIND_PREFIX)
        return mix_prefix_of(m, ip);
    return kind == CRDT_KIND_IP ? ip : mix_pick(m->cum[kind], m->n[kind], rng);
}

static void batch_fill(struct event_batch *b, size_t n, struct crdt_store *s, struct ivt_rng *rng,
                       const struct key_mix *mix)
{
    for (size_t e = 0; e < n; e++) {
        struct crdt_update *u = b->u[e];
        uint64_t ip = mix->per_kind ? ivt_rng_below(rng, mix->per_kind)
                                    : mix_pick(mix->cum[CRDT_KIND_IP], mix->n[CRDT_KIND_IP], rng);
        for (int k = 0; k < 5; k++) {
            memset(&u[k], 0, sizeof(u[k]));
            u[k].kind = (enum crdt_kind)k;
            uint64_t id = mix_draw(mix, rng, k, ip);
            key_of(b->keys[e][k], sizeof(b->keys[e][k]), &u[k].key_len, k, id);
            u[k].key = b->keys[e][k];
            u[k].add[0] = 1;
            u[k].hash = crdt_store_key_hash(s, u[k].kind, b->keys[e][k], u[k].key_len);
        }
        u[0].item_mask = 1; /* distinct UAs of the IP */
        u[0].item[0] = u[3].hash;
        u[2].item_mask = 1; /* distinct IPs of the device */
        u[2].item[0] = u[0].hash;
    }
}

/* Makes the mix's entities live: entity i of every kind that has one, one
 * event each, in epoch. */
static void store_fill(struct crdt_store *s, struct event_batch *b, uint32_t epoch,
                       const struct key_mix *mix)
{
    uint64_t most = 0;
    for (int k = 0; k < 5; k++) {
        uint64_t n = mix->per_kind ? mix->per_kind : mix->n[k];
        most = n > most ? n : most;
    }
    for (uint64_t i = 0; i < most; i++) {
        struct crdt_update *u = b->u[0];
        size_t j = 0;
        for (int k = 0; k < 5; k++) {
            if (i >= (mix->per_kind ? mix->per_kind : mix->n[k]))
                continue;
            memset(&u[j], 0, sizeof(u[j]));
            u[j].kind = (enum crdt_kind)k;
            key_of(b->keys[0][j], sizeof(b->keys[0][j]), &u[j].key_len, k, i);
            u[j].key = b->keys[0][j];
            u[j].add[0] = 1;
            j++;
        }
        crdt_store_update(s, epoch, u, j);
    }
}

enum { EV_BATCH = 4096, EV_ROUNDS = 250, EV_BATCHED = 16, EV_MODES = 4 };

/* Fills s with the mix's entities, then times EV_ROUNDS x EV_MODES
 * batches of EV_BATCH events drawn from the mix, and reports them as
 * name* (its memory as mem_*). Rounds cycle through the ways of calling, so each sees the same
 * mix of fresh and promoted sets as the store fills up: a call per event,
 * EV_BATCHED events' updates in one crdt_store_update call, and
 * crdt_store_update_batch with 16 and 64 events per call. */
static void event_rounds(struct crdt_store *s, struct event_batch *b, struct ivt_rng *rng,
                         const struct key_mix *mix, const char *name, const char *mem)
{
    uint32_t ep = crdt_store_epoch(s);
    struct crdt_event *ev = malloc(EV_BATCH * sizeof(*ev));
    for (int e = 0; e < EV_BATCH; e++)
        ev[e] = (struct crdt_event){ep, b->u[e], 5};
    /* Fill first so every entity is live. */
    store_fill(s, b, ep, mix);
    struct crdt_store_stats st;
    crdt_store_stats(s, &st);
    char row[96];
    snprintf(row, sizeof(row), "%s_live_entities", mem);
    bench_report(row, (double)st.entities, "entities");
    snprintf(row, sizeof(row), "%s_bytes_per_entity", mem);
    bench_report(row, (double)st.bytes / (double)st.entities, "B");
    static const int batch_of[EV_MODES] = {0, 0, 16, 64};
    static const char *mode_name[EV_MODES] = {"", "_batched16", "_batch16", "_batch64"};
    uint64_t total[EV_MODES] = {0}, cpu[EV_MODES] = {0};
    for (int r = 0; r < EV_MODES * EV_ROUNDS; r++) {
        int mode = r % EV_MODES;
        batch_fill(b, EV_BATCH, s, rng, mix);
        uint64_t t0 = bench_now_ns(), c0 = cpu_ns();
        if (mode == 0)
            for (int e = 0; e < EV_BATCH; e++)
                crdt_store_update(s, ep, b->u[e], 5);
        else if (mode == 1)
            for (int e = 0; e < EV_BATCH; e += EV_BATCHED)
                crdt_store_update(s, ep, b->u[e], 5 * EV_BATCHED);
        else
            for (int e = 0; e < EV_BATCH; e += batch_of[mode])
                crdt_store_update_batch(s, NULL, ev + e, (size_t)batch_of[mode], NULL, NULL);
        cpu[mode] += cpu_ns() - c0;
        total[mode] += bench_now_ns() - t0;
    }
    double events = (double)EV_BATCH * EV_ROUNDS;
    for (int m = 0; m < EV_MODES; m++) {
        snprintf(row, sizeof(row), "%s%s", name, mode_name[m]);
        bench_report(row, events * 1e9 / (double)total[m], "events/s");
        if (m == 0) {
            snprintf(row, sizeof(row), "%s_ns", name);
            bench_report(row, (double)total[m] / events, "ns/event");
        }
        snprintf(row, sizeof(row), "%s%s_cpu", name, mode_name[m]);
        bench_report(row, events * 1e9 / (double)cpu[m], "events/s");
    }
    free(ev);
    crdt_store_stats(s, &st);
    snprintf(row, sizeof(row), "%s_bytes_per_entity_after", mem);
    bench_report(row, (double)st.bytes / (double)st.entities, "B");
}

BENCH(crdt_store_event)
{
    /* One event = 5 entities (ip, prefix, device, ua, pub), counters on
     * each, and 2 distinct updates (UA per IP, IP per device). 1 M live
     * entities: 200 k per kind, keys drawn uniformly (no cache helps). The
     * timed part is crdt_store_update alone, one call per event, then one
     * call per BATCHED events; key formatting and hashing are the node's
     * (crdt_store_key_hash is timed on its own below). */
    enum { PER_KIND = 200000, BATCH = EV_BATCH };
    struct crdt_store *s = bench_store(1, 1200000);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 2);
    struct event_batch b = {malloc(BATCH * sizeof(*b.keys)), malloc(BATCH * sizeof(*b.u))};
    const struct key_mix uniform = {.per_kind = PER_KIND};
    event_rounds(s, &b, &rng, &uniform, "crdt_store_event", "crdt_store");
    /* The node's share: one keyed hash per entity key. */
    uint64_t t0 = cpu_ns(), acc = 0;
    for (int e = 0; e < BATCH; e++)
        for (int k = 0; k < 5; k++)
            acc += crdt_store_key_hash(s, (enum crdt_kind)k, b.keys[e][k], b.u[e][k].key_len);
    uint64_t t1 = cpu_ns();
    bench_sink(acc);
    bench_report("crdt_store_key_hash_cpu", (double)(t1 - t0) / (BATCH * 5.0), "ns/op");
    /* A score reads the five entities of an event: one get each, without
     * and with crdt_store_prefetch first (rounds alternate). */
    uint64_t score_cpu[2] = {0, 0};
    for (int r = 0; r < 40; r++) {
        batch_fill(&b, BATCH, s, &rng, &uniform);
        uint64_t c0 = cpu_ns();
        for (int e = 0; e < BATCH; e++) {
            enum crdt_kind kinds[5];
            uint64_t hashes[5];
            for (int k = 0; k < 5; k++) {
                kinds[k] = b.u[e][k].kind;
                hashes[k] = b.u[e][k].hash;
            }
            if (r % 2)
                crdt_store_prefetch(s, kinds, hashes, 5);
            for (int k = 0; k < 5; k++) {
                struct crdt_view sv;
                if (crdt_store_get_hash(s, &sv, kinds[k], hashes[k]) == 0)
                    acc += sv.fleet[0] + sv.distinct[0];
            }
        }
        score_cpu[r % 2] += cpu_ns() - c0;
    }
    bench_sink(acc);
    bench_report("crdt_store_get5_cpu", (double)score_cpu[0] / (20.0 * BATCH), "ns/op");
    bench_report("crdt_store_get5_prefetch_cpu", (double)score_cpu[1] / (20.0 * BATCH), "ns/op");
    /* The score path: one lookup with its window sums and distincts. */
    struct crdt_view v;
    t0 = bench_now_ns();
    uint64_t c0 = cpu_ns();
    enum { Q = 1000000 };
    for (int n = 0; n < Q; n++) {
        char k[64];
        size_t len;
        key_of(k, sizeof(k), &len, 0, ivt_rng_below(&rng, PER_KIND));
        if (crdt_store_get(s, &v, CRDT_KIND_IP, k, len) == 0)
            acc += v.fleet[0] + v.distinct[0];
    }
    t1 = bench_now_ns();
    uint64_t c1 = cpu_ns();
    bench_sink(acc);
    bench_report("crdt_store_get", (double)(t1 - t0) / Q, "ns/op");
    bench_report("crdt_store_get_cpu", (double)(c1 - c0) / Q, "ns/op");
    free(b.keys);
    free(b.u);
    crdt_store_delete(s);
}

/*
 * The realistic key mix: 1 M live entities, as in crdt_store_event, but
 * each kind as hot as ad traffic makes it, not uniform.
 *  - ua: the 635 user agents of tests/node/data/human-user-agents.tsv,
 *    drawn by their observed weights (two of them are 39 % of draws).
 *    The store sees a UA's keyed hash, so a UA is named by its line.
 *  - pub: 3,000 publishers (FDMA 2012's BuzzCity data has 3,081), Zipf
 *    s = 1: a few big sites, a long tail (as sim/workload.c draws them).
 *  - prefix: the IP's /24. The 400,000 IPs lie in 25,000 /24s, 16 each,
 *    spread by a fixed mix of the IP's rank so a prefix holds IPs of
 *    every popularity.
 *  - ip: 400,000, Zipf s = 1 (NAT, carrier and proxy addresses are
 *    heavy, most addresses are seen a few times).
 *  - device: the rest of the 1 M (571,365), Zipf s = 1, drawn
 *    independently of the IP (as the uniform mix does).
 * The counts are set from those sources and the brief's shape, not tuned
 * toward a figure; the fill creates entities in rank order (the popular
 * ones first, as a daemon meets them), and each event's two distinct
 * adds are as in crdt_store_event (UA per IP, IP per device).
 */
enum {
    MIX_LIVE = 1000000,
    MIX_PUBS = 3000,
    MIX_IPS = 400000,
    MIX_IPS_PER_PREFIX = 16,
};

/* Running sums of Zipf weights (s = 1) over n ranks. */
static double *zipf_cum(uint64_t n)
{
    double *c = malloc(n * sizeof(*c)), sum = 0;
    for (uint64_t i = 0; c && i < n; i++)
        c[i] = sum += 1.0 / (double)(i + 1);
    return c;
}

/* Running sums of the weights of a "weight TAB text" file ('#' lines are
 * comments); *n gets their number. */
static double *tsv_cum(const char *text, uint64_t *n)
{
    size_t cap = 1024;
    double *c = malloc(cap * sizeof(*c)), sum = 0;
    *n = 0;
    for (const char *p = text; c && *p;) {
        const char *eol = strchr(p, '\n');
        if (*p != '#' && *p != '\n') {
            if (*n == cap) {
                double *g = realloc(c, (cap *= 2) * sizeof(*c));
                if (!g) {
                    free(c);
                    return NULL;
                }
                c = g;
            }
            c[(*n)++] = sum += strtod(p, NULL);
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return c;
}

BENCH(crdt_store_event_mix)
{
    const char *root = getenv("IVT_ROOT");
    size_t len;
    char *tsv = (char *)node_data_read(root ? root : ".", NODE_DATA_HUMANS, &len);
    if (!tsv) {
        fprintf(stderr, "crdt_store_event_mix: no %s (run from the repository or set IVT_ROOT)\n",
                NODE_DATA_HUMANS);
        return;
    }
    struct key_mix mix = {0};
    mix.cum[CRDT_KIND_UA] = tsv_cum(tsv, &mix.n[CRDT_KIND_UA]);
    free(tsv);
    mix.n[CRDT_KIND_PUB] = MIX_PUBS;
    mix.n[CRDT_KIND_IP] = MIX_IPS;
    mix.n[CRDT_KIND_PREFIX] = MIX_IPS / MIX_IPS_PER_PREFIX;
    mix.n[CRDT_KIND_DEVICE] =
        MIX_LIVE - mix.n[CRDT_KIND_UA] - MIX_PUBS - MIX_IPS - mix.n[CRDT_KIND_PREFIX];
    for (int k = 0; k < CRDT_KINDS; k++)
        if (k != CRDT_KIND_UA && k != CRDT_KIND_PREFIX)
            mix.cum[k] = zipf_cum(mix.n[k]);
    struct crdt_store *s = bench_store(1, 1200000);
    struct event_batch b = {malloc(EV_BATCH * sizeof(*b.keys)), malloc(EV_BATCH * sizeof(*b.u))};
    if (s && b.keys && b.u && mix.cum[CRDT_KIND_UA] && mix.cum[CRDT_KIND_PUB] &&
        mix.cum[CRDT_KIND_IP] && mix.cum[CRDT_KIND_DEVICE]) {
        struct ivt_rng rng;
        ivt_rng_seed(&rng, 2);
        event_rounds(s, &b, &rng, &mix, "crdt_store_event_mix", "crdt_store_mix");
    }
    for (int k = 0; k < CRDT_KINDS; k++)
        free(mix.cum[k]);
    free(b.keys);
    free(b.u);
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
    uint64_t total = 0, cpu = 0;
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
        uint64_t t0 = bench_now_ns(), c0 = cpu_ns();
        crdt_store_merge(b, w.data, w.len, NULL);
        cpu += cpu_ns() - c0;
        total += bench_now_ns() - t0;
    }
    bench_report("crdt_merge_1000_entity_delta", (double)total / R / 1000.0, "us");
    bench_report("crdt_merge_1000_entity_delta_cpu", (double)cpu / R / 1000.0, "us");
    ivt_mpw_destroy(&w);
    crdt_store_delete(a);
    crdt_store_delete(b);
}

BENCH(crdt_store_walks_1m)
{
    /* The calls the daemon's loop makes on a full store: a metrics scrape
     * (crdt_store_stats), a push-pull digest, cold (first) and warm (after
     * 4,096 events touched some 20 k entities), and the repair of one
     * differing digest bucket. 1 M live entities, 200 k per kind. */
    enum { PER_KIND = 200000, BATCH = 4096, STATS = 100 };
    const struct key_mix uniform = {.per_kind = PER_KIND};
    struct crdt_store *s = bench_store(1, 1200000);
    uint32_t ep = crdt_store_epoch(s);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 5);
    struct event_batch b = {malloc(BATCH * sizeof(*b.keys)), malloc(BATCH * sizeof(*b.u))};
    store_fill(s, &b, ep, &uniform);
    struct crdt_store_stats st;
    uint64_t c0 = cpu_ns(), acc = 0;
    for (int i = 0; i < STATS; i++) {
        crdt_store_stats(s, &st);
        acc += st.bytes;
    }
    bench_sink(acc);
    bench_report("crdt_store_stats_1m_cpu", (double)(cpu_ns() - c0) / STATS / 1000.0, "us");
    size_t nd = crdt_store_digest_size(s);
    uint64_t *d = malloc(2 * nd * sizeof(*d)), *peer = d + nd;
    c0 = cpu_ns();
    crdt_store_digest(s, d, nd);
    bench_report("crdt_store_digest_1m_cold_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    batch_fill(&b, BATCH, s, &rng, &uniform);
    for (int e = 0; e < BATCH; e++)
        crdt_store_update(s, ep, b.u[e], 5);
    c0 = cpu_ns();
    crdt_store_digest(s, d, nd);
    bench_report("crdt_store_digest_1m_warm_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    c0 = cpu_ns();
    crdt_store_digest(s, d, nd);
    bench_report("crdt_store_digest_1m_unchanged_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    batch_fill(&b, BATCH, s, &rng, &uniform);
    for (int e = 0; e < BATCH; e++)
        crdt_store_update(s, ep, b.u[e], 5);
    c0 = cpu_ns();
    size_t stepped = crdt_store_digest_step(s, NODE_DIGEST_SLICE);
    bench_report("crdt_store_digest_node_slice_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    bench_sink(stepped);
    crdt_store_digest(s, d, nd);
    memcpy(peer, d, nd * sizeof(*d));
    peer[nd / 2] ^= 1;
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 24);
    size_t resume = 0, n = 0;
    c0 = cpu_ns();
    crdt_store_repair(s, &w, peer, nd, &resume, 1 << 20, SIZE_MAX, &n);
    bench_report("crdt_store_repair_1m_one_bucket_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    bench_report("crdt_store_repair_1m_one_bucket_entities", (double)n, "entities");
    /* A repair as the node sends one: every bucket differs, up to its
     * budget (the encoding a push-pull answer holds the loop for). */
    for (size_t i = 0; i < nd; i++)
        peer[i] = d[i] ^ 1;
    ivt_mpw_reset(&w);
    resume = 0;
    c0 = cpu_ns();
    crdt_store_repair(s, &w, peer, nd, &resume, NODE_REPAIR_BUDGET, 0, &n);
    bench_report("crdt_store_repair_1m_budget_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    bench_report("crdt_store_repair_1m_budget_bytes", (double)w.len, "bytes");
    /* The next repair, from where that one stopped: the store's message
     * buffer has grown already, as in a daemon past its first exchange
     * (the figure above includes that growth's page faults). */
    ivt_mpw_reset(&w);
    c0 = cpu_ns();
    crdt_store_repair(s, &w, peer, nd, &resume, NODE_REPAIR_BUDGET, 0, &n);
    bench_report("crdt_store_repair_1m_budget_next_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    bench_report("crdt_store_repair_1m_budget_next_entities", (double)n, "entities");
    /* After a burst (20 batches: about 300 k records stale), the digest a
     * push-pull answers with: whole, and bounded as the node bounds it. */
    for (int r = 0; r < 20; r++) {
        batch_fill(&b, BATCH, s, &rng, &uniform);
        for (int e = 0; e < BATCH; e++)
            crdt_store_update(s, ep, b.u[e], 5);
    }
    size_t stale = crdt_store_digest_stale(s);
    c0 = cpu_ns();
    crdt_store_digest_max(s, d, nd, NODE_DIGEST_ANSWER_MAX);
    bench_report("crdt_store_digest_1m_stale_answer_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    c0 = cpu_ns();
    crdt_store_digest(s, d, nd);
    bench_report("crdt_store_digest_1m_stale_full_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    bench_report("crdt_store_digest_1m_stale_records", (double)stale, "records");
    ivt_mpw_destroy(&w);
    free(d);
    free(b.keys);
    free(b.u);
    crdt_store_delete(s);
}

/* The worst single update while a store fills to 1 M entities, with the
 * entity table growing (doubling, a whole rehash in one call) and mapped
 * at full size from the start (crdt_config.table_full, the daemon's). */
BENCH(crdt_store_growth_1m)
{
    enum { N = 1000000 };
    for (int full = 0; full < 2; full++) {
        struct crdt_config c;
        crdt_config_defaults(&c);
        c.origin.id[0] = 1;
        c.origin.gen = 1;
        memset(c.hash_key, 3, 16);
        c.max_entities = N + N / 10;
        c.table_full = full;
        ivtd_hugemem_alloc(&c.alloc);
        struct crdt_store *s;
        if (crdt_store_new(&s, &c, WALL))
            return;
        uint32_t ep = crdt_store_epoch(s);
        uint64_t worst = 0, total = 0;
        char key[32];
        for (uint32_t i = 0; i < N; i++) {
            struct crdt_update u;
            memset(&u, 0, sizeof(u));
            u.kind = CRDT_KIND_IP;
            u.key_len =
                (size_t)snprintf(key, sizeof(key), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
            u.key = key;
            u.add[0] = 1;
            uint64_t t0 = cpu_ns();
            crdt_store_update(s, ep, &u, 1);
            uint64_t dt = cpu_ns() - t0;
            total += dt;
            worst = dt > worst ? dt : worst;
        }
        char name[64];
        snprintf(name, sizeof(name), "crdt_store_growth_1m_%s_worst_update_cpu",
                 full ? "table_full" : "table_grows");
        bench_report(name, (double)worst / 1e6, "ms");
        snprintf(name, sizeof(name), "crdt_store_growth_1m_%s_total_cpu",
                 full ? "table_full" : "table_grows");
        bench_report(name, (double)total / 1e9, "s");
        crdt_store_delete(s);
    }
}

/* The first flush after 32,768 own set adds on 8,192 shared records (a
 * full own-adds journal, as a daemon at 50,000 scores/s has every flush
 * round): the journal is sorted by record in that call. */
BENCH(crdt_store_flush_full_journal)
{
    enum { RECORDS = 8192, ADDS = 32768, BUDGET = 1400 };
    struct crdt_config c;
    crdt_config_defaults(&c);
    c.origin.id[0] = 1;
    c.origin.gen = 1;
    memset(c.hash_key, 3, 16);
    c.max_entities = 65536;
    c.forward_merged = false;
    ivtd_hugemem_alloc(&c.alloc);
    struct crdt_store *s;
    if (crdt_store_new(&s, &c, WALL))
        return;
    uint32_t ep = crdt_store_epoch(s);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 9);
    char key[32];
    for (uint32_t i = 0; i < ADDS; i++) {
        struct crdt_update u;
        memset(&u, 0, sizeof(u));
        u.kind = CRDT_KIND_IP;
        u.key_len =
            (size_t)snprintf(key, sizeof(key), "k%u", (uint32_t)ivt_rng_below(&rng, RECORDS));
        u.key = key;
        u.add[0] = 1;
        u.item[0] = ivt_rng_next(&rng);
        u.item_mask = 1;
        crdt_store_update(s, ep, &u, 1);
    }
    uint8_t buf[BUDGET];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    size_t n = 0;
    uint64_t c0 = cpu_ns();
    crdt_store_flush(s, &w, sizeof(buf), &n);
    bench_report("crdt_store_flush_full_journal_first_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    ivt_mpw_reset(&w);
    c0 = cpu_ns();
    crdt_store_flush(s, &w, sizeof(buf), &n);
    bench_report("crdt_store_flush_full_journal_next_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    bench_sink(n);
    crdt_store_delete(s);
}

/* A store with 1 M entities, one origin: 200 k per kind made live in the
 * first epoch, then each following epoch a tenth of them (the active ones)
 * seen again, with nine rolls that drop no evidence (their CPU time summed
 * into *quiet). Window 10 epochs of 60 s. Returns the store, *wall the
 * last roll's time. */
static struct crdt_store *tick_store(ivt_ms *wall, uint64_t *quiet)
{
    enum { PER_KIND = 200000, BATCH = 4096 };
    const struct key_mix uniform = {.per_kind = PER_KIND}, tenth = {.per_kind = PER_KIND / 10};
    struct crdt_config c;
    crdt_config_defaults(&c);
    c.origin.id[0] = 1;
    c.origin.gen = 1;
    memset(c.hash_key, 3, 16);
    c.max_entities = 1200000;
    c.window_epochs = 10;
    c.distinct_bucket_epochs = 5;
    ivtd_hugemem_alloc(&c.alloc);
    struct crdt_store *s;
    if (crdt_store_new(&s, &c, WALL))
        return NULL;
    struct event_batch b = {malloc(BATCH * sizeof(*b.keys)), malloc(BATCH * sizeof(*b.u))};
    store_fill(s, &b, crdt_store_epoch(s), &uniform);
    *quiet = 0;
    *wall = WALL;
    for (int e = 1; e < 10; e++) {
        *wall += c.epoch_ms;
        uint64_t c0 = cpu_ns();
        crdt_store_tick(s, *wall);
        *quiet += cpu_ns() - c0;
        store_fill(s, &b, crdt_store_epoch(s), &tenth);
    }
    free(b.keys);
    free(b.u);
    *wall += c.epoch_ms;
    return s;
}

BENCH(crdt_store_tick_1m)
{
    /* Epoch rolls of tick_store's store: rolls that drop no evidence, then
     * the roll that drops the first epoch (every entity loses its oldest
     * slot and keeps its distinct bucket), in one call, then (on a second
     * store) in the node's steps (node_tick: NODE_ROLL_STEP records). */
    enum { STEP = NODE_ROLL_STEP };
    ivt_ms wall;
    uint64_t quiet;
    struct crdt_store *s = tick_store(&wall, &quiet);
    if (!s)
        return;
    bench_report("crdt_store_tick_1m_nothing_expires_cpu", (double)quiet / 9 / 1e6, "ms");
    uint64_t c0 = cpu_ns();
    size_t removed = crdt_store_tick(s, wall);
    bench_report("crdt_store_tick_1m_first_epoch_expires_cpu", (double)(cpu_ns() - c0) / 1e6, "ms");
    bench_report("crdt_store_tick_1m_removed", (double)removed, "entities");
    crdt_store_delete(s);
    s = tick_store(&wall, &quiet);
    if (!s)
        return;
    removed = 0;
    c0 = cpu_ns();
    uint64_t worst = 0, total = 0, steps = 0;
    bool more = crdt_store_tick_begin(s, wall, &removed);
    worst = total = cpu_ns() - c0;
    while (more) {
        uint64_t t = cpu_ns();
        more = crdt_store_tick_step(s, STEP, &removed);
        t = cpu_ns() - t;
        worst = t > worst ? t : worst;
        total += t;
        steps++;
    }
    bench_report("crdt_store_tick_1m_node_step_worst_cpu", (double)worst / 1e6, "ms");
    bench_report("crdt_store_tick_1m_node_step_total_cpu", (double)total / 1e6, "ms");
    bench_report("crdt_store_tick_1m_node_step_steps", (double)steps, "steps");
    bench_report("crdt_store_tick_1m_node_step_removed", (double)removed, "entities");
    crdt_store_delete(s);
}

/* What the machine gives the store: random 64-byte loads from 512 MB on
 * the daemon's allocator, one after another (each address read from the
 * line before) and GROUP at a time (all prefetched, then read). The
 * store's update costs about its lines fetched times the second figure,
 * plus a few of the first (docs/benchmarks.md, "## crdt"). */
BENCH(crdt_machine_random_line)
{
    enum { GROUP = 10, LOADS = 2000000 };
    const size_t len = (size_t)512 << 20, lines = len / 64;
    struct crdt_alloc a;
    ivtd_hugemem_alloc(&a);
    uint64_t *q = a.map(a.ctx, len);
    uint32_t *perm = malloc(lines * sizeof(*perm));
    if (!q || !perm) {
        free(perm);
        if (q)
            a.unmap(a.ctx, q, len);
        return;
    }
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 5);
    /* One cycle through every line in random order (Sattolo). */
    for (size_t i = 0; i < lines; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = lines - 1; i > 0; i--) {
        size_t j = (size_t)ivt_rng_below(&rng, i);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < lines; i++)
        q[(size_t)perm[i] * 8] = (uint64_t)perm[(i + 1) % lines] * 8;
    free(perm);
    uint64_t c = 0, t0 = cpu_ns();
    for (int i = 0; i < LOADS; i++)
        c = q[c];
    bench_report("crdt_machine_random_line_dependent_cpu", (double)(cpu_ns() - t0) / LOADS, "ns");
    /* xorshift: addresses cost a few instructions, not a division. */
    uint64_t x = 88172645463325252ULL;
    t0 = cpu_ns();
    for (int i = 0; i < LOADS / GROUP; i++) {
        const uint64_t *g[GROUP];
        for (int j = 0; j < GROUP; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            g[j] = q + (x & (lines - 1)) * 8; /* lines: 2^23 */
            __builtin_prefetch(g[j]);
        }
        for (int j = 0; j < GROUP; j++)
            c += *g[j];
    }
    bench_report("crdt_machine_random_line_independent_cpu", (double)(cpu_ns() - t0) / LOADS, "ns");
    bench_sink(c);
    a.unmap(a.ctx, q, len);
}

/* Hot records, as a daemon's publishers and popular user agents are: every
 * distinct set of every bucket of the window promoted (dense). Each round
 * one new item lands in each record's current bucket, making it stale, and
 * the digest re-encodes them (crdt_store_digest_step, what a push-pull
 * answer and the node's slices call). The older buckets did not change. */
BENCH(crdt_store_digest_hot_records)
{
    enum { HOT = 256, ITEMS = 1200, ROUNDS = 20 };
    struct crdt_store *s = bench_store(1, 4096);
    uint32_t ep = crdt_store_epoch(s);
    struct crdt_config c;
    crdt_config_defaults(&c);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 7);
    char key[32];
    struct crdt_update u;
    for (int h = 0; h < HOT; h++) {
        memset(&u, 0, sizeof(u));
        u.kind = CRDT_KIND_PUB;
        u.key = key;
        u.key_len = (size_t)snprintf(key, sizeof(key), "pub-%d", h);
        u.add[0] = 1;
        u.item_mask = (1u << CRDT_DISTINCTS) - 1;
        for (uint32_t b = 0; b < c.window_epochs; b += c.distinct_bucket_epochs)
            for (int i = 0; i < ITEMS; i++) {
                for (int d = 0; d < CRDT_DISTINCTS; d++)
                    u.item[d] = ivt_rng_next(&rng);
                crdt_store_update(s, ep - b, &u, 1);
            }
    }
    size_t nd = crdt_store_digest_size(s);
    uint64_t *d = malloc(nd * sizeof(*d));
    crdt_store_digest(s, d, nd);
    uint64_t t = 0;
    size_t n = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int h = 0; h < HOT; h++) {
            u.key_len = (size_t)snprintf(key, sizeof(key), "pub-%d", h);
            for (int dd = 0; dd < CRDT_DISTINCTS; dd++)
                u.item[dd] = ivt_rng_next(&rng);
            crdt_store_update(s, ep, &u, 1);
        }
        uint64_t c0 = cpu_ns();
        n += crdt_store_digest_step(s, SIZE_MAX);
        t += cpu_ns() - c0;
    }
    bench_report("crdt_store_digest_hot_record_cpu", (double)t / (double)n / 1000.0, "us");
    /* The same records in a snapshot part (crdt_store_encode_part): what
     * one record costs a snapshot step, and its bytes. */
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 26);
    uint32_t cursor = 0;
    size_t parts = 0;
    uint64_t c0 = cpu_ns();
    while (crdt_store_encode_part(s, &w, &cursor, HOT, SIZE_MAX) == 1)
        parts++;
    bench_report("crdt_store_snapshot_hot_record_cpu", (double)(cpu_ns() - c0) / HOT / 1000.0,
                 "us");
    bench_report("crdt_store_snapshot_hot_record_bytes", (double)w.len / HOT, "bytes");
    bench_sink(parts);
    ivt_mpw_destroy(&w);
    free(d);
    crdt_store_delete(s);
}
