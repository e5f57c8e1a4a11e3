/*
 * Unit tests of the node core (node/core.c) on one node, and two nodes
 * exchanging state by snapshot: what the request path and the analyst's
 * commands promise, without a network. Cluster behaviour over gossip is in
 * tests/node/test_cluster.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "gossip/internal.h"
#include "node/detect.h"
#include "node/node.h"
#include "node/rules.h"
#include "tests/test.h"

/* 2026-11-26 00:00:00 UTC: event times in the tests' epoch. */
#define WALL0 ((ivt_ms)1795651200000LL)

static uint8_t *slurp(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", ivt_test_root(), rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static struct node_rules *test_rules(void)
{
    size_t n1, n2;
    uint8_t *j = slurp("node/data/crawler-user-agents.json", &n1);
    uint8_t *c = slurp("node/data/hosting-asn-ipv4.csv", &n2);
    struct node_rules *r = 0;
    char err[256];
    assert_int_equal(node_rules_new(&r, j, n1, c, n2, err, sizeof(err)), 0);
    free(j);
    free(c);
    return r;
}

/* A node's configuration for these tests (libsodium initialized: every
 * node needs it). */
static void test_config(struct node_config *cfg, uint8_t who, const struct node_rules *rules)
{
    if (sodium_init() < 0)
        fail();
    node_config_defaults(cfg);
    memset(cfg->id, who, sizeof(cfg->id));
    cfg->generation = 1;
    snprintf(cfg->name, sizeof(cfg->name), "node-%u", who);
    uint8_t key[32];
    memset(key, 7, sizeof(key));
    assert_int_equal(gossip_keyring_install(&cfg->keyring, key), 0);
    memset(cfg->hash_key, 9, sizeof(cfg->hash_key));
    cfg->addr.family = 0;
    cfg->addr.port = who;
    cfg->rules = rules;
    cfg->max_entities = 10000;
}

static struct node *test_node(uint8_t who, const struct node_rules *rules)
{
    struct node_config cfg;
    test_config(&cfg, who, rules);
    struct node *n = 0;
    assert_int_equal(node_new(&n, &cfg, who, 0, WALL0), 0);
    return n;
}

static struct node_event ev_of(const char *ip, const char *ua, const char *device, const char *pub)
{
    struct node_event ev;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(node_ip_parse(&ev.ip, ip, strlen(ip)), 0);
    ev.ua = ua;
    ev.ua_len = ua ? strlen(ua) : 0;
    ev.device = device;
    ev.device_len = device ? strlen(device) : 0;
    ev.pub = pub;
    ev.pub_len = pub ? strlen(pub) : 0;
    ev.kind = NODE_EV_REQUEST;
    ev.ts = WALL0;
    return ev;
}

static const char *HUMAN_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                              "(KHTML, like Gecko) Chrome/145.0.0.0 Safari/537.36";

static const struct node_metric *metric(const struct node_report *r, const char *name)
{
    for (int i = 0; i < r->n_metrics; i++)
        if (strcmp(r->metrics[i].name, name) == 0)
            return &r->metrics[i];
    return 0;
}

static const struct node_reason *reason(const struct node_score *s, const char *signal)
{
    for (int i = 0; i < s->n_reasons; i++)
        if (strcmp(s->reasons[i].signal, signal) == 0)
            return &s->reasons[i];
    return 0;
}

TEST(node_ip_parse_forms)
{
    (void)state;
    struct node_ip a, b;
    char buf[64];
    assert_int_equal(node_ip_parse(&a, "192.0.2.1", 9), 0);
    assert_int_equal(a.family, 4);
    assert_int_equal(node_ip_parse(&b, "::ffff:192.0.2.1", 16), 0);
    assert_memory_equal(&a, &b, sizeof(a)); /* v4-mapped is the v4 host */
    assert_int_equal(node_ip_parse(&a, "2001:db8::1", 11), 0);
    assert_int_equal(a.family, 6);
    assert_string_equal(node_ip_format(&a, buf, sizeof(buf)), "2001:db8::1");
    assert_int_equal(node_ip_parse(&a, "300.1.1.1", 9), IVT_EINVAL);
    assert_int_equal(node_ip_parse(&a, "", 0), IVT_EINVAL);
    assert_int_equal(node_ip_parse(&a, "1.2.3.4 ", 8), IVT_EINVAL);
    char long_s[100];
    memset(long_s, '1', sizeof(long_s));
    assert_int_equal(node_ip_parse(&a, long_s, sizeof(long_s)), IVT_EINVAL);
    /* v4 text round-trips, the forms with one, two and three digits */
    static const char *const v4[] = {"0.0.0.0", "9.10.99.100", "255.255.255.255", "10.0.7.250",
                                     "100.64.1.9"};
    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
        assert_int_equal(node_ip_parse(&a, v4[i], strlen(v4[i])), 0);
        assert_string_equal(node_ip_format(&a, buf, sizeof(buf)), v4[i]);
    }
    enum node_entity_kind k;
    assert_int_equal(node_entity_kind_parse(&k, "device", 6), 0);
    assert_int_equal(k, NODE_ENT_DEVICE);
    assert_int_equal(node_entity_kind_parse(&k, "dev", 3), IVT_EINVAL);
}

/* gossip.full_digests reaches the node's gossip instance: the operator's
 * way back from hashed push-pull digests (docs/configuration.md). */
TEST(node_full_digests_reach_gossip)
{
    (void)state;
    struct node_rules *rules = test_rules();
    for (int full = 0; full < 2; full++) {
        struct node_config cfg;
        test_config(&cfg, 1, rules);
        cfg.full_digests = full;
        struct node *n = 0;
        assert_int_equal(node_new(&n, &cfg, 1, 0, WALL0), 0);
        assert_int_equal(node_gossip(n)->cfg.pushpull_full_digests, full);
        node_delete(n);
    }
    node_rules_delete(rules);
}

/* gossip.cipher reaches gossip: unset is XChaCha20-Poly1305, and a cipher
 * this host cannot run is refused at node_new, not at the first packet. */
TEST(node_cipher_reaches_gossip)
{
    (void)state;
    struct node_rules *rules = test_rules();
    static const uint8_t asked[] = {0, GOSSIP_AEAD_XCHACHA20POLY1305, GOSSIP_AEAD_AES256GCM};
    static const uint8_t got[] = {GOSSIP_AEAD_XCHACHA20POLY1305, GOSSIP_AEAD_XCHACHA20POLY1305,
                                  GOSSIP_AEAD_AES256GCM};
    for (size_t i = 0; i < sizeof(asked); i++) {
        struct node_config cfg;
        test_config(&cfg, 1, rules);
        cfg.aead = asked[i];
        struct node *n = 0;
        if (!gossip_aead_available((enum gossip_aead)got[i])) {
            assert_int_equal(node_new(&n, &cfg, 1, 0, WALL0), IVT_EINVAL);
            continue;
        }
        assert_int_equal(node_new(&n, &cfg, 1, 0, WALL0), 0);
        assert_int_equal(node_gossip(n)->cfg.aead, got[i]);
        node_delete(n);
    }
    struct node_config cfg;
    test_config(&cfg, 1, rules);
    cfg.aead = 9;
    struct node *n = 0;
    assert_int_equal(node_new(&n, &cfg, 1, 0, WALL0), IVT_EINVAL);
    node_rules_delete(rules);
}

TEST(node_human_scores_ok_and_counts)
{
    (void)state;
    struct node_rules *rules = test_rules();
    struct node *n = test_node(1, rules);
    struct node_event ev = ev_of("81.2.69.160", HUMAN_UA, "dev-1", "pub-a");
    struct node_score s;
    for (int i = 0; i < 5; i++)
        assert_int_equal(node_score(n, &s, &ev, true, i, WALL0 + i), 0);
    assert_int_equal(s.verdict, NODE_VERDICT_OK);
    assert_true(s.score < 50);
    assert_false(s.decided);

    struct node_report r;
    assert_int_equal(node_lookup(n, &r, NODE_ENT_IP, "81.2.69.160", 11, WALL0), 0);
    assert_true(r.known);
    assert_true(metric(&r, "requests")->local == 5);
    assert_true(metric(&r, "requests")->fleet == 5);
    assert_true(metric(&r, "distinct_ua")->fleet == 1);
    assert_int_equal(node_lookup(n, &r, NODE_ENT_PREFIX, "81.2.69.0/24", 12, WALL0), 0);
    assert_true(r.known);
    assert_int_equal(node_lookup(n, &r, NODE_ENT_IP, "81.2.69.161", 11, WALL0), 0);
    assert_false(r.known);

    /* score without observing leaves the evidence unchanged */
    assert_int_equal(node_score(n, &s, &ev, false, 10, WALL0 + 10), 0);
    assert_int_equal(node_lookup(n, &r, NODE_ENT_IP, "81.2.69.160", 11, WALL0), 0);
    assert_true(metric(&r, "requests")->fleet == 5);
    struct node_stats st;
    node_get_stats(n, &st);
    assert_int_equal(st.events_observed, 5);
    assert_int_equal(st.scores, 6);
    node_delete(n);
    node_rules_delete(rules);
}

TEST(node_givt_crawler_and_datacenter)
{
    (void)state;
    struct node_rules *rules = test_rules();
    struct node *n = test_node(1, rules);
    struct node_score s;
    struct node_event ev = ev_of("81.2.69.160",
                                 "Mozilla/5.0 (compatible; Googlebot/2.1; "
                                 "+http://www.google.com/bot.html)",
                                 0, "pub-a");
    assert_int_equal(node_score(n, &s, &ev, true, 0, WALL0), 0);
    assert_int_equal(s.verdict, NODE_VERDICT_BOT);
    assert_int_equal(s.class_, NODE_CLASS_GIVT);
    assert_non_null(reason(&s, "crawler_ua"));

    ev = ev_of("1.44.96.7", HUMAN_UA, 0, "pub-a"); /* an Amazon range */
    assert_int_equal(node_score(n, &s, &ev, true, 0, WALL0), 0);
    assert_int_equal(s.class_, NODE_CLASS_GIVT);
    const struct node_reason *why = reason(&s, "datacenter_ip");
    assert_non_null(why);
    assert_non_null(strstr(why->detail, "Amazon"));
    node_delete(n);
    node_rules_delete(rules);
}

TEST(node_sivt_many_user_agents_per_ip)
{
    (void)state;
    struct node *n = test_node(1, 0);
    struct node_score s;
    char ua[64];
    for (int i = 0; i < 40; i++) {
        snprintf(ua, sizeof(ua), "Mozilla/5.0 bot-variant-%d", i);
        struct node_event ev = ev_of("203.0.113.9", ua, 0, "pub-b");
        assert_int_equal(node_score(n, &s, &ev, true, i, WALL0 + i), 0);
    }
    assert_int_equal(s.class_, NODE_CLASS_SIVT);
    assert_true(s.verdict >= NODE_VERDICT_SUSPECT);
    const struct node_reason *why = reason(&s, "ip_distinct_ua");
    assert_non_null(why);
    assert_true(why->fleet >= 38 && why->fleet <= 42);
    assert_true(why->fleet >= why->threshold);

    struct node_top_row rows[4];
    size_t k = node_top(n, rows, 4, -1, WALL0);
    assert_true(k >= 1);
    assert_int_equal(rows[0].kind, NODE_ENT_IP);
    assert_string_equal(rows[0].key, "203.0.113.9");
    for (size_t i = 1; i < k; i++)
        assert_true(rows[i - 1].score >= rows[i].score);
    k = node_top(n, rows, 4, NODE_ENT_PUB, WALL0);
    for (size_t i = 0; i < k; i++)
        assert_int_equal(rows[i].kind, NODE_ENT_PUB);
    node_delete(n);
}

TEST(node_decisions_override_and_expire)
{
    (void)state;
    struct node *n = test_node(1, 0);
    struct node_score s;
    struct node_event ev = ev_of("198.51.100.7", HUMAN_UA, "dev-9", "pub-a");
    assert_int_equal(node_decide(n, NODE_ENT_IP, "198.51.100.7", 12, NODE_ACT_BAN, IVT_MS_PER_HOUR,
                                 "abuse report 42", 0, WALL0),
                     0);
    assert_int_equal(node_score(n, &s, &ev, false, 0, WALL0 + 1), 0);
    assert_true(s.decided);
    assert_int_equal(s.score, 100);
    assert_int_equal(s.verdict, NODE_VERDICT_BOT);
    assert_non_null(strstr(s.reasons[0].detail, "abuse report 42"));

    /* the more specific entity wins: an allowed IP behind a banned device */
    assert_int_equal(node_decide(n, NODE_ENT_DEVICE, "dev-9", 5, NODE_ACT_BAN, IVT_MS_PER_HOUR,
                                 "farm", 0, WALL0),
                     0);
    assert_int_equal(node_decide(n, NODE_ENT_IP, "198.51.100.7", 12, NODE_ACT_ALLOW,
                                 IVT_MS_PER_HOUR, "our office", 0, WALL0 + 2),
                     0);
    assert_int_equal(node_score(n, &s, &ev, false, 0, WALL0 + 3), 0);
    assert_true(s.decided);
    assert_int_equal(s.verdict, NODE_VERDICT_OK);

    struct node_decision rows[8];
    assert_int_equal(node_decisions(n, rows, 8, WALL0 + 3), 2);
    /* after the TTL nothing is in force */
    assert_int_equal(node_decisions(n, rows, 8, WALL0 + IVT_MS_PER_HOUR + 10), 0);
    assert_int_equal(node_score(n, &s, &ev, false, 0, WALL0 + IVT_MS_PER_HOUR + 10), 0);
    assert_false(s.decided);
    /* clear */
    assert_int_equal(
        node_decide(n, NODE_ENT_PUB, "pub-a", 5, NODE_ACT_BAN, IVT_MS_PER_HOUR, "", 0, WALL0 + 20),
        0);
    assert_int_equal(node_decide(n, NODE_ENT_PUB, "pub-a", 5, NODE_ACT_CLEAR, 0, "", 0, WALL0 + 21),
                     0);
    assert_int_equal(node_decisions(n, rows, 8, WALL0 + 22), 2);
    /* bad input */
    assert_int_equal(node_decide(n, NODE_ENT_IP, "not-an-ip", 9, NODE_ACT_BAN, 1000, "", 0, WALL0),
                     IVT_EINVAL);
    assert_int_equal(node_decide(n, NODE_ENT_PUB, "x", 1, NODE_ACT_BAN, 0, "", 0, WALL0),
                     IVT_EINVAL);
    assert_int_equal(node_decide(n, NODE_ENT_PUB, "x", 1, NODE_ACT_BAN,
                                 (ivt_ms)400 * IVT_MS_PER_DAY, "", 0, WALL0),
                     IVT_EINVAL);
    node_delete(n);
}

/* A prefix is named by any address in it or by ADDR/24 (/48): each form
 * reaches the prefix evidence is kept under, so a ban on it takes; other
 * lengths are refused rather than stored where nothing ever matches. */
TEST(node_prefix_keys_are_canonical)
{
    (void)state;
    struct node *n = test_node(1, 0);
    struct node_score s;
    struct node_event ev = ev_of("198.51.100.77", HUMAN_UA, NULL, "pub-a");
    assert_int_equal(node_observe(n, &ev, 0, WALL0), 0);
    static const char *const same[] = {"198.51.100.0/24", "198.51.100.7", "198.51.100.250/24",
                                       "::ffff:198.51.100.1"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        struct node_report r;
        assert_int_equal(node_lookup(n, &r, NODE_ENT_PREFIX, same[i], strlen(same[i]), WALL0), 0);
        assert_string_equal(r.key, "198.51.100.0/24");
        assert_true(r.known);
    }
    struct node_report r;
    assert_int_equal(node_lookup(n, &r, NODE_ENT_PREFIX, "2001:db8:1:2::9/48", 18, WALL0), 0);
    assert_string_equal(r.key, "2001:db8:1::/48");
    static const char *const bad[] = {"198.51.100.0/16", "198.51.100.0/", "198.51.100.0/240",
                                      "2001:db8::/24",   "not-a-prefix",  "/24"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(node_lookup(n, &r, NODE_ENT_PREFIX, bad[i], strlen(bad[i]), WALL0),
                         IVT_EINVAL);
        assert_int_equal(node_decide(n, NODE_ENT_PREFIX, bad[i], strlen(bad[i]), NODE_ACT_BAN,
                                     IVT_MS_PER_HOUR, "", 0, WALL0),
                         IVT_EINVAL);
    }
    /* A ban named by a host address covers every address of its /24. */
    assert_int_equal(node_decide(n, NODE_ENT_PREFIX, "198.51.100.7", 12, NODE_ACT_BAN,
                                 IVT_MS_PER_HOUR, "range", 0, WALL0),
                     0);
    assert_int_equal(node_score(n, &s, &ev, false, 0, WALL0 + 1), 0);
    assert_true(s.decided);
    assert_int_equal(s.verdict, NODE_VERDICT_BOT);
    struct node_decision rows[2];
    assert_int_equal(node_decisions(n, rows, 2, WALL0 + 1), 1);
    assert_string_equal(rows[0].key, "198.51.100.0/24");
    node_delete(n);
}

static void snapshot(struct node *n, struct ivt_mpw *w)
{
    ivt_mpw_init_dyn(w, 64 << 20);
    assert_int_equal(node_snapshot(n, w, WALL0), 0);
}

TEST(node_spread_thin_seen_fleet_wide)
{
    (void)state;
    /* A bot IP sends 30 requests to each of three nodes: each node alone
     * is under the 60-requests threshold; merged, the fleet is over it. */
    struct node *nodes[3];
    for (int i = 0; i < 3; i++)
        nodes[i] = test_node((uint8_t)(i + 1), 0);
    struct node_thresholds th;
    node_thresholds_defaults(&th);
    th.th_ip_requests = 60;
    for (int i = 0; i < 3; i++)
        assert_int_equal(node_set_thresholds(nodes[i], &th), 0);
    struct node_event ev = ev_of("192.0.2.200", HUMAN_UA, 0, "pub-c");
    struct node_score s;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 30; j++)
            assert_int_equal(node_observe(nodes[i], &ev, j, WALL0 + j), 0);
    assert_int_equal(node_score(nodes[2], &s, &ev, false, 0, WALL0 + 100), 0);
    assert_int_equal(s.verdict, NODE_VERDICT_OK);

    /* C learns A's and B's evidence (as push-pull would carry it) */
    for (int i = 0; i < 2; i++) {
        struct ivt_mpw w;
        snapshot(nodes[i], &w);
        assert_int_equal(node_restore(nodes[2], w.data, w.len, WALL0 + 100), 0);
        ivt_mpw_destroy(&w);
    }
    assert_int_equal(node_score(nodes[2], &s, &ev, false, 0, WALL0 + 100), 0);
    const struct node_reason *why = reason(&s, "ip_requests");
    assert_non_null(why);
    assert_true(why->local == 30);
    assert_true(why->fleet == 90);
    assert_true(s.verdict >= NODE_VERDICT_SUSPECT);
    assert_int_equal(s.class_, NODE_CLASS_SIVT);
    /* merging the same evidence again changes nothing (idempotent) */
    struct ivt_mpw w;
    snapshot(nodes[0], &w);
    assert_int_equal(node_restore(nodes[2], w.data, w.len, WALL0 + 100), 0);
    ivt_mpw_destroy(&w);
    struct node_report r;
    assert_int_equal(node_lookup(nodes[2], &r, NODE_ENT_IP, "192.0.2.200", 11, WALL0 + 100), 0);
    assert_true(metric(&r, "requests")->fleet == 90);
    assert_true(metric(&r, "origins")->fleet == 3);
    for (int i = 0; i < 3; i++)
        node_delete(nodes[i]);
}

/* Node 1's saved state after n requests of one human at WALL0, and a
 * ban of its publisher when ban is set; the node is gone. */
static void saved_node(struct ivt_mpw *w, int n, bool ban)
{
    struct node *a = test_node(1, 0);
    struct node_event ev = ev_of("192.0.2.1", HUMAN_UA, "d1", "p1");
    for (int j = 0; j < n; j++)
        assert_int_equal(node_observe(a, &ev, j, WALL0 + j), 0);
    if (ban)
        assert_int_equal(
            node_decide(a, NODE_ENT_PUB, "p1", 2, NODE_ACT_BAN, IVT_MS_PER_HOUR, "fraud", 0, WALL0),
            0);
    snapshot(a, w);
    node_delete(a);
}

TEST(node_restart_restores_snapshot)
{
    (void)state;
    struct node_event ev = ev_of("192.0.2.1", HUMAN_UA, "d1", "p1");
    struct ivt_mpw w;
    saved_node(&w, 7, true);

    /* the same id, a new generation: the old slot is another origin now */
    struct node_config cfg;
    test_config(&cfg, 1, 0);
    cfg.generation = 2;
    struct node *b = 0;
    assert_int_equal(node_new(&b, &cfg, 5, 0, WALL0 + 1000), 0);
    assert_int_equal(node_restore(b, w.data, w.len, WALL0 + 1000), 0);
    assert_int_equal(node_observe(b, &ev, 0, WALL0 + 1000), 0);
    struct node_report r;
    assert_int_equal(node_lookup(b, &r, NODE_ENT_IP, "192.0.2.1", 9, WALL0 + 1000), 0);
    assert_true(metric(&r, "requests")->fleet == 8);
    assert_true(metric(&r, "requests")->local == 1);
    struct node_decision d[2];
    assert_int_equal(node_decisions(b, d, 2, WALL0 + 1000), 1);
    assert_string_equal(d[0].reason, "fraud");

    /* a damaged snapshot is refused without harm */
    for (size_t cut = 0; cut < w.len; cut += 1 + w.len / 64)
        assert_true(node_restore(b, w.data, cut, WALL0 + 1000) < 0);
    w.data[0] = 0x93;
    w.data[1] = 0x07; /* version 7 */
    assert_int_equal(node_restore(b, w.data, w.len, WALL0 + 1000), IVT_EVERSION);
    assert_int_equal(node_lookup(b, &r, NODE_ENT_IP, "192.0.2.1", 9, WALL0 + 1000), 0);
    assert_true(metric(&r, "requests")->fleet == 8);
    ivt_mpw_destroy(&w);
    node_delete(b);
}

/* Evidence a merge reads and does not join is counted by reason, as
 * ivtd_evidence_ignored_total shows it: a snapshot restored by a node
 * whose clock is hours ahead holds only epochs older than its window; one
 * restored by a node whose clock is behind holds epochs after its next. */
TEST(node_counts_evidence_it_ignores)
{
    (void)state;
    struct ivt_mpw w;
    saved_node(&w, 5, false);
    struct node_config cfg;
    struct node_stats st;
    ivt_ms shift[2] = {3 * IVT_MS_PER_HOUR, -IVT_MS_PER_HOUR};
    for (int k = 0; k < 2; k++) {
        test_config(&cfg, 2, 0);
        struct node *b = 0;
        assert_int_equal(node_new(&b, &cfg, 5, 0, WALL0 + shift[k]), 0);
        assert_int_equal(node_restore(b, w.data, w.len, WALL0 + shift[k]), 0);
        node_get_stats(b, &st);
        assert_true(k == 0 ? st.ignored_expired > 0 : st.ignored_future > 0);
        assert_int_equal(k == 0 ? st.ignored_future : st.ignored_expired, 0);
        assert_int_equal(st.ignored_old_format + st.ignored_origins_full, 0);
        assert_int_equal(st.entities, 0); /* nothing in its window */
        node_delete(b);
    }
    ivt_mpw_destroy(&w);
}

TEST(node_rejects_bad_events)
{
    (void)state;
    struct node *n = test_node(1, 0);
    struct node_event ev = ev_of("192.0.2.1", HUMAN_UA, 0, "p");
    ev.ip.family = 0;
    assert_int_equal(node_observe(n, &ev, 0, WALL0), IVT_EINVAL);
    ev = ev_of("192.0.2.1", HUMAN_UA, 0, "p");
    ev.ts = WALL0 + (ivt_ms)10 * IVT_MS_PER_DAY; /* far future */
    assert_int_equal(node_observe(n, &ev, 0, WALL0), IVT_ESTALE);
    ev.ts = WALL0 - (ivt_ms)10 * IVT_MS_PER_DAY; /* older than the window */
    assert_int_equal(node_observe(n, &ev, 0, WALL0), IVT_ESTALE);
    ev.kind = (enum node_event_kind)9;
    ev.ts = WALL0;
    assert_int_equal(node_observe(n, &ev, 0, WALL0), IVT_EINVAL);
    struct node_stats st;
    node_get_stats(n, &st);
    assert_int_equal(st.events_rejected, 4);
    assert_int_equal(st.events_observed, 0);
    node_delete(n);
}

/* node_observe_batch does what a node_observe per event does: the same
 * result per event, stats (admissions by reason among them), evidence and
 * shared set, for random batches of events that repeat entities, cross
 * the admission thresholds (events, distinct counts, heavy hitters, GIVT
 * hits), fill the store past max_entities, and include invalid and stale
 * events. */
TEST(node_observe_batch_equals_calls)
{
    (void)state;
    struct node_rules *rules = test_rules();
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    static const char *uas[] = {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Mozilla/5.0 (X11; Linux x86_64)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", NULL};
    static const char *ips[] = {"81.2.69.%u", "1.44.96.%u", "2001:db8::%u"};
    uint64_t admitted[NODE_ADMIT_REASONS] = {0}, evicted = 0;
    for (int t = 0; t < 4; t++) {
        struct node *n[2];
        for (int k = 0; k < 2; k++) {
            struct node_config cfg;
            test_config(&cfg, 1, rules);
            cfg.max_entities = 64; /* evictions */
            assert_int_equal(node_new(&n[k], &cfg, 1, 0, WALL0), 0);
            struct node_thresholds th;
            node_thresholds_defaults(&th);
            th.admit_events = 4;
            th.admit_top_k = 8;
            th.admit_top_min = 3;
            assert_int_equal(node_set_thresholds(n[k], &th), 0);
        }
        enum { N = 300 };
        struct node_event ev[N];
        char ip[N][48], dev[N][16], pub[N][16];
        for (int i = 0; i < N; i++) {
            snprintf(ip[i], sizeof(ip[i]), ips[ivt_rng_below(&rng, 3)],
                     (unsigned)ivt_rng_below(&rng, 10));
            snprintf(dev[i], sizeof(dev[i]), "dev-%u", (unsigned)ivt_rng_below(&rng, 30));
            snprintf(pub[i], sizeof(pub[i]), "pub-%u", (unsigned)ivt_rng_below(&rng, 3));
            ev[i] = ev_of(ip[i], uas[ivt_rng_below(&rng, 4)],
                          ivt_rng_below(&rng, 4) ? dev[i] : NULL, pub[i]);
            ev[i].kind = (enum node_event_kind)ivt_rng_below(&rng, 3);
            ev[i].ts = WALL0 + (ivt_ms)ivt_rng_below(&rng, 3) * 60000;
            switch (ivt_rng_below(&rng, 40)) {
            case 0: ev[i].ip.family = 0; break;                            /* no address */
            case 1: ev[i].kind = (enum node_event_kind)7; break;           /* bad kind */
            case 2: ev[i].ts = WALL0 - (ivt_ms)10 * IVT_MS_PER_DAY; break; /* stale */
            default: break;
            }
        }
        int want[N], got[N];
        size_t accepted = 0;
        for (int i = 0; i < N; i++) {
            want[i] = node_observe(n[0], &ev[i], 0, WALL0 + 60000);
            accepted += want[i] == 0;
        }
        size_t got_accepted = 0;
        for (int i = 0; i < N;) {
            int m = 1 + (int)ivt_rng_below(&rng, 40);
            if (m > N - i)
                m = N - i;
            got_accepted += node_observe_batch(n[1], got + i, ev + i, (size_t)m, 0, WALL0 + 60000);
            i += m;
        }
        assert_int_equal(got_accepted, accepted);
        assert_memory_equal(got, want, sizeof(want));
        struct node_stats sa, sb;
        node_get_stats(n[0], &sa);
        node_get_stats(n[1], &sb);
        assert_memory_equal(&sa, &sb, sizeof(sa));
        assert_true(sa.entities_evicted > 0);
        for (int r = 0; r < NODE_ADMIT_REASONS; r++)
            admitted[r] += sa.admissions[r];
        evicted += sa.entities_evicted;
        assert_int_equal(node_evidence_fingerprint(n[0]), node_evidence_fingerprint(n[1]));
        struct ivt_mpw wa, wb;
        snapshot(n[0], &wa);
        snapshot(n[1], &wb);
        assert_int_equal(wa.len, wb.len);
        assert_memory_equal(wa.data, wb.data, wa.len);
        ivt_mpw_destroy(&wa);
        ivt_mpw_destroy(&wb);
        node_delete(n[0]);
        node_delete(n[1]);
    }
    /* the runs reached what they are meant to cover */
    assert_true(evicted > 0);
    assert_true(admitted[NODE_ADMIT_RULE] > 0 && admitted[NODE_ADMIT_EVENTS] > 0 &&
                admitted[NODE_ADMIT_DISTINCT] > 0);
    node_rules_delete(rules);
}

/* One request from each of `count` addresses 10.0.0.0, 10.0.0.1, ... */
static void observe_addresses(struct node *n, int count)
{
    char ip[32];
    for (int i = 0; i < count; i++) {
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        struct node_event ev = ev_of(ip, HUMAN_UA, 0, "p");
        assert_int_equal(node_observe(n, &ev, 0, WALL0), 0);
    }
}

TEST(node_memory_bounded_by_max_entities)
{
    (void)state;
    struct node_config cfg;
    test_config(&cfg, 1, 0);
    cfg.max_entities = 256;
    struct node *n = 0;
    assert_int_equal(node_new(&n, &cfg, 1, 0, WALL0), 0);
    observe_addresses(n, 5000);
    struct node_stats st;
    node_get_stats(n, &st);
    assert_true(st.entities <= 256);
    assert_true(st.entities_evicted > 0);
    node_delete(n);
}

TEST(node_score_prefix_counts_exact_between_merges)
{
    (void)state;
    /* A score reads a prefix's (and publisher's) counters from a cache
     * (node/core.c): its own events and merged evidence must still show in
     * the very next score, at the same instant. */
    struct node *a = test_node(1, 0), *b = test_node(2, 0);
    struct node_thresholds th;
    node_thresholds_defaults(&th);
    th.th_prefix_requests = 3;
    assert_int_equal(node_set_thresholds(a, &th), 0);
    char ip[32];
    struct node_score s;
    for (int i = 1; i <= 6; i++) {
        snprintf(ip, sizeof(ip), "198.51.100.%d", i);
        struct node_event ev = ev_of(ip, HUMAN_UA, 0, "pub-p");
        assert_int_equal(node_score(a, &s, &ev, true, 0, WALL0), 0);
        const struct node_reason *r = reason(&s, "prefix_requests");
        if (i >= 3) {
            assert_non_null(r);
            assert_true(r->fleet == i);
            assert_true(r->local == i);
        }
    }
    for (int i = 0; i < 10; i++) {
        struct node_event ev = ev_of("198.51.100.200", HUMAN_UA, 0, "pub-p");
        assert_int_equal(node_observe(b, &ev, 0, WALL0), 0);
    }
    struct ivt_mpw w;
    snapshot(b, &w);
    assert_int_equal(node_restore(a, w.data, w.len, WALL0), 0);
    ivt_mpw_destroy(&w);
    struct node_event ev = ev_of("198.51.100.7", HUMAN_UA, 0, "pub-p");
    assert_int_equal(node_score(a, &s, &ev, true, 0, WALL0), 0);
    const struct node_reason *r = reason(&s, "prefix_requests");
    assert_non_null(r);
    assert_true(r->fleet == 17);
    assert_true(r->local == 7);
    node_delete(a);
    node_delete(b);
}

/* The core gives the detector what a shared address needs (distinct
 * devices and events per IP): 100 phones behind one carrier address, each
 * back four times with its own browser, are judged per household; the
 * same volume and user agents from an address with no device ids is not. */
TEST(node_shared_ip_judged_per_household)
{
    (void)state;
    struct node *n = test_node(1, 0);
    struct node_thresholds th;
    node_thresholds_defaults(&th);
    th.th_ip_requests = 100;
    assert_int_equal(node_set_thresholds(n, &th), 0);
    char ua[30][64], dev[100][17];
    for (int u = 0; u < 30; u++)
        snprintf(ua[u], sizeof(ua[u]), "Mozilla/5.0 (Linux; Android 14; Phone %02d) Mobile", u);
    for (int d = 0; d < 100; d++)
        snprintf(dev[d], sizeof(dev[d]), "%016x", 0x5eed0000u + (unsigned)d);
    for (int r = 0; r < 4; r++)
        for (int d = 0; d < 100; d++) {
            struct node_event ev = ev_of("100.64.7.1", ua[d % 30], dev[d], "pub-a");
            assert_int_equal(node_observe(n, &ev, 0, WALL0 + r * 100 + d), 0);
            struct node_event bot = ev_of("192.0.2.77", ua[d % 30], 0, "pub-a");
            assert_int_equal(node_observe(n, &bot, 0, WALL0 + r * 100 + d), 0);
        }
    struct node_score s;
    struct node_event ev = ev_of("100.64.7.1", ua[0], dev[0], "pub-a");
    assert_int_equal(node_score(n, &s, &ev, false, 0, WALL0 + 500), 0);
    assert_int_equal(s.verdict, NODE_VERDICT_OK);
    const struct node_reason *why = reason(&s, "shared_ip");
    assert_non_null(why);
    assert_true(why->fleet >= 95 && why->fleet <= 105); /* a HyperLogLog past 16 items */
    assert_int_equal(why->points, 0);

    struct node_event bot = ev_of("192.0.2.77", ua[0], 0, "pub-a");
    assert_int_equal(node_score(n, &s, &bot, false, 0, WALL0 + 500), 0);
    assert_int_equal(s.verdict, NODE_VERDICT_BOT);
    assert_null(reason(&s, "shared_ip"));
    assert_non_null(reason(&s, "ip_requests"));
    node_delete(n);
}

static bool shared(struct node *n, enum node_entity_kind kind, const char *key)
{
    struct node_report r;
    assert_int_equal(node_lookup(n, &r, kind, key, strlen(key), WALL0), 0);
    assert_true(r.known);
    return r.shared;
}

TEST(node_admission_by_local_signals)
{
    (void)state;
    struct node_rules *rules = test_rules();
    struct node *n = test_node(1, rules);
    struct node_thresholds th;
    node_thresholds_defaults(&th);
    th.admit_events = -1;
    assert_int_equal(node_set_thresholds(n, &th), IVT_EINVAL);
    th.admit_events = 10;
    th.admit_top_k = 5000; /* over CRDT_HH_K_MAX */
    assert_int_equal(node_set_thresholds(n, &th), IVT_EINVAL);
    th.admit_top_k = 0; /* heavy hitters below, alone */
    assert_int_equal(node_set_thresholds(n, &th), 0);

    /* a one-off human: its IP and device stay here, the coarse kinds are shared */
    struct node_event ev = ev_of("81.2.69.1", HUMAN_UA, "dev-1", "pub-a");
    assert_int_equal(node_observe(n, &ev, 0, WALL0), 0);
    assert_false(shared(n, NODE_ENT_IP, "81.2.69.1"));
    assert_false(shared(n, NODE_ENT_DEVICE, "dev-1"));
    assert_true(shared(n, NODE_ENT_PREFIX, "81.2.69.0/24"));
    assert_true(shared(n, NODE_ENT_UA, HUMAN_UA));
    assert_true(shared(n, NODE_ENT_PUB, "pub-a"));

    /* GIVT hits: a crawler user agent, a data-center address */
    ev = ev_of("81.2.69.2",
               "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0,
               "pub-a");
    assert_int_equal(node_observe(n, &ev, 0, WALL0), 0);
    assert_true(shared(n, NODE_ENT_IP, "81.2.69.2"));
    ev = ev_of("1.44.96.7", HUMAN_UA, "dev-dc", "pub-a");
    assert_int_equal(node_observe(n, &ev, 0, WALL0), 0);
    assert_true(shared(n, NODE_ENT_IP, "1.44.96.7"));
    assert_true(shared(n, NODE_ENT_DEVICE, "dev-dc"));

    /* local events at admit_events, and not one before */
    ev = ev_of("81.2.69.3", HUMAN_UA, 0, "pub-a");
    for (int i = 0; i < 9; i++)
        assert_int_equal(node_observe(n, &ev, 0, WALL0 + i), 0);
    assert_false(shared(n, NODE_ENT_IP, "81.2.69.3"));
    ev.kind = NODE_EV_CLICK; /* every kind of event counts */
    assert_int_equal(node_observe(n, &ev, 0, WALL0 + 9), 0);
    assert_true(shared(n, NODE_ENT_IP, "81.2.69.3"));

    /* two user agents on an IP, two IPs for a device */
    ev = ev_of("81.2.69.4", HUMAN_UA, "dev-roam", "pub-a");
    assert_int_equal(node_observe(n, &ev, 0, WALL0), 0);
    assert_false(shared(n, NODE_ENT_IP, "81.2.69.4"));
    ev.ua = "Mozilla/5.0 (X11; Linux x86_64)";
    ev.ua_len = strlen(ev.ua);
    assert_int_equal(node_observe(n, &ev, 0, WALL0), 0);
    assert_true(shared(n, NODE_ENT_IP, "81.2.69.4"));
    assert_false(shared(n, NODE_ENT_DEVICE, "dev-roam"));
    ev = ev_of("81.2.70.9", HUMAN_UA, "dev-roam", "pub-a");
    assert_int_equal(node_observe(n, &ev, 0, WALL0), 0);
    assert_true(shared(n, NODE_ENT_DEVICE, "dev-roam"));

    /* a manual decision, on an entity seen before and on one seen after */
    assert_int_equal(
        node_decide(n, NODE_ENT_IP, "81.2.69.1", 9, NODE_ACT_BAN, IVT_MS_PER_HOUR, "t", 0, WALL0),
        0);
    assert_true(shared(n, NODE_ENT_IP, "81.2.69.1"));
    assert_int_equal(
        node_decide(n, NODE_ENT_IP, "81.2.69.5", 9, NODE_ACT_ALLOW, IVT_MS_PER_HOUR, "t", 0, WALL0),
        0);
    ev = ev_of("81.2.69.5", HUMAN_UA, 0, "pub-a");
    assert_int_equal(node_observe(n, &ev, 0, WALL0), 0);
    assert_true(shared(n, NODE_ENT_IP, "81.2.69.5"));

    /* one of the epoch's heavy hitters, long before admit_events */
    th.admit_top_k = 8;
    th.admit_top_min = 3;
    assert_int_equal(node_set_thresholds(n, &th), 0);
    ev = ev_of("81.2.69.6", HUMAN_UA, 0, "pub-a");
    for (int i = 0; i < 2; i++)
        assert_int_equal(node_observe(n, &ev, 0, WALL0 + i), 0);
    assert_false(shared(n, NODE_ENT_IP, "81.2.69.6"));
    assert_int_equal(node_observe(n, &ev, 0, WALL0 + 2), 0);
    assert_true(shared(n, NODE_ENT_IP, "81.2.69.6"));

    struct node_stats st;
    node_get_stats(n, &st);
    assert_int_equal(st.admissions[NODE_ADMIT_RULE], 3);
    assert_int_equal(st.admissions[NODE_ADMIT_EVENTS], 1);
    assert_int_equal(st.admissions[NODE_ADMIT_DISTINCT], 2);
    assert_int_equal(st.admissions[NODE_ADMIT_DECISION], 2);
    assert_int_equal(st.admissions[NODE_ADMIT_HEAVY], 1);
    /* local only: the one-off 81.2.70.9 and dev-1; prefixes, user agents
     * and the publisher are always shared */
    assert_int_equal(st.entities - st.entities_admitted, 2);
    node_delete(n);

    /* admit_all: the admission step off, every entity shared */
    struct node_config cfg;
    test_config(&cfg, 2, rules);
    cfg.admit_all = true;
    assert_int_equal(node_new(&n, &cfg, 2, 0, WALL0), 0);
    ev = ev_of("81.2.69.1", HUMAN_UA, "dev-1", "pub-a");
    assert_int_equal(node_observe(n, &ev, 0, WALL0), 0);
    assert_true(shared(n, NODE_ENT_IP, "81.2.69.1"));
    assert_true(shared(n, NODE_ENT_DEVICE, "dev-1"));
    node_get_stats(n, &st);
    assert_int_equal(st.entities_admitted, st.entities);
    node_delete(n);
    node_rules_delete(rules);
}

/* An epoch roll that expires most of the store is done a piece per
 * node_tick, and the node asks for the next tick at once until it is done:
 * a daemon holding a million entities never stalls its loop for the whole
 * walk, and the expired evidence is still gone within a few ticks. */
TEST(node_epoch_roll_in_pieces)
{
    (void)state;
    struct node_config cfg;
    test_config(&cfg, 1, 0);
    cfg.max_entities = 40000;
    cfg.epoch_ms = 60000;
    cfg.window_epochs = 10;
    struct node *n = 0;
    assert_int_equal(node_new(&n, &cfg, 1, 0, WALL0), 0);
    observe_addresses(n, 20000);
    struct node_stats st;
    node_get_stats(n, &st);
    uint64_t live = st.entities;
    assert_true(live > 20000);
    /* 30 epochs later every entity's evidence is out of the window. */
    ivt_ms now = 1000, wall = WALL0 + 30 * 60000;
    assert_int_equal(node_tick(n, now, wall), 0);
    node_get_stats(n, &st);
    assert_true(st.entities > 0); /* one piece done, not the whole walk */
    assert_true(st.entities_expired < live);
    int ticks = 1;
    while (node_next_deadline(n) <= now && ticks < 1000) {
        assert_int_equal(node_tick(n, now, wall), 0);
        ticks++;
    }
    node_get_stats(n, &st);
    assert_int_equal(st.entities, 0);
    assert_int_equal(st.entities_expired, live);
    assert_true(ticks > 1);
    node_delete(n);
}

/* A flush round publishes at most FLUSH_PAYLOADS_PER_TICK (4) payloads per
 * node_tick, so one round's dozen never holds the host's loop at once:
 * the rest go at the following ticks, which the node asks for at once. */
TEST(node_flush_round_spreads_over_ticks)
{
    (void)state;
    struct node_config cfg;
    test_config(&cfg, 1, NULL);
    cfg.admit_all = true;
    cfg.gossip_bytes_per_s = 1 << 20; /* tokens for far more than a tick's payloads */
    struct node *n = 0;
    assert_int_equal(node_new(&n, &cfg, 1, 0, WALL0), 0);
    ivt_ms t = 0;
    for (uint32_t i = 0; i < 2000; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.9.%u.%u", i / 250, i % 250);
        struct node_event ev = ev_of(ip, HUMAN_UA, NULL, NULL);
        assert_int_equal(node_observe(n, &ev, t, WALL0), 0);
    }
    struct node_stats st;
    node_get_stats(n, &st);
    assert_int_equal(st.deltas_sent, 0);
    t = 1000; /* past the first flush time, tokens refilled */
    uint64_t last = 0;
    int ticks = 0;
    for (;;) {
        assert_int_equal(node_tick(n, t, WALL0 + t), 0);
        node_get_stats(n, &st);
        assert_true(st.deltas_sent - last <= 4);
        if (st.deltas_sent - last < 4)
            break;
        last = st.deltas_sent;
        ticks++;
        assert_true(node_next_deadline(n) <= t); /* the rest at once */
    }
    assert_true(ticks >= 3); /* the round held more than a tick's worth */
    assert_true(st.deltas_sent > 12);
    node_delete(n);
}

/* A node asks its host for a tick only when something is due: an idle
 * node (most of a large fleet, most of the time) is not woken every flush
 * interval for nothing, yet the epoch roll, a decision's resend and new
 * evidence still get their ticks. The first events after a quiet spell go
 * out at once; events right behind them wait for the flush interval. */
TEST(node_asks_for_ticks_only_when_work_is_due)
{
    (void)state;
    struct node_config cfg;
    test_config(&cfg, 1, NULL);
    cfg.profile = NODE_PROFILE_WAN; /* probes every 5 s: the node's own deadlines show */
    cfg.admit_all = true;
    cfg.epoch_ms = 60000;
    struct node *n = 0;
    ivt_ms wall0 = WALL0 + 58500; /* the next epoch starts 1.5 s from now */
    assert_int_equal(node_new(&n, &cfg, 1, 0, wall0), 0);
    assert_int_equal(node_tick(n, 0, wall0), 0);
    /* Idle: the node's deadline is its gossip's or the epoch roll's,
     * whichever is sooner, never the 200 ms flush grid. */
    ivt_ms now = 0;
    int ticks = 0;
    while (now < 3000) {
        ivt_ms roll = now < 1500 ? 1500 : 61500;
        ivt_ms gd = gossip_next_deadline(node_gossip(n));
        ivt_ms d = node_next_deadline(n);
        assert_int_equal(d, gd < roll ? gd : roll);
        assert_true(d > now);
        now = d;
        assert_int_equal(node_tick(n, now, wall0 + now), 0);
        ticks++;
    }
    assert_true(ticks < 15); /* the flush grid alone: 15 */
    ivt_ms t = now;
    /* A decision is published now and resent 2 s later. */
    struct node_stats st;
    assert_int_equal(node_decide(n, NODE_ENT_IP, "198.51.100.7", 12, NODE_ACT_BAN, IVT_MS_PER_HOUR,
                                 "test", t, wall0 + t),
                     0);
    assert_true(node_next_deadline(n) <= t + 2000);
    assert_int_equal(node_tick(n, t + 2000, wall0 + t + 2000), 0);
    node_get_stats(n, &st);
    assert_int_equal(st.decision_resends, 1);

    /* Evidence after a quiet spell: flushed at once. */
    t += 2500;
    struct node_event ev = ev_of("81.2.69.1", HUMAN_UA, NULL, NULL);
    assert_int_equal(node_observe(n, &ev, t, wall0 + t), 0);
    assert_true(node_next_deadline(n) <= t);
    assert_int_equal(node_tick(n, t, wall0 + t), 0);
    node_get_stats(n, &st);
    assert_int_equal(st.deltas_sent, 1);
    /* The next event waits for the interval: one payload per round. */
    ev = ev_of("81.2.69.2", HUMAN_UA, NULL, NULL);
    assert_int_equal(node_observe(n, &ev, t + 50, wall0 + t + 50), 0);
    assert_true(node_next_deadline(n) <= t + 200);
    assert_int_equal(node_tick(n, t + 50, wall0 + t + 50), 0);
    node_get_stats(n, &st);
    assert_int_equal(st.deltas_sent, 1);
    assert_int_equal(node_tick(n, t + 200, wall0 + t + 200), 0);
    node_get_stats(n, &st);
    assert_int_equal(st.deltas_sent, 2);
    node_delete(n);
}

/* A snapshot written in steps (node_snapshot_step, as the daemon saves a
 * step per loop turn) restores the same evidence as one written at once,
 * events between the steps included as of their step; a format-1 file
 * ([1, store message, decisions], before the steps) still restores. */
TEST(node_snapshot_in_steps_restores_the_evidence)
{
    (void)state;
    struct node *a = test_node(1, 0);
    char ip[32];
    for (uint32_t i = 0; i < 300; i++) {
        snprintf(ip, sizeof(ip), "10.7.%u.%u", i / 100, i % 100);
        struct node_event ev = ev_of(ip, HUMAN_UA, NULL, NULL);
        assert_int_equal(node_observe(a, &ev, 0, WALL0), 0);
    }
    struct ivt_mpw whole, steps;
    snapshot(a, &whole);
    ivt_mpw_init_dyn(&steps, 64 << 20);
    struct node_snapshot_job job;
    assert_int_equal(node_snapshot_begin(a, &steps, &job), 0);
    int rc, calls = 0;
    while ((rc = node_snapshot_step(a, &steps, &job, 7, SIZE_MAX)) == 1)
        calls++;
    assert_int_equal(rc, 0);
    assert_true(calls >= 300 / 7);
    /* Bounded by bytes: a step ends with the record that reaches them, so
     * a 1-byte bound writes one record a step. */
    struct node_stats st;
    node_get_stats(a, &st);
    struct ivt_mpw one;
    ivt_mpw_init_dyn(&one, 64 << 20);
    assert_int_equal(node_snapshot_begin(a, &one, &job), 0);
    uint64_t parts = 1;
    while ((rc = node_snapshot_step(a, &one, &job, SIZE_MAX, 1)) == 1)
        parts++;
    assert_int_equal(rc, 0);
    assert_int_equal(parts, st.entities);

    struct node *b = test_node(2, 0), *c = test_node(3, 0);
    assert_int_equal(node_restore(b, whole.data, whole.len, WALL0), 0);
    assert_int_equal(node_restore(c, steps.data, steps.len, WALL0), 0);
    assert_true(node_evidence_fingerprint(b) == node_evidence_fingerprint(c));
    struct node *d1 = test_node(4, 0);
    assert_int_equal(node_restore(d1, one.data, one.len, WALL0), 0);
    assert_true(node_evidence_fingerprint(b) == node_evidence_fingerprint(d1));
    node_delete(d1);
    ivt_mpw_destroy(&one);
    /* Every record, local-only ones included: the two restored stores
     * save the same bytes. */
    struct ivt_mpw sb, sc;
    snapshot(b, &sb);
    snapshot(c, &sc);
    assert_int_equal(sb.len, sc.len);
    assert_memory_equal(sb.data, sc.data, sb.len);
    ivt_mpw_destroy(&sb);
    ivt_mpw_destroy(&sc);
    struct node_report r;
    assert_int_equal(node_lookup(c, &r, NODE_ENT_IP, "10.7.2.99", 9, WALL0), 0);
    assert_true(metric(&r, "requests")->fleet == 1);

    /* Format 1: [1, store message, decisions], from the one-part form. */
    const uint8_t *p = whole.data, *end = whole.data + whole.len;
    uint32_t items;
    uint64_t version;
    assert_int_equal(ivt_mp_read_array(&p, end, &items), 0);
    assert_int_equal(items, 3);
    assert_int_equal(ivt_mp_read_uint(&p, end, &version), 0);
    const uint8_t *lww = p;
    assert_int_equal(ivt_mp_skip(&p, end), 0);
    const uint8_t *store = p;
    struct ivt_mpw v1;
    ivt_mpw_init_dyn(&v1, 64 << 20);
    ivt_mpw_array(&v1, 3);
    ivt_mpw_uint(&v1, 1);
    ivt_mpw_raw(&v1, store, (size_t)(end - store));
    ivt_mpw_raw(&v1, lww, (size_t)(store - lww));
    struct node *e = test_node(4, 0);
    assert_int_equal(node_restore(e, v1.data, v1.len, WALL0), 0);
    assert_int_equal(node_lookup(e, &r, NODE_ENT_IP, "10.7.2.99", 9, WALL0), 0);
    assert_true(metric(&r, "requests")->fleet == 1);
    ivt_mpw_destroy(&v1);
    ivt_mpw_destroy(&whole);
    ivt_mpw_destroy(&steps);
    node_delete(a);
    node_delete(b);
    node_delete(c);
    node_delete(e);
}
