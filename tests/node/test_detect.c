/* Unit tests of node/detect.c: what an operator reads off a score. GIVT hits
 * name their list entry, SIVT crossings show the local and the fleet value,
 * the botnet spread thin over the fleet is caught, the score never drops
 * when evidence grows, and the same evidence gives the same bytes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "node/detect.h"
#include "tests/test.h"

static struct node_thresholds defaults(void)
{
    struct node_thresholds th;
    node_thresholds_defaults(&th);
    return th;
}

static struct node_score detect(const struct node_thresholds *th, const struct node_signals *s)
{
    struct node_score out;
    node_detect(&out, th, s);
    return out;
}

static const struct node_reason *find(const struct node_score *sc, const char *signal)
{
    for (unsigned i = 0; i < sc->n_reasons; i++)
        if (strcmp(sc->reasons[i].signal, signal) == 0)
            return &sc->reasons[i];
    return NULL;
}

TEST(node_detect_clean_is_ok)
{
    (void)state;
    struct node_thresholds th = defaults();
    assert_int_equal(node_thresholds_check(&th), 0);
    struct node_signals s = {
        .ip_requests = {.local = 20, .fleet = 300},
        .ip_distinct_ua = {.local = 1, .fleet = 2},
        .device_distinct_ip = {.local = 1, .fleet = 3},
        .prefix_requests = {.local = 100, .fleet = 2000},
        .pub_requests = {.local = 1000, .fleet = 90000},
        .pub_datacenter_share = {.local = 0.02, .fleet = 0.03},
    };
    struct node_score sc = detect(&th, &s);
    assert_int_equal(sc.score, 0);
    assert_int_equal(sc.verdict, NODE_VERDICT_OK);
    assert_int_equal(sc.class_, NODE_CLASS_NONE);
    assert_int_equal(sc.n_reasons, 0);
    assert_false(sc.decided);
}

TEST(node_detect_givt)
{
    (void)state;
    struct node_thresholds th = defaults();
    struct node_signals s = {.crawler = true, .crawler_pattern = "Googlebot\\/"};
    struct node_score sc = detect(&th, &s);
    assert_int_equal(sc.score, 100);
    assert_int_equal(sc.verdict, NODE_VERDICT_BOT);
    assert_int_equal(sc.class_, NODE_CLASS_GIVT);
    assert_int_equal(sc.n_reasons, 1);
    assert_string_equal(sc.reasons[0].signal, "crawler_ua");
    assert_string_equal(sc.reasons[0].detail, "Googlebot\\/");
    assert_int_equal(sc.reasons[0].points, 100);

    struct node_signals dc = {
        .datacenter = true, .datacenter_asn = 16509, .datacenter_org = "Amazon.com, Inc."};
    sc = detect(&th, &dc);
    assert_int_equal(sc.score, 85);
    assert_int_equal(sc.verdict, NODE_VERDICT_BOT);
    assert_int_equal(sc.class_, NODE_CLASS_GIVT);
    assert_string_equal(sc.reasons[0].signal, "datacenter_ip");
    assert_string_equal(sc.reasons[0].detail, "AS16509 Amazon.com, Inc.");

    /* A list hit names the class even when statistics add to the score. */
    dc.ip_requests = (struct node_measure){.local = 9000, .fleet = 9000};
    sc = detect(&th, &dc);
    assert_int_equal(sc.class_, NODE_CLASS_GIVT);
    assert_int_equal(sc.n_reasons, 2);

    /* Points 0 turns a list off. */
    th.points_crawler = 0;
    sc = detect(&th, &s);
    assert_int_equal(sc.score, 0);
    assert_int_equal(sc.n_reasons, 0);
}

/* One SIVT signal at and around its threshold: nothing under it, 50 at it,
 * 15 more per doubling, 95 at most; threshold 0 turns it off. */
TEST(node_detect_threshold_boundaries)
{
    (void)state;
    struct node_thresholds th = defaults();
    static const struct {
        double fleet;
        uint8_t score;
        enum node_verdict verdict;
    } cases[] = {
        {0, 0, NODE_VERDICT_OK},          {3599, 0, NODE_VERDICT_OK},
        {3599.999, 0, NODE_VERDICT_OK},   {3600, 50, NODE_VERDICT_SUSPECT},
        {5400, 57, NODE_VERDICT_SUSPECT}, /* 1.5x: half a doubling, 7.5 points, floored */
        {7200, 65, NODE_VERDICT_SUSPECT}, {14399, 79, NODE_VERDICT_SUSPECT},
        {14400, 80, NODE_VERDICT_BOT},    {28800, 95, NODE_VERDICT_BOT},
        {1e300, 95, NODE_VERDICT_BOT},    {INFINITY, 95, NODE_VERDICT_BOT},
        {NAN, 0, NODE_VERDICT_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct node_signals s = {.ip_requests = {.local = 0, .fleet = cases[i].fleet}};
        struct node_score sc = detect(&th, &s);
        if (sc.score != cases[i].score || sc.verdict != cases[i].verdict)
            fail_msg("fleet %g: score %u verdict %d, want %u %d", cases[i].fleet, sc.score,
                     sc.verdict, cases[i].score, cases[i].verdict);
        assert_int_equal(sc.class_,
                         sc.verdict == NODE_VERDICT_OK ? NODE_CLASS_NONE : NODE_CLASS_SIVT);
        assert_int_equal(sc.n_reasons, sc.score > 0);
        if (sc.n_reasons) {
            assert_string_equal(sc.reasons[0].signal, "ip_requests");
            assert_int_equal(sc.reasons[0].points, sc.score);
            assert_true(sc.reasons[0].threshold == 3600);
        }
    }
    th.th_ip_requests = 0;
    struct node_signals s = {.ip_requests = {.local = 1e6, .fleet = 1e6}};
    assert_int_equal(detect(&th, &s).score, 0);
}

/* The botnet spread thin: 20 nodes see 180 requests each from one IP, under
 * the threshold of 3600 everywhere; the fleet sees 3600 and flags it, and
 * the reason shows both numbers. */
TEST(node_detect_spread_thin)
{
    (void)state;
    struct node_thresholds th = defaults();
    struct node_signals s = {.ip_requests = {.local = 180, .fleet = 3600, .origins = 20}};
    struct node_score sc = detect(&th, &s);
    assert_int_equal(sc.verdict, NODE_VERDICT_SUSPECT);
    assert_int_equal(sc.class_, NODE_CLASS_SIVT);
    const struct node_reason *r = find(&sc, "ip_requests");
    assert_non_null(r);
    assert_true(r->local == 180);
    assert_true(r->fleet == 3600);
    assert_true(r->threshold == 3600);
    assert_string_equal(r->detail, "1.0x threshold fleet-wide; local alone is under it (20 nodes)");

    /* The same local view with no fleet behind it is clean: only
     * cooperation catches this. */
    s.ip_requests.fleet = 180;
    assert_int_equal(detect(&th, &s).score, 0);

    /* A device farm: one device id through 40 IPs, 2 per node. */
    struct node_signals farm = {.device_distinct_ip = {.local = 2, .fleet = 40}};
    sc = detect(&th, &farm);
    assert_int_equal(sc.verdict, NODE_VERDICT_BOT); /* 8x: 50 + 3 * 15 */
    assert_int_equal(sc.score, 95);
    r = find(&sc, "device_distinct_ip");
    assert_non_null(r);
    assert_true(r->local == 2 && r->fleet == 40 && r->threshold == 5);
    assert_string_equal(r->detail, "8.0x threshold fleet-wide; local alone is under it");

    /* Seen over the threshold locally: the detail says so. */
    struct node_signals loud = {.ip_distinct_ua = {.local = 12, .fleet = 20}};
    sc = detect(&th, &loud);
    assert_string_equal(sc.reasons[0].detail, "2.0x threshold; over it locally too");

    /* A local share the node does not keep (-1) is not claimed to be under
     * the threshold: this node may have seen all twelve user agents. */
    struct node_signals unknown = {.ip_distinct_ua = {.local = -1, .fleet = 20}};
    sc = detect(&th, &unknown);
    assert_string_equal(sc.reasons[0].detail, "2.0x threshold fleet-wide");
}

/* A fleet estimate a little under the exact local count does not hide what
 * this node saw itself. */
TEST(node_detect_count_takes_max)
{
    (void)state;
    struct node_thresholds th = defaults();
    struct node_signals s = {.ip_distinct_ua = {.local = 10, .fleet = 9.6}};
    struct node_score sc = detect(&th, &s);
    assert_int_equal(sc.score, 50);
    assert_true(sc.reasons[0].local == 10 && sc.reasons[0].fleet == 9.6);
}

/* The publisher's data-center share: judged fleet-wide, only over a volume. */
TEST(node_detect_pub_datacenter_share)
{
    (void)state;
    struct node_thresholds th = defaults();
    struct node_signals s = {
        .pub_requests = {.local = 30, .fleet = 499},
        .pub_datacenter_share = {.local = 0.9, .fleet = 0.9},
    };
    assert_int_equal(detect(&th, &s).score, 0);
    s.pub_requests.fleet = 600;
    struct node_score sc = detect(&th, &s);
    assert_int_equal(sc.score, 50 + 15 * 0.8); /* 1.8x: 0.8 of a doubling */
    const struct node_reason *r = find(&sc, "pub_datacenter_share");
    assert_non_null(r);
    assert_true(r->threshold == 0.5);
    assert_string_equal(r->detail, "90% of 600 requests from data centers");
    /* A high local share is one node's slice of the publisher: the fleet's
     * share decides. */
    s.pub_datacenter_share.fleet = 0.2;
    assert_int_equal(detect(&th, &s).score, 0);
}

/* Several signals: independent evidence combines as a noisy-OR, reasons
 * come most points first, equal points in table order (GIVT first). */
TEST(node_detect_combination_and_order)
{
    (void)state;
    struct node_thresholds th = defaults();
    struct node_signals s = {
        .ip_requests = {.local = 100, .fleet = 3600},   /* 50 */
        .ip_distinct_ua = {.local = 3, .fleet = 10},    /* 50 */
        .device_distinct_ip = {.local = 1, .fleet = 20} /* 80 */
    };
    struct node_score sc = detect(&th, &s);
    /* 1 - 0.5 * 0.5 * 0.2 = 0.95 */
    assert_int_equal(sc.score, 95);
    assert_int_equal(sc.n_reasons, 3);
    assert_string_equal(sc.reasons[0].signal, "device_distinct_ip");
    assert_string_equal(sc.reasons[1].signal, "ip_requests");
    assert_string_equal(sc.reasons[2].signal, "ip_distinct_ua");

    /* Two at threshold: 75, suspect. Datacenter 85 with one at threshold:
     * 1 - 0.15 * 0.5 = 0.925, rounded half up to 93. */
    struct node_signals two = {.ip_requests = {.fleet = 3600}, .ip_distinct_ua = {.fleet = 10}};
    sc = detect(&th, &two);
    assert_int_equal(sc.score, 75);
    assert_int_equal(sc.verdict, NODE_VERDICT_SUSPECT);
    struct node_signals dc = {.datacenter = true, .ip_requests = {.fleet = 3600}};
    sc = detect(&th, &dc);
    assert_int_equal(sc.score, 93);
    assert_string_equal(sc.reasons[0].signal, "datacenter_ip");

    /* Everything at once still fits the reasons. */
    struct node_signals all = {
        .crawler = true,
        .datacenter = true,
        .ip_requests = {.fleet = 1e5},
        .ip_distinct_ua = {.fleet = 1e5},
        .device_distinct_ip = {.fleet = 1e5},
        .prefix_requests = {.fleet = 1e6},
        .pub_requests = {.fleet = 1e6},
        .pub_datacenter_share = {.fleet = 1},
    };
    sc = detect(&th, &all);
    assert_int_equal(sc.n_reasons, 7);
    assert_int_equal(sc.score, 100);
    assert_string_equal(sc.reasons[0].signal, "crawler_ua");
    for (unsigned i = 1; i < sc.n_reasons; i++)
        assert_true(sc.reasons[i - 1].points >= sc.reasons[i].points);
}

/* The verdict follows the configured bands; a score under suspect carries
 * no class even with a reason. */
TEST(node_detect_verdict_bands)
{
    (void)state;
    struct node_thresholds th = defaults();
    th.points_datacenter = 30;
    th.suspect_score = 30;
    th.bot_score = 31;
    struct node_signals s = {.datacenter = true};
    struct node_score sc = detect(&th, &s);
    assert_int_equal(sc.score, 30);
    assert_int_equal(sc.verdict, NODE_VERDICT_SUSPECT);
    th.suspect_score = 31;
    sc = detect(&th, &s);
    assert_int_equal(sc.verdict, NODE_VERDICT_OK);
    assert_int_equal(sc.class_, NODE_CLASS_NONE);
    assert_int_equal(sc.n_reasons, 1);
    th.points_datacenter = 31;
    sc = detect(&th, &s);
    assert_int_equal(sc.verdict, NODE_VERDICT_BOT);
}

TEST(node_detect_thresholds_check)
{
    (void)state;
    struct node_thresholds th = defaults();
    assert_int_equal(node_thresholds_check(&th), 0);
    th.th_ip_requests = 0; /* off is fine */
    assert_int_equal(node_thresholds_check(&th), 0);
    struct node_thresholds bad[11];
    for (int i = 0; i < 11; i++)
        bad[i] = defaults();
    bad[0].th_ip_requests = -1;
    bad[1].th_device_distinct_ip = NAN;
    bad[2].th_pub_datacenter_share = 1.5;
    bad[3].points_max = 101;
    bad[4].suspect_score = 0;
    bad[5].bot_score = 40; /* below suspect */
    bad[6].bot_score = 101;
    bad[7].th_pub_min_requests = INFINITY;
    bad[8].th_household_devices = 0.5; /* every shared address would be infinite households */
    bad[9].th_shared_events_per_device = -1;
    bad[10].th_shared_ua_per_device = NAN;
    for (int i = 0; i < 11; i++)
        if (node_thresholds_check(&bad[i]) != IVT_EINVAL)
            fail_msg("bad thresholds %d accepted", i);
}

static double random_value(struct ivt_rng *rng, double threshold)
{
    /* Mostly around the threshold, where the points change. */
    switch (ivt_rng_below(rng, 4)) {
    case 0: return 0;
    case 1: return ivt_rng_double(rng) * threshold;
    default: return ivt_rng_double(rng) * 20 * threshold;
    }
}

static void random_signals(struct ivt_rng *rng, const struct node_thresholds *th,
                           struct node_signals *s)
{
    memset(s, 0, sizeof(*s));
    s->crawler = ivt_rng_below(rng, 10) == 0;
    s->crawler_pattern = s->crawler ? "bot" : NULL;
    s->datacenter = ivt_rng_below(rng, 6) == 0;
    struct node_measure *m[] = {&s->ip_requests, &s->ip_distinct_ua, &s->device_distinct_ip,
                                &s->prefix_requests, &s->pub_requests};
    const double t[] = {th->th_ip_requests, th->th_ip_distinct_ua, th->th_device_distinct_ip,
                        th->th_prefix_requests, th->th_pub_min_requests};
    for (int i = 0; i < 5; i++) {
        m[i]->local = random_value(rng, t[i]);
        m[i]->fleet = m[i]->local + random_value(rng, t[i]);
        m[i]->origins = (uint32_t)ivt_rng_below(rng, 50);
    }
    s->pub_datacenter_share.local = ivt_rng_double(rng);
    s->pub_datacenter_share.fleet = ivt_rng_double(rng);
}

/* Raising any one input (a value, a flag) never lowers the score, under
 * random thresholds and points too. */
TEST(node_detect_monotone)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    for (int iter = 0; iter < 20000; iter++) {
        struct node_thresholds th = defaults();
        if (iter % 2) {
            th.th_ip_requests = (double)ivt_rng_below(&rng, 5000);
            th.th_ip_distinct_ua = (double)ivt_rng_below(&rng, 20);
            th.th_device_distinct_ip = (double)ivt_rng_below(&rng, 10);
            th.th_pub_datacenter_share = ivt_rng_double(&rng);
            th.points_datacenter = (uint8_t)ivt_rng_below(&rng, 101);
            th.points_at_threshold = (uint8_t)ivt_rng_below(&rng, 101);
            th.points_per_doubling = (uint8_t)ivt_rng_below(&rng, 40);
            th.points_max = (uint8_t)ivt_rng_below(&rng, 101);
        }
        struct node_signals s, up;
        random_signals(&rng, &th, &s);
        up = s;
        double grow = 1 + ivt_rng_double(&rng) * 3;
        switch (ivt_rng_below(&rng, 14)) {
        case 0: up.crawler = true; break;
        case 1: up.datacenter = true; break;
        case 2: up.ip_requests.local *= grow; break;
        case 3: up.ip_requests.fleet *= grow; break;
        case 4: up.ip_distinct_ua.local *= grow; break;
        case 5: up.ip_distinct_ua.fleet *= grow; break;
        case 6: up.device_distinct_ip.local *= grow; break;
        case 7: up.device_distinct_ip.fleet *= grow; break;
        case 8: up.prefix_requests.fleet *= grow; break;
        case 9: up.prefix_requests.local *= grow; break;
        case 10: up.pub_requests.fleet *= grow; break;
        case 11: up.pub_requests.local *= grow; break;
        case 12:
            up.pub_datacenter_share.fleet = fmin(1, up.pub_datacenter_share.fleet * grow);
            break;
        default: up.pub_datacenter_share.local = 1; break;
        }
        struct node_score a = detect(&th, &s), b = detect(&th, &up);
        if (b.score < a.score)
            fail_msg("iteration %d: score fell from %u to %u (seed %#llx)", iter, a.score, b.score,
                     (unsigned long long)ivt_test_seed());
        assert_true(b.verdict >= a.verdict);
    }
}

/* Equal evidence, equal bytes: every node must reach the same verdict. */
TEST(node_detect_deterministic)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct node_thresholds th = defaults();
    for (int iter = 0; iter < 2000; iter++) {
        struct node_signals s;
        random_signals(&rng, &th, &s);
        struct node_score a, b;
        memset(&b, 0xa5, sizeof(b)); /* no byte may depend on what was there */
        node_detect(&a, &th, &s);
        node_detect(&b, &th, &s);
        assert_memory_equal(&a, &b, sizeof(a));
    }
}

/* The worked example of docs/detection.md, number for number. */
TEST(node_detect_worked_example)
{
    (void)state;
    struct node_thresholds th = defaults();
    struct node_signals s = {
        .ip_requests = {.local = 180, .fleet = 5400},
        .device_distinct_ip = {.local = 2, .fleet = 12},
        .ip_distinct_ua = {.local = 1, .fleet = 2},
    };
    struct node_score sc = detect(&th, &s);
    assert_int_equal(sc.score, 86);
    assert_int_equal(sc.verdict, NODE_VERDICT_BOT);
    assert_int_equal(sc.class_, NODE_CLASS_SIVT);
    assert_int_equal(sc.n_reasons, 2);
    assert_string_equal(sc.reasons[0].signal, "device_distinct_ip");
    assert_int_equal(sc.reasons[0].points, 68);
    assert_string_equal(sc.reasons[0].detail, "2.4x threshold fleet-wide; local alone is under it");
    assert_string_equal(sc.reasons[1].signal, "ip_requests");
    assert_int_equal(sc.reasons[1].points, 57);
    assert_string_equal(sc.reasons[1].detail, "1.5x threshold fleet-wide; local alone is under it");
    /* Three signals at their thresholds: 87.5, rounded half up. */
    struct node_signals three = {.ip_requests = {.fleet = 3600},
                                 .ip_distinct_ua = {.fleet = 10},
                                 .device_distinct_ip = {.fleet = 5}};
    assert_int_equal(detect(&th, &three).score, 88);
}

/* A carrier's CGNAT address: 500 phones, each back a few times with its own
 * browser. Per IP it is 1.5x the request threshold and 8x the user-agent
 * one; per household (4 devices) it is nothing, and the reasons say why. */
static struct node_signals cgnat(void)
{
    return (struct node_signals){
        .ip_requests = {.local = 400, .fleet = 5400, .origins = 12},
        .ip_distinct_ua = {.local = -1, .fleet = 80, .origins = 12},
        .ip_distinct_device = {.local = -1, .fleet = 500, .origins = 12},
        .ip_events = {.local = 600, .fleet = 8000, .origins = 12},
    };
}

TEST(node_detect_shared_ip)
{
    (void)state;
    struct node_thresholds th = defaults();
    struct node_signals s = cgnat();
    struct node_score sc = detect(&th, &s);
    assert_int_equal(sc.score, 0);
    assert_int_equal(sc.verdict, NODE_VERDICT_OK);
    assert_int_equal(sc.class_, NODE_CLASS_NONE);
    assert_int_equal(sc.n_reasons, 1);
    const struct node_reason *r = find(&sc, "shared_ip");
    assert_non_null(r);
    assert_int_equal(r->points, 0);
    assert_true(r->local == -1 && r->fleet == 500 && r->threshold == 20);
    assert_string_equal(r->detail,
                        "500 devices, 16.0 events each: IP thresholds x125.0 (12 nodes)");

    /* The same address without device ids (a bot rotating user agents):
     * judged per IP, as before. */
    struct node_signals bot = s;
    bot.ip_distinct_device = (struct node_measure){0};
    sc = detect(&th, &bot);
    assert_int_equal(sc.verdict, NODE_VERDICT_BOT);
    assert_null(find(&sc, "shared_ip"));
    assert_non_null(find(&sc, "ip_requests"));
    assert_non_null(find(&sc, "ip_distinct_ua"));

    /* Busy even per household: flagged against the raised threshold, which
     * the reason shows; the note stays, with no points. */
    struct node_signals busy = s;
    busy.ip_requests.fleet = 3600.0 * 125 * 2;
    busy.ip_events.fleet = busy.ip_requests.fleet;
    sc = detect(&th, &busy);
    assert_int_equal(sc.score, 65);
    r = find(&sc, "ip_requests");
    assert_non_null(r);
    assert_true(r->threshold == 3600.0 * 125 && r->fleet == busy.ip_requests.fleet);
    assert_string_equal(r->detail, "2.0x threshold fleet-wide; local alone is under it (12 nodes)");
    assert_string_equal(sc.reasons[sc.n_reasons - 1].signal, "shared_ip");

    /* Off: a threshold of 0. */
    th.th_shared_ip_devices = 0;
    assert_int_equal(detect(&th, &s).verdict, NODE_VERDICT_BOT);
}

static bool noted_shared(const struct node_thresholds *th, const struct node_signals *s)
{
    struct node_score sc = detect(th, s);
    return find(&sc, "shared_ip") != NULL;
}

/* What a bot cheaply fakes does not buy the shared-address credit. */
TEST(node_detect_shared_ip_gates)
{
    (void)state;
    struct node_thresholds th = defaults();
    /* A fresh device id stamped on every event: one event per device. */
    struct node_signals fresh = cgnat();
    fresh.ip_distinct_device.fleet = fresh.ip_events.fleet;
    assert_int_equal(detect(&th, &fresh).verdict, NODE_VERDICT_BOT);
    /* Just returning enough (1.1 events per device) passes. */
    fresh.ip_distinct_device.fleet = fresh.ip_events.fleet / 1.1;
    assert_int_equal(detect(&th, &fresh).score, 0);
    /* User agents rotating faster than devices: more than 2 per device. */
    struct node_signals rotate = cgnat();
    rotate.ip_distinct_device.fleet = 30;
    rotate.ip_distinct_ua.fleet = 61;
    assert_int_not_equal(detect(&th, &rotate).verdict, NODE_VERDICT_OK);
    rotate.ip_distinct_ua.fleet = 60;
    assert_true(noted_shared(&th, &rotate));
    /* A household's handful of devices is not a shared address. */
    struct node_signals few = cgnat();
    few.ip_distinct_ua.fleet = 30;
    few.ip_distinct_device.fleet = 19;
    assert_false(noted_shared(&th, &few));
    few.ip_distinct_device.fleet = 20;
    assert_true(noted_shared(&th, &few));
    /* NaN device counts give no credit. */
    struct node_signals nan = cgnat();
    nan.ip_distinct_device.fleet = NAN;
    assert_int_equal(detect(&th, &nan).verdict, NODE_VERDICT_BOT);
}

/* The shared-address evidence only ever mitigates: with random devices and
 * events, the score is never above the score of the same signals without
 * them, and everything but the shared-address measures stays monotone. */
TEST(node_detect_shared_ip_only_lowers)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct node_thresholds th = defaults();
    for (int iter = 0; iter < 20000; iter++) {
        struct node_signals plain;
        random_signals(&rng, &th, &plain);
        struct node_signals shared = plain;
        shared.ip_distinct_device.fleet = random_value(&rng, th.th_shared_ip_devices);
        shared.ip_events.fleet =
            shared.ip_requests.fleet + random_value(&rng, shared.ip_requests.fleet + 1);
        struct node_score a = detect(&th, &plain), b = detect(&th, &shared);
        if (b.score > a.score)
            fail_msg("iteration %d: devices raised the score from %u to %u (seed %#llx)", iter,
                     a.score, b.score, (unsigned long long)ivt_test_seed());
        /* More user agents per device never lowers it. */
        struct node_signals up = shared;
        up.ip_distinct_ua.fleet *= 1 + ivt_rng_double(&rng) * 3;
        if (detect(&th, &up).score < b.score)
            fail_msg("iteration %d: more user agents lowered the score", iter);
    }
}
