/*
 * node/core.c: the node core, the glue of gossip, evidence and detector.
 *
 * SANS-IO. Everything here runs identically in the daemon and in the
 * simulator: bytes, a monotonic `now` and a wall-clock `wall` come in; the
 * outbox, the next deadline and scores come out.
 *
 * Parts:
 *   - observe: an event becomes one crdt_update per entity it names (ip,
 *     its prefix, device, user agent, publisher) in the event's epoch;
 *     counters are the event kind plus the GIVT flags (data-center address,
 *     crawler user agent), distinct metrics are the entity's other keys.
 *   - admission (design.md, "What is shared"): every entity is kept in the
 *     store and scored from there, but only admitted entities are shared.
 *     Prefixes, user agents and publishers (few, coarse, and what a thin
 *     spread shows up in) are admitted when created. An IP or device is
 *     admitted by a local signal, checked after each event that names it:
 *     a GIVT hit, a manual decision, its local events in the window at
 *     admit_events (lowered to ceil(th_ip_requests / alive members), so
 *     that by the pigeonhole principle an IP crossing th_ip_requests
 *     fleet-wide crosses it here or at some other node), its local
 *     distinct user agents (IP) or addresses (device), or a place among
 *     the node's heavy hitters of the epoch (a Space-Saving summary). A
 *     record that arrives from a peer is admitted by arriving (crdt/store.h),
 *     so every node that sees an admitted entity contributes its slots,
 *     its earlier local-only evidence included.
 *   - dissemination: at most every flush interval, and only when there is
 *     some, the store's changed admitted cells are
 *     flushed as absolute-valued deltas and published through gossip,
 *     paced by a token bucket of gossip_bytes_per_s, so bandwidth is bounded
 *     by configuration whatever the traffic; what a lost or skipped delta
 *     leaves behind, push-pull repairs. A delta is this node's own part
 *     only (the store's forward_merged is off): gossip re-gossips every
 *     payload it receives, so a node that also re-published what it merged
 *     made every record travel N times over. Each payload is sent
 *     EVIDENCE_RETRANSMIT_MULT x log10 N times per node, all but the first
 *     EVIDENCE_EAGER_SENDS as an announcement (lazy push); push-pull covers
 *     the few nodes that misses.
 *   - anti-entropy: the gossip delegate exchanges the store's bucket
 *     digests and sends the buckets the peer differs in, plus the decisions
 *     map (small, bounded), digest first. Both ends run on the host's event
 *     loop, so one exchange is bounded: it repairs one slice of the digest
 *     (rotating, its width adapted to the store's density) within
 *     REPAIR_BUDGET bytes, and the receiver merges a
 *     repair MERGE_CHUNK entity records at a time, the rest queued for the
 *     following node_tick calls (node_next_deadline asks for them at once).
 *   - scoring: manual decisions first (a ban or an allow on any of the
 *     event's entities decides), then the detector on signals read from the
 *     converged evidence.
 *   - operator actions: decisions (a last-writer-wins map) and cluster-wide
 *     keyring operations travel as gossip payloads.
 *
 * Where it departs from design.md: the design admits entities into the
 * shared map on local signals, and so does this file; the heavy-hitter
 * summaries it names are kept per node and not gossiped (each node admits
 * from its own, which is all admission needs). Bandwidth is bounded by the
 * byte budget and memory by max_entities with the store's deterministic
 * eviction, admitted or not; admission cuts what the budget must carry
 * (the one-off addresses and devices most traffic is). A distinct-count
 * signal has no pigeonhole bound: an IP that shows one user agent to each
 * of many nodes and crosses no other admission threshold stays local, and
 * its /24 (always shared) is what the fleet sees of it.
 *
 * Payloads on gossip are msgpack arrays whose first element is a type:
 *
 *   [1, <crdt store message>]        evidence delta (crdt/store.h)
 *   [2, <crdt lww message>]          decisions delta (crdt/lww.h)
 *   [3, op, bin(32) key]             keyring operation
 *
 * The push-pull state is [<lww message>, <crdt repair message>] and the
 * digest the crdt digest message.
 */
#include "node/node.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "crdt/hh.h"
#include "crdt/lww.h"
#include "crdt/store.h"
#include "node/detect.h"
#include "node/rules.h"

enum payload_type { PAYLOAD_EVIDENCE = 1, PAYLOAD_DECISIONS = 2, PAYLOAD_KEYOP = 3 };

/* Counter metrics of every entity (crdt/crdt.h gives CRDT_COUNTERS slots). */
enum node_counter {
    CNT_REQUESTS = 0,
    CNT_IMPRESSIONS = 1,
    CNT_CLICKS = 2,
    CNT_DATACENTER = 3, /* events from a data-center address */
    CNT_CRAWLER = 4,    /* events with a crawler user agent */
};

/* Distinct metrics: the same index means the same item kind for every
 * entity kind, so explanations read alike. */
enum node_distinct { DIST_UA = 0, DIST_IP = 1, DIST_DEVICE = 2 };

static const char *const counter_names[] = {"requests", "impressions", "clicks",
                                            "datacenter_events", "crawler_events"};
static const char *const distinct_names[] = {"distinct_ua", "distinct_ip", "distinct_device"};

enum {
    /* Bytes kept for the payload's own array header and type. */
    PAYLOAD_HEADER = 8,
    /* Decisions the map holds: operators set these by hand. */
    DECISIONS_MAX = 65536,
    /* Direct-mapped cache of GIVT verdicts per user agent: the crawler
     * regexes cost a microsecond, and a few thousand user agents make most
     * of the traffic. */
    UA_CACHE_SIZE = 4096,
    /* A cache of the counters a score reads of publishers and
     * prefixes: few entities behind most traffic, whose store lookup also
     * estimates distinct unions (HyperLogLog merges, most of a score's
     * cost) that their signals never use. */
    /* Slots (an even number: sets of two), allocated apart so that only
     * the pages in use cost memory. */
    AGG_CACHE_SIZE = 8192,
    /* A cached entry is re-read from the store after this long even when
     * nothing invalidated it: HyperLogLog-promoted counters do not grow by
     * exactly one per local event, and an entity evicted for room stays
     * cached until then. */
    AGG_CACHE_MS = 5000,
    /* The decisions map is garbage-collected this often. */
    LWW_GC_INTERVAL_MS = 60 * 1000,
    /* A key operation is published again after 3 s, then 6, 12, ... s: a
     * member's tags take a few gossip rounds to show it caught up. */
    KEYOP_RETRY_FIRST_MS = 3000,
    /* Six retries span about six minutes: past that a member that still
     * differs is down or cut off, and status shows it to the operator. */
    KEYOP_RETRIES = 6,
    /* Decisions published lately, each sent again DECISION_RESENDS times
     * (2, 6 and 14 s after): an operator's ban should not wait for a
     * push-pull when its broadcast was lost. LWW records are absolute, so
     * a resend can never undo a later decision. */
    DECISION_RESEND_SLOTS = 8,
    DECISION_RESENDS = 3,
    DECISION_RESEND_FIRST_MS = 2000,
    /* Evidence one push-pull repair carries: the sender encodes it on the
     * host's event loop (crdt_store_repair_1m_budget_cpu), so it is kept
     * below the stream's 4 MiB; what does not fit goes in the next
     * exchange. At 256 KiB `ivtsim sim/scenarios/botnet.cfg` kept its
     * recall and precision but ended with evidence divergence 0.24
     * instead of 0.15: anti-entropy that slow is not worth the shorter
     * callback. */
    REPAIR_BUDGET = NODE_REPAIR_BUDGET,
    /* A part of the repair written per loop turn (about 0.6 ms of store
     * walks): a score waits behind one part, not behind the megabyte. */
    REPAIR_STEP = NODE_REPAIR_STEP,
    /* Budget left below which an answer ends: a part that small would
     * carry a bucket or two at the price of its header and origins. */
    REPAIR_PART_MIN = 4096,
    /* Entity records merged at once from a received repair (about 1 ms):
     * a larger repair is queued and merged a chunk at a time (MERGE_GAP_MS). */
    MERGE_CHUNK = 256,
    /* Push-pull work is paced so scoring keeps the loop: a merge chunk
     * (0.3-0.5 ms traced) at most every MERGE_GAP_MS, and a segment of our
     * repair answer (REPAIR_STEP: half of the 0.8-1.3 ms traced for
     * 128 KiB) at most every SEGMENT_GAP_MS (gossip's segment_gap).
     * Unpaced, an exchange's 30-50 ms of work on each side (its answer
     * sent, the peer's merged) ran back to back: at 100,000 scores/s,
     * which take 60 % of the loop, the loop saturated for 50-100 ms and
     * scores queued behind it (p99.9 10-15 ms in bench_daemon.sh's 60 s
     * windows, docs/benchmarks.md). Paced, a megabyte's exchange (16
     * segments, about 12 merge chunks) takes some 65 ms longer by
     * arithmetic. */
    MERGE_GAP_MS = 3,
    SEGMENT_GAP_MS = 4,
    /* Changed entities whose digest is stale are worked off ahead, so a
     * push-pull digest finds little left to encode on the loop. Only a
     * backlog above DIGEST_BACKLOG is: a push-pull encodes that much in
     * about a millisecond anyway, and encoding early a record that changes
     * again (a publisher, a popular user agent: every few hundred ms) is
     * work thrown away, kilobytes of HyperLogLog each time. The backlog
     * goes DIGEST_SLICE records every DIGEST_SLICE_MS (0.17 ms at 1 M
     * entities: crdt_store_digest_node_slice_cpu): the same 2,048 per
     * flush interval as one step would, without its 1-3 ms stall. */
    DIGEST_BACKLOG = 2048,
    /* Stale records a push-pull digest encodes on the loop; the buckets of
     * the rest count as differing and are repaired whole. Twice the
     * backlog the slices leave, so a node whose traffic the slices keep up
     * with always digests exactly. Unbounded, a digest after a burst
     * encodes every record changed since the last one: tens of ms on the
     * loop (crdt_store_digest_1m_stale_full_cpu against
     * crdt_store_digest_1m_stale_answer_cpu). */
    DIGEST_ANSWER_MAX = NODE_DIGEST_ANSWER_MAX,
    DIGEST_SLICE = NODE_DIGEST_SLICE,
    /* ... and per tick while a push-pull answer compares digests (about
     * 0.4 ms). */
    DIGEST_ANSWER_STEP = 1024,
    DIGEST_SLICE_MS = 25,
    /* Records an epoch roll visits per node_tick (a whole roll that drops
     * most entities' oldest epoch takes 60-100 ms at 1 M entities): the
     * rest at the next tick, which is asked at once. */
    ROLL_STEP = NODE_ROLL_STEP,
    /* Queued repair bytes: past this, a repair is dropped whole (the next
     * push-pull brings it again). */
    MERGE_QUEUE_MAX = 32 << 20,
    /* Payloads (evidence deltas above all) are sent 2 x ceil(log10(N+1))
     * times by each node that has them, half of membership's 4: six
     * transmissions at 100 nodes miss about e^-6 = 0.25% of nodes, which
     * push-pull repairs, while membership's twelve filled every packet
     * with copies nodes already had (at 100 nodes, 5 events/s fleet-wide
     * kept every node's queue full and 94,000 payloads in two minutes were
     * dropped from queues; evidence divergence was higher, not lower). */
    EVIDENCE_RETRANSMIT_MULT = 2,
    /* Lazy push (gossip app_eager): of those sends, the first 3 carry the
     * delta and the rest announce it in 11 bytes; a node that lacks it
     * after the wait asks for it. 1,000 simulated nodes then send 3,839
     * payload B/node/s instead of 7,240, and 7 % of the deliveries are
     * asked for (with 2 eager sends 24 %, each ask and answer a datagram
     * of their own: more datagrams for fewer bytes). docs/gossip.md. */
    EVIDENCE_EAGER_SENDS = 3,
};

/* A received repair waiting to be merged: the store message's fields
 * before its entity array (raw), then the entity records not merged yet. */
struct merge_job {
    struct merge_job *next;
    size_t prefix_len; /* bytes of version, type, params, origins */
    size_t len;        /* prefix_len + the remaining records' bytes */
    size_t pos;        /* offset of the next record */
    uint32_t left;     /* records not merged yet */
    uint8_t data[];
};

/* Evidence is flushed to gossip this often (the LAN gossip interval), at
 * most FLUSH_PAYLOADS_PER_TICK payloads per node_tick: a round's dozen
 * (64 KiB/s in 1 KiB payloads) took 0.3-1 ms on top of the journal's
 * sort in one callback at 100,000 events/s. */
enum { FLUSH_PAYLOADS_PER_TICK = 4 };

/* Deltas of one datagram merged as a batch: a 1,200-byte datagram carries
 * up to five (a delta is 250 bytes); a datagram of more merges them in
 * batches of this many. */
enum { PEND_MAX = 16 };
#define FLUSH_INTERVAL_MS 200

struct ua_cache_entry {
    uint64_t hash; /* 0: empty */
    bool crawler;
    const char *pattern;
};

/* A decision message this node published, to be published again. */
struct decision_resend {
    uint8_t *bytes; /* NULL: free slot */
    size_t len;
    uint32_t sent;
    ivt_ms next_at;
};

/* The last key operation this node issued, published again until every
 * alive member's keyring fingerprint equals ours (see apply_keyop). */
struct keyop_retry {
    bool active;
    uint8_t op;
    uint8_t key[GOSSIP_KEY_LEN];
    uint64_t issued_at;
    uint32_t tries;
    ivt_ms next_at;
};

/* What sivt_of reads of a publisher or prefix view. A merge that changes
 * the entity drops its entry; an epoch roll (or a merge that does not read)
 * bumps the node's agg_gen, which drops them all. Local events add to it in
 * place (observe), so a valid entry equals the store. */
struct agg_cache_entry {
    uint64_t hash; /* 0: empty */
    uint32_t gen;
    uint32_t origins;
    ivt_ms at;
    uint64_t fleet_requests, fleet_datacenter, local_requests, local_datacenter;
    uint64_t local_all; /* every local counter: 0 means this node is not an origin yet */
    uint8_t kind;
};

struct node {
    /* What every host call reads first, together in the first two lines:
     * in a simulator the node is cold at each event (node_warm). */
    struct gossip *g;
    struct crdt_store *store;
    struct crdt_lww *lww;
    struct crdt_hh *hh; /* heavy IPs and devices of the epoch here; NULL: off */
    ivt_ms now;         /* the latest monotonic time a host call brought */
    ivt_ms wall;        /* the latest wall clock a host call brought */
    ivt_ms next_flush;  /* evidence is flushed no sooner (FLUSH_INTERVAL_MS) */
    ivt_ms next_roll;   /* when the wall clock reaches the next epoch */
    ivt_ms next_digest;
    ivt_ms next_gc;
    ivt_ms next_merge; /* a queued repair's next chunk, not before (MERGE_GAP_MS) */
    /* The latest time a score filled an entry: AGG_CACHE_MS after it none
     * is valid, and a merge has nothing to drop (most nodes score little
     * of what they merge: the walk was 5 % of the simulator's run). */
    ivt_ms agg_filled;
    struct merge_job *merge_head, *merge_tail;
    uint32_t epoch;  /* the store's current epoch, to tick it only on change */
    uint32_t n_pend; /* deltas in pend */
    bool flushing;   /* a flush round still has payloads to publish */

    struct node_config cfg;
    struct node_thresholds th;
    const struct node_rules *rules;
    struct crdt_origin origin;
    double admit_events;  /* th.admit_events, lowered for the fleet size */
    size_t admit_members; /* ... of this many members (SIZE_MAX: recompute) */

    /* member changes for the host: a ring of member_changes_max */
    struct node_member_change *mchg;
    uint32_t mchg_head, mchg_len;
    uint64_t mchg_dropped;

    double tokens; /* bytes of evidence we may still publish */
    ivt_ms tokens_at;
    uint8_t keyring_fp[NODE_KEYRING_FP_LEN]; /* the one in our tags */
    bool has_keyring_fp;
    uint64_t keyring_ver;      /* the keyring version keyring_fp was taken at */
    uint64_t keyop_applied_at; /* issued_at of the newest key operation applied */
    struct keyop_retry keyop_retry;
    struct decision_resend resend[DECISION_RESEND_SLOTS];

    size_t repair_from;   /* digest bucket where the next repair slice starts */
    size_t repair_width;  /* buckets in a repair slice; 0 until the first */
    size_t merge_bytes;   /* queued in merge jobs */
    struct ivt_mpw chunk; /* one chunk of a queued repair, as a store message */

    struct node_stats stats;
    /* Both caches are allocated at the node's first score (NULL until):
     * most simulated nodes of a large fleet score nothing, and the two
     * are 672 KiB a node. */
    struct ua_cache_entry *ua_cache;   /* UA_CACHE_SIZE slots */
    struct agg_cache_entry *agg_cache; /* AGG_CACHE_SIZE slots */
    uint32_t agg_gen;                  /* bumped when the store changes other than by observe */
    uint8_t payload[GOSSIP_PACKET_MAX];
    /* Deltas of the datagram being received (on_payload), merged as one
     * batch when it has no more (on_payloads_end): pointers into gossip's
     * plaintext, valid until then. */
    struct crdt_merge_msg pend[PEND_MAX];
};

void node_gossip_defaults(struct gossip_config *gc, enum node_profile profile)
{
    memset(gc, 0, sizeof(*gc));
    gossip_config_profile(gc, (enum gossip_profile)profile);
    gc->app_retransmit_mult = EVIDENCE_RETRANSMIT_MULT;
    gc->app_eager = EVIDENCE_EAGER_SENDS;
}

void node_config_defaults(struct node_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->name, "ivt");
    strcpy(cfg->label, "ivt");
    cfg->profile = NODE_PROFILE_LAN;
    gossip_keyring_init(&cfg->keyring);
    cfg->packet_size = 1200;
    cfg->epoch_ms = 60 * IVT_MS_PER_S;
    cfg->window_epochs = 60;
    cfg->max_entities = 1000000;
    cfg->gossip_bytes_per_s = 64 * 1024;
    cfg->admit_all = false;
}

/* ---- keyring agreement -------------------------------------------------- */

/* Tags: a msgpack map, so other tags can join it later; unknown keys are
 * skipped. The fingerprint is not a secret: key ids are already in every
 * envelope header.
 *
 *   +--------+------+---------------------------------------------+
 *   | fixmap | "kr" | bin 12: primary key id (u32 BE) |            |
 *   |        |      |         hash of the sorted key ids (u64 BE)  |
 *   +--------+------+---------------------------------------------+
 */
static const char TAG_KEYRING[] = "kr";

static void keyring_fingerprint(uint8_t fp[NODE_KEYRING_FP_LEN], const struct gossip_keyring *kr)
{
    struct gossip_key_info info[GOSSIP_KEYRING_MAX];
    size_t n = gossip_keyring_list(kr, info, GOSSIP_KEYRING_MAX);
    uint32_t ids[GOSSIP_KEYRING_MAX], primary = 0;
    for (size_t i = 0; i < n; i++) {
        ids[i] = info[i].id;
        if (info[i].primary)
            primary = info[i].id;
    }
    /* Sorted, so two keyrings with the same keys in another slot order agree. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            uint32_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    uint64_t h = ivt_mix64(n);
    for (size_t i = 0; i < n; i++)
        h = ivt_mix64(h ^ ids[i]);
    for (int i = 0; i < 4; i++)
        fp[i] = (uint8_t)(primary >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        fp[4 + i] = (uint8_t)(h >> (56 - 8 * i));
}

int node_tags_keyring(uint8_t fp[NODE_KEYRING_FP_LEN], const uint8_t *tags, size_t len)
{
    const uint8_t *p = tags, *end = tags + len;
    uint32_t n;
    if (len == 0)
        return IVT_ENOENT;
    if (ivt_mp_read_map(&p, end, &n))
        return IVT_EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        if (ivt_mp_read_str(&p, end, &k, &kl))
            return IVT_EPROTO;
        if (!ivt_mp_str_eq(k, kl, TAG_KEYRING)) {
            if (ivt_mp_skip(&p, end))
                return IVT_EPROTO;
            continue;
        }
        return ivt_mp_read_bin_exact(&p, end, fp, NODE_KEYRING_FP_LEN) ? IVT_EPROTO : 0;
    }
    return IVT_ENOENT;
}

/* Puts our fingerprint in our tags when it changed: a new incarnation is
 * gossiped only after a key operation, not on every tick. */
static void refresh_keyring_tag(struct node *n, ivt_ms now)
{
    const struct gossip_keyring *kr = gossip_keyring(n->g);
    /* Every tick: the fingerprint is recomputed only when the keyring
     * changed (recomputed each time, it was 1-1.8 % of a perf profile of
     * a 1,000-node simulation). */
    if (n->has_keyring_fp && kr->version == n->keyring_ver)
        return;
    uint8_t fp[NODE_KEYRING_FP_LEN];
    keyring_fingerprint(fp, kr);
    if (n->has_keyring_fp && memcmp(fp, n->keyring_fp, sizeof(fp)) == 0) {
        n->keyring_ver = kr->version;
        return;
    }
    uint8_t tags[GOSSIP_META_MAX];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, tags, sizeof(tags));
    ivt_mpw_map(&w, 1);
    ivt_mpw_cstr(&w, TAG_KEYRING);
    ivt_mpw_bin(&w, fp, sizeof(fp));
    if (gossip_set_meta(n->g, tags, w.len, now) == 0) {
        memcpy(n->keyring_fp, fp, sizeof(fp));
        n->keyring_ver = kr->version;
        n->has_keyring_fp = true;
    }
}

enum node_keyring_match node_keyring_match(const struct node *n, const struct gossip_member_info *m)
{
    uint8_t fp[NODE_KEYRING_FP_LEN];
    if (!n->has_keyring_fp || node_tags_keyring(fp, m->meta, m->meta_len) != 0)
        return NODE_KEYRING_UNKNOWN;
    /* Ours as our tags carry it (refreshed on every key change), not
     * recomputed per member: members and status compare a whole fleet. */
    return memcmp(fp, n->keyring_fp, sizeof(fp)) == 0 ? NODE_KEYRING_SAME : NODE_KEYRING_DIFFERENT;
}

/* ---- gossip delegate ---------------------------------------------------- */

/*
 * Key operations: [3, op, key bin32, issued_at]. issued_at is the issuer's
 * wall clock (ms); nodes of the first version sent no issued_at, and such an
 * operation is applied without ordering.
 *
 * A broadcast can miss a node (a full socket buffer, a stalled loop), and a
 * node that misses "install" is cut off once the fleet switches to the new
 * key. So the issuer keeps its operation and publishes it again, backing
 * off, while some alive member's keyring fingerprint (in its tags) differs
 * from its own: the fingerprint is the acknowledgment. Two rules keep the
 * retries from undoing a later step: a node ignores an operation older than
 * the newest one it applied, and an issuer stops retrying once it learns a
 * newer operation (which its own issuer now carries to every node).
 */
static int keyring_apply(struct node *n, uint64_t op, const uint8_t key[GOSSIP_KEY_LEN])
{
    struct gossip_keyring *kr = gossip_keyring(n->g);
    int rc;
    if (op == NODE_KEY_INSTALL)
        rc = gossip_keyring_install(kr, key);
    else if (op == NODE_KEY_USE)
        rc = gossip_keyring_use(kr, key);
    else
        rc = gossip_keyring_remove(kr, key);
    /* Idempotent by design: the same operation arrives once per path and
     * again on every retry, so "already there" is success. */
    return rc == IVT_EEXIST ? 0 : rc;
}

static void apply_keyop(struct node *n, const uint8_t *p, const uint8_t *end, uint32_t items)
{
    uint64_t op, issued_at = 0;
    uint8_t key[GOSSIP_KEY_LEN];
    if (ivt_mp_read_uint_max(&p, end, NODE_KEY_REMOVE, &op) ||
        ivt_mp_read_bin_exact(&p, end, key, sizeof(key)) ||
        (items >= 4 && ivt_mp_read_uint(&p, end, &issued_at))) {
        n->stats.payloads_rejected++;
        return;
    }
    if (issued_at && issued_at < n->keyop_applied_at)
        return; /* a retry of a step the fleet has moved past */
    if (issued_at && n->keyop_retry.active && issued_at >= n->keyop_retry.issued_at)
        n->keyop_retry.active = false;
    /* A "use" of a key whose "install" we missed fails here; the install's
     * retry brings the key, and the use's retry comes back after it. */
    if (keyring_apply(n, op, key) == 0 && issued_at > n->keyop_applied_at)
        n->keyop_applied_at = issued_at;
    refresh_keyring_tag(n, n->now);
}

static int publish_keyop(struct node *n, ivt_ms now)
{
    const struct keyop_retry *r = &n->keyop_retry;
    uint8_t buf[64];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    ivt_mpw_array(&w, 4);
    ivt_mpw_uint(&w, PAYLOAD_KEYOP);
    ivt_mpw_uint(&w, r->op);
    ivt_mpw_bin(&w, r->key, GOSSIP_KEY_LEN);
    ivt_mpw_uint(&w, r->issued_at);
    return gossip_publish(n->g, buf, w.len, now);
}

int node_key_op(struct node *n, enum node_key_op op, const uint8_t key[32], ivt_ms now)
{
    if (op != NODE_KEY_INSTALL && op != NODE_KEY_USE && op != NODE_KEY_REMOVE)
        return IVT_EINVAL;
    int rc = keyring_apply(n, op, key);
    if (rc)
        return rc;
    refresh_keyring_tag(n, now);
    /* Later than every operation this node applied, even if its wall
     * clock is behind the issuer of the last one. */
    uint64_t at = n->wall > 0 ? (uint64_t)n->wall : 1;
    if (at <= n->keyop_applied_at)
        at = n->keyop_applied_at + 1;
    n->keyop_applied_at = at;
    struct keyop_retry *r = &n->keyop_retry;
    r->active = true;
    r->op = (uint8_t)op;
    memcpy(r->key, key, GOSSIP_KEY_LEN);
    r->issued_at = at;
    r->tries = 0;
    r->next_at = now + KEYOP_RETRY_FIRST_MS;
    return publish_keyop(n, now);
}

/* Does every alive member hold the keyring we hold? */
static bool keyring_agreed(struct node *n)
{
    size_t cap = 0;
    for (int st = 0; st < GOSSIP_STATES; st++)
        cap += gossip_member_count(n->g, (enum gossip_member_state)st);
    struct gossip_member_info *m = calloc(cap ? cap : 1, sizeof(*m));
    if (!m)
        return false; /* retry later */
    size_t k = gossip_members(n->g, m, cap);
    bool ok = true;
    for (size_t i = 0; i < k && ok; i++)
        ok = m[i].state != GOSSIP_ALIVE || node_keyring_match(n, &m[i]) == NODE_KEYRING_SAME;
    free(m);
    return ok;
}

static void keyop_retry_tick(struct node *n, ivt_ms now)
{
    struct keyop_retry *r = &n->keyop_retry;
    if (!r->active || now < r->next_at)
        return;
    if (keyring_agreed(n)) {
        r->active = false;
        return;
    }
    if (r->tries >= KEYOP_RETRIES) {
        r->active = false;
        n->stats.keyop_retries_exhausted++;
        return;
    }
    r->tries++;
    r->next_at = now + (KEYOP_RETRY_FIRST_MS << r->tries);
    if (publish_keyop(n, now) == 0)
        n->stats.keyop_retries++;
}

static struct agg_cache_entry *agg_slot(struct node *n, enum crdt_kind kind, uint64_t h);
static int heavy_renew(struct node *n);

/* Drops the cached counters of one publisher or prefix, if held. */
static void agg_drop(struct node *n, uint64_t kind, uint64_t hash)
{
    if (kind != CRDT_KIND_PREFIX && kind != CRDT_KIND_PUB)
        return;
    struct agg_cache_entry *e = agg_slot(n, (enum crdt_kind)kind, hash);
    if (e && e->hash == (hash | 1) && e->kind == kind)
        e->hash = 0;
}

/* Drops the cached counters of the publishers and prefixes a store message
 * names (entity = [kind, hash, ...], crdt/store.h). Returns 0, or
 * IVT_EPROTO when the message does not read as one (the caller then drops
 * the whole cache). */
static int agg_forget(struct node *n, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint32_t items, count;
    if (ivt_mp_read_array(&p, end, &items) || items != 5)
        return IVT_EPROTO;
    for (int i = 0; i < 4; i++)
        if (ivt_mp_skip(&p, end))
            return IVT_EPROTO;
    if (ivt_mp_read_array(&p, end, &count))
        return IVT_EPROTO;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *q = p;
        uint32_t fields;
        uint64_t kind, hash;
        if (ivt_mp_read_array(&q, end, &fields) || fields < 2 || ivt_mp_read_uint(&q, end, &kind) ||
            ivt_mp_read_uint(&q, end, &hash) || ivt_mp_skip(&p, end))
            return IVT_EPROTO;
        agg_drop(n, kind, hash);
    }
    return 0;
}

/* The publishers and prefixes a merge named, as the store read them (see
 * store_merge), up to FORGET_MAX. */
enum { FORGET_MAX = 64 /* a delta names a handful; more are walked for */ };

struct forget {
    uint32_t n;
    bool over; /* more than FORGET_MAX: walk the message instead */
    uint8_t kind[FORGET_MAX];
    uint64_t h[FORGET_MAX];
};

static void forget_seen(void *ctx, enum crdt_kind kind, uint64_t h)
{
    struct forget *f = ctx;
    if (kind != CRDT_KIND_PREFIX && kind != CRDT_KIND_PUB)
        return;
    if (f->n == FORGET_MAX) {
        f->over = true;
        return;
    }
    f->kind[f->n] = (uint8_t)kind;
    f->h[f->n++] = h;
}

/* Whether merging m may have changed the store (a failed merge may have
 * applied the records before its bad one). */
static bool merge_touched(const struct crdt_merge_msg *m)
{
    return m->rc || m->st.changed || m->st.created;
}

/* Every merge goes through here: k messages, merged as a batch (each
 * message's rc and st as if alone). Those that changed the store drop the
 * cached counters of the entities they carried; most change nothing (our
 * own deltas coming back through other nodes' re-broadcasts). The entities
 * are those the store read: messages it merged whole name no others (one
 * it refused is walked again, as a message). */
static void merge_batch(struct node *n, struct crdt_merge_msg *m, size_t k)
{
    bool cached = n->now - n->agg_filled < AGG_CACHE_MS;
    struct forget f;
    f.n = 0;
    f.over = false;
    crdt_store_merge_many(n->store, m, k, cached ? forget_seen : NULL, &f);
    bool changed = false, failed = false;
    for (size_t i = 0; i < k; i++) {
        n->stats.ignored_expired += m[i].st.expired;
        n->stats.ignored_future += m[i].st.future;
        n->stats.ignored_origins_full += m[i].st.origins_full;
        n->stats.ignored_old_format += m[i].st.old_ids;
        changed |= merge_touched(&m[i]);
        failed |= m[i].rc != 0;
    }
    if (!changed || !cached)
        return;
    if (!failed && !f.over) {
        for (uint32_t i = 0; i < f.n; i++)
            agg_drop(n, f.kind[i], f.h[i]);
        return;
    }
    for (size_t i = 0; i < k; i++)
        if (merge_touched(&m[i]) && agg_forget(n, m[i].data, m[i].len) != 0)
            n->agg_gen++;
}

static int store_merge(struct node *n, const uint8_t *p, size_t len, struct crdt_merge_stats *st)
{
    struct crdt_merge_msg m = {.data = p, .len = len};
    merge_batch(n, &m, 1);
    if (st)
        *st = m.st;
    return m.rc;
}

/* The deltas on_payload kept from the datagram being received. */
static void merge_pending(struct node *n)
{
    if (!n->n_pend)
        return;
    merge_batch(n, n->pend, n->n_pend);
    for (uint32_t i = 0; i < n->n_pend; i++)
        if (n->pend[i].rc)
            n->stats.payloads_rejected++;
    n->n_pend = 0;
}

/* Keeps a published decision message for its resends, in the slot of the
 * oldest one when all are taken (a burst of decisions: push-pull covers
 * the evicted ones). */
static void keep_for_resend(struct node *n, const uint8_t *p, size_t len, ivt_ms now)
{
    struct decision_resend *slot = &n->resend[0];
    for (int i = 0; i < DECISION_RESEND_SLOTS; i++) {
        struct decision_resend *r = &n->resend[i];
        if (!r->bytes) {
            slot = r;
            break;
        }
        if (r->next_at < slot->next_at)
            slot = r;
    }
    uint8_t *copy = malloc(len);
    if (!copy)
        return;
    free(slot->bytes);
    memcpy(copy, p, len);
    *slot = (struct decision_resend){copy, len, 0, now + DECISION_RESEND_FIRST_MS};
}

static void decision_resend_tick(struct node *n, ivt_ms now)
{
    for (int i = 0; i < DECISION_RESEND_SLOTS; i++) {
        struct decision_resend *r = &n->resend[i];
        if (!r->bytes || now < r->next_at)
            continue;
        if (gossip_publish(n->g, r->bytes, r->len, now) == 0)
            n->stats.decision_resends++;
        if (++r->sent >= DECISION_RESENDS) {
            free(r->bytes);
            *r = (struct decision_resend){0};
        } else {
            r->next_at = now + ((ivt_ms)DECISION_RESEND_FIRST_MS << r->sent);
        }
    }
}

static void on_payload(void *ctx, const uint8_t *p, size_t len)
{
    struct node *n = ctx;
    const uint8_t *end = p + len;
    uint32_t items;
    uint64_t type;
    if (ivt_mp_read_array(&p, end, &items) || items < 2 || ivt_mp_read_uint(&p, end, &type)) {
        n->stats.payloads_rejected++;
        return;
    }
    switch (type) {
    case PAYLOAD_EVIDENCE:
        n->stats.deltas_received++;
        n->stats.deltas_bytes_in += len;
        /* Merged with the datagram's other deltas when gossip says it has
         * no more (on_payloads_end): their records' cache misses overlap. */
        if (n->n_pend == PEND_MAX)
            merge_pending(n);
        n->pend[n->n_pend++] = (struct crdt_merge_msg){.data = p, .len = (size_t)(end - p)};
        break;
    case PAYLOAD_DECISIONS:
        if (crdt_lww_merge(n->lww, p, (size_t)(end - p), n->wall, 0))
            n->stats.payloads_rejected++;
        break;
    case PAYLOAD_KEYOP: apply_keyop(n, p, end, items); break;
    default:
        /* A newer node's payload type: ignore it, as a rolling upgrade needs. */
        n->stats.payloads_rejected++;
        break;
    }
}

static void on_payloads_end(void *ctx)
{
    merge_pending(ctx);
}

_Static_assert(DIGEST_ANSWER_MAX == 2 * DIGEST_BACKLOG, "a push-pull digests twice the backlog");

/*
 * Stale records a push-pull's digest re-encodes: all of them while they
 * are at most DIGEST_ANSWER_MAX, none past that. Past it the refresh does
 * not pay: the records left stale (tens of thousands on a node scoring
 * 100,000 requests/s, whose slices cannot keep up) still mark nearly every
 * bucket as differing, so the comparison comes out the same, and the
 * refresh had held the loop for 1-3 ms inside the callback of a peer's
 * request (docs/benchmarks.md).
 */
static size_t digest_answer_max(struct node *n)
{
    return crdt_store_digest_stale(n->store) > DIGEST_ANSWER_MAX ? 0 : DIGEST_ANSWER_MAX;
}

static int app_digest(void *ctx, struct ivt_mpw *out)
{
    struct node *n = ctx;
    return crdt_store_digest_encode(n->store, out, digest_answer_max(n));
}

/* Picks the digest slice this exchange repairs: the first bucket from
 * n->repair_from (wrapping) where the digests differ, and the buckets after
 * it up to the slice width. Buckets past the slice are masked (theirs set to
 * ours) so the store neither sorts nor sends them: it reads and sorts every
 * entity of the differing buckets it is asked about (1 ms per bucket of a
 * thousand). Returns the first bucket of the slice, or
 * nb when the digests are equal. */
static size_t repair_slice(struct node *n, uint64_t *theirs, const uint64_t *ours, size_t nb,
                           size_t *slice_end)
{
    if (n->repair_width == 0 || n->repair_width > nb)
        n->repair_width = nb;
    size_t width = n->repair_width, first = nb;
    for (size_t i = 0; i < nb; i++) {
        size_t b = (n->repair_from + i) % nb;
        if (theirs[b] != ours[b]) {
            first = b;
            break;
        }
    }
    if (first == nb)
        return nb;
    *slice_end = first + width < nb ? first + width : nb;
    for (size_t b = *slice_end; b < nb; b++)
        theirs[b] = ours[b];
    return first;
}

/*
 * A push-pull's repair answer, in segments that gossip sends as frames of
 * their own, one per turn of the host's loop (gossip's app_diff with
 * IVT_EAGAIN): [decisions] first, then [nil, part] while more of the
 * slice differs, each part a complete store repair message of about
 * REPAIR_STEP bytes (whole buckets), together at most REPAIR_BUDGET.
 * Written, sealed, opened and merged at once, a megabyte of repair held
 * each end's loop for 5-10 ms, and every score that arrived meanwhile
 * waited. The first call reads the peer's digest; the next ones bring
 * ours up to date (DIGEST_ANSWER_STEP records a call, sending nothing),
 * compare the two and pick the slice.
 * Between the calls the store changes (events, merges): a part carries
 * the state as it is when written, which the peer joins as any repair
 * (absolute values: a later state is as good), and the buckets compared
 * are those of the digest the first call took.
 */
struct diff_job {
    size_t nb;         /* digest buckets */
    size_t resume;     /* next bucket to look at */
    size_t slice_end;  /* the slice's end: buckets from here on are masked */
    size_t left;       /* budget bytes not used yet */
    size_t refreshed;  /* our stale digests re-encoded for the comparison */
    bool picked;       /* the slice is chosen */
    uint64_t theirs[]; /* the peer's digest, masked past the slice; then ours */
};

/* Ends an answer: the slice cursor moves on (see repair_slice). */
static void diff_end(struct node *n, struct diff_job *j)
{
    if (j->slice_end < j->nb) {
        /* The width follows the store's density: halved when the budget
         * cut the slice (it held more than one exchange carries), doubled
         * when it fitted. A small store is repaired whole at once; a large
         * one in slices of about a budget's worth. */
        if (j->resume < j->slice_end) {
            n->repair_from = j->resume;
            n->repair_width = n->repair_width > 1 ? n->repair_width / 2 : 1;
        } else {
            n->repair_from = j->slice_end % j->nb;
            n->repair_width = n->repair_width < j->nb / 2 ? n->repair_width * 2 : j->nb;
        }
    }
    free(j);
}

static int app_diff(void *ctx, void **job, const uint8_t *peer, size_t len, struct ivt_mpw *out)
{
    struct node *n = ctx;
    struct diff_job *j = *job;
    if (!j) {
        /* The first segment: [decisions]. It is written in the callback
         * that also encodes our own digest for the peer, so the peer's
         * digest is only read here: comparing it with ours (which
         * re-encodes what changed since the last digest: up to
         * DIGEST_ANSWER_MAX records, 1-3 ms) waits for the next tick. */
        ivt_mpw_array(out, 1);
        int rc = crdt_lww_encode(n->lww, out);
        if (rc || ivt_mpw_error(out))
            return rc ? rc : ivt_mpw_error(out);
        size_t nb = crdt_store_digest_size(n->store);
        j = malloc(sizeof(*j) + 2 * nb * sizeof(*j->theirs));
        if (!j)
            return 0; /* the decisions alone */
        j->nb = nb;
        j->resume = 0;
        j->slice_end = nb;
        j->left = REPAIR_BUDGET;
        j->picked = false;
        /* Nothing to re-encode for the comparison when there is too
         * much (digest_answer_max). */
        j->refreshed = digest_answer_max(n) ? 0 : DIGEST_ANSWER_MAX;
        /* A peer whose digest we cannot read: the decisions alone. */
        if (crdt_store_digest_decode(n->store, j->theirs, nb, peer, len) != 0) {
            free(j);
            return 0;
        }
        *job = j;
        return IVT_EAGAIN;
    }
    if (!j->picked && j->refreshed < DIGEST_ANSWER_MAX && crdt_store_digest_stale(n->store)) {
        /* Our side of the comparison re-encodes up to DIGEST_ANSWER_MAX
         * records changed since the last digest, DIGEST_ANSWER_STEP a
         * tick (a pause: no segment is sent), as crdt_store_digest_max
         * would in one call (1-3 ms at 100,000 events/s). */
        size_t k = DIGEST_ANSWER_MAX - j->refreshed;
        k = k < DIGEST_ANSWER_STEP ? k : DIGEST_ANSWER_STEP;
        size_t done = crdt_store_digest_step(n->store, k);
        j->refreshed = done < k ? DIGEST_ANSWER_MAX : j->refreshed + done;
        return IVT_EAGAIN;
    }
    /* A later segment: [nil, part], or [nil] when nothing (more) differs. */
    size_t hdr = out->len, sent = 0;
    ivt_mpw_array(out, 2);
    ivt_mpw_nil(out);
    int rc = 0;
    if (!j->picked) {
        j->picked = true;
        uint64_t *ours = j->theirs + j->nb;
        j->resume = j->nb;
        /* 0: the records left stale mark their buckets as differing. */
        if (crdt_store_digest_max(n->store, ours, j->nb, 0) == 0)
            j->resume = repair_slice(n, j->theirs, ours, j->nb, &j->slice_end);
    }
    size_t before = out->len;
    size_t room = out->max > out->len + PAYLOAD_HEADER ? out->max - out->len - PAYLOAD_HEADER : 0;
    size_t left = j->left < room ? j->left : room;
    if (j->resume < j->slice_end && left >= REPAIR_PART_MIN) {
        size_t soft = left < REPAIR_STEP ? left : REPAIR_STEP;
        rc = crdt_store_repair_part(n->store, out, j->theirs, j->nb, &j->resume, soft, left, &sent);
        if (rc == IVT_ENOSPC)
            rc = 0; /* the next bucket does not fit what is left: done */
    }
    if (sent)
        j->left -= out->len - before < j->left ? out->len - before : j->left;
    else
        ivt_mp_put_array(out->data + hdr, 1); /* one byte, as the 2 was */
    if (rc == 0 && !ivt_mpw_error(out) && sent && j->resume < j->slice_end &&
        j->left >= REPAIR_PART_MIN)
        return IVT_EAGAIN;
    diff_end(n, j);
    *job = NULL;
    return rc ? rc : ivt_mpw_error(out);
}

static void app_diff_cancel(void *ctx, void *job)
{
    (void)ctx;
    free(job);
}

/* Merges up to MERGE_CHUNK records of the oldest queued repair; drops the
 * job when it is done or turns out malformed. */
static void merge_step(struct node *n)
{
    struct merge_job *j = n->merge_head;
    if (!j)
        return;
    const uint8_t *p = j->data + j->pos, *end = j->data + j->len;
    uint32_t k = 0;
    bool bad = false;
    while (k < MERGE_CHUNK && k < j->left) {
        if (ivt_mp_skip(&p, end)) {
            bad = true;
            break;
        }
        k++;
    }
    if (k > 0) {
        struct ivt_mpw *w = &n->chunk;
        ivt_mpw_reset(w);
        ivt_mpw_array(w, 5);
        ivt_mpw_raw(w, j->data, j->prefix_len);
        ivt_mpw_array(w, k);
        ivt_mpw_raw(w, j->data + j->pos, (size_t)(p - (j->data + j->pos)));
        if (ivt_mpw_error(w) || store_merge(n, w->data, w->len, 0))
            bad = true;
    }
    j->pos = (size_t)(p - j->data);
    j->left -= k;
    if (bad || j->left == 0) {
        if (bad)
            n->stats.payloads_rejected++;
        n->merge_head = j->next;
        if (!n->merge_head)
            n->merge_tail = NULL;
        n->merge_bytes -= j->len;
        free(j);
    }
}

/* Merges a store message: a small one at once, a larger one queued for
 * node_tick, which merges it MERGE_CHUNK records at a time, so a large
 * repair never holds the host's loop for long. Repairs are
 * joins of absolute values: merged late or in pieces they give the same
 * state. */
static int merge_store(struct node *n, const uint8_t *p, size_t len)
{
    const uint8_t *start = p, *end = p + len, *q;
    uint32_t items, count;
    uint64_t version, type;
    if (ivt_mp_read_array(&p, end, &items) || items != 5)
        return store_merge(n, start, len, 0); /* its own error code */
    q = p;
    if (ivt_mp_read_uint(&q, end, &version) || ivt_mp_read_uint(&q, end, &type) ||
        ivt_mp_skip(&q, end) || ivt_mp_skip(&q, end))
        return store_merge(n, start, len, 0);
    const uint8_t *prefix = p, *prefix_end = q;
    if (ivt_mp_read_array(&q, end, &count))
        return store_merge(n, start, len, 0);
    if (count <= MERGE_CHUNK && !n->merge_head)
        return store_merge(n, start, len, 0);
    size_t plen = (size_t)(prefix_end - prefix), rlen = (size_t)(end - q);
    if (n->merge_bytes + plen + rlen > MERGE_QUEUE_MAX)
        return IVT_ELIMIT;
    struct merge_job *j = malloc(sizeof(*j) + plen + rlen);
    if (!j)
        return IVT_ENOMEM;
    j->next = NULL;
    j->prefix_len = plen;
    j->len = plen + rlen;
    j->pos = plen;
    j->left = count;
    memcpy(j->data, prefix, plen);
    memcpy(j->data + plen, q, rlen);
    if (n->merge_tail)
        n->merge_tail->next = j;
    else
        n->merge_head = j;
    n->merge_tail = j;
    n->merge_bytes += j->len;
    return 0; /* merged MERGE_CHUNK records a tick (node_tick, paced) */
}

static int app_merge(void *ctx, const uint8_t *p, size_t len)
{
    struct node *n = ctx;
    const uint8_t *end = p + len, *q;
    uint32_t items;
    /* A segment of app_diff: [decisions | nil, store message] or
     * [decisions | nil]. */
    if (ivt_mp_read_array(&p, end, &items) || items < 1 || items > 2)
        return IVT_EPROTO;
    q = p;
    if (ivt_mp_skip(&q, end))
        return IVT_EPROTO;
    int rc = 0;
    if (ivt_mp_peek(p, end) != IVT_MP_NIL)
        rc = crdt_lww_merge(n->lww, p, (size_t)(q - p), n->wall, 0);
    if (items == 1)
        return q == end ? rc : IVT_EPROTO;
    /* What we merged from a repair is already everywhere the peer is: do
     * not re-broadcast it as our own change. */
    int rc2 = merge_store(n, q, (size_t)(end - q));
    return rc ? rc : rc2;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void on_member(void *ctx, const struct gossip_member_info *m);

/* The monotonic time at which the wall clock (wall at now) reaches the
 * start of the epoch after the store's current one: the roll's deadline.
 * A wall clock that drifts or steps only moves the roll to the tick that
 * sees the new epoch (node_tick checks the wall, not this). */
static ivt_ms next_roll(const struct node *n, ivt_ms now, ivt_ms wall)
{
    ivt_ms start = ((ivt_ms)crdt_store_epoch(n->store) + 1) * n->cfg.epoch_ms;
    return start > wall ? now + (start - wall) : now + 1;
}

int node_new(struct node **out, const struct node_config *cfg, uint64_t seed, ivt_ms now,
             ivt_ms wall)
{
    if (cfg->packet_size < 512 || cfg->packet_size > GOSSIP_PACKET_MAX ||
        gossip_keyring_count(&cfg->keyring) == 0)
        return IVT_EINVAL;
    struct node *n = calloc(1, sizeof(*n));
    if (!n)
        return IVT_ENOMEM;
    n->cfg = *cfg;
    n->rules = cfg->rules;
    if (cfg->thresholds) {
        if (node_thresholds_check(cfg->thresholds)) {
            free(n);
            return IVT_EINVAL;
        }
        n->th = *cfg->thresholds;
    } else {
        node_thresholds_defaults(&n->th);
    }
    n->cfg.thresholds = 0;
    n->cfg.gossip = 0;
    memcpy(n->origin.id, cfg->id, sizeof(n->origin.id));
    n->origin.gen = cfg->generation;
    n->wall = wall;
    n->now = now;
    n->agg_filled = now - AGG_CACHE_MS; /* nothing cached yet */
    ivt_mpw_init_dyn(&n->chunk, MERGE_QUEUE_MAX);

    struct crdt_config cc;
    crdt_config_defaults(&cc);
    cc.origin = n->origin;
    memcpy(cc.hash_key, cfg->hash_key, sizeof(cc.hash_key));
    cc.epoch_ms = cfg->epoch_ms;
    cc.window_epochs = cfg->window_epochs;
    cc.max_entities = cfg->max_entities;
    /* gossip re-gossips every delta as received (infection-style): a
     * store forwarding what rose would publish each record again from
     * every node, and every node would merge those N copies. */
    cc.forward_merged = false;
    if (!cfg->admit_all)
        cc.admit_kinds = 1u << CRDT_KIND_PREFIX | 1u << CRDT_KIND_UA | 1u << CRDT_KIND_PUB;
    if (cfg->store_alloc)
        cc.alloc = *cfg->store_alloc;
    cc.table_full = cfg->store_table_full;
    int rc = crdt_store_new(&n->store, &cc, wall);
    if (rc == 0)
        rc = crdt_lww_new(&n->lww, &n->origin, DECISIONS_MAX);
    if (rc == 0)
        rc = heavy_renew(n);

    struct gossip_config gc;
    if (cfg->gossip)
        gc = *cfg->gossip;
    else
        node_gossip_defaults(&gc, cfg->profile);
    memcpy(gc.id, cfg->id, sizeof(gc.id));
    gc.generation = cfg->generation;
    snprintf(gc.name, sizeof(gc.name), "%.*s", (int)sizeof(gc.name) - 1, cfg->name);
    snprintf(gc.label, sizeof(gc.label), "%s", cfg->label);
    gc.addr = cfg->addr;
    gc.packet_size = cfg->packet_size;
    gc.segment_gap = SEGMENT_GAP_MS;
    gc.pushpull_full_digests |= cfg->full_digests;
    if (cfg->aead)
        gc.aead = (enum gossip_aead)cfg->aead;
    if (rc == 0 && cfg->member_changes_max) {
        if (cfg->member_changes_max > NODE_MEMBER_CHANGES_MAX)
            rc = IVT_EINVAL;
        else if (!(n->mchg = calloc(cfg->member_changes_max, sizeof(*n->mchg))))
            rc = IVT_ENOMEM;
    }
    struct gossip_delegate d = {
        .ctx = n,
        .on_member = n->mchg ? on_member : NULL,
        .on_payload = on_payload,
        .on_payloads_end = on_payloads_end,
        .app_digest = app_digest,
        .app_diff = app_diff,
        .app_diff_cancel = app_diff_cancel,
        .app_merge = app_merge,
    };
    if (rc == 0)
        rc = gossip_new(&n->g, &gc, &cfg->keyring, &d, ivt_mix64(seed), now);
    if (rc) {
        node_delete(n);
        return rc;
    }
    refresh_keyring_tag(n, now);
    n->admit_members = SIZE_MAX;
    n->epoch = crdt_store_epoch(n->store);
    n->next_roll = next_roll(n, now, wall);
    n->next_flush = now + FLUSH_INTERVAL_MS;
    n->next_gc = now + LWW_GC_INTERVAL_MS;
    n->tokens_at = now;
    *out = n;
    return 0;
}

void node_delete(struct node *n)
{
    if (!n)
        return;
    gossip_delete(n->g);
    free(n->mchg);
    crdt_store_delete(n->store);
    crdt_lww_delete(n->lww);
    crdt_hh_delete(n->hh);
    for (int i = 0; i < DECISION_RESEND_SLOTS; i++)
        free(n->resend[i].bytes);
    while (n->merge_head) {
        struct merge_job *j = n->merge_head;
        n->merge_head = j->next;
        free(j);
    }
    ivt_mpw_destroy(&n->chunk);
    free(n->agg_cache);
    free(n->ua_cache);
    free(n);
}

int node_set_thresholds(struct node *n, const struct node_thresholds *th)
{
    if (node_thresholds_check(th))
        return IVT_EINVAL;
    uint32_t k = n->th.admit_top_k;
    n->th = *th;
    n->admit_members = SIZE_MAX;
    /* A new size starts a new summary; the same size keeps the epoch's. */
    return th->admit_top_k == k ? 0 : heavy_renew(n);
}

void node_set_rules(struct node *n, const struct node_rules *rules)
{
    n->rules = rules;
    /* Cached verdicts point into the old rules' pattern strings. */
    if (n->ua_cache)
        memset(n->ua_cache, 0, UA_CACHE_SIZE * sizeof(*n->ua_cache));
}

void node_slab_ahead(const struct node *n, void **at, size_t *len, size_t ahead)
{
    crdt_store_slab_ahead(n->store, at, len, ahead);
}

struct gossip *node_gossip(struct node *n)
{
    return n->g;
}

/* ---- the sans-IO triplet ------------------------------------------------ */

int node_receive(struct node *n, const struct gossip_addr *from, const uint8_t *data, size_t len,
                 ivt_ms now, ivt_ms wall)
{
    n->wall = wall;
    n->now = now;
    return gossip_receive(n->g, from, data, len, now);
}

/* Publishes pending evidence within the token bucket, at most max
 * payloads. Returns true when it stopped at max with more to send. */
static bool flush_evidence(struct node *n, ivt_ms now, size_t max)
{
    double rate = (double)n->cfg.gossip_bytes_per_s;
    size_t budget = gossip_app_budget(n->g);
    if (budget <= PAYLOAD_HEADER || budget > sizeof(n->payload))
        return false;
    /* Refill, capped at one second of budget so an idle node cannot save up
     * a burst larger than a second's worth. */
    n->tokens += rate * (double)(now - n->tokens_at) / 1000.0;
    if (n->tokens > rate)
        n->tokens = rate;
    n->tokens_at = now;
    for (size_t sent = 0; crdt_store_pending(n->store) > 0 && n->tokens >= (double)budget;) {
        if (sent == max)
            return true;
        struct ivt_mpw w;
        ivt_mpw_init_fixed(&w, n->payload, budget);
        ivt_mpw_array(&w, 2);
        ivt_mpw_uint(&w, PAYLOAD_EVIDENCE);
        size_t records = 0;
        int rc = crdt_store_flush(n->store, &w, budget - w.len, &records);
        if (rc == IVT_ENOSPC) {
            /* The first entity's record alone exceeds a payload (a
             * promoted distinct set): push-pull carries it, and the
             * entities behind it go on. */
            crdt_store_flush_drop(n->store);
            n->stats.deltas_oversize++;
            continue;
        }
        if (rc || records == 0 || ivt_mpw_error(&w))
            break;
        rc = gossip_publish(n->g, n->payload, w.len, now);
        n->tokens -= (double)w.len;
        if (rc) {
            /* The queue is full: these cells wait for push-pull. */
            n->stats.deltas_dropped++;
            break;
        }
        n->stats.deltas_sent++;
        n->stats.deltas_bytes_out += w.len;
        sent++;
    }
    return false;
}

int node_tick(struct node *n, ivt_ms now, ivt_ms wall)
{
    n->wall = wall;
    n->now = now;
    if (n->merge_head && now >= n->next_merge) {
        merge_step(n);
        n->next_merge = now + MERGE_GAP_MS;
    }
    /* Key operations arrive by gossip, from ivtctl and from SIGHUP. */
    refresh_keyring_tag(n, now);
    keyop_retry_tick(n, now);
    decision_resend_tick(n, now);
    if (crdt_store_epoch_of(n->store, wall) > n->epoch) {
        size_t removed = 0;
        crdt_store_tick_begin(n->store, wall, &removed);
        n->stats.entities_expired += removed;
        n->agg_gen++;
        if (n->hh)
            crdt_hh_clear_local(n->hh); /* heavy hitters of the epoch */
        n->epoch = crdt_store_epoch(n->store);
    }
    n->next_roll = next_roll(n, now, wall);
    if (crdt_store_tick_pending(n->store)) {
        /* The roll goes ROLL_STEP records per tick, so a roll where most
         * entities lose evidence never holds the loop for its whole walk. */
        size_t removed = 0;
        crdt_store_tick_step(n->store, ROLL_STEP, &removed);
        n->stats.entities_expired += removed;
        n->agg_gen++;
    }
    if (now >= n->next_gc) {
        crdt_lww_gc(n->lww, wall);
        n->next_gc = now + LWW_GC_INTERVAL_MS;
    }
    /* A flush round at most every FLUSH_INTERVAL_MS, and only when there
     * is evidence to publish: a node without new events is not woken for
     * it (node_next_deadline). The first events after a quiet spell go
     * out at once; while events keep coming, each round batches the
     * interval's. */
    if (now >= n->next_flush && crdt_store_pending(n->store)) {
        n->flushing = true;
        n->next_flush = now + FLUSH_INTERVAL_MS;
    }
    if (n->flushing)
        n->flushing = flush_evidence(n, now, FLUSH_PAYLOADS_PER_TICK);
    if (now >= n->next_digest) {
        size_t stale = crdt_store_digest_stale(n->store);
        if (stale > DIGEST_BACKLOG)
            crdt_store_digest_step(n->store, stale - DIGEST_BACKLOG < DIGEST_SLICE
                                                 ? stale - DIGEST_BACKLOG
                                                 : DIGEST_SLICE);
        n->next_digest = now + DIGEST_SLICE_MS;
    }
    return gossip_tick(n->g, now);
}

ivt_ms node_next_deadline(const struct node *n)
{
    ivt_ms t = gossip_next_deadline(n->g);
    if (crdt_store_tick_pending(n->store) || n->flushing)
        return n->now; /* a roll or a flush under way: its next piece at once */
    if (n->merge_head && n->next_merge < t)
        t = n->next_merge; /* a queued repair: its next chunk (paced) */
    /* Ticks are asked for only where work is due: at 1,000 simulated
     * nodes, waking every node every FLUSH_INTERVAL_MS for nothing was
     * two thirds of its ticks (docs/benchmarks.md, "Session 14"). */
    if (n->next_flush < t && crdt_store_pending(n->store))
        t = n->next_flush;
    if (n->next_roll < t)
        t = n->next_roll;
    if (n->keyop_retry.active && n->keyop_retry.next_at < t)
        t = n->keyop_retry.next_at;
    for (int i = 0; i < DECISION_RESEND_SLOTS; i++)
        if (n->resend[i].bytes && n->resend[i].next_at < t)
            t = n->resend[i].next_at;
    /* digest slices only wake the node while there is a backlog */
    if (n->next_digest < t && crdt_store_digest_stale(n->store) > DIGEST_BACKLOG)
        t = n->next_digest;
    if (n->next_gc < t)
        t = n->next_gc;
    return t;
}

void node_warm(const struct node *n, int stage)
{
    if (stage == 0) {
        /* The struct's first lines: its hot fields, and the pointers
         * stage 1 follows. */
        __builtin_prefetch(n, 1);
        __builtin_prefetch((const char *)n + 64, 1);
        return;
    }
    gossip_warm(n->g);
    __builtin_prefetch(n->store, 0);
}

size_t node_outbox(struct node *n, struct gossip_packet *out, size_t max)
{
    return gossip_outbox(n->g, out, max);
}

/* Gossip's member hook: the change goes in the ring the host drains. */
static void on_member(void *ctx, const struct gossip_member_info *m)
{
    struct node *n = ctx;
    if (m->self)
        return;
    uint32_t cap = n->cfg.member_changes_max;
    if (n->mchg_len == cap) {
        n->mchg_head = (n->mchg_head + 1) % cap;
        n->mchg_len--;
        n->mchg_dropped++;
    }
    struct node_member_change *c = &n->mchg[(n->mchg_head + n->mchg_len++) % cap];
    memcpy(c->name, m->name, sizeof(c->name));
    c->addr = m->addr;
    c->generation = m->generation;
    c->incarnation = m->incarnation;
    c->state = m->state;
    c->state_changed = m->state_changed;
}

size_t node_member_changes(struct node *n, struct node_member_change *out, size_t max,
                           uint64_t *dropped)
{
    size_t k = 0;
    for (; k < max && n->mchg_len; k++) {
        out[k] = n->mchg[n->mchg_head];
        n->mchg_head = (n->mchg_head + 1) % n->cfg.member_changes_max;
        n->mchg_len--;
    }
    if (dropped)
        *dropped = n->mchg_dropped;
    n->mchg_dropped = 0;
    return k;
}

int node_join(struct node *n, const struct gossip_addr *seeds, size_t count, ivt_ms now)
{
    return gossip_join(n->g, seeds, count, now);
}

int node_leave(struct node *n, ivt_ms now)
{
    return gossip_leave(n->g, now);
}

/* ---- observing ---------------------------------------------------------- */

/* The entity keys of one event, as strings, and their hashes. */
struct event_keys {
    char ip[48];
    size_t ip_len;
    char prefix[56];
    size_t prefix_len;
    uint64_t h[CRDT_KINDS];
    bool has[CRDT_KINDS];
};

static void prefix_of(const struct node_ip *ip, char *buf, size_t cap, size_t *len)
{
    struct node_ip p = *ip;
    char text[48];
    if (ip->family == 4) {
        p.bytes[3] = 0; /* /24 */
        node_ip_format(&p, text, sizeof(text));
        size_t n = strlen(text);
        if (n + 4 <= cap) { /* on every event: no snprintf */
            memcpy(buf, text, n);
            memcpy(buf + n, "/24", 4);
            *len = n + 3;
        } else {
            *len = (size_t)snprintf(buf, cap, "%s/24", text);
        }
    } else {
        memset(p.bytes + 6, 0, 10); /* /48 */
        node_ip_format(&p, text, sizeof(text));
        *len = (size_t)snprintf(buf, cap, "%s/48", text);
    }
}

static void event_keys(struct node *n, struct event_keys *k, const struct node_event *ev)
{
    memset(k->has, 0, sizeof(k->has));
    node_ip_format(&ev->ip, k->ip, sizeof(k->ip));
    k->ip_len = strlen(k->ip);
    prefix_of(&ev->ip, k->prefix, sizeof(k->prefix), &k->prefix_len);
    k->h[CRDT_KIND_IP] = crdt_store_key_hash(n->store, CRDT_KIND_IP, k->ip, k->ip_len);
    k->h[CRDT_KIND_PREFIX] =
        crdt_store_key_hash(n->store, CRDT_KIND_PREFIX, k->prefix, k->prefix_len);
    k->has[CRDT_KIND_IP] = k->has[CRDT_KIND_PREFIX] = true;
    if (ev->device_len) {
        k->h[CRDT_KIND_DEVICE] =
            crdt_store_key_hash(n->store, CRDT_KIND_DEVICE, ev->device, ev->device_len);
        k->has[CRDT_KIND_DEVICE] = true;
    }
    if (ev->ua_len) {
        k->h[CRDT_KIND_UA] = crdt_store_key_hash(n->store, CRDT_KIND_UA, ev->ua, ev->ua_len);
        k->has[CRDT_KIND_UA] = true;
    }
    if (ev->pub_len) {
        k->h[CRDT_KIND_PUB] = crdt_store_key_hash(n->store, CRDT_KIND_PUB, ev->pub, ev->pub_len);
        k->has[CRDT_KIND_PUB] = true;
    }
}

/* GIVT signals of an event, with the crawler verdict cached per user agent. */
static void givt(struct node *n, struct node_signals *s, const struct node_event *ev,
                 const struct event_keys *k)
{
    if (!n->rules)
        return;
    s->datacenter = node_rules_hosting(n->rules, &ev->ip, &s->datacenter_asn, &s->datacenter_org);
    if (!s->datacenter && ev->asn)
        s->datacenter = node_rules_hosting_asn(n->rules, ev->asn, &s->datacenter_org);
    if (s->datacenter && !s->datacenter_asn)
        s->datacenter_asn = ev->asn;
    if (!k->has[CRDT_KIND_UA])
        return;
    uint64_t h = k->h[CRDT_KIND_UA] | 1; /* never 0, the empty mark */
    if (!n->ua_cache && !(n->ua_cache = calloc(UA_CACHE_SIZE, sizeof(*n->ua_cache)))) {
        /* no memory: the verdict uncached */
        s->crawler_pattern = 0;
        s->crawler = node_rules_crawler(n->rules, ev->ua, ev->ua_len, &s->crawler_pattern);
        return;
    }
    struct ua_cache_entry *e = &n->ua_cache[h % UA_CACHE_SIZE];
    if (e->hash != h) {
        e->hash = h;
        e->pattern = 0;
        e->crawler = node_rules_crawler(n->rules, ev->ua, ev->ua_len, &e->pattern);
    }
    s->crawler = e->crawler;
    s->crawler_pattern = e->pattern;
}

/* Two-way set associative: the entry holding (kind, h) if its set has one,
 * else the one to replace (an empty or stale one, else the older). With one
 * slot per key, two hot keys on one slot would miss on every score. */
static struct agg_cache_entry *agg_slot(struct node *n, enum crdt_kind kind, uint64_t h)
{
    if (!n->agg_cache)
        return NULL;
    struct agg_cache_entry *a = &n->agg_cache[((h ^ (uint64_t)kind) % AGG_CACHE_SIZE) & ~1ul];
    struct agg_cache_entry *b = a + 1;
    if (a->hash == (h | 1) && a->kind == kind)
        return a;
    if (b->hash == (h | 1) && b->kind == kind)
        return b;
    if (a->hash == 0 || a->gen != n->agg_gen)
        return a;
    if (b->hash == 0 || b->gen != n->agg_gen)
        return b;
    return a->at <= b->at ? a : b;
}

static bool agg_valid(const struct node *n, const struct agg_cache_entry *e, enum crdt_kind kind,
                      uint64_t h, ivt_ms now)
{
    return e->hash == (h | 1) && e->kind == kind && e->gen == n->agg_gen && now >= e->at &&
           now - e->at < AGG_CACHE_MS;
}

/* A local event's counters join a valid cached entry, as they joined the store. */
static void agg_add(struct node *n, enum crdt_kind kind, const struct event_keys *k,
                    const uint32_t *add)
{
    if (!k->has[kind])
        return;
    struct agg_cache_entry *e = agg_slot(n, kind, k->h[kind]);
    if (!e || e->hash != (k->h[kind] | 1) || e->kind != kind || e->gen != n->agg_gen)
        return;
    e->fleet_requests += add[CNT_REQUESTS];
    e->local_requests += add[CNT_REQUESTS];
    e->fleet_datacenter += add[CNT_DATACENTER];
    e->local_datacenter += add[CNT_DATACENTER];
    if (e->local_all == 0)
        e->origins++; /* this node's first evidence of it in the window */
    for (int c = 0; c < CRDT_COUNTERS; c++)
        e->local_all += add[c];
}

/* ---- admission ---------------------------------------------------------- */

/* (Re)creates the heavy-hitter summary at th.admit_top_k counters (none at
 * 0). Returns 0 or IVT_ENOMEM (the node then runs without one). */
static int heavy_renew(struct node *n)
{
    crdt_hh_delete(n->hh);
    n->hh = NULL;
    if (n->cfg.admit_all || n->th.admit_top_k == 0)
        return 0;
    /* One owner slot: the summary is never published, only read here. */
    return crdt_hh_new(&n->hh, &n->origin, n->th.admit_top_k, 1);
}

/* admit_events for the present fleet: if every node held an IP's events
 * under T / N, the fleet would hold fewer than T, so admitting at
 * ceil(T / N) loses no IP that crosses T = th_ip_requests. Suspect members
 * still see traffic and count. On the request path: recomputed only when
 * the member count moved (two counters read). */
static double admit_events(struct node *n)
{
    size_t members =
        gossip_member_count(n->g, GOSSIP_ALIVE) + gossip_member_count(n->g, GOSSIP_SUSPECT);
    if (members == n->admit_members)
        return n->admit_events;
    n->admit_members = members;
    double a = n->th.admit_events;
    if (members == 0)
        members = 1;
    if (a > 0 && n->th.th_ip_requests > 0) {
        double pigeon = ceil(n->th.th_ip_requests / (double)members);
        if (pigeon < a)
            a = pigeon;
    }
    n->admit_events = a;
    return a;
}

/* Which local signal admits the IP or device of kind in this event, if
 * any. s holds the event's GIVT hits; the record was just updated. */
static int admit_reason(struct node *n, enum crdt_kind kind, const struct event_keys *k,
                        const struct node_signals *s, ivt_ms wall)
{
    uint64_t h = k->h[kind];
    if (s->crawler || s->datacenter)
        return NODE_ADMIT_RULE;
    if (crdt_lww_count(n->lww) && crdt_lww_get(n->lww, kind, h, wall))
        return NODE_ADMIT_DECISION;
    if (n->hh && crdt_hh_local_heavy(n->hh, h ^ (uint64_t)kind, n->th.admit_top_min))
        return NODE_ADMIT_HEAVY;
    struct crdt_view v;
    if (crdt_store_get_hash(n->store, &v, kind, h))
        return -1;
    double events =
        (double)(v.local[CNT_REQUESTS] + v.local[CNT_IMPRESSIONS] + v.local[CNT_CLICKS]);
    double admit = admit_events(n);
    if (admit > 0 && events >= admit)
        return NODE_ADMIT_EVENTS;
    /* A local-only record holds this node's evidence alone: its distinct
     * counts are local counts. */
    double distinct =
        kind == CRDT_KIND_IP ? (double)v.distinct[DIST_UA] : (double)v.distinct[DIST_IP];
    double th = kind == CRDT_KIND_IP ? n->th.admit_ip_distinct_ua : n->th.admit_device_distinct_ip;
    if (th > 0 && distinct >= th)
        return NODE_ADMIT_DISTINCT;
    return -1;
}

/* After an event: admits the IP or device if it is not shared yet and a
 * local signal says so. The heavy-hitter summary counts the events of
 * entities not shared yet only: it is asked about nothing else, and the
 * heaviest entities, most of the traffic, are shared early and then cost
 * one table lookup per event instead of a summary update. */
static void admit(struct node *n, enum crdt_kind kind, const struct event_keys *k,
                  const struct node_signals *s, ivt_ms wall)
{
    if (!k->has[kind] || n->cfg.admit_all)
        return;
    if (crdt_store_admitted(n->store, kind, k->h[kind]) != 0)
        return; /* shared already (or evicted: nothing to admit) */
    if (n->hh)
        crdt_hh_observe(n->hh, k->h[kind] ^ (uint64_t)kind, 1);
    int why = admit_reason(n, kind, k, s, wall);
    if (why >= 0 && crdt_store_admit(n->store, kind, k->h[kind]) == 0)
        n->stats.admissions[why]++;
}

/* An event's store updates: u[0..*nu) in *epoch, whose counters raise add.
 * Returns 0, or IVT_EINVAL (counted) for a bad address family or kind. The
 * keys in u point into k and ev. */
static int observe_plan(struct node *n, struct crdt_update *u, size_t *nu, uint32_t *epoch,
                        uint32_t *add, const struct node_event *ev, const struct event_keys *k,
                        const struct node_signals *s, ivt_ms wall)
{
    if ((ev->ip.family != 4 && ev->ip.family != 6) || (unsigned)ev->kind > NODE_EV_CLICK) {
        n->stats.events_rejected++;
        return IVT_EINVAL;
    }
    *epoch = crdt_store_epoch_of(n->store, ev->ts ? ev->ts : wall);
    *nu = 0;
    memset(add, 0, CRDT_COUNTERS * sizeof(*add));
    add[ev->kind == NODE_EV_REQUEST      ? CNT_REQUESTS
        : ev->kind == NODE_EV_IMPRESSION ? CNT_IMPRESSIONS
                                         : CNT_CLICKS] = 1;
    if (s->datacenter)
        add[CNT_DATACENTER] = 1;
    if (s->crawler)
        add[CNT_CRAWLER] = 1;

    static const struct {
        enum crdt_kind kind;
        uint8_t distinct; /* bit d: track distinct items of kind d */
    } plan[CRDT_KINDS] = {
        {CRDT_KIND_IP, 1u << DIST_UA | 1u << DIST_DEVICE},
        {CRDT_KIND_PREFIX, 1u << DIST_UA | 1u << DIST_IP},
        {CRDT_KIND_DEVICE, 1u << DIST_UA | 1u << DIST_IP},
        {CRDT_KIND_UA, 1u << DIST_IP},
        {CRDT_KIND_PUB, 1u << DIST_IP | 1u << DIST_DEVICE | 1u << DIST_UA},
    };
    /* The item of each distinct metric is the other entity's hash. */
    const int item_kind[3] = {CRDT_KIND_UA, CRDT_KIND_IP, CRDT_KIND_DEVICE};
    for (int i = 0; i < CRDT_KINDS; i++) {
        enum crdt_kind kind = plan[i].kind;
        if (!k->has[kind])
            continue;
        struct crdt_update *x = &u[(*nu)++];
        memset(x, 0, sizeof(*x));
        x->kind = kind;
        x->hash = k->h[kind];
        switch (kind) {
        case CRDT_KIND_IP: x->key = k->ip, x->key_len = k->ip_len; break;
        case CRDT_KIND_PREFIX: x->key = k->prefix, x->key_len = k->prefix_len; break;
        case CRDT_KIND_DEVICE: x->key = ev->device, x->key_len = ev->device_len; break;
        case CRDT_KIND_UA: x->key = ev->ua, x->key_len = ev->ua_len; break;
        default: x->key = ev->pub, x->key_len = ev->pub_len; break;
        }
        memcpy(x->add, add, CRDT_COUNTERS * sizeof(*add));
        for (int d = 0; d < CRDT_DISTINCTS; d++) {
            if ((plan[i].distinct >> d & 1) && k->has[item_kind[d]]) {
                x->item[d] = k->h[item_kind[d]];
                x->item_mask |= (uint8_t)(1u << d);
            }
        }
    }
    return 0;
}

/* After the store applied an event's updates (with result rc): counts it,
 * keeps the aggregate cache in step and admits what a local signal names. */
static void observe_done(struct node *n, int rc, const uint32_t *add, const struct event_keys *k,
                         const struct node_signals *s, ivt_ms wall)
{
    if (rc) {
        n->stats.events_rejected++;
        return;
    }
    n->stats.events_observed++;
    agg_add(n, CRDT_KIND_PREFIX, k, add);
    agg_add(n, CRDT_KIND_PUB, k, add);
    admit(n, CRDT_KIND_IP, k, s, wall);
    admit(n, CRDT_KIND_DEVICE, k, s, wall);
}

static int observe(struct node *n, const struct node_event *ev, const struct event_keys *k,
                   const struct node_signals *s, ivt_ms wall)
{
    struct crdt_update u[CRDT_KINDS];
    size_t nu;
    uint32_t epoch, add[CRDT_COUNTERS];
    int rc = observe_plan(n, u, &nu, &epoch, add, ev, k, s, wall);
    if (rc)
        return rc;
    rc = crdt_store_update(n->store, epoch, u, nu);
    observe_done(n, rc, add, k, s, wall);
    return rc;
}

/* What observe and score both need of an event: its entity keys and GIVT
 * signals. Returns 0, or IVT_EINVAL (counted) for an event with no IP. */
static int prepare(struct node *n, struct event_keys *k, struct node_signals *s,
                   const struct node_event *ev, ivt_ms wall)
{
    n->wall = wall;
    if (ev->ip.family != 4 && ev->ip.family != 6) {
        n->stats.events_rejected++;
        return IVT_EINVAL;
    }
    memset(s, 0, sizeof(*s));
    event_keys(n, k, ev);
    givt(n, s, ev, k);
    return 0;
}

int node_observe(struct node *n, const struct node_event *ev, ivt_ms now, ivt_ms wall)
{
    (void)now;
    struct event_keys k;
    struct node_signals s;
    int rc = prepare(n, &k, &s, ev, wall);
    return rc ? rc : observe(n, ev, &k, &s, wall);
}

/* Events a node_observe_batch hands the store at once: its prefetch groups
 * (16 updates) then span events, and the planned events stay in cache
 * (about 900 B each on the stack). */
enum { OBSERVE_CHUNK = 16 };

/* One event of a batch between its plan and the store's callback. */
struct observe_item {
    struct event_keys k;
    struct node_signals s;
    struct crdt_update u[CRDT_KINDS];
    uint32_t add[CRDT_COUNTERS];
    size_t at; /* its index in the caller's array */
};

struct observe_batch {
    struct node *n;
    struct observe_item *items;
    int *rc;
    ivt_ms wall;
};

/* The store applied item i: what observe does after its update, before
 * the store applies the next one (so admission sees the same records). */
static void observe_item_done(void *ctx, size_t i, int rc)
{
    struct observe_batch *b = ctx;
    const struct observe_item *x = &b->items[i];
    observe_done(b->n, rc, x->add, &x->k, &x->s, b->wall);
    b->rc[x->at] = rc;
}

size_t node_observe_batch(struct node *n, int *rc, const struct node_event *ev, size_t count,
                          ivt_ms now, ivt_ms wall)
{
    (void)now;
    struct observe_item items[OBSERVE_CHUNK];
    struct crdt_event ce[OBSERVE_CHUNK];
    struct observe_batch b = {n, items, rc, wall};
    size_t accepted = 0;
    for (size_t i = 0; i < count;) {
        size_t m = 0;
        for (; i < count && m < OBSERVE_CHUNK; i++) {
            struct observe_item *x = &items[m];
            int r = prepare(n, &x->k, &x->s, &ev[i], wall);
            if (r == 0)
                r = observe_plan(n, x->u, &ce[m].n, &ce[m].epoch, x->add, &ev[i], &x->k, &x->s,
                                 wall);
            rc[i] = r;
            if (r)
                continue;
            ce[m].u = x->u;
            x->at = i;
            m++;
        }
        crdt_store_update_batch(n->store, NULL, ce, m, observe_item_done, &b);
    }
    for (size_t i = 0; i < count; i++)
        accepted += rc[i] == 0;
    return accepted;
}

/* ---- scoring ------------------------------------------------------------ */

static void measure(struct node_measure *m, const struct crdt_view *v, int counter)
{
    m->local = (double)v->local[counter];
    m->fleet = (double)v->fleet[counter];
    m->origins = (uint32_t)v->origins;
}

/* Events of every kind (requests, impressions, clicks): what a shared
 * address's devices are weighed against. */
static void measure_events(struct node_measure *m, const struct crdt_view *v)
{
    static const int kinds[] = {CNT_REQUESTS, CNT_IMPRESSIONS, CNT_CLICKS};
    m->local = m->fleet = 0;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        m->local += (double)v->local[kinds[i]];
        m->fleet += (double)v->fleet[kinds[i]];
    }
    m->origins = (uint32_t)v->origins;
}

/* The local value of a distinct count is the items of this node's own
 * events (crdt_view.local_distinct), exact while the sets are exact. Past
 * that (a HyperLogLog) it is known only when this node is the only
 * contributor, and reported as -1 ("not kept") otherwise. */
static void measure_distinct(struct node_measure *m, const struct crdt_view *v, int d)
{
    uint64_t mine = 0;
    for (int c = 0; c < CRDT_COUNTERS; c++)
        mine += v->local[c];
    m->fleet = (double)v->distinct[d];
    m->origins = (uint32_t)v->origins;
    if (v->local_distinct[d] >= 0)
        m->local = (double)v->local_distinct[d];
    else
        m->local = v->origins <= 1 && mine > 0 ? m->fleet : -1.0;
}

static void share(struct node_measure *m, const struct crdt_view *v)
{
    m->local = v->local[CNT_REQUESTS]
                   ? (double)v->local[CNT_DATACENTER] / (double)v->local[CNT_REQUESTS]
                   : 0.0;
    m->fleet = v->fleet[CNT_REQUESTS]
                   ? (double)v->fleet[CNT_DATACENTER] / (double)v->fleet[CNT_REQUESTS]
                   : 0.0;
    if (m->local > 1.0)
        m->local = 1.0;
    if (m->fleet > 1.0)
        m->fleet = 1.0;
    m->origins = (uint32_t)v->origins;
}

/* Fills the SIVT part of the signals of one entity from its evidence. For
 * prefixes and publishers it must read only what agg_view caches
 * (requests, data-center events, origins). */
static void sivt_of(struct node_signals *s, enum crdt_kind kind, const struct crdt_view *v)
{
    switch (kind) {
    case CRDT_KIND_IP:
        measure(&s->ip_requests, v, CNT_REQUESTS);
        measure_distinct(&s->ip_distinct_ua, v, DIST_UA);
        measure_distinct(&s->ip_distinct_device, v, DIST_DEVICE);
        measure_events(&s->ip_events, v);
        break;
    case CRDT_KIND_PREFIX: measure(&s->prefix_requests, v, CNT_REQUESTS); break;
    case CRDT_KIND_DEVICE: measure_distinct(&s->device_distinct_ip, v, DIST_IP); break;
    case CRDT_KIND_PUB:
        measure(&s->pub_requests, v, CNT_REQUESTS);
        share(&s->pub_datacenter_share, v);
        break;
    default: break;
    }
}

static void decided(struct node_score *out, const struct crdt_decision *d)
{
    memset(out, 0, sizeof(*out));
    out->decided = true;
    out->n_reasons = 1;
    struct node_reason *r = &out->reasons[0];
    if (d->action == CRDT_ACT_BAN) {
        out->score = 100;
        out->verdict = NODE_VERDICT_BOT;
        snprintf(r->signal, sizeof(r->signal), "manual_ban");
        r->points = 100;
    } else {
        out->score = 0;
        out->verdict = NODE_VERDICT_OK;
        snprintf(r->signal, sizeof(r->signal), "manual_allow");
    }
    snprintf(r->detail, sizeof(r->detail), "%s %.40s: %.40s",
             node_entity_kind_name((enum node_entity_kind)d->kind), d->key, d->reason);
}

/* The counters of a publisher or prefix as sivt_of reads them, from the
 * cache when valid. Returns 0 or IVT_ENOENT. */
static int agg_view(struct node *n, struct crdt_view *v, enum crdt_kind kind, uint64_t h,
                    ivt_ms now)
{
    if (!n->agg_cache)
        n->agg_cache = calloc(AGG_CACHE_SIZE, sizeof(*n->agg_cache));
    struct agg_cache_entry *e = agg_slot(n, kind, h);
    if (!e)
        return crdt_store_get_hash(n->store, v, kind, h); /* no memory: uncached */
    if (!agg_valid(n, e, kind, h, now)) {
        int rc = crdt_store_get_hash(n->store, v, kind, h);
        if (rc) {
            e->hash = 0;
            return rc;
        }
        e->hash = h | 1;
        e->kind = (uint8_t)kind;
        e->gen = n->agg_gen;
        e->at = now;
        if (now > n->agg_filled)
            n->agg_filled = now;
        e->origins = (uint32_t)v->origins;
        e->fleet_requests = v->fleet[CNT_REQUESTS];
        e->fleet_datacenter = v->fleet[CNT_DATACENTER];
        e->local_requests = v->local[CNT_REQUESTS];
        e->local_datacenter = v->local[CNT_DATACENTER];
        e->local_all = 0;
        for (int c = 0; c < CRDT_COUNTERS; c++)
            e->local_all += v->local[c];
        return 0;
    }
    memset(v, 0, sizeof(*v));
    v->kind = kind;
    v->hash = h;
    v->origins = e->origins;
    v->fleet[CNT_REQUESTS] = e->fleet_requests;
    v->fleet[CNT_DATACENTER] = e->fleet_datacenter;
    v->local[CNT_REQUESTS] = e->local_requests;
    v->local[CNT_DATACENTER] = e->local_datacenter;
    return 0;
}

int node_score(struct node *n, struct node_score *out, const struct node_event *ev, bool obs,
               ivt_ms now, ivt_ms wall)
{
    struct event_keys k;
    struct node_signals s;
    int prc = prepare(n, &k, &s, ev, wall);
    if (prc)
        return prc;
    if (obs) {
        int rc = observe(n, ev, &k, &s, wall);
        if (rc)
            return rc;
    }
    n->stats.scores++;
    /* The most specific decision wins: an allowed device behind a banned
     * prefix is allowed. */
    static const enum crdt_kind order[CRDT_KINDS] = {CRDT_KIND_IP, CRDT_KIND_DEVICE,
                                                     CRDT_KIND_PREFIX, CRDT_KIND_UA, CRDT_KIND_PUB};
    for (int i = 0; i < CRDT_KINDS; i++) {
        if (!k.has[order[i]])
            continue;
        const struct crdt_decision *d = crdt_lww_get(n->lww, order[i], k.h[order[i]], wall);
        if (d) {
            decided(out, d);
            return 0;
        }
    }
    /* Only the kinds with SIVT signals: each lookup sums the window and
     * estimates distinct unions, the main cost of a score. */
    static const enum crdt_kind sivt_kinds[] = {CRDT_KIND_IP, CRDT_KIND_PREFIX, CRDT_KIND_DEVICE,
                                                CRDT_KIND_PUB};
    for (size_t i = 0; i < sizeof(sivt_kinds) / sizeof(sivt_kinds[0]); i++) {
        enum crdt_kind kind = sivt_kinds[i];
        struct crdt_view v;
        if (!k.has[kind])
            continue;
        if (kind == CRDT_KIND_PREFIX || kind == CRDT_KIND_PUB) {
            if (agg_view(n, &v, kind, k.h[kind], now) == 0)
                sivt_of(&s, kind, &v);
        } else if (crdt_store_get_hash(n->store, &v, kind, k.h[kind]) == 0) {
            sivt_of(&s, kind, &v);
        }
    }
    node_detect(out, &n->th, &s);
    return 0;
}

/* ---- analysts and operators --------------------------------------------- */

/* The score of one entity alone: its GIVT lists and its own SIVT signals. */
static void entity_score(struct node *n, struct node_score *out, const struct crdt_view *v)
{
    struct node_signals s;
    memset(&s, 0, sizeof(s));
    char key[CRDT_KEY_MAX + 1];
    size_t len = v->key_len < CRDT_KEY_MAX ? v->key_len : CRDT_KEY_MAX;
    memcpy(key, v->key, len);
    key[len] = 0;
    if (n->rules) {
        struct node_ip ip;
        if (v->kind == CRDT_KIND_IP && node_ip_parse(&ip, key, len) == 0)
            s.datacenter = node_rules_hosting(n->rules, &ip, &s.datacenter_asn, &s.datacenter_org);
        if (v->kind == CRDT_KIND_PREFIX) {
            char *slash = strchr(key, '/');
            if (slash && node_ip_parse(&ip, key, (size_t)(slash - key)) == 0)
                s.datacenter =
                    node_rules_hosting(n->rules, &ip, &s.datacenter_asn, &s.datacenter_org);
        }
        if (v->kind == CRDT_KIND_UA)
            s.crawler = node_rules_crawler(n->rules, key, len, &s.crawler_pattern);
    }
    sivt_of(&s, v->kind, v);
    node_detect(out, &n->th, &s);
}

static void copy_key(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = 0;
}

/* A metric's name into its report row: a lookup names six of them, and
 * snprintf was most of a lookup's cost (the simulator looks up addresses
 * every simulated second on every node). */
static void copy_name(char *dst, size_t cap, const char *name)
{
    copy_key(dst, cap, name, strlen(name));
}

static void fill_decision(struct node *n, struct node_decision *out, const struct crdt_decision *d)
{
    memset(out, 0, sizeof(*out));
    out->kind = (enum node_entity_kind)d->kind;
    snprintf(out->key, sizeof(out->key), "%s", d->key);
    out->action = (enum node_action)d->action;
    snprintf(out->reason, sizeof(out->reason), "%s", d->reason);
    out->set_at = crdt_hlc_ms(d->hlc);
    out->expires = d->expires;
    struct gossip_member_info m;
    if (gossip_member(n->g, d->origin.id, &m) == 0)
        snprintf(out->origin, sizeof(out->origin), "%s", m.name);
    else
        for (int i = 0; i < 8; i++)
            snprintf(out->origin + 2 * i, 3, "%02x", d->origin.id[i]);
}

/* IP and prefix keys are stored in their canonical text form: "::ffff:1.2.3.4"
 * and "1.2.3.4" are one entity, and a prefix is what prefix_of() makes of
 * any address in it, so an operator's "198.51.100.7", "198.51.100.7/24" and
 * "198.51.100.0/24" all name the /24 that evidence is kept under (other
 * lengths are not kept: refused, not silently never matched). Rewrites *key
 * to buf for these kinds; others pass through. Returns 0, or IVT_EINVAL for
 * a key that does not parse. */
static int canonical_key(enum node_entity_kind kind, const char **key, size_t *len, char *buf,
                         size_t cap)
{
    if (kind != NODE_ENT_IP && kind != NODE_ENT_PREFIX)
        return 0;
    const char *slash = kind == NODE_ENT_PREFIX ? memchr(*key, '/', *len) : NULL;
    size_t addr_len = slash ? (size_t)(slash - *key) : *len;
    struct node_ip ip;
    if (node_ip_parse(&ip, *key, addr_len))
        return IVT_EINVAL;
    if (kind == NODE_ENT_IP) {
        node_ip_format(&ip, buf, cap);
        *len = strlen(buf);
    } else {
        const char *want = ip.family == 4 ? "24" : "48";
        if (slash && (*len - addr_len - 1 != 2 || memcmp(slash + 1, want, 2) != 0))
            return IVT_EINVAL;
        prefix_of(&ip, buf, cap, len);
    }
    *key = buf;
    return 0;
}

int node_lookup(struct node *n, struct node_report *out, enum node_entity_kind kind,
                const char *key, size_t key_len, ivt_ms wall)
{
    if ((unsigned)kind >= NODE_ENT_KINDS || key_len == 0)
        return IVT_EINVAL;
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    char norm[NODE_KEY_MAX];
    if (canonical_key(kind, &key, &key_len, norm, sizeof(norm)))
        return IVT_EINVAL;
    copy_key(out->key, sizeof(out->key), key, key_len);
    uint64_t h = crdt_store_key_hash(n->store, (enum crdt_kind)kind, key, key_len);
    const struct crdt_decision *d = crdt_lww_get(n->lww, (enum crdt_kind)kind, h, wall);
    if (d) {
        out->has_decision = true;
        fill_decision(n, &out->decision, d);
    }
    struct crdt_view v;
    if (crdt_store_get_hash(n->store, &v, (enum crdt_kind)kind, h) == 0) {
        out->known = true;
        out->shared = v.admitted;
        out->first_epoch = v.first_epoch;
        out->last_epoch = v.last_epoch;
        for (int c = 0; c < CRDT_COUNTERS && c < (int)(sizeof(counter_names) / sizeof(char *));
             c++) {
            struct node_metric *m = &out->metrics[out->n_metrics++];
            copy_name(m->name, sizeof(m->name), counter_names[c]);
            m->local = (double)v.local[c];
            m->fleet = (double)v.fleet[c];
        }
        for (int dd = 0; dd < CRDT_DISTINCTS; dd++) {
            if (!v.distinct[dd])
                continue;
            struct node_measure mm;
            measure_distinct(&mm, &v, dd);
            struct node_metric *m = &out->metrics[out->n_metrics++];
            copy_name(m->name, sizeof(m->name), distinct_names[dd]);
            m->local = mm.local;
            m->fleet = mm.fleet;
        }
        struct node_metric *m = &out->metrics[out->n_metrics++];
        copy_name(m->name, sizeof(m->name), "origins");
        m->local = v.local[CNT_REQUESTS] + v.local[CNT_IMPRESSIONS] + v.local[CNT_CLICKS] ? 1 : 0;
        m->fleet = (double)v.origins;
        entity_score(n, &out->score, &v);
    }
    if (d)
        decided(&out->score, d);
    return 0;
}

/* Orders top rows: score, then fleet requests, then kind and key. */
static int top_cmp(const struct node_top_row *a, const struct node_top_row *b)
{
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->requests_fleet != b->requests_fleet)
        return a->requests_fleet > b->requests_fleet ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return strcmp(a->key, b->key);
}

size_t node_top(struct node *n, struct node_top_row *rows, size_t max, int kind, ivt_ms wall)
{
    (void)wall;
    size_t have = 0;
    if (max == 0)
        return 0;
    uint32_t cursor = 0;
    struct crdt_view v;
    while (crdt_store_next(n->store, &cursor, &v)) {
        if (kind >= 0 && (int)v.kind != kind)
            continue;
        struct node_score sc;
        entity_score(n, &sc, &v);
        if (sc.score == 0)
            continue;
        struct node_top_row row;
        memset(&row, 0, sizeof(row));
        row.kind = (enum node_entity_kind)v.kind;
        copy_key(row.key, sizeof(row.key), v.key, v.key_len);
        row.score = sc.score;
        row.verdict = sc.verdict;
        row.class_ = sc.class_;
        row.requests_fleet = (double)v.fleet[CNT_REQUESTS];
        if (sc.n_reasons)
            snprintf(row.top_signal, sizeof(row.top_signal), "%s", sc.reasons[0].signal);
        /* Insertion into a sorted array of at most max rows: max is small
         * (an operator's screen), the scan is the cost. */
        if (have == max && top_cmp(&row, &rows[have - 1]) >= 0)
            continue;
        size_t i = have < max ? have++ : max - 1;
        while (i > 0 && top_cmp(&row, &rows[i - 1]) < 0) {
            rows[i] = rows[i - 1];
            i--;
        }
        rows[i] = row;
    }
    return have;
}

int node_decide(struct node *n, enum node_entity_kind kind, const char *key, size_t key_len,
                enum node_action action, ivt_ms ttl, const char *reason, ivt_ms now, ivt_ms wall)
{
    if ((unsigned)kind >= NODE_ENT_KINDS || key_len == 0 || action < NODE_ACT_BAN ||
        action > NODE_ACT_CLEAR)
        return IVT_EINVAL;
    char norm[NODE_KEY_MAX];
    if (canonical_key(kind, &key, &key_len, norm, sizeof(norm)))
        return IVT_EINVAL;
    if (!reason)
        reason = "";
    uint64_t h = crdt_store_key_hash(n->store, (enum crdt_kind)kind, key, key_len);
    /* Clear any records other merges left dirty, so the flush below carries
     * exactly this decision and always fits one packet. */
    uint8_t scratch[GOSSIP_PACKET_MAX];
    struct ivt_mpw w;
    size_t records = 0;
    ivt_mpw_init_fixed(&w, scratch, sizeof(scratch));
    crdt_lww_flush(n->lww, &w, &records);
    int rc = crdt_lww_set(n->lww, (enum crdt_kind)kind, h, key, key_len, (enum crdt_action)action,
                          reason, strlen(reason), action == NODE_ACT_CLEAR ? 1 : ttl, wall);
    if (rc)
        return rc;
    /* What an operator decided on, the fleet should see the evidence of. */
    if (crdt_store_admitted(n->store, (enum crdt_kind)kind, h) == 0 &&
        crdt_store_admit(n->store, (enum crdt_kind)kind, h) == 0)
        n->stats.admissions[NODE_ADMIT_DECISION]++;
    size_t budget = gossip_app_budget(n->g);
    if (budget > sizeof(n->payload))
        budget = sizeof(n->payload);
    ivt_mpw_init_fixed(&w, n->payload, budget);
    ivt_mpw_array(&w, 2);
    ivt_mpw_uint(&w, PAYLOAD_DECISIONS);
    rc = crdt_lww_flush(n->lww, &w, &records);
    if (rc == 0 && ivt_mpw_error(&w) == 0 && records) {
        keep_for_resend(n, n->payload, w.len, now);
        rc = gossip_publish(n->g, n->payload, w.len, now);
    }
    /* Stored here either way; if the broadcast failed, the resends and
     * push-pull spread it. */
    return rc == IVT_ELIMIT || rc == IVT_ENOSPC ? 0 : rc;
}

size_t node_decisions(struct node *n, struct node_decision *rows, size_t max, ivt_ms wall)
{
    size_t have = 0;
    size_t total = crdt_lww_count(n->lww);
    for (size_t i = 0; i < total && have < max; i++) {
        const struct crdt_decision *d = crdt_lww_at(n->lww, i);
        if (d->action == CRDT_ACT_CLEAR || d->expires <= wall)
            continue;
        fill_decision(n, &rows[have++], d);
    }
    /* Latest expiry first, so the soonest to lapse are at the bottom. */
    for (size_t i = 1; i < have; i++) {
        struct node_decision x = rows[i];
        size_t j = i;
        while (j > 0 && rows[j - 1].expires < x.expires) {
            rows[j] = rows[j - 1];
            j--;
        }
        rows[j] = x;
    }
    return have;
}

/* ---- persistence -------------------------------------------------------- */

/*
 * Snapshot, format 2: [2, <lww message>, <crdt snapshot message> ...],
 * the store in parts (crdt_store_encode_part), so a daemon writes it in
 * paced steps instead of forking a copy of itself: after a fork
 * every first write to a page of the store is a copy, some 150 ms of the
 * loop at 100,000 scores/s. The array header is array32, patched with the
 * count at the end. Format 1, [1, <crdt snapshot message>, <lww message>],
 * is still read (a node restarted across the upgrade).
 */
enum {
    SNAPSHOT_VERSION = 2,
    SNAPSHOT_VERSION_1 = 1,
    SNAPSHOT_HDR = 5,             /* array32: 0xdd and a 4-byte count */
    SNAPSHOT_PARTS_MAX = 1u << 24 /* far past what max_entities allows */
};

int node_snapshot_begin(struct node *n, struct ivt_mpw *out, struct node_snapshot_job *j)
{
    uint8_t hdr[SNAPSHOT_HDR];
    j->hdr = out->len;
    j->parts = 0;
    j->cursor = 0;
    ivt_mpw_raw(out, hdr, (size_t)(ivt_mp_put_array32(hdr, 2) - hdr));
    ivt_mpw_uint(out, SNAPSHOT_VERSION);
    int rc = crdt_lww_encode(n->lww, out);
    return rc ? rc : ivt_mpw_error(out);
}

int node_snapshot_step(struct node *n, struct ivt_mpw *out, struct node_snapshot_job *j, size_t max,
                       size_t bytes)
{
    int more = crdt_store_encode_part(n->store, out, &j->cursor, max, bytes);
    if (more < 0)
        return more;
    if (ivt_mpw_error(out))
        return ivt_mpw_error(out);
    j->parts++;
    ivt_mp_put_array32(out->data + j->hdr, 2 + j->parts);
    return more;
}

int node_snapshot(struct node *n, struct ivt_mpw *out, ivt_ms wall)
{
    (void)wall;
    struct node_snapshot_job j;
    int rc = node_snapshot_begin(n, out, &j);
    while (rc == 0 && (rc = node_snapshot_step(n, out, &j, SIZE_MAX, SIZE_MAX)) == 1)
        ;
    return rc;
}

int node_restore(struct node *n, const uint8_t *p, size_t len, ivt_ms wall)
{
    const uint8_t *end = p + len, *q;
    uint32_t items;
    uint64_t version;
    if (ivt_mp_read_array(&p, end, &items) || items < 3 || ivt_mp_read_uint(&p, end, &version))
        return IVT_EPROTO;
    if (version != SNAPSHOT_VERSION && version != SNAPSHOT_VERSION_1)
        return IVT_EVERSION;
    if (version == SNAPSHOT_VERSION_1) {
        if (items != 3)
            return IVT_EPROTO;
        q = p;
        if (ivt_mp_skip(&q, end))
            return IVT_EPROTO;
        int rc = store_merge(n, p, (size_t)(q - p), 0);
        if (rc)
            return rc;
        return crdt_lww_merge(n->lww, q, (size_t)(end - q), wall, 0);
    }
    if (items - 2 > SNAPSHOT_PARTS_MAX)
        return IVT_EPROTO;
    /* Validated whole before anything is merged: a cut file changes
     * nothing. */
    const uint8_t *start = p;
    q = p;
    for (uint32_t i = 2; i < items + 1; i++)
        if (ivt_mp_skip(&q, end))
            return IVT_EPROTO;
    if (q != end)
        return IVT_EPROTO;
    q = start;
    if (ivt_mp_skip(&q, end))
        return IVT_EPROTO;
    int rc = crdt_lww_merge(n->lww, start, (size_t)(q - start), wall, 0);
    for (uint32_t i = 3; rc == 0 && i <= items; i++) {
        p = q;
        ivt_mp_skip(&q, end); /* validated above */
        rc = store_merge(n, p, (size_t)(q - p), 0);
    }
    return rc;
}

uint64_t node_evidence_fingerprint(struct node *n)
{
    size_t nb = crdt_store_digest_size(n->store);
    uint64_t *d = malloc(nb * sizeof(*d));
    if (!d)
        return 0;
    uint64_t h = 0;
    if (crdt_store_digest(n->store, d, nb) == 0)
        for (size_t i = 0; i < nb; i++)
            h = ivt_mix64(h ^ d[i]);
    free(d);
    return h;
}

uint64_t node_events_observed(const struct node *n)
{
    return n->stats.events_observed;
}

void node_get_stats(const struct node *n, struct node_stats *out)
{
    *out = n->stats;
    struct crdt_store_stats cs;
    crdt_store_stats(n->store, &cs);
    out->entities = cs.entities;
    out->evidence_bytes = cs.bytes;
    out->entities_evicted = cs.evictions;
    out->epoch = crdt_store_epoch(n->store);
    out->pending = crdt_store_pending(n->store);
    out->digest_stale = crdt_store_digest_stale(n->store);
    out->merge_queued_bytes = n->merge_bytes;
    out->entities_admitted = cs.admitted;
}
