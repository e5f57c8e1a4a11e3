/*
 * crdt/lww.h: operator decisions (ban / allow / clear) as a last-writer-wins
 * map ordered by a hybrid logical clock, ties broken by origin.
 *
 * A decision is keyed by entity (kind, hash). The join keeps, per key, the
 * record with the larger (hlc, origin). TTLs are capped at CRDT_LWW_MAX_TTL:
 * every record a decision at hlc t can beat has hlc < t and so expires
 * before t + MAX_TTL; once the wall clock passes t + MAX_TTL + GRACE nothing
 * it dominates is alive anywhere, so it is dropped, and records that old
 * arriving later are ignored. No tombstone lives longer than that.
 */
#ifndef IVT_CRDT_LWW_H
#define IVT_CRDT_LWW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "crdt/crdt.h"

struct ivt_mpw;

/* ---- hybrid logical clock (Kulkarni et al. 2014) ------------------------ */

/* A timestamp is (wall ms << 16) | logical: orders like the pair. */
enum { CRDT_HLC_LOGICAL_BITS = 16 };

struct crdt_hlc {
    uint64_t last;
};

/* A timestamp for a local event at wall: later than every one issued or
 * observed before. */
uint64_t crdt_hlc_now(struct crdt_hlc *c, ivt_ms wall);
/* Takes a remote timestamp into account (so later local ones exceed it). */
void crdt_hlc_observe(struct crdt_hlc *c, uint64_t remote);

static inline ivt_ms crdt_hlc_ms(uint64_t t)
{
    return (ivt_ms)(t >> CRDT_HLC_LOGICAL_BITS);
}

/* ---- decisions ------------------------------------------------------- */

enum crdt_action { CRDT_ACT_BAN = 1, CRDT_ACT_ALLOW = 2, CRDT_ACT_CLEAR = 3 };

#define CRDT_LWW_MAX_TTL ((ivt_ms)30 * 24 * 3600 * 1000) /* 30 days: the tombstone bound */
#define CRDT_LWW_GRACE   ((ivt_ms)3600 * 1000)           /* covers clock skew and late gossip */

struct crdt_decision {
    enum crdt_kind kind;
    uint64_t hash;
    char key[CRDT_KEY_MAX + 1]; /* display key, NUL-terminated */
    enum crdt_action action;
    char reason[CRDT_REASON_MAX + 1]; /* NUL-terminated */
    uint64_t hlc;                     /* when decided (crdt_hlc_ms gives wall ms) */
    struct crdt_origin origin;        /* who decided */
    ivt_ms expires;                   /* wall ms; for CLEAR, when it stops mattering */
};

struct crdt_lww;

/* Returns 0, IVT_EINVAL (max_entries 0), IVT_ENOMEM. */
int crdt_lww_new(struct crdt_lww **out, const struct crdt_origin *self, uint32_t max_entries);
void crdt_lww_delete(struct crdt_lww *l);

/*
 * Decides for (kind, hash) with the display key and reason (both truncated
 * to their bounds), valid for ttl ms from wall (CLEAR: ttl ignored).
 * Returns 0, or IVT_EINVAL (bad kind or action, ttl <= 0 or over
 * CRDT_LWW_MAX_TTL), IVT_ELIMIT (max_entries live records).
 */
int crdt_lww_set(struct crdt_lww *l, enum crdt_kind kind, uint64_t hash, const char *key,
                 size_t key_len, enum crdt_action action, const char *reason, size_t reason_len,
                 ivt_ms ttl, ivt_ms wall);

/* The decision in force for (kind, hash) at wall (a BAN or ALLOW not yet
 * expired), or NULL. Valid until the next mutation. */
const struct crdt_decision *crdt_lww_get(const struct crdt_lww *l, enum crdt_kind kind,
                                         uint64_t hash, ivt_ms wall);

/* Every record held (in force or not), in canonical order (kind, hash);
 * i < crdt_lww_count. */
size_t crdt_lww_count(const struct crdt_lww *l);
const struct crdt_decision *crdt_lww_at(const struct crdt_lww *l, size_t i);

/* Drops records past hlc + MAX_TTL + GRACE. Returns how many. */
size_t crdt_lww_gc(struct crdt_lww *l, ivt_ms wall);

/*
 * Message: [1, [[kind, hash, key(bin), action, reason(bin), hlc, origin(bin 20),
 *               expires] ...]]  records strictly increasing by (kind, hash).
 * encode writes every record (canonical); flush writes the records changed
 * since the previous flush (*n_out of them; nothing written when 0).
 */
int crdt_lww_encode(const struct crdt_lww *l, struct ivt_mpw *w);
int crdt_lww_flush(struct crdt_lww *l, struct ivt_mpw *w, size_t *n_out);

/*
 * Joins a message. Records older than the GC horizon at wall are ignored;
 * their hlc advances our clock. Returns 0 (*changed, may be NULL, counts
 * records that won), or IVT_EPROTO, IVT_EVERSION, IVT_ELIMIT (the map is
 * full; the records before were applied).
 */
int crdt_lww_merge(struct crdt_lww *l, const uint8_t *data, size_t len, ivt_ms wall,
                   size_t *changed);

#endif
