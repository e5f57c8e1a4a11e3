/*
 * node/ivtd.h: the daemon shell's shared state (internal to node/'s shell
 * files: daemon.c, api.c, main.c). Not part of the sans-IO core.
 *
 * One struct ivtd per process: the libuv loop, the node core it hosts, the
 * sockets and timers that feed it, and the shell's own counters.
 */
#ifndef IVT_NODE_IVTD_H
#define IVT_NODE_IVTD_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "gossip/gossip.h"
#include "node/config.h"
#include "node/detect.h"
#include "node/metrics.h"
#include "node/node.h"
#include "node/rpc.h"

#define IVTD_VERSION "0.1.0"

enum {
    IVTD_OUTBOX_BATCH = 32, /* datagrams moved from the core per node_outbox call */
    /* Member changes the core keeps between two pumps: a join storm of a
     * large fleet may pass more in one turn; the rest are counted. */
    IVTD_MEMBER_CHANGES = 256,
    IVTD_RXBUF = 65536,        /* a UDP datagram of any size fits; the core drops oversize */
    IVTD_STREAM_CHUNK = 65536, /* push-pull bytes moved per read or write */
    /* ivtd_rearm: a tick due this soon is left as it is (the node's
     * evidence flush interval: events observed now go out by then) */
    IVTD_REARM_SLACK_MS = 200
};

struct ivtd_stream;

/* The shell's own counters (the core and gossip keep theirs). */
struct ivtd_counters {
    uint64_t udp_send_errors;   /* uv_udp_try_send refused (buffer full, unreachable) */
    uint64_t udp_recv_errors;   /* the socket reported an error */
    uint64_t udp_dropped;       /* node_receive refused a datagram (gossip counts why) */
    uint64_t streams_refused;   /* push-pull connections refused: too many streams */
    uint64_t streams_failed;    /* push-pull connect or I/O errors */
    uint64_t snapshots_saved;   /* evidence snapshots written */
    uint64_t snapshots_failed;  /* encode or write failures */
    uint64_t snapshots_skipped; /* a save was still running when the next was due */
    uint64_t snapshot_bytes;    /* size of the last snapshot */
    uint64_t reloads, reload_errors;
};

struct ivtd {
    uv_loop_t *loop;
    char cfg_path[IVTD_PATH_MAX];
    struct ivtd_config cfg;

    struct node *node;
    struct node_rules *rules;
    struct node_thresholds th;
    uint8_t id[GOSSIP_ID_LEN];
    uint32_t generation;
    struct gossip_addr self_addr;
    int lock_fd;

    uv_udp_t udp;
    uv_tcp_t pushpull;
    uv_timer_t tick, snap, rate, grace;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t snap_step; /* a snapshot being encoded, a step every SNAPSHOT_STEP_MS */
    struct ivtd_rpc *api, *control;
    struct ivtd_http *http;
    struct ivtd_lag lag;
    struct ivtd_slow_cbs slow; /* callbacks that held the loop over IVTD_SLOW_CB_NS */
    struct ivtd_hugemem *mem;  /* the store's allocator, chunks faulted in ahead */
    struct ivtd_stream *streams;

    struct ivtd_hist score_hist;
    struct ivtd_counters c;
    uint64_t rate_events, rate_gossip_bytes; /* counters at the last rate tick */
    double events_per_s, gossip_bytes_per_s;
    char keyring_text[GOSSIP_KEYRING_MAX * (GOSSIP_KEY_BASE64_LEN + 1)]; /* as last saved */

    ivt_ms started, started_wall;
    uint64_t wall_turn_at; /* uv_now() when wall_turn was read */
    ivt_ms wall_turn;      /* ivtd_wall_turn's cached value */
    bool saving;           /* an asynchronous snapshot write is in flight */
    bool snapping;         /* snap_w is being filled (snap_step runs) */
    struct ivt_mpw snap_w; /* ... the snapshot so far */
    struct node_snapshot_job snap_job;
    bool stopping; /* leaving: no new work, exit once the grace ends */
    int exit_code;

    uint8_t rxbuf[IVTD_RXBUF];
    struct gossip_packet out[IVTD_OUTBOX_BATCH];
};

/* Unix milliseconds (the core's `wall`). */
ivt_ms ivtd_wall(void);
/* The wall clock as of this loop turn: read once per uv_now() value, so a
 * batch of pipelined requests pays one clock read, not one each. Behind
 * the true wall clock by at most the turn's length (milliseconds; an
 * evidence epoch is a minute). */
ivt_ms ivtd_wall_turn(struct ivtd *d);
/* The loop's monotonic milliseconds (the core's `now`). */
ivt_ms ivtd_now(const struct ivtd *d);

/* After any call into the core: send its datagrams, open the push-pull
 * connections it asks for, move stream bytes, re-arm the deadline timer. */
void ivtd_pump(struct ivtd *d);
/* After an API call that gave the node events: brings the tick forward
 * if the node now wants one sooner (evidence to flush after a quiet
 * spell). Cheap on the request path: nothing to do while a tick is due
 * within IVTD_REARM_SLACK_MS. */
void ivtd_rearm(struct ivtd *d);

/* Saves the keyring file if the keyring changed since the last save. */
void ivtd_save_keyring(struct ivtd *d);

/* The RPC tables: the ad-server API, and the control socket's superset. */
extern const struct ivtd_rpc_method ivtd_api_methods[];
extern const size_t ivtd_n_api_methods;
extern const struct ivtd_rpc_method ivtd_control_methods[];
extern const size_t ivtd_n_control_methods;

/* Renders every metric (GET /metrics and the control "metrics" method). */
void ivtd_render_metrics(void *ctx, struct ivtd_prom *p);

/* gossip_addr <-> "ip:port" / sockaddr. */
void ivtd_addr_format(char *out, size_t cap, const struct gossip_addr *a);
int ivtd_addr_from_sockaddr(struct gossip_addr *out, const struct sockaddr *sa);
void ivtd_addr_to_sockaddr(struct sockaddr_storage *out, const struct gossip_addr *a,
                           bool v6_socket);

/* Runs a node with a loaded configuration until SIGTERM/SIGINT. Returns the
 * process exit code (0 after a graceful leave, 1 when it cannot start). */
int ivtd_run(const struct ivtd_config *cfg, const char *cfg_path);

/* Whether a node with this configuration has a key (the file or the config);
 * if not, msg explains how to make one. */
bool ivtd_has_key(const struct ivtd_config *cfg, char *msg, size_t cap);

#endif
