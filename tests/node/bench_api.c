/*
 * Benchmarks of ivtd's API handlers in process (node/api.c): the CPU one
 * score request and one observed event cost between the socket read and
 * the socket write (params decode, the core, the reply encode), with the
 * shipped detector rules and the event mix of bin/ivt-loadgen. Loopback
 * figures (tests/bench_daemon.sh) swing with the shared host; these do
 * much less (CPU time is measured). `bin/ivt-bench 'node_api_*'` (IVT_ROOT finds node/data).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "base/mp.h"
#include "base/rng.h"
#include "node/ivtd.h"
#include "node/rules.h"
#include "tests/bench/bench.h"
#include "tests/loadgen.h"
#include "tests/node/bench_node.h"
#include "tests/node/data.h"

/* CPU time, not wall: on a shared host the wall clock also counts the
 * time other processes held the core. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum { REQUESTS = 200000, BATCH = 1000, ROUNDS = 5 };

static const char *root(void)
{
    const char *s = getenv("IVT_ROOT");
    return s ? s : ".";
}

/* A daemon context with a node and the shipped rules, no sockets. */
static struct ivtd *bench_ivtd(struct node_rules **rules)
{
    if (sodium_init() < 0)
        return NULL;
    struct ivtd *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->loop = uv_default_loop();
    size_t jl = 0, cl = 0;
    uint8_t *json = node_data_read(root(), NODE_DATA_CRAWLERS, &jl);
    uint8_t *csv = node_data_read(root(), NODE_DATA_HOSTING, &cl);
    char err[256];
    *rules = NULL;
    if (!json || !csv || node_rules_new(rules, json, jl, csv, cl, err, sizeof(err)) != 0)
        fprintf(stderr, "bench_api: no detector rules (set IVT_ROOT): scoring without them\n");
    free(json);
    free(csv);
    struct node_config cfg;
    bench_node_config(&cfg);
    cfg.rules = *rules;
    node_thresholds_defaults(&d->th);
    cfg.thresholds = &d->th;
    if (node_new(&d->node, &cfg, 1, 0, ivtd_wall()) != 0) {
        free(d);
        return NULL;
    }
    return d;
}

static void bench_ivtd_delete(struct ivtd *d, struct node_rules *rules)
{
    node_delete(d->node);
    node_rules_delete(rules);
    free(d);
}

/* Calls method `name` on each params array in buf (n of them, back to
 * back), replies into out; returns ns per call. */
static double run(struct ivtd *d, const char *name, const uint8_t *buf, size_t len, size_t n,
                  struct ivt_mpw *out)
{
    const struct ivtd_rpc_method *m = NULL;
    for (size_t i = 0; i < ivtd_n_api_methods; i++)
        if (strcmp(ivtd_api_methods[i].name, name) == 0)
            m = &ivtd_api_methods[i];
    const uint8_t *p = buf, *end = buf + len;
    char msg[IVTD_RPC_MSG_MAX];
    uint64_t failed = 0, t0 = cpu_ns();
    for (size_t i = 0; i < n && p < end; i++) {
        uint32_t np;
        const uint8_t *q = p;
        ivt_mp_skip(&q, end);
        ivt_mp_read_array(&p, end, &np);
        struct ivtd_rpc_call call = {p, q, np, false, out, msg, sizeof(msg)};
        failed += m->fn(d, &call) != 0;
        p = q;
        if (out->len > (1u << 20))
            ivt_mpw_reset(out);
    }
    double ns = (double)(cpu_ns() - t0) / (double)n;
    if (failed)
        fprintf(stderr, "bench_api: %llu %s calls failed\n", (unsigned long long)failed, name);
    return ns;
}

BENCH(node_api_handlers)
{
    struct node_rules *rules;
    struct ivtd *d = bench_ivtd(&rules);
    if (!d)
        return;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 42);
    struct ivt_mpw in, out;
    ivt_mpw_init_dyn(&in, 1u << 30);
    ivt_mpw_init_dyn(&out, 1u << 24);
    /* Warm: every address of the pool seen, as a node some seconds into
     * the load generator's run. */
    for (int i = 0; i < REQUESTS; i++) {
        ivt_mpw_array(&in, 1);
        loadgen_write_event(&in, &rng, (uint32_t)ivt_rng_below(&rng, LOADGEN_IP_POOL));
    }
    run(d, "score", in.data, in.len, REQUESTS, &out);
    /* The least of ROUNDS rounds: other processes on the host only ever
     * add (cache and core contention), so the minimum is the figure. */
    double score_ns = 0, observe_ns = 0;
    for (int round = 0; round < ROUNDS; round++) {
        ivt_mpw_reset(&in);
        for (int i = 0; i < REQUESTS / ROUNDS; i++) {
            ivt_mpw_array(&in, 1);
            loadgen_write_event(&in, &rng, (uint32_t)ivt_rng_below(&rng, LOADGEN_IP_POOL));
        }
        double ns = run(d, "score", in.data, in.len, REQUESTS / ROUNDS, &out);
        score_ns = round == 0 || ns < score_ns ? ns : score_ns;
        ivt_mpw_reset(&in);
        for (int i = 0; i < REQUESTS / ROUNDS / BATCH; i++) {
            ivt_mpw_array(&in, 1);
            ivt_mpw_array(&in, BATCH);
            for (int k = 0; k < BATCH; k++)
                loadgen_write_event(&in, &rng, (uint32_t)ivt_rng_below(&rng, LOADGEN_IP_POOL));
        }
        ns = run(d, "observe", in.data, in.len, REQUESTS / ROUNDS / BATCH, &out) / BATCH;
        observe_ns = round == 0 || ns < observe_ns ? ns : observe_ns;
    }
    bench_report("node_api_score_ns", score_ns, "ns/request");
    bench_report("node_api_observe_batch_1000", 1e9 / observe_ns, "events/s");
    ivt_mpw_destroy(&in);
    ivt_mpw_destroy(&out);
    bench_ivtd_delete(d, rules);
}
