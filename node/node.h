/*
 * node/node.h: the node core, the one thing both hosts run.
 *
 * SANS-IO. A node owns one gossip instance, the evidence store (crdt/) and
 * the detector. It never reads a clock, a socket, a file or a random
 * source: bytes, "now" and a seed come in as arguments; packets to send, a
 * next deadline and scores come out. The daemon (node/main.c and the shell
 * files beside it) hosts it on libuv; the simulator (sim/) hosts thousands
 * of them on a virtual clock and network. Nothing that decides protocol or
 * detection behaviour lives in either host.
 *
 * Two clocks come in, as design.md asks: `now` is monotonic milliseconds
 * for timers; `wall` is unix milliseconds for epochs, TTLs and event times.
 *
 * Every function that can fail returns 0 on success, or one of the negative
 * ivt_err codes of base/err.h named beside it.
 */
#ifndef IVT_NODE_NODE_H
#define IVT_NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "gossip/gossip.h"

struct crdt_alloc;
struct node;
struct node_rules;
struct node_thresholds;
struct ivt_mpw;

/* ---- events: the ad request as the detector sees it ------------------- */

enum node_event_kind {
    NODE_EV_REQUEST = 0,
    NODE_EV_IMPRESSION = 1,
    NODE_EV_CLICK = 2,
};

/* An IP address: family 4 or 6, bytes in network order (v4 in the first 4). */
struct node_ip {
    uint8_t family;
    uint8_t bytes[16];
};

/*
 * One event. Strings are views (pointer + length, not NUL-terminated) into
 * the caller's buffer; the node copies nothing it does not keep. Empty
 * device or country means absent; asn 0 means unknown.
 */
struct node_event {
    ivt_ms ts; /* unix ms at the ad server; 0 = use wall */
    struct node_ip ip;
    const char *ua;
    size_t ua_len;
    const char *device;
    size_t device_len;
    const char *pub;
    size_t pub_len;
    enum node_event_kind kind;
    char country[2];
    uint32_t asn;
};

/* Parses "192.0.2.1" or "2001:db8::1". Returns 0 or IVT_EINVAL. */
int node_ip_parse(struct node_ip *out, const char *s, size_t len);
/* Formats into buf (at least 46 bytes); returns buf. */
const char *node_ip_format(const struct node_ip *ip, char *buf, size_t cap);
/* Parses "request" | "impression" | "click". Returns 0 or IVT_EINVAL. */
int node_event_kind_parse(enum node_event_kind *out, const char *s, size_t len);
const char *node_event_kind_name(enum node_event_kind kind);

/* ---- entities --------------------------------------------------------- */

enum node_entity_kind {
    NODE_ENT_IP = 0,
    NODE_ENT_PREFIX = 1, /* /24 for v4, /48 for v6 */
    NODE_ENT_DEVICE = 2,
    NODE_ENT_UA = 3,
    NODE_ENT_PUB = 4,
    NODE_ENT_KINDS
};

int node_entity_kind_parse(enum node_entity_kind *out, const char *s, size_t len);
const char *node_entity_kind_name(enum node_entity_kind kind);

/* ---- scores ----------------------------------------------------------- */

enum node_verdict { NODE_VERDICT_OK = 0, NODE_VERDICT_SUSPECT = 1, NODE_VERDICT_BOT = 2 };
enum node_ivt_class { NODE_CLASS_NONE = 0, NODE_CLASS_GIVT = 1, NODE_CLASS_SIVT = 2 };

const char *node_verdict_name(enum node_verdict v);
const char *node_class_name(enum node_ivt_class c);

/* Why: the signal, the value seen locally, the value seen fleet-wide, and
 * the threshold it was held against. */
struct node_reason {
    char signal[32]; /* "crawler_ua", "datacenter_ip", "ip_rate", "ip_distinct_ua", ... */
    double local;
    double fleet;
    double threshold;
    uint8_t points;  /* its contribution to the score */
    char detail[96]; /* e.g. the crawler pattern or the hosting network's name */
};

enum { NODE_MAX_REASONS = 8 };

struct node_score {
    uint8_t score; /* 0 certainly human .. 100 certainly automated */
    enum node_verdict verdict;
    enum node_ivt_class class_;
    bool decided; /* a manual ban or allow decided it */
    uint8_t n_reasons;
    struct node_reason reasons[NODE_MAX_REASONS];
};

/* ---- lifecycle -------------------------------------------------------- */

enum node_profile { NODE_PROFILE_LAN = 0, NODE_PROFILE_WAN = 1, NODE_PROFILE_LOCAL = 2 };

/*
 * What a node is given. The host fills it from its configuration (the
 * daemon from libconfig, the simulator from a scenario) after
 * node_config_defaults(). Strings are copied by node_new.
 */
struct node_config {
    uint8_t id[16];      /* stable node id (persisted by the host) */
    uint32_t generation; /* raised by the host on every start */
    char name[64];
    char label[64]; /* cluster label: part of every packet's associated data */
    enum node_profile profile;
    struct gossip_keyring keyring; /* gossip keys: at least one (the primary) */
    struct gossip_addr addr;       /* the address this node advertises */
    /* Protocol knobs; NULL: node_gossip_defaults for the profile. Identity
     * fields (id, generation, name, addr, label, packet_size) always come
     * from here. */
    const struct gossip_config *gossip;
    /* The keyed-hash secret of the evidence store: equal on every node of
     * a cluster (the host derives it from the cluster secret, see
     * docs/evidence.md), so that keys hash alike fleet-wide and nobody
     * outside can aim traffic at chosen buckets. */
    uint8_t hash_key[16];
    size_t packet_size; /* max datagram, default 1200 */
    /* Push-pull member digests in full (gossip's pushpull_full_digests):
     * the operator's way back from hashed digests; default false. */
    bool full_digests;
    /* The AEAD gossip seals with, an enum gossip_aead (gossip/envelope.h);
     * 0: gossip's default, XChaCha20-Poly1305. */
    uint8_t aead;
    /* Member changes kept for node_member_changes (at most
     * NODE_MEMBER_CHANGES_MAX); default 0: none kept (the simulator). */
    uint32_t member_changes_max;

    /* evidence */
    ivt_ms epoch_ms;             /* default 60 s */
    uint32_t window_epochs;      /* default 60 (one hour) */
    uint32_t max_entities;       /* default 1,000,000 */
    uint32_t gossip_bytes_per_s; /* evidence dissemination budget, default 64 KiB/s */
    /* Share every entity, as if every local signal fired (the admission
     * step off); default false: IPs and devices are shared once admitted
     * (the admit_* thresholds of node/detect.h, docs/evidence.md). */
    bool admit_all;
    /* Where the evidence store maps its slab, table and pools (copied by
     * node_new); NULL: calloc. The daemon passes node/hugemem.h's. */
    const struct crdt_alloc *store_alloc;
    /* The store's entity table at full size from the start
     * (crdt_config.table_full): no rehash stalls as it fills. The daemon
     * sets it; the simulator, with thousands of small stores, does not. */
    bool store_table_full;

    /* Detector thresholds and points (node/detect.h); NULL: defaults.
     * Copied by node_new; node_set_thresholds changes them at run time. */
    const struct node_thresholds *thresholds;

    /* GIVT rules (crawler user agents, data-center ranges), built once by
     * the host with node_rules_new (node/rules.h) from the shipped data
     * files and shared read-only: ten thousand simulated nodes must not
     * compile fifteen hundred patterns each. May be NULL (no GIVT rules).
     * Must outlive the node. */
    const struct node_rules *rules;
};

void node_config_defaults(struct node_config *cfg);
/* The gossip knobs a node runs with when node_config.gossip is NULL: the
 * profile's, with the node's retransmit count for evidence. A host that
 * changes a knob (ivtsim's scenario keys) starts from these. */
void node_gossip_defaults(struct gossip_config *gc, enum node_profile profile);

/*
 * Creates a node. seed feeds its random generator (the daemon draws it
 * from libsodium, the simulator from the scenario seed). Returns 0, or
 * IVT_ENOMEM, IVT_EINVAL (a setting out of range), IVT_EPROTO (rules data
 * that does not parse).
 */
int node_new(struct node **out, const struct node_config *cfg, uint64_t seed, ivt_ms now,
             ivt_ms wall);
void node_delete(struct node *node);

/* SIGHUP: new thresholds (admission thresholds included) or rules without a
 * restart. Returns 0, or IVT_EINVAL (thresholds that node_thresholds_check
 * refuses: nothing changes), IVT_ENOMEM (no memory for a resized
 * heavy-hitter summary: the thresholds apply, admission runs without it). */
int node_set_thresholds(struct node *node, const struct node_thresholds *th);
void node_set_rules(struct node *node, const struct node_rules *rules);

/* ---- the sans-IO triplet, plus membership ----------------------------- */

/*
 * A datagram arrived from `from`. Malformed, forged and replayed packets are
 * counted (node_stats) and return their negative code; the node is unharmed.
 */
int node_receive(struct node *node, const struct gossip_addr *from, const uint8_t *data, size_t len,
                 ivt_ms now, ivt_ms wall);
/* Runs whatever is due: gossip rounds, epoch roll and expiry, delta flush. */
int node_tick(struct node *node, ivt_ms now, ivt_ms wall);
/* The earliest time node_tick has work (IVT_MS_NEVER when idle). */
ivt_ms node_next_deadline(const struct node *node);
/*
 * gossip_warm for a node, in two stages an event apart: stage 0 asks for the
 * node's own lines, stage 1 (once they have arrived) for the lines of its
 * gossip instance and evidence store they point to. Changes nothing.
 */
void node_warm(const struct node *node, int stage);
/* Moves up to max queued datagrams into out; returns how many. */
size_t node_outbox(struct node *node, struct gossip_packet *out, size_t max);

/* The pieces node_tick and a push-pull cut the store's whole-map work
 * into, so that no score waits behind a walk of a million records. Public
 * so the benchmarks time these sizes (crdt_store_tick_1m,
 * crdt_store_walks_1m in tests/crdt/bench_crdt.c). */
enum {
    NODE_ROLL_STEP = 4096,            /* records an epoch roll visits per node_tick */
    NODE_DIGEST_SLICE = 256,          /* stale digests encoded per 25 ms slice */
    NODE_DIGEST_ANSWER_MAX = 4096,    /* stale digests a push-pull encodes */
    NODE_REPAIR_BUDGET = 1024 * 1024, /* bytes of evidence one repair carries */
    NODE_REPAIR_STEP = 64 * 1024      /* ... written per segment, in whole buckets */
};

/* A member that appeared or changed, as gossip reported it. */
enum { NODE_MEMBER_CHANGES_MAX = 4096 };
struct node_member_change {
    char name[GOSSIP_NAME_MAX];
    struct gossip_addr addr;
    uint32_t generation, incarnation;
    enum gossip_member_state state;
    bool state_changed; /* gossip_member_info.state_changed */
};
/* Moves up to max member changes, oldest first, into out; returns how
 * many. Past member_changes_max waiting, the oldest are dropped and
 * counted in *dropped (may be NULL): the count since the previous call. */
size_t node_member_changes(struct node *node, struct node_member_change *out, size_t max,
                           uint64_t *dropped);

/* The gossip instance, for what the host drives directly: push-pull streams
 * (gossip_stream_*), the member list, and the keyring. */
struct gossip *node_gossip(struct node *node);

int node_join(struct node *node, const struct gossip_addr *seeds, size_t n, ivt_ms now);
int node_leave(struct node *node, ivt_ms now);

/*
 * Cluster-wide key rotation (ivtctl keys): applies the operation to this
 * node's keyring and broadcasts it, sealed with the current primary key, so
 * every node applies it too. Returns 0, or IVT_ENOENT (use/remove of a key
 * not installed), IVT_EINVAL (removing the primary), IVT_ELIMIT (keyring full).
 */
enum node_key_op { NODE_KEY_INSTALL = 0, NODE_KEY_USE = 1, NODE_KEY_REMOVE = 2 };
int node_key_op(struct node *node, enum node_key_op op, const uint8_t key[32], ivt_ms now);

/*
 * Keyring agreement. Every node's tags carry a fingerprint of its keyring
 * (the primary key id and a hash of all installed key ids), refreshed on
 * every tick, so one node tells whether a rotation reached each member.
 * NODE_KEYRING_UNKNOWN: the member's tags carry no fingerprint (an older
 * node, or one whose tags have not arrived yet).
 */
enum node_keyring_match { NODE_KEYRING_SAME = 0, NODE_KEYRING_DIFFERENT, NODE_KEYRING_UNKNOWN };
enum node_keyring_match node_keyring_match(const struct node *node,
                                           const struct gossip_member_info *m);

/* The keyring fingerprint in a member's tags (msgpack map, key "kr", a
 * 12-byte bin). Returns 0, IVT_ENOENT (no "kr"), or IVT_EPROTO (malformed
 * tags). Tags come from the network: never trusted, never read past len. */
enum { NODE_KEYRING_FP_LEN = 12 };
int node_tags_keyring(uint8_t fp[NODE_KEYRING_FP_LEN], const uint8_t *tags, size_t len);

/* ---- the request path -------------------------------------------------- */

/* Records an event as evidence. Returns 0, or IVT_EINVAL (bad kind, empty
 * ip), IVT_ESTALE (ts outside the window). Never allocates past max_entities. */
int node_observe(struct node *node, const struct node_event *ev, ivt_ms now, ivt_ms wall);

/* Records count events in order, exactly as count calls of node_observe
 * would (rc[i] gets what the i-th call returns), with the store's cache
 * misses of several events overlapped (crdt_store_update_batch). Returns
 * how many were accepted (rc[i] == 0). */
size_t node_observe_batch(struct node *node, int *rc, const struct node_event *ev, size_t count,
                          ivt_ms now, ivt_ms wall);

/* Scores an event from the converged evidence (and observes it first when
 * observe is true, so the score includes it). */
int node_score(struct node *node, struct node_score *out, const struct node_event *ev, bool observe,
               ivt_ms now, ivt_ms wall);

/* ---- analysts and operators -------------------------------------------- */

enum { NODE_KEY_MAX = 128, NODE_MAX_METRICS = 12 };

struct node_metric {
    char name[32]; /* "requests", "distinct_ua", "distinct_ip", "origins", ... */
    double local;  /* what this node saw itself */
    double fleet;  /* the merged, fleet-wide value */
};

enum node_action { NODE_ACT_NONE = 0, NODE_ACT_BAN = 1, NODE_ACT_ALLOW = 2, NODE_ACT_CLEAR = 3 };
const char *node_action_name(enum node_action a);

struct node_decision {
    enum node_entity_kind kind;
    char key[NODE_KEY_MAX];
    enum node_action action;
    char reason[128];
    ivt_ms set_at;   /* wall ms */
    ivt_ms expires;  /* wall ms */
    char origin[64]; /* name of the node that decided */
};

/* An entity's evidence and score: what `ivtctl explain` and `lookup` show. */
struct node_report {
    enum node_entity_kind kind;
    char key[NODE_KEY_MAX];
    bool known;  /* any evidence at all in the window */
    bool shared; /* admitted into the shared evidence; false: this node's only */
    struct node_score score;
    uint8_t n_metrics;
    struct node_metric metrics[NODE_MAX_METRICS];
    uint64_t first_epoch, last_epoch; /* evidence span in the window */
    bool has_decision;
    struct node_decision decision;
};

/* Keys of kind ip are addresses; of kind prefix, an address or ADDR/24
 * (IPv4), ADDR/48 (IPv6): both name the prefix holding the address. The
 * report carries the canonical key. Returns 0 (report->known tells whether
 * there was evidence), or IVT_EINVAL (bad kind, or a key of the wrong form). */
int node_lookup(struct node *node, struct node_report *out, enum node_entity_kind kind,
                const char *key, size_t key_len, ivt_ms wall);

struct node_top_row {
    enum node_entity_kind kind;
    char key[NODE_KEY_MAX];
    uint8_t score;
    enum node_verdict verdict;
    enum node_ivt_class class_;
    double requests_fleet;
    char top_signal[32];
};

/* The worst entities fleet-wide, highest score first (ties: more requests,
 * then key). kind < 0 means every kind. Returns how many rows were filled. */
size_t node_top(struct node *node, struct node_top_row *rows, size_t max, int kind, ivt_ms wall);

/* Bans or allows an entity fleet-wide for ttl (capped), or clears it. Keys
 * as node_lookup takes them. Returns 0, or IVT_EINVAL (bad kind, empty key
 * or one of the wrong form, ttl <= 0 or over the cap). */
int node_decide(struct node *node, enum node_entity_kind kind, const char *key, size_t key_len,
                enum node_action action, ivt_ms ttl, const char *reason, ivt_ms now, ivt_ms wall);
/* Live decisions, soonest expiry last; returns how many were filled. */
size_t node_decisions(struct node *node, struct node_decision *rows, size_t max, ivt_ms wall);

/* ---- persistence ------------------------------------------------------- */

/* The node's evidence and decisions, encoded (msgpack) into out. The host
 * writes the bytes to disk; it may do so off its event loop. */
int node_snapshot(struct node *node, struct ivt_mpw *out, ivt_ms wall);

/*
 * The same snapshot in steps, for a host that saves on its event loop
 * without stopping it: node_snapshot_begin writes the head and the
 * decisions into out; each node_snapshot_step appends at most max of the
 * store's records, none after the one that takes the step's encoding to
 * bytes or more (crdt_store_encode_part), and returns 1 while more remain, 0 when out holds the
 * whole snapshot, or a negative error. Events and merges may come between
 * the steps: a record is saved as it is at its step (node_restore joins
 * it as any older state).
 */
struct node_snapshot_job {
    size_t hdr;      /* offset of the snapshot's array header in out */
    uint32_t parts;  /* store messages written */
    uint32_t cursor; /* the store walk's position */
};
int node_snapshot_begin(struct node *node, struct ivt_mpw *out, struct node_snapshot_job *job);
int node_snapshot_step(struct node *node, struct ivt_mpw *out, struct node_snapshot_job *job,
                       size_t max, size_t bytes);
/* Merges a snapshot back in (after a restart, as a new generation).
 * Returns 0, or IVT_EPROTO / IVT_EVERSION for a file that does not decode. */
int node_restore(struct node *node, const uint8_t *data, size_t len, ivt_ms wall);

/* ---- numbers for status and metrics ------------------------------------ */

/* Why this node admitted an IP or device into the shared evidence (records
 * that arrive from peers are admitted by arriving, and not counted here). */
enum node_admit_reason {
    NODE_ADMIT_RULE = 0,     /* a GIVT hit: crawler user agent, data-center address */
    NODE_ADMIT_DECISION = 1, /* a manual ban or allow */
    NODE_ADMIT_EVENTS = 2,   /* local events over admit_events */
    NODE_ADMIT_DISTINCT = 3, /* local distinct UAs (IP) or IPs (device) */
    NODE_ADMIT_HEAVY = 4,    /* one of this node's heavy hitters of the epoch */
    NODE_ADMIT_REASONS
};
const char *node_admit_reason_name(enum node_admit_reason r);

struct node_stats {
    uint64_t events_observed;
    uint64_t events_rejected;
    uint64_t scores;
    uint64_t entities;       /* live entities in the store */
    uint64_t evidence_bytes; /* approximate memory of the store */
    uint64_t entities_evicted;
    uint64_t entities_expired;
    uint64_t pending;      /* entities with changes not yet gossiped */
    uint64_t digest_stale; /* shared entities changed since their digest was taken */
    uint64_t deltas_sent, deltas_received, deltas_bytes_out, deltas_bytes_in;
    uint64_t deltas_dropped;          /* the gossip queue was full: left to push-pull */
    uint64_t deltas_oversize;         /* entity records larger than a payload: left to push-pull */
    uint64_t payloads_rejected;       /* gossip payloads that did not decode or merge */
    uint64_t keyop_retries;           /* key operations published again (a member lagged) */
    uint64_t decision_resends;        /* decisions published again (lost broadcasts) */
    uint64_t keyop_retries_exhausted; /* given up: some member still differs (see status) */
    uint64_t epoch;                   /* the current epoch number */
    uint64_t merge_queued_bytes;      /* received repair evidence not merged yet */
    uint64_t entities_admitted;       /* live entities shared (the rest are local only) */
    uint64_t admissions[NODE_ADMIT_REASONS]; /* admitted here, by reason */
    /* Evidence cells and buckets a merge (delta, repair, snapshot) read and
     * did not join (crdt_merge_stats): older than the window, later than
     * the next epoch (a clock running ahead), naming an origin the table
     * had no room for, or a format 1 promoted epoch (an older build's). */
    uint64_t ignored_expired, ignored_future, ignored_origins_full, ignored_old_format;
};

/* Everything above, O(1): the store keeps its totals as it changes. */
void node_get_stats(const struct node *node, struct node_stats *out);

/* The evidence store's next record memory (crdt_store_slab_ahead), for a
 * daemon that faults it in on another thread. */
void node_slab_ahead(const struct node *node, void **at, size_t *len, size_t ahead);

/* A fingerprint of this node's shared evidence (a hash of the store's
 * anti-entropy digests, which cover admitted entities only): nodes holding
 * equal shared evidence have equal fingerprints, whatever local-only
 * evidence each also keeps. Costs what a push-pull digest costs. 0 when
 * memory ran out. */
uint64_t node_evidence_fingerprint(struct node *node);

/* Events recorded as evidence so far: O(1). */
uint64_t node_events_observed(const struct node *node);

#endif
