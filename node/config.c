/*
 * node/config.c: reads the ivtd configuration file strictly.
 *
 * One table (rows[]) lists every key: its documentation (what it expects,
 * its default, whether SIGHUP applies it) and how to parse it (a kind, a
 * field offset, a range). Loading walks the file's settings, not the table:
 * that is how an unknown key is found and reported instead of being silently
 * ignored, which is the mistake an operator cannot see otherwise (a typo in
 * "cluster.seeds" makes a node that quietly forms a cluster of one).
 *
 * Every error names the file, the line, the key, what was expected and what
 * was found, in one line an operator can act on.
 */
#include "node/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "base/err.h"
#include "gossip/envelope.h"
#include "gossip/keyring.h"

enum kind {
    K_STR,        /* a string of at most cap - 1 bytes */
    K_BIND,       /* "ip:port", a literal address (what we bind or advertise) */
    K_SEEDS,      /* list of "host:port" (host may be a DNS name) */
    K_LISTEN,     /* list of "ip:port" or "unix:/path" */
    K_LISTEN_ONE, /* one "ip:port", or "" to disable */
    K_DURATION,   /* ivt_ms field */
    K_DURATION_OPT,
    K_U32,     /* uint32_t field */
    K_I64_OPT, /* int64_t field, IVTD_UNSET unless set */
    K_F64_OPT, /* double field 0..1, IVTD_UNSET unless set */
    K_PROFILE,
    K_LOGLEVEL,
    K_KEY,    /* base64 of 32 bytes */
    K_MODE,   /* octal file mode as a string "0600" */
    K_BOOL,   /* bool field */
    K_CIPHER, /* uint8_t field: an enum gossip_aead this host runs */
};

struct row {
    struct ivtd_config_key doc;
    enum kind kind;
    size_t off;
    size_t cap; /* for strings */
    int64_t min, max;
};

#define F(field)  offsetof(struct ivtd_config, field), sizeof(((struct ivtd_config *)0)->field)
#define FN(field) offsetof(struct ivtd_config, field), 0

/* Ranges, each with its reason. */
enum {
    MIN_FRAME = 1024,                    /* a score request with a long user agent fits */
    MAX_FRAME = 64 * 1024 * 1024,        /* an observe batch larger than this is a mistake */
    MAX_CONNECTIONS = 65536,             /* far past any fd limit we would be given */
    MAX_COALESCE_US = 1000,              /* the p99 target is 1 ms: never wait that long */
    MIN_PACKET = 512,                    /* room for an envelope, a header and one update */
    MAX_PACKET = 65000,                  /* a UDP datagram */
    MAX_SCORE = 100,                     /* scores are 0..100 */
    MAX_TOP_K = 4096,                    /* CRDT_HH_K_MAX: a summary scan per miss */
    MAX_ENTITIES = 100 * 1000 * 1000,    /* 100 M entities is past any host's memory budget */
    MAX_BYTES_PER_S = 1024 * 1024 * 1024 /* a gigabyte per second of gossip is a typo */
};
#define MIN_SNAPSHOT  ((int64_t)1000)                 /* more often than 1 s only burns disk */
#define MAX_DURATION  ((int64_t)365 * IVT_MS_PER_DAY) /* a year: any longer is a typo */
#define MAX_THRESHOLD ((int64_t)UINT32_MAX)

static const struct row rows[] = {
    {{"node.name", "a non-empty string of at most 31 bytes", "the hostname", false,
      "The node's name in member lists, logs and decisions."},
     K_STR,
     F(name),
     1,
     0},
    {{"node.state_dir", "a non-empty string (a directory path)", "\"/var/lib/ivtd\"", false,
      "Where the node id, generation, keyring and evidence snapshot are kept."},
     K_STR,
     F(state_dir),
     1,
     0},
    {{"node.snapshot_interval", "a duration string like \"60s\" (at least 1s)", "\"60s\"", true,
      "How often the evidence is saved; a crash loses at most this much local evidence."},
     K_DURATION,
     FN(snapshot_interval),
     MIN_SNAPSHOT,
     MAX_DURATION},
    {{"cluster.bind", "a string \"ip:port\" (IPv4 or [IPv6])", "\"0.0.0.0:7946\"", false,
      "UDP gossip and TCP push-pull address."},
     K_BIND,
     F(bind),
     0,
     0},
    {{"cluster.advertise", "a string \"ip:port\" (IPv4 or [IPv6])",
      "the bind address (the first non-loopback interface when bind is a wildcard)", false,
      "The address other nodes reach this one at."},
     K_BIND,
     F(advertise),
     0,
     0},
    {{"cluster.seeds", "a list of at most 16 strings \"host:port\"", "[]", false,
      "Nodes to join at start (any few members of the cluster)."},
     K_SEEDS,
     F(seeds),
     0,
     0},
    {{"cluster.label", "a string of at most 63 bytes", "\"ivt\"", false,
      "Cluster label, authenticated in every packet: clusters with different labels never mix."},
     K_STR,
     F(label),
     0,
     0},
    {{"cluster.profile", "one of \"lan\", \"wan\", \"local\"", "\"lan\"", false,
      "Gossip timing profile."},
     K_PROFILE,
     FN(profile),
     0,
     0},
    {{"cluster.encrypt", "a base64 string of a 32-byte key (ivtctl keys generate)", "none", false,
      "The first gossip key: seeds the keyring on first start (the keyring file wins after)."},
     K_KEY,
     FN(encrypt),
     0,
     0},
    {{"cluster.evidence_key", "a base64 string of a 32-byte key (ivtctl keys generate)",
      "derived from the first gossip key", false,
      "Keys the hash of evidence keys: must be equal on every node; survives gossip key rotation."},
     K_KEY,
     FN(evidence_key),
     0,
     0},
    {{"cluster.keyring_file", "a string (a file path)", "\"<state_dir>/keyring\"", true,
      "The saved keyring (mode 0600); SIGHUP installs keys added to it."},
     K_STR,
     F(keyring_file),
     0,
     0},
    {{"gossip.packet_size", "an integer 512..65000", "1200", false, "Largest datagram ever sent."},
     K_I64_OPT,
     FN(packet_size),
     MIN_PACKET,
     MAX_PACKET},
    {{"gossip.full_digests", "a boolean", "false", false,
      "Push-pull member digests in full, as nodes before hashed digests (a way back)."},
     K_BOOL,
     FN(full_digests),
     0,
     0},
    {{"gossip.cipher", "one of \"xchacha20-poly1305\", \"aes-256-gcm\"", "\"xchacha20-poly1305\"",
      false,
      "The AEAD this node seals with; it opens both. aes-256-gcm needs AES-NI on every node (a way "
      "to spend less CPU on gossip)."},
     K_CIPHER,
     FN(cipher),
     0,
     0},
    {{"api.listen", "a list of strings \"ip:port\" or \"unix:/path\"", "[\"127.0.0.1:7947\"]",
      false, "Where ad servers call score, observe and lookup (msgpack-RPC)."},
     K_LISTEN,
     F(api_listen),
     0,
     0},
    {{"api.max_frame", "an integer 1024..67108864 (bytes)", "1048576", true,
      "Largest request frame; a larger one gets ETOOBIG and the connection is closed."},
     K_U32,
     FN(api_max_frame),
     MIN_FRAME,
     MAX_FRAME},
    {{"api.max_connections", "an integer 1..65536", "1024", true,
      "Open API and control connections at most; more are accepted and closed at once."},
     K_U32,
     FN(api_max_connections),
     1,
     MAX_CONNECTIONS},
    {{"api.coalesce_us", "an integer 0..1000 (microseconds)", "50", true,
      "While requests arrive faster than two per window, gather them for up to this long "
      "before reading (fewer system calls per request); 0: read each at once."},
     K_U32,
     FN(api_coalesce_us),
     0,
     MAX_COALESCE_US},
    {{"control.socket", "a string (a unix socket path), \"\" to disable",
      "\"/run/ivtd/control.sock\"", false, "The ivtctl control socket."},
     K_STR,
     F(control_socket),
     0,
     0},
    {{"control.mode", "an octal mode string like \"0600\"", "\"0600\"", false,
      "Permissions of the control socket."},
     K_MODE,
     FN(control_mode),
     0,
     0777},
    {{"metrics.listen", "a string \"ip:port\", \"\" to disable", "\"127.0.0.1:9947\"", false,
      "Prometheus endpoint (GET /metrics)."},
     K_LISTEN_ONE,
     F(metrics_listen),
     0,
     0},
    {{"log.level", "one of \"debug\", \"info\", \"warn\", \"error\"", "\"info\"", true,
      "Lowest level logged (stderr, logfmt)."},
     K_LOGLEVEL,
     FN(log_level),
     0,
     0},
    {{"evidence.epoch", "a duration string like \"60s\"", "\"60s\"", false,
      "Length of an evidence epoch (aligned to the wall clock; the same on every node)."},
     K_DURATION_OPT,
     FN(epoch_ms),
     IVT_MS_PER_S,
     IVT_MS_PER_DAY},
    {{"evidence.window", "a duration string like \"60m\" (a multiple of evidence.epoch)", "\"60m\"",
      false, "How long evidence counts (the same on every node)."},
     K_DURATION_OPT,
     FN(window_ms),
     IVT_MS_PER_S,
     30 * (int64_t)IVT_MS_PER_DAY},
    {{"evidence.max_entities", "an integer 1..100000000", "1000000", false,
      "Live entities kept at most; past it the store evicts deterministically."},
     K_I64_OPT,
     FN(max_entities),
     1,
     MAX_ENTITIES},
    {{"evidence.gossip_bytes_per_s", "an integer 1..1073741824", "65536", false,
      "Evidence dissemination budget per node."},
     K_I64_OPT,
     FN(gossip_bytes_per_s),
     1,
     MAX_BYTES_PER_S},
    {{"evidence.admit_all", "a boolean", "false", false,
      "Share every entity with the fleet, not only those local signals admit (admission off)."},
     K_BOOL,
     FN(admit_all),
     0,
     0},
    {{"evidence.admit_events", "an integer 0..4294967295 (0 disables)", "60", true,
      "Local events of an IP or device per window that admit it into the shared evidence "
      "(lowered to detect.ip_requests / members, so no IP crossing that is missed)."},
     K_I64_OPT,
     FN(admit_events),
     0,
     MAX_THRESHOLD},
    {{"evidence.admit_ip_distinct_ua", "an integer 0..4294967295 (0 disables)", "2", true,
      "Distinct user agents of an IP seen locally that admit it."},
     K_I64_OPT,
     FN(admit_ip_distinct_ua),
     0,
     MAX_THRESHOLD},
    {{"evidence.admit_device_distinct_ip", "an integer 0..4294967295 (0 disables)", "2", true,
      "Distinct IPs of a device seen locally that admit it."},
     K_I64_OPT,
     FN(admit_device_distinct_ip),
     0,
     MAX_THRESHOLD},
    {{"evidence.admit_top_k", "an integer 0..4096 (0 disables)", "32", true,
      "This node's heaviest IPs and devices of each epoch that are admitted."},
     K_I64_OPT,
     FN(admit_top_k),
     0,
     MAX_TOP_K},
    {{"evidence.admit_top_min", "an integer 1..4294967295", "3", true,
      "Events in the epoch a heavy hitter needs at least to be admitted."},
     K_I64_OPT,
     FN(admit_top_min),
     1,
     MAX_THRESHOLD},
    {{"detect.ip_requests", "an integer 0..4294967295 (0 disables)", "the core's default", true,
      "Requests per IP per window, fleet-wide, above which the IP is suspect."},
     K_I64_OPT,
     FN(th_ip_requests),
     0,
     MAX_THRESHOLD},
    {{"detect.ip_distinct_ua", "an integer 0..4294967295 (0 disables)", "the core's default", true,
      "Distinct user agents per IP per window."},
     K_I64_OPT,
     FN(th_ip_distinct_ua),
     0,
     MAX_THRESHOLD},
    {{"detect.device_distinct_ip", "an integer 0..4294967295 (0 disables)", "the core's default",
      true, "Distinct IPs per device per window."},
     K_I64_OPT,
     FN(th_device_distinct_ip),
     0,
     MAX_THRESHOLD},
    {{"detect.prefix_requests", "an integer 0..4294967295 (0 disables)", "the core's default", true,
      "Requests per /24 (IPv4) or /48 (IPv6) per window."},
     K_I64_OPT,
     FN(th_prefix_requests),
     0,
     MAX_THRESHOLD},
    {{"detect.pub_datacenter_share", "a number 0.0..1.0", "the core's default", true,
      "Share of a publisher's requests from data centers above which it is suspect."},
     K_F64_OPT,
     FN(th_pub_datacenter_share),
     0,
     1},
    {{"detect.pub_min_requests", "an integer 0..4294967295", "the core's default", true,
      "Requests a publisher needs before its data-center share counts."},
     K_I64_OPT,
     FN(th_pub_min_requests),
     0,
     MAX_THRESHOLD},
    {{"detect.shared_ip_devices", "an integer 0..4294967295 (0 disables)", "the core's default",
      true, "Distinct returning devices per IP from which it counts as shared (CGNAT, proxy)."},
     K_I64_OPT,
     FN(th_shared_ip_devices),
     0,
     MAX_THRESHOLD},
    {{"detect.household_devices", "an integer 1..4294967295", "the core's default", true,
      "Devices per household: a shared IP's IP thresholds scale by its devices over this."},
     K_I64_OPT,
     FN(th_household_devices),
     1,
     MAX_THRESHOLD},
    {{"detect.shared_events_per_device", "a number 1.0..1000000.0", "the core's default", true,
      "Events per device at least, for a shared IP (a bot minting a device id per event has 1)."},
     K_F64_OPT,
     FN(th_shared_events_per_device),
     1,
     1000000},
    {{"detect.shared_ua_per_device", "a number 1.0..1000000.0", "the core's default", true,
      "Distinct user agents per device at most, for a shared IP (bots rotate them)."},
     K_F64_OPT,
     FN(th_shared_ua_per_device),
     1,
     1000000},
    {{"detect.suspect_score", "an integer 0..100", "50", true,
      "Score at or above which the verdict is suspect."},
     K_I64_OPT,
     FN(suspect_score),
     0,
     MAX_SCORE},
    {{"detect.bot_score", "an integer 0..100", "80", true,
      "Score at or above which the verdict is bot."},
     K_I64_OPT,
     FN(bot_score),
     0,
     MAX_SCORE},
    {{"detect.crawler_file", "a string (a file path)",
      "the installed crawler-user-agents.json (node/data/ when run from the repository)", true,
      "Crawler user-agent patterns (GIVT)."},
     K_STR,
     F(crawler_file),
     0,
     0},
    {{"detect.hosting_file", "a string (a file path)",
      "the installed hosting-asn-ipv4.csv (node/data/ when run from the repository)", true,
      "Data-center IPv4 ranges (GIVT)."},
     K_STR,
     F(hosting_file),
     0,
     0},
};

enum { N_ROWS = sizeof(rows) / sizeof(rows[0]) };

const struct ivtd_config_key *ivtd_config_key_at(size_t i)
{
    return i < N_ROWS ? &rows[i].doc : NULL;
}

void ivtd_config_defaults(struct ivtd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    if (gethostname(cfg->name, sizeof(cfg->name)) != 0 || !cfg->name[0])
        snprintf(cfg->name, sizeof(cfg->name), "ivtd");
    cfg->name[sizeof(cfg->name) - 1] = 0;
    snprintf(cfg->state_dir, sizeof(cfg->state_dir), "/var/lib/ivtd");
    cfg->snapshot_interval = 60 * IVT_MS_PER_S;
    snprintf(cfg->bind, sizeof(cfg->bind), "0.0.0.0:7946");
    cfg->profile = IVTD_PROFILE_LAN;
    cfg->cipher = GOSSIP_AEAD_XCHACHA20POLY1305;
    snprintf(cfg->api_listen[0], sizeof(cfg->api_listen[0]), "127.0.0.1:7947");
    cfg->n_api_listen = 1;
    cfg->api_max_frame = 1024 * 1024;
    cfg->api_max_connections = 1024;
    cfg->api_coalesce_us = IVTD_API_COALESCE_US;
    snprintf(cfg->control_socket, sizeof(cfg->control_socket), "/run/ivtd/control.sock");
    cfg->control_mode = 0600;
    snprintf(cfg->metrics_listen, sizeof(cfg->metrics_listen), "127.0.0.1:9947");
    cfg->log_level = IVTD_LOG_INFO;
    snprintf(cfg->label, sizeof(cfg->label), "ivt");
    cfg->th_pub_datacenter_share = IVTD_UNSET;
    cfg->th_shared_events_per_device = IVTD_UNSET;
    cfg->th_shared_ua_per_device = IVTD_UNSET;
    int64_t *opt[] = {&cfg->packet_size,
                      &cfg->epoch_ms,
                      &cfg->window_ms,
                      &cfg->max_entities,
                      &cfg->gossip_bytes_per_s,
                      &cfg->th_ip_requests,
                      &cfg->th_ip_distinct_ua,
                      &cfg->th_device_distinct_ip,
                      &cfg->suspect_score,
                      &cfg->bot_score,
                      &cfg->th_prefix_requests,
                      &cfg->th_pub_min_requests,
                      &cfg->th_shared_ip_devices,
                      &cfg->th_household_devices,
                      &cfg->admit_events,
                      &cfg->admit_ip_distinct_ua,
                      &cfg->admit_device_distinct_ip,
                      &cfg->admit_top_k,
                      &cfg->admit_top_min};
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
        *opt[i] = IVTD_UNSET;
}

/* ---- small parsers ------------------------------------------------------ */

int ivtd_duration_parse(ivt_ms *out, const char *s)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1},
                 {"s", IVT_MS_PER_S},
                 {"m", IVT_MS_PER_MIN},
                 {"h", IVT_MS_PER_HOUR},
                 {"d", IVT_MS_PER_DAY}};
    if (!isdigit((unsigned char)s[0]))
        return IVT_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return IVT_EINVAL;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (v > (unsigned long long)(INT64_MAX / units[i].ms))
                return IVT_EINVAL;
            *out = (ivt_ms)v * units[i].ms;
            return 0;
        }
    }
    return IVT_EINVAL;
}

int ivtd_hostport_split(char *host, size_t host_cap, uint16_t *port, const char *s)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return IVT_EINVAL;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return IVT_EINVAL; /* a bare IPv6 address needs brackets */
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= host_cap)
        return IVT_EINVAL;
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5)
        return IVT_EINVAL;
    unsigned v = 0;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return IVT_EINVAL;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > 65535)
        return IVT_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = 0;
    *port = (uint16_t)v;
    return 0;
}

int ivtd_sockaddr_parse(struct sockaddr_storage *out, const char *s)
{
    char host[IVTD_ADDR_MAX];
    uint16_t port;
    if (ivtd_hostport_split(host, sizeof(host), &port, s) != 0)
        return IVT_EINVAL;
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (s[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return 0;
    }
    if (s[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return 0;
    }
    return IVT_EINVAL;
}

static bool is_hostname(const char *host)
{
    for (const char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
            return false;
    return true;
}

/* "ip:port" with a literal address; lit_only false also allows DNS names. */
static bool hostport_ok(const char *s, bool lit_only)
{
    struct sockaddr_storage ss;
    if (ivtd_sockaddr_parse(&ss, s) == 0)
        return true;
    char host[IVTD_ADDR_MAX];
    uint16_t port;
    return !lit_only && s[0] != '[' && ivtd_hostport_split(host, sizeof(host), &port, s) == 0 &&
           is_hostname(host);
}

/* ---- errors ------------------------------------------------------------- */

struct ctx {
    const char *file;
    char *err;
    size_t cap;
};

static const char *type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "nothing";
    }
}

static void setting_path(char *out, size_t cap, const config_setting_t *s)
{
    const config_setting_t *parent = config_setting_parent(s);
    if (parent && !config_setting_is_root(parent) && config_setting_name(parent))
        snprintf(out, cap, "%s.%s", config_setting_name(parent),
                 config_setting_name(s) ? config_setting_name(s) : "?");
    else
        snprintf(out, cap, "%s", config_setting_name(s) ? config_setting_name(s) : "?");
}

/* "FILE:LINE: key 'k': expected E, found F" */
static int fail_at(struct ctx *c, const config_setting_t *s, const char *key, const char *expected,
                   const char *fmt, ...)
{
    char found[IVTD_ERR_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(found, sizeof(found), fmt, ap);
    va_end(ap);
    const char *file = config_setting_source_file(s);
    snprintf(c->err, c->cap, "%s:%u: key '%s': expected %s, found %s", file ? file : c->file,
             config_setting_source_line(s), key, expected, found);
    return IVT_EINVAL;
}

/* What a value looks like in an error: the string quoted, else its type. */
static void describe(char *out, size_t cap, const config_setting_t *s)
{
    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        snprintf(out, cap, "\"%.100s\"", config_setting_get_string(s));
    else if (config_setting_type(s) == CONFIG_TYPE_INT ||
             config_setting_type(s) == CONFIG_TYPE_INT64)
        snprintf(out, cap, "%lld", (long long)config_setting_get_int64(s));
    else
        snprintf(out, cap, "%s", type_name(config_setting_type(s)));
}

static int bad_value(struct ctx *c, const config_setting_t *s, const struct row *r)
{
    char found[160];
    describe(found, sizeof(found), s);
    return fail_at(c, s, r->doc.name, r->doc.expected, "%s", found);
}

/* Levenshtein distance, for "did you mean": keys are short. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAXK = 48 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXK || lb >= MAXK)
        return SIZE_MAX;
    size_t d[MAXK][MAXK];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

static int unknown_key(struct ctx *c, const config_setting_t *s)
{
    char key[IVTD_ADDR_MAX];
    setting_path(key, sizeof(key), s);
    const char *best = NULL;
    size_t best_d = 3; /* suggest only near misses: two edits or fewer */
    for (size_t i = 0; i < N_ROWS; i++) {
        size_t d = edit_distance(key, rows[i].doc.name);
        if (d < best_d) {
            best_d = d;
            best = rows[i].doc.name;
        }
    }
    const char *file = config_setting_source_file(s);
    int n = snprintf(c->err, c->cap, "%s:%u: unknown key '%s'", file ? file : c->file,
                     config_setting_source_line(s), key);
    if (best && n > 0 && (size_t)n < c->cap)
        snprintf(c->err + n, c->cap - (size_t)n, " (did you mean '%s'?)", best);
    else if (n > 0 && (size_t)n < c->cap)
        snprintf(c->err + n, c->cap - (size_t)n, " (see docs/configuration.md)");
    return IVT_EINVAL;
}

/* ---- applying one setting ------------------------------------------------ */

static int want_type(struct ctx *c, const config_setting_t *s, const struct row *r, int type)
{
    int t = config_setting_type(s);
    if (t == type || (type == CONFIG_TYPE_INT && t == CONFIG_TYPE_INT64))
        return 0;
    return fail_at(c, s, r->doc.name, r->doc.expected, "%s", type_name(t));
}

static int copy_str(struct ctx *c, const config_setting_t *s, const struct row *r, char *dst,
                    size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap)
        return fail_at(c, s, r->doc.name, r->doc.expected, "a string of %zu bytes", n);
    memcpy(dst, v, n + 1);
    return 0;
}

/* Each element of a list or array of strings, checked by ok(). */
static int apply_list(struct ctx *c, const config_setting_t *s, const struct row *r,
                      struct ivtd_config *cfg, size_t max, bool (*ok)(const char *))
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
        return fail_at(c, s, r->doc.name, r->doc.expected, "%s", type_name(t));
    int n = config_setting_length(s);
    if (n < 0 || (size_t)n > max)
        return fail_at(c, s, r->doc.name, r->doc.expected, "a list of %d entries (at most %zu)", n,
                       max);
    char(*dst)[IVTD_ADDR_MAX] = (char(*)[IVTD_ADDR_MAX])((char *)cfg + r->off);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail_at(c, e, r->doc.name, r->doc.expected, "%s at index %d",
                           type_name(config_setting_type(e)), i);
        const char *v = config_setting_get_string(e);
        if (strlen(v) >= IVTD_ADDR_MAX || !ok(v))
            return fail_at(c, e, r->doc.name, r->doc.expected, "\"%.100s\" at index %d", v, i);
        memcpy(dst[i], v, strlen(v) + 1);
    }
    if (r->off == offsetof(struct ivtd_config, seeds))
        cfg->n_seeds = (size_t)n;
    else
        cfg->n_api_listen = (size_t)n;
    return 0;
}

static bool seed_ok(const char *v)
{
    return hostport_ok(v, false);
}

static bool listen_ok(const char *v)
{
    if (strncmp(v, "unix:", 5) == 0)
        return v[5] == '/' && strlen(v + 5) < 108; /* sun_path */
    return hostport_ok(v, true);
}

static int apply_int(struct ctx *c, const config_setting_t *s, const struct row *r, int64_t *v)
{
    int rc = want_type(c, s, r, CONFIG_TYPE_INT);
    if (rc)
        return rc;
    *v = config_setting_get_int64(s);
    if (*v < r->min || *v > r->max)
        return bad_value(c, s, r);
    return 0;
}

static int apply_duration(struct ctx *c, const config_setting_t *s, const struct row *r, int64_t *v)
{
    int rc = want_type(c, s, r, CONFIG_TYPE_STRING);
    if (rc)
        return rc;
    if (ivtd_duration_parse(v, config_setting_get_string(s)) != 0 || *v < r->min || *v > r->max)
        return bad_value(c, s, r);
    return 0;
}

static int apply(struct ctx *c, const config_setting_t *s, const struct row *r,
                 struct ivtd_config *cfg)
{
    void *field = (char *)cfg + r->off;
    int rc;
    int64_t v;
    const char *str;
    switch (r->kind) {
    case K_STR:
        if ((rc = want_type(c, s, r, CONFIG_TYPE_STRING)))
            return rc;
        if (strlen(config_setting_get_string(s)) < (size_t)r->min)
            return bad_value(c, s, r);
        return copy_str(c, s, r, field, r->cap, config_setting_get_string(s));
    case K_BIND:
    case K_LISTEN_ONE:
        if ((rc = want_type(c, s, r, CONFIG_TYPE_STRING)))
            return rc;
        str = config_setting_get_string(s);
        if (!(r->kind == K_LISTEN_ONE && !*str) && !hostport_ok(str, true))
            return bad_value(c, s, r);
        return copy_str(c, s, r, field, r->cap, str);
    case K_SEEDS: return apply_list(c, s, r, cfg, IVTD_MAX_SEEDS, seed_ok);
    case K_LISTEN: return apply_list(c, s, r, cfg, IVTD_MAX_LISTEN, listen_ok);
    case K_DURATION:
    case K_DURATION_OPT: return apply_duration(c, s, r, (int64_t *)field);
    case K_U32:
        if ((rc = apply_int(c, s, r, &v)))
            return rc;
        *(uint32_t *)field = (uint32_t)v;
        return 0;
    case K_I64_OPT: return apply_int(c, s, r, (int64_t *)field);
    case K_BOOL:
        if ((rc = want_type(c, s, r, CONFIG_TYPE_BOOL)))
            return rc;
        *(bool *)field = config_setting_get_bool(s);
        return 0;
    case K_F64_OPT: {
        int t = config_setting_type(s);
        double dv;
        if (t == CONFIG_TYPE_FLOAT)
            dv = config_setting_get_float(s);
        else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
            dv = (double)config_setting_get_int64(s);
        else
            return fail_at(c, s, r->doc.name, r->doc.expected, "%s", type_name(t));
        if (!(dv >= (double)r->min && dv <= (double)r->max))
            return fail_at(c, s, r->doc.name, r->doc.expected, "%g", dv);
        *(double *)field = dv;
        return 0;
    }
    case K_PROFILE:
    case K_LOGLEVEL: {
        static const char *const profiles[] = {"lan", "wan", "local", NULL};
        static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
        const char *const *names = r->kind == K_PROFILE ? profiles : levels;
        if ((rc = want_type(c, s, r, CONFIG_TYPE_STRING)))
            return rc;
        str = config_setting_get_string(s);
        for (int i = 0; names[i]; i++)
            if (strcmp(str, names[i]) == 0) {
                if (r->kind == K_PROFILE)
                    cfg->profile = (enum ivtd_profile)i;
                else
                    cfg->log_level = (enum ivtd_log_level)i;
                return 0;
            }
        return bad_value(c, s, r);
    }
    case K_CIPHER: {
        if ((rc = want_type(c, s, r, CONFIG_TYPE_STRING)))
            return rc;
        enum gossip_aead a = gossip_aead_parse(config_setting_get_string(s));
        if (!a)
            return bad_value(c, s, r);
        if (!gossip_aead_available(a))
            return fail_at(c, s, r->doc.name, r->doc.expected,
                           "\"%s\", which this CPU cannot run (it lacks AES-NI or PCLMUL)",
                           gossip_aead_name(a));
        *(uint8_t *)field = (uint8_t)a;
        return 0;
    }
    case K_KEY: {
        if ((rc = want_type(c, s, r, CONFIG_TYPE_STRING)))
            return rc;
        str = config_setting_get_string(s);
        /* Not bad_value(): the key is a secret, never echo it into a log. */
        struct ivtd_secret *sec = field;
        if (gossip_key_decode_base64(sec->key, str, strlen(str)) != 0)
            return fail_at(c, s, r->doc.name, r->doc.expected,
                           "a string of %zu characters that is not base64 of 32 bytes",
                           strlen(str));
        sec->set = true;
        return 0;
    }
    case K_MODE: {
        if ((rc = want_type(c, s, r, CONFIG_TYPE_STRING)))
            return rc;
        str = config_setting_get_string(s);
        char *end;
        unsigned long m = strtoul(str, &end, 8);
        if (str[0] != '0' || *end || m > (unsigned long)r->max)
            return bad_value(c, s, r);
        cfg->control_mode = (uint32_t)m;
        return 0;
    }
    }
    return IVT_EINVAL;
}

static const struct row *find_row(const char *key)
{
    for (size_t i = 0; i < N_ROWS; i++)
        if (strcmp(rows[i].doc.name, key) == 0)
            return &rows[i];
    return NULL;
}

static bool is_group_name(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < N_ROWS; i++)
        if (strncmp(rows[i].doc.name, name, n) == 0 && rows[i].doc.name[n] == '.')
            return true;
    return false;
}

static int walk(struct ctx *c, config_t *lc, struct ivtd_config *cfg)
{
    const config_setting_t *root = config_root_setting(lc);
    int ng = config_setting_length(root);
    for (int g = 0; g < ng; g++) {
        const config_setting_t *grp = config_setting_get_elem(root, (unsigned)g);
        const char *gname = config_setting_name(grp);
        if (!is_group_name(gname))
            return unknown_key(c, grp);
        if (config_setting_type(grp) != CONFIG_TYPE_GROUP) {
            char expected[80];
            snprintf(expected, sizeof(expected), "a group %s = { ... }", gname);
            return fail_at(c, grp, gname, expected, "%s", type_name(config_setting_type(grp)));
        }
        int nk = config_setting_length(grp);
        for (int k = 0; k < nk; k++) {
            const config_setting_t *s = config_setting_get_elem(grp, (unsigned)k);
            char key[IVTD_ADDR_MAX];
            setting_path(key, sizeof(key), s);
            const struct row *r = find_row(key);
            if (!r)
                return unknown_key(c, s);
            int rc = apply(c, s, r, cfg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* Checks that span keys (the window is whole epochs). */
static int cross_check(struct ctx *c, config_t *lc, const struct ivtd_config *cfg)
{
    if (cfg->window_ms != IVTD_UNSET) {
        int64_t epoch = cfg->epoch_ms != IVTD_UNSET ? cfg->epoch_ms : 60 * IVT_MS_PER_S;
        if (cfg->window_ms % epoch != 0 || cfg->window_ms < epoch) {
            const config_setting_t *s = config_lookup(lc, "evidence.window");
            return fail_at(c, s, "evidence.window", "a whole number of evidence.epoch",
                           "\"%s\" (epoch is %lld ms)", config_setting_get_string(s),
                           (long long)epoch);
        }
    }
    if (cfg->suspect_score != IVTD_UNSET && cfg->bot_score != IVTD_UNSET &&
        cfg->bot_score < cfg->suspect_score) {
        const config_setting_t *s = config_lookup(lc, "detect.bot_score");
        return fail_at(c, s, "detect.bot_score", "a score at or above detect.suspect_score", "%lld",
                       (long long)cfg->bot_score);
    }
    return 0;
}

int ivtd_config_load(struct ivtd_config *cfg, const char *path, char *err, size_t err_cap)
{
    struct ctx c = {path, err, err_cap};
    err[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_cap, "%s: cannot read the configuration file: %s", path, strerror(errno));
        return IVT_ENOENT;
    }
    config_t lc;
    config_init(&lc);
    /* Strict: no silent int<->float conversions. */
    config_set_auto_convert(&lc, CONFIG_FALSE);
    int rc = 0;
    if (config_read(&lc, f) != CONFIG_TRUE) {
        snprintf(err, err_cap, "%s:%d: syntax error: %s",
                 config_error_file(&lc) ? config_error_file(&lc) : path, config_error_line(&lc),
                 config_error_text(&lc));
        rc = IVT_EPROTO;
    } else {
        if (strlen(path) < sizeof(cfg->file))
            snprintf(cfg->file, sizeof(cfg->file), "%s", path);
        rc = walk(&c, &lc, cfg);
        if (!rc)
            rc = cross_check(&c, &lc, cfg);
    }
    config_destroy(&lc);
    fclose(f);
    if (!rc && !cfg->keyring_file[0]) {
        if ((size_t)snprintf(cfg->keyring_file, sizeof(cfg->keyring_file), "%s/keyring",
                             cfg->state_dir) >= sizeof(cfg->keyring_file)) {
            snprintf(err, err_cap, "%s: key 'node.state_dir': expected a shorter path", path);
            rc = IVT_EINVAL;
        }
    }
    return rc;
}
