/*
 * gossip/internal.h: the state of one gossip instance, shared by
 * gossip/gossip.c (membership, probes, dissemination) and
 * gossip/pushpull.c (anti-entropy streams). Never included outside gossip/.
 */
#ifndef IVT_GOSSIP_INTERNAL_H
#define IVT_GOSSIP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rng.h"
#include "gossip/gossip.h"
#include "gossip/keyring.h"
#include "gossip/replay.h"
#include "gossip/wire.h"

enum {
    GOSSIP_SUSPECT_CONFIRM_MAX = 8, /* k = suspicion_mult - 2 is clamped to this */
    GOSSIP_RELAY_MAX = 32,          /* indirect probes served at once */
    GOSSIP_UNKNOWN_WINDOWS = 16,    /* replay windows for senders not yet in the table */
    GOSSIP_STREAM_LABEL_SUFFIX = 7, /* strlen("/stream") */
    GOSSIP_TRANSMITS_CAP = 255      /* retransmit limits are clamped here (queue lists) */
};

/*
 * One member: 88 bytes, all in one array (no per-member allocation),
 * because a simulator of 10,000 nodes holds 10^8 of them. Name and tags,
 * up to 64 bytes that rarely change, live in the instance's attribute
 * arena (a few bytes each in practice). Suspicion state lives in the small
 * suspects array instead of here, and the accuser of a SUSPECT or DEAD
 * update in its queue item (a death certificate sent outside the queue
 * names the sender). What a received update is checked against (id,
 * generation, incarnation, state) comes first, in 25 bytes: most updates a
 * node hears are ones it has, and that check should touch one cache line,
 * two at most (gossip_mem_prefetch). Then what an update sent carries.
 */
struct gossip_mem {
    uint8_t id[GOSSIP_ID_LEN];
    uint32_t gen, inc;
    uint8_t state; /* enum gossip_member_state */
    struct gossip_addr addr;
    uint32_t attr; /* offset of [name_len, meta_len, name, meta] in the arena */
    int32_t qslot; /* its item in the membership queue, or -1 */
    ivt_ms changed;
    struct gossip_replay rw;
};

/* Fetches the lines of m that the check of an update (upto = state) or the
 * writing of one (upto = attr) reads. */
#define gossip_mem_prefetch(m, upto)                                                               \
    do {                                                                                           \
        __builtin_prefetch((m)->id);                                                               \
        __builtin_prefetch((const char *)&(m)->upto + sizeof((m)->upto) - 1);                      \
    } while (0)

struct gossip_susp {
    uint32_t idx;
    ivt_ms start;
    uint32_t n;   /* independent confirmations so far */
    bool synced;  /* the member list was synced once before a lone accusation kills */
    bool shown;   /* the suspect was shown the accusation at the shortest timeout */
    ivt_ms asked; /* when we last showed the suspect its accusation because it talked to us */
    uint8_t from[GOSSIP_SUSPECT_CONFIRM_MAX + 1][GOSSIP_ID_LEN];
};

/*
 * An item waiting to be piggybacked, in one of two transmit-limited queues:
 * membership updates (encoded from the member's current state when sent,
 * so a newer update about a member replaces an older one simply by
 * resetting transmits) and application payloads (encoded once). Items sit
 * in one list per transmit count, so fewest-transmitted-first is a walk
 * from list 0, in slots that never move (a free list recycles them).
 */
#define GOSSIP_NIL UINT32_MAX /* end of a queue list */

struct gossip_qitem {
    uint8_t transmits;   /* sends, ours or counted from copies heard (<= TRANSMITS_CAP) */
    uint8_t heard;       /* copies heard again since the last one counted as a send */
    uint16_t len;        /* encoded size (members: as of the last enqueue) */
    uint32_t packet;     /* the last packet it went into: never twice in one */
    uint32_t prev, next; /* in its transmit-count list; next also links the free list */
    union {
        struct {
            uint32_t idx;  /* the member */
            uint32_t from; /* its SUSPECT or DEAD accuser, a member index (0: us) */
        } m;
        uint8_t *app; /* payloads: the encoded USER message */
    } u;
};

/* Since when a queued payload has waited for a datagram (enqueued, or
 * last sent), and its links in the queue's list by that time. Payload
 * rounds are held until the queue fills a datagram or the longest wait
 * reaches app_max_delay. Beside the items, in an array of their slots:
 * keeping the list costs no cache miss on a payload's own bytes. */
struct gossip_ready {
    ivt_ms at;
    uint32_t prev, next;
    uint64_t fp; /* the payload's dedup fingerprint (0: a free slot) */
};

struct gossip_queue {
    struct gossip_qitem *it;
    uint32_t n, cap; /* items queued; slots allocated */
    uint32_t used;   /* slots ever handed out (the rest of cap is fresh) */
    uint32_t free;   /* first free slot, or GOSSIP_NIL */
    uint32_t tmax;   /* no item has more transmits than this */
    uint32_t bytes;  /* payloads: the encoded size of all queued items */
    bool members;    /* membership updates (else payloads) */
    /* Payloads: every item again, in one list by ready time, oldest
     * first, so the oldest wait is the head's (not a walk of the queue
     * after every round that sent payloads: 5-8 % of a 1,000-node run). */
    struct gossip_ready *rl; /* by slot, cap of them (payloads only) */
    uint32_t rhead, rtail;
    uint32_t head[GOSSIP_TRANSMITS_CAP + 1], tail[GOSSIP_TRANSMITS_CAP + 1];
};

struct gossip_relay {
    bool active;
    uint32_t seq;      /* our ping to the target */
    uint32_t orig_seq; /* the requester's probe */
    struct gossip_addr requester;
    ivt_ms nack_at;
};

struct gossip_probe {
    bool active, acked, indirect_sent;
    uint32_t idx;
    uint8_t id[GOSSIP_ID_LEN];
    uint32_t seq;
    ivt_ms indirect_at, end;
    uint32_t nacks_expected, nacks;
};

struct gossip_unknown_window {
    uint8_t id[GOSSIP_ID_LEN];
    struct gossip_replay rw;
};

struct gossip_stream;

struct gossip {
    /* What a receive or a tick reads first, in the struct's first lines
     * (and the counters after them): a simulator's instance is cold at
     * each event, and gossip_warm fetches these an event ahead. */
    /* The time of the API call in progress: payloads sent in it are
     * stamped ready again (send_packet has no `now` of its own). */
    ivt_ms now;
    /* members: [0] is self */
    struct gossip_mem *mem;
    uint32_t n_mem, cap_mem;
    uint32_t *hidx; /* open addressing: hash tag | member index + 1, 0 = empty (hidx_put) */
    uint32_t hcap;
    uint32_t seen_cap, seen_n; /* slots at most; fingerprints in the current one */
    uint64_t *seen[2];         /* two generations of payload fingerprints (current, old) */
    uint32_t seen_size[2];     /* their slots (the old one: 0 until the first turn) */
    struct gossip_packet *outbox;
    uint32_t ob_head, ob_len, ob_cap;
    uint32_t seq;
    uint64_t counter;
    uint32_t packet_no; /* packets built so far (stamps queue items) */
    uint32_t awareness;
    uint32_t n_relay; /* relay slots active: most ticks skip the array */
    /* The oldest payload wait ends here (aq's least recent ready +
     * app_max_delay; IVT_MS_NEVER when aq is empty), kept so the deadline
     * need not walk the queue. */
    ivt_ms app_due;
    ivt_ms want_due;          /* the first pending ask's time (IVT_MS_NEVER: none) */
    struct gossip_lazy *lazy; /* lazy push's asks and retired payloads, made on first use */
    ivt_ms next_probe, next_gossip, next_pushpull, next_reconnect, next_reap;
    ivt_ms reap_due;    /* the earliest a tombstone may be forgotten (tombstone_due) */
    ivt_ms next_sync;   /* that push-pull, or IVT_MS_NEVER */
    ivt_ms next_resync; /* push-pull with resync_to after a join, or IVT_MS_NEVER */
    /* The deadline as of our latest call: the host promised to tick us
     * then. A tick much later than it means our loop stalled. */
    ivt_ms last_deadline;
    /* XChaCha20 subkeys of recent senders (envelope.h) while the member
     * table is small enough for them to be reused; past that, of our own
     * seals only. */
    struct gossip_subkeys *subkeys;
    bool subkeys_one; /* the memo is one entry, for our own seals */
    size_t label_len;
    struct gossip_stats st;

    struct gossip_config cfg;
    struct gossip_keyring kr;
    struct gossip_delegate d;
    struct ivt_rng rng;
    char stream_label[GOSSIP_LABEL_MAX + GOSSIP_STREAM_LABEL_SUFFIX + 1];
    size_t stream_label_len;

    uint32_t n_state[GOSSIP_STATES];
    /* gossip__member_hash summed over live members, kept as members change
     * (sum_move): a push-pull's summary was a walk of the whole table at
     * each end, two of the five an exchange made at 10,000 members. */
    uint64_t live_sum;
    uint32_t *order; /* probe order over member indices */
    uint8_t *attrs;  /* attribute arena: one entry per member, appended on change */
    uint32_t attrs_len, attrs_cap, attrs_dead; /* bytes used, allocated, superseded */
    uint32_t n_order, order_pos;

    struct gossip_susp *susp;
    uint32_t n_susp, cap_susp;

    struct gossip_queue mq, aq; /* membership updates, payloads */
    uint64_t user_seq;

    struct gossip_probe probe;
    struct gossip_relay relay[GOSSIP_RELAY_MAX];
    struct gossip_unknown_window unk[GOSSIP_UNKNOWN_WINDOWS];
    uint32_t unk_next;
    bool leaving;
    /* Merging the reply to our join: members new to us are what the
     * cluster already knows, so they are not re-gossiped. */
    bool join_merge;

    /* Members gossip (datagrams) brought us since our membership queue
     * was last empty: when it empties and they are a large share of the
     * view, we push-pull once (the residue of the news we just spread). */
    uint32_t grown;
    bool sync_again; /* next_sync was set by gossip__pull_again */

    struct gossip_addr resync_to; /* the seed that answered our join */

    struct gossip_addr seeds[GOSSIP_SEEDS_MAX];
    uint32_t n_seeds;
    uint32_t join_next; /* the seed a failed join tries next (n_seeds: none) */
    /* A join of ours completed (a seed answered it). Until then the seeds
     * are retried even when members are in view: those may be joiners
     * that came to us while our own join was failing, an island of nodes
     * that know nothing of the cluster (gossip__needs_join). */
    bool joined;

    struct gossip_stream *streams; /* cap_streams slots, at most stream_max */
    uint32_t n_streams;            /* slots in use */
    uint32_t cap_streams;
    uint32_t next_sid;
};

/* Counts an envelope opened under AEAD byte v (stats.opened). An envelope
 * that opened has a known AEAD; a newer one without its row is not counted
 * rather than written past the array. */
static inline void gossip__count_opened(struct gossip *g, uint8_t v)
{
    if (v < sizeof(g->st.opened) / sizeof(g->st.opened[0]))
        g->st.opened[v]++;
}

/* gossip.c, for pushpull.c */
int gossip__find(const struct gossip *g, const uint8_t *id);
/* A lookup in stages, for a batch of ids whose cache misses should overlap:
 * gossip__find_slot (fetches the id's index slot and returns the id's hash),
 * then gossip__find_fetch (fetches the member that slot's entries name for
 * that hash), then gossip__find_at, gossip__find's answer for that hash. */
uint32_t gossip__find_slot(const struct gossip *g, const uint8_t *id);
void gossip__find_fetch(const struct gossip *g, uint32_t h);
int gossip__find_at(const struct gossip *g, const uint8_t *id, uint32_t h);
void gossip__wire_member(const struct gossip *g, uint32_t idx, struct gossip_wire_member *out);
/* Room for `extra` more members (capped at max_members): a push-pull that
 * brings n entries sizes the table once, to fit, rather than by doubling
 * (a simulator holds N such tables). Returns 0, or IVT_ENOMEM. */
int gossip__reserve(struct gossip *g, uint32_t extra);
/* A member as push-pull reported it: may only lower trust in others. */
void gossip__merge_remote(struct gossip *g, const struct gossip_wire_member *m, ivt_ms now);
/* A push-pull (not our join's) added `added` members we lacked: one more
 * with a random member soon, if it was a share of our view worth it. */
void gossip__pull_again(struct gossip *g, uint32_t added, ivt_ms now);
/* The AEAD nonce of the message whose header carries counter: our (id,
 * generation, counter). Each counter is used once: the caller raises
 * g->counter past it. */
void gossip__nonce(const struct gossip *g, uint64_t counter, uint8_t nonce[GOSSIP_NONCE_LEN]);
/* Replay window for a sender: checks, then commits. Returns 0 or IVT_EREPLAY. */
int gossip__replay(struct gossip *g, const struct gossip_hdr *h);
uint32_t gossip__alive_count(const struct gossip *g);
/* Whether our seeds are to be (re-)joined: we have seeds, and no join of
 * ours has completed yet or we see nobody alive. */
bool gossip__needs_join(const struct gossip *g);
/* A hash of member idx's (id, generation, incarnation, state): the
 * summary sums it over live members, a hashed member digest lists it for
 * every member (pushpull.c). Part of the wire: never change it. */
uint64_t gossip__member_hash(const struct gossip *g, uint32_t idx);
uint64_t gossip__summary(const struct gossip *g, uint32_t *count);
/* The summary recomputed from the table: tests check the running one. */
uint64_t gossip__summary_recount(const struct gossip *g, uint32_t *count);

/* Opens a join stream to the next seed in line, if any is left. */
void gossip__join_next(struct gossip *g, ivt_ms now);

/* pushpull.c, for gossip.c */
int gossip__stream_open(struct gossip *g, const struct gossip_addr *to, bool join, ivt_ms now);
void gossip__streams_tick(struct gossip *g, ivt_ms now);
ivt_ms gossip__streams_deadline(const struct gossip *g);
void gossip__streams_free(struct gossip *g);
int gossip__streams_init(struct gossip *g);

#endif
