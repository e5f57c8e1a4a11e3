/* Unit tests of node/config.c: what an operator relies on when a file is
 * right, and the exact error line when it is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "gossip/envelope.h"
#include "node/config.h"
#include "tests/test.h"

static const char *KEY = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

/* Writes text to a fresh temporary file; its path goes into path. */
static void write_tmp(char *path, size_t cap, const char *text)
{
    snprintf(path, cap, "/tmp/ivt-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* Loads text over the defaults; returns the code, err gets the message. */
static int load(struct ivtd_config *cfg, const char *text, char *err, size_t cap, char *path)
{
    write_tmp(path, 64, text);
    ivtd_config_defaults(cfg);
    int rc = ivtd_config_load(cfg, path, err, cap);
    unlink(path);
    return rc;
}

/* Expects an error message equal to "<path>" followed by want. */
static void expect_error(const char *text, int code, const char *want)
{
    struct ivtd_config cfg;
    char err[IVTD_ERR_MAX], path[64];
    assert_int_equal(load(&cfg, text, err, sizeof(err), path), code);
    char full[IVTD_ERR_MAX + 64];
    snprintf(full, sizeof(full), "%s%s", path, want);
    assert_string_equal(err, full);
}

TEST(node_config_minimal_file_gets_defaults)
{
    (void)state;
    struct ivtd_config cfg;
    char err[IVTD_ERR_MAX], path[64], text[512];
    snprintf(text, sizeof(text),
             "cluster = {\n  bind = \"127.0.0.1:7001\";\n  seeds = [\"127.0.0.2:7001\"];\n"
             "  encrypt = \"%s\";\n};\n",
             KEY);
    assert_int_equal(load(&cfg, text, err, sizeof(err), path), 0);
    assert_string_equal(cfg.bind, "127.0.0.1:7001");
    assert_int_equal(cfg.n_seeds, 1);
    assert_string_equal(cfg.seeds[0], "127.0.0.2:7001");
    assert_true(cfg.encrypt.set);
    assert_int_equal(cfg.encrypt.key[0], 0xab);
    assert_int_equal(cfg.encrypt.key[1], 0xcd);
    assert_false(cfg.evidence_key.set);
    assert_string_equal(cfg.state_dir, "/var/lib/ivtd");
    assert_string_equal(cfg.keyring_file, "/var/lib/ivtd/keyring");
    assert_int_equal(cfg.snapshot_interval, 60000);
    assert_int_equal(cfg.n_api_listen, 1);
    assert_string_equal(cfg.api_listen[0], "127.0.0.1:7947");
    assert_int_equal(cfg.api_max_frame, 1024 * 1024);
    assert_int_equal(cfg.control_mode, 0600);
    assert_int_equal(cfg.log_level, IVTD_LOG_INFO);
    assert_int_equal(cfg.profile, IVTD_PROFILE_LAN);
    assert_int_equal(cfg.epoch_ms, IVTD_UNSET);
    assert_int_equal(cfg.th_ip_requests, IVTD_UNSET);
    assert_false(cfg.admit_all);
    assert_false(cfg.full_digests);
    assert_int_equal(cfg.cipher, GOSSIP_AEAD_XCHACHA20POLY1305);
    assert_int_equal(cfg.admit_events, IVTD_UNSET);
    assert_true(cfg.name[0] != 0);
}

TEST(node_config_every_key_parses)
{
    (void)state;
    struct ivtd_config cfg;
    char err[IVTD_ERR_MAX], path[64], text[2048];
    /* The cipher other than the default, where this CPU runs it. */
    enum gossip_aead cipher = gossip_aead_available(GOSSIP_AEAD_AES256GCM)
                                  ? GOSSIP_AEAD_AES256GCM
                                  : GOSSIP_AEAD_XCHACHA20POLY1305;
    snprintf(
        text, sizeof(text),
        "node = { name = \"n1\"; state_dir = \"/tmp/x\"; snapshot_interval = \"15s\"; };\n"
        "cluster = { bind = \"[::1]:7001\"; advertise = \"[::1]:7001\";\n"
        "  seeds = (\"seed.example.com:7946\", \"[2001:db8::1]:7946\");\n"
        "  label = \"prod\"; profile = \"wan\"; encrypt = \"%s\"; keyring_file = \"/tmp/kr\"; };\n"
        "gossip = { packet_size = 1400; full_digests = true; cipher = \"%s\"; };\n"
        "api = { listen = [\"127.0.0.1:1\", \"unix:/tmp/api.sock\"]; max_frame = 65536;\n"
        "  max_connections = 10; };\n"
        "control = { socket = \"/tmp/c.sock\"; mode = \"0660\"; };\n"
        "metrics = { listen = \"\"; };\n"
        "log = { level = \"debug\"; };\n"
        "evidence = { epoch = \"30s\"; window = \"30m\"; max_entities = 5000;\n"
        "  gossip_bytes_per_s = 1000; admit_all = true; admit_events = 7;\n"
        "  admit_ip_distinct_ua = 3; admit_device_distinct_ip = 0; admit_top_k = 64;\n"
        "  admit_top_min = 4; };\n"
        "detect = { ip_requests = 100; ip_distinct_ua = 0; device_distinct_ip = 5;\n"
        "  suspect_score = 40; bot_score = 90; crawler_file = \"/c.json\";\n"
        "  hosting_file = \"/h.csv\"; };\n",
        KEY, gossip_aead_name(cipher));
    assert_int_equal(load(&cfg, text, err, sizeof(err), path), 0);
    assert_string_equal(cfg.name, "n1");
    assert_int_equal(cfg.snapshot_interval, 15000);
    assert_string_equal(cfg.seeds[1], "[2001:db8::1]:7946");
    assert_int_equal(cfg.profile, IVTD_PROFILE_WAN);
    assert_string_equal(cfg.keyring_file, "/tmp/kr");
    assert_int_equal(cfg.packet_size, 1400);
    assert_true(cfg.full_digests);
    assert_int_equal(cfg.cipher, cipher);
    assert_int_equal(cfg.n_api_listen, 2);
    assert_string_equal(cfg.api_listen[1], "unix:/tmp/api.sock");
    assert_int_equal(cfg.api_max_connections, 10);
    assert_int_equal(cfg.control_mode, 0660);
    assert_string_equal(cfg.metrics_listen, "");
    assert_int_equal(cfg.log_level, IVTD_LOG_DEBUG);
    assert_int_equal(cfg.epoch_ms, 30000);
    assert_int_equal(cfg.window_ms, 30 * 60000);
    assert_true(cfg.admit_all);
    assert_int_equal(cfg.admit_events, 7);
    assert_int_equal(cfg.admit_ip_distinct_ua, 3);
    assert_int_equal(cfg.admit_device_distinct_ip, 0);
    assert_int_equal(cfg.admit_top_k, 64);
    assert_int_equal(cfg.admit_top_min, 4);
    assert_int_equal(cfg.th_ip_distinct_ua, 0);
    assert_int_equal(cfg.bot_score, 90);
    assert_string_equal(cfg.hosting_file, "/h.csv");
}

TEST(node_config_wrong_type_names_line_key_expected_found)
{
    (void)state;
    expect_error("cluster = {\n  bind = 7946;\n};\n", IVT_EINVAL,
                 ":2: key 'cluster.bind': expected a string \"ip:port\" (IPv4 or [IPv6]), "
                 "found an integer");
    expect_error("api = {\n\n  max_frame = \"1MiB\";\n};\n", IVT_EINVAL,
                 ":3: key 'api.max_frame': expected an integer 1024..67108864 (bytes), found a "
                 "string");
    expect_error("api = { max_frame = 10; };\n", IVT_EINVAL,
                 ":1: key 'api.max_frame': expected an integer 1024..67108864 (bytes), found 10");
    expect_error(
        "cluster = { seeds = (\"127.0.0.1:1\", 7); };\n", IVT_EINVAL,
        ":1: key 'cluster.seeds': expected a list of at most 16 strings \"host:port\", found an "
        "integer at index 1");
}

TEST(node_config_unknown_key_is_an_error)
{
    (void)state;
    expect_error("cluster = {\n  seed = [\"127.0.0.1:1\"];\n};\n", IVT_EINVAL,
                 ":2: unknown key 'cluster.seed' (did you mean 'cluster.seeds'?)");
    expect_error("clustre = { };\n", IVT_EINVAL,
                 ":1: unknown key 'clustre' (see docs/configuration.md)");
    expect_error("node = { frobnicate = 1; };\n", IVT_EINVAL,
                 ":1: unknown key 'node.frobnicate' (see docs/configuration.md)");
    expect_error("log = \"debug\";\n", IVT_EINVAL,
                 ":1: key 'log': expected a group log = { ... }, found a string");
}

TEST(node_config_bad_values_are_named)
{
    (void)state;
    expect_error("detect = { household_devices = 0; };\n", IVT_EINVAL,
                 ":1: key 'detect.household_devices': expected an integer 1..4294967295, found 0");
    expect_error("detect = { shared_events_per_device = 0.5; };\n", IVT_EINVAL,
                 ":1: key 'detect.shared_events_per_device': expected a number 1.0..1000000.0, "
                 "found 0.5");
    expect_error("node = { snapshot_interval = \"60\"; };\n", IVT_EINVAL,
                 ":1: key 'node.snapshot_interval': expected a duration string like \"60s\" (at "
                 "least 1s), found \"60\"");
    expect_error("cluster = { bind = \"localhost:7946\"; };\n", IVT_EINVAL,
                 ":1: key 'cluster.bind': expected a string \"ip:port\" (IPv4 or [IPv6]), found "
                 "\"localhost:7946\"");
    expect_error("cluster = { bind = \"::1:7946\"; };\n", IVT_EINVAL,
                 ":1: key 'cluster.bind': expected a string \"ip:port\" (IPv4 or [IPv6]), found "
                 "\"::1:7946\"");
    expect_error("cluster = { profile = \"fast\"; };\n", IVT_EINVAL,
                 ":1: key 'cluster.profile': expected one of \"lan\", \"wan\", \"local\", found "
                 "\"fast\"");
    expect_error("gossip = { cipher = \"aes-128-gcm\"; };\n", IVT_EINVAL,
                 ":1: key 'gossip.cipher': expected one of \"xchacha20-poly1305\", "
                 "\"aes-256-gcm\", found \"aes-128-gcm\"");
    expect_error("gossip = { cipher = 2; };\n", IVT_EINVAL,
                 ":1: key 'gossip.cipher': expected one of \"xchacha20-poly1305\", "
                 "\"aes-256-gcm\", found an integer");
    expect_error("api = { listen = [\"unix:relative\"]; };\n", IVT_EINVAL,
                 ":1: key 'api.listen': expected a list of strings \"ip:port\" or \"unix:/path\", "
                 "found \"unix:relative\" at index 0");
    expect_error("evidence = { epoch = \"60s\"; window = \"90s\"; };\n", IVT_EINVAL,
                 ":1: key 'evidence.window': expected a whole number of evidence.epoch, found "
                 "\"90s\" (epoch is 60000 ms)");
    expect_error("evidence = { admit_all = 1; };\n", IVT_EINVAL,
                 ":1: key 'evidence.admit_all': expected a boolean, found an integer");
    expect_error("evidence = { admit_top_k = 5000; };\n", IVT_EINVAL,
                 ":1: key 'evidence.admit_top_k': expected an integer 0..4096 (0 disables), found "
                 "5000");
    expect_error("detect = { suspect_score = 60; bot_score = 50; };\n", IVT_EINVAL,
                 ":1: key 'detect.bot_score': expected a score at or above "
                 "detect.suspect_score, found 50");
}

TEST(node_config_bad_key_is_not_echoed)
{
    (void)state;
    expect_error("cluster = { encrypt = \"c2VjcmV0\"; };\n", IVT_EINVAL,
                 ":1: key 'cluster.encrypt': expected a base64 string of a 32-byte key (ivtctl "
                 "keys generate), found a string of 8 characters that is not base64 of 32 bytes");
    expect_error(
        "cluster = { evidence_key = \"c2VjcmV0\"; };\n", IVT_EINVAL,
        ":1: key 'cluster.evidence_key': expected a base64 string of a 32-byte key (ivtctl "
        "keys generate), found a string of 8 characters that is not base64 of 32 bytes");
}

TEST(node_config_evidence_key_is_separate_from_the_gossip_key)
{
    (void)state;
    struct ivtd_config cfg;
    char err[IVTD_ERR_MAX], path[64], text[512];
    snprintf(text, sizeof(text), "cluster = { encrypt = \"%s\"; evidence_key = \"%s\"; };\n", KEY,
             "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    assert_int_equal(load(&cfg, text, err, sizeof(err), path), 0);
    assert_true(cfg.evidence_key.set);
    for (int i = 0; i < 32; i++)
        assert_int_equal(cfg.evidence_key.key[i], i);
    assert_int_equal(cfg.encrypt.key[0], 0xab);
}

TEST(node_config_syntax_error_and_missing_file)
{
    (void)state;
    struct ivtd_config cfg;
    char err[IVTD_ERR_MAX], path[64];
    assert_int_equal(load(&cfg, "node = {\n  name = \"x\"\n", err, sizeof(err), path), IVT_EPROTO);
    assert_non_null(strstr(err, "syntax error"));
    assert_non_null(strstr(err, path));
    ivtd_config_defaults(&cfg);
    assert_int_equal(ivtd_config_load(&cfg, "/nonexistent/ivtd.cfg", err, sizeof(err)), IVT_ENOENT);
    assert_string_equal(err, "/nonexistent/ivtd.cfg: cannot read the configuration file: No "
                             "such file or directory");
}

TEST(node_config_durations_and_hostports)
{
    (void)state;
    ivt_ms ms;
    assert_int_equal(ivtd_duration_parse(&ms, "250ms"), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(ivtd_duration_parse(&ms, "2h"), 0);
    assert_int_equal(ms, 2 * 3600 * 1000);
    assert_int_equal(ivtd_duration_parse(&ms, "7d"), 0);
    assert_int_equal(ms, 7LL * 86400 * 1000);
    assert_int_equal(ivtd_duration_parse(&ms, "-1s"), IVT_EINVAL);
    assert_int_equal(ivtd_duration_parse(&ms, "1 s"), IVT_EINVAL);
    assert_int_equal(ivtd_duration_parse(&ms, "s"), IVT_EINVAL);
    assert_int_equal(ivtd_duration_parse(&ms, "99999999999999999999d"), IVT_EINVAL);
    char host[64];
    uint16_t port;
    assert_int_equal(ivtd_hostport_split(host, sizeof(host), &port, "[::1]:80"), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 80);
    assert_int_equal(ivtd_hostport_split(host, sizeof(host), &port, "10.0.0.1:65535"), 0);
    assert_int_equal(ivtd_hostport_split(host, sizeof(host), &port, "10.0.0.1:65536"), IVT_EINVAL);
    assert_int_equal(ivtd_hostport_split(host, sizeof(host), &port, "10.0.0.1:"), IVT_EINVAL);
    assert_int_equal(ivtd_hostport_split(host, sizeof(host), &port, ":80"), IVT_EINVAL);
    assert_int_equal(ivtd_hostport_split(host, sizeof(host), &port, "[::1]80"), IVT_EINVAL);
}

/* docs/configuration.md is the operator's reference: every key is in it. */
TEST(node_config_every_key_is_documented)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/configuration.md", ivt_test_root());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char doc[256 * 1024];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = 0;
    for (size_t i = 0; ivtd_config_key_at(i); i++) {
        char want[128];
        snprintf(want, sizeof(want), "`%s`", ivtd_config_key_at(i)->name);
        if (!strstr(doc, want))
            fail_msg("docs/configuration.md does not document %s", want);
    }
}
