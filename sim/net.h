/*
 * sim/net.h: a deterministic virtual network and clock for N sans-IO hosts.
 *
 * One event heap keyed by (time, seq) drives everything: datagram
 * deliveries, host ticks at the deadlines hosts ask for, stream traffic.
 * Each host is in a zone (a region or datacenter, 0 by default); every
 * ordered pair of zones has its own link: a delay, jitter, iid loss,
 * duplication and reordering (a latency matrix with faults per pair). Groups
 * of hosts can be cut apart one way or both ways and healed; a host can
 * crash (nothing delivered, never ticked), pause (a stalled loop: packets
 * wait in its "socket buffer", timers fire late) and restart (a new host
 * object, e.g. a new generation). Streams are reliable in-order virtual
 * connections with the link's delay, reset by a partition.
 *
 * Hosts are abstract (struct sim_net_ops), so the same network carries bare
 * gossip instances (tests, benchmarks: sim_net_gossip_ops) or full node
 * cores (ivtsim). Same seed, same calls: same trace (sim_net_trace_hash).
 */
#ifndef IVT_SIM_NET_H
#define IVT_SIM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "gossip/gossip.h"

struct sim_net;

/* What the network needs of a host (the sans-IO surface of gossip/node). */
struct sim_net_ops {
    int (*receive)(void *h, const struct gossip_addr *from, const uint8_t *p, size_t n, ivt_ms now);
    int (*tick)(void *h, ivt_ms now);
    ivt_ms (*next_deadline)(void *h);
    size_t (*outbox)(void *h, struct gossip_packet *out, size_t max);
    /* The host's gossip instance: the network drives its push-pull streams
     * (gossip_stream_*) directly, since every host's streams are gossip's. */
    struct gossip *(*gossip)(void *h);
    /* Optional: asks for the host's cold lines an event or two before its
     * turn (stage 0, then 1 an event later; gossip_warm, node_warm). */
    void (*warm)(void *h, int stage);
};

/* The ops for a bare struct gossip host. */
extern const struct sim_net_ops sim_net_gossip_ops;

struct sim_net_link {
    ivt_ms delay;         /* one-way base latency */
    ivt_ms jitter;        /* uniform extra [0, jitter] */
    double loss;          /* iid drop probability per datagram */
    double dup;           /* probability a datagram is delivered twice */
    double reorder;       /* probability a datagram is held back an extra delay */
    ivt_ms reorder_delay; /* how long: uniform [hold, 2 hold], hold = this or, when 0, delay */
};

/* Zones: the rows and columns of the link matrix. */
enum { SIM_NET_ZONES = 16 };

/* Sees every datagram sent (before loss); return false to drop it. */
typedef bool (*sim_net_tap_fn)(void *ctx, uint32_t from, uint32_t to, const uint8_t *p, size_t n,
                               ivt_ms now);

struct sim_net_stats {
    uint64_t sent, delivered, lost, blocked, duplicated;
    uint64_t bytes_sent;
    uint64_t streams, stream_bytes, streams_refused;
    uint64_t ticks; /* host timer callbacks run (a host asks only when work is due) */
};

/* Returns 0, or IVT_ENOMEM. The clock starts at `start`. */
int sim_net_new(struct sim_net **out, uint64_t seed, ivt_ms start);
void sim_net_delete(struct sim_net *n);

/* The address of host i (family 0, virtual). */
struct gossip_addr sim_net_addr(uint32_t i);

/* Adds a host; returns its index (>= 0) or IVT_ENOMEM. */
int sim_net_add(struct sim_net *n, const struct sim_net_ops *ops, void *host);
uint32_t sim_net_count(const struct sim_net *n);
void *sim_net_host(const struct sim_net *n, uint32_t i);

ivt_ms sim_net_now(const struct sim_net *n);
/* Sets the link of every pair of zones. */
void sim_net_set_link(struct sim_net *n, const struct sim_net_link *l);
/* Sets the link from zone a to zone b (one direction; zones < SIM_NET_ZONES). */
void sim_net_set_pair(struct sim_net *n, uint32_t a, uint32_t b, const struct sim_net_link *l);
const struct sim_net_link *sim_net_pair(const struct sim_net *n, uint32_t a, uint32_t b);
/* Puts a host in a zone (0 until set): its datagrams and streams take the
 * links of its zone's row and column. */
void sim_net_set_zone(struct sim_net *n, uint32_t host, uint32_t zone);
void sim_net_set_tap(struct sim_net *n, sim_net_tap_fn fn, void *ctx);

/* Partitions: each host is in a group (0 by default, < SIM_NET_GROUPS).
 * cut(a, b, both) stops datagrams and streams from group a to group b (and
 * b to a when both); heal() lifts every cut. */
enum { SIM_NET_GROUPS = 8 };
void sim_net_set_group(struct sim_net *n, uint32_t host, uint32_t group);
void sim_net_cut(struct sim_net *n, uint32_t a, uint32_t b, bool both);
void sim_net_heal(struct sim_net *n);

/* Crash: the host object stays (the caller owns it) but is never called again. */
void sim_net_crash(struct sim_net *n, uint32_t host);
bool sim_net_crashed(const struct sim_net *n, uint32_t host);
/* Stall the host's loop for ms from now: it is not called meanwhile;
 * datagrams wait and are handed over, after its timers, when it resumes. */
void sim_net_pause(struct sim_net *n, uint32_t host, ivt_ms ms);
/* Runs the host's loop once now (after the caller drove it directly, e.g.
 * gossip_join): its outbox, connections and timer are picked up. */
void sim_net_poke(struct sim_net *n, uint32_t host);
/* Replaces a (crashed) host with a new object at the same address. */
void sim_net_restart(struct sim_net *n, uint32_t host, void *new_host);

/* Runs every event up to and including time t; the clock ends at t. */
void sim_net_run_until(struct sim_net *n, ivt_ms t);
void sim_net_run_for(struct sim_net *n, ivt_ms ms);
/* Runs until pred(ctx) holds (checked every `step` ms) or `limit` ms pass;
 * returns whether it held. */
bool sim_net_wait(struct sim_net *n, bool (*pred)(void *ctx), void *ctx, ivt_ms step, ivt_ms limit);

void sim_net_get_stats(const struct sim_net *n, struct sim_net_stats *out);
/* Datagram and stream bytes host i sent. */
uint64_t sim_net_host_bytes(const struct sim_net *n, uint32_t i);
/* A hash of every delivery so far (time, from, to, bytes): replay check. */
uint64_t sim_net_trace_hash(const struct sim_net *n);

#endif
