/*
 * crdt/store.h: the entity map, the replicated evidence of one node.
 *
 * An entity is (kind, keyed 64-bit hash of its key). It keeps a display key
 * (the original key truncated to CRDT_KEY_MAX bytes) and, per epoch of the
 * window, its evidence:
 *
 *   counters   per epoch, sparse slots origin -> count[CRDT_COUNTERS]; only
 *              the owner raises its slot; join is max per slot. When more
 *              than counter_slots_max origins wrote one epoch, that epoch
 *              promotes to one HyperLogLog per metric over event ids
 *              (origin, entity, epoch, metric, i), where a slot (o, c) is
 *              exactly the ids i = 1..c.
 *   distincts  per bucket of distinct_bucket_epochs epochs, CRDT_DISTINCTS
 *              sets of keyed item hashes, plus the set of contributing
 *              origins; exact and sorted up to distinct_exact_max items,
 *              then a HyperLogLog. Join is union / register max.
 *
 * Memory is bounded by max_entities and, per entity, by the window and the
 * promotion bounds. When a new entity finds the map full, the store evicts
 * the lowest 1/16 of max_entities in the order (fleet evidence ascending,
 * then kind, then hash), where fleet evidence is the sum of the counter
 * window sums plus the distinct estimates. The order is a function of the
 * replicated state alone, so replicas holding equal states evict the same
 * entities.
 *
 * Admission (design.md, "What is shared"): every record is kept and
 * answers queries, but only admitted records are shared: flushed as
 * deltas, counted in digests and sent in repairs. A record is admitted
 * when it is created if its kind is in admit_kinds (by default every kind:
 * everything is shared), when its owner calls crdt_store_admit (a local
 * signal), and whenever a delta or repair names it (a peer sends only what
 * it admitted, so what is admitted anywhere is admitted wherever it
 * arrives, and every holder's slots join it). Admission lasts as long as
 * the record. A snapshot restores evidence, not admission. Digests cover
 * admitted records only, so two replicas holding equal shared evidence
 * have equal digests whatever local-only records each also keeps.
 *
 * Everything is pure: no clock, no I/O, no global. Time comes in as epoch
 * numbers (crdt_store_epoch_of) and through crdt_store_tick. A store is not
 * thread-safe; one owner drives it.
 *
 * Every function that can fail returns 0 on success, or one of the negative
 * ivt_err codes (base/err.h) named beside it.
 */
#ifndef IVT_CRDT_STORE_H
#define IVT_CRDT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "crdt/crdt.h"

struct ivt_mpw;
struct crdt_store;

/* ---- configuration ---------------------------------------------------- */

/*
 * Where the store's big memory comes from: the entity slab, the table and
 * the chunks (4 KiB doubling to 2 MiB) its HLL registers, exact sets and
 * display keys are carved from. The store never calls the OS itself; the
 * daemon passes an allocator that maps 2 MiB-aligned regions advised for
 * transparent huge pages (node/hugemem.h): with a million entities an
 * update is its cache misses, and on 4 KiB pages each also costs a page
 * walk (the event bench runs a quarter faster on huge pages). map returns
 * size bytes, zeroed, aligned to at least 64 bytes, or NULL; unmap gets
 * back the same pointer and size. Memory stays bounded by max_entities and
 * the per-entity bounds: the slab is mapped once (its pages touched as
 * entities arrive), the table starts at 32 KiB and doubles as the store
 * fills, up to 16 bytes per max_entities, and pools keep at most the
 * high-water mark of their live blocks.
 */
struct crdt_alloc {
    void *(*map)(void *ctx, size_t size);
    void (*unmap)(void *ctx, void *p, size_t size);
    void *ctx;
};

struct crdt_config {
    struct crdt_origin origin; /* this node (id + generation) */
    uint8_t hash_key[16];      /* the cluster secret for keyed hashes */
    ivt_ms epoch_ms;           /* default 60000; 1000 .. 86400000 */
    uint32_t window_epochs;    /* default 60; 1 .. 10080 */
    uint32_t max_entities;     /* default 1,000,000; 16 .. 2^28 */
    /* origins per (entity, epoch) kept as exact slots before the epoch's
     * counters promote to HyperLogLog; default 8, 1 .. 64 */
    uint32_t counter_slots_max;
    /* items per distinct set kept exact before it promotes; default 16,
     * 1 .. 256 */
    uint32_t distinct_exact_max;
    uint8_t counter_hll_p;           /* default 10 (1 KiB, 3.3%); 4 .. 16 */
    uint8_t distinct_hll_p;          /* default 12 (4 KiB, 1.6%); 4 .. 16 */
    uint32_t distinct_bucket_epochs; /* default 10; 1 .. window_epochs */
    uint8_t digest_bits;             /* anti-entropy buckets 2^bits; default 10, 0 .. 16 */
    uint32_t max_origins;            /* interned origins; default 4096, 2 .. 65536 */
    /* Whether a merged cell that rose here is queued for the next flush
     * (forwarded, the join decomposition filter). Default true. An owner
     * whose transport already re-gossips every delta it receives (the
     * node: gossip/ spreads payloads infection-style) sets it false, or
     * each of N replicas would publish every record again. */
    bool forward_merged;
    /* bit k: records of kind k are admitted (shared) when created; default
     * every kind. Other records stay local until crdt_store_admit or a
     * peer's delta or repair admits them. */
    uint8_t admit_kinds;
    /* Map the entity table at its full size (twice max_entities, 16 MiB
     * per million) at once, instead of at 4,096 entries doubling as the
     * store fills. Default false: each doubling rehashes the whole table
     * in one call, which a daemon's event loop should not take
     * (crdt_store_growth_1m: the slowest update of a fill to a million
     * entities, growing against mapped whole), but a simulator running
     * thousands of stores of a few thousand entities each would fault in
     * every page of a full-size one. A full-size table is also written
     * once at creation: hashing spreads the first few thousand entities
     * over all of its pages, and each page's first write (a 2 MiB huge
     * page cleared, 0.3-1.2 ms on the test VM) otherwise landed in the
     * first requests a daemon answered. */
    bool table_full;
    struct crdt_alloc alloc; /* default {NULL}: calloc and free */
};

void crdt_config_defaults(struct crdt_config *cfg);

/*
 * Creates a store whose current epoch is crdt_store_epoch_of(wall). Returns
 * 0, or IVT_EINVAL (a setting out of range), IVT_ENOMEM.
 */
int crdt_store_new(struct crdt_store **out, const struct crdt_config *cfg, ivt_ms wall);
void crdt_store_delete(struct crdt_store *s);

/* floor(wall / epoch_ms), the epoch an event at wall belongs to. */
uint32_t crdt_store_epoch_of(const struct crdt_store *s, ivt_ms wall);
/* The current epoch (the latest crdt_store_tick saw). */
uint32_t crdt_store_epoch(const struct crdt_store *s);

/*
 * Moves the current epoch to epoch_of(wall) if that is later, and drops
 * every counter epoch older than the window (< current - window_epochs + 1)
 * and every distinct bucket whose last epoch is older. Entities left with
 * no evidence are removed. Deterministic: it depends on the epoch number
 * only, so every replica drops the same cells. Visits only the entities
 * that lose evidence (one walk when most do). Returns how many entities it
 * removed.
 */
size_t crdt_store_tick(struct crdt_store *s, ivt_ms wall);

/*
 * crdt_store_tick in bounded pieces, for an owner whose event loop must not
 * stall: a roll in which most entities lose evidence visits every record
 * (about 100 ms at a million). crdt_store_tick_begin moves the current
 * epoch and starts the roll without visiting anything; it returns true
 * when there is a roll to do (then call crdt_store_tick_step until it
 * returns false). A roll still pending from an earlier begin is finished
 * first, its removals added to *removed. crdt_store_tick_step visits at
 * most budget records and returns true while some remain; when it
 * finishes, it adds the roll's removed entities to *removed.
 *
 * When the roll is done the store is exactly what crdt_store_tick would
 * have left, and updates and merges applied between steps give the state
 * they would give applied after it (they never touch epochs below the new
 * floor), with one difference: an entity the roll would have removed that
 * an update or merge reaches first is kept, not removed and created again,
 * so it is not counted in *removed and keeps its display key. Until the
 * roll is done, records not yet visited still show their expired evidence
 * to queries, iteration, encodings and eviction ranking.
 */
bool crdt_store_tick_begin(struct crdt_store *s, ivt_ms wall, size_t *removed);
bool crdt_store_tick_step(struct crdt_store *s, size_t budget, size_t *removed);
/* True between a crdt_store_tick_begin that started a roll and the step
 * that finished it. */
bool crdt_store_tick_pending(const struct crdt_store *s);

/* ---- hashing ---------------------------------------------------------- */

/* The entity hash of (kind, key): keyed SipHash-2-4 under a per-kind key
 * derived from the cluster secret. Also a good item hash for distinct
 * metrics (distinct IPs of a device: the IP entity's hash). */
uint64_t crdt_store_key_hash(const struct crdt_store *s, enum crdt_kind kind, const void *key,
                             size_t len);
/* A keyed item hash for things that are not entities. */
uint64_t crdt_store_item_hash(const struct crdt_store *s, const void *data, size_t len);

/* ---- the hot path ----------------------------------------------------- */

/* One entity's share of an event. */
struct crdt_update {
    enum crdt_kind kind;
    const void *key; /* the full key; its first CRDT_KEY_MAX bytes are kept */
    size_t key_len;
    uint64_t hash;                 /* crdt_store_key_hash(kind, key), or 0: computed */
    uint32_t add[CRDT_COUNTERS];   /* increments (0 = untouched) */
    uint64_t item[CRDT_DISTINCTS]; /* item hashes to add ... */
    uint8_t item_mask;             /* ... where bit d is set */
};

/*
 * Applies n updates in epoch (this origin's own slots). The entities are
 * found or created (evicting as documented when max_entities is reached).
 * Returns 0, or IVT_ESTALE (epoch older than the window or later than
 * current + 1: nothing applied), IVT_EINVAL (bad kind or empty key in some
 * update; the others are applied), IVT_ELIMIT (no room even after
 * eviction, cannot happen with max_entities >= 16).
 *
 * Updates are applied in order, as n calls of one would; their cache
 * misses overlap, so pass an event's updates in one call, and many events
 * to crdt_store_update_batch.
 */
int crdt_store_update(struct crdt_store *s, uint32_t epoch, const struct crdt_update *u, size_t n);

/* One event: its updates, all in one epoch. */
struct crdt_event {
    uint32_t epoch;
    const struct crdt_update *u;
    size_t n;
};

/*
 * Applies n events in order, exactly as n calls crdt_store_update(s,
 * ev[i].epoch, ev[i].u, ev[i].n) would: the same store afterwards, and
 * rc[i] (when rc is not NULL) what the i-th call would have returned. The
 * updates of all the events go through the prefetch groups of
 * crdt_store_update as one stream (a group overlaps the cache misses of
 * about three events): with a million entities, about 6% faster than a
 * call per event on the project's VM (docs/benchmarks.md).
 *
 * done, when not NULL, is called after each event is applied, with ctx,
 * its index and its result, before the next one is applied: an owner that
 * reacts to an event's effect (reads a record, crdt_store_admit) does it
 * there, and sees the store as the per-event calls would have left it.
 * done must not tick, merge into or delete the store.
 *
 * Returns 0 when every event returned 0, else the first non-zero result.
 */
int crdt_store_update_batch(struct crdt_store *s, int *rc, const struct crdt_event *ev, size_t n,
                            void (*done)(void *ctx, size_t i, int rc), void *ctx);

/* ---- queries ---------------------------------------------------------- */

/*
 * What one entity shows over the window. Counter values are exact while
 * every epoch is exact, HyperLogLog estimates (rounded) otherwise. The
 * distinct values are estimates of the union over the window's buckets
 * (exact while small). Local distinct counts are not kept: the fleet-wide
 * union is what detection needs, and a second set per entity would double
 * the memory.
 */
struct crdt_view {
    enum crdt_kind kind;
    uint64_t hash;
    const char *key; /* display key, valid until the next mutation */
    size_t key_len;
    uint64_t fleet[CRDT_COUNTERS]; /* fleet-wide window sums */
    uint64_t local[CRDT_COUNTERS]; /* this origin's own part, exact */
    uint64_t distinct[CRDT_DISTINCTS];
    /* The items of this origin's own events among distinct[d]: exact while
     * the window's sets are exact (at most distinct_exact_max items, and
     * 16), -1 once one is promoted to a HyperLogLog. */
    int64_t local_distinct[CRDT_DISTINCTS];
    uint64_t origins;     /* origins that contributed in the window */
    uint32_t first_epoch; /* span of counter evidence in the window */
    uint32_t last_epoch;  /* (both 0 when only distinct evidence) */
    bool approximate;     /* some value comes from a HyperLogLog */
    bool admitted;        /* shared with the fleet; false: kept here only */
};

/* Looks up (kind, key). Returns 0, IVT_ENOENT (no evidence), IVT_EINVAL. */
int crdt_store_get(struct crdt_store *s, struct crdt_view *out, enum crdt_kind kind,
                   const void *key, size_t len);
/* The same by entity hash. Returns 0 or IVT_ENOENT. */
int crdt_store_get_hash(struct crdt_store *s, struct crdt_view *out, enum crdt_kind kind,
                        uint64_t hash);

/*
 * Admits (kind, hash): from now on it is flushed, digested and repaired,
 * and, when it holds evidence of this origin, its next flush carries
 * everything it holds. Admitting an admitted record does nothing. Returns
 * 0 or IVT_ENOENT (no such record).
 */
int crdt_store_admit(struct crdt_store *s, enum crdt_kind kind, uint64_t hash);
/* Returns 1 (admitted), 0 (local only) or IVT_ENOENT (no such record). */
int crdt_store_admitted(const struct crdt_store *s, enum crdt_kind kind, uint64_t hash);

/*
 * A hint, no effect on state or results: starts loading the records of n
 * entities (kinds[i], hashes[i]) so that the crdt_store_get_hash calls
 * that follow find them in cache. A score that reads five entities calls
 * this first: their misses then overlap instead of following each other.
 */
void crdt_store_prefetch(const struct crdt_store *s, const enum crdt_kind *kinds,
                         const uint64_t *hashes, size_t n);

/*
 * Iterates entities in no particular order: start with *cursor = 0, call
 * until it returns false. The store must not be mutated during iteration.
 */
bool crdt_store_next(struct crdt_store *s, uint32_t *cursor, struct crdt_view *out);

/* ---- replication ------------------------------------------------------ */

/*
 * Wire format (one message; deltas, repair batches and snapshots alike):
 *
 *   [ 2,                        format version (1 is read without
 *                               its promoted epochs: crdt/internal.h)
 *     type,                     0 delta, 1 repair, 2 snapshot
 *     [epoch_ms, window, counter_slots_max, distinct_exact_max,
 *      counter_hll_p, distinct_hll_p, distinct_bucket_epochs],
 *     [origin(bin 20)...],      the origins the cells name, by index
 *     [entity...] ]
 *
 *   entity = [ kind, hash, key(bin <= 127; empty in a delta: unchanged),
 *              [[epoch, origin#, c0 .. c5] ...],   slots, by (epoch, origin)
 *              [[epoch, hll0 .. hll5] ...],        promoted epochs, by epoch
 *              [[bucket, set0, set1, set2, origins] ...] ]  by bucket
 *   set    = [hash ...] (exact, strictly increasing) | bin (crdt/hll.h)
 *
 * Values are absolute (slot counts, sets, registers), never increments, so a
 * message merged twice, late or out of order changes nothing more.
 */

/* What a merge did. */
struct crdt_merge_stats {
    uint32_t entities;     /* entity records read */
    uint32_t changed;      /* entities whose state rose */
    uint32_t created;      /* entities that were new here */
    uint32_t expired;      /* cells and buckets ignored: older than the window */
    uint32_t future;       /* cells and buckets rejected: epoch > current + 1 */
    uint32_t origins_full; /* cells dropped: the origin table was full */
    uint32_t old_ids;      /* promoted epochs of a format 1 message, not
                            * joined: their event ids were numbered
                            * otherwise (crdt/internal.h) */
};

/*
 * Joins a message (any type) into the store. Each entity record is checked
 * whole before it is applied, so a malformed message may leave the records
 * before the bad one applied (each is a valid join on its own). Returns 0,
 * or IVT_EPROTO (malformed: bad type, order, length or count),
 * IVT_EVERSION (another format version), IVT_EINVAL (a peer with other
 * lattice parameters), IVT_ETOOBIG (a count over its configured bound).
 * st may be NULL.
 */
int crdt_store_merge(struct crdt_store *s, const uint8_t *data, size_t len,
                     struct crdt_merge_stats *st);

/*
 * crdt_store_merge, also calling seen(ctx, kind, hash) for each entity
 * record as it is read, in message order, before it is joined. When it
 * returns 0 every record of the message was seen: a caller that keeps
 * something per entity learns what the message named without reading it
 * again.
 */
int crdt_store_merge_seen(struct crdt_store *s, const uint8_t *data, size_t len,
                          struct crdt_merge_stats *st,
                          void (*seen)(void *ctx, enum crdt_kind kind, uint64_t hash), void *ctx);

/* One message of a batch for crdt_store_merge_many: data and len in, rc
 * and st out. */
struct crdt_merge_msg {
    const uint8_t *data;
    size_t len;
    int rc;                     /* what crdt_store_merge_seen of it alone returns */
    struct crdt_merge_stats st; /* ... and what it did */
};

/*
 * crdt_store_merge_seen of n messages, with the result of merging them one
 * after another in order: each message's rc and st are what a merge of it
 * alone would give, so one malformed message stops at its bad record and
 * the others merge whole; seen is called for the records of all of them,
 * in order. Their records are checked and joined in groups that span
 * messages, so the cache misses of different messages' records overlap: a
 * host that receives several deltas in one datagram merges them here.
 * Returns the first message's non-zero rc, or 0.
 */
int crdt_store_merge_many(struct crdt_store *s, struct crdt_merge_msg *m, size_t n,
                          void (*seen)(void *ctx, enum crdt_kind kind, uint64_t hash), void *ctx);

/*
 * Writes a delta message of the admitted entities changed since the previous flush,
 * each with only its cells, promoted epochs and buckets changed since then,
 * as absolute values, within budget bytes; inside a bucket only the sets
 * that rose, and the display key only until a delta of ours carried it
 * (empty: unchanged). With forward_merged off, only this store's own part:
 * its slots, its count in a promoted epoch as a slot (up to 512 events),
 * and the items its own updates added to each set. Entities that do not fit stay
 * queued for the next flush (first changed, first sent). *n_out (may be NULL)
 * gets how many entity records were written; 0 means nothing was pending
 * (and nothing is written). Returns 0, or IVT_ENOSPC (budget below one
 * entity record; the store is unchanged), the writer's error.
 */
int crdt_store_flush(struct crdt_store *s, struct ivt_mpw *w, size_t budget, size_t *n_out);

/*
 * Takes the first entity off the delta queue without sending it, as if a
 * flush had carried it: for a record larger than any delta can be (a
 * promoted distinct set is kilobytes, a gossip payload about one), which
 * would otherwise hold every entity behind it. Its changes reach the
 * other replicas by anti-entropy (digest and repair) instead. Returns
 * true if an entity was dropped, false if the queue was empty.
 */
bool crdt_store_flush_drop(struct crdt_store *s);

/* Entities waiting for the next flush. */
size_t crdt_store_pending(const struct crdt_store *s);

/* Anti-entropy buckets: 2^digest_bits. */
size_t crdt_store_digest_size(const struct crdt_store *s);

/*
 * out[b] (n = crdt_store_digest_size) is a 64-bit digest of the canonical
 * encoding of every admitted entity whose hash falls in bucket b (its top
 * digest_bits bits), 0 for a bucket with none. Equal shared states give
 * equal digests. Costs one encoding per entity changed since the last digest
 * (see crdt_store_digest_step), not a walk of the store. Returns 0 or
 * IVT_EINVAL (wrong n).
 */
int crdt_store_digest(struct crdt_store *s, uint64_t *out, size_t n);

/*
 * The same, encoding at most max stale shared records (the most recently
 * changed first); a bucket that still holds a stale one gets a value no
 * peer's can match, so an exchange treats it as differing and repairs it
 * whole. An owner answering a peer on its event loop bounds the work this
 * way: after a burst of traffic a full digest encodes every record changed
 * since the last one (crdt_store_digest_1m_stale_full_cpu against
 * crdt_store_digest_1m_stale_answer_cpu). Returns 0 or IVT_EINVAL (wrong n).
 */
int crdt_store_digest_max(struct crdt_store *s, uint64_t *out, size_t n, size_t max);

/*
 * Digests are kept per bucket and a record's is recomputed (one encoding)
 * only when it changed, at the next crdt_store_digest. This encodes up to
 * max of the changed records ahead of it, so an owner that calls it on a
 * timer spreads that work instead of paying it all in one digest. Returns
 * how many it encoded (fewer than max: none are left, or memory ran out).
 */
size_t crdt_store_digest_step(struct crdt_store *s, size_t max);

/* Records whose digest is stale: what the next crdt_store_digest would
 * encode. */
size_t crdt_store_digest_stale(const struct crdt_store *s);

/*
 * Digest message:  [1, digest_bits, bin(8 * 2^bits, little-endian u64s)]
 * Encode writes ours (crdt_store_digest_max's, max as there: SIZE_MAX for
 * the exact digest); decode reads a peer's into out (n entries). Decode
 * returns 0, or IVT_EPROTO, IVT_EVERSION, IVT_EINVAL (other digest_bits).
 */
int crdt_store_digest_encode(struct crdt_store *s, struct ivt_mpw *w, size_t max);
int crdt_store_digest_decode(const struct crdt_store *s, uint64_t *out, size_t n,
                             const uint8_t *data, size_t len);

/*
 * Writes a repair message: the full state of the admitted entities in the buckets
 * whose digest differs from peer (n entries), starting at bucket *resume
 * and stopping before budget bytes would be passed; *resume is set to the
 * first bucket not sent (n when done). Whole buckets only, except that a
 * single bucket larger than the budget is cut at the budget (the rest is
 * left for the next digest round). Reads only the entities of the buckets
 * it sends. Our side is crdt_store_digest_max(digest_max): SIZE_MAX for the
 * exact digest; an owner that has just taken a bounded one for this
 * exchange passes 0, so both see the same buckets as differing. *n_out
 * gets the entity count. Returns 0, IVT_EINVAL (wrong n), the writer's
 * error.
 */
int crdt_store_repair(struct crdt_store *s, struct ivt_mpw *w, const uint64_t *peer, size_t n,
                      size_t *resume, size_t budget, size_t digest_max, size_t *n_out);

/*
 * A repair message that is one part of a longer answer: as
 * crdt_store_repair against the digest as it stands (digest_max 0), but
 * it also ends after the first whole bucket that takes it to soft bytes
 * or more. An owner that writes a megabyte of repair over several turns
 * of its event loop asks for parts of soft bytes from *resume on, with
 * budget the bytes it has left, so a bucket larger than a part is still
 * sent whole when it fits the budget. Returns as crdt_store_repair.
 */
int crdt_store_repair_part(struct crdt_store *s, struct ivt_mpw *w, const uint64_t *peer, size_t n,
                           size_t *resume, size_t soft, size_t budget, size_t *n_out);

/* The whole store, local-only records included, as one canonical snapshot
 * message: equal states give equal bytes. Returns 0, IVT_ENOMEM, the writer's error. */
int crdt_store_encode(struct crdt_store *s, struct ivt_mpw *w);

/*
 * Part of the store as a snapshot message of its own: the live records
 * from slab position *cursor on (0 to begin), in slab order (not
 * canonical: merging is order-free), at most max of them, and none after
 * the one that takes their encoding to bytes or more (a record with
 * promoted sets encodes tens of kilobytes: a part bounded by records
 * alone is not bounded in time). *cursor moves past
 * them; returns 1 while records remain beyond it, 0 when this part ended
 * the walk, or IVT_ENOMEM, the writer's error. The messages of one walk,
 * merged, give the store as it was when each part was written: an owner
 * that saves its state a part at a time on its event loop takes no copy of
 * the whole and stops nothing meanwhile (records changed between parts
 * are saved as they were at their part, which a restore joins as any
 * older state).
 */
int crdt_store_encode_part(struct crdt_store *s, struct ivt_mpw *w, uint32_t *cursor, size_t max,
                           size_t bytes);

/* ---- numbers ---------------------------------------------------------- */

struct crdt_store_stats {
    uint64_t entities;
    uint64_t bytes;             /* approximate heap bytes held */
    uint64_t evictions;         /* entities evicted for room */
    uint64_t expired;           /* entities removed by window expiry */
    uint64_t promoted_counters; /* live promoted (entity, epoch) cells */
    uint64_t promoted_sets;     /* live promoted distinct sets */
    uint64_t origins;           /* interned origins */
    uint64_t version;           /* mutations so far */
    uint64_t admitted;          /* entities shared (the rest are local only) */
};

void crdt_store_stats(const struct crdt_store *s, struct crdt_store_stats *out);

/*
 * Where the next new records will be written: the record slab from the
 * first one never used, at most `ahead` bytes of it (less near its end; 0
 * when it is full). A daemon faults these pages in off its event loop
 * (node/daemon.c), so that a filling store's first writes to them (2 MiB
 * huge pages cleared, 0.3-1.2 ms each on the test VM) do not land in its
 * requests. Only the mapping is touched there, never the bytes: the store
 * writes them as it always does.
 */
void crdt_store_slab_ahead(const struct crdt_store *s, void **at, size_t *len, size_t ahead);

#endif
