/*
 * Tests of the store's memory (crdt/arena.c and the allocator seam of
 * crdt/store.h): a store on its owner's allocator holds exactly the state
 * one on calloc does, gives every region back, and recycles the blocks of
 * expired evidence instead of mapping more.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mp.h"
#include "crdt/hll.h"
#include "crdt/store.h"
#include "tests/test.h"

static const ivt_ms WALL0 = (ivt_ms)29000000 * 60000;

/* An allocator that counts what is mapped and checks what comes back. */
struct counting {
    size_t maps, unmaps;
    size_t live_bytes, peak_bytes;
    size_t bad; /* regions returned unaligned, not zeroed, or with a wrong size */
};

static void *count_map(void *ctx, size_t size)
{
    struct counting *c = ctx;
    /* The size goes before the region, to check unmap's. */
    uint8_t *raw = aligned_alloc(64, 64 + ((size + 63) & ~(size_t)63));
    if (!raw)
        return NULL;
    memset(raw, 0, 64 + ((size + 63) & ~(size_t)63));
    memcpy(raw, &size, sizeof(size));
    c->maps++;
    c->live_bytes += size;
    if (c->live_bytes > c->peak_bytes)
        c->peak_bytes = c->live_bytes;
    return raw + 64;
}

static void count_unmap(void *ctx, void *p, size_t size)
{
    struct counting *c = ctx;
    uint8_t *raw = (uint8_t *)p - 64;
    size_t was;
    memcpy(&was, raw, sizeof(was));
    c->bad += was != size;
    c->unmaps++;
    c->live_bytes -= was;
    free(raw);
}

static void config(struct crdt_config *c, struct counting *cnt)
{
    crdt_config_defaults(c);
    c->origin.id[0] = 1;
    c->origin.gen = 1;
    memset(c->hash_key, 5, 16);
    c->window_epochs = 4;
    c->distinct_bucket_epochs = 2;
    c->max_entities = 4096;
    c->distinct_exact_max = 4;
    c->counter_slots_max = 1;
    if (cnt)
        c->alloc = (struct crdt_alloc){count_map, count_unmap, cnt};
}

/* n entities per kind, each with `items` distinct items and counters, in
 * epoch; every other IP also gets a second origin's slot via merge. */
static void feed(struct crdt_store *s, uint32_t epoch, int n, int items, uint64_t salt)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < items; j++) {
            struct crdt_update u[2];
            memset(u, 0, sizeof(u));
            char k0[32], k1[32];
            size_t l0 = (size_t)snprintf(k0, sizeof(k0), "ip-%d", i);
            size_t l1 = (size_t)snprintf(k1, sizeof(k1), "dev-%d", i);
            u[0] = (struct crdt_update){.kind = CRDT_KIND_IP, .key = k0, .key_len = l0};
            u[1] = (struct crdt_update){.kind = CRDT_KIND_DEVICE, .key = k1, .key_len = l1};
            u[0].add[0] = 1;
            u[1].add[1] = 2;
            u[0].item_mask = 1;
            u[0].item[0] = salt * 1000003 + (uint64_t)j * 7919 + (uint64_t)i;
            u[1].item_mask = 2;
            u[1].item[1] = salt * 999983 + (uint64_t)j;
            assert_int_equal(crdt_store_update(s, epoch, u, 2), 0);
        }
    }
}

static uint8_t *snap(struct crdt_store *s, size_t *len)
{
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 26);
    assert_int_equal(crdt_store_encode(s, &w), 0);
    *len = w.len;
    return w.data;
}

TEST(crdt_store_allocator_seam)
{
    (void)state;
    struct counting cnt = {0};
    struct crdt_config ca, cb;
    config(&ca, &cnt);
    config(&cb, NULL);
    struct crdt_store *a, *b;
    assert_int_equal(crdt_store_new(&a, &ca, WALL0), 0);
    assert_int_equal(crdt_store_new(&b, &cb, WALL0), 0);
    assert_true(cnt.maps >= 2); /* at least the slab and the table */
    uint32_t ep = crdt_store_epoch(a);
    feed(a, ep, 300, 9, 1);
    feed(b, ep, 300, 9, 1);
    /* A merge that promotes counter epochs (a second origin, slots_max 1). */
    struct crdt_config co;
    config(&co, NULL);
    co.origin.id[0] = 2;
    struct crdt_store *o;
    assert_int_equal(crdt_store_new(&o, &co, WALL0), 0);
    feed(o, ep, 100, 3, 2);
    size_t ol;
    uint8_t *ob = snap(o, &ol);
    assert_int_equal(crdt_store_merge(a, ob, ol, NULL), 0);
    assert_int_equal(crdt_store_merge(b, ob, ol, NULL), 0);
    free(ob);
    crdt_store_delete(o);
    size_t la, lb;
    uint8_t *x = snap(a, &la), *y = snap(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, la);
    free(x);
    free(y);
    struct crdt_store_stats sa, sb;
    crdt_store_stats(a, &sa);
    crdt_store_stats(b, &sb);
    assert_true(sa.promoted_sets > 0 && sa.promoted_counters > 0);
    assert_int_equal(sa.bytes, sb.bytes);
    crdt_store_delete(a);
    crdt_store_delete(b);
    assert_int_equal(cnt.maps, cnt.unmaps);
    assert_int_equal(cnt.live_bytes, 0);
    assert_int_equal(cnt.bad, 0);
}

TEST(crdt_store_memory_recycled_after_expiry)
{
    (void)state;
    struct counting cnt = {0};
    struct crdt_config c;
    config(&c, &cnt);
    struct crdt_store *s;
    assert_int_equal(crdt_store_new(&s, &c, WALL0), 0);
    ivt_ms wall = WALL0;
    /* Each round: the same number of entities and promoted sets as the
     * last, after the last has left the window. */
    size_t after_first = 0;
    for (int round = 0; round < 4; round++) {
        feed(s, crdt_store_epoch(s), 200, 8, (uint64_t)round + 1);
        if (round == 0)
            after_first = cnt.live_bytes;
        assert_int_equal(cnt.live_bytes, after_first); /* no new chunks */
        wall += (ivt_ms)c.epoch_ms * (c.window_epochs + 2 * c.distinct_bucket_epochs);
        crdt_store_tick(s, wall);
        struct crdt_store_stats st;
        crdt_store_stats(s, &st);
        assert_int_equal(st.entities, 0);
    }
    crdt_store_delete(s);
    assert_int_equal(cnt.live_bytes, 0);
    assert_int_equal(cnt.maps, cnt.unmaps);
}

/* A promoted set is kept sparse, then dense past 256 registers: through
 * both forms its estimate is that of the same items in a plain register
 * array, and its encoding survives a round trip bit for bit (decoding is
 * strict about the canonical form, so a sparse set written in the wrong
 * form would be refused). */
TEST(crdt_store_sparse_sets_match_registers)
{
    (void)state;
    struct crdt_config c;
    config(&c, NULL);
    c.distinct_exact_max = 4;
    c.distinct_hll_p = 12;
    struct crdt_store *s;
    assert_int_equal(crdt_store_new(&s, &c, WALL0), 0);
    uint8_t reg[1 << 12];
    memset(reg, 0, sizeof(reg));
    uint64_t h = 0x243f6a8885a308d3ULL;
    int total = 0;
    for (int batch = 1; total < 1200; batch *= 2) {
        for (int i = 0; i < batch; i++, total++) {
            h = h * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
            struct crdt_update u = {.kind = CRDT_KIND_IP, .key = "10.1.2.3", .key_len = 8};
            u.item_mask = 1;
            u.item[0] = h;
            assert_int_equal(crdt_store_update(s, crdt_store_epoch(s), &u, 1), 0);
            crdt_hll_add(reg, 12, h);
        }
        struct crdt_view v;
        assert_int_equal(crdt_store_get(s, &v, CRDT_KIND_IP, "10.1.2.3", 8), 0);
        if (total > 4) {
            assert_true(v.approximate);
            assert_int_equal(v.distinct[0], (uint64_t)llround(crdt_hll_estimate(reg, 12)));
        }
        /* The snapshot, merged into an empty store, encodes the same. */
        size_t la, lb;
        uint8_t *x = snap(s, &la);
        struct crdt_store *t;
        assert_int_equal(crdt_store_new(&t, &c, WALL0), 0);
        assert_int_equal(crdt_store_merge(t, x, la, NULL), 0);
        uint8_t *y = snap(t, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(x, y, la);
        struct crdt_view w;
        assert_int_equal(crdt_store_get(t, &w, CRDT_KIND_IP, "10.1.2.3", 8), 0);
        assert_int_equal(w.distinct[0], v.distinct[0]);
        free(x);
        free(y);
        crdt_store_delete(t);
    }
    crdt_store_delete(s);
}
