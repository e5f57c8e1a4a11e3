/* Benchmarks of the detector: what the request path pays per event for the
 * GIVT lists and the score, and what a host pays once to build the rules. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "node/detect.h"
#include "node/rules.h"
#include "tests/bench/bench.h"
#include "tests/node/data.h"

enum { MAX_UAS = 4096 };

struct bench_data {
    uint8_t *json, *csv, *tsv;
    size_t json_len, csv_len, tsv_len;
    json_t *list;
    const char *humans[MAX_UAS], *crawlers[MAX_UAS];
    size_t n_humans, n_crawlers;
};

static const char *root(void)
{
    const char *s = getenv("IVT_ROOT");
    return s ? s : ".";
}

static int data_load(struct bench_data *d)
{
    memset(d, 0, sizeof(*d));
    d->json = node_data_read(root(), NODE_DATA_CRAWLERS, &d->json_len);
    d->csv = node_data_read(root(), NODE_DATA_HOSTING, &d->csv_len);
    d->tsv = node_data_read(root(), NODE_DATA_HUMANS, &d->tsv_len);
    if (!d->json || !d->csv || !d->tsv)
        return -1;
    d->n_humans = node_data_humans((char *)d->tsv, d->humans, MAX_UAS);
    d->list = json_loadb((const char *)d->json, d->json_len, 0, NULL);
    for (size_t i = 0; i < json_array_size(d->list); i++) {
        json_t *inst = json_object_get(json_array_get(d->list, i), "instances");
        for (size_t k = 0; k < json_array_size(inst) && d->n_crawlers < MAX_UAS; k++)
            d->crawlers[d->n_crawlers++] = json_string_value(json_array_get(inst, k));
    }
    return 0;
}

static void data_free(struct bench_data *d)
{
    json_decref(d->list);
    free(d->json);
    free(d->csv);
    free(d->tsv);
}

/* ns per user agent over `rounds` passes of the list. */
static double crawler_ns(const struct node_rules *r, const char **uas, size_t n, int rounds)
{
    size_t *lens = malloc(n * sizeof(*lens));
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(uas[i]);
    uint64_t hits = 0, t0 = bench_now_ns();
    for (int k = 0; k < rounds; k++)
        for (size_t i = 0; i < n; i++)
            hits += node_rules_crawler(r, uas[i], lens[i], NULL);
    uint64_t t1 = bench_now_ns();
    bench_sink(hits);
    free(lens);
    return (double)(t1 - t0) / ((double)n * rounds);
}

BENCH(node_rules_crawler)
{
    struct bench_data d;
    if (data_load(&d) < 0) {
        bench_report("node_rules_data_missing", 1, "set IVT_ROOT");
        return;
    }
    static const struct {
        enum node_rules_engine engine;
        const char *name;
        int rounds;
    } engines[] = {{NODE_RULES_HYPERSCAN, "hyperscan", 200}, {NODE_RULES_PCRE2, "pcre2", 2}};
    for (size_t e = 0; e < 2; e++) {
        struct node_rules *r = NULL;
        uint64_t t0 = bench_now_ns();
        if (node_rules_new_engine(&r, engines[e].engine, d.json, d.json_len, NULL, 0, NULL, 0))
            return;
        uint64_t t1 = bench_now_ns();
        char name[64];
        snprintf(name, sizeof(name), "node_rules_build_crawlers_%s", engines[e].name);
        bench_report(name, (double)(t1 - t0) / 1e6, "ms");
        snprintf(name, sizeof(name), "node_rules_crawler_%s_human", engines[e].name);
        bench_report(name, crawler_ns(r, d.humans, d.n_humans, engines[e].rounds), "ns/op");
        snprintf(name, sizeof(name), "node_rules_crawler_%s_crawler", engines[e].name);
        bench_report(name, crawler_ns(r, d.crawlers, d.n_crawlers, engines[e].rounds), "ns/op");
        node_rules_delete(r);
    }
    data_free(&d);
}

BENCH(node_rules_hosting)
{
    struct bench_data d;
    if (data_load(&d) < 0)
        return;
    struct node_rules *r = NULL;
    uint64_t t0 = bench_now_ns();
    if (node_rules_new(&r, NULL, 0, d.csv, d.csv_len, NULL, 0))
        return;
    uint64_t t1 = bench_now_ns();
    bench_report("node_rules_build_hosting", (double)(t1 - t0) / 1e6, "ms");
    enum { N = 20000000 };
    uint64_t x = 0x9e3779b97f4a7c15ULL, hits = 0;
    struct node_ip ip = {.family = 4};
    t0 = bench_now_ns();
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t a = (uint32_t)(x >> 32);
        memcpy(ip.bytes, &a, 4);
        uint32_t asn = 0;
        hits += node_rules_hosting(r, &ip, &asn, NULL);
    }
    t1 = bench_now_ns();
    bench_sink(hits);
    bench_report("node_rules_hosting_lookup", (double)(t1 - t0) / N, "ns/op");
    node_rules_delete(r);

    t0 = bench_now_ns();
    if (node_rules_new(&r, d.json, d.json_len, d.csv, d.csv_len, NULL, 0))
        return;
    t1 = bench_now_ns();
    bench_report("node_rules_build_all", (double)(t1 - t0) / 1e6, "ms");
    node_rules_delete(r);
    data_free(&d);
}

BENCH(node_detect)
{
    struct node_thresholds th;
    node_thresholds_defaults(&th);
    enum { N = 10000000, VARIANTS = 64 };
    struct node_signals s[VARIANTS];
    for (int i = 0; i < VARIANTS; i++) {
        double k = (double)(i % 8);
        s[i] = (struct node_signals){
            .datacenter = i % 16 == 0,
            .datacenter_asn = 16509,
            .datacenter_org = "Amazon.com, Inc.",
            .ip_requests = {.local = 100 * k, .fleet = 1000 * k, .origins = 12},
            .ip_distinct_ua = {.local = 1, .fleet = 2 * k},
            .device_distinct_ip = {.local = 1, .fleet = k},
            .prefix_requests = {.local = 500, .fleet = 5000 * k},
            .pub_requests = {.local = 1000, .fleet = 20000},
            .pub_datacenter_share = {.local = 0.1, .fleet = 0.08 * k},
        };
    }
    /* Human traffic: every signal under its threshold, no reason to write. */
    struct node_signals clean = {
        .ip_requests = {.local = 20, .fleet = 200, .origins = 12},
        .ip_distinct_ua = {.local = 1, .fleet = 2},
        .device_distinct_ip = {.local = 1, .fleet = 2},
        .prefix_requests = {.local = 500, .fleet = 5000},
        .pub_requests = {.local = 1000, .fleet = 20000},
        .pub_datacenter_share = {.local = 0.1, .fleet = 0.08},
    };
    struct node_score out;
    uint64_t acc = 0, reasons = 0, t0 = bench_now_ns();
    for (int i = 0; i < N; i++) {
        node_detect(&out, &th, &clean);
        acc += out.score;
    }
    uint64_t t1 = bench_now_ns();
    bench_report("node_detect_clean", (double)(t1 - t0) / N, "ns/op");
    t0 = bench_now_ns();
    for (int i = 0; i < N; i++) {
        node_detect(&out, &th, &s[i % VARIANTS]);
        acc += out.score;
        reasons += out.n_reasons;
    }
    t1 = bench_now_ns();
    bench_sink(acc);
    bench_report("node_detect_mixed", (double)(t1 - t0) / N, "ns/op");
    bench_report("node_detect_mixed_reasons", (double)reasons / N, "reasons/op");
}
