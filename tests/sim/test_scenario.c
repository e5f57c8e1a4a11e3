/*
 * Unit tests of sim/scenario.c (strict parsing with file:line errors), and
 * of small sim/world.c runs built from scenario text.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "gossip/envelope.h"
#include "sim/files.h"
#include "sim/internal.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/workload.h"
#include "sim/world.h"
#include "tests/test.h"

static const char good[] =
    "sim: { seed = 7; nodes = 30; duration_s = 120; isolated_nodes = 2; oracle = true; };\n"
    "network: {\n"
    "  regions = ( { name = \"us\"; nodes = 2.0; }, { name = \"eu\"; nodes = 1; traffic = 3; } );\n"
    "  latency_ms = ( [0.2, 40.0], [40.0, 0.3] );\n"
    "  jitter_ms = 1.5; loss = 0.01; gilbert = { p = 0.01; r = 0.3; };\n"
    "  duplicate = 0.001; packet_size = 1200;\n"
    "};\n"
    "node: { profile = \"lan\"; th_ip_requests = 300; member_feedback = 3;\n"
    "  cipher = \"aes-256-gcm\"; };\n"
    "workload: { diurnal = 0.0; actors = ( { kind = \"human\"; count = 500; region = \"eu\"; },\n"
    "  { kind = \"botnet\"; asns = [16509, 14061]; } ); };\n"
    "faults: ( { kind = \"crash\"; at_s = 30; nodes = \"random:2\"; restart_after_s = 40; },\n"
    "  { kind = \"partition\"; at_s = 50; for_s = 20; nodes = \"region:eu\"; oneway = true; } );\n"
    "checks: { false_dead_max = 0; dead_everywhere_s = 30; recall_min = 0.8; positive = "
    "\"suspect\"; recall_vs_oracle_min = 0.9; };\n";

TEST(sim_scenario_parses_every_section)
{
    (void)state;
    struct sim_scenario sc;
    char err[256] = "";
    int rc = sim_scenario_parse(&sc, good, "good.cfg", err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(sc.seed, 7);
    assert_int_equal(sc.nodes, 30);
    assert_int_equal(sc.duration, 120000);
    assert_int_equal(sc.net.n_regions, 2);
    assert_true(sc.net.latency_ms[0][1] == 40.0 && sc.net.latency_ms[1][1] == 0.3);
    assert_true(sc.net.gilbert.on && sc.net.gilbert.loss_bad == 1.0);
    assert_true(sc.workload.region_share[0] == 2.0 && sc.workload.region_share[1] == 3.0);
    assert_int_equal(sc.workload.n_actors, 2);
    assert_int_equal(sc.workload.actors[0].region, 1);
    assert_int_equal(sc.workload.actors[1].n_asns, 2);
    assert_int_equal(sc.workload.actors[1].count, 100); /* the botnet default */
    assert_true(sc.node.set_th_ip_requests && !sc.node.set_th_ip_distinct_ua);
    assert_int_equal(sc.node.member_feedback, 3);
    assert_int_equal(sc.node.app_feedback, 0); /* unset: off */
    assert_int_equal(sc.node.aead, GOSSIP_AEAD_AES256GCM);
    assert_int_equal(sc.n_faults, 2);
    assert_int_equal(sc.faults[0].nodes.kind, SIM_SEL_COUNT);
    assert_int_equal(sc.faults[0].duration, 40000);
    assert_int_equal(sc.faults[1].nodes.kind, SIM_SEL_REGION);
    assert_int_equal(sc.faults[1].other.kind, SIM_SEL_REST);
    assert_int_equal(sim_scenario_last_heal(&sc), 70000);
    assert_true(sc.checks.has_false_dead && sc.checks.positive_suspect);
    assert_true(sc.checks.has_recall_vs_oracle && sc.checks.recall_vs_oracle_min == 0.9);
    assert_false(sc.checks.has_converged);
    /* every directed pair resolved from the matrix and network-wide values */
    assert_true(sc.net.links[0][1].latency_ms == 40.0 && sc.net.links[1][1].latency_ms == 0.3);
    assert_true(sc.net.links[1][0].jitter_ms == 1.5 && sc.net.links[0][0].loss == 0.01);
    assert_int_equal(sc.faults[0].between[0], -1);
    sim_scenario_destroy(&sc);
}

/* The links list overrides pairs, both ways unless oneway; a loss fault
 * may name the pair it hits. */
TEST(sim_scenario_links_override_pairs)
{
    (void)state;
    static const char text[] =
        "network: { regions = ( { name = \"eu\"; }, { name = \"us\"; }, { name = \"ap\"; } );\n"
        "  latency_ms = 1.0; jitter_ms = 0.5; loss = 0.01;\n"
        "  links = ( { between = [\"eu\", \"us\"]; latency_ms = 80.0; jitter_ms = 10.0; },\n"
        "            { between = [\"us\", \"ap\"]; oneway = true; loss = 0.2; reorder = 0.1;\n"
        "              reorder_ms = 30.0; } ); };\n"
        "faults: ( { kind = \"loss\"; at_s = 5; for_s = 10; loss = 0.5; between = [\"eu\", "
        "\"ap\"]; } );\n";
    struct sim_scenario sc;
    char err[256] = "";
    if (sim_scenario_parse(&sc, text, "links.cfg", err, sizeof(err)))
        fail_msg("%s", err);
    const struct sim_link_config *eu_us = &sc.net.links[0][1], *us_eu = &sc.net.links[1][0];
    assert_true(eu_us->latency_ms == 80 && eu_us->jitter_ms == 10 && eu_us->loss == 0.01);
    assert_true(us_eu->latency_ms == 80 && us_eu->jitter_ms == 10);
    assert_true(sc.net.links[0][0].latency_ms == 1 && sc.net.links[0][0].jitter_ms == 0.5);
    const struct sim_link_config *us_ap = &sc.net.links[1][2], *ap_us = &sc.net.links[2][1];
    assert_true(us_ap->loss == 0.2 && us_ap->reorder == 0.1 && us_ap->reorder_ms == 30);
    assert_true(us_ap->latency_ms == 1);
    assert_true(ap_us->loss == 0.01 && ap_us->reorder == 0); /* oneway: untouched */
    assert_int_equal(sc.faults[0].between[0], 0);
    assert_int_equal(sc.faults[0].between[1], 2);
    sim_scenario_destroy(&sc);
}

static void expect_error(const char *text, const char *where)
{
    struct sim_scenario sc;
    char err[256] = "";
    assert_true(sim_scenario_parse(&sc, text, "bad.cfg", err, sizeof(err)) < 0);
    if (!strstr(err, where))
        fail_msg("error \"%s\" does not mention \"%s\"", err, where);
}

TEST(sim_scenario_rejects_with_file_line)
{
    (void)state;
    expect_error("sim: {\n nodes = 3;\n nodez = 4; };", "bad.cfg:3: unknown key \"nodez\"");
    expect_error("checks: {\n recall_min = 1.5; };", "bad.cfg:2:");
    /* compared with the oracle node, which the scenario must have */
    expect_error("sim: { oracle = false; };\nchecks: {\n recall_vs_oracle_min = 0.9; };",
                 "bad.cfg:3: recall_vs_oracle_min needs sim.oracle = true");
    expect_error("sim: { oracle = true; };\nchecks: { recall_vs_oracle_min = 1.1; };",
                 "bad.cfg:2:");
    expect_error("sim = 3;", "sim must be a group");
    expect_error("node: {\n app_feedback = 256; };", "bad.cfg:2:");
    expect_error("node: {\n cipher = \"rot13\"; };",
                 "bad.cfg:2: cipher must be \"xchacha20-poly1305\" or \"aes-256-gcm\"");
    expect_error("faults = ( { kind = \"pause\"; at_s = 1; } );", "needs for_s");
    expect_error("faults = ( { kind = \"crash\"; at_s = 1; nodes = \"some\"; } );",
                 "bad node selection");
    expect_error("workload: { actors = ( { kind = \"alien\"; } ); };", "actor kind");
    expect_error("workload: { actors = ( { kind = \"human\"; region = \"mars\"; } ); };",
                 "no region named");
    expect_error("network: { regions = ( { name = \"a\"; } ); latency_ms = ( [1, 2] ); };",
                 "row 0");
    expect_error("sim: { nodes = ; };", "bad.cfg:1:"); /* syntax */
    expect_error(
        "network: { regions = ( { name = \"a\"; } );\n links = ( { latency_ms = 3; } ); };",
        "bad.cfg:2: a link needs between");
    expect_error("network: { regions = ( { name = \"a\"; } );\n"
                 " links = ( { between = [\"a\", \"b\"]; } ); };",
                 "no region named \"b\"");
    expect_error("network: { regions = ( { name = \"a\"; } );\n"
                 " links = ( { between = [\"a\", \"a\"]; latency = 3; } ); };",
                 "unknown key \"latency\" in a link");
    expect_error(
        "network: { regions = ( { name = \"a\"; } ); };\n"
        "faults = ( { kind = \"pause\"; at_s = 1; for_s = 1; between = [\"a\", \"a\"]; } );",
        "between applies to loss only");
}

/* Every shipped scenario parses (their checks run in `make sim-test`). */
TEST(sim_scenario_shipped_files_parse)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/sim/scenarios", ivt_test_root());
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".cfg"))
            continue;
        char path[1024], err[512] = "";
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct sim_scenario sc;
        int rc = sim_scenario_load(&sc, path, err, sizeof(err));
        if (rc)
            fail_msg("%s", err);
        assert_true(strncmp(sc.name, e->d_name, len - 4) == 0);
        sim_scenario_destroy(&sc);
        n++;
    }
    closedir(d);
    assert_true(n >= 5);
}

/* A scenario from text; a parse error fails the test. */
static void parse_text(struct sim_scenario *sc, const char *text, const char *name)
{
    char err[256] = "";
    if (sim_scenario_parse(sc, text, name, err, sizeof(err)))
        fail_msg("%s", err);
}

/* Runs sc (membership only) to its end into *sum, and destroys it. */
static void run_to_summary(struct sim_scenario *sc, struct sim_summary *sum)
{
    char err[256] = "";
    struct sim_data *data = NULL;
    struct sim_world *w = NULL;
    if (sim_data_load(&data, ivt_test_root(), err, sizeof(err)) ||
        sim_world_new(&w, sc, &sim_core_gossip, data, NULL, false, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(sim_world_run_until(w, sim_world_end(w)), 0);
    const struct sim_timeline *tl;
    sim_world_finish(w, sum, &tl);
    sim_world_delete(w);
    sim_data_delete(data);
    sim_scenario_destroy(sc);
}

/* node.member_feedback reaches the gossip instances the world runs: the
 * same small formation sends fewer membership bytes when every copy of
 * queued news heard again counts as a send (the datagrams stay: probes). */
static double formation_membership_bytes(uint32_t feedback)
{
    static const char text[] = "sim: { seed = 3; nodes = 40; duration_s = 40; };\n"
                               "node: { profile = \"local\"; };\n";
    struct sim_scenario sc;
    struct sim_summary sum;
    parse_text(&sc, text, "formation.cfg");
    sc.node.member_feedback = feedback;
    run_to_summary(&sc, &sum);
    return sum.traffic.membership;
}

/* node.cipher reaches the gossip instances the world runs, and changes
 * nothing but the bytes on the wire: the trace hash covers them and
 * differs, while every view, every byte count and every check come out the
 * same (docs/simulator.md). */
TEST(sim_world_cipher_changes_only_the_ciphertext)
{
    (void)state;
    if (!gossip_aead_available(GOSSIP_AEAD_AES256GCM)) {
        print_message("no AES-NI on this host: one cipher only\n");
        return;
    }
    static const char text[] =
        "sim: { seed = 5; nodes = 30; duration_s = 60; };\n"
        "node: { profile = \"local\"; };\n"
        "faults = ( { kind = \"crash\"; at_s = 20; nodes = \"random:2\"; } );\n";
    struct sim_summary sum[2];
    for (int i = 0; i < 2; i++) {
        struct sim_scenario sc;
        parse_text(&sc, text, "cipher.cfg");
        sc.node.aead = i ? GOSSIP_AEAD_AES256GCM : 0;
        run_to_summary(&sc, &sum[i]);
    }
    assert_string_not_equal(sum[0].trace_hash, sum[1].trace_hash);
    assert_true(sum[0].traffic.membership > 0);
    assert_true(sum[0].traffic.membership == sum[1].traffic.membership);
    assert_true(sum[0].traffic.pushpull == sum[1].traffic.pushpull);
    assert_true(sum[0].traffic.probe == sum[1].traffic.probe);
    assert_int_equal(sum[0].pulls_again, sum[1].pulls_again);
    assert_int_equal(sum[0].ticks, sum[1].ticks);
}

TEST(sim_world_feedback_reaches_gossip)
{
    (void)state;
    double off = formation_membership_bytes(0), on = formation_membership_bytes(1);
    if (!(off > 0 && on < off))
        fail_msg("membership bytes per node per second: %.1f with feedback off, %.1f on", off, on);
}

/* summary.json reports the join storm's counters and the ticks run: 100
 * nodes starting within a second make a storm (members new to a node sent
 * fewer times, pulls repeated while they bring members); 20 nodes, under
 * the 64 members the rule needs, do not. Either way every node is woken at
 * least once a probe interval, and far less than every gossip interval
 * once the cluster is quiet. */
static void formation_summary(uint32_t nodes, struct sim_summary *sum)
{
    char text[160];
    snprintf(text, sizeof(text),
             "sim: { seed = 4; nodes = %u; duration_s = 60; join_over_s = 1.0; };\n"
             "node: { profile = \"lan\"; };\n",
             nodes);
    struct sim_scenario sc;
    parse_text(&sc, text, "storm.cfg");
    run_to_summary(&sc, sum);
}

TEST(sim_world_reports_storm_counters_and_ticks)
{
    (void)state;
    struct sim_summary big, small;
    formation_summary(100, &big);
    formation_summary(20, &small);
    assert_true(big.storm_updates > 0);
    assert_true(big.pulls_again > 0);
    assert_int_equal(small.storm_updates, 0);
    /* LAN: a probe a second, gossip rounds every 200 ms while news lasts */
    assert_true(big.ticks >= 100 * 50);
    assert_true(big.ticks < 100 * 60 * 5);
    assert_true(small.ticks >= 20 * 50);
}

/* A random selection picks among the members of the moment: not a node
 * that has left and lingers before it stops. Eight of ten nodes leave, and
 * a crash of two random nodes a second later crashes the two that stayed
 * (before, it picked among all ten running processes and mostly crashed
 * nothing: churn.cfg seed 4 had no crash for its check to measure). */
TEST(sim_world_random_selection_skips_nodes_that_left)
{
    (void)state;
    static const char text[] =
        "sim: { seed = 5; nodes = 10; duration_s = 30; };\n"
        "node: { profile = \"local\"; };\n"
        "faults: ( { kind = \"leave\"; at_s = 12; nodes = \"nodes:0-7\"; },\n"
        "  { kind = \"crash\"; at_s = 13; nodes = \"random:2\"; } );\n";
    for (uint64_t seed = 1; seed <= 4; seed++) {
        struct sim_scenario sc;
        struct sim_summary sum;
        parse_text(&sc, text, "leave.cfg");
        sc.seed = seed;
        run_to_summary(&sc, &sum);
        assert_int_equal(sum.crashes, 2);
    }
}

/* A node's datagrams over network.bandwidth_kbps are dropped and counted
 * as policed (within the network's drops); without the knob none are. */
TEST(sim_world_bandwidth_policer_counts_its_drops)
{
    (void)state;
    static const char text[] = "sim: { seed = 2; nodes = 12; duration_s = 30; };\n"
                               "network: { bandwidth_kbps = 8.0; };\n"
                               "node: { profile = \"local\"; };\n";
    struct sim_scenario sc;
    struct sim_summary sum;
    parse_text(&sc, text, "thin.cfg");
    run_to_summary(&sc, &sum);
    assert_true(sum.packets_policed > 0);
    assert_true(sum.packets_policed <= sum.packets_dropped_net);
    parse_text(&sc, text, "thin.cfg");
    sc.net.bandwidth_kbps = 0;
    run_to_summary(&sc, &sum);
    assert_int_equal(sum.packets_policed, 0);
}
