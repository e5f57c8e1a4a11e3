/*
 * gossip/gossip.h: encrypted SWIM + Lifeguard membership and dissemination,
 * as a library with no I/O.
 *
 * SANS-IO. Bytes, a source address and `now` (monotonic ms) go in; packets
 * to send, member events, delivered application payloads and the next
 * deadline come out. The daemon drives it over libuv, the simulator over a
 * virtual clock and network (sim/net.h), unit tests by hand:
 *
 *     gossip_receive(g, from, bytes, len, now);   // a datagram arrived
 *     gossip_tick(g, now);                        // whenever now >= deadline
 *     n = gossip_outbox(g, pkts, max);            // send these datagrams
 *     t = gossip_next_deadline(g);                // arm one timer for t
 *
 * Push-pull anti-entropy runs over streams (TCP in the daemon): the core
 * asks for outgoing connections (gossip_stream_poll_connect), the host
 * announces incoming ones (gossip_stream_accept) and moves bytes both ways
 * (gossip_stream_receive / gossip_stream_output) until the core says the
 * exchange is done, then closes.
 *
 * Every datagram and stream frame is sealed with the keyring's primary key
 * (gossip/envelope.h) and replay-checked per sender. Nothing malformed,
 * forged, replayed or oversize can crash a node: it is dropped and counted
 * by reason (struct gossip_stats).
 *
 * Every function that can fail returns 0 on success, or one of the
 * negative ivt_err codes of base/err.h named beside it. Delegate hooks
 * must not call back into gossip_* (they run inside gossip_* calls).
 * See docs/gossip.md for operators and docs/protocol.md for the wire.
 */
#ifndef IVT_GOSSIP_GOSSIP_H
#define IVT_GOSSIP_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "gossip/envelope.h" /* GOSSIP_LABEL_MAX */
#include "gossip/keyring.h"

struct gossip;
struct ivt_mpw;

enum {
    GOSSIP_ID_LEN = 16,       /* node id: random, persisted by the host */
    GOSSIP_NAME_MAX = 32,     /* node name, NUL included */
    GOSSIP_META_MAX = 32,     /* tags: opaque bytes (small: every node stores every member's) */
    GOSSIP_PACKET_MAX = 1400, /* buffer size; the configured packet_size must be <= this */
    /* the largest max_members: a member's index shares a 32-bit word of the
     * member index with 8 bits of its id's hash */
    GOSSIP_MAX_MEMBERS_LIMIT = (1 << 24) - 2
};

/*
 * An address a host can send to. family 4: bytes[0..3] are IPv4 in network
 * order; family 6: bytes[0..15] IPv6; family 0: a virtual address of the
 * simulator (bytes are its own). port in host order. Compare with
 * gossip_addr_eq (unused bytes must be zero).
 */
struct gossip_addr {
    uint8_t family;
    uint16_t port;
    uint8_t bytes[16];
};

bool gossip_addr_eq(const struct gossip_addr *a, const struct gossip_addr *b);

/* One datagram to send: never longer than the configured packet_size. */
struct gossip_packet {
    struct gossip_addr to;
    uint16_t len;
    uint8_t data[GOSSIP_PACKET_MAX];
};

enum gossip_profile {
    GOSSIP_PROFILE_LAN = 0,  /* memberlist's LAN values */
    GOSSIP_PROFILE_WAN = 1,  /* high-latency links: slower probes, longer suspicion */
    GOSSIP_PROFILE_LOCAL = 2 /* one host or tests: fast probes, few retransmits */
};

/*
 * Everything a gossip instance is given. Fill identity fields yourself and
 * every protocol knob with gossip_config_profile(), then override any knob.
 * docs/gossip.md lists each knob with its default per profile.
 */
struct gossip_config {
    /* identity */
    uint8_t id[GOSSIP_ID_LEN];
    uint32_t generation; /* persisted by the host and raised on every start */
    char name[GOSSIP_NAME_MAX];
    uint8_t meta[GOSSIP_META_MAX]; /* tags, opaque */
    size_t meta_len;
    struct gossip_addr addr;          /* the address this node advertises */
    char label[GOSSIP_LABEL_MAX + 1]; /* cluster label, NUL-terminated: AD of every seal */

    /* sizes */
    size_t packet_size;        /* max datagram (default 1200), <= GOSSIP_PACKET_MAX */
    size_t member_budget;      /* bytes per packet reserved for membership updates */
    size_t pushpull_max_bytes; /* largest push-pull frame accepted or sent */

    /* failure detection (SWIM + Lifeguard) */
    ivt_ms probe_interval;
    ivt_ms probe_timeout;
    uint32_t indirect_checks;    /* k helpers for an indirect probe */
    uint32_t suspicion_mult;     /* min suspicion = mult * max(1, log10 N) * probe_interval */
    uint32_t suspicion_max_mult; /* max suspicion = this * min */
    uint32_t awareness_max;      /* local health multiplier saturates at this */
    ivt_ms stall_threshold;      /* a tick this late means our loop stalled */

    /* dissemination */
    ivt_ms gossip_interval;
    uint32_t gossip_nodes;    /* fanout per gossip tick */
    ivt_ms gossip_to_dead;    /* dead members stay gossip targets this long */
    uint32_t retransmit_mult; /* limit = mult * ceil(log10(N + 1)) */
    /* The same for application payloads; 0: retransmit_mult. An
     * application with its own anti-entropy may spend fewer (never fewer
     * than retransmit_mult sends, the limit of a cluster under 10). */
    uint32_t app_retransmit_mult;
    /* A gossip round sends payload-only datagrams when the queued
     * payloads fill one, or when a payload would otherwise wait longer
     * than this since it was queued or last sent (0: every round,
     * memberlist's way).
     * Membership, probes and acks never wait; they carry payloads
     * whenever there is room. */
    ivt_ms app_max_delay;
    /* Demers et al.'s feedback: every this many copies of a queued
     * membership update (member_) or payload (app_) heard again from the
     * network count as one of our own sends, so news that has saturated
     * stops being retransmitted sooner; what it leaves missing, push-pull
     * repairs (docs/gossip.md). 0: off, every send is our own. */
    uint32_t member_feedback;
    uint32_t app_feedback;
    /* Lazy push: the first app_eager sends of a payload carry it whole;
     * the rest of its retransmit limit carry only its fingerprint (IHAVE,
     * 11 bytes). A member that has not heard it app_max_delay +
     * gossip_interval after an announcement asks the announcer (IWANT).
     * Each node then receives about app_eager copies of a payload instead
     * of the whole limit (docs/gossip.md, "Lazy push"). 0: off, every
     * send carries the payload (memberlist's way). */
    uint32_t app_eager;
    uint32_t app_queue_max; /* published payloads waiting to be sent */
    uint32_t app_seen_max;  /* payload ids remembered to deliver each once */

    /* anti-entropy, tombstones, healing */
    ivt_ms pushpull_interval; /* scaled up above 32 members */
    ivt_ms stream_timeout;    /* a push-pull exchange must finish within this */
    uint32_t stream_max;      /* concurrent push-pull streams */
    /* Least time between two segments of our app diff on one stream (0:
     * one per gossip_tick): a host whose delegate spends a millisecond on
     * a segment keeps its loop for its other work in between. */
    ivt_ms segment_gap;
    /* Push-pull member digests in full ([id, gen, inc, state] for every
     * member, both ways), as nodes before hashed digests: such a node
     * neither asks for nor sends a hashed digest. false (the default): an
     * exchange whose summaries differ lists 8-byte member hashes one way
     * and the hashes it lacks the other (docs/gossip.md, "Hashed
     * digests"). For tests of mixed versions, and a way back. */
    bool pushpull_full_digests;
    /* The AEAD this node seals with (gossip/envelope.h); it opens both.
     * Default XChaCha20-Poly1305, which every host runs. A fleet whose CPUs
     * all have AES-NI may choose AES-256-GCM: docs/security.md, "Ciphers". */
    enum gossip_aead aead;
    ivt_ms tombstone_ttl;      /* dead and left members are forgotten after this */
    ivt_ms reconnect_interval; /* retry one tombstone, re-join seeds when isolated */

    /* bounds */
    uint32_t max_members; /* 2 to GOSSIP_MAX_MEMBERS_LIMIT */
    uint32_t outbox_max;  /* datagrams held for the host; more are dropped and counted */
};

/* Sets every protocol knob (not the identity fields) to the profile's
 * values. Unknown profiles get LAN. */
void gossip_config_profile(struct gossip_config *cfg, enum gossip_profile p);

enum gossip_member_state {
    GOSSIP_ALIVE = 0,
    GOSSIP_SUSPECT = 1,
    GOSSIP_DEAD = 2,
    GOSSIP_LEFT = 3,
    GOSSIP_STATES = 4
};

const char *gossip_state_name(enum gossip_member_state st);

struct gossip_member_info {
    uint8_t id[GOSSIP_ID_LEN];
    uint32_t generation;
    uint32_t incarnation;
    char name[GOSSIP_NAME_MAX];
    struct gossip_addr addr;
    enum gossip_member_state state;
    uint8_t meta[GOSSIP_META_MAX];
    uint8_t meta_len;
    bool self;
    ivt_ms changed; /* local monotonic time of the last state change */
    /* In on_member: its state or generation changed (a join, a suspicion,
     * a death, a departure, a restart); false: only its incarnation,
     * address or tags. Always false from gossip_members. */
    bool state_changed;
};

/* Application hooks; none may re-enter gossip_*. Any may be NULL. */
struct gossip_delegate {
    void *ctx;
    /* a member appeared, changed state, address or tags */
    void (*on_member)(void *ctx, const struct gossip_member_info *m);
    /* a payload published by any node (this one excluded) arrived, once */
    void (*on_payload)(void *ctx, const uint8_t *p, size_t n);
    /* Optional: the datagram whose payloads on_payload just delivered has
     * no more. Their bytes stay valid until this returns, so a host may
     * keep the pointers and handle the datagram's payloads together (the
     * node merges its deltas in one batch, crdt_store_merge_many). */
    void (*on_payloads_end)(void *ctx);
    /* push-pull: our digest of application state */
    int (*app_digest)(void *ctx, struct ivt_mpw *out);
    /* push-pull: the state the peer lacks, given its digest, into out.
     * It may come in segments, so no one call holds the host's loop for
     * long: return IVT_EAGAIN with *job set (it is NULL at the first
     * call) and gossip calls app_diff again from gossip_tick (peer_digest
     * NULL, n 0, the same job, a fresh out), one call per stream and tick,
     * gossip_next_deadline asking for that tick at once, until it returns
     * anything but IVT_EAGAIN (0: the last segment; an error: an empty
     * one). Each segment goes to the peer in a frame of its own and
     * reaches its app_merge alone, in order. An empty segment with
     * IVT_EAGAIN is a pause: nothing is sent for it. When the stream ends
     * first, app_diff_cancel(ctx, job) frees the job. */
    int (*app_diff)(void *ctx, void **job, const uint8_t *peer_digest, size_t n,
                    struct ivt_mpw *out);
    void (*app_diff_cancel)(void *ctx, void *job);
    /* push-pull: merge what the peer sent */
    int (*app_merge)(void *ctx, const uint8_t *state, size_t n);
};

/*
 * Creates an instance. The keyring is copied (change it at run time with
 * gossip_keyring()); seed feeds the node's random generator (probe order,
 * nonces). Returns 0, or IVT_ENOMEM, IVT_EINVAL (a knob out of range: packet
 * size, zero intervals, meta too long, no key in the keyring).
 */
int gossip_new(struct gossip **out, const struct gossip_config *cfg,
               const struct gossip_keyring *kr, const struct gossip_delegate *d, uint64_t seed,
               ivt_ms now);
void gossip_delete(struct gossip *g);

/*
 * Joins through seeds: a push-pull stream (join flag set) to the first
 * seed, which the host connects (gossip_stream_poll_connect); when it
 * fails, to the next one, and so on. Five probe intervals after a join
 * succeeds, one ordinary push-pull with each other seed (or the same one
 * again when there is only one). Seeds are remembered and re-joined while
 * this node sees no other live member. Returns 0, or IVT_EINVAL (n == 0
 * or n > GOSSIP_SEEDS_MAX).
 */
enum { GOSSIP_SEEDS_MAX = 16 };
int gossip_join(struct gossip *g, const struct gossip_addr *seeds, size_t n, ivt_ms now);

/* Announces a graceful leave (members record us as left, not dead) and
 * stops probing. Keep ticking for a few gossip intervals so it spreads. */
int gossip_leave(struct gossip *g, ivt_ms now);

/*
 * A datagram arrived. Returns 0 when it was accepted, or the reason it was
 * dropped (also counted in gossip_stats): IVT_ETOOBIG (over packet_size),
 * IVT_EPROTO (garbage, or a plaintext that does not decode),
 * IVT_EVERSION, IVT_ENOENT (unknown key id), IVT_EAUTH (bad tag or label),
 * IVT_EREPLAY (seen before or too old), IVT_EEXIST (from ourselves).
 */
int gossip_receive(struct gossip *g, const struct gossip_addr *from, const uint8_t *data,
                   size_t len, ivt_ms now);

/* Runs whatever is due at now (probes, timeouts, gossip, push-pull,
 * reconnects, reaping). Calling it early is harmless. Returns 0. */
int gossip_tick(struct gossip *g, ivt_ms now);

/* The earliest time gossip_tick has work. */
ivt_ms gossip_next_deadline(const struct gossip *g);

/*
 * Asks the CPU for the lines of g that every receive and tick reads first,
 * without waiting for them. A host that knows which instance it will call
 * next (the simulator, whose thousands of instances are each cold when
 * their turn comes) calls it an event ahead, so those misses overlap the
 * work in between. Changes nothing; a host need never call it.
 */
void gossip_warm(const struct gossip *g);

/* Moves up to max queued datagrams into out, oldest first; returns how many. */
size_t gossip_outbox(struct gossip *g, struct gossip_packet *out, size_t max);

/*
 * Broadcasts opaque bytes to every member (each delivers it once through
 * on_payload). Returns 0, or IVT_ETOOBIG (len > gossip_app_budget()),
 * IVT_EINVAL (len == 0), IVT_ELIMIT (app_queue_max payloads waiting),
 * IVT_ENOMEM.
 */
int gossip_publish(struct gossip *g, const uint8_t *payload, size_t len, ivt_ms now);

/* The largest payload gossip_publish accepts: what always fits one packet
 * beside the reserved membership budget. */
size_t gossip_app_budget(const struct gossip *g);

/* The live keyring (install, use, remove at run time). */
struct gossip_keyring *gossip_keyring(struct gossip *g);

/* Replaces our tags and spreads them (a new incarnation). Returns 0, or
 * IVT_ETOOBIG (len > GOSSIP_META_MAX), IVT_ENOMEM. */
int gossip_set_meta(struct gossip *g, const uint8_t *meta, size_t len, ivt_ms now);

/* Copies up to max members (self first, then table order); returns how many. */
size_t gossip_members(const struct gossip *g, struct gossip_member_info *out, size_t max);
/* Members in state st, self included. */
size_t gossip_member_count(const struct gossip *g, enum gossip_member_state st);
/* One member by id. Returns 0 or IVT_ENOENT. */
int gossip_member(const struct gossip *g, const uint8_t id[GOSSIP_ID_LEN],
                  struct gossip_member_info *out);

/* Why a datagram or frame was dropped. */
enum gossip_drop {
    GOSSIP_DROP_OVERSIZE = 0, /* longer than packet_size */
    GOSSIP_DROP_GARBAGE,      /* too short or not an envelope */
    GOSSIP_DROP_VERSION,      /* envelope version we do not speak */
    GOSSIP_DROP_KEY,          /* key id not in our keyring */
    GOSSIP_DROP_AUTH,         /* bad tag: wrong key bytes, wrong label, tampering */
    GOSSIP_DROP_REPLAY,       /* (generation, counter) seen before or too old */
    GOSSIP_DROP_DECODE,       /* authentic, but the plaintext does not decode */
    GOSSIP_DROP_SELF,         /* carries our own id */
    GOSSIP_DROP_OUTBOX,       /* outgoing: the host did not drain the outbox */
    GOSSIP_DROP_REASONS
};

const char *gossip_drop_name(enum gossip_drop reason);

struct gossip_stats {
    uint64_t packets_in, packets_out, bytes_in, bytes_out;
    uint64_t dropped[GOSSIP_DROP_REASONS];
    /* Datagrams and push-pull frames opened, by their envelope's AEAD
     * (index: enum gossip_aead; 0 unused): while a fleet changes cipher,
     * what each node still receives in the old one. */
    uint64_t opened[GOSSIP_AEAD_AES256GCM + 1];
    /* payload bytes sent, by kind (datagrams), and stream bytes */
    uint64_t bytes_membership, bytes_app, bytes_probe, bytes_pushpull;
    uint64_t probes, probe_failures, indirect_probes, nacks_sent, nacks_received;
    uint64_t suspects_raised, refutes, deaths_declared;
    uint64_t suspicions_synced; /* lone accusations checked by a push-pull before killing */
    uint64_t payloads_published, payloads_delivered, payloads_dropped;
    uint64_t payload_datagrams; /* datagrams that delivered at least one payload */
    /* Lazy push: IWANTs sent for announced payloads we had not heard;
     * IWANTs we answered with the payload; IWANTs we could not answer
     * (the payload had left our queue and our retired ring, or the 8
     * datagrams an ask's datagram may be answered in were spent). */
    uint64_t app_wants_sent, app_wants_answered, app_wants_unanswered;
    uint64_t app_wants_overflow; /* announcements not followed up: the pending list was full */
    uint64_t pushpull_started, pushpull_completed, pushpull_failed;
    uint64_t digests_hashed;     /* push-pulls we answered with a hashed member digest */
    uint64_t syncs_after_growth; /* push-pulls when gossip had grown the view (docs/gossip.md) */
    uint64_t storm_updates; /* members new to us queued with retransmit_mult sends (a join storm) */
    uint64_t pulls_again;   /* push-pulls repeated because the last one brought members we lacked */
    uint64_t streams_rejected;   /* frames that failed to open or decode */
    uint64_t resurrections_held; /* push-pull claims of life for a tombstone, not applied */
    uint64_t suspects_heard;     /* suspects that talked to us, shown their accusation on a ping */
    uint64_t suspects_shown;     /* suspicions still unconfirmed at the shortest timeout: pinged */
    uint64_t nomem;   /* state dropped for want of memory: a member, a queued update, a timer */
    uint32_t health;  /* Lifeguard awareness: 0 healthy .. awareness_max - 1 */
    uint32_t members; /* table size, tombstones included */
};

void gossip_get_stats(const struct gossip *g, struct gossip_stats *out);

/* ---- push-pull streams --------------------------------------------------
 *
 * Stream ids are chosen by the core. Frames are length-prefixed, sealed
 * envelopes (docs/protocol.md). A host loop, for each stream:
 *   - outgoing: gossip_stream_poll_connect() -> connect to `to`; on failure
 *     gossip_stream_close();
 *   - incoming: accept the connection, gossip_stream_accept();
 *   - move bytes: gossip_stream_receive() what was read, write what
 *     gossip_stream_output() gives;
 *   - once gossip_stream_done() and the output is flushed, close it and
 *     call gossip_stream_close(). The core times streams out in gossip_tick
 *     (they then report done with nothing more to write).
 */

/* 1 and (sid, to) when a connection is wanted, 0 when none. */
int gossip_stream_poll_connect(struct gossip *g, uint32_t *sid, struct gossip_addr *to);
/* An incoming connection. Returns 0, or IVT_ELIMIT (stream_max streams
 * open: refuse the connection). */
int gossip_stream_accept(struct gossip *g, uint32_t *sid, const struct gossip_addr *from,
                         ivt_ms now);
/* Bytes read from the stream. Returns 0, or IVT_ENOENT (no such stream),
 * or the reason the stream failed (IVT_ETOOBIG, IVT_EPROTO, IVT_EAUTH,
 * IVT_EREPLAY, ...): then it is done; close it. */
int gossip_stream_receive(struct gossip *g, uint32_t sid, const uint8_t *data, size_t len,
                          ivt_ms now);
/* Copies up to cap pending bytes into buf and consumes them; returns how
 * many. An outgoing stream's first frame (its digest) is built at the
 * first call: call it once connected, so a refused connection costs none. */
size_t gossip_stream_output(struct gossip *g, uint32_t sid, uint8_t *buf, size_t cap);
/* True once nothing more will be read or queued (also for unknown sids). */
bool gossip_stream_done(const struct gossip *g, uint32_t sid);
/* The host closed the stream (finished, failed or timed out); forgets it. */
void gossip_stream_close(struct gossip *g, uint32_t sid, ivt_ms now);

#endif
