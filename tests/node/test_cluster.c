/*
 * Cluster specifications of the node core: real node cores (gossip +
 * evidence + detector) on the deterministic virtual network of sim/net,
 * in virtual time. What an operator relies on: evidence seen at one node
 * changes the score at another within seconds; decisions and key rotations
 * reach every node; a partition heals into equal evidence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"
#include "node/detect.h"
#include "node/node.h"
#include "node/rules.h"
#include "sim/net.h"
#include "tests/test.h"

#define WALL0 ((ivt_ms)1795651200000LL)

/* A node core as a sim/net host: the network's clock is monotonic `now`;
 * the wall clock is the same instant in unix time. */
static int h_receive(void *h, const struct gossip_addr *from, const uint8_t *p, size_t n,
                     ivt_ms now)
{
    return node_receive(h, from, p, n, now, WALL0 + now);
}
static int h_tick(void *h, ivt_ms now)
{
    return node_tick(h, now, WALL0 + now);
}
static ivt_ms h_deadline(void *h)
{
    return node_next_deadline(h);
}
static size_t h_outbox(void *h, struct gossip_packet *out, size_t max)
{
    return node_outbox(h, out, max);
}
static struct gossip *h_gossip(void *h)
{
    return node_gossip(h);
}

static uint64_t warms; /* node_warm calls, by every cluster of the test */

static void h_warm(void *h, int stage)
{
    warms++;
    node_warm(h, stage);
}

static const struct sim_net_ops node_ops = {h_receive, h_tick,   h_deadline,
                                            h_outbox,  h_gossip, h_warm};

enum { MAXN = 8 };

struct cluster {
    struct sim_net *net;
    struct node *n[MAXN];
    uint32_t count;
};

static const uint8_t KEY1[32] = {1, 2, 3};
static const uint8_t KEY2[32] = {9, 8, 7};

static void cluster_start_rules(struct cluster *c, uint32_t count, const struct node_rules *rules);

static void cluster_start(struct cluster *c, uint32_t count)
{
    cluster_start_rules(c, count, NULL);
}

static void cluster_start_ops(struct cluster *c, uint32_t count, const struct node_rules *rules,
                              const struct sim_net_ops *ops);

static void cluster_start_rules(struct cluster *c, uint32_t count, const struct node_rules *rules)
{
    cluster_start_ops(c, count, rules, &node_ops);
}

static void cluster_start_ops(struct cluster *c, uint32_t count, const struct node_rules *rules,
                              const struct sim_net_ops *ops)
{
    if (sodium_init() < 0)
        fail();
    memset(c, 0, sizeof(*c));
    c->count = count;
    assert_int_equal(sim_net_new(&c->net, ivt_test_seed(), 0), 0);
    struct sim_net_link link = {.delay = 5, .jitter = 5};
    sim_net_set_link(c->net, &link);
    for (uint32_t i = 0; i < count; i++) {
        struct node_config cfg;
        node_config_defaults(&cfg);
        memset(cfg.id, (int)(i + 1), sizeof(cfg.id));
        cfg.generation = 1;
        snprintf(cfg.name, sizeof(cfg.name), "n%u", i);
        cfg.profile = NODE_PROFILE_LAN;
        assert_int_equal(gossip_keyring_install(&cfg.keyring, KEY1), 0);
        memset(cfg.hash_key, 5, sizeof(cfg.hash_key));
        cfg.addr = sim_net_addr(i);
        cfg.max_entities = 4096;
        cfg.member_changes_max = 64;
        cfg.rules = rules;
        assert_int_equal(node_new(&c->n[i], &cfg, ivt_test_seed() + i, 0, WALL0), 0);
        assert_int_equal(sim_net_add(c->net, ops, c->n[i]), (int)i);
    }
    for (uint32_t i = 1; i < count; i++) {
        struct gossip_addr seed = sim_net_addr(0);
        assert_int_equal(node_join(c->n[i], &seed, 1, 0), 0);
    }
}

/* Node i observes ev at t, and, as a host does after an API call, runs
 * its timer again (the node may want a tick sooner: evidence to flush). */
static void observe_at(struct cluster *c, uint32_t i, const struct node_event *ev, ivt_ms t)
{
    assert_int_equal(node_observe(c->n[i], ev, t, WALL0 + t), 0);
    sim_net_poke(c->net, i);
}

static void cluster_stop(struct cluster *c)
{
    sim_net_delete(c->net);
    for (uint32_t i = 0; i < c->count; i++)
        node_delete(c->n[i]);
}

static struct cluster *pred_c;

static bool all_alive(void *ctx)
{
    struct cluster *c = ctx;
    for (uint32_t i = 0; i < c->count; i++)
        if (gossip_member_count(node_gossip(c->n[i]), GOSSIP_ALIVE) != c->count)
            return false;
    return true;
}

static double fleet_requests(struct node *n, const char *ip)
{
    struct node_report r;
    assert_int_equal(node_lookup(n, &r, NODE_ENT_IP, ip, strlen(ip), WALL0), 0);
    for (int i = 0; i < r.n_metrics; i++)
        if (strcmp(r.metrics[i].name, "requests") == 0)
            return r.metrics[i].fleet;
    return 0;
}

static struct node_event bot_event(const char *ip)
{
    struct node_event ev;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(node_ip_parse(&ev.ip, ip, strlen(ip)), 0);
    ev.ua = "Mozilla/5.0 (X11; Linux x86_64)";
    ev.ua_len = strlen(ev.ua);
    ev.pub = "pub-x";
    ev.pub_len = 5;
    ev.kind = NODE_EV_REQUEST;
    ev.ts = WALL0 + 1000;
    return ev;
}

/* Every node's th_ip_requests (the other thresholds at their defaults). */
static void ip_requests_threshold(struct cluster *c, uint32_t requests)
{
    struct node_thresholds th;
    node_thresholds_defaults(&th);
    th.th_ip_requests = requests;
    for (uint32_t i = 0; i < c->count; i++)
        assert_int_equal(node_set_thresholds(c->n[i], &th), 0);
}

static const char *pred_ip;
static double pred_want;

static bool c_sees_requests(void *ctx)
{
    struct cluster *c = ctx;
    for (uint32_t i = 0; i < c->count; i++)
        if (fleet_requests(c->n[i], pred_ip) != pred_want)
            return false;
    return true;
}

static bool a_peer_sees_requests(void *ctx)
{
    struct cluster *c = ctx;
    for (uint32_t i = 1; i < c->count; i++)
        if (fleet_requests(c->n[i], pred_ip) == pred_want)
            return true;
    return false;
}

TEST(node_cluster_evidence_at_a_scores_at_c)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    assert_true(sim_net_wait(c.net, all_alive, &c, 100, 30000));
    /* 100 requests at node 0 only */
    struct node_event ev = bot_event("203.0.113.50");
    ip_requests_threshold(&c, 50);
    ivt_ms t = sim_net_now(c.net);
    for (int j = 0; j < 100; j++)
        observe_at(&c, 0, &ev, t);
    struct node_score s;
    assert_int_equal(node_score(c.n[2], &s, &ev, false, t, WALL0 + t), 0);
    assert_int_equal(s.verdict, NODE_VERDICT_OK);
    pred_ip = "203.0.113.50";
    pred_want = 100;
    /* "within seconds": deltas ride the next gossip rounds */
    assert_true(sim_net_wait(c.net, c_sees_requests, &c, 50, 5000));
    t = sim_net_now(c.net);
    assert_int_equal(node_score(c.n[2], &s, &ev, false, t, WALL0 + t), 0);
    assert_int_equal(s.class_, NODE_CLASS_SIVT);
    assert_true(s.verdict >= NODE_VERDICT_SUSPECT);
    cluster_stop(&c);
}

/* The simulator asks each next host for its cold lines (node_warm) before
 * its turn: a hint, which must change nothing of what the nodes do. The
 * same traffic with and without it gives the same run, byte for byte, and
 * the same evidence, with deltas from several nodes in the datagrams. */
TEST(node_cluster_warm_changes_nothing)
{
    (void)state;
    struct sim_net_ops cold = node_ops;
    cold.warm = NULL;
    const struct sim_net_ops *ops[2] = {&node_ops, &cold};
    uint64_t trace[2], warmed[2];
    double seen[2];
    for (int r = 0; r < 2; r++) {
        struct cluster c;
        warms = 0;
        cluster_start_ops(&c, 5, NULL, ops[r]);
        assert_true(sim_net_wait(c.net, all_alive, &c, 100, 30000));
        for (int k = 0; k < 40; k++) {
            char ip[32];
            snprintf(ip, sizeof(ip), "198.51.100.%d", k % 8);
            struct node_event ev = bot_event(ip);
            observe_at(&c, (uint32_t)k % 4, &ev, sim_net_now(c.net));
            sim_net_run_for(c.net, 50);
        }
        sim_net_run_for(c.net, 10000);
        trace[r] = sim_net_trace_hash(c.net);
        warmed[r] = warms;
        seen[r] = fleet_requests(c.n[4], "198.51.100.3");
        cluster_stop(&c);
    }
    assert_true(warmed[0] > 1000);
    assert_int_equal(warmed[1], 0);
    assert_true(trace[0] == trace[1]);
    assert_true(seen[0] == 5 && seen[1] == 5);
}

/* Evidence reaches every node once, from the node that saw it: the others
 * merge it (gossip spreads the payload) and publish nothing of their own,
 * and the address's display key arrives with the evidence although later
 * deltas leave it out. */
TEST(node_cluster_evidence_published_by_its_observer_only)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 5);
    assert_true(sim_net_wait(c.net, all_alive, &c, 100, 30000));
    struct node_event ev = bot_event("203.0.113.77");
    ip_requests_threshold(&c, 5); /* so that it scores, and node_top lists it */
    ivt_ms t = sim_net_now(c.net);
    /* in separate flush intervals: the later deltas carry no key */
    for (int j = 0; j < 10; j++) {
        observe_at(&c, 0, &ev, t);
        sim_net_run_until(c.net, t + 500);
        t = sim_net_now(c.net);
    }
    pred_ip = "203.0.113.77";
    pred_want = 10;
    assert_true(sim_net_wait(c.net, c_sees_requests, &c, 50, 5000));
    struct node_stats st;
    node_get_stats(c.n[0], &st);
    assert_true(st.deltas_sent >= 10);
    for (uint32_t i = 1; i < c.count; i++) {
        node_get_stats(c.n[i], &st);
        assert_int_equal(st.deltas_sent, 0);
        struct node_top_row rows[8];
        size_t n = node_top(c.n[i], rows, 8, NODE_ENT_IP, WALL0 + t);
        assert_int_equal(n, 1);
        assert_string_equal(rows[0].key, "203.0.113.77");
        assert_true(rows[0].requests_fleet == 10);
    }
    cluster_stop(&c);
}

static bool decided_everywhere(void *ctx)
{
    struct cluster *c = ctx;
    struct node_event ev = bot_event("198.51.100.99");
    ivt_ms t = sim_net_now(c->net);
    for (uint32_t i = 0; i < c->count; i++) {
        struct node_score s;
        node_score(c->n[i], &s, &ev, false, t, WALL0 + t);
        if (!s.decided)
            return false;
    }
    return true;
}

static size_t pred_keys;
static bool keys_everywhere(void *ctx)
{
    struct cluster *c = ctx;
    for (uint32_t i = 0; i < c->count; i++)
        if (gossip_keyring_count(gossip_keyring(node_gossip(c->n[i]))) != pred_keys)
            return false;
    return true;
}

static bool primary_everywhere(void *ctx)
{
    struct cluster *c = ctx;
    uint32_t want = gossip_key_id(KEY2);
    for (uint32_t i = 0; i < c->count; i++)
        if (gossip_keyring_primary(gossip_keyring(node_gossip(c->n[i])))->id != want)
            return false;
    return true;
}

TEST(node_cluster_decisions_and_key_rotation_spread)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 4);
    assert_true(sim_net_wait(c.net, all_alive, &c, 100, 30000));
    ivt_ms t = sim_net_now(c.net);
    assert_int_equal(node_decide(c.n[1], NODE_ENT_IP, "198.51.100.99", 13, NODE_ACT_BAN,
                                 IVT_MS_PER_HOUR, "test", t, WALL0 + t),
                     0);
    assert_true(sim_net_wait(c.net, decided_everywhere, &c, 50, 5000));

    /* install, use, remove, issued at different nodes, as an operator would */
    t = sim_net_now(c.net);
    assert_int_equal(node_key_op(c.n[0], NODE_KEY_INSTALL, KEY2, t), 0);
    pred_keys = 2;
    bool okk = sim_net_wait(c.net, keys_everywhere, &c, 50, 10000);
    for (uint32_t i = 0; !okk && i < c.count; i++) {
        struct gossip_stats gs;
        gossip_get_stats(node_gossip(c.n[i]), &gs);
        fprintf(
            stderr, "node %u keys %zu pub %llu deliv %llu dropped %llu app bytes %llu alive %zu\n",
            i, gossip_keyring_count(gossip_keyring(node_gossip(c.n[i]))),
            (unsigned long long)gs.payloads_published, (unsigned long long)gs.payloads_delivered,
            (unsigned long long)gs.payloads_dropped, (unsigned long long)gs.bytes_app,
            gossip_member_count(node_gossip(c.n[i]), GOSSIP_ALIVE));
    }
    assert_true(okk);
    t = sim_net_now(c.net);
    assert_int_equal(node_key_op(c.n[2], NODE_KEY_USE, KEY2, t), 0);
    assert_true(sim_net_wait(c.net, primary_everywhere, &c, 50, 10000));
    /* The operator's procedure (docs/security.md) lets "use" settle before
     * "remove", so that packets sealed with the old key just before the
     * switch are not in flight when it goes. */
    sim_net_run_for(c.net, 2000);
    t = sim_net_now(c.net);
    assert_int_equal(node_key_op(c.n[3], NODE_KEY_REMOVE, KEY1, t), 0);
    pred_keys = 1;
    assert_true(sim_net_wait(c.net, keys_everywhere, &c, 50, 10000));
    sim_net_run_for(c.net, 5000);
    assert_true(all_alive(&c));
    for (uint32_t i = 0; i < c.count; i++) {
        struct gossip_stats gs;
        gossip_get_stats(node_gossip(c.n[i]), &gs);
        /* A packet sealed with the old key while a peer had already
         * removed it would show here. */
        if (gs.dropped[GOSSIP_DROP_KEY] || gs.dropped[GOSSIP_DROP_AUTH])
            fprintf(stderr, "node %u: dropped key %llu auth %llu streams_rejected %llu\n", i,
                    (unsigned long long)gs.dropped[GOSSIP_DROP_KEY],
                    (unsigned long long)gs.dropped[GOSSIP_DROP_AUTH],
                    (unsigned long long)gs.streams_rejected);
        assert_int_equal(gs.dropped[GOSSIP_DROP_KEY], 0);
        assert_int_equal(gs.dropped[GOSSIP_DROP_AUTH], 0);
    }
    cluster_stop(&c);
}

/* A promoted distinct set makes an entity's record kilobytes, larger than
 * any gossip payload: it must not hold back the evidence queued behind it
 * until the next push-pull (30 s on lan). */
TEST(node_cluster_evidence_behind_an_oversize_record_still_flows)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    assert_true(sim_net_wait(c.net, all_alive, &c, 100, 30000));
    sim_net_run_for(c.net, 1000);
    ivt_ms t = sim_net_now(c.net);
    struct node_event ev = bot_event("198.51.100.1");
    char ua[32];
    /* 400 user agents: the IP's distinct set is a dense HyperLogLog, its
     * record about 1.3 KB against a payload of about 1.1 KB. */
    for (int j = 0; j < 400; j++) {
        ev.ua_len = (size_t)snprintf(ua, sizeof(ua), "agent-%d", j);
        ev.ua = ua;
        observe_at(&c, 0, &ev, t);
    }
    ev = bot_event("203.0.113.50");
    for (int j = 0; j < 100; j++)
        observe_at(&c, 0, &ev, t);
    pred_ip = "203.0.113.50";
    pred_want = 100;
    /* Well before the next push-pull (30 s on lan) the records queued
     * behind the oversize one reach the peers. Payload gossip is best
     * effort: a payload misses a given peer with odds of about 1 in 256
     * (each holder sends it four times, each time to one of two peers),
     * so in this burst of about 70 one may miss a peer; the next push-pull
     * brings it (IVT_TEST_SEED=9 shows it). */
    assert_true(sim_net_wait(c.net, a_peer_sees_requests, &c, 50, 8000));
    assert_true(sim_net_wait(c.net, c_sees_requests, &c, 100, 45000));
    struct node_stats ns;
    node_get_stats(c.n[0], &ns);
    assert_true(ns.deltas_oversize >= 1);
    cluster_stop(&c);
}

/* pred_match: what every node other than n0 says of n0's keyring. */
static enum node_keyring_match pred_match;
static bool others_see_n0_as(void *ctx)
{
    struct cluster *c = ctx;
    struct gossip_member_info m;
    uint8_t id0[GOSSIP_ID_LEN];
    memset(id0, 1, sizeof(id0));
    for (uint32_t i = 1; i < c->count; i++)
        if (gossip_member(node_gossip(c->n[i]), id0, &m) != 0 ||
            node_keyring_match(c->n[i], &m) != pred_match)
            return false;
    return true;
}

TEST(node_cluster_keyring_agreement_shows_who_lacks_a_key)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 4);
    assert_true(sim_net_wait(c.net, all_alive, &c, 50, 10000));
    pred_match = NODE_KEYRING_SAME;
    assert_true(sim_net_wait(c.net, others_see_n0_as, &c, 50, 5000));

    /* A key added at n0 alone (SIGHUP with an edited keyring file does
     * this): the others must see that n0's keyring differs from theirs. */
    assert_int_equal(gossip_keyring_install(gossip_keyring(node_gossip(c.n[0])), KEY2), 0);
    pred_match = NODE_KEYRING_DIFFERENT;
    assert_true(sim_net_wait(c.net, others_see_n0_as, &c, 50, 10000));

    /* The same key added everywhere: agreement again, slot order aside. */
    for (uint32_t i = 1; i < c.count; i++)
        assert_int_equal(gossip_keyring_install(gossip_keyring(node_gossip(c.n[i])), KEY2), 0);
    pred_match = NODE_KEYRING_SAME;
    assert_true(sim_net_wait(c.net, others_see_n0_as, &c, 50, 10000));
    cluster_stop(&c);
}

/* Drops every datagram to host deaf_host until deaf_until. */
static uint32_t deaf_host;
static ivt_ms deaf_until;
static bool deaf_tap(void *ctx, uint32_t from, uint32_t to, const uint8_t *p, size_t n, ivt_ms now)
{
    (void)ctx, (void)from, (void)p, (void)n;
    return !(to == deaf_host && now < deaf_until);
}

/* A formed cluster of n in which `host` hears nothing for the next `ms`;
 * returns the time it starts. */
static ivt_ms start_with_deaf(struct cluster *c, uint32_t n, uint32_t host, ivt_ms ms)
{
    cluster_start(c, n);
    assert_true(sim_net_wait(c->net, all_alive, c, 50, 10000));
    sim_net_run_for(c->net, 2000);
    ivt_ms t = sim_net_now(c->net);
    deaf_host = host;
    deaf_until = t + ms;
    sim_net_set_tap(c->net, deaf_tap, NULL);
    return t;
}

TEST(node_cluster_key_install_reaches_a_node_that_missed_it)
{
    (void)state;
    struct cluster c;
    /* n3 hears nothing while the install is broadcast and its
     * retransmissions run out (shorter than a suspicion timeout). */
    ivt_ms t = start_with_deaf(&c, 4, 3, 1500);
    assert_int_equal(node_key_op(c.n[0], NODE_KEY_INSTALL, KEY2, t), 0);
    sim_net_run_for(c.net, 1500);
    assert_int_equal(gossip_keyring_count(gossip_keyring(node_gossip(c.n[3]))), 1);
    /* The issuer sees n3's keyring differ and publishes the install again. */
    pred_keys = 2;
    assert_true(sim_net_wait(c.net, keys_everywhere, &c, 50, 20000));
    struct node_stats ns;
    node_get_stats(c.n[0], &ns);
    assert_true(ns.keyop_retries >= 1);
    /* Once every member agrees, the retries stop. */
    sim_net_run_for(c.net, 10000);
    uint64_t retries = ns.keyop_retries;
    sim_net_run_for(c.net, 60000);
    node_get_stats(c.n[0], &ns);
    assert_int_equal(ns.keyop_retries, retries);
    assert_int_equal(ns.keyop_retries_exhausted, 0);
    cluster_stop(&c);
}

/* A ban made while n2 hears nothing: the node that made it publishes it
 * again, so n2 has it in seconds, not at the next push-pull (30 s). */
TEST(node_cluster_decision_reaches_a_node_that_missed_it)
{
    (void)state;
    struct cluster c;
    ivt_ms t = start_with_deaf(&c, 3, 2, 1500);
    assert_int_equal(node_decide(c.n[0], NODE_ENT_IP, "198.51.100.99", 13, NODE_ACT_BAN,
                                 IVT_MS_PER_HOUR, "deaf test", t, WALL0 + t),
                     0);
    sim_net_run_for(c.net, 1500);
    struct node_event ev = bot_event("198.51.100.99");
    struct node_score s;
    t = sim_net_now(c.net);
    node_score(c.n[2], &s, &ev, false, t, WALL0 + t);
    assert_false(s.decided);
    assert_true(sim_net_wait(c.net, decided_everywhere, &c, 50, 8000));
    struct node_stats ns;
    node_get_stats(c.n[0], &ns);
    assert_true(ns.decision_resends >= 1);
    cluster_stop(&c);
}

TEST(node_key_op_retry_never_undoes_a_later_step)
{
    (void)state;
    struct cluster c;
    /* n2 is deaf while n0 installs KEY2 and n1 removes it again: n0 keeps
     * retrying its install for n2, and must not bring KEY2 back. */
    ivt_ms t = start_with_deaf(&c, 3, 2, 3000);
    assert_int_equal(node_key_op(c.n[0], NODE_KEY_INSTALL, KEY2, t), 0);
    sim_net_run_for(c.net, 1000);
    assert_int_equal(node_key_op(c.n[1], NODE_KEY_REMOVE, KEY2, sim_net_now(c.net)), 0);
    sim_net_run_for(c.net, 60000);
    for (uint32_t i = 0; i < c.count; i++)
        assert_int_equal(gossip_keyring_count(gossip_keyring(node_gossip(c.n[i]))), 1);
    assert_true(all_alive(&c));
    cluster_stop(&c);
}

TEST(node_tags_keyring_decoding_is_strict)
{
    (void)state;
    uint8_t fp[NODE_KEYRING_FP_LEN];
    /* {"x": 1, "kr": bin 12 of 0..11}: an unknown tag first is skipped */
    const uint8_t good[] = {0x82, 0xa1, 'x', 0x01, 0xa2, 'k', 'r', 0xc4, 12, 0, 1,
                            2,    3,    4,   5,    6,    7,   8,   9,    10, 11};
    assert_int_equal(node_tags_keyring(fp, good, sizeof(good)), 0);
    for (int i = 0; i < NODE_KEYRING_FP_LEN; i++)
        assert_int_equal(fp[i], i);
    for (size_t cut = 1; cut < sizeof(good); cut++)
        assert_int_equal(node_tags_keyring(fp, good, cut), IVT_EPROTO);
    assert_int_equal(node_tags_keyring(fp, good, 0), IVT_ENOENT);
    const uint8_t none[] = {0x81, 0xa1, 'x', 0x01};
    assert_int_equal(node_tags_keyring(fp, none, sizeof(none)), IVT_ENOENT);
    const uint8_t short_bin[] = {0x81, 0xa2, 'k', 'r', 0xc4, 2, 1, 2};
    assert_int_equal(node_tags_keyring(fp, short_bin, sizeof(short_bin)), IVT_EPROTO);
    const uint8_t not_map[] = {0x92, 1, 2};
    assert_int_equal(node_tags_keyring(fp, not_map, sizeof(not_map)), IVT_EPROTO);
}

static bool sides_split(void *ctx)
{
    struct cluster *c = ctx;
    for (uint32_t i = 0; i < c->count; i++)
        if (gossip_member_count(node_gossip(c->n[i]), GOSSIP_ALIVE) != 2)
            return false;
    return true;
}

/* Four nodes, cut into {0, 1} and {2, 3}, each side having declared the
 * other dead. */
static void start_split(struct cluster *c)
{
    cluster_start(c, 4);
    assert_true(sim_net_wait(c->net, all_alive, c, 100, 30000));
    sim_net_set_group(c->net, 2, 1);
    sim_net_set_group(c->net, 3, 1);
    sim_net_cut(c->net, 0, 1, true);
    assert_true(sim_net_wait(c->net, sides_split, c, 100, 60000));
}

TEST(node_cluster_partition_heals_to_equal_evidence)
{
    (void)state;
    struct cluster c;
    start_split(&c);
    pred_c = &c;
    /* ... then both see the same IP while cut off from each other */
    struct node_event ev = bot_event("192.0.2.77");
    ivt_ms t = sim_net_now(c.net);
    for (int j = 0; j < 20; j++) {
        observe_at(&c, 0, &ev, t);
        observe_at(&c, 3, &ev, t);
    }
    sim_net_run_for(c.net, 5000);
    assert_true(fleet_requests(c.n[1], "192.0.2.77") == 20);
    assert_true(fleet_requests(c.n[2], "192.0.2.77") == 20);
    sim_net_heal(c.net);
    pred_ip = "192.0.2.77";
    pred_want = 40;
    /* push-pull (lan profile: every 30 s) repairs what the deltas,
     * sent during the cut, never delivered across it */
    bool ok = sim_net_wait(c.net, c_sees_requests, &c, 100, 120000);
    if (!ok) {
        for (uint32_t i = 0; i < c.count; i++) {
            struct gossip_stats gs;
            gossip_get_stats(node_gossip(c.n[i]), &gs);
            fprintf(stderr,
                    "node %u: alive %zu dead %zu requests %g pp started %llu completed %llu failed "
                    "%llu\n",
                    i, gossip_member_count(node_gossip(c.n[i]), GOSSIP_ALIVE),
                    gossip_member_count(node_gossip(c.n[i]), GOSSIP_DEAD),
                    fleet_requests(c.n[i], "192.0.2.77"), (unsigned long long)gs.pushpull_started,
                    (unsigned long long)gs.pushpull_completed,
                    (unsigned long long)gs.pushpull_failed);
        }
    }
    assert_true(ok);
    cluster_stop(&c);
}

static bool same_entities(void *ctx)
{
    struct cluster *c = ctx;
    struct node_stats a, b;
    node_get_stats(c->n[0], &a);
    for (uint32_t i = 1; i < c->count; i++) {
        node_get_stats(c->n[i], &b);
        if (b.entities != a.entities || b.merge_queued_bytes)
            return false;
    }
    return true;
}

TEST(node_cluster_large_repair_arrives_whole)
{
    (void)state;
    /* Evidence gathered during a cut is larger than one merge step takes
     * (MERGE_CHUNK): after the heal it still arrives whole, merged over
     * several ticks. Each address shows two user agents, so it is admitted
     * into the shared evidence. */
    struct cluster c;
    start_split(&c);
    ivt_ms t = sim_net_now(c.net);
    for (uint32_t i = 0; i < 3000; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.1.%u.%u", i / 250, i % 250);
        struct node_event ev = bot_event(ip);
        observe_at(&c, 0, &ev, t);
        ev.ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)";
        ev.ua_len = strlen(ev.ua);
        ev.kind = NODE_EV_IMPRESSION;
        observe_at(&c, 0, &ev, t);
    }
    struct node_stats st;
    node_get_stats(c.n[0], &st);
    assert_true(st.entities > 3000);
    sim_net_heal(c.net);
    assert_true(sim_net_wait(c.net, same_entities, &c, 1000, 900000));
    node_get_stats(c.n[3], &st);
    assert_true(st.entities > 3000);
    assert_true(fleet_requests(c.n[3], "10.1.11.249") == 1);
    cluster_stop(&c);
}

/* ---- admission ----------------------------------------------------------- */

/* One crawler pattern and one hosting range: enough for GIVT hits. */
static struct node_rules *tiny_rules(void)
{
    static const char json[] = "[{\"pattern\": \"Googlebot\\\\/\"}]";
    static const char csv[] = "1.44.96.0,1.44.96.255,16509,\"Amazon.com, Inc.\"\n";
    struct node_rules *r = NULL;
    assert_int_equal(node_rules_new(&r, (const uint8_t *)json, strlen(json), (const uint8_t *)csv,
                                    strlen(csv), NULL, 0),
                     0);
    return r;
}

static bool knows(struct node *n, enum node_entity_kind kind, const char *key)
{
    struct node_report r;
    assert_int_equal(node_lookup(n, &r, kind, key, strlen(key), WALL0), 0);
    return r.known;
}

static void observe_times(struct cluster *c, uint32_t i, struct node_event ev, int times)
{
    ivt_ms t = sim_net_now(c->net);
    for (int j = 0; j < times; j++)
        observe_at(c, i, &ev, t);
}

TEST(node_cluster_admission_gossips_signals_not_one_offs)
{
    (void)state;
    struct node_rules *rules = tiny_rules();
    struct cluster c;
    cluster_start_rules(&c, 3, rules);
    assert_true(sim_net_wait(c.net, all_alive, &c, 100, 30000));
    struct node_thresholds th;
    node_thresholds_defaults(&th);
    th.admit_events = 5;
    th.admit_top_k = 0;
    for (uint32_t i = 0; i < c.count; i++)
        assert_int_equal(node_set_thresholds(c.n[i], &th), 0);

    struct node_event human = bot_event("81.2.69.1");
    human.device = "dev-human";
    human.device_len = strlen(human.device);
    observe_times(&c, 0, human, 1);
    struct node_event crawler = bot_event("81.2.69.2");
    crawler.ua = "Mozilla/5.0 (compatible; Googlebot/2.1)";
    crawler.ua_len = strlen(crawler.ua);
    observe_times(&c, 0, crawler, 1);
    observe_times(&c, 0, bot_event("1.44.96.7"), 1); /* a data-center address */
    observe_times(&c, 0, bot_event("81.2.69.3"), 5); /* at admit_events */
    observe_times(&c, 0, bot_event("81.2.69.4"), 4); /* one short */

    pred_ip = "81.2.69.3";
    pred_want = 5;
    assert_true(sim_net_wait(c.net, c_sees_requests, &c, 50, 5000));
    /* past the next push-pulls too: repairs carry no local-only record */
    sim_net_run_for(c.net, 70000);
    for (uint32_t i = 1; i < c.count; i++) {
        assert_true(knows(c.n[i], NODE_ENT_IP, "81.2.69.2"));
        assert_true(knows(c.n[i], NODE_ENT_IP, "1.44.96.7"));
        assert_true(knows(c.n[i], NODE_ENT_PREFIX, "81.2.69.0/24"));
        assert_false(knows(c.n[i], NODE_ENT_IP, "81.2.69.1"));
        assert_false(knows(c.n[i], NODE_ENT_DEVICE, "dev-human"));
        assert_false(knows(c.n[i], NODE_ENT_IP, "81.2.69.4"));
    }
    /* still scored where it was seen */
    assert_true(knows(c.n[0], NODE_ENT_IP, "81.2.69.1"));
    assert_true(fleet_requests(c.n[0], "81.2.69.4") == 4);
    cluster_stop(&c);
    node_rules_delete(rules);
}

TEST(node_cluster_admitted_at_a_contributed_by_b)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    assert_true(sim_net_wait(c.net, all_alive, &c, 100, 30000));
    /* b (n1) sees the address twice, under every threshold: local only */
    observe_times(&c, 1, bot_event("81.2.69.9"), 2);
    sim_net_run_for(c.net, 2000);
    assert_false(knows(c.n[0], NODE_ENT_IP, "81.2.69.9"));
    /* a (n0) sees it with two user agents: admitted there */
    struct node_event ev = bot_event("81.2.69.9");
    observe_times(&c, 0, ev, 1);
    ev.ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)";
    ev.ua_len = strlen(ev.ua);
    observe_times(&c, 0, ev, 1);
    /* b's earlier evidence joins once the admission reaches it */
    pred_ip = "81.2.69.9";
    pred_want = 4;
    assert_true(sim_net_wait(c.net, c_sees_requests, &c, 50, 5000));
    struct node_report r;
    assert_int_equal(node_lookup(c.n[1], &r, NODE_ENT_IP, "81.2.69.9", 9, WALL0), 0);
    assert_true(r.shared);
    for (int i = 0; i < r.n_metrics; i++)
        if (strcmp(r.metrics[i].name, "origins") == 0)
            assert_true(r.metrics[i].fleet == 2);
    cluster_stop(&c);
}

/* node i's lookup of device "dev-rot": its distinct_ip metric. */
static struct node_metric device_ips(struct cluster *c, uint32_t i)
{
    struct node_report r;
    assert_int_equal(node_lookup(c->n[i], &r, NODE_ENT_DEVICE, "dev-rot", 7, WALL0), 0);
    struct node_metric none = {.local = -2, .fleet = -2};
    for (int k = 0; k < r.n_metrics; k++)
        if (strcmp(r.metrics[k].name, "distinct_ip") == 0)
            return r.metrics[k];
    return none;
}

static bool four_ips_everywhere(void *ctx)
{
    struct cluster *c = ctx;
    for (uint32_t i = 0; i < c->count; i++)
        if (device_ips(c, i).fleet != 4)
            return false;
    return true;
}

/* A device rotating through addresses at two nodes: every node sees the
 * fleet's four, and each its own part of them (what an analyst compares:
 * seen here, or only fleet-wide), also in the reason a score gives. */
TEST(node_cluster_distinct_counts_local_beside_fleet)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    assert_true(sim_net_wait(c.net, all_alive, &c, 100, 30000));
    static const char *const at0[] = {"81.2.70.1", "81.2.70.2", "81.2.70.3"};
    static const char *const at1[] = {"81.2.70.3", "81.2.70.4"};
    for (int k = 0; k < 3; k++) {
        struct node_event ev = bot_event(at0[k]);
        ev.device = "dev-rot";
        ev.device_len = 7;
        observe_times(&c, 0, ev, 1);
    }
    for (int k = 0; k < 2; k++) {
        struct node_event ev = bot_event(at1[k]);
        ev.device = "dev-rot";
        ev.device_len = 7;
        observe_times(&c, 1, ev, 1);
    }
    assert_true(sim_net_wait(c.net, four_ips_everywhere, &c, 50, 10000));
    assert_true(device_ips(&c, 0).local == 3);
    assert_true(device_ips(&c, 1).local == 2);
    assert_true(device_ips(&c, 2).local == 0);
    struct node_thresholds th;
    node_thresholds_defaults(&th);
    th.th_device_distinct_ip = 3;
    assert_int_equal(node_set_thresholds(c.n[1], &th), 0);
    struct node_event ev = bot_event("81.2.70.9");
    ev.device = "dev-rot";
    ev.device_len = 7;
    struct node_score sc;
    ivt_ms t = sim_net_now(c.net);
    assert_int_equal(node_score(c.n[1], &sc, &ev, false, t, WALL0 + t), 0);
    bool found = false;
    for (int k = 0; k < sc.n_reasons; k++)
        if (strcmp(sc.reasons[k].signal, "device_distinct_ip") == 0) {
            found = true;
            assert_true(sc.reasons[k].local == 2 && sc.reasons[k].fleet == 4);
        }
    assert_true(found);
    cluster_stop(&c);
}

static bool same_fingerprint(void *ctx)
{
    struct cluster *c = ctx;
    uint64_t f = node_evidence_fingerprint(c->n[0]);
    for (uint32_t i = 1; i < c->count; i++)
        if (node_evidence_fingerprint(c->n[i]) != f)
            return false;
    return true;
}

TEST(node_cluster_shared_evidence_converges_digests_equal)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    assert_true(sim_net_wait(c.net, all_alive, &c, 100, 30000));
    sim_net_run_for(c.net, 1000);
    char ip[32];
    for (uint32_t i = 0; i < c.count; i++) {
        /* a few one-offs each: local only */
        for (int k = 0; k < 5; k++) {
            snprintf(ip, sizeof(ip), "10.%u.0.%d", i, k);
            observe_times(&c, i, bot_event(ip), 1);
        }
        /* and addresses every node admits: two user agents here */
        for (int k = 0; k < 5; k++) {
            snprintf(ip, sizeof(ip), "10.9.%u.%d", i, k);
            struct node_event ev = bot_event(ip);
            observe_times(&c, i, ev, 1);
            ev.ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)";
            ev.ua_len = strlen(ev.ua);
            observe_times(&c, i, ev, 1);
        }
    }
    assert_false(same_fingerprint(&c));
    assert_true(sim_net_wait(c.net, same_fingerprint, &c, 100, 60000));
    struct node_stats a, b;
    node_get_stats(c.n[0], &a);
    for (uint32_t i = 1; i < c.count; i++) {
        node_get_stats(c.n[i], &b);
        assert_int_equal(b.entities_admitted, a.entities_admitted);
        assert_int_equal(b.entities - b.entities_admitted, 5); /* its own one-offs */
    }
    for (uint32_t i = 0; i < c.count; i++)
        for (uint32_t j = 0; j < c.count; j++) {
            snprintf(ip, sizeof(ip), "10.9.%u.3", j);
            assert_true(fleet_requests(c.n[i], ip) == 2);
            snprintf(ip, sizeof(ip), "10.%u.0.3", j);
            assert_true(knows(c.n[i], NODE_ENT_IP, ip) == (i == j));
        }
    cluster_stop(&c);
}

static bool n0_sees_one_dead(void *ctx)
{
    struct cluster *c = ctx;
    return gossip_member_count(node_gossip(c->n[0]), GOSSIP_DEAD) == 1;
}

/* The host learns of every join and death from the core (the daemon logs
 * them): in order, each state change once, the ring drained by reading. */
TEST(node_cluster_member_changes_reported)
{
    (void)state;
    struct cluster c;
    cluster_start(&c, 3);
    assert_true(sim_net_wait(c.net, all_alive, &c, 100, 30000));
    struct node_member_change ch[64];
    uint64_t dropped = 1;
    size_t k = node_member_changes(c.n[0], ch, 64, &dropped);
    assert_int_equal(dropped, 0);
    int joined = 0;
    for (size_t i = 0; i < k; i++)
        if (ch[i].state_changed && ch[i].state == GOSSIP_ALIVE && ch[i].generation == 1)
            joined += strcmp(ch[i].name, "n1") == 0 || strcmp(ch[i].name, "n2") == 0;
    assert_int_equal(joined, 2);
    assert_int_equal(node_member_changes(c.n[0], ch, 64, NULL), 0);

    sim_net_crash(c.net, 2);
    assert_true(sim_net_wait(c.net, n0_sees_one_dead, &c, 100, 30000));
    k = node_member_changes(c.n[0], ch, 64, NULL);
    int suspect_at = -1, dead_at = -1;
    for (size_t i = 0; i < k; i++) {
        if (!ch[i].state_changed || strcmp(ch[i].name, "n2") != 0)
            continue;
        if (ch[i].state == GOSSIP_SUSPECT && suspect_at < 0)
            suspect_at = (int)i;
        if (ch[i].state == GOSSIP_DEAD) {
            assert_int_equal(dead_at, -1); /* once */
            dead_at = (int)i;
        }
    }
    assert_true(suspect_at >= 0 && dead_at > suspect_at);
    cluster_stop(&c);
}
