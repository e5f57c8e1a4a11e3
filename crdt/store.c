/*
 * crdt/store.c: the entity map and its replication.
 *
 * What it is. A hash map from entity (kind, keyed hash) to a record that
 * holds, for the epochs of the window, G-Counter slots (origin -> count per
 * metric), promoted epochs (one HyperLogLog per metric over event ids) and
 * distinct buckets (sets of item hashes, exact then HyperLogLog). Each part
 * is a join-semilattice and the record is their product, so the map is one
 * too: merge is per-key join, and a key absent on one side is the bottom.
 *
 * Parts, in file order: keys and origins (interning, so a slot names its
 * origin in 4 bytes); the entity table (open addressing, backward-shift
 * deletion, over a slab of records that hold their first slot and bucket);
 * eviction; distinct sets; counters and promotion; the local update path
 * (grouped, prefetching: with a million entities its cost is cache
 * misses); expiry (epoch rolls, resumable in bounded steps); queries; the
 * codec (encode, strict two-pass decode whose check keeps what the join
 * reads: slots and sets are decoded once; merge);
 * flush, digests and repair; snapshots.
 *
 * Departures from the papers, and why:
 *  - Counter promotion (design.md): past counter_slots_max origins in one
 *    (entity, epoch), the slots become HLLs over event ids. The i-th event
 *    of origin o is id i of the run seeded siphash(o, entity, epoch,
 *    metric) (crdt_hll_add_run: distinct ids for distinct i), so a slot
 *    (o, c) inserts exactly ids 1..c and max-merge of slots is union of id
 *    sets. Promotion is a function of the joined slot set, so the result is
 *    a lattice whatever order merges come in. Joining a slot costs at most
 *    c HLL adds and about 10 x 2^p for a long run, whatever count a peer
 *    sends (a run's values come from its ids' trailing zeros, so it is
 *    added from its highest values down and stops when nothing left can
 *    raise a register); afterwards each own event is one add. The origin's
 *    own count is kept beside the HLL (local, not replicated) to number the
 *    next ids and to answer the exact local value.
 *  - Distinct sets live in buckets of distinct_bucket_epochs epochs, not per
 *    epoch: a window union then reads a handful of buckets, and a bucket
 *    expires when its last epoch leaves the window, so distinct values
 *    cover between window and window + bucket epochs.
 *  - The origins that contributed are kept as one more distinct set per
 *    bucket (their keyed hashes), so the count survives promotion.
 *  - A promoted distinct set is held sparse in memory (its non-zero
 *    registers as sorted entries, as HLL++'s sparse form but with the full
 *    precision's registers) until it has dset_sparse_max of them, then as
 *    2^p bytes: most sets promote with a few dozen items, and a 4 KiB array
 *    each was most of the memory and, zeroed, a third of an event's time.
 *    The form is local: both encode to crdt_hll_encode's bytes.
 *  - Memory comes from the owner's allocator (crdt/arena.c): the slab and
 *    the table are regions of it, everything sized by items comes from
 *    block pools over its chunks, so the daemon can put the store on huge
 *    pages without the store calling the OS.
 *  - Window sums and distinct estimates are cached per entity (derived, not
 *    replicated): a score reads a record in well under a microsecond.
 *  - Deltas (Almeida et al.) are not kept as separate states: every cell
 *    carries the store version of its last rise, and a flush writes the
 *    cells risen since the entity's previous flush, as absolute values.
 *    Entities queue for flush in first-changed order; a budget cut leaves
 *    the rest queued. Merged cells that rose here are forwarded by the next
 *    flush, those that did not are not (the join decomposition filter of
 *    Enes et al.). An owner whose transport spreads every delta itself
 *    turns forwarding off (forward_merged); then a delta is only our own
 *    part, the delta-mutators' output proper: our slots, our count in a
 *    promoted epoch as a slot (not six sketches), and the items our
 *    events added to sets, from a bounded journal (not whole sets, which
 *    for a publisher are kilobytes of HyperLogLog).
 *  - Expiry is local and from the epoch number only (never gossiped).
 *  - Nothing a daemon runs on a timer walks the map (a million records
 *    are tens of milliseconds of its event loop): stats are running
 *    totals each record's changes keep; digests are sums per bucket from
 *    which a changed record's digest is taken out, re-encoded at the next
 *    digest only; every record is on its digest bucket's list (repair) and
 *    on the expiry list of the floor at which it first loses evidence (the
 *    epoch roll). Three intrusive lists through the slab, 40 B a record.
 *  - Admission (design.md, "What is shared"): a record carries a local
 *    admitted flag. Flush, digests and repair see admitted records only
 *    (a local-only record is never queued, digests as 0 without being
 *    encoded and is skipped by repair); a delta or repair admits what it
 *    names, since a peer only sends what it admitted. The flag is not on
 *    the wire: a received record is admitted by the fact of arriving.
 *  - Eviction (memory bound) is not a lattice operation: a peer may send an
 *    evicted entity back. It only runs when the map is full, and picks
 *    victims by a rule over replicated state, so equal states evict alike.
 */
#include "crdt/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "crdt/hll.h"
#include "crdt/internal.h"

enum {
    NONE = UINT32_MAX,
    /* Distinct sets per bucket: the public ones plus contributing origins. */
    NSETS = CRDT_DISTINCTS + 1,
    ORIGIN_SET = CRDT_DISTINCTS,
    SELF = 0, /* our own origin's index, pinned */
    /* Origin table slots a new store starts with: the table doubles as
     * origins arrive, up to max_origins (a store sized for max_origins at
     * once zeroed ~290 KiB, and a simulator holds one per node). */
    ORIGINS_INITIAL = 64,
    /* The origin memo (origin_memo_find): sets of 4 entries, twice as
     * many entries as origin slots. Direct-mapped at one entry a slot, a
     * store of 100 peers found half its origins there (two origins on one
     * entry evict each other as they alternate); 4 ways at half load
     * overflow a set for about 2 % of them. */
    OMEMO_WAYS = 4,
    OMEMO_SPREAD = 2,
    /* An entry is index + 1 in its low bits (at most max_origins, 65536:
     * 17 bits) and a tag of the mix in the others. */
    OMEMO_IDX_BITS = 17,
    OMEMO_IDX_MASK = (1 << OMEMO_IDX_BITS) - 1,
    /* Evict 1/EVICT_FRACTION of max_entities at once: a selection pass
     * over the whole map is O(n), so it must buy room for many inserts. */
    EVICT_FRACTION = 16,
    /* Upper bound of a message's header bytes (version, type, params and
     * the two array headers), for budget checks before it is written. */
    MSG_HEADER_MAX = 64,
    /* Bytes one origin takes in a message's origin table (bin8 + 20). */
    MSG_ORIGIN_BYTES = 2 + CRDT_ORIGIN_BYTES,
    MSG_DELTA = 0,
    MSG_REPAIR = 1,
    MSG_SNAPSHOT = 2,
    /* Fields of the params array. */
    NPARAMS = 7,
    /* Bytes of the params array at most (its head, seven uints). */
    PARAMS_BYTES_MAX = 1 + NPARAMS * IVT_MP_UINT_MAX,
    /* Journal of our own set adds not flushed yet (struct jrnl, 40 B):
     * grown from JRNL_MIN as needed, at most JRNL_MAX (1.25 MiB; a daemon
     * whose flush lags its traffic fills it, and its deltas then carry
     * whole sets, as without a journal). */
    JRNL_MIN = 64,
    JRNL_MAX = 32768,
    /* Record-index bits per pass of the journal's radix sort: 2,048
     * counters (8 KiB, on the stack, in L1), three passes for 32 bits. */
    JRNL_RADIX_BITS = 11,
    JRNL_RADIX_MASK = (1 << JRNL_RADIX_BITS) - 1,
    /* Our events in a promoted epoch that a delta still sends as a slot:
     * each replica that joins it makes one HyperLogLog add per event id
     * (about 10 ns), so up to 512 costs it about 5 us; past that, the
     * epoch's sketches (at most 6 KiB at p = 10) are the cheaper delta. */
    OWN_SLOT_ADDS_MAX = 512,
    /* The entity table's first size in entries (32 KiB): it doubles as the
     * store fills, up to twice max_entities. A full-size table (16 MiB
     * for a million entities) costs a page fault per new entity until
     * every page is touched, whatever the store's size: a simulator node
     * holding a few thousand entities faulted in 4,096 pages. */
    TAB_MIN = 4096,
    /* The smallest page size: writing one byte per page faults in all of
     * a region, whatever page size backs it. */
    TOUCH_STEP = 4096,
};

/* Odd, so i -> i * GOLDEN is a bijection mod 2^64 (event ids stay distinct). */
#define GOLDEN 0x9e3779b97f4a7c15ULL

/* One G-Counter slot: what origin wrote for this entity in this epoch. */
struct slot {
    uint32_t epoch;
    uint32_t origin;
    uint32_t c[CRDT_COUNTERS];
    uint64_t ver; /* store version of its last rise */
};

/* A promoted epoch: one HLL per metric (NULL while empty). */
struct pcell {
    uint32_t epoch;
    uint64_t ver;
    uint64_t own[CRDT_COUNTERS]; /* our events in it: local, not replicated */
    uint64_t est[CRDT_COUNTERS]; /* rounded estimate, cached unless stale */
    uint8_t *reg[CRDT_COUNTERS];
    /* The keyed hash of its sketches' encoding, as of version dver (valid
     * when dh_ok): a record's digest names its promoted epochs by these,
     * so an epoch that did not change is not encoded again. */
    uint64_t dh, dver;
    uint8_t dh_ok;
    /* Bit m: metric m rose since est[m] was read from its histogram. A
     * merge only marks it (a node joins every peer's slot for a hot
     * publisher's epoch, and reads its sums far less often); the fleet
     * sums re-estimate what is stale (ent_fleet). */
    uint8_t est_stale;
};

/* A distinct set. Exact sets hold their sorted, distinct hashes in place
 * while there is one (cap == 0: most sets, the contributing origins of a
 * bucket above all, never hold more), on the heap past that (cap > 0).
 * Promoted sets are HyperLogLogs in one of two forms: sparse, their
 * non-zero registers as sorted entries (index << 8 | value), n of cap, while
 * few registers are set (a set just past distinct_exact_max sets about
 * that many of 4,096); dense, 2^p register bytes and their histogram, past
 * dset_sparse_max entries. The forms hold the same registers: encoding,
 * estimates and merges do not depend on which one a replica keeps. */
enum { DSET_EXACT = 0, DSET_DENSE = 1, DSET_SPARSE = 2 };

struct dset {
    uint16_t n, cap;  /* exact: items held, heap capacity (0: in place);
                         sparse: entries held, capacity */
    uint8_t promoted; /* DSET_*: non-zero when promoted */
    /* Exact sets, local and never encoded: bit i, item i (of the first
     * LMASK_BITS) came in one of our own events. It sits in what was
     * padding, so the per-node distinct counts an analyst reads beside
     * the fleet's (distinct_local) cost no memory. */
    uint16_t lmask;
    union {
        uint64_t *items; /* exact, cap > 0 */
        uint64_t one;    /* exact, cap == 0 */
        uint8_t *reg;    /* dense */
        uint32_t *sp;    /* sparse */
    } u;
};

_Static_assert(sizeof(struct dset) == 16, "lmask fits in the padding");

/*
 * A promoted set's digest form is its register sum: the sum mod 2^64 of a
 * keyed mix of (index, value) over its non-zero registers (reg_term). It
 * depends on the registers alone, so replicas that keep equal registers in
 * different forms (sparse, dense) digest alike, and a dense set keeps it
 * up to date as a register rises (dense_add: two terms), so its digest
 * costs nothing when its record is re-encoded. A hot publisher's record
 * holds a dense set per metric in each bucket of the window; encoding and
 * hashing them all for every digest of the record took 172 us a record,
 * and the current bucket's alone 25 us (crdt_store_digest_hot_record_cpu):
 * most of a push-pull's digest answer. A merge that raises registers
 * clears ok, and the next digest sums them again (one pass).
 */
struct dense_dh {
    uint64_t sum, ok;
};

enum { LMASK_BITS = 16 }; /* items an exact set's lmask covers */

/* lmask with an item inserted at position at (own: ours). */
static inline uint16_t lmask_insert(uint16_t m, uint32_t at, bool own)
{
    if (at >= LMASK_BITS)
        return m;
    uint32_t low = m & ((1u << at) - 1), high = (uint32_t)(m >> at) << (at + 1);
    return (uint16_t)(low | high | (own ? 1u << at : 0));
}

/* The items of an exact set (valid until the set changes or moves). */
static inline const uint64_t *dset_items(const struct dset *d)
{
    return d->cap ? d->u.items : &d->u.one;
}

struct bucket {
    uint32_t b;
    /* Since the record's last flush, bit d: set d rose (forward_merged),
     * or, without forwarding, our own adds to it are in the store's
     * journal (risen) or are not all there (whole: send the set). */
    uint8_t risen, whole;
    uint64_t ver;
    struct dset set[NSETS];
};

/* A record's place in one of the intrusive lists over the slab (indices,
 * NONE at either end). */
struct link {
    uint32_t prev, next;
};

enum {
    LK_BUCKET, /* the records of one digest bucket */
    LK_DIRTY,  /* the records whose digest is stale (live and !dig_ok) */
    LK_EXPIRY, /* the records that first lose evidence at one floor */
    NLINKS,
};

/*
 * An entity record. The fields an update touches come first, and the
 * record carries room for one slot and one bucket: most entities have one
 * writer and one bucket in flight, and with those arrays inside the record
 * an update reads one record (a few adjacent lines, one page) instead of
 * three allocations on three pages. Past one, the arrays move to the heap.
 * Records never move (the slab is allocated once), so the arrays may point
 * into their own record.
 */
struct ent {
    uint64_t h;
    uint64_t ver; /* last rise (0: free) */
    struct slot *slots;
    struct bucket *buckets;
    uint32_t nslots, capslots;
    uint16_t npcells, cappcells, nbuckets, capbuckets;
    uint8_t kind, key_len, live, queued, dig_ok;
    uint8_t dist_ok;   /* bit d: dist[d] is valid (one set changing keeps the others) */
    uint8_t admitted;  /* shared: flushed, digested and repaired (crdt_store_admit) */
    uint8_t key_sent;  /* a delta of ours carried the display key */
    uint32_t xkey;     /* the expiry list it is filed in (see ent_xkey), 0: none */
    uint8_t local_ok;  /* local[] is valid (an update only clears this) */
    uint8_t fleet_ok;  /* fleet[] is valid (an update only clears this) */
    struct slot slot1; /* slots while capslots <= 1 */
    /* This record's share of the store's running totals (crdt_store_stats),
     * as last added to them by ent_account: in the hot part because an
     * update that grows a set moves it (a quarter of the distinct adds of
     * a set growing to promotion). */
    uint32_t acct_bytes;
    uint16_t acct_pcells, acct_psets;
    /* Buckets while capbuckets <= 1. Placed so that its sets fill the third
     * line: an update that adds no item reads two lines (the head; our
     * slot and the bucket's header, which the expiry key reads). */
    struct bucket bucket1;
    /* colder: flush, digests, queries; an update reads none of it unless
     * it queues the record for flush or makes its digest stale (ENT_HOT;
     * the prefetch stages fetch this line then) */
    uint32_t dprev, dnext; /* flush queue, or the free list (dnext) */
    uint64_t flushed;      /* store version at its last flush */
    uint64_t digest;       /* cached, valid when dig_ok (then in its bucket's sum) */
    struct link lk[NLINKS];
    uint64_t dist[NSETS]; /* cached window estimates, see dist_ok */
    /* Our own part of the window sums, cached when local_ok: the sum of
     * our slots' counts and our events in promoted epochs (ent_local).
     * Kept here, out of the lines an update touches, because only
     * queries read it: in the hot part it made them five lines, not four. */
    uint64_t local[CRDT_COUNTERS];
    /* The fleet's window sums, cached when fleet_ok: the sum of the slots'
     * counts and the promoted epochs' estimates (ent_fleet). Cold for the
     * same reason as local[]: while every update raised them they were 48 B
     * of the hot part; now an update clears fleet_ok, and a queued record
     * with one slot and one bucket is updated in 3 lines, not 4. */
    uint64_t fleet[CRDT_COUNTERS];
    struct pcell *pcells;
    char *key;
};

_Static_assert(offsetof(struct ent, dprev) == 192, "an update's part of a record is 3 lines");
_Static_assert(offsetof(struct ent, bucket1.set) == 128, "the first bucket's sets are line 2");

/* A journal entry: item was added to set d of bucket b of the record at
 * idx (whose hash was h: a slab slot can be reused) at store version ver
 * (an entry no later than the record's flushed version was sent). */
struct jrnl {
    uint64_t h, item, ver;
    uint32_t idx, b;
    uint8_t d;
};

/* The bytes of a record an update of an entity already queued for flush
 * reads and writes: what the hot path prefetches (3 lines of 6; 2 when
 * it adds no item, see ENT_NOSET). */
#define ENT_HOT offsetof(struct ent, dprev)

/* The bytes of a record an update that adds no item to a set reads: all
 * but the first bucket's sets. */
#define ENT_NOSET offsetof(struct ent, bucket1.set)

/* ... and the line after them, with the flush-queue and list links: a
 * join usually queues the record and makes its digest stale. */
#define ENT_JOIN (ENT_HOT + 64)

/* A slot of a record being merged, checked and waiting to be joined. */
struct in_slot {
    uint32_t epoch;
    uint32_t origin; /* store index */
    uint32_t c[CRDT_COUNTERS];
};

/* A bucket of a record being merged, checked and waiting to be joined
 * (one inside the window: the others join nothing). Its exact sets'
 * items wait in the merge group's item buffer from item0 on, set after
 * set, n[d] of set d; a promoted set (an HLL bin, hll[d] != NULL) is
 * decoded again where it lies in the message (deltas carry none). */
struct in_bucket {
    uint32_t b;
    uint32_t item0;
    uint16_t n[CRDT_DISTINCTS + 1];
    const uint8_t *hll[CRDT_DISTINCTS + 1];
};

/* What a merge keeps of a record between its check and its join. */
enum { IN_SLOTS, IN_BUCKETS, IN_ITEMS, IN_KINDS };

/* A store's buffer of one kind of kept parts (for groups past the stack). */
struct in_keep {
    void *p;
    uint32_t cap;
};

struct origin_rec {
    uint8_t bytes[CRDT_ORIGIN_BYTES];
    uint64_t hash;  /* keyed: its item in the origins set */
    uint64_t refs;  /* slots naming it */
    uint32_t stamp; /* == msg_stamp: mapped in the message being written */
    uint32_t msg;   /* its index in that message */
    uint8_t live;
};

struct crdt_store {
    struct crdt_config cfg;
    uint8_t kind_key[CRDT_KINDS][16];
    uint8_t item_key[16], event_key[16], origin_key[16], digest_key[16];
    uint64_t rkey;  /* reg_term's key: digest_key's first word */
    uint64_t dmark; /* added to a bucket's digest while it holds stale records */
    uint32_t cur;   /* current epoch */
    uint32_t floor; /* oldest counter epoch kept */
    uint64_t ver;

    /* Memory (crdt/arena.c): the slab and the table are regions of the
     * owner's allocator, registers come from pools over its chunks. */
    struct crdt__mem mem;
    struct crdt__pool dreg; /* promoted distinct sets: registers + histogram */
    struct crdt__pool creg; /* promoted counter metrics: registers + histogram */

    struct ent *ents;
    uint32_t nents, free_head, used_hi;
    uint64_t *tab; /* (key32 << 32) | (index + 1); 0 = empty */
    uint64_t tmask;

    struct origin_rec *origins; /* ocap records, of which norigins_hi were used */
    uint32_t norigins_hi, norigins_live, ocap;
    uint32_t ofree; /* every origin record below this index is live */
    uint32_t *omap; /* open addressing over origin hashes: index + 1 */
    uint32_t omask;
    /* A memo before the map, in sets of OMEMO_WAYS entries chosen by an
     * unkeyed mix of the bytes (origin_memo_find): each entry a tag of the
     * mix and index + 1 of an origin looked up lately. A message names its
     * origins, and interning each by its SipHash was ~270 instructions of
     * a delta's merge. A hit is checked against the record's bytes, so
     * crafted origins can only miss it (then the map decides, as without
     * it). 2 x pow2_at_least(ocap) entries; omemo_mask masks set numbers. */
    uint32_t *omemo;
    uint32_t omemo_mask;
    uint32_t *msg_origins; /* store index of message origin i (writing); ocap */
    uint32_t msg_norigins, msg_stamp;
    /* The message being written holds a promoted epoch's registers: it is
     * format 2 (internal.h). Without one it is format 1, which a node of
     * the previous format reads too, and means the same. */
    bool msg_runs;
    /* Our params array as write_params encodes it: a message whose params
     * are these bytes is checked by one comparison. */
    uint8_t params[PARAMS_BYTES_MAX];
    uint8_t params_len;
    uint32_t *in_origins; /* store index (or NONE) of message origin i (reading) */
    uint32_t in_norigins, in_cap;
    uint64_t in_version;              /* the format version of the message being merged */
    struct in_keep in_keep[IN_KINDS]; /* a merge group's checked parts */

    uint32_t qhead, qtail, nqueued; /* flush queue */
    /* Digests kept incrementally: bsum[b] is the sum of the cached digests
     * of bucket b's records; the records whose digest is stale wait on the
     * dirty list and are encoded at the next digest, not on every change.
     * bhead[b] lists bucket b's records, so a repair reads only the
     * buckets it sends. */
    uint64_t *bsum;
    uint32_t *bhead;
    uint32_t dirty_head;
    uint32_t ndirty; /* records on it */
    /* Per digest bucket, the admitted records on it: a bounded digest
     * (crdt_store_digest_max) marks those buckets as differing. */
    uint32_t *bdirty;
    /* Expiry calendar: xhead[k % xring] lists the records whose oldest
     * evidence leaves the window when the floor reaches k, so an epoch
     * roll visits those records only, not the whole store. */
    uint32_t *xhead;
    uint32_t *xcount; /* records in each list */
    uint32_t xring;
    /* Items our own events added to sets since their record's flush, so
     * a delta carries those and not whole sets (forward_merged off):
     * bounded; an add that finds it full marks its set whole instead. */
    struct jrnl *jrnl;
    uint32_t jn, jcap;
    /* The journal's order by record (jrnl_sort): (idx << 32 | position)
     * keys, valid while jsorted; jkey and jktmp hold jkcap each. */
    bool jsorted;
    uint64_t *jkey, *jktmp;
    uint32_t jkcap;
    /* Records left the flush queue since the last compaction, so some
     * entries are stale (see jrnl_settle); jn_flushed is jn then. */
    bool jstale;
    uint32_t jn_flushed;
    /* A record was removed since the last compaction: its entries (sent or
     * not) are stale, and must go before its slot is reused, or the same
     * entity re-created there would take them up. One compaction per
     * batch of removals (an eviction, a roll step), at the first reuse. */
    bool jremoved;
    /* The epoch roll in progress (crdt_store_tick_step): which lists of
     * the calendar, or which part of the slab, are still to visit. */
    struct {
        uint8_t mode;      /* ROLL_* */
        uint32_t old;      /* the floor before the roll */
        uint32_t lists, j; /* ROLL_LISTS: lists old+1 .. old+lists, next j */
        uint32_t cursor;   /* ROLL_WALK: records below it are visited */
        size_t removed;    /* entities removed by this roll so far */
    } roll;
    struct ivt_mpw scratch; /* entities of the message being written */
    struct ivt_mpw dig;     /* one entity's canonical bytes, for its digest */
    struct ivt_mpw pdig;    /* one promoted epoch's sketches, for its hash */
    bool pdig_cold;         /* pcell_digest ignores its cache (the recount) */
    uint8_t *scratch_reg;   /* 2^max(p) bytes for unions */
    uint64_t *scratch_items;
    size_t scratch_items_cap;

    uint64_t evictions, expired;
    uint64_t nadmitted; /* live records with admitted set */
    /* Running totals of every live record's share (ent_account): a stats
     * call on a million entities must not walk them. */
    uint64_t acct_bytes, acct_pcells, acct_psets;
    /* Bumped by every allocation a record's footprint counts: an update
     * that did not bump it left its record's footprint as it was, and
     * skips ent_account (the hot path). */
    uint64_t shape;
    /* Set by every insertion that may change a record's expiry key (one
     * at the front of its slots or buckets, a promotion): an update or a
     * merge that set none leaves the record filed where it was (ent_xfile,
     * whose reads of the arrays' first lines missed cache, is skipped). */
    bool xmoved;
};

/* ---- keys and origins -------------------------------------------------- */

static void derive_key(uint8_t out[16], const uint8_t master[16], const char *label, int n)
{
    uint8_t in[32];
    size_t len = strlen(label);
    memcpy(in, label, len);
    in[len] = (uint8_t)n;
    crypto_generichash(out, 16, in, len + 1, master, 16);
}

uint64_t crdt_store_key_hash(const struct crdt_store *s, enum crdt_kind kind, const void *key,
                             size_t len)
{
    return crdt_siphash(s->kind_key[(unsigned)kind % CRDT_KINDS], key, len);
}

uint64_t crdt_store_item_hash(const struct crdt_store *s, const void *data, size_t len)
{
    return crdt_siphash(s->item_key, data, len);
}

static uint32_t origin_find(const struct crdt_store *s, const uint8_t b[CRDT_ORIGIN_BYTES],
                            uint64_t hash)
{
    for (uint32_t i = (uint32_t)hash & s->omask;; i = (i + 1) & s->omask) {
        uint32_t v = s->omap[i];
        if (!v)
            return NONE;
        if (!memcmp(s->origins[v - 1].bytes, b, CRDT_ORIGIN_BYTES))
            return v - 1;
    }
}

static void omap_put(struct crdt_store *s, uint32_t idx)
{
    uint32_t i = (uint32_t)s->origins[idx].hash & s->omask;
    while (s->omap[i])
        i = (i + 1) & s->omask;
    s->omap[i] = idx + 1;
}

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

/* Room for cap origins (at most max_origins): the records and the
 * written message's map grow, the hash map is rebuilt at four times the
 * size (a lookup is a record read that misses cache: a full table should
 * still find most origins at the first probe), but never more than twice
 * max_origins. Indices do not move. Returns 0, or IVT_ENOMEM with the
 * tables as they were. */
static int origins_grow(struct crdt_store *s, uint32_t cap)
{
    uint64_t most = pow2_at_least((uint64_t)s->cfg.max_origins * 2);
    uint32_t osize = (uint32_t)pow2_at_least((uint64_t)cap * 4);
    if (osize > most)
        osize = (uint32_t)most;
    struct origin_rec *o = realloc(s->origins, (size_t)cap * sizeof(*o));
    if (o)
        s->origins = o;
    uint32_t *mo = o ? realloc(s->msg_origins, (size_t)cap * sizeof(*mo)) : NULL;
    if (mo)
        s->msg_origins = mo;
    uint32_t msize = (uint32_t)pow2_at_least(cap) * OMEMO_SPREAD;
    uint32_t *memo = mo ? calloc(msize, sizeof(*memo)) : NULL;
    uint32_t *map = memo ? calloc(osize, sizeof(*map)) : NULL;
    if (!map) {
        free(memo);
        return IVT_ENOMEM;
    }
    free(s->omemo);
    s->omemo = memo;
    s->omemo_mask = msize / OMEMO_WAYS - 1;
    free(s->omap);
    s->omap = map;
    s->omask = osize - 1;
    s->ocap = cap;
    for (uint32_t i = 0; i < s->norigins_hi; i++)
        if (s->origins[i].live)
            omap_put(s, i);
    return 0;
}

_Static_assert(CRDT_ORIGIN_BYTES == 20, "origin_memo_mix reads 8 + 8 + 4 bytes");
_Static_assert(OMEMO_WAYS * sizeof(uint32_t) == 16,
               "a set is 16 B: in one line (calloc aligns 16)");

/* The unkeyed mix of all 20 bytes of an origin (the simulator's node ids
 * share their first 8): its high word picks the memo set, its low bits
 * the tag. */
static inline uint64_t origin_memo_mix(const uint8_t *b)
{
    uint64_t x, y;
    uint32_t z;
    memcpy(&x, b, 8);
    memcpy(&y, b + 8, 8);
    memcpy(&z, b + 16, 4);
    return (x ^ (y << 21 | y >> 43) ^ (uint64_t)z << 7) * GOLDEN;
}

static inline uint32_t *origin_memo_set(const struct crdt_store *s, uint64_t mix)
{
    return &s->omemo[((uint32_t)(mix >> 32) & s->omemo_mask) * OMEMO_WAYS];
}

static inline uint32_t origin_memo_tag(uint64_t mix)
{
    return (uint32_t)mix & ~(uint32_t)OMEMO_IDX_MASK;
}

/* The origin b through the memo, or NONE. */
static uint32_t origin_memo_find(const struct crdt_store *s, const uint8_t *b, uint64_t mix)
{
    const uint32_t *set = origin_memo_set(s, mix);
    uint32_t tag = origin_memo_tag(mix);
    for (int w = 0; w < OMEMO_WAYS; w++) {
        uint32_t v = set[w];
        if (!(v & OMEMO_IDX_MASK) || (v & ~(uint32_t)OMEMO_IDX_MASK) != tag)
            continue;
        const struct origin_rec *o = &s->origins[(v & OMEMO_IDX_MASK) - 1];
        if (o->live && !memcmp(o->bytes, b, CRDT_ORIGIN_BYTES))
            return (v & OMEMO_IDX_MASK) - 1;
    }
    return NONE;
}

/* Remembers origin idx first in its set; the set's last entry goes. */
static void origin_memo_put(struct crdt_store *s, uint64_t mix, uint32_t idx)
{
    uint32_t *set = origin_memo_set(s, mix);
    memmove(set + 1, set, (OMEMO_WAYS - 1) * sizeof(*set));
    set[0] = origin_memo_tag(mix) | (idx + 1);
}

/* The store index of an origin, interning it; NONE when the table is full. */
static uint32_t origin_intern(struct crdt_store *s, const uint8_t b[CRDT_ORIGIN_BYTES])
{
    uint64_t mix = origin_memo_mix(b);
    uint32_t idx = s->omemo ? origin_memo_find(s, b, mix) : NONE;
    if (idx != NONE)
        return idx;
    uint64_t hash = crdt_siphash(s->origin_key, b, CRDT_ORIGIN_BYTES);
    idx = s->omap ? origin_find(s, b, hash) : NONE;
    if (idx != NONE) {
        origin_memo_put(s, mix, idx); /* the map exists, so does the memo */
        return idx;
    }
    if (s->norigins_live >= s->cfg.max_origins)
        return NONE;
    /* The lowest free record, found from the last one taken: a scan from 0
     * for each new origin made a store's first n origins cost n^2 / 2
     * record reads (4 % of a 1,000-node run). */
    for (idx = s->ofree; idx < s->norigins_hi && s->origins[idx].live; idx++)
        ;
    if (idx == s->ocap) {
        uint32_t cap = s->ocap ? s->ocap * 2 : ORIGINS_INITIAL;
        if (origins_grow(s, cap < s->cfg.max_origins ? cap : s->cfg.max_origins))
            return NONE;
    }
    if (idx == s->norigins_hi)
        s->norigins_hi++;
    s->ofree = idx + 1;
    struct origin_rec *o = &s->origins[idx];
    memset(o, 0, sizeof(*o));
    memcpy(o->bytes, b, CRDT_ORIGIN_BYTES);
    o->hash = hash;
    o->live = 1;
    s->norigins_live++;
    omap_put(s, idx);
    origin_memo_put(s, mix, idx); /* the table may have grown: its memo too */
    return idx;
}

/* Frees origins no slot names any more (never our own). */
static void origins_gc(struct crdt_store *s)
{
    bool freed = false;
    for (uint32_t i = 1; i < s->norigins_hi; i++) {
        if (s->origins[i].live && !s->origins[i].refs) {
            s->origins[i].live = 0;
            s->norigins_live--;
            if (i < s->ofree)
                s->ofree = i;
            freed = true;
        }
    }
    if (!freed)
        return;
    memset(s->omap, 0, ((size_t)s->omask + 1) * sizeof(*s->omap));
    for (uint32_t i = 0; i < s->norigins_hi; i++)
        if (s->origins[i].live)
            omap_put(s, i);
}

static inline int origin_cmp_idx(const struct crdt_store *s, uint32_t a, uint32_t b)
{
    return a == b ? 0 : memcmp(s->origins[a].bytes, s->origins[b].bytes, CRDT_ORIGIN_BYTES);
}

/* ---- configuration and lifetime ---------------------------------------- */

void crdt_config_defaults(struct crdt_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->epoch_ms = 60000;
    cfg->window_epochs = 60;
    cfg->max_entities = 1000000;
    cfg->counter_slots_max = 8;
    cfg->distinct_exact_max = 16;
    cfg->counter_hll_p = 10;
    cfg->distinct_hll_p = 12;
    cfg->distinct_bucket_epochs = 10;
    cfg->digest_bits = 10;
    cfg->max_origins = 4096;
    cfg->forward_merged = true;
    cfg->admit_kinds = (1u << CRDT_KINDS) - 1;
}

static int config_check(const struct crdt_config *c)
{
    if (c->epoch_ms < 1000 || c->epoch_ms > 86400000 || c->window_epochs < 1 ||
        c->window_epochs > 10080 || c->max_entities < 16 || c->max_entities > (1u << 28) ||
        c->counter_slots_max < 1 || c->counter_slots_max > 64 || c->distinct_exact_max < 1 ||
        c->distinct_exact_max > 256 || c->counter_hll_p < CRDT_HLL_P_MIN ||
        c->counter_hll_p > CRDT_HLL_P_MAX || c->distinct_hll_p < CRDT_HLL_P_MIN ||
        c->distinct_hll_p > CRDT_HLL_P_MAX || c->distinct_bucket_epochs < 1 ||
        c->distinct_bucket_epochs > c->window_epochs || c->digest_bits > 16 || c->max_origins < 2 ||
        c->max_origins > 65536)
        return IVT_EINVAL;
    if (c->admit_kinds >> CRDT_KINDS)
        return IVT_EINVAL;
    return 0;
}

uint32_t crdt_store_epoch_of(const struct crdt_store *s, ivt_ms wall)
{
    if (wall < 0)
        return 0;
    uint64_t e = (uint64_t)wall / (uint64_t)s->cfg.epoch_ms;
    return e > UINT32_MAX - 2 ? UINT32_MAX - 2 : (uint32_t)e;
}

uint32_t crdt_store_epoch(const struct crdt_store *s)
{
    return s->cur;
}

static inline size_t dset_reg_bytes(const struct crdt_store *s);
static inline size_t creg_bytes(const struct crdt_store *s);

static uint32_t floor_of(const struct crdt_store *s, uint32_t cur)
{
    return cur >= s->cfg.window_epochs - 1 ? cur - (s->cfg.window_epochs - 1) : 0;
}

static void write_params(const struct crdt_store *s, struct ivt_mpw *w);

int crdt_store_new(struct crdt_store **out, const struct crdt_config *cfg, ivt_ms wall)
{
    *out = NULL;
    if (config_check(cfg))
        return IVT_EINVAL;
    if (sodium_init() < 0)
        return IVT_ENOMEM;
    struct crdt_store *s = calloc(1, sizeof(*s));
    if (!s)
        return IVT_ENOMEM;
    s->cfg = *cfg;
    crdt__mem_init(&s->mem, &cfg->alloc);
    crdt__pool_init(&s->dreg, dset_reg_bytes(s));
    crdt__pool_init(&s->creg, creg_bytes(s));
    for (int k = 0; k < CRDT_KINDS; k++)
        derive_key(s->kind_key[k], cfg->hash_key, "ivt.kind", k);
    derive_key(s->item_key, cfg->hash_key, "ivt.item", 0);
    derive_key(s->event_key, cfg->hash_key, "ivt.event", 0);
    derive_key(s->origin_key, cfg->hash_key, "ivt.origin", 0);
    derive_key(s->digest_key, cfg->hash_key, "ivt.digest", 0);
    memcpy(&s->rkey, s->digest_key, sizeof(s->rkey));
    s->cur = crdt_store_epoch_of(s, wall);
    s->floor = floor_of(s, s->cur);
    struct ivt_mpw pw;
    ivt_mpw_init_fixed(&pw, s->params, sizeof(s->params));
    write_params(s, &pw);
    s->params_len = (uint8_t)pw.len;
    uint64_t tsize = pow2_at_least((uint64_t)cfg->max_entities * 2);
    if (tsize > TAB_MIN && !cfg->table_full)
        tsize = TAB_MIN;
    s->tmask = tsize - 1;
    unsigned pmax =
        cfg->counter_hll_p > cfg->distinct_hll_p ? cfg->counter_hll_p : cfg->distinct_hll_p;
    /* Mapped, not written: the slab's pages are touched as entities arrive. */
    s->ents = crdt__mem_map(&s->mem, (size_t)cfg->max_entities * sizeof(*s->ents));
    s->tab = crdt__mem_map(&s->mem, tsize * sizeof(*s->tab));
    s->scratch_reg = malloc(crdt_hll_size(pmax));
    size_t nb = (size_t)1 << cfg->digest_bits;
    s->bsum = calloc(nb, sizeof(*s->bsum));
    s->bdirty = calloc(nb, sizeof(*s->bdirty));
    s->bhead = malloc(nb * sizeof(*s->bhead));
    /* Keys of live records lie in (floor, floor + window + bucket span]. */
    s->xring = cfg->window_epochs + cfg->distinct_bucket_epochs + 2;
    s->xhead = malloc(s->xring * sizeof(*s->xhead));
    s->xcount = calloc(s->xring, sizeof(*s->xcount));
    if (!s->ents || !s->tab || !s->scratch_reg || !s->bsum || !s->bdirty || !s->bhead ||
        !s->xhead || !s->xcount) {
        crdt_store_delete(s);
        return IVT_ENOMEM;
    }
    if (cfg->table_full) /* touched now, not in the first updates (store.h) */
        for (size_t o = 0; o < tsize * sizeof(*s->tab); o += TOUCH_STEP)
            ((volatile uint8_t *)s->tab)[o] = 0;
    s->free_head = NONE;
    s->qhead = s->qtail = NONE;
    s->dirty_head = NONE;
    for (size_t b = 0; b < nb; b++)
        s->bhead[b] = NONE;
    for (uint32_t k = 0; k < s->xring; k++)
        s->xhead[k] = NONE;
    ivt_mpw_init_dyn(&s->scratch, SIZE_MAX / 2);
    ivt_mpw_init_dyn(&s->dig, SIZE_MAX / 2);
    ivt_mpw_init_dyn(&s->pdig, SIZE_MAX / 2);
    uint8_t self[CRDT_ORIGIN_BYTES];
    crdt_origin_pack(self, &cfg->origin);
    /* Keyed by our origin: a peer's marked bucket (its mark is its own)
     * never equals ours, whatever the two sums. */
    s->dmark = crdt_siphash(s->digest_key, self, sizeof(self)) | 1;
    if (origin_intern(s, self) != SELF) {
        crdt_store_delete(s);
        return IVT_ENOMEM;
    }
    s->origins[SELF].refs = 1; /* pinned */
    *out = s;
    return 0;
}

static void dset_free(struct crdt_store *s, struct dset *d)
{
    if (d->promoted == DSET_DENSE)
        crdt__pool_put(&s->dreg, d->u.reg);
    else if (d->promoted == DSET_SPARSE)
        crdt__small_put(&s->mem, d->u.sp, d->cap * sizeof(uint32_t));
    else if (d->cap)
        crdt__small_put(&s->mem, d->u.items, d->cap * sizeof(uint64_t));
    memset(d, 0, sizeof(*d));
}

static void ent_free_parts(struct crdt_store *s, struct ent *e)
{
    for (uint32_t i = 0; i < e->nslots; i++)
        s->origins[e->slots[i].origin].refs--;
    for (uint32_t i = 0; i < e->npcells; i++)
        for (int m = 0; m < CRDT_COUNTERS; m++)
            crdt__pool_put(&s->creg, e->pcells[i].reg[m]);
    for (uint32_t i = 0; i < e->nbuckets; i++)
        for (int d = 0; d < NSETS; d++)
            dset_free(s, &e->buckets[i].set[d]);
    if (e->slots != &e->slot1)
        free(e->slots);
    free(e->pcells);
    if (e->buckets != &e->bucket1)
        free(e->buckets);
    crdt__small_put(&s->mem, e->key, e->key_len + 1u);
}

void crdt_store_delete(struct crdt_store *s)
{
    if (!s)
        return;
    free(s->jrnl);
    if (s->ents)
        for (uint32_t i = 0; i < s->used_hi; i++)
            if (s->ents[i].live)
                ent_free_parts(s, &s->ents[i]);
    crdt__mem_unmap(&s->mem, s->ents, (size_t)s->cfg.max_entities * sizeof(*s->ents));
    crdt__mem_unmap(&s->mem, s->tab, (size_t)(s->tmask + 1) * sizeof(*s->tab));
    crdt__mem_destroy(&s->mem);
    free(s->origins);
    free(s->omap);
    free(s->omemo);
    free(s->msg_origins);
    free(s->in_origins);
    for (int k = 0; k < IN_KINDS; k++)
        free(s->in_keep[k].p);
    free(s->scratch_reg);
    free(s->scratch_items);
    free(s->jkey);
    free(s->jktmp);
    free(s->bsum);
    free(s->bdirty);
    free(s->bhead);
    free(s->xhead);
    free(s->xcount);
    ivt_mpw_destroy(&s->scratch);
    ivt_mpw_destroy(&s->dig);
    ivt_mpw_destroy(&s->pdig);
    free(s);
}

/* ---- the entity table --------------------------------------------------- */

static inline uint32_t key32(enum crdt_kind kind, uint64_t h)
{
    return (uint32_t)(h ^ (h >> 32)) ^ ((uint32_t)kind * 0x9e3779b9u);
}

/* The index of (kind, h), or NONE. With check false, the first entry whose
 * tag matches, without reading any record (a hint for prefetching). */
static inline uint32_t tab_lookup(const struct crdt_store *s, enum crdt_kind kind, uint64_t h,
                                  bool check)
{
    uint32_t k = key32(kind, h);
    for (uint64_t i = k & s->tmask;; i = (i + 1) & s->tmask) {
        uint64_t v = s->tab[i];
        if (!v)
            return NONE;
        if ((uint32_t)(v >> 32) == k) {
            uint32_t idx = (uint32_t)v - 1;
            if (!check || (s->ents[idx].h == h && s->ents[idx].kind == kind))
                return idx;
        }
    }
}

static uint32_t ent_find(const struct crdt_store *s, enum crdt_kind kind, uint64_t h)
{
    return tab_lookup(s, kind, h, true);
}

static void tab_remove(struct crdt_store *s, uint32_t idx)
{
    const struct ent *e = &s->ents[idx];
    uint64_t i = key32(e->kind, e->h) & s->tmask;
    while ((uint32_t)s->tab[i] != idx + 1)
        i = (i + 1) & s->tmask;
    /* Backward-shift deletion: no tombstones, probe lengths stay short. */
    for (uint64_t j = (i + 1) & s->tmask; s->tab[j]; j = (j + 1) & s->tmask) {
        uint64_t home = (uint32_t)(s->tab[j] >> 32) & s->tmask;
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            s->tab[i] = s->tab[j];
            i = j;
        }
    }
    s->tab[i] = 0;
}

/* Doubles the table once it would pass half full, up to twice
 * max_entities (the size it had before it grew). Entries carry their key32,
 * so a rehash reads no record. Returns 0 or IVT_ENOMEM (the table is then
 * unchanged and still has room: it is at most half full). */
static int tab_reserve(struct crdt_store *s)
{
    uint64_t size = s->tmask + 1;
    if ((uint64_t)(s->nents + 1) * 2 <= size ||
        size >= pow2_at_least((uint64_t)s->cfg.max_entities * 2))
        return 0;
    uint64_t nsize = size * 2, nmask = nsize - 1;
    uint64_t *nt = crdt__mem_map(&s->mem, nsize * sizeof(*nt));
    if (!nt)
        return IVT_ENOMEM;
    for (uint64_t i = 0; i < size; i++) {
        uint64_t v = s->tab[i];
        if (!v)
            continue;
        uint64_t j = (uint32_t)(v >> 32) & nmask;
        while (nt[j])
            j = (j + 1) & nmask;
        nt[j] = v;
    }
    crdt__mem_unmap(&s->mem, s->tab, size * sizeof(*s->tab));
    s->tab = nt;
    s->tmask = nmask;
    return 0;
}

static void list_push(struct crdt_store *s, uint32_t *head, uint32_t idx, int which)
{
    struct link *l = &s->ents[idx].lk[which];
    l->prev = NONE;
    l->next = *head;
    if (*head != NONE)
        s->ents[*head].lk[which].prev = idx;
    *head = idx;
}

static void list_unlink(struct crdt_store *s, uint32_t *head, uint32_t idx, int which)
{
    const struct link *l = &s->ents[idx].lk[which];
    if (l->prev != NONE)
        s->ents[l->prev].lk[which].next = l->next;
    else
        *head = l->next;
    if (l->next != NONE)
        s->ents[l->next].lk[which].prev = l->prev;
}

/* The digest bucket of an entity hash: its top digest_bits bits. */
static inline size_t bucket_of(const struct crdt_store *s, uint64_t h)
{
    return s->cfg.digest_bits ? (size_t)(h >> (64 - s->cfg.digest_bits)) : 0;
}

/* idx's encoding changed: its digest leaves its bucket's sum and waits on
 * the dirty list. */
static inline void dirty_push(struct crdt_store *s, uint32_t idx)
{
    list_push(s, &s->dirty_head, idx, LK_DIRTY);
    s->ndirty++;
    s->bdirty[bucket_of(s, s->ents[idx].h)] += s->ents[idx].admitted;
}

static inline void dirty_unlink(struct crdt_store *s, uint32_t idx)
{
    list_unlink(s, &s->dirty_head, idx, LK_DIRTY);
    s->ndirty--;
    s->bdirty[bucket_of(s, s->ents[idx].h)] -= s->ents[idx].admitted;
}

static inline void dig_invalidate(struct crdt_store *s, uint32_t idx)
{
    struct ent *e = &s->ents[idx];
    if (!e->dig_ok)
        return;
    s->bsum[bucket_of(s, e->h)] -= e->digest;
    e->dig_ok = 0;
    dirty_push(s, idx);
}

/* The floor at which e first loses evidence: a cell of epoch x goes when
 * the floor passes x, a bucket b when the floor's bucket passes b. 0 for a
 * record with no evidence. */
static inline uint32_t ent_xkey(const struct crdt_store *s, const struct ent *e)
{
    uint64_t k = UINT64_MAX;
    if (e->nslots)
        k = (uint64_t)e->slots[0].epoch + 1;
    if (e->npcells && (uint64_t)e->pcells[0].epoch + 1 < k)
        k = (uint64_t)e->pcells[0].epoch + 1;
    if (e->nbuckets) {
        uint64_t b = ((uint64_t)e->buckets[0].b + 1) * s->cfg.distinct_bucket_epochs;
        k = b < k ? b : k;
    }
    return k == UINT64_MAX ? 0 : (uint32_t)(k > UINT32_MAX ? UINT32_MAX : k);
}

enum { ROLL_NONE, ROLL_LISTS, ROLL_WALK };

/* Moves idx from the expiry list of its old key to that of k. */
static void ent_xmove(struct crdt_store *s, uint32_t idx, uint32_t k)
{
    struct ent *e = &s->ents[idx];
    if (e->xkey) {
        list_unlink(s, &s->xhead[e->xkey % s->xring], idx, LK_EXPIRY);
        s->xcount[e->xkey % s->xring]--;
    }
    e->xkey = k;
    if (k) {
        list_push(s, &s->xhead[k % s->xring], idx, LK_EXPIRY);
        s->xcount[k % s->xring]++;
    }
}

/* Files idx in the expiry list of its present key (after any change that
 * may have added older evidence or dropped the oldest). Inline: every
 * update asks, and almost never moves. */
static inline void ent_xfile(struct crdt_store *s, uint32_t idx)
{
    /* A roll that walks the slab emptied the calendar: records it has not
     * reached yet are in no list, and are filed when it reaches them. */
    if (s->roll.mode == ROLL_WALK && idx >= s->roll.cursor)
        return;
    const struct ent *e = &s->ents[idx];
    uint32_t k = e->live ? ent_xkey(s, e) : 0;
    if (k != e->xkey)
        ent_xmove(s, idx, k);
}

static inline void queue_push(struct crdt_store *s, uint32_t idx)
{
    struct ent *e = &s->ents[idx];
    if (e->queued || !e->admitted) /* a local-only record is never flushed */
        return;
    e->queued = 1;
    e->dnext = NONE;
    e->dprev = s->qtail;
    if (s->qtail != NONE)
        s->ents[s->qtail].dnext = idx;
    else
        s->qhead = idx;
    s->qtail = idx;
    s->nqueued++;
}

static void queue_remove(struct crdt_store *s, uint32_t idx)
{
    struct ent *e = &s->ents[idx];
    if (!e->queued)
        return;
    if (e->dprev != NONE)
        s->ents[e->dprev].dnext = e->dnext;
    else
        s->qhead = e->dnext;
    if (e->dnext != NONE)
        s->ents[e->dnext].dprev = e->dprev;
    else
        s->qtail = e->dprev;
    e->queued = 0;
    s->nqueued--;
}

/* One record's heap share: bytes beyond the slab, live promoted cells and
 * promoted sets. */
struct footprint {
    uint64_t bytes, pcells, psets;
};

static struct footprint ent_footprint(const struct crdt_store *s, const struct ent *e);

/* Brings the running totals up to e's present footprint. Called after
 * every change of a record's shape (update, merge, expiry, removal), so the
 * totals always equal a walk over the records (crdt__store_recount). */
static void ent_account(struct crdt_store *s, struct ent *e)
{
    struct footprint f = {0, 0, 0};
    if (e->live)
        f = ent_footprint(s, e);
    s->acct_bytes += f.bytes - e->acct_bytes;
    s->acct_pcells += f.pcells - e->acct_pcells;
    s->acct_psets += f.psets - e->acct_psets;
    e->acct_bytes = (uint32_t)f.bytes;
    e->acct_pcells = (uint16_t)f.pcells;
    e->acct_psets = (uint16_t)f.psets;
}

static void ent_remove(struct crdt_store *s, uint32_t idx)
{
    struct ent *e = &s->ents[idx];
    e->live = 0;
    ent_account(s, e);
    if (e->dig_ok)
        s->bsum[bucket_of(s, e->h)] -= e->digest;
    else
        dirty_unlink(s, idx);
    list_unlink(s, &s->bhead[bucket_of(s, e->h)], idx, LK_BUCKET);
    ent_xfile(s, idx);         /* not live: leaves its list */
    s->jremoved |= s->jn != 0; /* its journal entries, if any, are stale */
    queue_remove(s, idx);
    tab_remove(s, idx);
    ent_free_parts(s, e);
    s->nadmitted -= e->admitted;
    memset(e, 0, sizeof(*e));
    e->dnext = s->free_head;
    s->free_head = idx;
    s->nents--;
}

/* ---- eviction ---------------------------------------------------------- */

struct victim {
    uint64_t evidence;
    uint64_t h;
    uint32_t kind;
    uint32_t idx;
};

/* e's window sums into out: the fleet's (every slot, the promoted epochs'
 * estimates) or, with own, ours (our slots, our events in promoted epochs). */
static void ent_sums(const struct ent *e, bool own, uint64_t out[CRDT_COUNTERS])
{
    memset(out, 0, CRDT_COUNTERS * sizeof(*out));
    for (uint32_t i = 0; i < e->nslots; i++)
        if (!own || e->slots[i].origin == SELF)
            for (int m = 0; m < CRDT_COUNTERS; m++)
                out[m] += e->slots[i].c[m];
    for (uint32_t i = 0; i < e->npcells; i++)
        for (int m = 0; m < CRDT_COUNTERS; m++)
            out[m] += own ? e->pcells[i].own[m] : e->pcells[i].est[m];
}

static void pcell_estimate(const struct crdt_store *s, struct pcell *pc);

/* e's fleet window sums (valid until e changes): the cache, or recomputed
 * (with the stale estimates of its promoted epochs). */
static const uint64_t *ent_fleet(const struct crdt_store *s, struct ent *e)
{
    if (!e->fleet_ok) {
        for (uint32_t i = 0; i < e->npcells; i++)
            pcell_estimate(s, &e->pcells[i]);
        ent_sums(e, false, e->fleet);
        e->fleet_ok = 1;
    }
    return e->fleet;
}

static uint64_t evidence_of(const struct crdt_store *s, struct ent *e)
{
    const uint64_t *fleet = ent_fleet(s, e);
    uint64_t sum = 0;
    for (int m = 0; m < CRDT_COUNTERS; m++)
        sum += fleet[m];
    return sum;
}

static inline bool victim_less(const struct victim *a, const struct victim *b)
{
    if (a->evidence != b->evidence)
        return a->evidence < b->evidence;
    if (a->kind != b->kind)
        return a->kind < b->kind;
    return a->h < b->h;
}

/* Moves the k smallest to v[0..k) (Hoare quickselect, iterative; keys are
 * unique, one per entity). */
static void select_smallest(struct victim *v, size_t n, size_t k)
{
    if (k == 0 || k >= n)
        return;
    size_t lo = 0, hi = n - 1, target = k - 1;
    while (lo < hi) {
        struct victim pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (victim_less(&v[i], &pivot))
                i++;
            while (victim_less(&pivot, &v[j]))
                j--;
            if (i <= j) {
                struct victim t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (target <= j && j < hi)
            hi = j;
        else if (target >= i)
            lo = i;
        else
            break;
    }
}

/* Frees the lowest 1/EVICT_FRACTION of max_entities, by (evidence, kind,
 * hash). Returns 0 or IVT_ENOMEM. */
static int evict_batch(struct crdt_store *s)
{
    size_t n = s->nents, k = s->cfg.max_entities / EVICT_FRACTION;
    if (k < 1)
        k = 1;
    struct victim *v = malloc(n * sizeof(*v));
    if (!v)
        return IVT_ENOMEM;
    size_t j = 0;
    for (uint32_t i = 0; i < s->used_hi; i++) {
        struct ent *e = &s->ents[i];
        if (e->live)
            v[j++] = (struct victim){evidence_of(s, e), e->h, e->kind, i};
    }
    select_smallest(v, j, k);
    for (size_t i = 0; i < k && i < j; i++)
        ent_remove(s, v[i].idx);
    s->evictions += k < j ? k : j;
    free(v);
    return 0;
}

/* Finds (kind, h) or creates it with key. Returns the index, or NONE on
 * allocation failure. */
static void jrnl_compact(struct crdt_store *s);

static uint32_t ent_get_or_create(struct crdt_store *s, enum crdt_kind kind, uint64_t h,
                                  const void *key, size_t key_len, bool *created)
{
    uint32_t idx = ent_find(s, kind, h);
    *created = false;
    if (idx != NONE)
        return idx;
    if (s->nents >= s->cfg.max_entities && evict_batch(s))
        return NONE;
    if (tab_reserve(s))
        return NONE;
    if (key_len > CRDT_KEY_MAX)
        key_len = CRDT_KEY_MAX;
    char *k = crdt__small_get(&s->mem, key_len + 1);
    if (!k)
        return NONE;
    memcpy(k, key, key_len);
    k[key_len] = 0;
    if (s->free_head != NONE) {
        /* A slot reused by the same entity would take up the journal
         * entries of its removed record (same index, same hash): they
         * go first. */
        if (s->jremoved)
            jrnl_compact(s);
        idx = s->free_head;
        s->free_head = s->ents[idx].dnext;
    } else {
        idx = s->used_hi++;
    }
    struct ent *e = &s->ents[idx];
    memset(e, 0, sizeof(*e));
    e->h = h;
    e->kind = (uint8_t)kind;
    e->key = k;
    e->key_len = (uint8_t)key_len;
    e->live = 1;
    e->dprev = e->dnext = NONE;
    e->admitted = (uint8_t)(s->cfg.admit_kinds >> kind & 1);
    s->nadmitted += e->admitted;
    uint32_t k32 = key32(kind, h);
    uint64_t i = k32 & s->tmask;
    while (s->tab[i])
        i = (i + 1) & s->tmask;
    s->tab[i] = (uint64_t)k32 << 32 | (idx + 1);
    list_push(s, &s->bhead[bucket_of(s, h)], idx, LK_BUCKET);
    dirty_push(s, idx); /* no digest yet */
    s->nents++;
    *created = true;
    return idx;
}

static bool ent_empty(const struct ent *e)
{
    return !e->nslots && !e->npcells && !e->nbuckets;
}

/* Our own part of e's window sums (valid until e changes): the cache, or
 * recomputed from our slots and our events in promoted epochs. */
static const uint64_t *ent_local(struct ent *e)
{
    if (!e->local_ok) {
        ent_sums(e, true, e->local);
        e->local_ok = 1;
    }
    return e->local;
}

/* idx becomes shared: its digest now counts (re-encoded at the next
 * digest) and, if it holds evidence of ours, it goes out with the next
 * flush, all of it (a record never flushed has flushed == 0: all its
 * cells). Every own event counts, so our window counts say whether we
 * contributed. */
static void ent_admit(struct crdt_store *s, uint32_t idx)
{
    struct ent *e = &s->ents[idx];
    if (e->admitted)
        return;
    e->admitted = 1;
    s->nadmitted++;
    if (!e->dig_ok) /* already stale: it now counts in its bucket's */
        s->bdirty[bucket_of(s, e->h)]++;
    dig_invalidate(s, idx);
    const uint64_t *local = ent_local(e);
    for (int m = 0; m < CRDT_COUNTERS; m++)
        if (local[m]) {
            queue_push(s, idx);
            break;
        }
}

/* Replaces e's display key (len <= CRDT_KEY_MAX kept). Returns 0 or
 * IVT_ENOMEM (then e is unchanged). */
static int ent_set_key(struct crdt_store *s, struct ent *e, const void *key, size_t len)
{
    if (len > CRDT_KEY_MAX)
        len = CRDT_KEY_MAX;
    char *k = crdt__small_get(&s->mem, len + 1u);
    if (!k)
        return IVT_ENOMEM;
    memcpy(k, key, len);
    k[len] = 0;
    crdt__small_put(&s->mem, e->key, e->key_len + 1u);
    e->key = k;
    e->key_len = (uint8_t)len;
    return 0;
}

/* Everything e holds counts as sent: the next flush carries only what
 * rises after this. */
static void ent_mark_flushed(struct crdt_store *s, struct ent *e)
{
    e->flushed = s->ver;
    for (uint32_t i = 0; i < e->nbuckets; i++)
        e->buckets[i].risen = e->buckets[i].whole = 0;
}

/* Something in e rose: version it, drop caches. */
static void ent_rose(struct crdt_store *s, uint32_t idx)
{
    s->ents[idx].ver = s->ver;
    dig_invalidate(s, idx);
}

/* ... and queue it for flush (if admitted). */
static void ent_touch(struct crdt_store *s, uint32_t idx)
{
    ent_rose(s, idx);
    queue_push(s, idx);
}

/* ---- distinct sets ------------------------------------------------------ */

/* A promoted set's registers are followed by their histogram (kept as they
 * rise), so reading the estimate of a one-bucket window costs O(65 - p),
 * not a pass over 2^p registers. */
static inline size_t dset_reg_bytes(const struct crdt_store *s)
{
    return crdt_hll_size(s->cfg.distinct_hll_p) + CRDT_HLL_HIST * sizeof(uint32_t) +
           sizeof(struct dense_dh);
}

/* A promoted counter metric's registers are followed by their histogram
 * too: a merge that raises them re-estimates the epoch from it. */
static inline size_t creg_bytes(const struct crdt_store *s)
{
    return crdt_hll_size(s->cfg.counter_hll_p) + CRDT_HLL_HIST * sizeof(uint32_t);
}

static inline uint32_t *pcell_hist(const struct crdt_store *s, uint8_t *reg)
{
    /* 2^p >= 16 bytes in: as aligned as the allocation. */
    return (uint32_t *)(void *)(reg + crdt_hll_size(s->cfg.counter_hll_p));
}

/* Zeroed registers for a promoted counter metric: every register in the
 * histogram's bin 0. NULL when out of memory. */
static uint8_t *creg_get(struct crdt_store *s)
{
    uint8_t *reg = crdt__pool_get(&s->mem, &s->creg, true);
    if (reg)
        pcell_hist(s, reg)[0] = (uint32_t)crdt_hll_size(s->cfg.counter_hll_p);
    return reg;
}

static inline uint32_t *dset_hist(const struct crdt_store *s, const struct dset *d)
{
    /* 2^p >= 16 bytes in: as aligned as the allocation. */
    return (uint32_t *)(void *)(d->u.reg + crdt_hll_size(s->cfg.distinct_hll_p));
}

_Static_assert(CRDT_HLL_HIST * sizeof(uint32_t) % sizeof(uint64_t) == 0,
               "a dense set's digest cache is aligned after its histogram");

/* A dense set's register sum, after its histogram (dense_dh). */
static inline struct dense_dh *dset_dh(const struct crdt_store *s, const struct dset *d)
{
    return (struct dense_dh *)(void *)(d->u.reg + crdt_hll_size(s->cfg.distinct_hll_p) +
                                       CRDT_HLL_HIST * sizeof(uint32_t));
}

/* A register's term in its set's register sum: a keyed 64-bit mix (the
 * digest key's first word) of index << 8 | value, for value > 0. */
static inline uint64_t reg_term(const struct crdt_store *s, size_t idx, uint8_t v)
{
    return ivt_mix64(((uint64_t)idx << 8 | v) ^ s->rkey);
}

/* One item into a dense set, its histogram and register sum kept. Returns
 * 1 when a register rose, else 0. */
static inline int dense_add(struct crdt_store *s, struct dset *d, uint64_t item)
{
    struct crdt_hll_rise r;
    if (!crdt_hll_add_hist_rise(d->u.reg, dset_hist(s, d), s->cfg.distinct_hll_p, item, &r))
        return 0;
    struct dense_dh *c = dset_dh(s, d);
    c->sum += reg_term(s, r.idx, r.v) - (r.old ? reg_term(s, r.idx, r.old) : 0);
    return 1;
}

/* Sparse sets go dense past this many entries (1 KiB of entries: past it
 * inserts move too much, and 4 KiB of registers are not far off), or past
 * 2^p / 8 for small p, where the dense form is small anyway. */
enum { SPARSE_MAX = 256 };

static inline uint32_t dset_sparse_max(const struct crdt_store *s)
{
    size_t m = crdt_hll_size(s->cfg.distinct_hll_p) / 8;
    return m < SPARSE_MAX ? (uint32_t)m : SPARSE_MAX;
}

/* Raises register (idx, v) among the n sorted entries of sp, which have
 * room for one more. Returns true when a register rose. */
static bool sparse_put(uint32_t *sp, uint16_t *n, uint32_t idx, uint8_t v)
{
    uint32_t lo = 0, hi = *n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (sp[mid] >> 8 < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n && sp[lo] >> 8 == idx) {
        if ((sp[lo] & 0xff) >= v)
            return false;
        sp[lo] = idx << 8 | v;
        return true;
    }
    memmove(sp + lo + 1, sp + lo, (*n - lo) * sizeof(*sp));
    sp[lo] = idx << 8 | v;
    (*n)++;
    return true;
}

/* The registers of a sparse set raised into reg (2^p bytes). */
static void sparse_to_reg(const struct dset *d, uint8_t *reg)
{
    for (uint32_t i = 0; i < d->n; i++) {
        uint32_t x = d->u.sp[i];
        uint8_t v = (uint8_t)x;
        if (reg[x >> 8] < v)
            reg[x >> 8] = v;
    }
}

/* The register histogram of a sparse set. */
static void sparse_hist(const struct crdt_store *s, const struct dset *d,
                        uint32_t hist[CRDT_HLL_HIST])
{
    memset(hist, 0, CRDT_HLL_HIST * sizeof(*hist));
    hist[0] = (uint32_t)crdt_hll_size(s->cfg.distinct_hll_p) - d->n;
    for (uint32_t i = 0; i < d->n; i++)
        hist[d->u.sp[i] & 0xff]++;
}

/* A block for at least need sparse entries (capacity a power of two from
 * 4, in *cap), or NULL. */
static uint32_t *sparse_alloc(struct crdt_store *s, uint32_t need, uint16_t *cap)
{
    uint16_t c = 4;
    while (c < need)
        c = (uint16_t)(c * 2);
    *cap = c;
    return crdt__small_get(&s->mem, c * sizeof(uint32_t));
}

/* Replaces what d holds by the sparse entries sp (n of cap). */
static void dset_become_sparse(struct crdt_store *s, struct dset *d, uint32_t *sp, uint16_t n,
                               uint16_t cap)
{
    dset_free(s, d);
    d->u.sp = sp;
    d->n = n;
    d->cap = cap;
    d->promoted = DSET_SPARSE;
    s->shape++;
}

/* Makes d dense from the registers reg (2^p bytes, may be the scratch).
 * Returns 0 or IVT_ENOMEM (d unchanged). */
static int dset_dense_from(struct crdt_store *s, struct dset *d, const uint8_t *src)
{
    unsigned p = s->cfg.distinct_hll_p;
    uint8_t *reg = crdt__pool_get(&s->mem, &s->dreg, false);
    if (!reg)
        return IVT_ENOMEM;
    memcpy(reg, src, crdt_hll_size(p));
    crdt_hll_histogram((uint32_t *)(void *)(reg + crdt_hll_size(p)), reg, p);
    dset_free(s, d);
    d->u.reg = reg;
    d->promoted = DSET_DENSE;
    dset_dh(s, d)->ok = 0; /* summed at the next digest */
    s->shape++;
    return 0;
}

_Static_assert(CRDT_HLL_P_MIN >= 3, "registers come in whole 8-byte words");

/* The non-zero registers of reg (m of them), as sparse entries into sp
 * when not NULL; returns how many. Zero words are skipped: a set just
 * past exact holds a few dozen of 4,096 (a byte loop was 9 % of a
 * simulator's merges, the sparse sets' joins of a push-pull). */
static uint32_t reg_entries(const uint8_t *reg, size_t m, uint32_t *sp)
{
    uint32_t k = 0;
    for (size_t i = 0; i < m; i += 8) {
        uint64_t x;
        memcpy(&x, reg + i, sizeof(x));
        if (!x)
            continue;
        for (size_t j = i; j < i + 8; j++) {
            if (!reg[j])
                continue;
            if (sp)
                sp[k] = (uint32_t)j << 8 | reg[j];
            k++;
        }
    }
    return k;
}

/* Makes d sparse with the non-zero registers of reg, if there are at most
 * dset_sparse_max; dense otherwise. Returns 0 or IVT_ENOMEM (d unchanged). */
static int dset_from_reg(struct crdt_store *s, struct dset *d, const uint8_t *reg)
{
    size_t m = crdt_hll_size(s->cfg.distinct_hll_p);
    uint32_t k = reg_entries(reg, m, NULL);
    if (k > dset_sparse_max(s))
        return dset_dense_from(s, d, reg);
    uint16_t cap;
    uint32_t *sp = sparse_alloc(s, k, &cap);
    if (!sp)
        return IVT_ENOMEM;
    dset_become_sparse(s, d, sp, (uint16_t)reg_entries(reg, m, sp), cap);
    return 0;
}

/* Adds one item to a promoted set. Returns 1 when a register rose, 0, or
 * IVT_ENOMEM. */
static int dset_add_promoted(struct crdt_store *s, struct dset *d, uint64_t item)
{
    unsigned p = s->cfg.distinct_hll_p;
    if (d->promoted == DSET_DENSE)
        return dense_add(s, d, item);
    uint8_t v;
    uint32_t idx = (uint32_t)crdt_hll_place(item, p, &v);
    if (d->n == d->cap) {
        /* Full: a rise in place needs no room; a new entry does. */
        for (uint32_t i = 0; i < d->n; i++)
            if (d->u.sp[i] >> 8 == idx) {
                if ((d->u.sp[i] & 0xff) >= v)
                    return 0;
                d->u.sp[i] = idx << 8 | v;
                return 1;
            }
        if (d->n >= dset_sparse_max(s)) {
            memset(s->scratch_reg, 0, crdt_hll_size(p));
            sparse_to_reg(d, s->scratch_reg);
            int rc = dset_dense_from(s, d, s->scratch_reg);
            if (rc)
                return rc;
            return dense_add(s, d, item);
        }
        uint16_t cap = (uint16_t)(d->cap * 2);
        uint32_t *sp =
            crdt__small_resize(&s->mem, d->u.sp, d->cap * sizeof(*sp), cap * sizeof(*sp));
        if (!sp)
            return IVT_ENOMEM;
        d->u.sp = sp;
        d->cap = cap;
        s->shape++;
    }
    return sparse_put(d->u.sp, &d->n, idx, v);
}

/* Promotes an exact set: sparse when its items fit, dense otherwise. */
static int dset_promote(struct crdt_store *s, struct dset *d)
{
    unsigned p = s->cfg.distinct_hll_p;
    if (d->n >= dset_sparse_max(s)) {
        memset(s->scratch_reg, 0, crdt_hll_size(p));
        for (uint32_t i = 0; i < d->n; i++)
            crdt_hll_add(s->scratch_reg, p, dset_items(d)[i]);
        return dset_dense_from(s, d, s->scratch_reg);
    }
    /* Room for the items and the one the caller is about to add. */
    uint16_t cap, n = 0;
    uint32_t *sp = sparse_alloc(s, d->n + 1u, &cap);
    if (!sp)
        return IVT_ENOMEM;
    for (uint32_t i = 0; i < d->n; i++) {
        uint8_t v;
        uint32_t idx = (uint32_t)crdt_hll_place(dset_items(d)[i], p, &v);
        sparse_put(sp, &n, idx, v);
    }
    dset_become_sparse(s, d, sp, n, cap);
    return 0;
}

/* Adds one item (own: of one of our events, which lmask keeps). Returns 1
 * when the set grew, 0 when not, or IVT_ENOMEM. When an exact set's array
 * grows, the bytes it gained are added to *grew if grew is not NULL (the
 * caller accounts them), else the store's shape changes. */
static int dset_add_own(struct crdt_store *s, struct dset *d, uint64_t item, bool own,
                        uint32_t *grew)
{
    if (d->promoted)
        return dset_add_promoted(s, d, item);
    const uint64_t *items = dset_items(d);
    uint32_t lo = 0, hi = d->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (items[mid] < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < d->n && items[lo] == item) {
        if (own && lo < LMASK_BITS)
            d->lmask |= (uint16_t)(1u << lo);
        return 0;
    }
    if (d->n >= s->cfg.distinct_exact_max) {
        int rc = dset_promote(s, d);
        if (rc)
            return rc;
        rc = dset_add_promoted(s, d, item);
        return rc < 0 ? rc : 1;
    }
    if (d->n == (d->cap ? d->cap : 1)) {
        uint16_t cap = d->cap ? (uint16_t)(d->cap * 2) : 2;
        if (cap > s->cfg.distinct_exact_max)
            cap = (uint16_t)s->cfg.distinct_exact_max;
        uint64_t *p = crdt__small_resize(&s->mem, d->cap ? d->u.items : NULL, d->cap * sizeof(*p),
                                         cap * sizeof(*p));
        if (!p)
            return IVT_ENOMEM;
        if (!d->cap)
            p[0] = d->u.one; /* n == 1 here */
        if (grew)
            *grew += (uint32_t)(cap - d->cap) * (uint32_t)sizeof(*p);
        else
            s->shape++;
        d->u.items = p;
        d->cap = cap;
    }
    uint64_t *w = d->cap ? d->u.items : &d->u.one;
    memmove(w + lo + 1, w + lo, (d->n - lo) * sizeof(uint64_t));
    w[lo] = item;
    d->n++;
    d->lmask = lmask_insert(d->lmask, lo, own);
    return 1;
}

/* A peer's item (merges and snapshots). */
static int dset_add(struct crdt_store *s, struct dset *d, uint64_t item)
{
    return dset_add_own(s, d, item, false, NULL);
}

/* Room for one more element in an array that starts inside the record (at
 * inl, capacity 1) and moves to the heap, doubling, past that. Returns the
 * array (*cap updated), or NULL with nothing changed. */
static void *grow_small(void *arr, void *inl, uint32_t *cap, size_t size)
{
    if (!*cap) {
        *cap = 1;
        return inl;
    }
    uint32_t c = *cap * 2;
    void *p = arr == inl ? malloc(c * size) : realloc(arr, c * size);
    if (!p)
        return NULL;
    if (arr == inl)
        memcpy(p, inl, size);
    *cap = c;
    return p;
}

static struct bucket *bucket_get(struct crdt_store *s, struct ent *e, uint32_t b)
{
    uint32_t i = e->nbuckets;
    while (i > 0 && e->buckets[i - 1].b > b)
        i--;
    if (i > 0 && e->buckets[i - 1].b == b)
        return &e->buckets[i - 1];
    if (e->nbuckets == e->capbuckets) {
        uint32_t cap = e->capbuckets;
        struct bucket *p = grow_small(e->buckets, &e->bucket1, &cap, sizeof(*p));
        if (!p)
            return NULL;
        e->buckets = p;
        e->capbuckets = (uint16_t)cap;
        s->shape++;
    }
    memmove(e->buckets + i + 1, e->buckets + i, (e->nbuckets - i) * sizeof(*e->buckets));
    s->xmoved |= i == 0; /* the expiry key reads the first bucket */
    memset(&e->buckets[i], 0, sizeof(e->buckets[i]));
    e->buckets[i].b = b;
    e->nbuckets++;
    return &e->buckets[i];
}

/* Notes that our own event added item to set d of bk (see struct jrnl). */
static void jrnl_add(struct crdt_store *s, const struct ent *e, struct bucket *bk, int d,
                     uint64_t item)
{
    uint8_t bit = (uint8_t)(1u << d);
    /* A record not shared yet sends all of our part when it is admitted
     * (its first flush): whole sets, the journal would have lost its
     * entries by then (kept for queued records only). */
    if (!e->admitted)
        bk->whole |= bit;
    if (bk->whole & bit)
        return;
    if (s->jn == s->jcap && s->jstale)
        jrnl_compact(s);
    if (s->jn == s->jcap) {
        uint32_t cap = s->jcap ? s->jcap * 2 : JRNL_MIN;
        struct jrnl *p = cap <= JRNL_MAX ? realloc(s->jrnl, cap * sizeof(*p)) : NULL;
        if (!p) {
            bk->whole |= bit;
            return;
        }
        s->jrnl = p;
        s->jcap = cap;
    }
    s->jrnl[s->jn++] =
        (struct jrnl){e->h, item, s->ver, (uint32_t)(e - s->ents), bk->b, (uint8_t)d};
    s->jsorted = false;
    bk->risen |= bit;
}

/* Adds item to set d of the bucket holding epoch; own: for one of our
 * events. Returns 1 (grew), 0, or IVT_ENOMEM. */
static int ent_distinct_add(struct crdt_store *s, struct ent *e, uint32_t epoch, int d,
                            uint64_t item, bool own)
{
    uint32_t b = epoch / s->cfg.distinct_bucket_epochs;
    /* Most adds go to the latest bucket: found without a call. */
    struct bucket *bk = e->nbuckets && e->buckets[e->nbuckets - 1].b == b
                            ? &e->buckets[e->nbuckets - 1]
                            : bucket_get(s, e, b);
    if (!bk)
        return IVT_ENOMEM;
    /* A growing exact array is the one change of e's footprint an add
     * makes a quarter of the time: accounted here, not by a walk of e. */
    uint32_t grew = 0;
    int rc = dset_add_own(s, &bk->set[d], item, own, &grew);
    e->acct_bytes += grew;
    s->acct_bytes += grew;
    if (rc > 0) {
        bk->ver = s->ver;
        if (s->cfg.forward_merged)
            bk->risen |= (uint8_t)(1u << d);
        else if (own)
            jrnl_add(s, e, bk, d, item);
        e->dist_ok &= (uint8_t) ~(1u << d);
    }
    return rc;
}

/* ---- counters and promotion ---------------------------------------------- */

static uint64_t event_seed(const struct crdt_store *s, uint32_t origin, const struct ent *e,
                           uint32_t epoch, int m)
{
    uint8_t b[CRDT_ORIGIN_BYTES + 8 + 1 + 4 + 1];
    memcpy(b, s->origins[origin].bytes, CRDT_ORIGIN_BYTES);
    memcpy(b + CRDT_ORIGIN_BYTES, &e->h, 8);
    b[CRDT_ORIGIN_BYTES + 8] = e->kind;
    memcpy(b + CRDT_ORIGIN_BYTES + 9, &epoch, 4);
    b[CRDT_ORIGIN_BYTES + 13] = (uint8_t)m;
    return crdt_siphash(s->event_key, b, sizeof(b));
}

/* Inserts event ids from..to (inclusive) of origin into metric m of pc.
 * Returns 1 when a register rose, 0, or IVT_ENOMEM. */
static int pcell_insert(struct crdt_store *s, struct ent *e, struct pcell *pc, uint32_t origin,
                        int m, uint64_t from, uint64_t to)
{
    if (from > to)
        return 0;
    unsigned p = s->cfg.counter_hll_p;
    if (!pc->reg[m]) {
        pc->reg[m] = creg_get(s);
        if (!pc->reg[m])
            return IVT_ENOMEM;
        s->shape++;
    }
    /* A run (crdt/hll.h): from a remote slot's count, whatever it is, a
     * bounded number of adds. */
    return crdt_hll_add_run(pc->reg[m], pcell_hist(s, pc->reg[m]), p,
                            event_seed(s, origin, e, pc->epoch, m), from, to, NULL);
}

/* Metric m of pc rose: its estimate and e's fleet sums are stale. */
static void pcell_reestimate(struct ent *e, struct pcell *pc, int m)
{
    pc->est_stale |= (uint8_t)(1u << m);
    e->fleet_ok = 0;
}

/* Re-reads the stale estimates of pc: from the kept histogram, 56 bins at
 * p = 10 instead of 1,024 registers. */
static void pcell_estimate(const struct crdt_store *s, struct pcell *pc)
{
    for (unsigned bits = pc->est_stale; bits; bits &= bits - 1) {
        int m = __builtin_ctz(bits);
        pc->est[m] = pc->reg[m] ? (uint64_t)llround(crdt_hll_estimate_hist(
                                      pcell_hist(s, pc->reg[m]), s->cfg.counter_hll_p))
                                : 0;
    }
    pc->est_stale = 0;
}

static struct pcell *pcell_find(struct ent *e, uint32_t epoch)
{
    for (uint32_t i = e->npcells; i-- > 0;)
        if (e->pcells[i].epoch == epoch)
            return &e->pcells[i];
    return NULL;
}

/* Promotes the slots of epoch into a new promoted cell. Returns it, or NULL
 * on allocation failure (then nothing changed). */
static struct pcell *promote(struct crdt_store *s, struct ent *e, uint32_t epoch)
{
    if (e->npcells == e->cappcells) {
        uint16_t cap = e->cappcells ? (uint16_t)(e->cappcells * 2) : 1;
        struct pcell *p = realloc(e->pcells, cap * sizeof(*p));
        if (!p)
            return NULL;
        e->pcells = p;
        e->cappcells = cap;
    }
    uint32_t at = e->npcells;
    while (at > 0 && e->pcells[at - 1].epoch > epoch)
        at--;
    memmove(e->pcells + at + 1, e->pcells + at, (e->npcells - at) * sizeof(*e->pcells));
    struct pcell *pc = &e->pcells[at];
    s->xmoved = true;
    memset(pc, 0, sizeof(*pc));
    pc->epoch = epoch;
    pc->ver = s->ver;
    e->npcells++;
    s->shape++;
    uint32_t lo = 0;
    while (lo < e->nslots && e->slots[lo].epoch < epoch)
        lo++;
    uint32_t hi = lo;
    while (hi < e->nslots && e->slots[hi].epoch == epoch)
        hi++;
    for (uint32_t i = lo; i < hi; i++) {
        const struct slot *sl = &e->slots[i];
        for (int m = 0; m < CRDT_COUNTERS; m++) {
            if (pcell_insert(s, e, pc, sl->origin, m, 1, sl->c[m]) < 0)
                return NULL;
            if (sl->origin == SELF)
                pc->own[m] = sl->c[m];
        }
        s->origins[sl->origin].refs--;
    }
    if (hi > lo) {
        memmove(e->slots + lo, e->slots + hi, (e->nslots - hi) * sizeof(*e->slots));
        e->nslots -= hi - lo;
        e->fleet_ok = 0;
    }
    for (int m = 0; m < CRDT_COUNTERS; m++)
        pcell_reestimate(e, pc, m);
    return pc;
}

/* The slot (epoch, origin), inserted in canonical order if absent (then
 * *fresh is set). NULL on allocation failure. */
static struct slot *slot_get(struct crdt_store *s, struct ent *e, uint32_t epoch, uint32_t origin,
                             bool *fresh)
{
    uint32_t i = e->nslots;
    *fresh = false;
    while (i > 0 && (e->slots[i - 1].epoch > epoch ||
                     (e->slots[i - 1].epoch == epoch &&
                      origin_cmp_idx(s, e->slots[i - 1].origin, origin) > 0)))
        i--;
    if (i > 0 && e->slots[i - 1].epoch == epoch && e->slots[i - 1].origin == origin)
        return &e->slots[i - 1];
    if (e->nslots == e->capslots) {
        struct slot *p = grow_small(e->slots, &e->slot1, &e->capslots, sizeof(*p));
        if (!p)
            return NULL;
        e->slots = p;
        s->shape++;
    }
    memmove(e->slots + i + 1, e->slots + i, (e->nslots - i) * sizeof(*e->slots));
    struct slot *sl = &e->slots[i];
    s->xmoved |= i == 0; /* the expiry key reads the first slot */
    memset(sl, 0, sizeof(*sl));
    sl->epoch = epoch;
    sl->origin = origin;
    e->nslots++;
    s->origins[origin].refs++;
    *fresh = true;
    return sl;
}

static uint32_t slots_in_epoch(const struct ent *e, uint32_t epoch)
{
    uint32_t n = 0;
    for (uint32_t i = e->nslots; i-- > 0 && e->slots[i].epoch >= epoch;)
        n += e->slots[i].epoch == epoch;
    return n;
}

/* Joins slot (epoch, origin, c) into e. Returns 1 when e rose, 0, or
 * IVT_ENOMEM. */
static int counter_join(struct crdt_store *s, struct ent *e, uint32_t epoch, uint32_t origin,
                        const uint32_t *c)
{
    struct pcell *pc = pcell_find(e, epoch);
    int rose = 0;
    if (pc) {
        for (int m = 0; m < CRDT_COUNTERS; m++) {
            int rc = pcell_insert(s, e, pc, origin, m, 1, c[m]);
            if (rc < 0)
                return rc;
            if (rc) {
                pcell_reestimate(e, pc, m);
                rose = 1;
            }
        }
        if (rose)
            pc->ver = s->ver;
        return rose;
    }
    bool any = false;
    for (int m = 0; m < CRDT_COUNTERS; m++)
        any |= c[m] != 0;
    if (!any)
        return 0;
    bool fresh;
    struct slot *sl = slot_get(s, e, epoch, origin, &fresh);
    if (!sl)
        return IVT_ENOMEM;
    for (int m = 0; m < CRDT_COUNTERS; m++) {
        if (c[m] > sl->c[m]) {
            e->fleet_ok = 0;
            if (origin == SELF)
                e->local_ok = 0;
            sl->c[m] = c[m];
            rose = 1;
        }
    }
    if (rose)
        sl->ver = s->ver;
    if (fresh) {
        int rc = ent_distinct_add(s, e, epoch, ORIGIN_SET, s->origins[origin].hash, origin == SELF);
        if (rc < 0)
            return rc;
        if (slots_in_epoch(e, epoch) > s->cfg.counter_slots_max && !promote(s, e, epoch))
            return IVT_ENOMEM;
    }
    return rose;
}

/* ---- the local update path ------------------------------------------------ */

/* The item_mask bits of the public distinct sets. */
#define DISTINCT_MASK ((1u << CRDT_DISTINCTS) - 1)

_Static_assert(CRDT_COUNTERS == 6, "an update's counts read as three 64-bit words");

static inline uint64_t ld64(const uint32_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline void st64(uint32_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

/* The top bit of each 32-bit lane of a word. */
#define LANE_TOPS 0x8000000080000000ULL

static bool epoch_ok(const struct crdt_store *s, uint32_t epoch)
{
    return epoch >= s->floor && epoch <= s->cur + 1;
}

/* Our own events: raises our slot (or numbers new ids in a promoted epoch). */
static int own_add(struct crdt_store *s, uint32_t idx, uint32_t epoch, const uint32_t *add)
{
    struct ent *e = &s->ents[idx];
    struct pcell *pc = e->npcells ? pcell_find(e, epoch) : NULL;
    if (pc) {
        uint64_t before = 0, adds = 0;
        for (int m = 0; m < CRDT_COUNTERS; m++) {
            before |= pc->own[m];
            adds |= add[m];
        }
        /* Our first event in an epoch promoted by others' slots: we are
         * one more contributing origin, as a fresh slot would say. */
        if (!before && adds) {
            int rc = ent_distinct_add(s, e, epoch, ORIGIN_SET, s->origins[SELF].hash, true);
            if (rc < 0)
                return rc;
        }
        for (int m = 0; m < CRDT_COUNTERS; m++) {
            if (!add[m])
                continue;
            int rc = pcell_insert(s, e, pc, SELF, m, pc->own[m] + 1, pc->own[m] + add[m]);
            if (rc < 0)
                return rc;
            pc->own[m] += add[m];
            e->local_ok = 0;
            if (rc)
                pcell_reestimate(e, pc, m);
        }
        pc->ver = s->ver;
        return 0;
    }
    /* Fast path: our slot of this epoch is usually the last, or among the
     * last. */
    struct slot *sl = e->nslots ? &e->slots[e->nslots - 1] : NULL;
    if (sl && (sl->epoch != epoch || sl->origin != SELF)) {
        sl = NULL;
        for (uint32_t i = e->nslots - 1; i-- > 0 && e->slots[i].epoch >= epoch;)
            if (e->slots[i].epoch == epoch && e->slots[i].origin == SELF) {
                sl = &e->slots[i];
                break;
            }
    }
    if (!sl) {
        uint32_t c[CRDT_COUNTERS];
        for (int m = 0; m < CRDT_COUNTERS; m++)
            c[m] = add[m];
        return counter_join(s, e, epoch, SELF, c) < 0 ? IVT_ENOMEM : 0;
    }
    /* Two counts per 64-bit word: while every count and increment is below
     * 2^31 no lane carries into the next, so the words add as they are
     * (three named words: as arrays gcc went through the stack). */
    uint64_t c0 = ld64(sl->c), c1 = ld64(sl->c + 2), c2 = ld64(sl->c + 4);
    uint64_t a0 = ld64(add), a1 = ld64(add + 2), a2 = ld64(add + 4);
    if (!((c0 | c1 | c2 | a0 | a1 | a2) & LANE_TOPS)) {
        st64(sl->c, c0 + a0);
        st64(sl->c + 2, c1 + a1);
        st64(sl->c + 4, c2 + a2);
    } else {
        for (int m = 0; m < CRDT_COUNTERS; m++) {
            uint32_t a = add[m];
            if (a > UINT32_MAX - sl->c[m])
                a = UINT32_MAX - sl->c[m]; /* saturate: a slot never wraps */
            sl->c[m] += a;
        }
    }
    e->local_ok = e->fleet_ok = 0;
    sl->ver = s->ver;
    return 0;
}

/*
 * Prefetching. With a million entities every lookup misses the cache, and
 * an update's misses form a chain: table slot, then the record, then its
 * slot and bucket arrays, then the set's items or HLL register. Done one
 * update after another that is three or four round trips to DRAM per
 * entity. So updates go in groups of PREFETCH_GROUP, taken in order from
 * the call's events (a group may span several events): each stage issues
 * the prefetches of every update of the group before any waits, and the
 * misses of a group overlap. The stages only read; the apply stage
 * re-finds every entity (a create or an eviction in between may have
 * moved things), so a stale hint costs time, never correctness.
 *
 * A software pipeline across events (prefetching the table slots of the
 * update PIPE ahead, the records of the one PIPE/2 ahead, while applying
 * one update at a time) measured slower on the 2-core VM than these
 * groups (633-735 k against 725-782 k events/s, docs/benchmarks.md,
 * "Batched updates"), and groups of 32 or 64 no better than 16: with the
 * store on huge pages an event is bound by its memory and instruction
 * throughput, not by waiting in turn for its three stages. Measured again
 * in session 7, with stage C's prefetches restored: a ring of 32 updates
 * at several stage distances, and groups of 8 to 64, no better than these
 * groups of 16 ("Session 7" there); the stages alone now take about three
 * quarters of a batched event.
 */
enum { PREFETCH_GROUP = 16 }; /* updates whose misses overlap: 3 events */

/*
 * The stages that only prefetch are forced inline. gcc counts a prefetch
 * as no side effect, so a function whose only effects are prefetches is
 * pure to it, and a call to it whose result is unused is deleted: gcc 12
 * at -O2 kept prefetch_parts out of line and deleted every call, so until
 * session 7 the set arrays were never prefetched (the apply stage waited
 * a full miss on each exact set's items). Inline, the prefetches stay.
 */
#define PREFETCH_FN static inline __attribute__((always_inline))

PREFETCH_FN void prefetch_span(const void *p, size_t len)
{
    const char *c = p;
    for (size_t o = 0; o < len; o += 64)
        __builtin_prefetch(c + o, 1);
    __builtin_prefetch(c + len - 1, 1);
}

/* Stage 3: the arrays an update of e in epoch will write, and the line of
 * e's links if the update will queue it for flush or make its digest
 * stale (a daemon flushes and digests often: then the first update
 * after each does both). Arrays inside the record (slot1, bucket1) came
 * with stage B's lines. The latest bucket is taken for the epoch's
 * without a division: when it is an older one, a prefetch is wasted. */
PREFETCH_FN void prefetch_parts(const struct crdt_store *s, const struct ent *e, uint32_t epoch,
                                const struct crdt_update *x)
{
    if (e->dig_ok || (e->admitted && !e->queued))
        __builtin_prefetch((const char *)e + ENT_HOT, 1);
    if (e->slots != &e->slot1 && e->nslots)
        prefetch_span(&e->slots[e->nslots - 1], sizeof(struct slot));
    unsigned mask = x->item_mask & DISTINCT_MASK;
    if (!mask) {
        /* Our first event of an epoch adds our origin to the bucket's
         * contributors: the sets' line, which stage B left out when the
         * update itself adds no item. */
        if (e->buckets == &e->bucket1 && (!e->nslots || e->slots[e->nslots - 1].epoch != epoch ||
                                          e->slots[e->nslots - 1].origin != SELF))
            __builtin_prefetch(e->bucket1.set, 1);
        return;
    }
    if (!e->nbuckets)
        return;
    const struct bucket *bk = &e->buckets[e->nbuckets - 1];
    for (; mask; mask &= mask - 1) {
        int d = __builtin_ctz(mask);
        const struct dset *ds = &bk->set[d];
        if (ds->promoted == DSET_DENSE)
            __builtin_prefetch(
                ds->u.reg + (x->item[d] & (crdt_hll_size(s->cfg.distinct_hll_p) - 1)), 1);
        else if (ds->promoted == DSET_SPARSE)
            prefetch_span(ds->u.sp, ds->n * sizeof(uint32_t));
        else if (ds->cap)
            prefetch_span(ds->u.items, ds->n * sizeof(uint64_t));
    }
}

/* Applies one update (entity hash h; hint: the record the table named
 * when the update was prefetched, or NONE). Returns 0, IVT_ENOMEM. */
static int update_one(struct crdt_store *s, uint32_t epoch, const struct crdt_update *x, uint64_t h,
                      uint32_t hint)
{
    /* The hint names the entity if that record is live and carries its
     * key (live records are unique): no second probe of the table. */
    bool created = false;
    uint32_t idx = hint;
    if (idx == NONE || !s->ents[idx].live || s->ents[idx].h != h || s->ents[idx].kind != x->kind)
        idx = ent_get_or_create(s, x->kind, h, x->key, x->key_len, &created);
    if (idx == NONE)
        return IVT_ENOMEM;
    s->ver++;
    struct ent *e = &s->ents[idx];
    uint64_t shape = s->shape;
    s->xmoved = false;
    if (!e->key_len && x->key_len) { /* known so far from keyless deltas only */
        if (ent_set_key(s, e, x->key, x->key_len))
            return IVT_ENOMEM;
        s->shape++; /* the key's bytes are in the footprint */
    }
    int rc = own_add(s, idx, epoch, x->add);
    for (unsigned mask = x->item_mask & ((1u << CRDT_DISTINCTS) - 1); rc == 0 && mask;
         mask &= mask - 1) {
        int d = __builtin_ctz(mask);
        rc = ent_distinct_add(s, e, epoch, d, x->item[d], true) < 0 ? IVT_ENOMEM : 0;
    }
    if (created || s->shape != shape)
        ent_account(s, e);
    if (created || s->xmoved)
        ent_xfile(s, idx);
    if (rc)
        return rc;
    ent_touch(s, idx);
    return 0;
}

/* What the stages learned of one update of a group. */
struct pipe_slot {
    const struct crdt_update *x;
    size_t ev;     /* its event's index */
    uint64_t h;    /* entity hash */
    uint32_t hint; /* the record the table named (stage B), or NONE */
    uint8_t state; /* PIPE_* below */
};

enum { PIPE_SKIP, PIPE_BAD, PIPE_GO };

/* A position in the updates of a call: event ev, its update j. */
struct pipe_pos {
    size_t ev, j;
};

/* Stage A: checks the update, hashes it, prefetches its table slot. (A
 * stale event's updates are prefetched too: the apply loop refuses the
 * event before it looks at them, and stale events are rare.) */
static void pipe_stage_a(const struct crdt_store *s, struct pipe_slot *p)
{
    const struct crdt_update *x = p->x;
    p->hint = NONE;
    p->state = PIPE_SKIP;
    if ((unsigned)x->kind >= CRDT_KINDS || !x->key_len) {
        p->state = PIPE_BAD;
        return;
    }
    /* Any increment or item: the counts ORed as words (unaligned loads). */
    if (!(x->item_mask | ld64(x->add) | ld64(x->add + 2) | ld64(x->add + 4)))
        return;
    p->state = PIPE_GO;
    p->h = x->hash ? x->hash : crdt_store_key_hash(s, x->kind, x->key, x->key_len);
    __builtin_prefetch(&s->tab[key32(x->kind, p->h) & s->tmask]);
}

/* Stage B: the record the table names (its slot has arrived by now). */
static inline void pipe_stage_b(const struct crdt_store *s, struct pipe_slot *p)
{
    if (p->state != PIPE_GO)
        return;
    p->hint = tab_lookup(s, p->x->kind, p->h, false);
    if (p->hint == NONE)
        return;
    /* The record's lines one by one (ENT_NOSET and ENT_HOT are whole
     * lines): a loop over a length cost more than the prefetches. */
    const char *c = (const char *)&s->ents[p->hint];
    __builtin_prefetch(c, 1);
    __builtin_prefetch(c + 64, 1);
    if (p->x->item_mask & DISTINCT_MASK)
        __builtin_prefetch(c + ENT_NOSET, 1);
}

/* Stage C: the arrays the record points to (the record has arrived). */
PREFETCH_FN void pipe_stage_c(const struct crdt_store *s, const struct pipe_slot *p, uint32_t epoch)
{
    if (p->hint != NONE && s->ents[p->hint].live)
        prefetch_parts(s, &s->ents[p->hint], epoch, p->x);
}

/* Runs the three prefetch stages over the next group: up to PREFETCH_GROUP
 * updates from *at, which it advances (empty events are stepped over).
 * Returns the group's size, 0 at the end. */
static size_t pipe_group(const struct crdt_store *s, struct pipe_slot *g,
                         const struct crdt_event *ev, size_t n, struct pipe_pos *at)
{
    size_t k = 0, e = at->ev, j = at->j;
    while (k < PREFETCH_GROUP && e < n) {
        const struct crdt_update *u = ev[e].u;
        size_t m = ev[e].n;
        for (; j < m && k < PREFETCH_GROUP; j++, k++) {
            g[k].x = &u[j];
            g[k].ev = e;
            pipe_stage_a(s, &g[k]);
        }
        if (j >= m) {
            e++;
            j = 0;
        }
    }
    at->ev = e;
    at->j = j;
    for (size_t i = 0; i < k; i++)
        pipe_stage_b(s, &g[i]);
    for (size_t i = 0; i < k; i++)
        pipe_stage_c(s, &g[i], ev[g[i].ev].epoch);
    return k;
}

int crdt_store_update_batch(struct crdt_store *s, int *rc, const struct crdt_event *ev, size_t n,
                            void (*done)(void *ctx, size_t i, int rc), void *ctx)
{
    struct pipe_slot g[PREFETCH_GROUP];
    struct pipe_pos at = {0, 0};
    size_t i = 0; /* the event being applied: the ones before it are done */
    int first = 0;
    int erc = n && !epoch_ok(s, ev[0].epoch) ? IVT_ESTALE : 0;
    for (;;) {
        size_t k = pipe_group(s, g, ev, n, &at);
        /* After the last group, the events left (empty ones) end too. */
        size_t upto = k ? g[0].ev : n;
        for (size_t t = 0;; t++) {
            /* Events before the next update's are complete: their results
             * go out, in order, before it applies. */
            for (; i < upto; i++) {
                if (rc)
                    rc[i] = erc;
                if (erc && !first)
                    first = erc;
                if (done)
                    done(ctx, i, erc);
                if (i + 1 < n)
                    erc = epoch_ok(s, ev[i + 1].epoch) ? 0 : IVT_ESTALE;
            }
            if (t == k)
                break;
            const struct pipe_slot *p = &g[t];
            upto = t + 1 < k ? g[t + 1].ev : p->ev;
            if (erc == IVT_ESTALE || erc == IVT_ENOMEM || p->state == PIPE_SKIP)
                continue;
            if (p->state == PIPE_BAD) {
                erc = IVT_EINVAL; /* the event's other updates still apply */
                continue;
            }
            if (update_one(s, ev[i].epoch, p->x, p->h, p->hint))
                erc = IVT_ENOMEM; /* the event's later updates are not applied */
        }
        if (!k)
            return first;
    }
}

int crdt_store_update(struct crdt_store *s, uint32_t epoch, const struct crdt_update *u, size_t n)
{
    struct crdt_event ev = {epoch, u, n};
    return crdt_store_update_batch(s, NULL, &ev, 1, NULL, NULL);
}

/* ---- expiry ------------------------------------------------------------- */

/* Drops what is older than the window from e. Returns true if anything went. */
static bool ent_expire(struct crdt_store *s, struct ent *e)
{
    uint32_t fl = s->floor, bfl = fl / s->cfg.distinct_bucket_epochs;
    uint32_t ns = 0, np = 0, nb = 0;
    /* our expired counts leave the sums (recomputed when read) */
    e->local_ok = e->fleet_ok = 0;
    while (ns < e->nslots && e->slots[ns].epoch < fl) {
        s->origins[e->slots[ns].origin].refs--;
        ns++;
    }
    while (np < e->npcells && e->pcells[np].epoch < fl) {
        struct pcell *pc = &e->pcells[np];
        for (int m = 0; m < CRDT_COUNTERS; m++)
            crdt__pool_put(&s->creg, pc->reg[m]);
        np++;
    }
    while (nb < e->nbuckets && e->buckets[nb].b < bfl) {
        for (int d = 0; d < NSETS; d++)
            dset_free(s, &e->buckets[nb].set[d]);
        nb++;
    }
    if (!ns && !np && !nb)
        return false;
    /* Arrays may be NULL when their count is 0: move only what went. */
    if (ns) {
        memmove(e->slots, e->slots + ns, (e->nslots - ns) * sizeof(*e->slots));
        e->nslots -= ns;
    }
    if (np) {
        memmove(e->pcells, e->pcells + np, (e->npcells - np) * sizeof(*e->pcells));
        e->npcells = (uint16_t)(e->npcells - np);
    }
    if (nb) {
        memmove(e->buckets, e->buckets + nb, (e->nbuckets - nb) * sizeof(*e->buckets));
        e->nbuckets = (uint16_t)(e->nbuckets - nb);
    }
    dig_invalidate(s, (uint32_t)(e - s->ents));
    if (nb)
        e->dist_ok = 0;
    return true;
}

/* Drops what e holds below the floor: removes it when nothing is left,
 * files it under its next key otherwise. e must be off every expiry list
 * (xkey 0). Returns 1 when it was removed. */
static size_t ent_roll(struct crdt_store *s, uint32_t idx)
{
    struct ent *e = &s->ents[idx];
    uint16_t np = e->npcells, nb = e->nbuckets;
    if (!ent_expire(s, e)) {
        ent_xfile(s, idx);
        return 0;
    }
    /* Dropped slots free nothing (their array keeps its capacity). */
    if (e->npcells != np || e->nbuckets != nb)
        ent_account(s, e);
    if (ent_empty(e)) {
        ent_remove(s, idx);
        return 1;
    }
    ent_xfile(s, idx);
    return 0;
}

/* Past 2/3 of the live records to visit, a roll walks the slab in order
 * and files every record again: the lists visit records in random order,
 * a cache miss each (at 1 M: 120 ns a record through the lists, 83 ns a
 * record for the walk). */
enum { XWALK_NUM = 2, XWALK_DEN = 3 };

bool crdt_store_tick_begin(struct crdt_store *s, ivt_ms wall, size_t *removed)
{
    uint32_t now = crdt_store_epoch_of(s, wall);
    if (now <= s->cur)
        return false;
    /* One roll at a time: a pending one is finished first. */
    while (crdt_store_tick_step(s, SIZE_MAX, removed))
        ;
    s->cur = now;
    uint32_t fl = floor_of(s, now), old = s->floor;
    if (fl == old)
        return false;
    s->floor = fl;
    /* The lists of keys old+1 .. fl hold every record with evidence older
     * than fl (keys of live records were above the old floor); past a full
     * turn of the ring, every list. A list may also hold records of later
     * keys (same slot of the ring): those stay. */
    uint32_t lists = fl - old < s->xring ? fl - old : s->xring;
    uint64_t visit = 0;
    for (uint32_t j = 1; j <= lists; j++)
        visit += s->xcount[(old + j) % s->xring];
    s->roll.old = old;
    s->roll.removed = 0;
    if (visit * XWALK_DEN > (uint64_t)s->nents * XWALK_NUM) {
        for (uint32_t k = 0; k < s->xring; k++) {
            s->xhead[k] = NONE;
            s->xcount[k] = 0;
        }
        s->roll.mode = ROLL_WALK;
        s->roll.cursor = 0;
    } else {
        s->roll.mode = ROLL_LISTS;
        s->roll.lists = lists;
        s->roll.j = 1;
    }
    return true;
}

/* Visits up to budget records of a ROLL_WALK. Returns how many it did. */
static size_t roll_walk(struct crdt_store *s, size_t budget)
{
    size_t done = 0;
    while (done < budget && s->roll.cursor < s->used_hi) {
        uint32_t i = s->roll.cursor++; /* first: ent_roll files it */
        if (!s->ents[i].live)
            continue;
        s->ents[i].xkey = 0; /* its list is gone */
        s->roll.removed += ent_roll(s, i);
        done++;
    }
    if (s->roll.cursor >= s->used_hi)
        s->roll.mode = ROLL_NONE;
    return done;
}

/* Visits up to budget records of a ROLL_LISTS. Each is taken off its list
 * before it is rolled, so what runs between two steps finds the calendar
 * whole. */
static size_t roll_lists(struct crdt_store *s, size_t budget)
{
    size_t done = 0;
    uint32_t fl = s->floor;
    while (done < budget && s->roll.j <= s->roll.lists) {
        uint32_t slot = (s->roll.old + s->roll.j) % s->xring, idx = s->xhead[slot];
        while (idx != NONE && s->ents[idx].xkey > fl)
            idx = s->ents[idx].lk[LK_EXPIRY].next; /* a later key: stays */
        if (idx == NONE) {
            s->roll.j++;
            continue;
        }
        list_unlink(s, &s->xhead[slot], idx, LK_EXPIRY);
        s->xcount[slot]--;
        s->ents[idx].xkey = 0;
        s->roll.removed += ent_roll(s, idx);
        done++;
    }
    if (s->roll.j > s->roll.lists)
        s->roll.mode = ROLL_NONE;
    return done;
}

bool crdt_store_tick_step(struct crdt_store *s, size_t budget, size_t *removed)
{
    if (s->roll.mode == ROLL_WALK)
        roll_walk(s, budget);
    else if (s->roll.mode == ROLL_LISTS)
        roll_lists(s, budget);
    else
        return false;
    if (s->roll.mode != ROLL_NONE)
        return true;
    s->expired += s->roll.removed;
    *removed += s->roll.removed;
    s->roll.removed = 0;
    origins_gc(s);
    return false;
}

bool crdt_store_tick_pending(const struct crdt_store *s)
{
    return s->roll.mode != ROLL_NONE;
}

size_t crdt_store_tick(struct crdt_store *s, ivt_ms wall)
{
    size_t removed = 0;
    if (crdt_store_tick_begin(s, wall, &removed))
        while (crdt_store_tick_step(s, SIZE_MAX, &removed))
            ;
    return removed;
}

int crdt__store_check_hist(const struct crdt_store *s)
{
    uint32_t fresh[CRDT_HLL_HIST];
    unsigned pc = s->cfg.counter_hll_p, pd = s->cfg.distinct_hll_p;
    for (uint32_t i = 0; i < s->used_hi; i++) {
        const struct ent *e = &s->ents[i];
        if (!e->live)
            continue;
        for (uint32_t j = 0; j < e->npcells; j++)
            for (int m = 0; m < CRDT_COUNTERS; m++) {
                uint8_t *reg = e->pcells[j].reg[m];
                if (!reg)
                    continue;
                crdt_hll_histogram(fresh, reg, pc);
                if (memcmp(fresh, pcell_hist(s, reg), sizeof(fresh)))
                    return IVT_EINVAL;
                /* A stale estimate must not be served: the sums are too. */
                if (e->pcells[j].est_stale >> m & 1
                        ? e->fleet_ok
                        : e->pcells[j].est[m] != (uint64_t)llround(crdt_hll_estimate(reg, pc)))
                    return IVT_EINVAL;
            }
        for (uint32_t j = 0; j < e->nbuckets; j++)
            for (int d = 0; d < NSETS; d++) {
                const struct dset *ds = &e->buckets[j].set[d];
                if (ds->promoted != DSET_DENSE)
                    continue;
                crdt_hll_histogram(fresh, ds->u.reg, pd);
                if (memcmp(fresh, dset_hist(s, ds), sizeof(fresh)))
                    return IVT_EINVAL;
            }
    }
    return 0;
}

int crdt__store_check_expiry(const struct crdt_store *s)
{
    uint32_t bfl = s->floor / s->cfg.distinct_bucket_epochs;
    for (uint32_t i = 0; i < s->used_hi; i++) {
        const struct ent *e = &s->ents[i];
        if (!e->live)
            continue;
        if ((e->nslots && e->slots[0].epoch < s->floor) ||
            (e->npcells && e->pcells[0].epoch < s->floor) || (e->nbuckets && e->buckets[0].b < bfl))
            return IVT_EINVAL; /* evidence older than the window */
        if (!e->xkey || e->xkey != ent_xkey(s, e))
            return IVT_EINVAL;
        uint32_t idx = s->xhead[e->xkey % s->xring];
        while (idx != NONE && idx != i)
            idx = s->ents[idx].lk[LK_EXPIRY].next;
        if (idx != i)
            return IVT_EINVAL; /* not in the list of its key */
    }
    for (uint32_t k = 0; k < s->xring; k++) {
        uint32_t n = 0;
        for (uint32_t idx = s->xhead[k]; idx != NONE; idx = s->ents[idx].lk[LK_EXPIRY].next)
            n++;
        if (n != s->xcount[k])
            return IVT_EINVAL;
    }
    return 0;
}

/* ---- queries ---------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The distinct values among scratch_items[0, k), which it sorts. */
static uint64_t scratch_unique(struct crdt_store *s, size_t k)
{
    if (k > 1) /* qsort of an empty, never-allocated scratch is UB */
        qsort(s->scratch_items, k, sizeof(uint64_t), cmp_u64);
    uint64_t uniq = 0;
    for (size_t i = 0; i < k; i++)
        uniq += i == 0 || s->scratch_items[i] != s->scratch_items[i - 1];
    return uniq;
}

static bool scratch_items_reserve(struct crdt_store *s, size_t n);

/* The window union of set d: exact when every bucket is exact. */
static uint64_t distinct_window(struct crdt_store *s, const struct ent *e, int d)
{
    bool promoted = false;
    size_t total = 0;
    const struct dset *only = NULL; /* the one non-empty set, if one */
    uint32_t nonempty = 0;
    for (uint32_t i = 0; i < e->nbuckets; i++) {
        const struct dset *ds = &e->buckets[i].set[d];
        promoted |= ds->promoted;
        total += ds->n;
        if (ds->promoted || ds->n) {
            only = ds;
            nonempty++;
        }
    }
    if (promoted) {
        unsigned p = s->cfg.distinct_hll_p;
        if (nonempty == 1 && only->promoted == DSET_DENSE) /* nothing to unite: no copy */
            return (uint64_t)llround(crdt_hll_estimate_hist(dset_hist(s, only), p));
        if (nonempty == 1) {
            uint32_t hist[CRDT_HLL_HIST];
            sparse_hist(s, only, hist);
            return (uint64_t)llround(crdt_hll_estimate_hist(hist, p));
        }
        memset(s->scratch_reg, 0, crdt_hll_size(p));
        for (uint32_t i = 0; i < e->nbuckets; i++) {
            const struct dset *ds = &e->buckets[i].set[d];
            if (ds->promoted == DSET_DENSE)
                crdt_hll_merge(s->scratch_reg, ds->u.reg, p);
            else if (ds->promoted == DSET_SPARSE)
                sparse_to_reg(ds, s->scratch_reg);
            else
                for (uint32_t j = 0; j < ds->n; j++)
                    crdt_hll_add(s->scratch_reg, p, dset_items(ds)[j]);
        }
        return (uint64_t)llround(crdt_hll_estimate(s->scratch_reg, p));
    }
    if (e->nbuckets == 1 || total == 0)
        return total;
    if (!scratch_items_reserve(s, total))
        return total; /* an upper bound is the safe side for a count */
    size_t k = 0;
    for (uint32_t i = 0; i < e->nbuckets; i++) {
        const struct dset *ds = &e->buckets[i].set[d];
        if (ds->n)
            memcpy(s->scratch_items + k, dset_items(ds), ds->n * sizeof(uint64_t));
        k += ds->n;
    }
    return scratch_unique(s, k);
}

/*
 * Our own part of set d's window union: the items of our events, exact
 * while every bucket's set is exact (lmask); -1 once one is promoted (a
 * HyperLogLog keeps no item, so not whose it was). After a restart our
 * items count from the restart, as our counters do (a new generation).
 */
static int64_t distinct_local(struct crdt_store *s, const struct ent *e, int d)
{
    if (e->nbuckets == 1) { /* most records: no union to take */
        const struct dset *ds = &e->buckets[0].set[d];
        return ds->promoted || ds->n > LMASK_BITS ? -1 : __builtin_popcount(ds->lmask);
    }
    size_t total = 0;
    for (uint32_t i = 0; i < e->nbuckets; i++) {
        const struct dset *ds = &e->buckets[i].set[d];
        if (ds->promoted || ds->n > LMASK_BITS)
            return -1;
        total += (size_t)__builtin_popcount(ds->lmask);
    }
    if (total == 0)
        return 0;
    if (!scratch_items_reserve(s, total))
        return (int64_t)total; /* an upper bound, as distinct_window's */
    size_t k = 0;
    for (uint32_t i = 0; i < e->nbuckets; i++) {
        const struct dset *ds = &e->buckets[i].set[d];
        for (uint32_t j = 0; j < ds->n; j++)
            if (ds->lmask >> j & 1)
                s->scratch_items[k++] = dset_items(ds)[j];
    }
    return (int64_t)scratch_unique(s, k);
}

static void view_fill(struct crdt_store *s, struct crdt_view *v, struct ent *e)
{
    for (int d = 0; d < NSETS; d++)
        if (!(e->dist_ok & (1u << d))) {
            e->dist[d] = distinct_window(s, e, d);
            e->dist_ok |= (uint8_t)(1u << d);
        }
    v->kind = (enum crdt_kind)e->kind;
    v->hash = e->h;
    v->key = e->key;
    v->key_len = e->key_len;
    memcpy(v->fleet, ent_fleet(s, e), sizeof(v->fleet));
    memcpy(v->local, ent_local(e), sizeof(v->local));
    memcpy(v->distinct, e->dist, sizeof(v->distinct));
    for (int d = 0; d < CRDT_DISTINCTS; d++)
        v->local_distinct[d] = distinct_local(s, e, d);
    v->origins = e->dist[ORIGIN_SET];
    v->admitted = e->admitted;
    v->first_epoch = v->last_epoch = 0;
    bool approx = e->npcells != 0;
    if (e->nslots || e->npcells) {
        uint32_t lo = UINT32_MAX, hi = 0;
        if (e->nslots) {
            lo = e->slots[0].epoch;
            hi = e->slots[e->nslots - 1].epoch;
        }
        if (e->npcells) {
            if (e->pcells[0].epoch < lo)
                lo = e->pcells[0].epoch;
            if (e->pcells[e->npcells - 1].epoch > hi)
                hi = e->pcells[e->npcells - 1].epoch;
        }
        v->first_epoch = lo;
        v->last_epoch = hi;
    }
    for (uint32_t i = 0; i < e->nbuckets && !approx; i++)
        for (int d = 0; d < NSETS; d++)
            approx |= e->buckets[i].set[d].promoted;
    v->approximate = approx;
}

int crdt_store_get_hash(struct crdt_store *s, struct crdt_view *out, enum crdt_kind kind,
                        uint64_t hash)
{
    uint32_t idx = ent_find(s, kind, hash);
    if (idx == NONE)
        return IVT_ENOENT;
    view_fill(s, out, &s->ents[idx]);
    return 0;
}

int crdt_store_admit(struct crdt_store *s, enum crdt_kind kind, uint64_t hash)
{
    uint32_t idx = ent_find(s, kind, hash);
    if (idx == NONE)
        return IVT_ENOENT;
    ent_admit(s, idx);
    return 0;
}

int crdt_store_admitted(const struct crdt_store *s, enum crdt_kind kind, uint64_t hash)
{
    uint32_t idx = ent_find(s, kind, hash);
    return idx == NONE ? IVT_ENOENT : s->ents[idx].admitted;
}

int crdt_store_get(struct crdt_store *s, struct crdt_view *out, enum crdt_kind kind,
                   const void *key, size_t len)
{
    if ((unsigned)kind >= CRDT_KINDS || !len)
        return IVT_EINVAL;
    return crdt_store_get_hash(s, out, kind, crdt_store_key_hash(s, kind, key, len));
}

void crdt_store_prefetch(const struct crdt_store *s, const enum crdt_kind *kinds,
                         const uint64_t *hashes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        __builtin_prefetch(&s->tab[key32(kinds[i], hashes[i]) & s->tmask]);
    for (size_t i = 0; i < n; i++) {
        uint32_t idx = tab_lookup(s, kinds[i], hashes[i], false);
        if (idx != NONE)
            prefetch_span(&s->ents[idx], sizeof(struct ent));
    }
}

bool crdt_store_next(struct crdt_store *s, uint32_t *cursor, struct crdt_view *out)
{
    while (*cursor < s->used_hi) {
        struct ent *e = &s->ents[(*cursor)++];
        if (e->live) {
            view_fill(s, out, e);
            return true;
        }
    }
    return false;
}

/* ---- encoding ----------------------------------------------------------- */

/* How an entity is written: for a message (origins by their index in the
 * message's origin table), or for its digest (hashed, never parsed: slots
 * and exact sets as fixed-size words, origins by their keyed hash, each
 * promoted epoch as the hash of its sketches, pcell_digest). */
enum omode { O_MESSAGE, O_DIGEST };

/*
 * The parts of a record are written through a cursor (base/mp.h): room for
 * a bound on a part is reserved, its values are stored with the
 * ivt_mp_put_* and the part is committed. A repair encodes some 16,000
 * records and a digest pass tens of thousands, each a few dozen small
 * values: a call through msgpack-c's packer and its write callback per
 * value (a bounds check and a memcpy of one to nine bytes) was most of
 * the encoding's time. The bytes are the same (msgpack's shortest forms).
 * A reservation fails only when the writer cannot grow (no memory): the
 * part is then left out, and the writer's error tells the caller.
 */

/* Most bytes of a slot in a message, [epoch, origin, c0 .. c5]: every
 * field a uint32 (5 bytes at most), after a one-byte array header. */
enum { SLOT_MSG_MAX = 1 + 5 * (2 + CRDT_COUNTERS) };

/* Most bytes of a record's head, [kind, h, key ...: array header, two
 * uints and the key's bin header (the key itself comes on top). */
enum { ENT_HEAD_MAX = 1 + 2 * IVT_MP_UINT_MAX + IVT_MP_BIN_HEAD_MAX };

/* An origin by its index in the message's origin table. */
static uint8_t *put_origin_ref(struct crdt_store *s, uint8_t *p, uint32_t idx)
{
    struct origin_rec *o = &s->origins[idx];
    if (o->stamp != s->msg_stamp) {
        o->stamp = s->msg_stamp;
        o->msg = s->msg_norigins;
        s->msg_origins[s->msg_norigins++] = idx;
    }
    return ivt_mp_put_uint(p, o->msg);
}

/* Most bytes an exact or sparse set d takes through put_dset or
 * put_dset_digest: a header, then at most a uint's bytes per item (sparse
 * entries take 3). Dense sets are crdt_hll_encode's. */
static inline size_t dset_put_max(const struct dset *d)
{
    return IVT_MP_ARRAY_MAX + (size_t)IVT_MP_UINT_MAX * d->n;
}

/* An exact or sparse set at p (dset_put_max bytes at most). */
static uint8_t *put_dset(uint8_t *p, const struct dset *d)
{
    if (d->promoted == DSET_SPARSE) {
        /* crdt_hll_encode's sparse form (dset_sparse_max keeps 3n < 2^p):
         * [index hi, index lo, value] per register, in index order. */
        p = ivt_mp_put_bin_head(p, 3u * d->n);
        for (uint32_t i = 0; i < d->n; i++, p += 3) {
            p[0] = (uint8_t)(d->u.sp[i] >> 16);
            p[1] = (uint8_t)(d->u.sp[i] >> 8);
            p[2] = (uint8_t)d->u.sp[i];
        }
        return p;
    }
    const uint64_t *it = dset_items(d);
    p = ivt_mp_put_array(p, d->n);
    for (uint32_t i = 0; i < d->n; i++)
        p = ivt_mp_put_uint(p, it[i]);
    return p;
}

static void write_dset(struct crdt_store *s, struct ivt_mpw *w, const struct dset *d)
{
    if (d->promoted == DSET_DENSE) {
        crdt_hll_encode(w, d->u.reg, s->cfg.distinct_hll_p);
        return;
    }
    uint8_t *p = ivt_mpw_reserve(w, dset_put_max(d));
    if (p)
        ivt_mpw_commit(w, put_dset(p, d));
}

static void write_hll_or_empty(struct crdt_store *s, struct ivt_mpw *w, const uint8_t *reg)
{
    if (reg)
        crdt_hll_encode(w, reg, s->cfg.counter_hll_p);
    else
        ivt_mpw_bin(w, "", 0);
}

/* The keyed hash of pc's sketches (their encoding in a message), cached
 * until pc rises (every change of its registers sets pc->ver). A hot
 * publisher's record holds a promoted epoch per minute of the window, each
 * six sketches: re-encoding them all whenever the current one changed was
 * most of a digest. Equal epochs hash alike, so digests stay canonical.
 * On an encoding failure (no memory) w's error is set and 0 returned. */
static uint64_t pcell_digest(struct crdt_store *s, struct ivt_mpw *w, struct pcell *pc)
{
    if (pc->dh_ok && pc->dver == pc->ver && !s->pdig_cold)
        return pc->dh;
    ivt_mpw_reset(&s->pdig);
    for (int m = 0; m < CRDT_COUNTERS; m++)
        write_hll_or_empty(s, &s->pdig, pc->reg[m]);
    if (s->pdig.err) {
        w->err = s->pdig.err;
        return 0;
    }
    pc->dh = crdt_siphash(s->digest_key, s->pdig.data, s->pdig.len);
    pc->dver = pc->ver;
    pc->dh_ok = 1;
    return pc->dh;
}

/* A promoted set's register sum (struct dense_dh): kept by a dense set
 * while ok (recounted when the store checks its caches, pdig_cold); summed
 * over a sparse set's entries (a few hundred at most). */
static uint64_t dset_digest(struct crdt_store *s, const struct dset *d)
{
    uint64_t sum = 0;
    if (d->promoted == DSET_SPARSE) {
        for (uint32_t i = 0; i < d->n; i++)
            sum += reg_term(s, d->u.sp[i] >> 8, (uint8_t)d->u.sp[i]);
        return sum;
    }
    struct dense_dh *c = dset_dh(s, d);
    if (c->ok && !s->pdig_cold)
        return c->sum;
    size_t m = crdt_hll_size(s->cfg.distinct_hll_p);
    for (size_t i0 = 0; i0 < m; i0 += 8) {
        uint64_t x;
        memcpy(&x, d->u.reg + i0, 8);
        if (!x) /* most registers of a set just past sparse are zero */
            continue;
        for (size_t i = i0; i < i0 + 8; i++)
            if (d->u.reg[i])
                sum += reg_term(s, i, d->u.reg[i]);
    }
    c->sum = sum;
    c->ok = 1;
    return sum;
}

/* The n (4 or 8) low bytes of v little-endian at b (the digest form is
 * the same bytes on every architecture): one store where the byte order is
 * known. Byte at a time, the digest form of hot records (dozens of slots)
 * was 3.5% of a simulated node's instructions. */
static inline void put_le(uint8_t *b, uint64_t v, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(b, &v, n);
#else
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
#endif
}

static inline uint64_t get_le64(const uint8_t *b)
{
    uint64_t v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, b, sizeof(v));
#else
    v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
#endif
    return v;
}

/* Bytes of a slot in the digest form: epoch, origin hash, six counts. */
enum { DIG_SLOT = 4 + 8 + 4 * CRDT_COUNTERS };

/* A slot in the digest form: fixed-size little-endian fields, the origin
 * by its keyed hash (the same on every replica of a cluster), not msgpack
 * (a digest is hashed, never parsed: a hot record holds dozens of slots).
 * Takes DIG_SLOT bytes at p. */
static uint8_t *put_slot_digest(const struct crdt_store *s, uint8_t *p, const struct slot *sl)
{
    put_le(p, sl->epoch, 4);
    put_le(p + 4, s->origins[sl->origin].hash, 8);
    for (int m = 0; m < CRDT_COUNTERS; m++)
        put_le(p + 12 + 4 * m, sl->c[m], 4);
    return p + DIG_SLOT;
}

/* An exact set in the digest form: its hashes as 8-byte little-endian
 * words after its count (promoted sets: dset_digest). */
static uint8_t *put_dset_digest(uint8_t *p, const struct dset *d)
{
    const uint64_t *it = dset_items(d);
    p = ivt_mp_put_array(p, d->n);
    for (uint32_t i = 0; i < d->n; i++, p += 8)
        put_le(p, it[i], 8);
    return p;
}

/* One slot: [epoch, origin, c0 .. c5], at most SLOT_MSG_MAX bytes at p. */
static uint8_t *put_slot(struct crdt_store *s, uint8_t *p, uint32_t epoch, uint32_t origin,
                         const uint32_t *c)
{
    p = ivt_mp_put_array(p, 2 + CRDT_COUNTERS);
    p = ivt_mp_put_uint(p, epoch);
    p = put_origin_ref(s, p, origin);
    for (int m = 0; m < CRDT_COUNTERS; m++)
        p = ivt_mp_put_uint(p, c[m]);
    return p;
}

static void write_slot(struct crdt_store *s, struct ivt_mpw *w, uint32_t epoch, uint32_t origin,
                       const uint32_t *c)
{
    uint8_t *p = ivt_mpw_reserve(w, SLOT_MSG_MAX);
    if (p)
        ivt_mpw_commit(w, put_slot(s, p, epoch, origin, c));
}

/*
 * Orders the journal by record: a least-significant-digit radix sort of
 * keys (record index << 32 | position), JRNL_RADIX_BITS of the index per
 * pass, at most three passes (the 32 bits), stable, so a record's entries
 * stay in the order they were added. Linear, where a comparison sort of
 * the whole journal by (record, bucket, set, item) held the event loop
 * once per flush round with a full journal (the first flush of a round:
 * crdt_store_flush_full_journal_first_cpu); and keys, not the 40-byte
 * entries: moving the entries themselves was most of a round's sort at
 * 100,000 events/s (0.6-0.9 ms of 32,768). The items' order, which an
 * exact set in a delta needs, is a handful of entries per record, sorted
 * as the record is written (write_own_items).
 */
static void jrnl_sort(struct crdt_store *s)
{
    uint32_t n = s->jn;
    if (s->jkcap < s->jcap) {
        uint64_t *a = realloc(s->jkey, (size_t)s->jcap * sizeof(*a));
        if (a)
            s->jkey = a;
        uint64_t *b = a ? realloc(s->jktmp, (size_t)s->jcap * sizeof(*b)) : NULL;
        if (b)
            s->jktmp = b;
        if (!a || !b)
            return; /* unsorted: write_own_items sends whole sets */
        s->jkcap = s->jcap;
    }
    s->jsorted = true;
    uint64_t *src = s->jkey, *dst = s->jktmp;
    for (uint32_t i = 0; i < n; i++)
        src[i] = (uint64_t)s->jrnl[i].idx << 32 | i;
    /* Indices are below used_hi: the passes over digits that are zero in
     * every entry are left out (two of three below 4 M records). */
    unsigned bits = 32 - (unsigned)__builtin_clz(s->used_hi | 1);
    for (unsigned shift = 32; n > 1 && shift < 32 + bits; shift += JRNL_RADIX_BITS) {
        uint32_t at[1u << JRNL_RADIX_BITS] = {0};
        for (uint32_t i = 0; i < n; i++)
            at[(src[i] >> shift) & JRNL_RADIX_MASK]++;
        for (uint32_t b = 0, sum = 0; b < (1u << JRNL_RADIX_BITS); b++) {
            uint32_t c = at[b];
            at[b] = sum;
            sum += c;
        }
        for (uint32_t i = 0; i < n; i++)
            dst[at[(src[i] >> shift) & JRNL_RADIX_MASK]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    _Static_assert(3 * JRNL_RADIX_BITS >= 32, "three passes cover an index");
    if (src != s->jkey) { /* an odd number of passes: the halves trade places */
        s->jktmp = s->jkey;
        s->jkey = src;
    }
}

/* The first key of record idx (the journal sorted). */
static uint32_t jrnl_first(const struct crdt_store *s, uint32_t idx)
{
    uint32_t lo = 0, hi = s->jn;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((uint32_t)(s->jkey[mid] >> 32) < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether j is an add to set d of bk of record e not sent yet. */
static inline bool jrnl_unsent(const struct jrnl *j, const struct ent *e, const struct bucket *bk,
                               int d)
{
    return j->b == bk->b && j->d == d && j->h == e->h && j->ver > e->flushed;
}

/* Room for n items in scratch_items. Returns false when it cannot grow. */
static bool scratch_items_reserve(struct crdt_store *s, size_t n)
{
    if (n <= s->scratch_items_cap)
        return true;
    uint64_t *p = realloc(s->scratch_items, n * sizeof(*p));
    if (!p)
        return false;
    s->scratch_items = p;
    s->scratch_items_cap = n;
    return true;
}

/* Set d of bk as a delta of our own adds: the journaled items, an exact
 * set (strictly increasing), which joins into any replica's set, exact or
 * promoted, as those adds did here. The whole set when the journal lacks
 * them or they are more than an exact set may hold. The journal is sorted
 * by record only (jrnl_sort): a record's entries are gathered and their
 * items sorted here, a handful per record. */
static void write_own_items(struct crdt_store *s, struct ivt_mpw *w, const struct ent *e,
                            const struct bucket *bk, int d)
{
    if (!s->jsorted) { /* no room to order the journal: the whole set */
        write_dset(s, w, &bk->set[d]);
        return;
    }
    uint32_t idx = (uint32_t)(e - s->ents), from = jrnl_first(s, idx), to = from;
    while (to < s->jn && (uint32_t)(s->jkey[to] >> 32) == idx)
        to++;
    size_t k = 0;
    if (!scratch_items_reserve(s, to - from)) {
        write_dset(s, w, &bk->set[d]);
        return;
    }
    for (uint32_t i = from; i < to; i++) {
        const struct jrnl *j = &s->jrnl[(uint32_t)s->jkey[i]];
        if (jrnl_unsent(j, e, bk, d))
            s->scratch_items[k++] = j->item;
    }
    if (k > 1)
        qsort(s->scratch_items, k, sizeof(uint64_t), cmp_u64);
    size_t n = 0;
    for (size_t i = 0; i < k; i++)
        if (i == 0 || s->scratch_items[i] != s->scratch_items[n - 1])
            s->scratch_items[n++] = s->scratch_items[i];
    if (n == 0 || n > s->cfg.distinct_exact_max) {
        write_dset(s, w, &bk->set[d]);
        return;
    }
    ivt_mpw_array(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        ivt_mpw_uint(w, s->scratch_items[i]);
}

/* The buckets of a delta without forwarding: those our own events raised,
 * each set as write_own_items has it (or empty: nothing of ours). */
static void write_own_buckets(struct crdt_store *s, struct ivt_mpw *w, const struct ent *e)
{
    if (!s->jsorted)
        jrnl_sort(s);
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->nbuckets; i++)
        n += (e->buckets[i].risen | e->buckets[i].whole) != 0;
    ivt_mpw_array(w, n);
    for (uint32_t i = 0; i < e->nbuckets; i++) {
        const struct bucket *bk = &e->buckets[i];
        if (!(bk->risen | bk->whole))
            continue;
        ivt_mpw_array(w, 1 + NSETS);
        ivt_mpw_uint(w, bk->b);
        for (int d = 0; d < NSETS; d++) {
            uint8_t bit = (uint8_t)(1u << d);
            if (bk->whole & bit)
                write_dset(s, w, &bk->set[d]);
            else if (bk->risen & bit)
                write_own_items(s, w, e, bk, d);
            else
                ivt_mpw_array(w, 0);
        }
    }
}

/* Whether a delta carries our part of promoted epoch pc as a slot: we
 * have events in it, few enough that a replica's joining them (one
 * HyperLogLog add per event id) is cheaper than sending the sketches. */
static bool own_as_slot(const struct pcell *pc)
{
    uint64_t sum = 0;
    for (int m = 0; m < CRDT_COUNTERS; m++)
        sum += pc->own[m];
    return sum > 0 && sum <= OWN_SLOT_ADDS_MAX;
}

/* The counters of a delta without forwarding: our own slots risen after
 * since, and for each promoted epoch risen after since our own count in
 * it as a slot (the event ids 1..count that our adds put in its
 * HyperLogLogs: a replica joins the slot into its promoted epoch as the
 * same adds, or keeps it as a slot): 13 bytes instead of six sketches of
 * up to 1 KiB. Past OWN_SLOT_ADDS_MAX events, the sketches (with what
 * others put in them: still a join). */
static void write_own_counters(struct crdt_store *s, struct ivt_mpw *w, const struct ent *e,
                               uint64_t since)
{
    uint32_t n = 0, np = 0;
    for (uint32_t i = 0; i < e->nslots; i++)
        n += e->slots[i].ver > since && e->slots[i].origin == SELF;
    for (uint32_t i = 0; i < e->npcells; i++) {
        const struct pcell *pc = &e->pcells[i];
        if (pc->ver > since && own_as_slot(pc))
            n++;
        else if (pc->ver > since)
            np++;
    }
    ivt_mpw_array(w, n);
    /* Both lists are in epoch order and a promoted epoch has no slots:
     * merged, they are the slots in (epoch, origin) order. */
    uint32_t i = 0, k = 0;
    while (i < e->nslots || k < e->npcells) {
        if (k == e->npcells || (i < e->nslots && e->slots[i].epoch < e->pcells[k].epoch)) {
            const struct slot *sl = &e->slots[i++];
            if (sl->ver > since && sl->origin == SELF)
                write_slot(s, w, sl->epoch, SELF, sl->c);
            continue;
        }
        const struct pcell *pc = &e->pcells[k++];
        if (pc->ver <= since || !own_as_slot(pc))
            continue;
        uint32_t c[CRDT_COUNTERS];
        for (int m = 0; m < CRDT_COUNTERS; m++)
            c[m] = (uint32_t)pc->own[m]; /* at most OWN_SLOT_ADDS_MAX */
        write_slot(s, w, pc->epoch, SELF, c);
    }
    ivt_mpw_array(w, np);
    for (k = 0; k < e->npcells; k++) {
        const struct pcell *pc = &e->pcells[k];
        if (pc->ver <= since || own_as_slot(pc))
            continue;
        ivt_mpw_array(w, 1 + CRDT_COUNTERS);
        ivt_mpw_uint(w, pc->epoch);
        for (int m = 0; m < CRDT_COUNTERS; m++)
            write_hll_or_empty(s, w, pc->reg[m]);
        s->msg_runs = true;
    }
}

/* Drops the journal entries already sent (flushed or dropped: no later
 * than the record's flushed version) and those of records removed or
 * reused; the next flush orders it again. Not "records no
 * longer queued": a compaction inside an update (jrnl_add, full) comes
 * before the update queues its record, whose new entries must stay. */
static void jrnl_compact(struct crdt_store *s)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->jn; i++) {
        const struct jrnl *j = &s->jrnl[i];
        const struct ent *e = &s->ents[j->idx];
        if (e->live && e->h == j->h && j->ver > e->flushed)
            s->jrnl[k++] = *j;
    }
    s->jn = k;
    s->jstale = s->jremoved = false;
    s->jsorted = false; /* the keys' positions moved */
}

/*
 * Called as a flush or a drop begins. The entries of records that left the
 * queue are stale (write_own_items skips them by version), and they are
 * dropped here to make room: once per round of flushes, and only if
 * entries were added since. Compacting after every message walked the
 * whole journal each time, so a round that dropped a hundred oversize
 * records walked it a hundred times; a later flush of the same round now
 * costs no walk (crdt_store_flush_full_journal_next_cpu).
 */
static void jrnl_settle(struct crdt_store *s)
{
    if (s->jstale && s->jn != s->jn_flushed)
        jrnl_compact(s);
}

/* Called as a flush or a drop ends: the records it took off the queue
 * leave their entries stale until jrnl_settle. */
static void jrnl_flushed(struct crdt_store *s)
{
    s->jstale = true;
    s->jn_flushed = s->jn;
}

/* One entity record with the parts risen after since (0: all, the full
 * state). A delta (since > 0: the record was flushed or merged before)
 * leaves out what did not change: the display key once a delta of ours
 * carried it (empty: "unchanged", which merge treats as the bottom), and
 * inside a risen bucket the sets that did not rise (written empty, which
 * joins as nothing). A user agent's key is 100 bytes, a set of 16 items
 * 150: most of a delta was these, re-sent on every event. */
static uint8_t *put_head(uint8_t *p, const struct ent *e, uint32_t key_len)
{
    p = ivt_mp_put_array(p, 6);
    p = ivt_mp_put_uint(p, e->kind);
    p = ivt_mp_put_uint(p, e->h);
    return ivt_mp_put_bin(p, e->key, key_len);
}

static void write_entity(struct crdt_store *s, struct ivt_mpw *w, const struct ent *e,
                         uint64_t since, enum omode mode, bool delta)
{
    uint32_t key_len = delta && e->key_sent ? 0 : e->key_len;
    uint8_t *p;
    if (delta && !s->cfg.forward_merged) {
        if (!(p = ivt_mpw_reserve(w, ENT_HEAD_MAX + key_len)))
            return;
        ivt_mpw_commit(w, put_head(p, e, key_len));
        write_own_counters(s, w, e, since);
        write_own_buckets(s, w, e);
        return;
    }
    /* Room for the whole record is reserved once, but for what
     * crdt_hll_encode writes (a message's promoted epochs, dense sets):
     * past each of those it is reserved again (an over-estimate then). */
    bool digest = mode == O_DIGEST;
    uint32_t ns = 0, np = 0, nbk = 0;
    for (uint32_t i = 0; i < e->nslots; i++)
        ns += e->slots[i].ver > since;
    for (uint32_t i = 0; i < e->npcells; i++)
        np += e->pcells[i].ver > since;
    size_t max = ENT_HEAD_MAX + key_len + 3 * IVT_MP_ARRAY_MAX +
                 (size_t)ns * (digest ? DIG_SLOT : SLOT_MSG_MAX) +
                 (size_t)np * (1 + 2 * IVT_MP_UINT_MAX);
    for (uint32_t i = 0; i < e->nbuckets; i++) {
        const struct bucket *bk = &e->buckets[i];
        if (bk->ver <= since)
            continue;
        nbk++;
        max += 1 + IVT_MP_UINT_MAX;
        for (int d = 0; d < NSETS; d++) {
            /* a promoted set's digest form is a hash; a dense set in a
             * message: 1 if left out (empty), reserved again past it */
            const struct dset *ds = &bk->set[d];
            max += digest && ds->promoted       ? IVT_MP_UINT_MAX
                   : ds->promoted == DSET_DENSE ? 1
                                                : dset_put_max(ds);
        }
    }
    if (!(p = ivt_mpw_reserve(w, max)))
        return;
    p = put_head(p, e, key_len);
    p = ivt_mp_put_array(p, ns);
    for (uint32_t i = 0; i < e->nslots; i++) {
        const struct slot *sl = &e->slots[i];
        if (sl->ver <= since)
            continue;
        if (digest)
            p = put_slot_digest(s, p, sl);
        else
            p = put_slot(s, p, sl->epoch, sl->origin, sl->c);
    }
    p = ivt_mp_put_array(p, np);
    for (uint32_t i = 0; i < e->npcells; i++) {
        struct pcell *pc = &e->pcells[i]; /* its digest cache */
        if (pc->ver <= since)
            continue;
        if (digest) {
            p = ivt_mp_put_array(p, 2);
            p = ivt_mp_put_uint(p, pc->epoch);
            p = ivt_mp_put_uint(p, pcell_digest(s, w, pc));
            continue;
        }
        p = ivt_mp_put_array(p, 1 + CRDT_COUNTERS);
        ivt_mpw_commit(w, ivt_mp_put_uint(p, pc->epoch));
        for (int m = 0; m < CRDT_COUNTERS; m++)
            write_hll_or_empty(s, w, pc->reg[m]);
        s->msg_runs = true;
        if (!(p = ivt_mpw_reserve(w, max)))
            return;
    }
    p = ivt_mp_put_array(p, nbk);
    for (uint32_t i = 0; i < e->nbuckets; i++) {
        const struct bucket *bk = &e->buckets[i];
        if (bk->ver <= since)
            continue;
        p = ivt_mp_put_array(p, 1 + NSETS);
        p = ivt_mp_put_uint(p, bk->b);
        for (int d = 0; d < NSETS; d++) {
            const struct dset *ds = &bk->set[d];
            /* Most sets of a record are empty, in either form. */
            if ((!ds->promoted && !ds->n) || (delta && since && !(bk->risen & (1u << d)))) {
                p = ivt_mp_put_array(p, 0);
            } else if (digest && ds->promoted) {
                p = ivt_mp_put_uint(p, dset_digest(s, ds));
            } else if (ds->promoted == DSET_DENSE) {
                ivt_mpw_commit(w, p);
                crdt_hll_encode(w, ds->u.reg, s->cfg.distinct_hll_p);
                if (!(p = ivt_mpw_reserve(w, max)))
                    return;
            } else {
                p = digest ? put_dset_digest(p, ds) : put_dset(p, ds);
            }
        }
    }
    ivt_mpw_commit(w, p);
}

/* Starts a message: entities go to s->scratch, origins are collected. */
static void msg_begin(struct crdt_store *s)
{
    ivt_mpw_reset(&s->scratch);
    s->msg_norigins = 0;
    s->msg_runs = false;
    s->msg_stamp++;
    if (s->msg_stamp == 0) {
        /* Stamps wrapped: forget every old mapping. */
        for (uint32_t i = 0; i < s->norigins_hi; i++)
            s->origins[i].stamp = 0;
        s->msg_stamp = 1;
    }
}

/* The message so far would take about this many bytes. */
static size_t msg_size(const struct crdt_store *s)
{
    return MSG_HEADER_MAX + (size_t)s->msg_norigins * MSG_ORIGIN_BYTES + s->scratch.len;
}

/* Forgets the entity written after the scratch length len and the origin
 * count no (it did not fit). */
static void msg_rollback(struct crdt_store *s, size_t len, uint32_t no)
{
    s->scratch.len = len;
    s->scratch.err = 0;
    for (uint32_t i = no; i < s->msg_norigins; i++)
        s->origins[s->msg_origins[i]].stamp = 0;
    s->msg_norigins = no;
}

static void write_params(const struct crdt_store *s, struct ivt_mpw *w)
{
    const struct crdt_config *c = &s->cfg;
    ivt_mpw_array(w, NPARAMS);
    ivt_mpw_uint(w, (uint64_t)c->epoch_ms);
    ivt_mpw_uint(w, c->window_epochs);
    ivt_mpw_uint(w, c->counter_slots_max);
    ivt_mpw_uint(w, c->distinct_exact_max);
    ivt_mpw_uint(w, c->counter_hll_p);
    ivt_mpw_uint(w, c->distinct_hll_p);
    ivt_mpw_uint(w, c->distinct_bucket_epochs);
}

/* Writes header, origins and the collected entities to w. */
static int msg_end(struct crdt_store *s, struct ivt_mpw *w, int type, size_t n)
{
    if (ivt_mpw_error(&s->scratch))
        return ivt_mpw_error(&s->scratch);
    /* A heap writer grows once to the message's size, not by doubling
     * (a repair's megabyte was a dozen reallocations of a fresh writer). */
    if (w->owned)
        ivt_mpw_reserve(w, msg_size(s) < w->max - w->len ? msg_size(s) : w->max - w->len);
    ivt_mpw_array(w, 5);
    ivt_mpw_uint(w, s->msg_runs ? CRDT_STORE_VERSION : CRDT_FORMAT_VERSION);
    ivt_mpw_uint(w, (uint64_t)type);
    write_params(s, w);
    ivt_mpw_array(w, s->msg_norigins);
    for (uint32_t i = 0; i < s->msg_norigins; i++)
        ivt_mpw_bin(w, s->origins[s->msg_origins[i]].bytes, CRDT_ORIGIN_BYTES);
    ivt_mpw_array(w, (uint32_t)n);
    ivt_mpw_raw(w, s->scratch.data, s->scratch.len);
    return ivt_mpw_error(w);
}

/* ---- decoding and merging ------------------------------------------------- */

/* What validation learned about one entity record. */
struct rec {
    uint32_t kind;
    uint64_t h;
    const uint8_t *key;
    uint32_t key_len;
    uint32_t applicable;   /* cells and buckets inside the window */
    uint32_t expired;      /* ... older than it */
    uint32_t future;       /* ... later than current + 1 */
    uint32_t origins_full; /* slots naming an origin we had no room for */
    uint32_t old_ids;      /* promoted epochs of a format 1 message */
    /* For the apply pass: the check pass keeps the applicable slots and
     * buckets, from slot0 and bucket0 on in the group's buffers (so they
     * are not decoded twice), and where the promoted epochs start and the
     * record ends. */
    uint32_t slot0, nslots, bucket0, nbuckets;
    const uint8_t *after_slots, *rec_end;
    const struct in_slot *slots;     /* set for the apply pass: the kept slots */
    const struct in_bucket *buckets; /* ... buckets */
    const uint64_t *items;           /* ... and the group's items */
};

/* One kind of the parts a merge group's check pass keeps (IN_*), in the
 * order it met them: in a buffer on the merge's stack while they fit (the
 * store's own buffer is a cold line of one of many stores), else in
 * s->in_keep[kind]. */
struct in_arr {
    void *p;
    uint32_t n, cap;
};

struct in_buf {
    struct in_arr a[IN_KINDS];
};

static const size_t in_size[IN_KINDS] = {sizeof(struct in_slot), sizeof(struct in_bucket),
                                         sizeof(uint64_t)};

/* in_buf_reserve past the buffer's capacity. */
static int in_buf_grow(struct crdt_store *s, struct in_buf *buf, int k, uint32_t more)
{
    struct in_arr *a = &buf->a[k];
    struct in_keep *keep = &s->in_keep[k];
    uint32_t need = a->n + more;
    if (need > keep->cap) {
        /* Bounded by the configuration: a group's records, each checked
         * against window, slot and set limits before it asks. */
        void *p = realloc(keep->p, need * in_size[k]);
        if (!p)
            return IVT_ENOMEM;
        if (a->p == keep->p)
            a->p = p;
        keep->p = p;
        keep->cap = need;
    }
    if (a->p != keep->p) {
        memcpy(keep->p, a->p, a->n * in_size[k]);
        a->p = keep->p;
    }
    a->cap = keep->cap;
    return 0;
}

/* Room for `more` parts of kind k past the n kept. Returns 0 or IVT_ENOMEM. */
static inline int in_buf_reserve(struct crdt_store *s, struct in_buf *buf, int k, uint32_t more)
{
    return buf->a[k].n + more <= buf->a[k].cap ? 0 : in_buf_grow(s, buf, k, more);
}

static int read_params(const struct crdt_store *s, const uint8_t **pos, const uint8_t *end)
{
    const struct crdt_config *c = &s->cfg;
    uint64_t want[NPARAMS] = {(uint64_t)c->epoch_ms,    c->window_epochs, c->counter_slots_max,
                              c->distinct_exact_max,    c->counter_hll_p, c->distinct_hll_p,
                              c->distinct_bucket_epochs};
    /* Every peer of one configuration writes the same bytes. */
    if ((size_t)(end - *pos) >= s->params_len && !memcmp(*pos, s->params, s->params_len)) {
        *pos += s->params_len;
        return 0;
    }
    uint32_t n;
    if (ivt_mp_read_array(pos, end, &n) || n != NPARAMS)
        return IVT_EPROTO;
    int rc = 0;
    for (int i = 0; i < NPARAMS; i++) {
        uint64_t v;
        if (ivt_mp_read_uint(pos, end, &v))
            return IVT_EPROTO;
        if (v != want[i])
            rc = IVT_EINVAL;
    }
    return rc;
}

/* The epoch verdict for a cell: 0 apply, 1 expired, 2 future. */
static int epoch_class(const struct crdt_store *s, uint32_t epoch)
{
    if (epoch < s->floor)
        return 1;
    return epoch > s->cur + 1 ? 2 : 0;
}

static int bucket_class(const struct crdt_store *s, uint32_t b)
{
    uint64_t first = (uint64_t)b * s->cfg.distinct_bucket_epochs;
    if (b < s->floor / s->cfg.distinct_bucket_epochs)
        return 1;
    return first > (uint64_t)s->cur + 1 ? 2 : 0;
}

static void count_class(struct rec *r, int cls)
{
    r->applicable += cls == 0;
    r->expired += cls == 1;
    r->future += cls == 2;
}

/* Joins the HLL bin at *pos (checked) into d. Returns 1 (rose), 0, or < 0. */
static int join_dset_hll(struct crdt_store *s, const uint8_t **pos, const uint8_t *end,
                         struct dset *d)
{
    /* Promotion alone is a rise: the set's form, its encoding and its
     * estimate change even when no register does. */
    int promoted = !d->promoted;
    if (promoted) {
        int rc = dset_promote(s, d);
        if (rc)
            return rc;
    }
    unsigned p = s->cfg.distinct_hll_p;
    if (d->promoted == DSET_SPARSE) {
        /* Joined in the dense form, kept in whichever fits the result. */
        memset(s->scratch_reg, 0, crdt_hll_size(p));
        sparse_to_reg(d, s->scratch_reg);
        int rc = crdt_hll_decode_merge(pos, end, s->scratch_reg, p);
        if (rc > 0 && dset_from_reg(s, d, s->scratch_reg))
            return IVT_ENOMEM;
        return rc < 0 ? rc : rc | promoted;
    }
    int rc = crdt_hll_decode_merge_hist(pos, end, d->u.reg, dset_hist(s, d), p);
    if (rc > 0)
        dset_dh(s, d)->ok = 0;
    return rc < 0 ? rc : rc | promoted;
}

/* Joins n checked items (strictly increasing) into d. Returns 1 (rose), 0,
 * or IVT_ENOMEM. */
static int join_items(struct crdt_store *s, struct dset *d, const uint64_t *items, uint32_t n)
{
    int rose = 0;
    for (uint32_t i = 0; i < n; i++) {
        int rc = dset_add(s, d, items[i]);
        if (rc < 0)
            return rc;
        rose |= rc;
    }
    return rose;
}

/* Checks a set: [item...] strictly increasing, at most distinct_exact_max,
 * or an HLL bin. With kb (the bucket is applicable) it keeps set d for the
 * join: the items in buf, or where the bin is. Returns 0 or < 0. */
static int check_dset(struct crdt_store *s, const uint8_t **pos, const uint8_t *end,
                      struct in_bucket *kb, int d, struct in_buf *buf)
{
    if (*pos < end && **pos == 0x90) { /* [], most of a delta's sets */
        (*pos)++;
        return 0;
    }
    if (*pos < end && **pos >= 0xc4 && **pos <= 0xc6) { /* a bin: an HLL */
        if (kb)
            kb->hll[d] = *pos;
        int rc = crdt_hll_decode_merge(pos, end, NULL, s->cfg.distinct_hll_p);
        return rc < 0 ? rc : 0;
    }
    uint32_t n;
    if (crdt__rd_array(pos, end, &n))
        return IVT_EPROTO;
    if (n > s->cfg.distinct_exact_max)
        return IVT_ETOOBIG;
    uint64_t *out = NULL;
    if (kb) {
        if (in_buf_reserve(s, buf, IN_ITEMS, n))
            return IVT_ENOMEM;
        out = (uint64_t *)buf->a[IN_ITEMS].p + buf->a[IN_ITEMS].n;
    }
    uint64_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v;
        if (crdt__rd_uint(pos, end, &v) || (i && v <= prev))
            return IVT_EPROTO;
        prev = v;
        if (out)
            out[i] = v;
    }
    if (kb) {
        kb->n[d] = (uint16_t)n;
        buf->a[IN_ITEMS].n += n;
    }
    return 0;
}

/* The check pass over a record's header and slots: fills r, appends the
 * applicable slots to buf. Returns 0 or a negative code. */
static int check_head_slots(struct crdt_store *s, const uint8_t **pos, const uint8_t *end,
                            struct rec *r, struct in_buf *buf)
{
    uint32_t n;
    uint64_t v;
    if (crdt__rd_array(pos, end, &n) || n != 6)
        return IVT_EPROTO;
    if (crdt__rd_uint_max(pos, end, CRDT_KINDS - 1, &v))
        return IVT_EPROTO;
    r->kind = (uint32_t)v;
    if (crdt__rd_uint(pos, end, &r->h))
        return IVT_EPROTO;
    if (crdt__rd_bin(pos, end, &r->key, &r->key_len) || r->key_len > CRDT_KEY_MAX)
        return IVT_EPROTO;
    r->applicable = r->expired = r->future = r->origins_full = r->old_ids = 0;

    /* slots */
    if (crdt__rd_array(pos, end, &n))
        return IVT_EPROTO;
    if (n > (s->cfg.window_epochs + 2) * s->cfg.counter_slots_max)
        return IVT_ETOOBIG;
    if (in_buf_reserve(s, buf, IN_SLOTS, n))
        return IVT_ENOMEM;
    r->slot0 = buf->a[IN_SLOTS].n;
    r->nslots = 0;
    uint32_t pe = 0, po = NONE, per_epoch = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k, epoch, mo, c[CRDT_COUNTERS];
        if (crdt__rd_array(pos, end, &k) || k != 2 + CRDT_COUNTERS ||
            crdt__read_u32(pos, end, &epoch) || crdt__read_u32(pos, end, &mo) ||
            mo >= s->in_norigins)
            return IVT_EPROTO;
        for (int m = 0; m < CRDT_COUNTERS; m++)
            if (crdt__read_u32(pos, end, &c[m]))
                return IVT_EPROTO;
        /* Canonical order: (epoch, origin bytes), no repeats. */
        if (i && (epoch < pe || (epoch == pe && po != NONE && s->in_origins[mo] != NONE &&
                                 origin_cmp_idx(s, s->in_origins[mo], po) <= 0)))
            return IVT_EPROTO;
        per_epoch = i && epoch == pe ? per_epoch + 1 : 1;
        if (per_epoch > s->cfg.counter_slots_max)
            return IVT_EPROTO;
        pe = epoch;
        po = s->in_origins[mo];
        if (po == NONE) {
            r->origins_full++;
            continue;
        }
        int cls = epoch_class(s, epoch);
        count_class(r, cls);
        if (!cls) {
            struct in_slot *x = (struct in_slot *)buf->a[IN_SLOTS].p + buf->a[IN_SLOTS].n++;
            r->nslots++;
            x->epoch = epoch;
            x->origin = po;
            memcpy(x->c, c, sizeof(x->c));
        }
    }
    r->after_slots = *pos;
    return 0;
}

/* The apply pass over a record's buckets, from what its check kept.
 * Returns 1 when e rose (or rose already: rose), 0, or a negative code. */
static int join_buckets(struct crdt_store *s, struct ent *e, const struct rec *r, int rose)
{
    for (uint32_t i = 0; i < r->nbuckets; i++) {
        const struct in_bucket *kb = &r->buckets[i];
        const uint64_t *items = r->items + kb->item0;
        struct bucket *bk = bucket_get(s, e, kb->b);
        if (!bk)
            return IVT_ENOMEM;
        bool bk_rose = false;
        for (int d = 0; d < NSETS; d++) {
            int rc;
            if (kb->hll[d]) {
                const uint8_t *q = kb->hll[d];
                rc = join_dset_hll(s, &q, r->rec_end, &bk->set[d]);
            } else {
                rc = join_items(s, &bk->set[d], items, kb->n[d]);
                items += kb->n[d];
            }
            if (rc < 0)
                return rc;
            if (rc > 0) {
                bk_rose = true;
                if (s->cfg.forward_merged)
                    bk->risen |= (uint8_t)(1u << d);
                e->dist_ok &= (uint8_t) ~(1u << d);
            }
        }
        if (bk_rose) {
            bk->ver = s->ver;
            rose = 1;
        }
    }
    return rose;
}

/*
 * Reads one entity record. Without e (idx == NONE) it only checks it, fills
 * r and appends its applicable slots, buckets and their items to buf; with
 * e it joins it, after the check of the same record with the same r
 * (r->slots, r->buckets and r->items set to what was kept): the header,
 * the slots and the buckets are not read again, only the promoted epochs
 * (deltas carry few: their sketches are decoded where they lie). Returns 1
 * when e rose, 0, or a negative code.
 */
static int parse_entity(struct crdt_store *s, const uint8_t **pos, const uint8_t *end,
                        struct rec *r, uint32_t idx, struct in_buf *buf)
{
    struct ent *e = idx == NONE ? NULL : &s->ents[idx];
    uint32_t n;
    int rose = 0, rc;
    if (e) {
        /* Header and slots were checked and kept by the check pass. */
        for (uint32_t i = 0; i < r->nslots; i++) {
            const struct in_slot *x = &r->slots[i];
            rc = counter_join(s, e, x->epoch, x->origin, x->c);
            if (rc < 0)
                return rc;
            rose |= rc;
        }
        *pos = r->after_slots;
    } else if ((rc = check_head_slots(s, pos, end, r, buf)) < 0) {
        return rc;
    }
    uint32_t pe = 0;

    /* promoted epochs */
    if (crdt__rd_array(pos, end, &n))
        return IVT_EPROTO;
    if (n > s->cfg.window_epochs + 2)
        return IVT_ETOOBIG;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k, epoch;
        if (crdt__rd_array(pos, end, &k) || k != 1 + CRDT_COUNTERS ||
            crdt__read_u32(pos, end, &epoch))
            return IVT_EPROTO;
        if (!e) {
            if (i && epoch <= pe)
                return IVT_EPROTO;
            pe = epoch;
            for (int m = 0; m < CRDT_COUNTERS; m++)
                if (crdt_hll_decode_merge(pos, end, NULL, s->cfg.counter_hll_p) < 0)
                    return IVT_EPROTO;
            if (s->in_version < CRDT_STORE_VERSION)
                r->old_ids++; /* checked, never joined (internal.h) */
            else
                count_class(r, epoch_class(s, epoch));
            continue;
        }
        /* A format 1 epoch is skipped as an expired one is (the check
         * pass counted it as old_ids). */
        int cls = s->in_version < CRDT_STORE_VERSION ? 1 : epoch_class(s, epoch);
        struct pcell *pc = cls ? NULL : pcell_find(e, epoch);
        if (!cls && !pc) {
            pc = promote(s, e, epoch);
            if (!pc)
                return IVT_ENOMEM;
            rose = 1;
        }
        bool pc_rose = false;
        for (int m = 0; m < CRDT_COUNTERS; m++) {
            const uint8_t *q = *pos, *b;
            uint32_t blen;
            if (crdt__rd_bin(&q, end, &b, &blen))
                return IVT_EPROTO;
            if (!pc || !blen) {
                *pos = q;
                continue;
            }
            if (!pc->reg[m]) {
                if (!(pc->reg[m] = creg_get(s)))
                    return IVT_ENOMEM;
                s->shape++; /* its registers are in the footprint */
            }
            rc = crdt_hll_decode_merge_hist(pos, end, pc->reg[m], pcell_hist(s, pc->reg[m]),
                                            s->cfg.counter_hll_p);
            if (rc < 0)
                return rc;
            if (rc) {
                pcell_reestimate(e, pc, m);
                pc_rose = true;
            }
        }
        if (pc_rose) {
            pc->ver = s->ver;
            rose = 1;
        }
    }

    /* distinct buckets: checked and kept, or joined from what was kept */
    if (e) {
        *pos = r->rec_end;
        return join_buckets(s, e, r, rose);
    }
    if (crdt__rd_array(pos, end, &n))
        return IVT_EPROTO;
    if (n > s->cfg.window_epochs / s->cfg.distinct_bucket_epochs + 3)
        return IVT_ETOOBIG;
    r->bucket0 = buf->a[IN_BUCKETS].n;
    r->nbuckets = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k, b;
        if (crdt__rd_array(pos, end, &k) || k != 1 + NSETS || crdt__read_u32(pos, end, &b))
            return IVT_EPROTO;
        if (i && b <= pe)
            return IVT_EPROTO;
        pe = b;
        int cls = bucket_class(s, b);
        struct in_bucket *kb = NULL;
        if (!cls) {
            if (in_buf_reserve(s, buf, IN_BUCKETS, 1))
                return IVT_ENOMEM;
            kb = (struct in_bucket *)buf->a[IN_BUCKETS].p + buf->a[IN_BUCKETS].n;
            memset(kb, 0, sizeof(*kb));
            kb->b = b;
            kb->item0 = buf->a[IN_ITEMS].n;
        }
        bool bare = kb != NULL; /* applicable, and every set empty */
        for (int d = 0; d < NSETS; d++) {
            if ((rc = check_dset(s, pos, end, kb, d, buf)) < 0)
                return rc;
            if (kb && (kb->n[d] || kb->hll[d]))
                bare = false;
        }
        /* A bucket of empty sets holds nothing: not kept, and not what
         * makes a record applicable. Joined, it left a created entity
         * with one bucket that no encoding carries (an entity held here
         * and in no snapshot or repair of ours; fuzz_crdt_delta). */
        if (bare)
            continue;
        if (kb) {
            buf->a[IN_BUCKETS].n++;
            r->nbuckets++;
        }
        count_class(r, cls);
    }
    r->rec_end = *pos;
    return 0;
}

/*
 * A message's records are merged in groups, in stages (as the local update
 * path does, crdt_store_update_batch): check every record of the group and
 * prefetch its table slot, then the records the table names, then the
 * arrays those point to, then join the records in order. In a simulator a
 * merge finds its store cold (a hundred stores take turns), and one
 * record's misses (table, record, slots, cells, buckets, sets) waited in
 * turn were a fifth of a node-core run. A group joins exactly what record
 * after record did: the checks read nothing a join changes (the window and
 * the message's origins), and a malformed record still leaves the records
 * before it joined and stops the merge.
 */
enum {
    MERGE_GROUP = 16,    /* records checked ahead of their joins: a delta holds ~4 */
    IN_SLOTS_STACK = 64, /* kept slots on the stack before the store's buffer */
    /* ... buckets (a delta's record holds one) and set items (about 2 a
     * bucket: one event's items) */
    IN_BUCKETS_STACK = 32,
    IN_ITEMS_STACK = 128,
};

/* One checked record of a group, and what its join needs of its message. */
struct mrec {
    struct rec r;
    const uint8_t *start, *end;
    uint32_t hint; /* the record the table named (a prefetch hint), or NONE */
    uint32_t msg;  /* its message's index in the batch */
    uint8_t type;  /* its message's type and format version */
    uint8_t version;
};

/* The arrays a join of e reads first: its latest slot, promoted cell and
 * bucket (a delta carries the current epoch), each searched from its end;
 * and when its digest is fresh, the words of its digest bucket the join
 * will change (dig_invalidate). */
static void merge_prefetch_parts(const struct crdt_store *s, const struct ent *e)
{
    if (e->dig_ok) {
        __builtin_prefetch(&s->bsum[bucket_of(s, e->h)], 1);
        __builtin_prefetch(&s->bdirty[bucket_of(s, e->h)], 1);
    }
    if (e->nslots && e->slots != &e->slot1)
        prefetch_span(&e->slots[e->nslots - 1], sizeof(struct slot));
    if (e->npcells)
        prefetch_span(&e->pcells[e->npcells - 1], sizeof(struct pcell));
    if (e->nbuckets && e->buckets != &e->bucket1)
        prefetch_span(&e->buckets[e->nbuckets - 1], sizeof(struct bucket));
}

/* The sets of e's latest bucket (its line has arrived). */
static void merge_prefetch_sets(const struct ent *e)
{
    if (!e->nbuckets)
        return;
    const struct bucket *bk = &e->buckets[e->nbuckets - 1];
    for (int d = 0; d < NSETS; d++) {
        const struct dset *ds = &bk->set[d];
        if (ds->promoted == DSET_SPARSE)
            __builtin_prefetch(ds->u.sp);
        else if (!ds->promoted && ds->cap)
            __builtin_prefetch(&ds->u.items[ds->n / 2]);
    }
}

/* Joins one checked record (the apply pass). Returns 0 or a negative code. */
static int merge_one(struct crdt_store *s, uint64_t type, struct mrec *m, const uint8_t *end,
                     struct crdt_merge_stats *st)
{
    struct rec *r = &m->r;
    st->entities++;
    st->expired += r->expired;
    st->future += r->future;
    st->origins_full += r->origins_full;
    st->old_ids += r->old_ids;
    if (!r->applicable)
        return 0; /* nothing inside the window: no entity for it */
    bool created;
    uint32_t idx =
        ent_get_or_create(s, (enum crdt_kind)r->kind, r->h, r->key, r->key_len, &created);
    if (idx == NONE)
        return IVT_ENOMEM;
    /* A peer sends only what is admitted there: admitted here too, so
     * our slots join it. A snapshot restores evidence, not admission. */
    if (type != MSG_SNAPSHOT)
        ent_admit(s, idx);
    struct ent *e = &s->ents[idx];
    s->ver++;
    int rose = created;
    /* The footprint changes with the shape, the key or a new record only:
     * most joins leave it as it was and skip the walk of its arrays. */
    uint64_t shape = s->shape;
    bool reshaped = created;
    /* Display keys: keep the smaller, so the choice is a join too;
     * the empty key (a delta's "unchanged") is the bottom. */
    if (!created && r->key_len &&
        (r->key_len != e->key_len || memcmp(r->key, e->key, r->key_len))) {
        size_t k = r->key_len < e->key_len ? r->key_len : e->key_len;
        int c = memcmp(r->key, e->key, k);
        if (!e->key_len || c < 0 || (c == 0 && r->key_len < e->key_len)) {
            if (ent_set_key(s, e, r->key, r->key_len))
                return IVT_ENOMEM;
            rose = 1;
            reshaped = true;
        }
    }
    const uint8_t *q = m->start;
    uint16_t nbuckets0 = e->nbuckets;
    s->xmoved = false;
    int rc = parse_entity(s, &q, end, r, idx, NULL);
    if (reshaped || s->shape != shape)
        ent_account(s, e);
    if (created || s->xmoved)
        ent_xfile(s, idx);
    /* A bucket of empty sets rises nothing but is encoded. */
    if (e->nbuckets != nbuckets0)
        dig_invalidate(s, idx);
    if (rc < 0)
        return rc;
    if (ent_empty(&s->ents[idx])) {
        /* Only empty sets in the window: nothing to hold. */
        ent_remove(s, idx);
        return 0;
    }
    st->created += created;
    /* Without forwarding, the key of an entity first heard of here
     * from a delta was sent by its sender: our deltas leave it out
     * too (a replica that missed it has it from a repair, or from its
     * own events). A user agent is 100 bytes of an event's 400. */
    if (created && r->key_len && !s->cfg.forward_merged)
        s->ents[idx].key_sent = 1;
    if (rose || rc > 0) {
        st->changed++;
        if (s->cfg.forward_merged) {
            ent_touch(s, idx);
        } else {
            ent_rose(s, idx);
            /* Not forwarded: mark what rose as sent, unless a flush
             * of local changes is pending (it will carry both). */
            if (!s->ents[idx].queued && s->ents[idx].admitted)
                ent_mark_flushed(s, &s->ents[idx]);
        }
    }
    return 0;
}

int crdt_store_merge(struct crdt_store *s, const uint8_t *data, size_t len,
                     struct crdt_merge_stats *st)
{
    return crdt_store_merge_seen(s, data, len, st, NULL, NULL);
}

/* The header of a message, up to its records: the format, type and
 * parameters are checked and its origins interned (the check pass maps its
 * slots through them, s->in_origins). Returns 0 with *type and *nrec set,
 * or the message's error. */
static int merge_head(struct crdt_store *s, const uint8_t **pos, const uint8_t *end, uint64_t *type,
                      uint32_t *nrec)
{
    int rc =
        crdt__read_header_v(pos, end, 5, CRDT_FORMAT_VERSION, CRDT_STORE_VERSION, &s->in_version);
    if (rc)
        return rc;
    if (crdt__rd_uint_max(pos, end, MSG_SNAPSHOT, type))
        return IVT_EPROTO;
    if ((rc = read_params(s, pos, end)))
        return rc;
    uint32_t n;
    if (crdt__rd_array(pos, end, &n))
        return IVT_EPROTO;
    if (n > s->cfg.max_origins)
        return IVT_ETOOBIG;
    if (n > s->in_cap) {
        uint32_t *in = malloc((size_t)n * sizeof(*in));
        if (!in)
            return IVT_ENOMEM;
        free(s->in_origins);
        s->in_origins = in;
        s->in_cap = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *b;
        uint32_t blen;
        if (crdt__rd_bin(pos, end, &b, &blen) || blen != CRDT_ORIGIN_BYTES)
            return IVT_EPROTO;
        s->in_origins[i] = origin_intern(s, b);
    }
    s->in_norigins = n;
    return crdt__rd_array(pos, end, nrec) ? IVT_EPROTO : 0;
}

enum { ORIGINS_AHEAD = 32 /* origins of a batch whose lookups are fetched ahead */ };

/*
 * Fetches what interning the batch's origins will read, before the first
 * is interned: their memo sets, then the records the sets name. Each
 * message names its sender (a delta, one origin), and interned one after
 * another in turn each waited for two misses. A message that does not
 * parse is left to the merge to refuse.
 */
static void prefetch_origins(const struct crdt_store *s, const struct crdt_merge_msg *m, size_t nm)
{
    if (!s->omemo || nm < 2)
        return;
    uint64_t mix[ORIGINS_AHEAD];
    size_t k = 0;
    for (size_t i = 0; i < nm && k < ORIGINS_AHEAD; i++) {
        const uint8_t *pos = m[i].data, *end = pos + m[i].len;
        uint32_t n, blen;
        uint64_t v;
        if (ivt_mp_read_array(&pos, end, &n) || ivt_mp_read_uint(&pos, end, &v) ||
            ivt_mp_skip(&pos, end) || ivt_mp_skip(&pos, end) || ivt_mp_read_array(&pos, end, &n))
            continue;
        for (uint32_t j = 0; j < n && k < ORIGINS_AHEAD; j++) {
            const uint8_t *b;
            if (ivt_mp_read_bin(&pos, end, &b, &blen) || blen != CRDT_ORIGIN_BYTES)
                break;
            mix[k] = origin_memo_mix(b);
            __builtin_prefetch(origin_memo_set(s, mix[k]));
            k++;
        }
    }
    for (size_t j = 0; j < k; j++) {
        const uint32_t *set = origin_memo_set(s, mix[j]);
        for (int w = 0; w < OMEMO_WAYS; w++)
            if ((set[w] & OMEMO_IDX_MASK) &&
                (set[w] & ~(uint32_t)OMEMO_IDX_MASK) == origin_memo_tag(mix[j]))
                __builtin_prefetch(&s->origins[(set[w] & OMEMO_IDX_MASK) - 1]);
    }
}

/*
 * The messages' records go through the stages of a group (see MERGE_GROUP)
 * whichever message they come from: a delta names three or four entities,
 * and a datagram that brings several deltas had their misses waited in
 * turn, delta after delta. A group joins what message after message did:
 * a message's header (its origins interned) and records are checked in
 * message order, and checks read nothing a join changes.
 *
 * Each message's rc is what a merge of it alone returns, in the order that
 * merge finds them: a join's error (the records after it not joined), else
 * a check's (the records before it joined), else trailing bytes.
 */
int crdt_store_merge_many(struct crdt_store *s, struct crdt_merge_msg *m, size_t nm,
                          void (*seen)(void *ctx, enum crdt_kind kind, uint64_t hash), void *ctx)
{
    /* In a simulator a merge finds its store cold: the two dozen lines of
     * the store's own fields it reads (configuration, tables, lists) are
     * asked for at once, not one miss after another. */
    prefetch_span(s, sizeof(*s));
    prefetch_origins(s, m, nm);
    for (size_t i = 0; i < nm; i++) {
        m[i].rc = 0;
        memset(&m[i].st, 0, sizeof(m[i].st));
    }
    struct mrec g[MERGE_GROUP];
    struct in_slot stack[IN_SLOTS_STACK];
    struct in_bucket stack_b[IN_BUCKETS_STACK];
    uint64_t stack_i[IN_ITEMS_STACK];
    size_t mi = 0;     /* the message being checked */
    bool open = false; /* its header was read */
    const uint8_t *pos = NULL, *end = NULL;
    uint64_t type = 0;
    uint32_t left = 0; /* its records not yet checked */
    while (mi < nm) {
        struct in_buf buf = {{{stack, 0, IN_SLOTS_STACK},
                              {stack_b, 0, IN_BUCKETS_STACK},
                              {stack_i, 0, IN_ITEMS_STACK}}};
        uint32_t k = 0;
        while (k < MERGE_GROUP && mi < nm) {
            if (open && (m[mi].rc || !left)) {
                /* Done: a join of its failed (the rest is not read), or
                 * every record was checked. */
                if (!m[mi].rc && pos != end)
                    m[mi].rc = IVT_EPROTO;
                open = false;
                mi++;
                continue;
            }
            if (!open) {
                pos = m[mi].data;
                end = pos + m[mi].len;
                if ((m[mi].rc = merge_head(s, &pos, end, &type, &left))) {
                    mi++;
                    continue;
                }
                open = true;
                continue;
            }
            struct mrec *r = &g[k];
            r->start = pos;
            r->end = end;
            r->msg = (uint32_t)mi;
            r->type = (uint8_t)type;
            r->version = (uint8_t)s->in_version;
            int bad = parse_entity(s, &pos, end, &r->r, NONE, &buf);
            if (bad < 0) {
                /* The records before it are joined below, then it stops. */
                m[mi].rc = bad;
                open = false;
                mi++;
                continue;
            }
            k++;
            left--;
            if (seen)
                seen(ctx, (enum crdt_kind)r->r.kind, r->r.h);
            if (r->r.applicable)
                __builtin_prefetch(&s->tab[key32((enum crdt_kind)r->r.kind, r->r.h) & s->tmask]);
        }
        for (uint32_t j = 0; j < k; j++) {
            g[j].hint = NONE;
            if (g[j].r.applicable) {
                g[j].hint = tab_lookup(s, (enum crdt_kind)g[j].r.kind, g[j].r.h, false);
                if (g[j].hint != NONE)
                    prefetch_span(&s->ents[g[j].hint], ENT_JOIN);
            }
        }
        for (uint32_t j = 0; j < k; j++)
            if (g[j].hint != NONE && s->ents[g[j].hint].live)
                merge_prefetch_parts(s, &s->ents[g[j].hint]);
        /* A join whose record's digest was fresh links it at the head of
         * the dirty list: the head's links, a record joined long ago. */
        if (s->dirty_head != NONE)
            __builtin_prefetch(&s->ents[s->dirty_head].lk[LK_DIRTY], 1);
        for (uint32_t j = 0; j < k; j++)
            if (g[j].hint != NONE && s->ents[g[j].hint].live)
                merge_prefetch_sets(&s->ents[g[j].hint]);
        /* The message whose join failed in this group: one is enough, as
         * a message's records sit together in a group, in order. */
        uint32_t failed = UINT32_MAX;
        for (uint32_t j = 0; j < k; j++) {
            struct crdt_merge_msg *x = &m[g[j].msg];
            if (g[j].msg == failed)
                continue;
            g[j].r.slots = (const struct in_slot *)buf.a[IN_SLOTS].p + g[j].r.slot0;
            g[j].r.buckets = (const struct in_bucket *)buf.a[IN_BUCKETS].p + g[j].r.bucket0;
            g[j].r.items = buf.a[IN_ITEMS].p;
            s->in_version = g[j].version;
            int rc = merge_one(s, g[j].type, &g[j], g[j].end, &x->st);
            if (rc < 0) {
                /* Alone, the merge would have stopped here: the rest of
                 * its records are skipped here and never read after. */
                x->rc = rc;
                failed = g[j].msg;
            }
        }
    }
    for (size_t i = 0; i < nm; i++)
        if (m[i].rc)
            return m[i].rc;
    return 0;
}

int crdt_store_merge_seen(struct crdt_store *s, const uint8_t *data, size_t len,
                          struct crdt_merge_stats *st,
                          void (*seen)(void *ctx, enum crdt_kind kind, uint64_t hash), void *ctx)
{
    struct crdt_merge_msg one = {.data = data, .len = len};
    int rc = crdt_store_merge_many(s, &one, 1, seen, ctx);
    if (st)
        *st = one.st;
    return rc;
}

/* ---- flush, digests, repair ------------------------------------------------ */

size_t crdt_store_pending(const struct crdt_store *s)
{
    return s->nqueued;
}

int crdt_store_flush(struct crdt_store *s, struct ivt_mpw *w, size_t budget, size_t *n_out)
{
    size_t n = 0;
    if (n_out)
        *n_out = 0;
    if (s->qhead == NONE)
        return 0;
    jrnl_settle(s);
    msg_begin(s);
    uint32_t idx = s->qhead;
    while (idx != NONE) {
        struct ent *e = &s->ents[idx];
        size_t len = s->scratch.len;
        uint32_t no = s->msg_norigins;
        write_entity(s, &s->scratch, e, e->flushed, O_MESSAGE, true);
        if (msg_size(s) > budget) {
            msg_rollback(s, len, no);
            break;
        }
        n++;
        idx = e->dnext;
    }
    if (!n)
        return IVT_ENOSPC;
    int rc = msg_end(s, w, MSG_DELTA, n);
    if (rc)
        return rc;
    /* Only now that the message is out: mark what it carried as sent. */
    for (size_t i = 0; i < n; i++) {
        uint32_t h = s->qhead;
        ent_mark_flushed(s, &s->ents[h]);
        s->ents[h].key_sent = 1;
        queue_remove(s, h);
    }
    jrnl_flushed(s);
    if (n_out)
        *n_out = n;
    return 0;
}

bool crdt_store_flush_drop(struct crdt_store *s)
{
    uint32_t h = s->qhead;
    if (h == NONE)
        return false;
    jrnl_settle(s);
    ent_mark_flushed(s, &s->ents[h]);
    queue_remove(s, h);
    jrnl_flushed(s);
    return true;
}

size_t crdt_store_digest_size(const struct crdt_store *s)
{
    return (size_t)1 << s->cfg.digest_bits;
}

/* Records written ahead of the one being written whose head and key
 * pointer are fetched. Fetching all six lines of a record ahead was slower
 * (7.3-8.4 against 5.5-6.0 ms a 1 MiB repair): this machine keeps few
 * misses in flight, and a record's middle lines come with their
 * neighbours. */
enum { ENC_AHEAD = 8 };

/* The lines of record e an encoding reads first: its head, and the line
 * with its key pointer. */
PREFETCH_FN void prefetch_record(const struct ent *e)
{
    const char *c = (const char *)e;
    __builtin_prefetch(c, 0);
    __builtin_prefetch(c + offsetof(struct ent, key), 0);
}

/* What record e points to and an encoding reads (its lines fetched before:
 * the pointers are in them). */
PREFETCH_FN void prefetch_record_parts(const struct ent *e)
{
    __builtin_prefetch(e->key, 0);
    if (e->slots != &e->slot1 && e->nslots)
        __builtin_prefetch(e->slots, 0);
    if (e->buckets != &e->bucket1 && e->nbuckets)
        __builtin_prefetch(e->buckets, 0);
}

/* e's digest: the keyed hash of its canonical encoding; ~0 when the
 * encoding failed (no memory), which must not match a peer's. */
static uint64_t ent_digest_fresh(struct crdt_store *s, const struct ent *e, bool *ok)
{
    /* Local-only records are outside the shared map: two replicas of equal
     * shared evidence compare equal whatever else each holds. */
    if (!e->admitted) {
        *ok = true;
        return 0;
    }
    ivt_mpw_reset(&s->dig);
    write_entity(s, &s->dig, e, 0, O_DIGEST, false);
    *ok = !s->dig.err;
    return s->dig.err ? ~(uint64_t)0 : crdt_siphash(s->digest_key, s->dig.data, s->dig.len);
}

/* Encodes up to max stale records (all when max is SIZE_MAX) and puts
 * their digests into their buckets' sums. Returns how many it encoded. A
 * record that fails to encode (no memory) stays stale at the head of the
 * list and ends the pass: the rest wait with it. */
static size_t digest_refresh(struct crdt_store *s, size_t max)
{
    size_t done = 0;
    while (done < max && s->dirty_head != NONE) {
        uint32_t idx = s->dirty_head;
        struct ent *e = &s->ents[idx];
        /* The list runs through the slab in no order: while this record is
         * encoded and hashed, the key of the next one and the lines of the
         * one after that are fetched (the next one's lines were fetched
         * in the round before, so its pointers are at hand). */
        uint32_t n1 = e->lk[LK_DIRTY].next;
        if (n1 != NONE) {
            const struct ent *x = &s->ents[n1];
            prefetch_record_parts(x);
            uint32_t n2 = x->lk[LK_DIRTY].next;
            if (n2 != NONE) {
                prefetch_record(&s->ents[n2]);
                __builtin_prefetch(&s->ents[n2].lk[LK_DIRTY], 1);
            }
        }
        bool ok;
        e->digest = ent_digest_fresh(s, e, &ok);
        if (!ok)
            break;
        dirty_unlink(s, idx);
        e->dig_ok = 1;
        s->bsum[bucket_of(s, e->h)] += e->digest;
        done++;
    }
    return done;
}

size_t crdt_store_digest_step(struct crdt_store *s, size_t max)
{
    return digest_refresh(s, max);
}

size_t crdt_store_digest_stale(const struct crdt_store *s)
{
    return s->ndirty;
}

/* Bucket b's digest as a peer is given it: its sum, unless it still holds
 * a stale shared record (past a refresh's max, or one that failed to
 * encode for want of memory): then the sum of the rest plus our mark, a
 * value that must not match a peer's. One mark for every node (it was
 * ~0) made two marked buckets with equal sums of their fresh records
 * equal: two stores whose records there are all stale (just restored,
 * or busy past what the digest re-encodes) compared equal and were never
 * repaired. */
static inline uint64_t bucket_digest(const struct crdt_store *s, size_t b)
{
    return s->bsum[b] + (s->bdirty[b] ? s->dmark : 0);
}

int crdt_store_digest_max(struct crdt_store *s, uint64_t *out, size_t n, size_t max)
{
    if (n != crdt_store_digest_size(s))
        return IVT_EINVAL;
    /* A sum of per-entity digests: order-free, so a record's digest can
     * leave and join its bucket's sum alone. Only the stale are encoded. */
    digest_refresh(s, max);
    for (size_t b = 0; b < n; b++)
        out[b] = bucket_digest(s, b);
    return 0;
}

int crdt_store_digest(struct crdt_store *s, uint64_t *out, size_t n)
{
    return crdt_store_digest_max(s, out, n, SIZE_MAX);
}

int crdt__store_digest_recount(struct crdt_store *s, uint64_t *out, size_t n)
{
    if (n != crdt_store_digest_size(s))
        return IVT_EINVAL;
    memset(out, 0, n * sizeof(*out));
    s->pdig_cold = true; /* the kept promoted-epoch hashes are checked too */
    for (uint32_t i = 0; i < s->used_hi; i++) {
        const struct ent *e = &s->ents[i];
        bool ok;
        if (e->live)
            out[bucket_of(s, e->h)] += ent_digest_fresh(s, e, &ok);
    }
    s->pdig_cold = false;
    return 0;
}

/*
 *   [1, digest_bits, bin(8 * 2^digest_bits)]   u64 little-endian per bucket
 *
 * Written straight from the bucket sums into w, a word at a time (a
 * push-pull sends one each way: 8 KiB at the default 10 bits).
 */
int crdt_store_digest_encode(struct crdt_store *s, struct ivt_mpw *w, size_t max)
{
    size_t n = crdt_store_digest_size(s);
    digest_refresh(s, max);
    ivt_mpw_array(w, 3);
    ivt_mpw_uint(w, CRDT_FORMAT_VERSION);
    ivt_mpw_uint(w, s->cfg.digest_bits);
    uint8_t *p = ivt_mpw_reserve(w, IVT_MP_BIN_HEAD_MAX + n * 8);
    if (p) {
        p = ivt_mp_put_bin_head(p, (uint32_t)(n * 8));
        for (size_t b = 0; b < n; b++, p += 8)
            put_le(p, bucket_digest(s, b), 8);
        ivt_mpw_commit(w, p);
    }
    return ivt_mpw_error(w);
}

int crdt_store_digest_decode(const struct crdt_store *s, uint64_t *out, size_t n,
                             const uint8_t *data, size_t len)
{
    const uint8_t *pos = data, *end = data + len, *b;
    int rc = crdt__read_header(&pos, end, 3);
    if (rc)
        return rc;
    uint64_t bits;
    uint32_t blen;
    if (ivt_mp_read_uint_max(&pos, end, 16, &bits) || ivt_mp_read_bin(&pos, end, &b, &blen) ||
        pos != end)
        return IVT_EPROTO;
    if (bits != s->cfg.digest_bits || n != crdt_store_digest_size(s))
        return IVT_EINVAL;
    if (blen != n * 8)
        return IVT_EPROTO;
    for (size_t i = 0; i < n; i++)
        out[i] = get_le64(b + i * 8);
    return 0;
}

struct order {
    uint64_t h;
    uint32_t kind;
    uint32_t idx;
};

static int order_cmp(const void *a, const void *b)
{
    const struct order *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->kind < y->kind ? -1 : x->kind > y->kind;
}

static inline bool order_less(const struct order *x, const struct order *y)
{
    return x->h != y->h ? x->h < y->h : x->kind < y->kind;
}

enum {
    /* Hash bits of the canonical order's radix pass: at most 2,048 bins
     * (8 KiB of counters on the stack), about a record a bin for a
     * repair's bucket of a million-record store (some 1,000 records). */
    ORDER_RADIX_BITS = 11,
    /* Bins up to this size are sorted by insertion, larger ones (a store
     * of millions of records per bucket, a snapshot) by qsort. */
    ORDER_INSERTION_MAX = 16,
};

/*
 * Sorts the k records at o into canonical order (hash, kind), given that
 * their hashes agree in the top prefix bits (a digest bucket's do). Keyed
 * hashes are uniform below those bits, so one pass of a radix sort on the
 * next bits leaves a record or two per bin, then sorted by insertion: a
 * qsort through its comparison callback was a tenth of a repair. Writes
 * to tmp (room for k); returns where the sorted records are.
 */
static struct order *order_sort(struct order *o, struct order *tmp, size_t k, unsigned prefix)
{
    if (k < 2)
        return o;
    unsigned bits = 1;
    while (bits < ORDER_RADIX_BITS && ((size_t)1 << bits) < k)
        bits++;
    unsigned shift = 64 - prefix - bits; /* prefix <= 16 (digest_bits) */
    uint64_t mask = ((uint64_t)1 << bits) - 1;
    /* at[b + 1] counts bin b; summed, at[b] is where bin b starts; after
     * the scatter, where it ends. */
    uint32_t at[(1u << ORDER_RADIX_BITS) + 1];
    memset(at, 0, (((size_t)1 << bits) + 1) * sizeof(*at));
    for (size_t i = 0; i < k; i++)
        at[((o[i].h >> shift) & mask) + 1]++;
    for (size_t b = 1; b <= mask + 1; b++)
        at[b] += at[b - 1];
    for (size_t i = 0; i < k; i++)
        tmp[at[(o[i].h >> shift) & mask]++] = o[i];
    for (size_t b = 0, from = 0; b <= mask; from = at[b++]) {
        size_t n = at[b] - from;
        struct order *r = tmp + from;
        if (n > ORDER_INSERTION_MAX) {
            qsort(r, n, sizeof(*r), order_cmp);
            continue;
        }
        for (size_t i = 1; i < n; i++) {
            struct order x = r[i];
            size_t j = i;
            for (; j > 0 && order_less(&x, &r[j - 1]); j--)
                r[j] = r[j - 1];
            r[j] = x;
        }
    }
    return tmp;
}

/* Room for n entries in *o (capacity *cap), doubling. Returns false when
 * it cannot grow. */
static bool order_reserve(struct order **o, size_t *cap, size_t n)
{
    if (n <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < n)
        c *= 2;
    struct order *p = realloc(*o, c * sizeof(*p));
    if (!p)
        return false;
    *o = p;
    *cap = c;
    return true;
}

enum {
    /* Differing buckets whose record lists a repair walks in step. A step
     * of one walk waits for a record's lines (the list runs through the
     * slab in no order), so walks of several lists overlap their misses;
     * a 1 MiB repair of a million-record store spans some 17 buckets.
     * Fewer walks overlap too few misses, more leave the first buckets'
     * records out of the cache by the time they are written (best of 20
     * repairs: 2 walks 4.3-4.5 ms, 4 3.6-3.8, 6 3.5-3.9, 8 3.9-4.2, 12
     * 4.6-5.1); four also walk least past the budget's cut. */
    REPAIR_WALKS = 4,
};

/* The records of a group of differing buckets, as a repair sends them. */
struct repair_group {
    size_t n;                      /* buckets in the group */
    size_t b[REPAIR_WALKS];        /* their numbers, ascending */
    struct order *o[REPAIR_WALKS]; /* bucket b[i]'s admitted records */
    size_t cap[REPAIR_WALKS], k[REPAIR_WALKS];
    bool failed[REPAIR_WALKS]; /* o[i] could not grow: bucket b[i] not listed */
    struct order *tmp;         /* order_sort's room */
    size_t tcap;
};

/* Lists each bucket of g's admitted records into g->o[i], the lists walked
 * in step. A bucket whose array cannot grow is marked failed. */
static void repair_gather(struct crdt_store *s, struct repair_group *g)
{
    uint32_t cur[REPAIR_WALKS];
    for (size_t i = 0; i < g->n; i++) {
        cur[i] = s->bhead[g->b[i]];
        g->k[i] = 0;
        g->failed[i] = false;
    }
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < g->n; i++) {
            uint32_t idx = cur[i];
            if (idx == NONE)
                continue;
            more = true;
            const struct ent *e = &s->ents[idx];
            cur[i] = e->lk[LK_BUCKET].next;
            if (!e->admitted)
                continue; /* local only: never repaired */
            if (!order_reserve(&g->o[i], &g->cap[i], g->k[i] + 1)) {
                g->failed[i] = true;
                cur[i] = NONE;
                continue;
            }
            g->o[i][g->k[i]++] = (struct order){e->h, e->kind, idx};
            /* Its key is read when it is written, a sort and some records
             * later: fetched now, its miss overlaps the walks'. */
            __builtin_prefetch(e->key, 0);
        }
    }
}

/*
 * Appends the records at o (k, in canonical order) to the message, up to
 * budget. Returns how many fit. A record's head and key pointer are
 * fetched ENC_AHEAD records before it is written (its key was fetched by
 * the walk): a record was otherwise some 1 us of cache misses one after
 * the other (its lines, then its key).
 */
static size_t repair_write(struct crdt_store *s, const struct order *o, size_t k, size_t budget,
                           bool *over)
{
    *over = false;
    for (size_t j = 0; j < k; j++) {
        if (j + ENC_AHEAD < k)
            prefetch_record(&s->ents[o[j + ENC_AHEAD].idx]);
        size_t len = s->scratch.len;
        uint32_t no = s->msg_norigins;
        write_entity(s, &s->scratch, &s->ents[o[j].idx], 0, O_MESSAGE, false);
        if (msg_size(s) > budget) {
            msg_rollback(s, len, no);
            *over = true;
            return j;
        }
    }
    return k;
}

/* crdt_store_repair and crdt_store_repair_part: soft is SIZE_MAX for the
 * first (it stops at the budget only). */
static int repair(struct crdt_store *s, struct ivt_mpw *w, const uint64_t *peer, size_t n,
                  size_t *resume, size_t soft, size_t budget, size_t digest_max, size_t *n_out)
{
    *n_out = 0;
    size_t nb = crdt_store_digest_size(s);
    if (n != nb)
        return IVT_EINVAL;
    if (*resume >= nb) {
        *resume = nb;
        return 0;
    }
    uint64_t *ours = malloc(nb * sizeof(*ours));
    if (!ours)
        return IVT_ENOMEM;
    crdt_store_digest_max(s, ours, nb, digest_max);
    struct repair_group g;
    memset(&g, 0, sizeof(g));
    size_t n_ent = 0, next = nb;
    int rc = 0;
    bool done = false;
    msg_begin(s);
    /* From *resume, the differing buckets a group at a time: only their
     * records are read and sorted, through the bucket lists. */
    for (size_t b = *resume; b < nb && !done;) {
        for (g.n = 0; b < nb && g.n < REPAIR_WALKS; b++)
            if (ours[b] != peer[b])
                g.b[g.n++] = b;
        repair_gather(s, &g);
        for (size_t i = 0; i < g.n; i++) {
            if (g.failed[i] || !order_reserve(&g.tmp, &g.tcap, g.k[i])) {
                rc = IVT_ENOMEM;
                done = true;
                break;
            }
            const struct order *o = order_sort(g.o[i], g.tmp, g.k[i], s->cfg.digest_bits);
            size_t len0 = s->scratch.len;
            uint32_t no0 = s->msg_norigins;
            bool over;
            size_t j = repair_write(s, o, g.k[i], budget, &over);
            if (!over) {
                n_ent += j;
                if (msg_size(s) >= soft) {
                    /* A part's worth: the rest from the next bucket on. */
                    next = g.b[i] + 1;
                    done = true;
                    break;
                }
                continue;
            }
            if (n_ent == 0 && j > 0) {
                /* One bucket over the budget: send what fits of it. */
                n_ent = j;
                next = g.b[i] + 1;
            } else {
                msg_rollback(s, len0, no0);
                next = g.b[i];
            }
            done = true;
            break;
        }
    }
    for (size_t i = 0; i < REPAIR_WALKS; i++)
        free(g.o[i]);
    free(g.tmp);
    free(ours);
    if (rc)
        return rc;
    if (!n_ent && next < nb)
        return IVT_ENOSPC;
    if (n_ent)
        rc = msg_end(s, w, MSG_REPAIR, n_ent);
    if (rc)
        return rc;
    *resume = next;
    *n_out = n_ent;
    return 0;
}

int crdt_store_repair(struct crdt_store *s, struct ivt_mpw *w, const uint64_t *peer, size_t n,
                      size_t *resume, size_t budget, size_t digest_max, size_t *n_out)
{
    return repair(s, w, peer, n, resume, SIZE_MAX, budget, digest_max, n_out);
}

int crdt_store_repair_part(struct crdt_store *s, struct ivt_mpw *w, const uint64_t *peer, size_t n,
                           size_t *resume, size_t soft, size_t budget, size_t *n_out)
{
    return repair(s, w, peer, n, resume, soft, budget, 0, n_out);
}

void crdt_store_slab_ahead(const struct crdt_store *s, void **at, size_t *len, size_t ahead)
{
    size_t left = (size_t)(s->cfg.max_entities - s->used_hi) * sizeof(*s->ents);
    *at = &s->ents[s->used_hi];
    *len = left < ahead ? left : ahead;
}

int crdt_store_encode(struct crdt_store *s, struct ivt_mpw *w)
{
    size_t cap = s->nents ? s->nents : 1;
    struct order *o = malloc(2 * cap * sizeof(*o));
    if (!o)
        return IVT_ENOMEM;
    size_t k = 0;
    for (uint32_t i = 0; i < s->used_hi; i++)
        if (s->ents[i].live)
            o[k++] = (struct order){s->ents[i].h, s->ents[i].kind, i};
    const struct order *sorted = order_sort(o, o + cap, k, 0);
    msg_begin(s);
    for (size_t i = 0; i < k; i++)
        write_entity(s, &s->scratch, &s->ents[sorted[i].idx], 0, O_MESSAGE, false);
    free(o);
    return msg_end(s, w, MSG_SNAPSHOT, k);
}

int crdt_store_encode_part(struct crdt_store *s, struct ivt_mpw *w, uint32_t *cursor, size_t max,
                           size_t bytes)
{
    uint32_t i = *cursor;
    size_t k = 0;
    msg_begin(s);
    for (; i < s->used_hi && k < max && s->scratch.len < bytes; i++) {
        if (!s->ents[i].live)
            continue;
        write_entity(s, &s->scratch, &s->ents[i], 0, O_MESSAGE, false);
        k++;
    }
    int rc = msg_end(s, w, MSG_SNAPSHOT, k);
    if (rc)
        return rc;
    *cursor = i;
    return i < s->used_hi ? 1 : 0;
}

/* ---- numbers ------------------------------------------------------------ */

static struct footprint ent_footprint(const struct crdt_store *s, const struct ent *e)
{
    struct footprint f = {0, 0, 0};
    size_t pc = creg_bytes(s), pd = dset_reg_bytes(s);
    /* Arrays held in the record are counted in the slab. */
    f.bytes = e->key_len + 1u + (uint64_t)e->cappcells * sizeof(struct pcell);
    if (e->slots != &e->slot1)
        f.bytes += (uint64_t)e->capslots * sizeof(struct slot);
    if (e->buckets != &e->bucket1)
        f.bytes += (uint64_t)e->capbuckets * sizeof(struct bucket);
    for (uint32_t j = 0; j < e->npcells; j++) {
        f.pcells++;
        for (int m = 0; m < CRDT_COUNTERS; m++)
            f.bytes += e->pcells[j].reg[m] ? pc : 0;
    }
    for (uint32_t j = 0; j < e->nbuckets; j++)
        for (int d = 0; d < NSETS; d++) {
            const struct dset *ds = &e->buckets[j].set[d];
            if (ds->promoted) {
                f.psets++;
                f.bytes += ds->promoted == DSET_DENSE ? pd : (uint64_t)ds->cap * 4;
            } else {
                f.bytes += (uint64_t)ds->cap * 8;
            }
        }
    return f;
}

/* What every stats call shares: the counters and the fixed allocations. */
static void stats_fixed(const struct crdt_store *s, struct crdt_store_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->entities = s->nents;
    out->evictions = s->evictions;
    out->expired = s->expired;
    out->origins = s->norigins_live;
    out->version = s->ver;
    out->admitted = s->nadmitted;
    out->bytes = sizeof(*s) + (s->tmask + 1) * sizeof(*s->tab) +
                 (uint64_t)s->used_hi * sizeof(*s->ents) +
                 (uint64_t)s->ocap * (sizeof(*s->origins) + sizeof(*s->msg_origins)) +
                 (uint64_t)(s->omap ? s->omask + 1 : 0) * sizeof(*s->omap) +
                 (uint64_t)(s->omemo ? (s->omemo_mask + 1) * OMEMO_WAYS : 0) * sizeof(*s->omemo) +
                 (uint64_t)s->in_cap * sizeof(*s->in_origins) + s->scratch.cap;
}

void crdt_store_stats(const struct crdt_store *s, struct crdt_store_stats *out)
{
    stats_fixed(s, out);
    out->bytes += s->acct_bytes;
    out->promoted_counters = s->acct_pcells;
    out->promoted_sets = s->acct_psets;
}

void crdt__store_recount(const struct crdt_store *s, struct crdt_store_stats *out)
{
    stats_fixed(s, out);
    out->entities = 0;
    out->admitted = 0;
    for (uint32_t i = 0; i < s->used_hi; i++) {
        const struct ent *e = &s->ents[i];
        if (!e->live)
            continue;
        struct footprint f = ent_footprint(s, e);
        out->entities++;
        out->admitted += e->admitted;
        out->bytes += f.bytes;
        out->promoted_counters += f.pcells;
        out->promoted_sets += f.psets;
    }
}
