/*
 * tests/gossip/bench_gossip.c: the protocol's figures, measured in virtual
 * time on sim/cluster (LAN profile, 2-5 ms links, no loss). They depend on
 * the seed, not on the machine: the wall clock is never read.
 *
 *   first detection of a crash   (SWIM's model: e/(e-1) probe periods)
 *   crash to dead everywhere     p50 / p99 at 100 and 1000 nodes
 *   one update to every node     p99 at 1000 nodes
 *   idle bytes per node per s    at 10, 100, 1000 nodes (datagrams + streams)
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/internal.h"
#include "sim/cluster.h"
#include "tests/bench/bench.h"

static struct sim_cluster *joined(uint32_t n, uint64_t seed)
{
    struct sim_cluster *c;
    if (sodium_init() < 0 || sim_cluster_new(&c, n, GOSSIP_PROFILE_LAN, seed, NULL, NULL, NULL))
        abort();
    struct sim_net_link l = {.delay = 2, .jitter = 3};
    sim_net_set_link(c->net, &l);
    sim_cluster_join_all(c, 0);
    while (!sim_cluster_full(c))
        sim_net_run_for(c->net, 500);
    sim_net_run_for(c->net, 10 * IVT_MS_PER_S); /* let the join traffic settle */
    return c;
}

static int cmp_ms(const void *a, const void *b)
{
    ivt_ms x = *(const ivt_ms *)a, y = *(const ivt_ms *)b;
    return (x > y) - (x < y);
}

static double pct(ivt_ms *v, size_t n, double p)
{
    qsort(v, n, sizeof(*v), cmp_ms);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

/* Crashes `trials` nodes one after another; for each, the time until the
 * first live node suspects it and until every live node holds it dead. */
static void crash_run(uint32_t n, uint32_t trials, const char *tag, bool first)
{
    struct sim_cluster *c = joined(n, 1000 + n);
    ivt_ms *dead = calloc(trials, sizeof(*dead));
    double first_sum = 0;
    for (uint32_t k = 0; k < trials; k++) {
        uint32_t victim = 1 + k * (n - 1) / trials;
        ivt_ms t0 = sim_net_now(c->net);
        sim_cluster_crash(c, victim);
        ivt_ms seen = -1;
        while (!sim_cluster_state_everywhere(c, victim, GOSSIP_DEAD)) {
            sim_net_run_for(c->net, 50);
            if (seen < 0)
                for (uint32_t v = 0; v < n && seen < 0; v++)
                    if (sim_cluster_state(c, v, victim) >= GOSSIP_SUSPECT)
                        seen = sim_net_now(c->net) - t0;
        }
        dead[k] = sim_net_now(c->net) - t0;
        first_sum += (double)seen;
        sim_net_run_for(c->net, 5 * IVT_MS_PER_S);
    }
    char name[64];
    if (first) {
        bench_report("gossip_first_detection_mean", first_sum / trials / 1000.0, "s");
        bench_report("gossip_first_detection_probe_periods",
                     first_sum / trials / (double)c->cfg.probe_interval, "periods");
    }
    snprintf(name, sizeof(name), "gossip_dead_everywhere_p50_%s", tag);
    bench_report(name, pct(dead, trials, 0.5), "s");
    snprintf(name, sizeof(name), "gossip_dead_everywhere_p99_%s", tag);
    bench_report(name, pct(dead, trials, 0.99), "s");
    free(dead);
    sim_cluster_delete(c);
}

BENCH(gossip_crash_detection_100)
{
    crash_run(100, 40, "100", true);
}

BENCH(gossip_crash_detection_1000)
{
    crash_run(1000, 10, "1000", false);
}

BENCH(gossip_dissemination_1000)
{
    uint32_t n = 1000, trials = 20;
    struct sim_cluster *c = joined(n, 77);
    ivt_ms *t = calloc(trials, sizeof(*t));
    for (uint32_t k = 0; k < trials; k++) {
        uint32_t src = (k * 37) % n;
        uint8_t meta[1] = {(uint8_t)(k + 1)};
        uint8_t id[GOSSIP_ID_LEN];
        sim_cluster_id(c, src, id);
        ivt_ms t0 = sim_net_now(c->net);
        gossip_set_meta(c->g[src], meta, 1, t0);
        sim_net_poke(c->net, src);
        for (;;) {
            sim_net_run_for(c->net, 50);
            uint32_t have = 0;
            for (uint32_t v = 0; v < n; v++) {
                struct gossip_member_info m;
                have +=
                    gossip_member(c->g[v], id, &m) == 0 && m.meta_len == 1 && m.meta[0] == meta[0];
            }
            if (have == n)
                break;
        }
        t[k] = sim_net_now(c->net) - t0;
        sim_net_run_for(c->net, 3 * IVT_MS_PER_S);
    }
    bench_report("gossip_update_to_all_p99_1000", pct(t, trials, 0.99), "s");
    bench_report("gossip_update_to_all_p50_1000", pct(t, trials, 0.5), "s");
    free(t);
    sim_cluster_delete(c);
}

static void idle(uint32_t n)
{
    struct sim_cluster *c = joined(n, 500 + n);
    /* Past the first push-pull rounds of the join. */
    sim_net_run_for(c->net, 5 * IVT_MS_PER_MIN);
    uint64_t before = 0, after = 0;
    for (uint32_t i = 0; i < n; i++)
        before += sim_net_host_bytes(c->net, i);
    ivt_ms span = 10 * IVT_MS_PER_MIN;
    sim_net_run_for(c->net, span);
    for (uint32_t i = 0; i < n; i++)
        after += sim_net_host_bytes(c->net, i);
    char name[64];
    snprintf(name, sizeof(name), "gossip_idle_bytes_per_node_%u", n);
    bench_report(name, (double)(after - before) / n / ((double)span / 1000.0), "B/s");
    sim_cluster_delete(c);
}

BENCH(gossip_idle_bytes)
{
    idle(10);
    idle(100);
    idle(1000);
}

/* What one member entry costs every node (a fleet holds N^2 of them: the
 * 10,000-node simulator run's memory): the record and a queued update. */
BENCH(gossip_member_bytes)
{
    bench_report("gossip_member_record_bytes", (double)sizeof(struct gossip_mem), "B");
    bench_report("gossip_queue_item_bytes", (double)sizeof(struct gossip_qitem), "B");
}
