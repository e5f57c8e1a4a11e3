/* Unit tests of sim/workload.c: the simulated traffic and its ground truth. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "sim/files.h"
#include "sim/workload.h"
#include "tests/test.h"

static struct sim_data *load_data(void)
{
    struct sim_data *d;
    char err[256] = "";
    int rc = sim_data_load(&d, ivt_test_root(), err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    return d;
}

static struct sim_workload *make(const struct sim_workload_config *cfg, const struct sim_data *d)
{
    struct sim_workload *wl;
    assert_int_equal(sim_workload_new(&wl, cfg, d), 0);
    return wl;
}

static void add(struct sim_workload_config *cfg, enum sim_actor_kind k, uint32_t count, double rate)
{
    struct sim_actor_config *a = &cfg->actors[cfg->n_actors++];
    sim_actor_defaults(a, k);
    a->count = count;
    a->rate_per_min = rate;
}

TEST(sim_data_parses_shipped_files)
{
    (void)state;
    struct sim_data *d = load_data();
    assert_true(sim_data_human_uas(d) > 500);
    assert_true(sim_data_crawler_uas(d) > 2000);
    assert_true(sim_data_ranges(d, false) > 10000);
    assert_true(sim_data_ranges(d, true) > 10000);
    sim_data_delete(d);
}

/* An edited data file: a malformed row is an error naming the file and the
 * line, not skipped; a file with nothing usable is an error too. */
TEST(sim_data_errors_name_file_and_line)
{
    (void)state;
    static const char human[] = "# weight, agent\n10\tMozilla/5.0\n",
                      crawler[] = "[{\"instances\": [\"Googlebot/2.1\"]}]",
                      ranges[] = "1.2.3.4,1.2.3.9,7,\"x\"\n";
    static const struct {
        int file; /* which of the four is replaced by text */
        const char *text;
        int rc;
        const char *says;
    } rows[] = {
        {0, "# c\n\n10\tMozilla\nten\tCurl\n", IVT_EPROTO,
         SIM_DATA_HUMAN_UA ":4: expected WEIGHT<TAB>USER AGENT"},
        {0, "4294967296\tMozilla\n", IVT_EPROTO, SIM_DATA_HUMAN_UA ":1: expected WEIGHT"},
        {0, "0\tMozilla\n7\t\n", IVT_EPROTO, SIM_DATA_HUMAN_UA ": no usable row"},
        {1, "[]", IVT_EPROTO, SIM_DATA_CRAWLER ": no usable user agent"},
        {1, "{\"instances\": [\"a\"]}", IVT_EPROTO, SIM_DATA_CRAWLER ": expected an array"},
        {1, "[\n{\"instances\": [\"a\"]\n", IVT_EPROTO, SIM_DATA_CRAWLER ":"},
        {2, "1.2.3.4,1.2.3.9,7\n1.2.3.x,1.2.3.9,7\n", IVT_EPROTO,
         SIM_DATA_ISP ":2: expected FIRST_IP,LAST_IP,ASN"},
        {2, "1.2.3.4,1.2.3.256,7\n", IVT_EPROTO, SIM_DATA_ISP ":1: expected FIRST_IP"},
        {3, "\n# none\n", IVT_EPROTO, SIM_DATA_HOSTING ": no address range"},
        {3, "9.9.9.9,9.9.9.1,7\n", IVT_EPROTO, SIM_DATA_HOSTING ":1: the range ends before"},
    };
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *text[4] = {human, crawler, ranges, ranges};
        text[rows[i].file] = rows[i].text;
        struct sim_data_files f = {text[0], strlen(text[0]), text[1], strlen(text[1]),
                                   text[2], strlen(text[2]), text[3], strlen(text[3])};
        struct sim_data *d = NULL;
        char err[256] = "";
        int rc = sim_data_new(&d, &f, err, sizeof(err));
        if (rc != rows[i].rc || d || !strstr(err, rows[i].says))
            fail_msg("row %u: rc %d, '%s'", i, rc, err);
    }
    /* the smallest good set, and a row per range */
    struct sim_data_files f = {human,  strlen(human),  crawler, strlen(crawler),
                               ranges, strlen(ranges), ranges,  strlen(ranges)};
    struct sim_data *d = NULL;
    char err[256] = "";
    assert_int_equal(sim_data_new(&d, &f, err, sizeof(err)), 0);
    assert_int_equal(sim_data_human_uas(d), 1);
    assert_int_equal(sim_data_crawler_uas(d), 1);
    assert_int_equal(sim_data_ranges(d, true), 1);
    sim_data_delete(d);
}

/* A root whose files are wrong: the full path, and a device is refused
 * rather than read forever. */
TEST(sim_data_load_names_the_path)
{
    (void)state;
    struct sim_data *d = NULL;
    char err[512] = "";
    assert_int_equal(sim_data_load(&d, "/nonexistent-root", err, sizeof(err)), IVT_ENOENT);
    assert_null(d);
    assert_non_null(strstr(err, "/nonexistent-root/" SIM_DATA_HUMAN_UA));
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(sim_read_file(&buf, &len, "/dev/zero"), IVT_ETOOBIG);
    assert_null(buf);
}

/* Any user agent the data can hold fits SIM_EVENT_JSON_MAX escaped: the
 * worst is all control bytes (--emit-events once skipped such events). */
TEST(sim_event_json_fits_the_worst_user_agent)
{
    (void)state;
    static char ua[SIM_UA_MAX];
    memset(ua, 0x01, sizeof(ua));
    struct sim_event ev = {.wall = INT64_MAX, .ip = UINT32_MAX, .asn = UINT32_MAX, .kind = 1};
    ev.ua = ua;
    ev.ua_len = SIM_UA_MAX;
    ev.device_len = SIM_DEVICE_MAX - 1;
    memset(ev.device, 'd', SIM_DEVICE_MAX - 1);
    ev.pub_len = SIM_PUB_MAX - 1;
    memset(ev.pub, 'p', SIM_PUB_MAX - 1);
    char buf[SIM_EVENT_JSON_MAX];
    int n = sim_event_json(buf, sizeof(buf), &ev);
    assert_true(n > 6 * SIM_UA_MAX);
    json_t *doc = json_loadb(buf, (size_t)n, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_string_length(json_object_get(doc, "ua")), SIM_UA_MAX);
    json_decref(doc);
}

TEST(sim_workload_deterministic)
{
    (void)state;
    struct sim_data *d = load_data();
    struct sim_workload_config cfg;
    sim_workload_config_defaults(&cfg);
    cfg.seed = ivt_test_seed();
    cfg.n_regions = 3;
    cfg.region_share[1] = cfg.region_share[2] = 1;
    for (int k = 0; k < SIM_ACT_KINDS; k++)
        add(&cfg, (enum sim_actor_kind)k, 50, 2);
    struct sim_workload *a = make(&cfg, d), *b = make(&cfg, d);
    cfg.seed++;
    struct sim_workload *c = make(&cfg, d);
    int differ = 0;
    ivt_ms last = 0;
    for (int i = 0; i < 5000; i++) {
        struct sim_event ea, eb, ec;
        sim_workload_next(a, &ea);
        sim_workload_next(b, &eb);
        sim_workload_next(c, &ec);
        char ja[2048], jb[2048], jc[2048];
        assert_true(sim_event_json(ja, sizeof(ja), &ea) > 0);
        assert_true(sim_event_json(jb, sizeof(jb), &eb) > 0);
        assert_true(sim_event_json(jc, sizeof(jc), &ec) > 0);
        assert_string_equal(ja, jb);
        assert_int_equal(ea.label, eb.label);
        assert_int_equal(ea.region, eb.region);
        assert_int_equal(ea.lb, eb.lb);
        assert_true(ea.t >= last); /* time order */
        last = ea.t;
        differ += strcmp(ja, jc) != 0;
    }
    assert_true(differ > 4900);
    sim_workload_delete(a);
    sim_workload_delete(b);
    sim_workload_delete(c);
    sim_data_delete(d);
}

TEST(sim_workload_label_proportions)
{
    (void)state;
    struct sim_data *d = load_data();
    struct sim_workload_config cfg;
    sim_workload_config_defaults(&cfg);
    cfg.seed = ivt_test_seed();
    cfg.diurnal = 0;
    add(&cfg, SIM_ACT_HUMAN, 1000, 0.6);  /* 600 / min */
    add(&cfg, SIM_ACT_BOTNET, 100, 2.0);  /* 200 / min */
    add(&cfg, SIM_ACT_CRAWLER, 10, 20.0); /* 200 / min */
    struct sim_workload *wl = make(&cfg, d);
    long n[2] = {0}, per_actor[3] = {0};
    struct sim_event ev;
    while (sim_workload_peek(wl) < 10 * IVT_MS_PER_MIN) {
        sim_workload_next(wl, &ev);
        n[ev.label]++;
        per_actor[ev.actor]++;
    }
    /* 10,000 expected events, 40% bots: Poisson sd of the total ~100. */
    long total = n[0] + n[1];
    assert_in_range(total, 9500, 10500);
    double bots = (double)n[1] / (double)total;
    assert_true(bots > 0.38 && bots < 0.42);
    assert_in_range(per_actor[0], 5700, 6300);
    assert_in_range(per_actor[2], 1800, 2200);
    sim_workload_delete(wl);
    sim_data_delete(d);
}

/* The point of the fleet: the botnet is large in total and thin per region. */
TEST(sim_workload_botnet_spread_thin)
{
    (void)state;
    struct sim_data *d = load_data();
    struct sim_workload_config cfg;
    sim_workload_config_defaults(&cfg);
    cfg.seed = ivt_test_seed();
    cfg.diurnal = 0;
    enum { REGIONS = 16, BOTS = 10 };
    cfg.n_regions = REGIONS;
    for (int r = 0; r < REGIONS; r++)
        cfg.region_share[r] = 1;
    add(&cfg, SIM_ACT_BOTNET, BOTS, 32);
    add(&cfg, SIM_ACT_HUMAN, 1000, 0.5);
    struct sim_workload *wl = make(&cfg, d);
    uint32_t ips[BOTS] = {0};
    long per[BOTS][REGIONS] = {{0}}, tot[BOTS] = {0};
    long human_regions[REGIONS] = {0};
    struct sim_event ev;
    while (sim_workload_peek(wl) < 10 * IVT_MS_PER_MIN) {
        sim_workload_next(wl, &ev);
        if (ev.actor == 1) {
            human_regions[ev.region]++;
            continue;
        }
        if (ips[ev.member])
            assert_int_equal(ips[ev.member], ev.ip); /* one stable address per bot */
        ips[ev.member] = ev.ip;
        per[ev.member][ev.region]++;
        tot[ev.member]++;
    }
    for (int b = 0; b < BOTS; b++) {
        assert_true(tot[b] > 250); /* 320 expected: obvious fleet-wide */
        for (int r = 0; r < REGIONS; r++)
            assert_true(per[b][r] < 45); /* 20 expected: thin everywhere */
    }
    /* humans stay home: each in one region (but spread over the regions) */
    int used = 0;
    for (int r = 0; r < REGIONS; r++)
        used += human_regions[r] > 0;
    assert_true(used > REGIONS / 2);
    sim_workload_delete(wl);
    sim_data_delete(d);
}

/* The traps: thousands of humans on four carrier addresses, one office IP. */
TEST(sim_workload_cgnat_trap_shares)
{
    (void)state;
    struct sim_data *d = load_data();
    struct sim_workload_config cfg;
    sim_workload_config_defaults(&cfg);
    cfg.seed = ivt_test_seed();
    add(&cfg, SIM_ACT_CGNAT, 2000, 0.5);
    add(&cfg, SIM_ACT_CORPORATE_PROXY, 300, 0.5);
    struct sim_workload *wl = make(&cfg, d);
    uint32_t cg_ips[8] = {0}, corp_ip = 0;
    size_t n_cg = 0;
    long cg_events = 0;
    static uint8_t seen_member[2000];
    memset(seen_member, 0, sizeof(seen_member));
    struct sim_event ev;
    while (sim_workload_peek(wl) < 10 * IVT_MS_PER_MIN) {
        sim_workload_next(wl, &ev);
        assert_int_equal(ev.label, SIM_HUMAN);
        assert_int_equal(ev.device_len, 16);
        if (ev.actor == 1) {
            assert_true(ev.asn == 7018 || ev.asn == 701);
            if (corp_ip)
                assert_int_equal(corp_ip, ev.ip);
            corp_ip = ev.ip;
            continue;
        }
        assert_true(ev.asn == 21928 || ev.asn == 55836);
        seen_member[ev.member] = 1;
        cg_events++;
        size_t i = 0;
        while (i < n_cg && cg_ips[i] != ev.ip)
            i++;
        if (i == n_cg) {
            assert_true(n_cg < 4);
            cg_ips[n_cg++] = ev.ip;
        }
    }
    int members = 0;
    for (int i = 0; i < 2000; i++)
        members += seen_member[i];
    assert_int_equal(n_cg, 4);
    assert_true(members > 1500); /* ~1,900 distinct people behind 4 addresses */
    assert_true(cg_events > 8000);
    sim_workload_delete(wl);
    sim_data_delete(d);
}

TEST(sim_workload_device_farm_rotates)
{
    (void)state;
    struct sim_data *d = load_data();
    struct sim_workload_config cfg;
    sim_workload_config_defaults(&cfg);
    cfg.seed = ivt_test_seed();
    add(&cfg, SIM_ACT_DEVICE_FARM, 1, 60);
    cfg.actors[0].rotate = 3;
    cfg.actors[0].ips = 50;
    struct sim_workload *wl = make(&cfg, d);
    char devs[64][17];
    uint32_t ips[64];
    for (int i = 0; i < 60; i++) {
        struct sim_event ev;
        sim_workload_next(wl, &ev);
        memcpy(devs[i], ev.device, 17);
        ips[i] = ev.ip;
    }
    int new_ids = 0, distinct_ips = 0;
    for (int i = 1; i < 60; i++)
        new_ids += strcmp(devs[i], devs[i - 1]) != 0;
    for (int i = 0; i < 60; i++) {
        int j = 0;
        while (j < i && ips[j] != ips[i])
            j++;
        distinct_ips += j == i;
    }
    assert_int_equal(new_ids, 19); /* a fresh id every third event */
    assert_true(distinct_ips > 25);
    sim_workload_delete(wl);
    sim_data_delete(d);
}

TEST(sim_event_json_protocol_keys)
{
    (void)state;
    struct sim_event ev;
    memset(&ev, 0, sizeof(ev));
    static const char ua[] = "Mozilla \"quoted\" \\ back\x01";
    ev.ua = ua;
    ev.ua_len = sizeof(ua) - 1;
    ev.wall = 1700000000123LL;
    ev.ip = 0xC0000201; /* 192.0.2.1 */
    ev.kind = 2;
    ev.asn = 64500;
    memcpy(ev.pub, "pub-0001", 8);
    ev.pub_len = 8;
    char buf[512];
    int n = sim_event_json(buf, sizeof(buf), &ev);
    assert_true(n > 0 && buf[n - 1] == '\n');
    json_error_t jerr;
    json_t *j = json_loadb(buf, (size_t)n, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "ua")),
                        "Mozilla \"quoted\" \\ back\x01");
    assert_string_equal(json_string_value(json_object_get(j, "ip")), "192.0.2.1");
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "click");
    assert_null(json_object_get(j, "device")); /* absent, not empty */
    assert_int_equal(json_integer_value(json_object_get(j, "ts")), 1700000000123LL);
    assert_int_equal(json_object_size(j), 6);
    json_decref(j);
    assert_int_equal(sim_event_json(buf, 20, &ev), IVT_ENOSPC);
}
