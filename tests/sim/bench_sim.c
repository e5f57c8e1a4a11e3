/*
 * tests/sim/bench_sim.c: whole-fleet simulator runs at the sizes of issue 4
 * (smoke.cfg: a cluster forms, two crashes, one restart), ten simulated
 * minutes each, as `ivtsim sim/scenarios/smoke.cfg --nodes N --duration 600`
 * runs them. Each reports CPU seconds (this process, one core: the figure
 * the targets are stated in; wall time on a shared machine is not) and
 * simulator events per CPU second, and the process's max RSS so far (run a
 * row alone for its own figure; sim_fleet_10000_membership runs only when
 * named in full (BX: about 5.5 minutes and 14.4 GB): issue 4 bounds
 * the 10,000-node run at 16 GB). Needs IVT_ROOT (or the repository as the
 * working directory) for sim/data and node/data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <sys/resource.h>
#include <time.h>

#include "base/err.h"
#include "gossip/envelope.h"
#include "node/rules.h"
#include "sim/files.h"
#include "sim/internal.h"
#include "sim/scenario.h"
#include "sim/world.h"
#include "tests/bench/bench.h"

enum { SIM_BENCH_SECONDS = 600 /* issue 4: ten simulated minutes */ };

static const char *root(void)
{
    const char *s = getenv("IVT_ROOT");
    return s ? s : ".";
}

static struct node_rules *rules_load(void)
{
    char err[1024];
    struct node_rules *r = NULL;
    return sim_rules_load(&r, root(), err, sizeof(err)) ? NULL : r;
}

/* Runs smoke.cfg on n nodes for ten simulated minutes, sealing with aead
 * (0: the scenario's, XChaCha20-Poly1305), and reports. */
static void fleet_aead(const char *name, uint32_t n, bool node_core, enum gossip_aead aead)
{
    char path[1200], err[1024] = "", label[128];
    snprintf(path, sizeof(path), "%s/sim/scenarios/smoke.cfg", root());
    struct sim_scenario sc;
    struct sim_data *data = NULL;
    struct node_rules *rules = node_core ? rules_load() : NULL;
    if (sim_scenario_load(&sc, path, err, sizeof(err))) {
        bench_report("sim_data_missing", 1, "set IVT_ROOT");
        node_rules_delete(rules);
        return;
    }
    sc.nodes = n;
    sc.duration = (ivt_ms)SIM_BENCH_SECONDS * IVT_MS_PER_S;
    sc.node.aead = (uint8_t)aead;
    struct sim_world *w = NULL;
    if (aead && !gossip_aead_available(aead)) {
        bench_report("sim_cipher_unavailable", 1, gossip_aead_name(aead));
        goto out;
    }
    /* As ivtsim's main does: without it libsodium runs its portable
     * ChaCha20 and Poly1305 (1155 bytes sealed and opened: 10.1 us
     * against 5.4 with AVX2 on this VM), and only a node core's first
     * crdt store happened to call it for the node-core rows. */
    if (sodium_init() < 0) {
        bench_report("sim_sodium_init_failed", 1, "libsodium");
        goto out;
    }
    sim_process_setup(); /* as ivtsim's main does: large tables in their own mappings */
    if (sim_data_load(&data, root(), err, sizeof(err)) || (node_core && !rules) ||
        sim_world_new(&w, &sc, node_core ? &sim_core_node : &sim_core_gossip, data, rules, false,
                      err, sizeof(err))) {
        bench_report("sim_data_missing", 1, "set IVT_ROOT");
        goto out;
    }
    clock_t c0 = clock();
    int rc = sim_world_run_until(w, sim_world_end(w));
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    if (rc) {
        bench_report("sim_run_failed", 1, ivt_strerror(rc));
        goto out;
    }
    bench_report(name, cpu, "s_cpu");
    snprintf(label, sizeof(label), "%s_events_per_s", name);
    bench_report(label, (double)sim_world_events(w) / cpu, "events/s");
    struct rusage ru;
    if (!getrusage(RUSAGE_SELF, &ru)) {
        snprintf(label, sizeof(label), "%s_max_rss", name);
        bench_report(label, (double)ru.ru_maxrss / 1024, "MiB");
    }
out:
    sim_world_delete(w);
    sim_data_delete(data);
    node_rules_delete(rules);
    sim_scenario_destroy(&sc);
}

static void fleet(const char *name, uint32_t n, bool node_core)
{
    fleet_aead(name, n, node_core, 0);
}

BENCH(sim_fleet_100_membership)
{
    fleet("sim_fleet_100_membership", 100, false);
}

BENCH(sim_fleet_1000_membership)
{
    fleet("sim_fleet_1000_membership", 1000, false);
}

/* Issue 4's largest figure: 10,000 nodes, under 5 minutes of CPU and
 * 16 GB. As of session 16 on the 2-core VM: 309-317 s of CPU with the
 * default XChaCha20-Poly1305, 276-287 s with AES-256-GCM (the _aes row), and
 * 14.4 x 10^9 bytes (docs/benchmarks.md, "Session 16"). */
BENCH(sim_fleet_10000_membership)
{
    fleet("sim_fleet_10000_membership", 10000, false);
}

BENCH(sim_fleet_10000_membership_aes)
{
    fleet_aead("sim_fleet_10000_membership_aes", 10000, false, GOSSIP_AEAD_AES256GCM);
}

BENCH(sim_fleet_100_node_core)
{
    fleet("sim_fleet_100_node_core", 100, true);
}

/* Issue 4's 1,000-node figure with the node core (evidence, detector), as
 * the 100-node one: the membership-only row above leaves out most of the
 * work a simulated node does. */
BENCH(sim_fleet_1000_node_core)
{
    fleet("sim_fleet_1000_node_core", 1000, true);
}

BENCH(sim_fleet_1000_node_core_aes)
{
    fleet_aead("sim_fleet_1000_node_core_aes", 1000, true, GOSSIP_AEAD_AES256GCM);
}
