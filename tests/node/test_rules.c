/* Unit tests of node/rules.c: the shipped crawler list catches every example
 * it documents and no real browser; both engines give the same answers; the
 * range table answers at and around every edge; bad files are named. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "node/detect.h"
#include "node/rules.h"
#include "tests/node/data.h"
#include "tests/test.h"

enum { MAX_HUMANS = 4096 };

struct shipped {
    uint8_t *json, *csv, *humans_tsv;
    size_t json_len, csv_len, humans_tsv_len;
    json_t *list; /* the crawler JSON, for its instances */
    const char *humans[MAX_HUMANS];
    size_t n_humans;
};

static void shipped_load(struct shipped *d)
{
    memset(d, 0, sizeof(*d));
    d->json = node_data_read(ivt_test_root(), NODE_DATA_CRAWLERS, &d->json_len);
    d->csv = node_data_read(ivt_test_root(), NODE_DATA_HOSTING, &d->csv_len);
    d->humans_tsv = node_data_read(ivt_test_root(), NODE_DATA_HUMANS, &d->humans_tsv_len);
    assert_non_null(d->json);
    assert_non_null(d->csv);
    assert_non_null(d->humans_tsv);
    d->list = json_loadb((const char *)d->json, d->json_len, 0, NULL);
    assert_non_null(d->list);
    d->n_humans = node_data_humans((char *)d->humans_tsv, d->humans, MAX_HUMANS);
    assert_true(d->n_humans > 500);
}

static void shipped_free(struct shipped *d)
{
    json_decref(d->list);
    free(d->json);
    free(d->csv);
    free(d->humans_tsv);
}

static struct node_rules *build(enum node_rules_engine engine, const char *json, const char *csv)
{
    struct node_rules *r = NULL;
    char err[256];
    int rc = node_rules_new_engine(&r, engine, (const uint8_t *)json, json ? strlen(json) : 0,
                                   (const uint8_t *)csv, csv ? strlen(csv) : 0, err, sizeof(err));
    if (rc != 0)
        fail_msg("rules: %s (%s)", ivt_errname(rc), err);
    return r;
}

/* The error of building from these bytes; err gets the message. */
static int build_err(const char *json, const char *csv, char *err, size_t cap)
{
    struct node_rules *r = NULL;
    int rc = node_rules_new(&r, (const uint8_t *)json, json ? strlen(json) : 0,
                            (const uint8_t *)csv, csv ? strlen(csv) : 0, err, cap);
    assert_null(r);
    return rc;
}

static size_t pattern_index(const json_t *list, const char *pattern)
{
    for (size_t i = 0; i < json_array_size(list); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(list, i), "pattern")),
                   pattern) == 0)
            return i;
    fail_msg("pattern '%s' is not in the list", pattern);
    return 0;
}

static void check_instances_and_humans(enum node_rules_engine engine)
{
    struct shipped d;
    shipped_load(&d);
    struct node_rules *r = NULL;
    char err[256];
    int rc =
        node_rules_new_engine(&r, engine, d.json, d.json_len, d.csv, d.csv_len, err, sizeof(err));
    if (rc != 0)
        fail_msg("%s", err);
    struct node_rules_info info;
    node_rules_get_info(r, &info);
    assert_int_equal(info.patterns, json_array_size(d.list));

    size_t instances = 0;
    for (size_t i = 0; i < json_array_size(d.list); i++) {
        json_t *inst = json_object_get(json_array_get(d.list, i), "instances");
        for (size_t k = 0; k < json_array_size(inst); k++) {
            const char *ua = json_string_value(json_array_get(inst, k));
            const char *pat = NULL;
            if (!node_rules_crawler(r, ua, strlen(ua), &pat))
                fail_msg("instance of pattern %zu not caught: %s", i, ua);
            /* Its own pattern matches, so the lowest matching one is at or
             * before it. */
            assert_true(pattern_index(d.list, pat) <= i);
            instances++;
        }
    }
    assert_int_equal(instances, 2118);

    /* Documented: zero false positives on the shipped real browser UAs. */
    size_t false_positives = 0;
    for (size_t i = 0; i < d.n_humans; i++) {
        const char *pat = NULL;
        if (node_rules_crawler(r, d.humans[i], strlen(d.humans[i]), &pat)) {
            print_error("false positive: '%s' matches '%s'\n", d.humans[i], pat);
            false_positives++;
        }
    }
    assert_int_equal(false_positives, 0);
    node_rules_delete(r);
    shipped_free(&d);
}

TEST(node_rules_crawler_hyperscan_shipped)
{
    (void)state;
    check_instances_and_humans(NODE_RULES_HYPERSCAN);
}

TEST(node_rules_crawler_pcre2_shipped)
{
    (void)state;
    check_instances_and_humans(NODE_RULES_PCRE2);
}

static void expect_same(const struct node_rules *a, const struct node_rules *b, const char *ua,
                        size_t len)
{
    const char *pa = NULL, *pb = NULL;
    bool ma = node_rules_crawler(a, ua, len, &pa);
    bool mb = node_rules_crawler(b, ua, len, &pb);
    assert_int_equal(ma, mb);
    if (ma)
        assert_string_equal(pa, pb);
}

/* The engines agree on every instance, every human UA, and on pieces and
 * splices of them (matches at the very start and end of the buffer, cut
 * tokens), with the same pattern named. */
TEST(node_rules_crawler_engines_agree)
{
    (void)state;
    struct shipped d;
    shipped_load(&d);
    struct node_rules *hs = NULL, *pc = NULL;
    assert_int_equal(
        node_rules_new_engine(&hs, NODE_RULES_HYPERSCAN, d.json, d.json_len, NULL, 0, NULL, 0), 0);
    assert_int_equal(
        node_rules_new_engine(&pc, NODE_RULES_PCRE2, d.json, d.json_len, NULL, 0, NULL, 0), 0);
    struct node_rules_info info;
    node_rules_get_info(hs, &info);
    assert_int_equal(info.engine, NODE_RULES_HYPERSCAN);
    node_rules_get_info(pc, &info);
    assert_int_equal(info.engine, NODE_RULES_PCRE2);
    assert_int_equal(info.patterns_pcre2, info.patterns);

    const char *all[4096];
    size_t n = 0;
    for (size_t i = 0; i < d.n_humans; i++)
        all[n++] = d.humans[i];
    for (size_t i = 0; i < json_array_size(d.list) && n < 4096; i++) {
        json_t *inst = json_object_get(json_array_get(d.list, i), "instances");
        for (size_t k = 0; k < json_array_size(inst) && n < 4096; k++)
            all[n++] = json_string_value(json_array_get(inst, k));
    }
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(all[i]);
        expect_same(hs, pc, all[i], len);
        /* Two random slices of each. */
        for (int k = 0; k < 2 && len > 0; k++) {
            size_t a = ivt_rng_below(&rng, len);
            size_t b = ivt_rng_below(&rng, len - a + 1);
            expect_same(hs, pc, all[i] + a, b);
        }
    }
    expect_same(hs, pc, "", 0);
    expect_same(hs, pc, NULL, 0);
    node_rules_delete(hs);
    node_rules_delete(pc);
    shipped_free(&d);
}

/* A pattern Hyperscan cannot take (a back-reference, a look-ahead) runs on
 * PCRE2 beside the database, and the lowest index still wins across both. */
TEST(node_rules_crawler_fallback)
{
    (void)state;
    const char *json = "[{\"pattern\": \"(ab)\\\\1bot\"}, {\"pattern\": \"bot\"},"
                       " {\"pattern\": \"spider(?=/)\"}, {\"pattern\": \"^curl\"}]";
    struct node_rules *r = build(NODE_RULES_HYPERSCAN, json, NULL);
    struct node_rules_info info;
    node_rules_get_info(r, &info);
    assert_int_equal(info.engine, NODE_RULES_HYPERSCAN);
    assert_int_equal(info.patterns, 4);
    assert_int_equal(info.patterns_pcre2, 2);
    const char *p = NULL;
    /* Both index 0 (PCRE2) and 1 (Hyperscan) match: 0 wins. */
    assert_true(node_rules_crawler(r, "x ababbot y", 11, &p));
    assert_string_equal(p, "(ab)\\1bot");
    /* Index 1 (Hyperscan) and 2 (PCRE2): 1 wins. */
    assert_true(node_rules_crawler(r, "bot spider/1", 12, &p));
    assert_string_equal(p, "bot");
    assert_true(node_rules_crawler(r, "spider/1", 8, &p));
    assert_string_equal(p, "spider(?=/)");
    assert_false(node_rules_crawler(r, "spider 1", 8, &p));
    assert_true(node_rules_crawler(r, "curl/8.0", 8, &p));
    assert_string_equal(p, "^curl");
    assert_false(node_rules_crawler(r, "x curl/8.0", 10, &p));
    /* Case-sensitive, as upstream writes its patterns ("[wW]get"). */
    assert_false(node_rules_crawler(r, "BOT", 3, &p));
    /* Bytes, not strings: a NUL inside does not end the user agent. */
    assert_true(node_rules_crawler(r, "x\0bot", 5, &p));
    assert_string_equal(p, "bot");
    assert_false(node_rules_crawler(r, "x\0bo", 4, NULL));
    node_rules_delete(r);
}

TEST(node_rules_crawler_errors)
{
    (void)state;
    char err[256];
    assert_int_equal(
        build_err("[{\"pattern\": \"ok\"}, {\"pattern\": \"Foo[\"}]", NULL, err, sizeof(err)),
        IVT_EPROTO);
    assert_non_null(strstr(err, "crawler-user-agents.json: pattern 1 ('Foo['): "));
    assert_int_equal(build_err("[{\"pattern\": \"\"}]", NULL, err, sizeof(err)), IVT_EPROTO);
    assert_non_null(strstr(err, "pattern 0 (''): matches the empty user agent"));
    assert_int_equal(build_err("[{\"pattern\": \"bot|\"}]", NULL, err, sizeof(err)), IVT_EPROTO);
    assert_non_null(strstr(err, "pattern 0 ('bot|')"));
    assert_int_equal(build_err("[{\"pattern\": \"a\\u0000b\"}]", NULL, err, sizeof(err)),
                     IVT_EPROTO);
    assert_non_null(strstr(err, "NUL"));
    assert_int_equal(build_err("[{\"pattern\": \"ok\"}, {\"url\": \"x\"}]", NULL, err, sizeof(err)),
                     IVT_EPROTO);
    assert_non_null(strstr(err, "pattern 1: no \"pattern\" string"));
    assert_int_equal(build_err("{\"pattern\": \"ok\"}", NULL, err, sizeof(err)), IVT_EPROTO);
    assert_int_equal(build_err("[{\"pattern\": \"ok\"}", NULL, err, sizeof(err)), IVT_EPROTO);
    assert_non_null(strstr(err, "crawler-user-agents.json:"));
    char big[2100] = "[{\"pattern\": \"";
    memset(big + strlen(big), 'a', 1500);
    strcpy(big + strlen(big), "\"}]");
    assert_int_equal(build_err(big, NULL, err, sizeof(err)), IVT_ETOOBIG);
    /* A NULL or tiny err buffer is fine. */
    assert_int_equal(build_err("[{\"pattern\": \"(\"}]", NULL, NULL, 0), IVT_EPROTO);
    assert_int_equal(build_err("[{\"pattern\": \"(\"}]", NULL, err, 1), IVT_EPROTO);
    assert_string_equal(err, "");
    /* No data: that rule is off. */
    struct node_rules *r = build(NODE_RULES_HYPERSCAN, NULL, NULL);
    assert_false(node_rules_crawler(r, "Googlebot/2.1", 13, NULL));
    struct node_ip ip = {.family = 4, .bytes = {1, 12, 34, 1}};
    assert_false(node_rules_hosting(r, &ip, NULL, NULL));
    node_rules_delete(r);
    r = build(NODE_RULES_HYPERSCAN, "[]", "# nothing\n");
    assert_false(node_rules_crawler(r, "Googlebot/2.1", 13, NULL));
    node_rules_delete(r);
    assert_int_equal(
        node_rules_new_engine(&r, (enum node_rules_engine)7, NULL, 0, NULL, 0, NULL, 0),
        IVT_EINVAL);
    node_rules_delete(NULL);
}

static struct node_ip v4(uint32_t a)
{
    struct node_ip ip = {.family = 4};
    ip.bytes[0] = (uint8_t)(a >> 24);
    ip.bytes[1] = (uint8_t)(a >> 16);
    ip.bytes[2] = (uint8_t)(a >> 8);
    ip.bytes[3] = (uint8_t)a;
    return ip;
}

static bool hosted(const struct node_rules *r, uint32_t a, uint32_t *asn)
{
    const char *org = NULL;
    struct node_ip ip = v4(a);
    bool m = node_rules_hosting(r, &ip, asn, &org);
    if (m)
        assert_non_null(org);
    return m;
}

static uint32_t dotted(const char *s)
{
    unsigned a, b, c, d;
    assert_int_equal(sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
    return a << 24 | b << 16 | c << 8 | d;
}

/* Every line of the shipped file: its first and last address are in it with
 * its ASN; the address before and after is outside unless another line
 * covers it. */
TEST(node_rules_hosting_shipped)
{
    (void)state;
    struct shipped d;
    shipped_load(&d);
    struct node_rules *r = NULL;
    assert_int_equal(node_rules_new(&r, NULL, 0, d.csv, d.csv_len, NULL, 0), 0);
    struct node_rules_info info;
    node_rules_get_info(r, &info);
    assert_int_equal(info.ranges, 14263); /* no two touching ranges share an ASN */
    assert_int_equal(info.asns, 19);

    uint32_t prev_last = 0;
    size_t lines = 0;
    for (char *line = strtok((char *)d.csv, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char first[16], last[16];
        unsigned asn;
        assert_int_equal(sscanf(line, "%15[0-9.],%15[0-9.],%u,", first, last, &asn), 3);
        uint32_t f = dotted(first), l = dotted(last), got = 0;
        assert_true(hosted(r, f, &got));
        assert_int_equal(got, asn);
        assert_true(hosted(r, l, &got));
        assert_int_equal(got, asn);
        assert_true(hosted(r, f + (l - f) / 2, &got));
        assert_int_equal(got, asn);
        /* The file is sorted: the gap before this range is outside. */
        if (lines > 0 && f > prev_last + 1) {
            assert_false(hosted(r, f - 1, NULL));
            assert_false(hosted(r, prev_last + 1, NULL));
        }
        prev_last = l;
        lines++;
    }
    assert_int_equal(lines, 14263);
    assert_false(hosted(r, 0, NULL));
    assert_false(hosted(r, UINT32_MAX, NULL));

    const char *org = NULL;
    uint32_t asn = 0;
    struct node_ip ip = v4(dotted("1.44.96.7"));
    assert_true(node_rules_hosting(r, &ip, &asn, &org));
    assert_int_equal(asn, 16509);
    assert_string_equal(org, "Amazon.com, Inc.");
    /* IPv4-mapped IPv6 is the IPv4 address; other IPv6 has no data. */
    struct node_ip mapped = {.family = 6, .bytes = {[10] = 0xff, 0xff, 1, 44, 96, 7}};
    assert_true(node_rules_hosting(r, &mapped, &asn, NULL));
    assert_int_equal(asn, 16509);
    struct node_ip v6 = {.family = 6, .bytes = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}};
    assert_false(node_rules_hosting(r, &v6, &asn, NULL));
    struct node_ip none = {0};
    assert_false(node_rules_hosting(r, &none, &asn, NULL));
    assert_true(node_rules_hosting_asn(r, 16509, &org));
    assert_string_equal(org, "Amazon.com, Inc.");
    assert_false(node_rules_hosting_asn(r, 3320, &org)); /* a consumer ISP */
    assert_false(node_rules_hosting_asn(r, 0, &org));
    node_rules_delete(r);
    shipped_free(&d);
}

/* Any order, comments, CRLF, quoted names; touching and overlapping ranges
 * of one ASN merge; the ends of the address space work. */
TEST(node_rules_hosting_merge)
{
    (void)state;
    const char *csv = "# first,last,asn,org\r\n"
                      "10.0.1.0,10.0.1.255,64500,\"Example, \"\"Cloud\"\"\"\r\n"
                      "\n"
                      "10.0.0.0,10.0.0.255,64500,Example Cloud\n"
                      "10.0.1.128,10.0.2.10,64500,Example Cloud\n"
                      "10.0.2.11,10.0.2.20,64501,Other\n"
                      "255.255.255.0,255.255.255.255,64502,Top\n"
                      "0.0.0.0,0.0.0.9,64503,\n"
                      "20.0.0.0,20.0.0.0,64501,Other";
    struct node_rules *r = build(NODE_RULES_HYPERSCAN, NULL, csv);
    struct node_rules_info info;
    node_rules_get_info(r, &info);
    assert_int_equal(info.ranges, 5);
    assert_int_equal(info.asns, 4);
    uint32_t asn = 0;
    const char *org = NULL;
    struct node_ip ip = v4(dotted("10.0.0.0"));
    assert_true(node_rules_hosting(r, &ip, &asn, &org));
    assert_int_equal(asn, 64500);
    /* Named from the ASN's first line in the file, unquoted. */
    assert_string_equal(org, "Example, \"Cloud\"");
    assert_true(hosted(r, dotted("10.0.2.10"), &asn));
    assert_int_equal(asn, 64500);
    assert_true(hosted(r, dotted("10.0.2.11"), &asn));
    assert_int_equal(asn, 64501);
    assert_false(hosted(r, dotted("10.0.2.21"), NULL));
    assert_false(hosted(r, dotted("9.255.255.255"), NULL));
    assert_true(hosted(r, UINT32_MAX, &asn));
    assert_int_equal(asn, 64502);
    assert_true(hosted(r, 0, &asn));
    assert_int_equal(asn, 64503);
    assert_true(node_rules_hosting_asn(r, 64503, &org));
    assert_string_equal(org, "");
    assert_false(hosted(r, 10, NULL));
    assert_true(hosted(r, dotted("20.0.0.0"), &asn));
    assert_false(hosted(r, dotted("20.0.0.1"), NULL));
    node_rules_delete(r);
}

TEST(node_rules_hosting_errors)
{
    (void)state;
    static const struct {
        const char *csv, *want;
        int rc;
    } cases[] = {
        {"1.0.0.0,1.0.0.255,1,A\n1.0.0.128,1.0.1.0,2,B\n",
         "hosting-asn-ipv4.csv:2: range overlaps one of AS1", IVT_EPROTO},
        {"#\n1.0.0.9,1.0.0.1,1,A\n", "hosting-asn-ipv4.csv:2: last address below first",
         IVT_EPROTO},
        {"1.0.0,1.0.0.1,1,A\n", ":1: first address is not", IVT_EPROTO},
        {"1.0.0.256,1.0.0.1,1,A\n", ":1: first address is not", IVT_EPROTO},
        {"1.0.0.0001,1.0.0.1,1,A\n", ":1: first address is not", IVT_EPROTO},
        {"1.0.0.0;1.0.0.1,1,A\n", ":1: last address is not", IVT_EPROTO},
        {"1.0.0.0,1.0.0.1,0,A\n", ":1: AS number 0", IVT_EPROTO},
        {"1.0.0.0,1.0.0.1,4294967296,A\n", ":1: AS number is not", IVT_EPROTO},
        {"1.0.0.0,1.0.0.1,x,A\n", ":1: AS number is not", IVT_EPROTO},
        {"1.0.0.0,1.0.0.1,7\n", ":1: no org field", IVT_EPROTO},
        {"1.0.0.0,1.0.0.1,7,\"A\n", ":1: unterminated quote", IVT_EPROTO},
        {"1.0.0.0,1.0.0.1,7,\"A\"x\n", ":1: text after the closing quote", IVT_EPROTO},
        {"1.0.0.0,1.0.0.1,7,A\"x\n", ":1: stray quote", IVT_EPROTO},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256];
        int rc = build_err(NULL, cases[i].csv, err, sizeof(err));
        if (rc != cases[i].rc || !strstr(err, cases[i].want))
            fail_msg("case %zu: %s '%s', want '%s'", i, ivt_errname(rc), err, cases[i].want);
    }
    char org[400];
    memset(org, 'x', sizeof(org) - 1);
    org[sizeof(org) - 1] = '\0';
    char line[512];
    snprintf(line, sizeof(line), "1.0.0.0,1.0.0.1,7,%s\n", org);
    char err[256];
    assert_int_equal(build_err(NULL, line, err, sizeof(err)), IVT_ETOOBIG);
}

TEST(node_rules_givt_fills_signals)
{
    (void)state;
    struct node_rules *r = build(NODE_RULES_HYPERSCAN, "[{\"pattern\": \"Googlebot\\\\/\"}]",
                                 "1.44.96.0,1.44.96.255,16509,\"Amazon.com, Inc.\"\n");
    struct node_event ev = {.ua = "Googlebot/2.1", .ua_len = 13, .ip = v4(dotted("1.44.96.9"))};
    struct node_signals s = {.ip_requests = {.local = 3, .fleet = 4}};
    node_rules_givt(&s, r, &ev);
    assert_true(s.crawler);
    assert_string_equal(s.crawler_pattern, "Googlebot\\/");
    assert_true(s.datacenter);
    assert_int_equal(s.datacenter_asn, 16509);
    assert_string_equal(s.datacenter_org, "Amazon.com, Inc.");
    assert_true(s.ip_requests.fleet == 4); /* the SIVT part is left alone */

    /* IPv6 has no ranges, but the ad server's ASN tag still names a cloud. */
    struct node_event v6 = {.ua = "Mozilla/5.0", .ua_len = 11, .asn = 16509};
    v6.ip.family = 6;
    v6.ip.bytes[0] = 0x2a;
    node_rules_givt(&s, r, &v6);
    assert_false(s.crawler);
    assert_null(s.crawler_pattern);
    assert_true(s.datacenter);
    assert_int_equal(s.datacenter_asn, 16509);
    v6.asn = 3320;
    node_rules_givt(&s, r, &v6);
    assert_false(s.datacenter);
    assert_null(s.datacenter_org);
    node_rules_delete(r);

    node_rules_givt(&s, NULL, &ev);
    assert_false(s.crawler);
    assert_false(s.datacenter);
}
