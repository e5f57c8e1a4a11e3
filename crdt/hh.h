/*
 * crdt/hh.h: heavy hitters, one Space-Saving summary per origin, versioned
 * by its owner.
 *
 * Space-Saving is not idempotent under merge (merging a summary twice counts
 * it twice), so it is replicated as a "G-Counter of sketches": each origin
 * owns one slot (its latest published summary and a version only it
 * raises); the join keeps, per origin, the higher version. Queries add the
 * slots up. Slots carry the epoch they were published in; slots older than
 * the window are dropped locally, and at most max_owners slots are kept, the
 * most recent (epoch desc, origin asc): both are functions of the state, so
 * the join stays a lattice.
 */
#ifndef IVT_CRDT_HH_H
#define IVT_CRDT_HH_H

#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

struct ivt_mpw;
struct crdt_hh;

struct crdt_hh_item {
    uint64_t hash;  /* the item (an entity hash) */
    uint64_t count; /* an upper bound of its true count */
    uint64_t error; /* count - error is a lower bound */
};

enum { CRDT_HH_K_MAX = 4096, CRDT_HH_OWNERS_MAX = 4096 };

/* k counters per summary (1 .. CRDT_HH_K_MAX), at most max_owners slots
 * (1 .. CRDT_HH_OWNERS_MAX). Returns 0, IVT_EINVAL, IVT_ENOMEM. */
int crdt_hh_new(struct crdt_hh **out, const struct crdt_origin *self, uint32_t k,
                uint32_t max_owners);
void crdt_hh_delete(struct crdt_hh *h);

/* Counts n occurrences of item in the local summary (not yet published). */
void crdt_hh_observe(struct crdt_hh *h, uint64_t item, uint64_t n);
/* Whether item is surely among the k heaviest of the local summary: it is
 * monitored with a guaranteed count (count - error) of at least min_count
 * (and at least 1), and, once all k counters are taken, that count is above
 * the smallest counter (no unmonitored item can have more). Returns the
 * guaranteed count when it is, 0 otherwise. */
uint64_t crdt_hh_local_heavy(const struct crdt_hh *h, uint64_t item, uint64_t min_count);
/* Empties the local summary (e.g. at the start of a new period). */
void crdt_hh_clear_local(struct crdt_hh *h);

/* Publishes the local summary as this origin's slot, version + 1, stamped
 * with epoch. */
void crdt_hh_publish(struct crdt_hh *h, uint32_t epoch);

/* Drops slots published before floor_epoch. Returns how many. */
size_t crdt_hh_expire(struct crdt_hh *h, uint32_t floor_epoch);

/* The fleet's heaviest items: counts and errors summed over slots, largest
 * count first (ties: smaller hash). Returns how many were written. */
size_t crdt_hh_top(const struct crdt_hh *h, struct crdt_hh_item *out, size_t max);

/* Slots held. */
size_t crdt_hh_owners(const struct crdt_hh *h);

/*
 * Message: [1, k, [[origin(bin 20), version, epoch, [[hash, count, error] ...]] ...]]
 * slots strictly increasing by origin, items strictly increasing by hash.
 * encode writes every slot (canonical); encode_own only ours.
 */
int crdt_hh_encode(const struct crdt_hh *h, struct ivt_mpw *w);
int crdt_hh_encode_own(const struct crdt_hh *h, struct ivt_mpw *w);

/* Joins a message; slots published before floor_epoch are ignored. Returns
 * 0, IVT_EPROTO, IVT_EVERSION, IVT_EINVAL (another k), IVT_ENOMEM. */
int crdt_hh_merge(struct crdt_hh *h, const uint8_t *data, size_t len, uint32_t floor_epoch);

#endif
