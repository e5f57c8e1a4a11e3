/*
 * crdt/lww.c: operator decisions, a last-writer-wins map under a hybrid
 * logical clock.
 *
 * Parts: the HLC (Kulkarni et al. 2014, packed in one u64: 48 bits of wall
 * ms, 16 logical), the map (a sorted array by (kind, hash): decisions are
 * few, so binary search and memmove beat a hash table in code and in
 * canonical encoding, which is then just the array in order), garbage
 * collection and the codec.
 *
 * Departure from a plain LWW map: records dominated by a newer one vanish
 * (the map keeps one per key), and every record is dropped once past
 * hlc + MAX_TTL + GRACE, when nothing it could beat is alive; records that
 * old arriving late are ignored. So CLEAR needs no tombstone beyond that
 * bound and no causal-stability protocol.
 */
#include "crdt/lww.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "crdt/internal.h"

/* ---- HLC ------------------------------------------------------------- */

enum { LOGICAL_MASK = (1 << CRDT_HLC_LOGICAL_BITS) - 1 };

uint64_t crdt_hlc_now(struct crdt_hlc *c, ivt_ms wall)
{
    uint64_t phys = (uint64_t)(wall < 0 ? 0 : wall) << CRDT_HLC_LOGICAL_BITS;
    /* Physical time ahead of everything seen: use it. Otherwise count on
     * from the last timestamp (the logical part absorbs clock steps back). */
    c->last = phys > c->last ? phys : c->last + 1;
    return c->last;
}

void crdt_hlc_observe(struct crdt_hlc *c, uint64_t remote)
{
    if (remote > c->last)
        c->last = remote;
}

/* ---- the map ---------------------------------------------------------- */

struct rec {
    struct crdt_decision d;
    uint8_t key_len, reason_len;
    uint8_t dirty;
};

struct crdt_lww {
    struct crdt_origin self;
    struct crdt_hlc clock;
    struct rec *r;
    uint32_t n, cap, max;
};

int crdt_lww_new(struct crdt_lww **out, const struct crdt_origin *self, uint32_t max_entries)
{
    *out = NULL;
    if (!max_entries)
        return IVT_EINVAL;
    struct crdt_lww *l = calloc(1, sizeof(*l));
    if (!l)
        return IVT_ENOMEM;
    l->self = *self;
    l->max = max_entries;
    *out = l;
    return 0;
}

void crdt_lww_delete(struct crdt_lww *l)
{
    if (!l)
        return;
    free(l->r);
    free(l);
}

static int key_cmp(enum crdt_kind ka, uint64_t ha, enum crdt_kind kb, uint64_t hb)
{
    if (ka != kb)
        return ka < kb ? -1 : 1;
    return ha < hb ? -1 : ha > hb;
}

/* Index of (kind, hash), or where it would go (then *found is false). */
static uint32_t find(const struct crdt_lww *l, enum crdt_kind kind, uint64_t hash, bool *found)
{
    uint32_t lo = 0, hi = l->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (key_cmp(l->r[mid].d.kind, l->r[mid].d.hash, kind, hash) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < l->n && l->r[lo].d.kind == kind && l->r[lo].d.hash == hash;
    return lo;
}

/* (hlc, origin) of a beats b's: the LWW order. */
static bool newer(const struct crdt_decision *a, const struct crdt_decision *b)
{
    if (a->hlc != b->hlc)
        return a->hlc > b->hlc;
    return crdt_origin_cmp(&a->origin, &b->origin) > 0;
}

static bool past_horizon(uint64_t hlc, ivt_ms wall)
{
    return crdt_hlc_ms(hlc) + CRDT_LWW_MAX_TTL + CRDT_LWW_GRACE <= wall;
}

/* Joins one record. Returns 1 when it won, 0 when not, or IVT_ELIMIT /
 * IVT_ENOMEM. */
static int join(struct crdt_lww *l, const struct rec *x)
{
    bool found;
    uint32_t i = find(l, x->d.kind, x->d.hash, &found);
    if (found) {
        if (!newer(&x->d, &l->r[i].d))
            return 0;
        l->r[i] = *x;
        l->r[i].dirty = 1;
        return 1;
    }
    if (l->n >= l->max)
        return IVT_ELIMIT;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 16;
        if (cap > l->max)
            cap = l->max;
        struct rec *p = realloc(l->r, cap * sizeof(*p));
        if (!p)
            return IVT_ENOMEM;
        l->r = p;
        l->cap = cap;
    }
    memmove(l->r + i + 1, l->r + i, (l->n - i) * sizeof(*l->r));
    l->r[i] = *x;
    l->r[i].dirty = 1;
    l->n++;
    return 1;
}

static void copy_text(char *out, uint8_t *len, const char *s, size_t n, size_t max)
{
    if (n > max)
        n = max;
    if (n)
        memcpy(out, s, n);
    out[n] = 0;
    *len = (uint8_t)n;
}

int crdt_lww_set(struct crdt_lww *l, enum crdt_kind kind, uint64_t hash, const char *key,
                 size_t key_len, enum crdt_action action, const char *reason, size_t reason_len,
                 ivt_ms ttl, ivt_ms wall)
{
    if ((unsigned)kind >= CRDT_KINDS || action < CRDT_ACT_BAN || action > CRDT_ACT_CLEAR)
        return IVT_EINVAL;
    if (action != CRDT_ACT_CLEAR && (ttl <= 0 || ttl > CRDT_LWW_MAX_TTL))
        return IVT_EINVAL;
    struct rec x;
    memset(&x, 0, sizeof(x));
    x.d.kind = kind;
    x.d.hash = hash;
    copy_text(x.d.key, &x.key_len, key, key_len, CRDT_KEY_MAX);
    copy_text(x.d.reason, &x.reason_len, reason, reason_len, CRDT_REASON_MAX);
    x.d.action = action;
    x.d.hlc = crdt_hlc_now(&l->clock, wall);
    x.d.origin = l->self;
    /* CLEAR matters until it can beat nothing alive. */
    x.d.expires = crdt_hlc_ms(x.d.hlc) + (action == CRDT_ACT_CLEAR ? CRDT_LWW_MAX_TTL : ttl);
    int rc = join(l, &x);
    return rc < 0 ? rc : 0;
}

const struct crdt_decision *crdt_lww_get(const struct crdt_lww *l, enum crdt_kind kind,
                                         uint64_t hash, ivt_ms wall)
{
    bool found;
    uint32_t i = find(l, kind, hash, &found);
    if (!found)
        return NULL;
    const struct crdt_decision *d = &l->r[i].d;
    if (d->action == CRDT_ACT_CLEAR || d->expires <= wall)
        return NULL;
    return d;
}

size_t crdt_lww_count(const struct crdt_lww *l)
{
    return l->n;
}

const struct crdt_decision *crdt_lww_at(const struct crdt_lww *l, size_t i)
{
    return i < l->n ? &l->r[i].d : NULL;
}

size_t crdt_lww_gc(struct crdt_lww *l, ivt_ms wall)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < l->n; i++)
        if (!past_horizon(l->r[i].d.hlc, wall))
            l->r[j++] = l->r[i];
    size_t dropped = l->n - j;
    l->n = j;
    return dropped;
}

/* ---- codec ------------------------------------------------------------- */

enum { REC_FIELDS = 8 };

static void write_rec(struct ivt_mpw *w, const struct rec *x)
{
    uint8_t o[CRDT_ORIGIN_BYTES];
    crdt_origin_pack(o, &x->d.origin);
    ivt_mpw_array(w, REC_FIELDS);
    ivt_mpw_uint(w, x->d.kind);
    ivt_mpw_uint(w, x->d.hash);
    ivt_mpw_bin(w, x->d.key, x->key_len);
    ivt_mpw_uint(w, x->d.action);
    ivt_mpw_bin(w, x->d.reason, x->reason_len);
    ivt_mpw_uint(w, x->d.hlc);
    ivt_mpw_bin(w, o, sizeof(o));
    ivt_mpw_int(w, x->d.expires);
}

static int write_some(struct crdt_lww *l, struct ivt_mpw *w, bool only_dirty, size_t *n_out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < l->n; i++)
        n += !only_dirty || l->r[i].dirty;
    if (n_out)
        *n_out = n;
    if (only_dirty && !n)
        return 0;
    ivt_mpw_array(w, 2);
    ivt_mpw_uint(w, CRDT_FORMAT_VERSION);
    ivt_mpw_array(w, n);
    for (uint32_t i = 0; i < l->n; i++)
        if (!only_dirty || l->r[i].dirty)
            write_rec(w, &l->r[i]);
    int rc = ivt_mpw_error(w);
    if (!rc && only_dirty)
        for (uint32_t i = 0; i < l->n; i++)
            l->r[i].dirty = 0;
    return rc;
}

int crdt_lww_encode(const struct crdt_lww *l, struct ivt_mpw *w)
{
    return write_some((struct crdt_lww *)l, w, false, NULL);
}

int crdt_lww_flush(struct crdt_lww *l, struct ivt_mpw *w, size_t *n_out)
{
    return write_some(l, w, true, n_out);
}

static int read_rec(const uint8_t **pos, const uint8_t *end, struct rec *x)
{
    uint32_t n;
    uint64_t v;
    memset(x, 0, sizeof(*x));
    if (ivt_mp_read_array(pos, end, &n) || n != REC_FIELDS ||
        ivt_mp_read_uint_max(pos, end, CRDT_KINDS - 1, &v))
        return IVT_EPROTO;
    x->d.kind = (enum crdt_kind)v;
    if (ivt_mp_read_uint(pos, end, &x->d.hash) ||
        crdt__read_text(pos, end, x->d.key, CRDT_KEY_MAX, &x->key_len) ||
        ivt_mp_read_uint_max(pos, end, CRDT_ACT_CLEAR, &v) || v < CRDT_ACT_BAN)
        return IVT_EPROTO;
    x->d.action = (enum crdt_action)v;
    int64_t expires;
    if (crdt__read_text(pos, end, x->d.reason, CRDT_REASON_MAX, &x->reason_len) ||
        ivt_mp_read_uint(pos, end, &x->d.hlc) || crdt__read_origin(pos, end, &x->d.origin) ||
        ivt_mp_read_int(pos, end, &expires))
        return IVT_EPROTO;
    /* The cap is what makes GC safe: a longer life is malformed. */
    if (expires < crdt_hlc_ms(x->d.hlc) || expires > crdt_hlc_ms(x->d.hlc) + CRDT_LWW_MAX_TTL)
        return IVT_EPROTO;
    x->d.expires = expires;
    return 0;
}

int crdt_lww_merge(struct crdt_lww *l, const uint8_t *data, size_t len, ivt_ms wall,
                   size_t *changed)
{
    const uint8_t *pos = data, *end = data + len;
    size_t won = 0;
    if (changed)
        *changed = 0;
    int rc = crdt__read_header(&pos, end, 2);
    if (rc)
        return rc;
    uint32_t n;
    if (ivt_mp_read_array(&pos, end, &n))
        return IVT_EPROTO;
    /* Check the whole message first: a bad one changes nothing. */
    const uint8_t *p = pos;
    struct rec x, prev;
    for (uint32_t i = 0; i < n; i++) {
        if (read_rec(&p, end, &x))
            return IVT_EPROTO;
        if (i && key_cmp(prev.d.kind, prev.d.hash, x.d.kind, x.d.hash) >= 0)
            return IVT_EPROTO;
        prev = x;
    }
    if (p != end)
        return IVT_EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        read_rec(&pos, end, &x);
        crdt_hlc_observe(&l->clock, x.d.hlc);
        if (past_horizon(x.d.hlc, wall))
            continue;
        rc = join(l, &x);
        if (rc < 0)
            return rc;
        won += (size_t)rc;
        if (changed)
            *changed = won;
    }
    return 0;
}
