/*
 * node/config.h: the ivtd configuration file (libconfig), read strictly.
 *
 * Every key has a default, so a node needs only cluster.bind, cluster.seeds
 * and a key. The file is checked against one table of known keys
 * (ivtd_config_key_at): an unknown key, a wrong type or a value out of range
 * is an error that names the file, the line, the key, what was expected and
 * what was found, e.g.
 *
 *   ivtd.cfg:7: key 'cluster.bind': expected a string "host:port", found an integer
 *
 * Durations are strings with a unit ("500ms", "60s", "15m", "1h", "7d").
 *
 * The node-core numbers (evidence and detector knobs) are kept "unset"
 * (IVTD_UNSET) unless the file sets them, so the daemon applies only what
 * the operator wrote over node_config_defaults(): the core stays the one
 * place that owns those defaults.
 *
 * Shell code (node/, not the sans-IO core): it reads files and the hostname.
 */
#ifndef IVT_NODE_CONFIG_H
#define IVT_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"

enum {
    IVTD_PATH_MAX = 256, /* state_dir, sockets, files: sun_path is 108, others short */
    IVTD_ADDR_MAX = 300, /* "host:port", "[v6]:port" or "unix:/path" */
    IVTD_NAME_MAX = 32,  /* node.name: GOSSIP_NAME_MAX, NUL included */
    IVTD_LABEL_MAX = 64, /* cluster.label, as node_config holds it */
    IVTD_MAX_SEEDS = 16, /* GOSSIP_SEEDS_MAX: a few seeds suffice, gossip finds the rest */
    IVTD_MAX_LISTEN = 8, /* api.listen entries */
    IVTD_ERR_MAX = 512,  /* one error message */
    IVTD_KEY_LEN = 32,   /* a gossip key */
    /* api.coalesce_us: at 100,000 requests/s, five per read; a request
     * waits 50 us at most, a twentieth of the 1 ms p99 an ad server needs
     * (docs/benchmarks.md, "Read coalescing") */
    IVTD_API_COALESCE_US = 50
};

/* A node-core number the file did not set: the core's default applies. */
#define IVTD_UNSET (-1)

enum ivtd_log_level {
    IVTD_LOG_DEBUG = 0,
    IVTD_LOG_INFO = 1,
    IVTD_LOG_WARN = 2,
    IVTD_LOG_ERROR = 3
};

/* Same values as enum node_profile (node/node.h). */
enum ivtd_profile { IVTD_PROFILE_LAN = 0, IVTD_PROFILE_WAN = 1, IVTD_PROFILE_LOCAL = 2 };

/* A 32-byte secret from the file (base64), and whether it was set. */
struct ivtd_secret {
    bool set;
    uint8_t key[IVTD_KEY_LEN];
};

struct ivtd_config {
    char file[IVTD_PATH_MAX]; /* the file it came from ("" for defaults only) */

    /* node */
    char name[IVTD_NAME_MAX];
    char state_dir[IVTD_PATH_MAX];
    ivt_ms snapshot_interval;

    /* cluster */
    char bind[IVTD_ADDR_MAX];
    char advertise[IVTD_ADDR_MAX]; /* "" = the bind address */
    char seeds[IVTD_MAX_SEEDS][IVTD_ADDR_MAX];
    size_t n_seeds;
    char label[IVTD_LABEL_MAX];
    enum ivtd_profile profile;
    struct ivtd_secret encrypt;       /* the first gossip key */
    struct ivtd_secret evidence_key;  /* unset: derived from the first gossip key */
    char keyring_file[IVTD_PATH_MAX]; /* resolved: "<state_dir>/keyring" by default */

    /* api */
    char api_listen[IVTD_MAX_LISTEN][IVTD_ADDR_MAX];
    size_t n_api_listen;
    uint32_t api_max_frame;
    uint32_t api_max_connections;
    uint32_t api_coalesce_us; /* node/rpc.h: struct ivtd_coalesce */

    /* control */
    char control_socket[IVTD_PATH_MAX]; /* "" disables the control socket */
    uint32_t control_mode;

    /* metrics */
    char metrics_listen[IVTD_ADDR_MAX]; /* "" disables the metrics endpoint */

    /* log */
    enum ivtd_log_level log_level;

    /* node core knobs: IVTD_UNSET or the value to apply */
    int64_t packet_size;
    int64_t epoch_ms;
    int64_t window_ms;
    int64_t max_entities;
    int64_t gossip_bytes_per_s;
    bool admit_all;    /* evidence.admit_all: share every entity */
    bool full_digests; /* gossip.full_digests: push-pull digests as before hashed ones */
    uint8_t cipher;    /* gossip.cipher: an enum gossip_aead (gossip/envelope.h) */
    int64_t admit_events;
    int64_t admit_ip_distinct_ua;
    int64_t admit_device_distinct_ip;
    int64_t admit_top_k;
    int64_t admit_top_min;
    int64_t th_ip_requests;
    int64_t th_ip_distinct_ua;
    int64_t th_device_distinct_ip;
    int64_t th_prefix_requests;
    int64_t th_pub_min_requests;
    double th_pub_datacenter_share; /* IVTD_UNSET or 0..1 */
    int64_t th_shared_ip_devices;
    int64_t th_household_devices;
    double th_shared_events_per_device; /* IVTD_UNSET or >= 1 */
    double th_shared_ua_per_device;     /* IVTD_UNSET or >= 1 */
    int64_t suspect_score;
    int64_t bot_score;
    char crawler_file[IVTD_PATH_MAX]; /* "" = the installed or repository data file */
    char hosting_file[IVTD_PATH_MAX];
};

/* How a key is documented and whether SIGHUP applies it. */
struct ivtd_config_key {
    const char *name;     /* "cluster.bind" */
    const char *expected; /* "a string \"host:port\"" */
    const char *def;      /* the default, as an operator would write it */
    bool reload;          /* SIGHUP applies a change without a restart */
    const char *help;
};

/* The i-th key of the table of every key, or NULL past the end. */
const struct ivtd_config_key *ivtd_config_key_at(size_t i);

/* Fills cfg with every default (the hostname as node.name). */
void ivtd_config_defaults(struct ivtd_config *cfg);

/*
 * Reads and checks a file over the defaults. On failure err holds one line
 * "FILE:LINE: key 'x.y': expected ..., found ..." (or a libconfig syntax
 * error with its file and line). Returns 0 on success, or one of these
 * negative codes: IVT_ENOENT (the file cannot be read), IVT_EPROTO (a
 * syntax error), IVT_EINVAL (an unknown key, a wrong type, a bad value).
 */
int ivtd_config_load(struct ivtd_config *cfg, const char *path, char *err, size_t err_cap);

/* Parses "500ms", "60s", "15m", "1h", "7d" into milliseconds.
 * Returns 0 on success, or IVT_EINVAL. */
int ivtd_duration_parse(ivt_ms *out, const char *s);

/*
 * Splits "host:port", "[v6]:port" into host and port. host is not checked
 * beyond being non-empty and shorter than host_cap. Returns 0 on success, or
 * IVT_EINVAL.
 */
int ivtd_hostport_split(char *host, size_t host_cap, uint16_t *port, const char *s);

struct sockaddr_storage;
/* Parses "ip:port" / "[v6]:port" (literal addresses only) into a sockaddr.
 * Returns 0 on success, or IVT_EINVAL. */
int ivtd_sockaddr_parse(struct sockaddr_storage *out, const char *s);

#endif
