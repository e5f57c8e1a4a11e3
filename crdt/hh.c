/*
 * crdt/hh.c: heavy hitters as per-origin Space-Saving summaries.
 *
 * Parts: the local Space-Saving summary (Metwally et al. 2005: k counters;
 * an unseen item replaces the minimum and inherits its count as error), an
 * index from item to counter (open addressing, backward-shift deletion),
 * the replicated slots (one per origin: version, epoch, sorted items) and
 * the codec.
 *
 * Departure from the mergeable-summaries recipe (Agarwal et al.): we do not
 * MG-merge summaries into one, because that merge is not idempotent. Each
 * origin's summary stays whole in its slot (a G-Counter of sketches), the
 * join keeps the higher version per origin, and a query adds slots up. The
 * minimum search on replacement is linear in k: it only runs for an item
 * not in the summary, and k is small.
 */
#include "crdt/hh.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "crdt/internal.h"

enum { EMPTY = 0 };

struct slot {
    struct crdt_origin origin;
    uint64_t ver;
    uint32_t epoch;
    uint32_t n;
    struct crdt_hh_item *items; /* sorted by hash */
};

struct crdt_hh {
    struct crdt_origin self;
    uint32_t k, max_owners;
    /* local summary */
    struct crdt_hh_item *cnt;
    uint32_t ncnt;
    uint32_t *index; /* counter position + 1 */
    uint32_t imask;
    uint64_t own_ver;
    /* replicated slots, sorted by origin */
    struct slot *slots;
    uint32_t nslots;
};

int crdt_hh_new(struct crdt_hh **out, const struct crdt_origin *self, uint32_t k,
                uint32_t max_owners)
{
    *out = NULL;
    if (k < 1 || k > CRDT_HH_K_MAX || max_owners < 1 || max_owners > CRDT_HH_OWNERS_MAX)
        return IVT_EINVAL;
    struct crdt_hh *h = calloc(1, sizeof(*h));
    if (!h)
        return IVT_ENOMEM;
    h->self = *self;
    h->k = k;
    h->max_owners = max_owners;
    uint32_t isize = 1;
    while (isize < 2 * k)
        isize <<= 1;
    h->imask = isize - 1;
    h->cnt = calloc(k, sizeof(*h->cnt));
    h->index = calloc(isize, sizeof(*h->index));
    h->slots = calloc(max_owners + 1, sizeof(*h->slots));
    if (!h->cnt || !h->index || !h->slots) {
        crdt_hh_delete(h);
        return IVT_ENOMEM;
    }
    *out = h;
    return 0;
}

static void slot_free(struct slot *s)
{
    free(s->items);
    s->items = NULL;
}

void crdt_hh_delete(struct crdt_hh *h)
{
    if (!h)
        return;
    if (h->slots)
        for (uint32_t i = 0; i < h->nslots; i++)
            slot_free(&h->slots[i]);
    free(h->slots);
    free(h->cnt);
    free(h->index);
    free(h);
}

/* ---- local summary ---------------------------------------------------- */

static uint32_t home(const struct crdt_hh *h, uint64_t item)
{
    return (uint32_t)(item ^ (item >> 32)) & h->imask;
}

static uint32_t index_find(const struct crdt_hh *h, uint64_t item, uint32_t *at)
{
    for (uint32_t i = home(h, item);; i = (i + 1) & h->imask) {
        uint32_t v = h->index[i];
        if (v == EMPTY || h->cnt[v - 1].hash == item) {
            *at = i;
            return v;
        }
    }
}

static void index_remove(struct crdt_hh *h, uint32_t i)
{
    for (uint32_t j = (i + 1) & h->imask; h->index[j]; j = (j + 1) & h->imask) {
        uint32_t k = home(h, h->cnt[h->index[j] - 1].hash);
        bool movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
        if (movable) {
            h->index[i] = h->index[j];
            i = j;
        }
    }
    h->index[i] = EMPTY;
}

void crdt_hh_observe(struct crdt_hh *h, uint64_t item, uint64_t n)
{
    uint32_t at, v = index_find(h, item, &at);
    if (v) {
        h->cnt[v - 1].count += n;
        return;
    }
    uint32_t pos;
    uint64_t err = 0;
    if (h->ncnt < h->k) {
        pos = h->ncnt++;
    } else {
        pos = 0;
        for (uint32_t i = 1; i < h->k; i++)
            if (h->cnt[i].count < h->cnt[pos].count)
                pos = i;
        uint32_t old_at;
        index_find(h, h->cnt[pos].hash, &old_at);
        index_remove(h, old_at);
        err = h->cnt[pos].count;
        index_find(h, item, &at); /* the removal may have moved the hole */
    }
    h->cnt[pos] = (struct crdt_hh_item){item, err + n, err};
    h->index[at] = pos + 1;
}

uint64_t crdt_hh_local_heavy(const struct crdt_hh *h, uint64_t item, uint64_t min_count)
{
    uint32_t at, v = index_find(h, item, &at);
    if (!v)
        return 0;
    const struct crdt_hh_item *c = &h->cnt[v - 1];
    uint64_t sure = c->count - c->error;
    if (sure < min_count || sure == 0)
        return 0;
    /* Full: an unmonitored item's true count is at most the minimum
     * counter, so only a lower bound above it is surely in the top k. The
     * scan runs only for items already past min_count. */
    if (h->ncnt == h->k) {
        uint64_t least = h->cnt[0].count;
        for (uint32_t i = 1; i < h->k; i++)
            if (h->cnt[i].count < least)
                least = h->cnt[i].count;
        if (sure <= least)
            return 0;
    }
    return sure;
}

void crdt_hh_clear_local(struct crdt_hh *h)
{
    h->ncnt = 0;
    memset(h->index, 0, ((size_t)h->imask + 1) * sizeof(*h->index));
}

/* ---- slots ------------------------------------------------------------ */

static int item_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct crdt_hh_item *)a)->hash, y = ((const struct crdt_hh_item *)b)->hash;
    return x < y ? -1 : x > y;
}

/* Slot order for the owner bound: most recent epoch first, then origin. */
static bool keep_before(const struct slot *a, const struct slot *b)
{
    if (a->epoch != b->epoch)
        return a->epoch > b->epoch;
    return crdt_origin_cmp(&a->origin, &b->origin) < 0;
}

/* Puts x (whose items it now owns) in place of origin's slot if newer.
 * Returns 1 when it went in, 0 (not newer: items freed). */
static int slot_join(struct crdt_hh *h, struct slot *x)
{
    uint32_t i = 0;
    while (i < h->nslots && crdt_origin_cmp(&h->slots[i].origin, &x->origin) < 0)
        i++;
    if (i < h->nslots && !crdt_origin_cmp(&h->slots[i].origin, &x->origin)) {
        if (x->ver <= h->slots[i].ver) {
            slot_free(x);
            return 0;
        }
        slot_free(&h->slots[i]);
        h->slots[i] = *x;
        return 1;
    }
    memmove(h->slots + i + 1, h->slots + i, (h->nslots - i) * sizeof(*h->slots));
    h->slots[i] = *x;
    h->nslots++;
    if (h->nslots > h->max_owners) {
        /* Over the bound: drop the slot that sorts last. */
        uint32_t worst = 0;
        for (uint32_t j = 1; j < h->nslots; j++)
            if (keep_before(&h->slots[worst], &h->slots[j]))
                worst = j;
        bool was_x = worst == i;
        slot_free(&h->slots[worst]);
        memmove(h->slots + worst, h->slots + worst + 1,
                (h->nslots - worst - 1) * sizeof(*h->slots));
        h->nslots--;
        return was_x ? 0 : 1;
    }
    return 1;
}

void crdt_hh_publish(struct crdt_hh *h, uint32_t epoch)
{
    struct slot x = {.origin = h->self, .ver = ++h->own_ver, .epoch = epoch, .n = h->ncnt};
    x.items = malloc((h->ncnt ? h->ncnt : 1) * sizeof(*x.items));
    if (!x.items)
        return; /* keeps the previous version: publishing again will do */
    memcpy(x.items, h->cnt, h->ncnt * sizeof(*x.items));
    qsort(x.items, x.n, sizeof(*x.items), item_cmp);
    slot_join(h, &x);
}

size_t crdt_hh_expire(struct crdt_hh *h, uint32_t floor_epoch)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < h->nslots; i++) {
        if (h->slots[i].epoch < floor_epoch)
            slot_free(&h->slots[i]);
        else
            h->slots[j++] = h->slots[i];
    }
    size_t dropped = h->nslots - j;
    h->nslots = j;
    return dropped;
}

size_t crdt_hh_owners(const struct crdt_hh *h)
{
    return h->nslots;
}

static int top_cmp(const void *a, const void *b)
{
    const struct crdt_hh_item *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

size_t crdt_hh_top(const struct crdt_hh *h, struct crdt_hh_item *out, size_t max)
{
    size_t total = 0;
    for (uint32_t i = 0; i < h->nslots; i++)
        total += h->slots[i].n;
    if (!total || !max)
        return 0;
    struct crdt_hh_item *all = malloc(total * sizeof(*all));
    if (!all)
        return 0;
    size_t k = 0;
    for (uint32_t i = 0; i < h->nslots; i++) {
        memcpy(all + k, h->slots[i].items, h->slots[i].n * sizeof(*all));
        k += h->slots[i].n;
    }
    /* Sum equal items: sort by hash, fold runs. */
    qsort(all, k, sizeof(*all), item_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u && all[u - 1].hash == all[i].hash) {
            all[u - 1].count += all[i].count;
            all[u - 1].error += all[i].error;
        } else {
            all[u++] = all[i];
        }
    }
    qsort(all, u, sizeof(*all), top_cmp);
    size_t n = u < max ? u : max;
    memcpy(out, all, n * sizeof(*out));
    free(all);
    return n;
}

/* ---- codec --------------------------------------------------------------- */

static void write_slot(struct ivt_mpw *w, const struct slot *s)
{
    uint8_t o[CRDT_ORIGIN_BYTES];
    crdt_origin_pack(o, &s->origin);
    ivt_mpw_array(w, 4);
    ivt_mpw_bin(w, o, sizeof(o));
    ivt_mpw_uint(w, s->ver);
    ivt_mpw_uint(w, s->epoch);
    ivt_mpw_array(w, s->n);
    for (uint32_t i = 0; i < s->n; i++) {
        ivt_mpw_array(w, 3);
        ivt_mpw_uint(w, s->items[i].hash);
        ivt_mpw_uint(w, s->items[i].count);
        ivt_mpw_uint(w, s->items[i].error);
    }
}

static int encode_slots(const struct crdt_hh *h, struct ivt_mpw *w, bool own_only)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < h->nslots; i++)
        n += !own_only || !crdt_origin_cmp(&h->slots[i].origin, &h->self);
    ivt_mpw_array(w, 3);
    ivt_mpw_uint(w, CRDT_FORMAT_VERSION);
    ivt_mpw_uint(w, h->k);
    ivt_mpw_array(w, n);
    for (uint32_t i = 0; i < h->nslots; i++)
        if (!own_only || !crdt_origin_cmp(&h->slots[i].origin, &h->self))
            write_slot(w, &h->slots[i]);
    return ivt_mpw_error(w);
}

int crdt_hh_encode(const struct crdt_hh *h, struct ivt_mpw *w)
{
    return encode_slots(h, w, false);
}

int crdt_hh_encode_own(const struct crdt_hh *h, struct ivt_mpw *w)
{
    return encode_slots(h, w, true);
}

/* Reads one slot; with x, copies its items out (at most k of them). */
static int read_slot(const struct crdt_hh *h, const uint8_t **pos, const uint8_t *end,
                     struct slot *x)
{
    uint32_t n;
    uint64_t epoch;
    memset(x, 0, sizeof(*x));
    if (ivt_mp_read_array(pos, end, &n) || n != 4 || crdt__read_origin(pos, end, &x->origin) ||
        ivt_mp_read_uint(pos, end, &x->ver) || ivt_mp_read_uint_max(pos, end, UINT32_MAX, &epoch) ||
        ivt_mp_read_array(pos, end, &n))
        return IVT_EPROTO;
    if (n > h->k)
        return IVT_ETOOBIG;
    x->epoch = (uint32_t)epoch;
    x->n = n;
    x->items = malloc((n ? n : 1) * sizeof(*x->items));
    if (!x->items)
        return IVT_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k;
        struct crdt_hh_item *it = &x->items[i];
        if (ivt_mp_read_array(pos, end, &k) || k != 3 || ivt_mp_read_uint(pos, end, &it->hash) ||
            ivt_mp_read_uint(pos, end, &it->count) || ivt_mp_read_uint(pos, end, &it->error) ||
            it->error > it->count || (i && it->hash <= x->items[i - 1].hash)) {
            slot_free(x);
            return IVT_EPROTO;
        }
    }
    return 0;
}

int crdt_hh_merge(struct crdt_hh *h, const uint8_t *data, size_t len, uint32_t floor_epoch)
{
    const uint8_t *pos = data, *end = data + len;
    int rc = crdt__read_header(&pos, end, 3);
    if (rc)
        return rc;
    uint64_t k;
    uint32_t n;
    if (ivt_mp_read_uint(&pos, end, &k) || ivt_mp_read_array(&pos, end, &n))
        return IVT_EPROTO;
    if (k != h->k)
        return IVT_EINVAL;
    /* Check everything first so a bad message changes nothing. */
    const uint8_t *p = pos;
    struct crdt_origin prev;
    for (uint32_t i = 0; i < n; i++) {
        struct slot x;
        if ((rc = read_slot(h, &p, end, &x)))
            return rc;
        slot_free(&x);
        if (i && crdt_origin_cmp(&prev, &x.origin) >= 0)
            return IVT_EPROTO;
        prev = x.origin;
    }
    if (p != end)
        return IVT_EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        struct slot x;
        if ((rc = read_slot(h, &pos, end, &x)))
            return rc;
        /* Our own slot only ever comes from us. */
        if (x.epoch < floor_epoch || !crdt_origin_cmp(&x.origin, &h->self)) {
            slot_free(&x);
            continue;
        }
        slot_join(h, &x);
    }
    return 0;
}
