/*
 * Tests of crdt/store.c: lattice laws over random reachable states, deltas,
 * canonical bytes, a 50-replica convergence run against an exact oracle,
 * window expiry, eviction, and strict decoding.
 *
 * States are compared by their canonical snapshot bytes (crdt_store_encode),
 * which is what digests compare between replicas.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "crdt/store.h"
#include "tests/test.h"

/* Under sanitizers everything is ~10x slower: fewer iterations. */
#if defined(__SANITIZE_ADDRESS__)
#define SLOW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOW 1
#endif
#endif
#ifndef SLOW
#define SLOW 0
#endif

enum { WALL0_EPOCH = 29000000 }; /* an epoch of 2025 at 60 s */
static const ivt_ms WALL0 = (ivt_ms)WALL0_EPOCH * 60000;

static void small_config(struct crdt_config *c, int node)
{
    crdt_config_defaults(c);
    memset(c->origin.id, 0, 16);
    c->origin.id[0] = (uint8_t)(node >> 8);
    c->origin.id[1] = (uint8_t)node;
    c->origin.gen = 1;
    memset(c->hash_key, 7, 16);
    c->window_epochs = 6;
    c->distinct_bucket_epochs = 2;
    c->max_entities = 4096;
    c->counter_slots_max = 2;
    c->distinct_exact_max = 4;
    c->counter_hll_p = 6;
    c->distinct_hll_p = 6;
    c->digest_bits = 4;
}

static struct crdt_store *mk(struct crdt_config *c)
{
    struct crdt_store *s;
    assert_int_equal(crdt_store_new(&s, c, WALL0), 0);
    return s;
}

/* Canonical bytes of a store (caller frees). */
static uint8_t *snap(struct crdt_store *s, size_t *len)
{
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 28);
    assert_int_equal(crdt_store_encode(s, &w), 0);
    *len = w.len;
    return w.data;
}

/* Once every stale digest is refreshed, a bounded digest that refreshes
 * nothing more is the exact one: no bucket is left marked as holding a
 * stale shared record (the per-bucket counts never drift, whatever ran). */
static void assert_no_stale_marks(struct crdt_store *s)
{
    size_t nb = crdt_store_digest_size(s);
    uint64_t *full = malloc(2 * nb * sizeof(uint64_t));
    assert_non_null(full);
    assert_int_equal(crdt_store_digest(s, full, nb), 0);
    assert_int_equal(crdt_store_digest_max(s, full + nb, nb, 0), 0);
    assert_memory_equal(full, full + nb, nb * sizeof(uint64_t));
    free(full);
}

static void assert_same(struct crdt_store *a, struct crdt_store *b)
{
    size_t la, lb;
    uint8_t *x = snap(a, &la), *y = snap(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, la);
    free(x);
    free(y);
    assert_no_stale_marks(a);
    assert_no_stale_marks(b);
}

static void merge_bytes(struct crdt_store *s, const uint8_t *p, size_t n)
{
    struct crdt_merge_stats st;
    int rc = crdt_store_merge(s, p, n, &st);
    if (rc)
        print_error("merge: %d\n", rc);
    assert_int_equal(rc, 0);
}

static void merge_store(struct crdt_store *dst, struct crdt_store *src)
{
    size_t n;
    uint8_t *p = snap(src, &n);
    merge_bytes(dst, p, n);
    free(p);
}

/* Random local events: nkeys keys per kind, epochs in the window. */
static void random_events(struct crdt_store *s, struct ivt_rng *rng, int n, int nkeys)
{
    uint32_t cur = crdt_store_epoch(s);
    for (int i = 0; i < n; i++) {
        char key[32];
        struct crdt_update u;
        memset(&u, 0, sizeof(u));
        u.kind = (enum crdt_kind)ivt_rng_below(rng, CRDT_KINDS);
        u.key_len = (size_t)snprintf(key, sizeof(key), "k%u", (unsigned)ivt_rng_below(rng, nkeys));
        u.key = key;
        u.add[ivt_rng_below(rng, CRDT_COUNTERS)] = 1 + (uint32_t)ivt_rng_below(rng, 5);
        if (ivt_rng_below(rng, 2)) {
            u.item_mask = (uint8_t)(1u << ivt_rng_below(rng, CRDT_DISTINCTS));
            for (int d = 0; d < CRDT_DISTINCTS; d++)
                u.item[d] = ivt_rng_below(rng, 12) * 0x9e3779b97f4a7c15ULL;
        }
        uint32_t e = cur - (uint32_t)ivt_rng_below(rng, 5);
        assert_int_equal(crdt_store_update(s, e, &u, 1), 0);
    }
}

/* A random reachable state: own events plus merges of other replicas'. */
static struct crdt_store *random_state(struct ivt_rng *rng, int node, struct crdt_store **peers,
                                       int npeers)
{
    struct crdt_config c;
    small_config(&c, node);
    struct crdt_store *s = mk(&c);
    random_events(s, rng, (int)ivt_rng_below(rng, 40), 6);
    for (int i = 0; i < npeers; i++)
        if (ivt_rng_below(rng, 2))
            merge_store(s, peers[i]);
    random_events(s, rng, (int)ivt_rng_below(rng, 20), 6);
    return s;
}

TEST(crdt_store_merge_laws)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    int rounds = SLOW ? 60 : 400;
    struct crdt_config c;
    /* A pool of replicas whose states feed later ones, so states mix
     * slots of many origins and promoted epochs. */
    enum { POOL = 6 };
    struct crdt_store *pool[POOL];
    for (int i = 0; i < POOL; i++)
        pool[i] = random_state(&rng, 100 + i, pool, i);
    for (int t = 0; t < rounds; t++) {
        struct crdt_store *a = random_state(&rng, 1, pool, POOL);
        struct crdt_store *b = random_state(&rng, 2, pool, POOL);
        struct crdt_store *cc = random_state(&rng, 3, pool, POOL);
        size_t la, lb, lc;
        uint8_t *sa = snap(a, &la), *sb = snap(b, &lb), *sc = snap(cc, &lc);
        small_config(&c, 9);
        /* idempotence: a join a == a */
        struct crdt_store *x = mk(&c);
        merge_bytes(x, sa, la);
        merge_bytes(x, sa, la);
        size_t lx;
        uint8_t *sx = snap(x, &lx);
        assert_int_equal(lx, la);
        assert_memory_equal(sx, sa, la); /* decode(encode(a)) == a, byte for byte */
        free(sx);
        /* commutativity and associativity: every order gives the same bytes */
        struct crdt_store *y = mk(&c), *z = mk(&c);
        merge_bytes(x, sb, lb);
        merge_bytes(x, sc, lc);
        merge_bytes(y, sc, lc);
        merge_bytes(y, sb, lb);
        merge_bytes(y, sa, la);
        struct crdt_store *bc = mk(&c);
        merge_bytes(bc, sb, lb);
        merge_bytes(bc, sc, lc);
        merge_bytes(z, sa, la);
        merge_store(z, bc);
        assert_same(x, y);
        assert_same(x, z);
        /* a <= a join b: merging a again changes nothing */
        struct crdt_merge_stats st;
        assert_int_equal(crdt_store_merge(x, sa, la, &st), 0);
        assert_int_equal(st.changed, 0);
        free(sa);
        free(sb);
        free(sc);
        crdt_store_delete(a);
        crdt_store_delete(b);
        crdt_store_delete(cc);
        crdt_store_delete(x);
        crdt_store_delete(y);
        crdt_store_delete(z);
        crdt_store_delete(bc);
    }
    for (int i = 0; i < POOL; i++)
        crdt_store_delete(pool[i]);
}

/* Drains every pending delta of src into dst, in budget-cut pieces. A
 * record larger than the budget (IVT_ENOSPC) goes in a message of twice
 * the budget, and so on: what is checked is that deltas carry everything,
 * whatever size of message they are cut into. */
static void ship_deltas(struct crdt_store *src, struct crdt_store *dst, size_t budget)
{
    while (crdt_store_pending(src)) {
        uint8_t *buf = malloc(budget);
        assert_non_null(buf);
        struct ivt_mpw w;
        ivt_mpw_init_fixed(&w, buf, budget);
        size_t n, cap = budget;
        int rc;
        while ((rc = crdt_store_flush(src, &w, cap, &n)) == IVT_ENOSPC) {
            assert_int_equal(w.len, 0); /* nothing written, the store unchanged */
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
            ivt_mpw_init_fixed(&w, buf, cap);
        }
        assert_int_equal(rc, 0);
        assert_true(n > 0);
        assert_true(w.len <= cap);
        merge_bytes(dst, buf, w.len);
        free(buf);
    }
}

/* What a merge saw, in order: (kind, hash) pairs. */
struct seen_trail {
    size_t n;
    uint64_t v[4096];
};

static void trail_seen(void *ctx, enum crdt_kind kind, uint64_t h)
{
    struct seen_trail *l = ctx;
    if (l->n + 2 <= sizeof(l->v) / sizeof(l->v[0])) {
        l->v[l->n++] = kind;
        l->v[l->n++] = h;
    }
}

/* crdt_store_merge_many is the merges of its messages one after another:
 * the same state, and each message's rc, stats and seen records the same,
 * with malformed messages among them (a bad record stops its message, the
 * others merge whole) and batches whose records span several groups. */
TEST(crdt_store_merge_many_is_merges_in_order)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    int rounds = SLOW ? 20 : 120;
    enum { POOL = 4, MSGS = 24 };
    struct crdt_store *pool[POOL];
    for (int i = 0; i < POOL; i++)
        pool[i] = random_state(&rng, 200 + i, pool, i);
    int bad_seen = 0, spanning = 0;
    for (int t = 0; t < rounds; t++) {
        /* Deltas of a few replicas, cut small, and now and then a whole
         * snapshot. */
        struct crdt_merge_msg m[MSGS];
        uint8_t *bufs[MSGS];
        size_t nm = 0, records = 0;
        while (nm < 1 + ivt_rng_below(&rng, MSGS)) {
            struct crdt_store *src = random_state(&rng, 10 + (int)nm, pool, POOL);
            size_t cap = 1 << 16;
            uint8_t *buf = malloc(cap);
            assert_non_null(buf);
            struct ivt_mpw w;
            size_t n = 0;
            if (ivt_rng_below(&rng, 4) == 0) {
                ivt_mpw_init_fixed(&w, buf, cap);
                assert_int_equal(crdt_store_encode(src, &w), 0);
            } else {
                ivt_mpw_init_fixed(&w, buf, 200 + ivt_rng_below(&rng, 600));
                if (crdt_store_flush(src, &w, w.cap, &n) != 0)
                    w.len = 0;
            }
            crdt_store_delete(src);
            if (!w.len) {
                free(buf);
                continue;
            }
            records += n;
            size_t len = w.len;
            switch (ivt_rng_below(&rng, 8)) {
            case 0: len = 1 + ivt_rng_below(&rng, len); break; /* cut short */
            case 1: buf[len++] = 0xc0; break;                  /* a byte too many */
            case 2: buf[ivt_rng_below(&rng, len)] ^= (uint8_t)(1 + ivt_rng_below(&rng, 255)); break;
            default: break;
            }
            bufs[nm] = buf;
            m[nm] = (struct crdt_merge_msg){.data = buf, .len = len};
            nm++;
        }
        spanning += records > 16;
        struct crdt_config c;
        small_config(&c, 9);
        struct crdt_store *one = mk(&c), *many = mk(&c);
        /* Both start from the same state, with records to join into. */
        merge_store(one, pool[t % POOL]);
        merge_store(many, pool[t % POOL]);
        static struct seen_trail la, lb;
        la.n = lb.n = 0;
        int first = 0;
        int rcs[MSGS];
        struct crdt_merge_stats sts[MSGS];
        for (size_t i = 0; i < nm; i++) {
            rcs[i] = crdt_store_merge_seen(one, m[i].data, m[i].len, &sts[i], trail_seen, &la);
            if (rcs[i] && !first)
                first = rcs[i];
            bad_seen += rcs[i] != 0;
        }
        assert_int_equal(crdt_store_merge_many(many, m, nm, trail_seen, &lb), first);
        for (size_t i = 0; i < nm; i++) {
            assert_int_equal(m[i].rc, rcs[i]);
            assert_memory_equal(&m[i].st, &sts[i], sizeof(sts[i]));
        }
        assert_int_equal(la.n, lb.n);
        assert_memory_equal(la.v, lb.v, la.n * sizeof(la.v[0]));
        assert_same(one, many);
        crdt_store_delete(one);
        crdt_store_delete(many);
        for (size_t i = 0; i < nm; i++)
            free(bufs[i]);
    }
    /* The rounds did reach the cases they are for. */
    assert_true(bad_seen > 0);
    assert_true(spanning > 0);
    for (int i = 0; i < POOL; i++)
        crdt_store_delete(pool[i]);
}

TEST(crdt_store_delta_equals_state)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    int rounds = SLOW ? 30 : 200;
    for (int t = 0; t < rounds; t++) {
        struct crdt_config c;
        small_config(&c, 1);
        struct crdt_store *a = mk(&c);
        small_config(&c, 2);
        struct crdt_store *b = mk(&c), *b2;
        random_events(b, &rng, 30, 6);
        small_config(&c, 3);
        b2 = mk(&c);
        merge_store(b2, b);
        /* a mutates in steps; b gets a's deltas after each step, b2 gets
         * a's full state at the end. */
        for (int step = 0; step < 4; step++) {
            random_events(a, &rng, (int)ivt_rng_below(&rng, 30), 6);
            if (step == 2)
                merge_store(a, b); /* a also forwards what it merged */
            ship_deltas(a, b, 300 + ivt_rng_below(&rng, 3000));
        }
        merge_store(b2, a);
        assert_same(b, b2);
        crdt_store_delete(a);
        crdt_store_delete(b);
        crdt_store_delete(b2);
    }
}

/* A store whose owner re-gossips deltas itself (forward_merged = false)
 * does not queue what it merged: its flushes carry its own changes, and
 * what merged cells it does carry (an entity both changed) are still
 * joins of absolute values. */
TEST(crdt_store_merged_not_forwarded)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    for (int t = 0; t < (SLOW ? 10 : 50); t++) {
        struct crdt_config c;
        small_config(&c, 1);
        c.forward_merged = false;
        struct crdt_store *a = mk(&c);
        small_config(&c, 2);
        struct crdt_store *b = mk(&c), *mine;
        small_config(&c, 1);
        mine = mk(&c); /* a's own events only */
        small_config(&c, 3);
        struct crdt_store *d = mk(&c);
        /* b's entities are keyed "k0".."k5", a's "k3".."k8": some shared */
        random_events(b, &rng, 30, 6);
        merge_store(a, b);
        assert_int_equal(crdt_store_pending(a), 0);
        for (int i = 0; i < 20; i++) {
            char key[8];
            struct crdt_update u;
            memset(&u, 0, sizeof(u));
            u.kind = (enum crdt_kind)ivt_rng_below(&rng, CRDT_KINDS);
            u.key_len =
                (size_t)snprintf(key, sizeof(key), "k%u", 3 + (unsigned)ivt_rng_below(&rng, 6));
            u.key = key;
            u.add[ivt_rng_below(&rng, CRDT_COUNTERS)] = 1;
            u.item_mask = 1;
            u.item[0] = ivt_rng_next(&rng);
            assert_int_equal(crdt_store_update(a, crdt_store_epoch(a), &u, 1), 0);
            assert_int_equal(crdt_store_update(mine, crdt_store_epoch(mine), &u, 1), 0);
        }
        ship_deltas(a, d, 1200);
        /* an entity only b changed never left a */
        uint32_t cur = 0;
        struct crdt_view v;
        while (crdt_store_next(d, &cur, &v))
            assert_int_equal(crdt_store_get_hash(mine, &v, v.kind, v.hash), 0);
        /* With b's state (the keys of entities a first heard of from b,
         * which a leaves to b), d holds at least a's own evidence, and
         * nothing a does not hold. */
        merge_store(d, b);
        struct crdt_merge_stats st;
        size_t n;
        uint8_t *p = snap(mine, &n);
        assert_int_equal(crdt_store_merge(d, p, n, &st), 0);
        assert_int_equal(st.changed + st.created, 0);
        free(p);
        p = snap(d, &n);
        assert_int_equal(crdt_store_merge(a, p, n, &st), 0);
        assert_int_equal(st.changed + st.created, 0);
        free(p);
        crdt_store_delete(a);
        crdt_store_delete(b);
        crdt_store_delete(mine);
        crdt_store_delete(d);
    }
}

/* Without forwarding a delta carries only our own part: own slots, our
 * count in each promoted epoch, the items our events added (from the
 * journal). Our deltas joined with every peer's state we merged give
 * exactly our state: nothing of ours is left out. */
TEST(crdt_store_own_deltas_complete)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    enum { PEERS = 3 };
    for (int t = 0; t < (SLOW ? 20 : 150); t++) {
        struct crdt_config c;
        small_config(&c, 1);
        c.forward_merged = false;
        struct crdt_store *a = mk(&c), *p[PEERS];
        small_config(&c, 50);
        struct crdt_store *d = mk(&c);
        for (int i = 0; i < PEERS; i++) {
            small_config(&c, 2 + i);
            p[i] = mk(&c);
            random_events(p[i], &rng, 40, 4); /* few keys: epochs promote */
        }
        for (int step = 0; step < 5; step++) {
            random_events(a, &rng, (int)ivt_rng_below(&rng, 40), 4);
            if (ivt_rng_below(&rng, 3) == 0) {
                /* a burst: past OWN_SLOT_ADDS_MAX our part goes as sketches */
                struct crdt_update u;
                memset(&u, 0, sizeof(u));
                u.kind = (enum crdt_kind)ivt_rng_below(&rng, CRDT_KINDS);
                u.key = "k0";
                u.key_len = 2;
                u.add[0] = 300;
                u.add[1] = 300;
                assert_int_equal(crdt_store_update(a, crdt_store_epoch(a), &u, 1), 0);
            }
            if (ivt_rng_below(&rng, 2))
                merge_store(a, p[ivt_rng_below(&rng, PEERS)]);
            if (ivt_rng_below(&rng, 2))
                ship_deltas(a, d, 200 + ivt_rng_below(&rng, 2000));
        }
        ship_deltas(a, d, 1200);
        for (int i = 0; i < PEERS; i++)
            merge_store(a, p[i]);
        assert_int_equal(crdt_store_pending(a), 0);
        for (int i = 0; i < PEERS; i++)
            merge_store(d, p[i]);
        assert_same(d, a);
        for (int i = 0; i < PEERS; i++)
            crdt_store_delete(p[i]);
        crdt_store_delete(a);
        crdt_store_delete(d);
    }
}

/* One own event on ip key adding item to the distinct sets in mask. */
static void add_items(struct crdt_store *s, const char *key, uint8_t mask, uint64_t item)
{
    struct crdt_update u;
    memset(&u, 0, sizeof(u));
    u.kind = CRDT_KIND_IP;
    u.key = key;
    u.key_len = strlen(key);
    u.add[0] = 1;
    for (int d = 0; d < CRDT_DISTINCTS; d++)
        u.item[d] = item + (uint64_t)d;
    u.item_mask = mask;
    assert_int_equal(crdt_store_update(s, crdt_store_epoch(s), &u, 1), 0);
}

/* One own event on ip "k" adding item to distinct set 0 (ua per ip). */
static void add_item(struct crdt_store *s, uint64_t item)
{
    add_items(s, "k", 1, item);
}

/* The sets' values of ip key at a fresh replica that merged only what src
 * flushes now. */
static void delta_distincts(struct crdt_store *src, int node, const char *key, uint64_t *out)
{
    struct crdt_config c;
    small_config(&c, node);
    c.distinct_exact_max = 64;
    struct crdt_store *fresh = mk(&c);
    ship_deltas(src, fresh, 1200);
    struct crdt_view v;
    assert_int_equal(crdt_store_get(fresh, &v, CRDT_KIND_IP, key, strlen(key)), 0);
    memcpy(out, v.distinct, sizeof(v.distinct));
    crdt_store_delete(fresh);
}

/* The set's value at a fresh replica that merged only what src flushes now. */
static uint64_t delta_distinct(struct crdt_store *src, int node)
{
    struct crdt_config c;
    small_config(&c, node);
    c.distinct_exact_max = 64;
    struct crdt_store *fresh = mk(&c);
    ship_deltas(src, fresh, 1200);
    struct crdt_view v;
    assert_int_equal(crdt_store_get(fresh, &v, CRDT_KIND_IP, "k", 1), 0);
    crdt_store_delete(fresh);
    return v.distinct[0];
}

/* A record flushed, or dropped as oversize, and then raised again by new
 * events sends only the new items: the journal entries it flushed are
 * never sent twice, however rarely the journal is compacted. */
TEST(crdt_store_delta_sends_each_own_item_once)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    c.forward_merged = false;
    c.distinct_exact_max = 64;
    struct crdt_store *a = mk(&c);
    for (uint64_t i = 1; i <= 3; i++)
        add_item(a, i);
    assert_int_equal(delta_distinct(a, 2), 3);
    add_item(a, 4);
    assert_int_equal(delta_distinct(a, 3), 1);
    /* Dropped (push-pull will carry it), then raised: the new item only. */
    add_item(a, 5);
    add_item(a, 6);
    assert_true(crdt_store_flush_drop(a));
    assert_int_equal(crdt_store_pending(a), 0);
    add_item(a, 7);
    assert_int_equal(delta_distinct(a, 4), 1);
    crdt_store_delete(a);
}

/* An entity evicted with unsent journal entries, whose slot goes to another
 * entity and then back to it (evicted in turn), sends only what its new
 * record holds: the old record's entries went with it. */
TEST(crdt_store_delta_of_a_reused_slot_is_its_own)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    c.forward_merged = false;
    c.distinct_exact_max = 64;
    c.max_entities = 16;
    struct crdt_store *a = mk(&c);
    add_items(a, "k", 1, 100); /* the least evidence: evicted first */
    char key[16];
    for (int i = 0; i < 15; i++) {
        snprintf(key, sizeof(key), "o%d", i);
        add_items(a, key, 1, 1000 + (uint64_t)i);
        add_items(a, key, 1, 2000 + (uint64_t)i);
    }
    add_items(a, "new", 1, 5); /* evicts k, takes its slot */
    add_items(a, "k", 1, 300); /* evicts new, takes the slot back */
    uint64_t got[CRDT_DISTINCTS];
    delta_distincts(a, 2, "k", got);
    assert_int_equal(got[0], 1);
    crdt_store_delete(a);
}

/* An event adding to two sets of a record flushed before, whose second add
 * finds the journal full (and compacts it to make room), still sends both
 * new items, and only those: at every journal size around the growth steps. */
TEST(crdt_store_delta_complete_when_journal_fills_mid_event)
{
    (void)state;
    for (int fill = 0; fill < 140; fill++) {
        struct crdt_config c;
        small_config(&c, 1);
        c.forward_merged = false;
        c.distinct_exact_max = 64;
        struct crdt_store *a = mk(&c);
        add_items(a, "k", 3, 100);
        uint64_t got[CRDT_DISTINCTS];
        delta_distincts(a, 2, "k", got);
        assert_int_equal(got[0], 1);
        char key[16];
        for (int i = 0; i < fill; i++) {
            snprintf(key, sizeof(key), "o%d", i);
            add_items(a, key, 1, 1000 + (uint64_t)i);
        }
        add_items(a, "k", 3, 200);
        delta_distincts(a, 3, "k", got);
        assert_int_equal(got[0], 1);
        assert_int_equal(got[1], 1);
        crdt_store_delete(a);
    }
}

/* A store whose entity table is mapped at full size (the daemon's) holds
 * the same state as one whose table grows, through many doublings and
 * evictions, and says so in its byte count from the start. */
TEST(crdt_store_table_full_same_state)
{
    (void)state;
    struct ivt_rng r1, r2;
    ivt_rng_seed(&r1, ivt_test_seed());
    ivt_rng_seed(&r2, ivt_test_seed());
    struct crdt_config c;
    small_config(&c, 1);
    c.max_entities = 20000; /* 5 doublings from 4,096 entries */
    struct crdt_store *grown = mk(&c);
    c.table_full = true;
    struct crdt_store *full = mk(&c);
    struct crdt_store_stats sf, sg;
    crdt_store_stats(full, &sf);
    crdt_store_stats(grown, &sg);
    /* 2 x 20,000 entries rounded up to 65,536, against the first 4,096 */
    assert_int_equal(sf.bytes - sg.bytes, (65536 - 4096) * sizeof(uint64_t));
    random_events(grown, &r1, 30000, 12000);
    random_events(full, &r2, 30000, 12000);
    assert_same(grown, full);
    crdt_store_delete(grown);
    crdt_store_delete(full);
}

/* One event of ours on IP key "ip-1" with user agent item ua, in epoch ep. */
static void ua_event(struct crdt_store *s, uint32_t ep, uint64_t ua)
{
    struct crdt_update u;
    memset(&u, 0, sizeof(u));
    u.kind = CRDT_KIND_IP;
    u.key = "ip-1";
    u.key_len = 4;
    u.add[0] = 1;
    u.item[0] = ua;
    u.item_mask = 1;
    assert_int_equal(crdt_store_update(s, ep, &u, 1), 0);
}

static struct crdt_view ip1(struct crdt_store *s)
{
    struct crdt_view v;
    assert_int_equal(crdt_store_get(s, &v, CRDT_KIND_IP, "ip-1", 4), 0);
    return v;
}

/* A distinct count's local part is the items of our own events, whoever
 * added them to the set first, once each across the window's buckets; it
 * is unknown (-1) once a set is a HyperLogLog. What an analyst reads as
 * "local" beside "fleet" (ivtctl explain). */
TEST(crdt_store_local_distinct_counts_own_items)
{
    (void)state;
    struct crdt_config ca, cb;
    small_config(&ca, 1);
    small_config(&cb, 2);
    ca.distinct_exact_max = cb.distinct_exact_max = 16;
    struct crdt_store *a = mk(&ca), *b = mk(&cb);
    uint32_t ep = crdt_store_epoch(a);
    ua_event(a, ep, 101);
    ua_event(a, ep, 102);
    ua_event(b, ep, 102);
    ua_event(b, ep, 103);
    ua_event(b, ep, 104);
    merge_store(a, b);
    merge_store(b, a);
    struct crdt_view va = ip1(a), vb = ip1(b);
    assert_int_equal(va.distinct[0], 4);
    assert_int_equal(vb.distinct[0], 4);
    assert_int_equal(va.local_distinct[0], 2);
    assert_int_equal(vb.local_distinct[0], 3);
    assert_int_equal(va.local_distinct[1], 0); /* no device items */
    /* An item a peer brought first becomes ours when we see it too. */
    ua_event(a, ep, 103);
    va = ip1(a);
    assert_int_equal(va.distinct[0], 4);
    assert_int_equal(va.local_distinct[0], 3);
    /* The same item in an older bucket of the window counts once; a new
     * item of ours in the older bucket counts. */
    ua_event(a, ep - 2, 101);
    ua_event(a, ep - 2, 105);
    va = ip1(a);
    assert_int_equal(va.distinct[0], 5);
    assert_int_equal(va.local_distinct[0], 4);
    /* Promoted past 16 items: a HyperLogLog keeps no owner. */
    for (uint64_t i = 0; i < 20; i++)
        ua_event(b, ep, 1000 + i);
    merge_store(a, b);
    va = ip1(a);
    assert_true(va.distinct[0] > 16);
    assert_int_equal(va.local_distinct[0], -1);
    /* Local marks are not evidence: equal stores still encode the same. */
    merge_store(b, a);
    assert_same(a, b);
    crdt_store_delete(a);
    crdt_store_delete(b);
}

/* One event of ours on each of the IPs "k<from>" .. "k<to - 1>". */
static void new_ips(struct crdt_store *s, int from, int to)
{
    char key[16];
    for (int i = from; i < to; i++) {
        struct crdt_update u;
        memset(&u, 0, sizeof(u));
        u.kind = CRDT_KIND_IP;
        u.key_len = (size_t)snprintf(key, sizeof(key), "k%d", i);
        u.key = key;
        u.add[0] = 1;
        assert_int_equal(crdt_store_update(s, crdt_store_epoch(s), &u, 1), 0);
    }
}

/* The slab's next records (what ivtd faults in ahead of them): the range
 * moves on by what each new record takes and shrinks to nothing at
 * max_entities. */
TEST(crdt_store_slab_ahead_follows_new_records)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    c.max_entities = 64;
    struct crdt_store *s = mk(&c);
    void *at0, *at;
    size_t all, len;
    crdt_store_slab_ahead(s, &at0, &all, SIZE_MAX);
    assert_true(all > 0 && all % 64 == 0); /* 64 records of one size */
    size_t rec = all / 64;
    crdt_store_slab_ahead(s, &at, &len, 3 * rec);
    assert_ptr_equal(at, at0);
    assert_int_equal(len, 3 * rec);
    new_ips(s, 0, 10);
    crdt_store_slab_ahead(s, &at, &len, SIZE_MAX);
    assert_ptr_equal(at, (uint8_t *)at0 + 10 * rec);
    assert_int_equal(len, 54 * rec);
    new_ips(s, 10, 64);
    crdt_store_slab_ahead(s, &at, &len, SIZE_MAX);
    assert_int_equal(len, 0);
    crdt_store_delete(s);
}

/* A test allocator on mmap that remembers its mapping of exactly `want`
 * bytes: the entity table's, whose size the config sets. */
struct touch_alloc {
    size_t want;
    void *table;
};

static void *touch_map(void *ctx, size_t size)
{
    struct touch_alloc *t = ctx;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (size == t->want)
        t->table = p;
    return p;
}

static void touch_unmap(void *ctx, void *p, size_t size)
{
    (void)ctx;
    munmap(p, size);
}

/* A full-size table is in memory from the start, so that no update pays
 * for its first touches (a daemon's first requests did: store.h), while a
 * growing table's first mapping is only touched as entities arrive. */
TEST(crdt_store_table_full_touched_at_creation)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    c.max_entities = 100000; /* a table of 262,144 entries, 2 MiB */
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), len = 262144 * sizeof(uint64_t);
    struct touch_alloc t = {len, NULL};
    c.alloc = (struct crdt_alloc){touch_map, touch_unmap, &t};
    c.table_full = true;
    struct crdt_store *s = mk(&c);
    assert_non_null(t.table);
    assert_int_equal(ivt_test_resident_pages(t.table, len), len / pg);
    crdt_store_delete(s);
    /* Growing: the first table (4,096 entries, 32 KiB) stays untouched. */
    t = (struct touch_alloc){4096 * sizeof(uint64_t), NULL};
    c.table_full = false;
    s = mk(&c);
    assert_non_null(t.table);
    assert_int_equal(ivt_test_resident_pages(t.table, t.want), 0);
    crdt_store_delete(s);
}

/* A bounded digest: exact in every bucket without a stale shared record,
 * differing in every bucket with one (so an exchange repairs it), and
 * local-only records never make a bucket differ. */
/* The digest tests' store: node 1's small config at 64 buckets, 400
 * random events in. */
static struct crdt_store *digest_store(struct crdt_config *c, struct ivt_rng *rng)
{
    small_config(c, 1);
    c->digest_bits = 6;
    struct crdt_store *s = mk(c);
    random_events(s, rng, 400, 200);
    return s;
}

TEST(crdt_store_digest_max_marks_stale_buckets)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct crdt_config c;
    struct crdt_store *a = digest_store(&c, &rng);
    size_t nb = crdt_store_digest_size(a);
    uint64_t *exact = calloc(nb, sizeof(uint64_t)), *got = calloc(nb, sizeof(uint64_t));
    assert_non_null(exact);
    assert_non_null(got);
    assert_int_equal(crdt_store_digest(a, exact, nb), 0);
    random_events(a, &rng, 30, 200); /* a few records stale again */
    size_t stale = crdt_store_digest_stale(a);
    assert_true(stale > 4);
    assert_int_equal(crdt_store_digest_max(a, got, nb, 4), 0);
    assert_int_equal(crdt_store_digest_stale(a), stale - 4);
    /* The exact digest now, from a copy of the same state. */
    struct crdt_store *b = mk(&c);
    merge_store(b, a);
    assert_int_equal(crdt_store_digest(b, exact, nb), 0);
    size_t differ = 0;
    for (size_t i = 0; i < nb; i++)
        differ += got[i] != exact[i];
    assert_true(differ > 0);
    assert_true(differ <= stale - 4);
    assert_int_equal(crdt_store_digest(a, got, nb), 0);
    assert_memory_equal(got, exact, nb * sizeof(uint64_t));
    /* Local-only records: stale, but outside the shared digest. */
    small_config(&c, 2);
    c.digest_bits = 6;
    c.admit_kinds = 0;
    struct crdt_store *l = mk(&c);
    random_events(l, &rng, 100, 50);
    assert_true(crdt_store_digest_stale(l) > 0);
    assert_int_equal(crdt_store_digest_max(l, got, nb, 0), 0);
    for (size_t i = 0; i < nb; i++)
        assert_true(got[i] == 0);
    /* Admitted while still stale: its bucket is marked until refreshed. */
    uint32_t cur = 0;
    struct crdt_view v;
    assert_true(crdt_store_next(l, &cur, &v));
    assert_int_equal(crdt_store_admit(l, v.kind, v.hash), 0);
    size_t bucket = (size_t)(v.hash >> (64 - 6));
    assert_int_equal(crdt_store_digest_max(l, got, nb, 0), 0);
    assert_true(got[bucket] != 0);
    assert_int_equal(crdt_store_digest(l, exact, nb), 0);
    assert_int_equal(crdt_store_digest_max(l, got, nb, 0), 0);
    assert_memory_equal(got, exact, nb * sizeof(uint64_t));
    free(exact);
    free(got);
    crdt_store_delete(a);
    crdt_store_delete(b);
    crdt_store_delete(l);
}

/* Two nodes whose records of a bucket are all stale (fresh from their own
 * events, digested with max 0 as a busy node does) still see the bucket
 * differ: the marks are their own. */
TEST(crdt_store_digest_marked_buckets_of_two_nodes_differ)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct crdt_config c;
    small_config(&c, 1);
    c.digest_bits = 6;
    struct crdt_store *a = mk(&c);
    small_config(&c, 2);
    c.digest_bits = 6;
    struct crdt_store *b = mk(&c);
    random_events(a, &rng, 100, 50);
    random_events(b, &rng, 100, 50);
    size_t nb = crdt_store_digest_size(a);
    uint64_t da[64], db[64];
    assert_int_equal(nb, 64);
    assert_int_equal(crdt_store_digest_max(a, da, nb, 0), 0);
    assert_int_equal(crdt_store_digest_max(b, db, nb, 0), 0);
    size_t both = 0;
    for (size_t i = 0; i < nb; i++) {
        if (da[i] == 0 || db[i] == 0)
            continue; /* not a bucket both hold records in */
        both++;
        assert_true(da[i] != db[i]);
    }
    assert_true(both > 0);
    crdt_store_delete(a);
    crdt_store_delete(b);
}

/* Admits every record of s (crdt_store_admit). */
static void admit_all(struct crdt_store *s)
{
    enum { MAX = 512 };
    enum crdt_kind kinds[MAX];
    uint64_t hashes[MAX];
    size_t n = 0;
    uint32_t cur = 0;
    struct crdt_view v;
    while (n < MAX && crdt_store_next(s, &cur, &v)) {
        kinds[n] = v.kind;
        hashes[n++] = v.hash;
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(crdt_store_admit(s, kinds[i], hashes[i]), 0);
}

/* Without forwarding, a record admitted after our events sends all of our
 * part at its first flush (its sets whole), and later flushes our adds:
 * the deltas give exactly our state. */
TEST(crdt_store_own_deltas_complete_after_admission)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    for (int t = 0; t < (SLOW ? 20 : 100); t++) {
        struct crdt_config c;
        small_config(&c, 1);
        c.forward_merged = false;
        c.admit_kinds = 0; /* everything local until admitted */
        struct crdt_store *a = mk(&c);
        small_config(&c, 2);
        struct crdt_store *d = mk(&c);
        for (int step = 0; step < 4; step++) {
            random_events(a, &rng, (int)ivt_rng_below(&rng, 30), 4);
            if (ivt_rng_below(&rng, 2))
                admit_all(a);
            ship_deltas(a, d, 200 + ivt_rng_below(&rng, 2000));
        }
        admit_all(a);
        ship_deltas(a, d, 1200);
        assert_same(d, a);
        crdt_store_delete(a);
        crdt_store_delete(d);
    }
}

/* One message in flight in the simulated network. */
struct msg {
    int to;
    uint8_t *data;
    size_t len;
};

TEST(crdt_store_convergence_50_replicas)
{
    (void)state;
    enum { N = 50, KEYS = 40, ROUNDS = 30, FANOUT = 3, BUDGET = 1200 };
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct crdt_store *r[N];
    struct crdt_config c;
    for (int i = 0; i < N; i++) {
        small_config(&c, i + 1);
        c.counter_slots_max = 64; /* exact counters: compared to the oracle */
        c.distinct_exact_max = 64;
        c.window_epochs = 10;
        c.distinct_bucket_epochs = 5;
        c.counter_hll_p = 8;
        r[i] = mk(&c);
    }
    /* The oracle: exact sums per (kind, key, metric). */
    static uint64_t oracle[CRDT_KINDS][KEYS][CRDT_COUNTERS];
    memset(oracle, 0, sizeof(oracle));
    struct msg *q = NULL;
    size_t nq = 0, capq = 0;
    uint32_t cur = crdt_store_epoch(r[0]);
    int events = SLOW ? 20 : 60;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < N; i++) {
            for (int k = 0; k < events / 10 + (int)ivt_rng_below(&rng, events); k++) {
                char key[16];
                struct crdt_update u;
                memset(&u, 0, sizeof(u));
                u.kind = (enum crdt_kind)ivt_rng_below(&rng, CRDT_KINDS);
                unsigned kk = (unsigned)ivt_rng_below(&rng, KEYS);
                u.key_len = (size_t)snprintf(key, sizeof(key), "key-%u", kk);
                u.key = key;
                int m = (int)ivt_rng_below(&rng, CRDT_COUNTERS);
                u.add[m] = 1;
                u.item_mask = 1;
                u.item[0] = ivt_rng_below(&rng, 30) + 1;
                assert_int_equal(
                    crdt_store_update(r[i], cur - (uint32_t)ivt_rng_below(&rng, 3), &u, 1), 0);
                oracle[u.kind][kk][m]++;
            }
            /* Flush one delta to FANOUT random peers: lost 20%, duplicated
             * 10%; the queue is delivered in random order. */
            uint8_t buf[BUDGET];
            struct ivt_mpw w;
            ivt_mpw_init_fixed(&w, buf, sizeof(buf));
            size_t n;
            if (crdt_store_flush(r[i], &w, sizeof(buf), &n) || !n)
                continue;
            for (int f = 0; f < FANOUT; f++) {
                int copies = ivt_rng_below(&rng, 10) < 2 ? 0 : ivt_rng_below(&rng, 10) < 1 ? 2 : 1;
                for (int cp = 0; cp < copies; cp++) {
                    if (nq == capq) {
                        capq = capq ? capq * 2 : 256;
                        q = realloc(q, capq * sizeof(*q));
                        assert_non_null(q);
                    }
                    q[nq].to = (int)ivt_rng_below(&rng, N);
                    q[nq].data = malloc(w.len);
                    memcpy(q[nq].data, buf, w.len);
                    q[nq].len = w.len;
                    nq++;
                }
            }
        }
        /* Deliver a random part of the queue, in random order. */
        for (size_t k = nq; k-- > 0;) {
            size_t j = ivt_rng_below(&rng, k + 1);
            struct msg t = q[k];
            q[k] = q[j];
            q[j] = t;
        }
        size_t keep = 0;
        for (size_t k = 0; k < nq; k++) {
            if (ivt_rng_below(&rng, 3) == 0 && round < ROUNDS - 1) {
                q[keep++] = q[k]; /* delayed to a later round */
                continue;
            }
            merge_bytes(r[q[k].to], q[k].data, q[k].len);
            free(q[k].data);
        }
        nq = keep;
    }
    for (size_t k = 0; k < nq; k++)
        free(q[k].data);
    free(q);
    /* One anti-entropy round through a hub: every replica pushes what its
     * digest says the hub lacks and the hub pulls, then the hub pushes
     * back to everyone. Digests first; only differing buckets travel. */
    size_t nd = crdt_store_digest_size(r[0]);
    uint64_t *dig = malloc(nd * sizeof(*dig));
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 1; i < N; i++) {
            struct crdt_store *from = pass == 0 ? r[i] : r[0], *to = pass == 0 ? r[0] : r[i];
            struct ivt_mpw dw;
            ivt_mpw_init_dyn(&dw, 1 << 20);
            assert_int_equal(crdt_store_digest_encode(to, &dw, SIZE_MAX), 0);
            assert_int_equal(crdt_store_digest_decode(from, dig, nd, dw.data, dw.len), 0);
            ivt_mpw_destroy(&dw);
            size_t resume = 0;
            while (resume < nd) {
                struct ivt_mpw w;
                ivt_mpw_init_dyn(&w, 1 << 22);
                size_t n;
                assert_int_equal(
                    crdt_store_repair(from, &w, dig, nd, &resume, 1 << 16, SIZE_MAX, &n), 0);
                if (n)
                    merge_bytes(to, w.data, w.len);
                ivt_mpw_destroy(&w);
            }
        }
    }
    free(dig);
    /* Byte-identical replicas, and digests agree. */
    for (int i = 1; i < N; i++)
        assert_same(r[0], r[i]);
    /* Equal to the exact oracle. */
    for (int k = 0; k < CRDT_KINDS; k++)
        for (int kk = 0; kk < KEYS; kk++) {
            char key[16];
            size_t len = (size_t)snprintf(key, sizeof(key), "key-%u", (unsigned)kk);
            struct crdt_view v;
            int rc = crdt_store_get(r[N / 2], &v, (enum crdt_kind)k, key, len);
            uint64_t total = 0;
            for (int m = 0; m < CRDT_COUNTERS; m++)
                total += oracle[k][kk][m];
            if (!total) {
                assert_int_equal(rc, IVT_ENOENT);
                continue;
            }
            assert_int_equal(rc, 0);
            for (int m = 0; m < CRDT_COUNTERS; m++)
                assert_int_equal(v.fleet[m], oracle[k][kk][m]);
            assert_false(v.approximate);
        }
    for (int i = 0; i < N; i++)
        crdt_store_delete(r[i]);
}

TEST(crdt_store_promotion_converges)
{
    (void)state;
    /* 12 origins write one entity in one epoch, past the slot bound: every
     * replica promotes, whatever the merge order, and the estimate is
     * within the HLL error of the exact count. */
    enum { N = 12 };
    struct crdt_store *r[N];
    struct crdt_config c;
    uint64_t exact = 0;
    for (int i = 0; i < N; i++) {
        small_config(&c, i + 1);
        c.counter_slots_max = 4;
        c.counter_hll_p = 12;
        c.distinct_exact_max = 16;
        r[i] = mk(&c);
        struct crdt_update u = {.kind = CRDT_KIND_PUB, .key = "pub-1", .key_len = 5};
        u.add[0] = 200 + 37 * (uint32_t)i;
        exact += u.add[0];
        assert_int_equal(crdt_store_update(r[i], crdt_store_epoch(r[i]), &u, 1), 0);
    }
    small_config(&c, 99);
    c.counter_slots_max = 4;
    c.counter_hll_p = 12;
    c.distinct_exact_max = 16;
    struct crdt_store *fwd = mk(&c), *rev = mk(&c);
    for (int i = 0; i < N; i++) {
        merge_store(fwd, r[i]);
        merge_store(rev, r[N - 1 - i]);
    }
    assert_same(fwd, rev);
    struct crdt_view v;
    assert_int_equal(crdt_store_get(fwd, &v, CRDT_KIND_PUB, "pub-1", 5), 0);
    assert_true(v.approximate);
    double err = ((double)v.fleet[0] - (double)exact) / (double)exact;
    assert_true(err < 0.05 && err > -0.05);
    assert_int_equal(v.origins, N);
    /* After promotion the owner's own count is still exact. */
    merge_store(r[3], fwd);
    assert_int_equal(crdt_store_get(r[3], &v, CRDT_KIND_PUB, "pub-1", 5), 0);
    assert_int_equal(v.local[0], 200 + 37 * 3);
    for (int i = 0; i < N; i++)
        crdt_store_delete(r[i]);
    crdt_store_delete(fwd);
    crdt_store_delete(rev);
}

/* A peer's slot of four billion events, joined into an epoch this node has
 * promoted, is a bounded join (a run, crdt/hll.h) whose estimate is the
 * count within the sketch's error; before, it was four billion adds, many
 * seconds of the event loop, at the choice of any key holder. The same
 * slot joined by a node that promotes later (the slots first, then the
 * promotion) gives the same bytes. */
TEST(crdt_store_huge_slot_joins_a_promoted_epoch)
{
    (void)state;
    struct crdt_config c;
    struct crdt_store *w[3];
    struct crdt_update u = {.kind = CRDT_KIND_PUB, .key = "pub-1", .key_len = 5};
    for (int i = 0; i < 3; i++) {
        small_config(&c, i + 1);
        c.counter_hll_p = 10;
        w[i] = mk(&c);
        u.add[0] = 10;
        assert_int_equal(crdt_store_update(w[i], crdt_store_epoch(w[i]), &u, 1), 0);
    }
    small_config(&c, 4);
    c.counter_hll_p = 10;
    struct crdt_store *big = mk(&c);
    u.add[0] = 4000000000u;
    assert_int_equal(crdt_store_update(big, crdt_store_epoch(big), &u, 1), 0);
    small_config(&c, 9);
    c.counter_hll_p = 10;
    struct crdt_store *early = mk(&c), *late = mk(&c);
    for (int i = 0; i < 3; i++)
        merge_store(early, w[i]); /* three origins, slots_max 2: promoted */
    struct crdt_store_stats st;
    crdt_store_stats(early, &st);
    assert_int_equal(st.promoted_counters, 1);
    merge_store(early, big);
    merge_store(late, big); /* one origin: a slot */
    for (int i = 0; i < 3; i++)
        merge_store(late, w[i]);
    assert_same(early, late);
    struct crdt_view v;
    assert_int_equal(crdt_store_get(early, &v, CRDT_KIND_PUB, "pub-1", 5), 0);
    assert_true(v.approximate);
    double exact = 4000000030.0, err = fabs((double)v.fleet[0] - exact) / exact;
    assert_true(err < 4 * 0.0325); /* 4 standard errors at p = 10 */
    for (int i = 0; i < 3; i++)
        crdt_store_delete(w[i]);
    crdt_store_delete(big);
    crdt_store_delete(early);
    crdt_store_delete(late);
}

/* A message of format 1 (before runs) is read, without its promoted
 * epochs: their registers were made from other event ids, and joined with
 * this version's they would count events twice. Its slots and sets are
 * joined (a snapshot saved before an upgrade keeps them), the dropped
 * epochs are counted, and formats 0 and 3 are refused. Only a message
 * with promoted epochs is written as format 2. */
TEST(crdt_store_format_1_joins_without_promoted_epochs)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    struct crdt_store *a = mk(&c);
    struct crdt_update u = {.kind = CRDT_KIND_PUB, .key = "pub-1", .key_len = 5};
    u.add[0] = 5;
    assert_int_equal(crdt_store_update(a, crdt_store_epoch(a), &u, 1), 0);
    struct crdt_update d = {.kind = CRDT_KIND_IP, .key = "ip-1", .key_len = 4};
    d.add[1] = 2;
    assert_int_equal(crdt_store_update(a, crdt_store_epoch(a), &d, 1), 0);
    for (int i = 2; i <= 3; i++) { /* three origins: pub-1's epoch promotes */
        small_config(&c, i);
        struct crdt_store *o = mk(&c);
        assert_int_equal(crdt_store_update(o, crdt_store_epoch(o), &u, 1), 0);
        merge_store(a, o);
        crdt_store_delete(o);
    }
    struct crdt_store_stats st;
    crdt_store_stats(a, &st);
    assert_int_equal(st.promoted_counters, 1);
    size_t n;
    uint8_t *p = snap(a, &n);
    assert_int_equal(p[1], 2); /* [2, ...]: fixarray, then the version */
    p[1] = 1;
    small_config(&c, 7);
    struct crdt_store *b = mk(&c);
    struct crdt_merge_stats ms;
    assert_int_equal(crdt_store_merge(b, p, n, &ms), 0);
    assert_int_equal(ms.old_ids, 1);
    crdt_store_stats(b, &st);
    assert_int_equal(st.promoted_counters, 0);
    struct crdt_view v;
    assert_int_equal(crdt_store_get(b, &v, CRDT_KIND_IP, "ip-1", 4), 0);
    assert_int_equal(v.fleet[1], 2); /* a slot of a format 1 message: joined */
    /* A message without promoted epochs is written as format 1, which it
     * equals byte for byte: a node of that format reads it. */
    size_t n1;
    uint8_t *p1 = snap(b, &n1);
    assert_int_equal(p1[1], 1);
    free(p1);
    /* pub-1 held only the promoted epoch (and its origin set) */
    p[1] = 0;
    assert_int_equal(crdt_store_merge(b, p, n, NULL), IVT_EVERSION);
    p[1] = 3;
    assert_int_equal(crdt_store_merge(b, p, n, NULL), IVT_EVERSION);
    free(p);
    crdt_store_delete(a);
    crdt_store_delete(b);
}

/* The origin table grows as origins arrive, up to max_origins and not past
 * it: every origin up to the bound is counted, one more is refused and
 * counted as such, and a snapshot naming all of them in one message is
 * taken whole by a store that has seen none of them. */
static void pub_key(char *key, int i)
{
    snprintf(key, 16, "pub-%d", i);
}

TEST(crdt_store_origin_table_grows_to_max_origins)
{
    (void)state;
    enum { MAX = 300 }; /* several doublings of the table */
    struct crdt_config c;
    small_config(&c, 1000);
    c.max_origins = MAX;
    struct crdt_store *hub = mk(&c);
    char key[16];
    for (int i = 1; i <= MAX; i++) {
        struct crdt_config pc;
        small_config(&pc, i);
        struct crdt_store *peer = mk(&pc);
        pub_key(key, i);
        struct crdt_update u = {.kind = CRDT_KIND_PUB, .key = key, .key_len = strlen(key)};
        u.add[0] = 1;
        assert_int_equal(crdt_store_update(peer, crdt_store_epoch(peer), &u, 1), 0);
        size_t n;
        uint8_t *p = snap(peer, &n);
        struct crdt_merge_stats st;
        assert_int_equal(crdt_store_merge(hub, p, n, &st), 0);
        /* The hub's own origin is one of the MAX: the last peer finds it full. */
        assert_int_equal(st.origins_full, i < MAX ? 0 : 1);
        free(p);
        crdt_store_delete(peer);
    }
    struct crdt_store_stats ss;
    crdt_store_stats(hub, &ss);
    assert_int_equal(ss.origins, MAX);
    /* A copy whose own origin is peer 1's takes the hub's snapshot: the
     * MAX - 1 peers, named by one message (the hub wrote nothing itself). */
    struct crdt_config cc;
    small_config(&cc, 1);
    cc.max_origins = MAX;
    struct crdt_store *copy = mk(&cc);
    merge_store(copy, hub);
    crdt_store_stats(copy, &ss);
    assert_int_equal(ss.origins, MAX - 1);
    for (int i = 1; i < MAX; i++) {
        struct crdt_view v;
        pub_key(key, i);
        assert_int_equal(crdt_store_get(copy, &v, CRDT_KIND_PUB, key, strlen(key)), 0);
        assert_int_equal(v.fleet[0], 1);
        assert_int_equal(v.origins, 1);
    }
    crdt_store_delete(copy);
    crdt_store_delete(hub);
}

/* Origins whose slots all expired are freed and their records taken by
 * others: a merge must name each origin by its bytes, however it found
 * it before (the hub below also holds a memo of the freed ones). */
TEST(crdt_store_origins_freed_then_reused)
{
    (void)state;
    enum { PEERS = 40 };
    struct crdt_config c;
    small_config(&c, 1000);
    struct crdt_store *hub = mk(&c), *ref = NULL;
    char key[16];
    /* Round 1 starts when everything of round 0 has left the window. */
    ivt_ms later = WALL0 + (ivt_ms)(c.window_epochs + c.distinct_bucket_epochs + 2) * c.epoch_ms;
    for (int round = 0; round < 2; round++) {
        ivt_ms wall = round ? later : WALL0;
        if (round) {
            crdt_store_tick(hub, wall);
            struct crdt_store_stats ss;
            crdt_store_stats(hub, &ss);
            assert_int_equal(ss.entities, 0);
            assert_int_equal(ss.origins, 1); /* our own, pinned */
            small_config(&c, 1001);
            assert_int_equal(crdt_store_new(&ref, &c, wall), 0);
        }
        for (int i = 1; i <= PEERS; i++) {
            struct crdt_config pc;
            small_config(&pc, round * PEERS + i);
            struct crdt_store *peer;
            assert_int_equal(crdt_store_new(&peer, &pc, wall), 0);
            pub_key(key, i % 7);
            struct crdt_update u = {.kind = CRDT_KIND_PUB, .key = key, .key_len = strlen(key)};
            u.add[0] = (uint32_t)i;
            assert_int_equal(crdt_store_update(peer, crdt_store_epoch(peer), &u, 1), 0);
            merge_store(hub, peer);
            merge_store(hub, peer); /* again: nothing changes */
            if (ref)
                merge_store(ref, peer);
            crdt_store_delete(peer);
        }
    }
    /* Round 1's origins alone, each with its own count. */
    size_t n1, n2;
    uint8_t *a = snap(hub, &n1), *b = snap(ref, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    struct crdt_view v, w;
    pub_key(key, 1);
    assert_int_equal(crdt_store_get(hub, &v, CRDT_KIND_PUB, key, strlen(key)), 0);
    assert_int_equal(crdt_store_get(ref, &w, CRDT_KIND_PUB, key, strlen(key)), 0);
    assert_int_equal(v.fleet[0], w.fleet[0]); /* promoted: an estimate */
    assert_int_equal(v.origins, 6);           /* peers 1, 8, ..., 36 of round 1 */
    free(a);
    free(b);
    crdt_store_delete(ref);
    crdt_store_delete(hub);
}

TEST(crdt_store_distinct_window_union)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    c.distinct_exact_max = 8;
    c.distinct_hll_p = 12;
    struct crdt_store *s = mk(&c);
    uint32_t cur = crdt_store_epoch(s);
    /* The same 5 items in every epoch: the union is 5, not 5 per bucket. */
    for (uint32_t e = cur - 5; e <= cur; e++)
        for (uint64_t i = 1; i <= 5; i++) {
            struct crdt_update u = {.kind = CRDT_KIND_IP, .key = "1.2.3.4", .key_len = 7};
            u.item_mask = 1;
            u.item[0] = i * 0x9e3779b97f4a7c15ULL;
            assert_int_equal(crdt_store_update(s, e, &u, 1), 0);
        }
    struct crdt_view v;
    assert_int_equal(crdt_store_get(s, &v, CRDT_KIND_IP, "1.2.3.4", 7), 0);
    assert_int_equal(v.distinct[0], 5);
    assert_false(v.approximate);
    /* Past the exact bound: an HLL, still the union. */
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 5);
    for (int i = 0; i < 3000; i++) {
        struct crdt_update u = {.kind = CRDT_KIND_IP, .key = "1.2.3.4", .key_len = 7};
        u.item_mask = 1;
        u.item[0] = ivt_rng_next(&rng);
        assert_int_equal(crdt_store_update(s, cur - (uint32_t)(i % 6), &u, 1), 0);
    }
    assert_int_equal(crdt_store_get(s, &v, CRDT_KIND_IP, "1.2.3.4", 7), 0);
    assert_true(v.approximate);
    assert_true(v.distinct[0] > 2850 && v.distinct[0] < 3160);
    crdt_store_delete(s);
}

TEST(crdt_store_window_expiry)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    struct crdt_store *a = mk(&c);
    small_config(&c, 2);
    struct crdt_store *b = mk(&c);
    uint32_t cur = crdt_store_epoch(a);
    /* One request per epoch for the 6 epochs of the window. */
    for (uint32_t e = cur - 5; e <= cur; e++) {
        struct crdt_update u = {.kind = CRDT_KIND_IP, .key = "ip", .key_len = 2};
        u.add[0] = 1;
        assert_int_equal(crdt_store_update(a, e, &u, 1), 0);
    }
    merge_store(b, a);
    struct crdt_view v;
    assert_int_equal(crdt_store_get(a, &v, CRDT_KIND_IP, "ip", 2), 0);
    assert_int_equal(v.fleet[0], 6);
    /* Epoch by epoch, each replica drops the same oldest epoch. The
     * origins set lives in 2-epoch buckets, so the entity outlives its last
     * counter epoch by at most one bucket. */
    for (int k = 1; k <= 7; k++) {
        ivt_ms wall = WALL0 + (ivt_ms)k * c.epoch_ms;
        crdt_store_tick(a, wall);
        crdt_store_tick(b, wall);
        assert_same(a, b);
        int rc = crdt_store_get(a, &v, CRDT_KIND_IP, "ip", 2);
        if (k <= 6) {
            assert_int_equal(rc, 0);
            assert_int_equal(v.fleet[0], (uint64_t)(6 - k));
            assert_int_equal(v.local[0], (uint64_t)(6 - k));
        } else {
            assert_int_equal(rc, IVT_ENOENT); /* nothing left: removed */
        }
    }
    /* Old state arriving late is ignored; far-future is rejected. */
    small_config(&c, 3);
    struct crdt_store *old = mk(&c);
    struct crdt_update u = {.kind = CRDT_KIND_IP, .key = "ip", .key_len = 2};
    u.add[0] = 9;
    assert_int_equal(crdt_store_update(old, cur, &u, 1), 0);
    size_t n;
    uint8_t *p = snap(old, &n);
    struct crdt_merge_stats st;
    assert_int_equal(crdt_store_merge(a, p, n, &st), 0);
    assert_int_equal(st.expired, 2); /* the slot and its bucket */
    assert_int_equal(crdt_store_get(a, &v, CRDT_KIND_IP, "ip", 2), IVT_ENOENT);
    free(p);
    assert_int_equal(crdt_store_update(old, cur + 2, &u, 1), IVT_ESTALE);
    assert_int_equal(crdt_store_update(a, cur, &u, 1), IVT_ESTALE);
    crdt_store_tick(old, WALL0 + 4 * c.epoch_ms);
    assert_int_equal(crdt_store_update(old, cur + 4, &u, 1), 0);
    p = snap(old, &n);
    small_config(&c, 4);
    struct crdt_store *late = mk(&c); /* still at WALL0: cur + 4 is far future */
    assert_int_equal(crdt_store_merge(late, p, n, &st), 0);
    assert_true(st.future >= 1);
    assert_int_equal(crdt_store_get(late, &v, CRDT_KIND_IP, "ip", 2), 0);
    assert_int_equal(v.fleet[0], 9); /* the epoch in range was taken */
    free(p);
    crdt_store_delete(a);
    crdt_store_delete(b);
    crdt_store_delete(old);
    crdt_store_delete(late);
}

TEST(crdt_store_eviction_deterministic)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    c.max_entities = 64;
    struct crdt_store *src = mk(&c);
    small_config(&c, 1);
    c.max_entities = 4096;
    struct crdt_store *big = mk(&c);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    /* 200 entities; entity i gets i + 1 requests, so the heavy ones are
     * known. */
    for (int i = 0; i < 200; i++) {
        char key[16];
        struct crdt_update u = {.kind = CRDT_KIND_DEVICE};
        u.key_len = (size_t)snprintf(key, sizeof(key), "dev%d", i);
        u.key = key;
        u.add[0] = (uint32_t)i + 1;
        assert_int_equal(crdt_store_update(big, crdt_store_epoch(big), &u, 1), 0);
    }
    size_t n;
    uint8_t *p = snap(big, &n);
    small_config(&c, 2);
    c.max_entities = 64;
    struct crdt_store *x = mk(&c);
    small_config(&c, 3);
    c.max_entities = 64;
    struct crdt_store *y = mk(&c);
    merge_bytes(x, p, n);
    merge_bytes(y, p, n);
    assert_same(x, y);
    struct crdt_store_stats sx;
    crdt_store_stats(x, &sx);
    assert_true(sx.entities <= 64);
    assert_true(sx.evictions > 0);
    /* The heaviest entity survives; the lightest is gone. */
    struct crdt_view v;
    assert_int_equal(crdt_store_get(x, &v, CRDT_KIND_DEVICE, "dev199", 6), 0);
    assert_int_equal(v.fleet[0], 200);
    /* The same state evicts the same entities on every replica. */
    for (int i = 0; i < 50; i++) {
        char key[16];
        struct crdt_update u = {.kind = CRDT_KIND_UA};
        u.key_len = (size_t)snprintf(key, sizeof(key), "ua%d", i);
        u.key = key;
        u.add[1] = 1;
        u.hash = crdt_store_key_hash(x, u.kind, key, u.key_len);
        assert_int_equal(crdt_store_update(x, crdt_store_epoch(x), &u, 1), 0);
    }
    free(p);
    crdt_store_delete(src);
    crdt_store_delete(big);
    crdt_store_delete(x);
    crdt_store_delete(y);
}

TEST(crdt_store_flush_budget)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    struct crdt_store *s = mk(&c);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    random_events(s, &rng, 300, 50);
    size_t pending = crdt_store_pending(s), total = 0;
    assert_true(pending > 10);
    uint8_t buf[400];
    uint8_t tiny[16];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, tiny, sizeof(tiny));
    size_t n;
    assert_int_equal(crdt_store_flush(s, &w, sizeof(tiny), &n), IVT_ENOSPC);
    assert_int_equal(crdt_store_pending(s), pending);
    /* A record no delta can hold is dropped from the queue (anti-entropy
     * carries it), and the rest still flush. */
    assert_true(crdt_store_flush_drop(s));
    assert_int_equal(crdt_store_pending(s), pending - 1);
    pending--;
    while (crdt_store_pending(s)) {
        ivt_mpw_init_fixed(&w, buf, sizeof(buf));
        assert_int_equal(crdt_store_flush(s, &w, sizeof(buf), &n), 0);
        assert_true(w.len <= sizeof(buf));
        total += n;
    }
    assert_int_equal(total, pending);
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    assert_int_equal(crdt_store_flush(s, &w, sizeof(buf), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(w.len, 0);
    assert_false(crdt_store_flush_drop(s));
    crdt_store_delete(s);
}

/* Flushes everything pending in s into one message (caller frees). */
static uint8_t *flush_all(struct crdt_store *s, size_t *len)
{
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 20);
    size_t n;
    assert_int_equal(crdt_store_flush(s, &w, 1 << 20, &n), 0);
    assert_int_equal(crdt_store_pending(s), 0);
    *len = w.len;
    return w.data;
}

/* A later delta of an entity carries neither the display key (once a
 * delta carried it) nor the sets that did not rise; what it does carry
 * still joins into the full state. */
TEST(crdt_store_delta_sends_what_rose)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    c.distinct_exact_max = 16;
    struct crdt_store *a = mk(&c);
    small_config(&c, 2);
    c.distinct_exact_max = 16;
    struct crdt_store *b = mk(&c), *d = mk(&c);
    static const char key[] = "Mozilla/5.0 (X11; Linux x86_64) a user agent of a good length";
    struct crdt_update u;
    memset(&u, 0, sizeof(u));
    u.kind = CRDT_KIND_UA;
    u.key = key;
    u.key_len = sizeof(key) - 1;
    u.add[0] = 1;
    u.item_mask = 3;
    for (uint64_t i = 1; i <= 8; i++) {
        u.item[0] = i * 0x9e3779b97f4a7c15ULL;
        u.item[1] = i * 0x7f4a7c159e3779b9ULL;
        assert_int_equal(crdt_store_update(a, crdt_store_epoch(a), &u, 1), 0);
    }
    size_t l1, l2;
    uint8_t *m1 = flush_all(a, &l1);
    u.item_mask = 1; /* one more item in set 0; set 1 unchanged */
    u.item[0] = 99;
    assert_int_equal(crdt_store_update(a, crdt_store_epoch(a), &u, 1), 0);
    uint8_t *m2 = flush_all(a, &l2);
    /* neither the key nor set 1's eight hashes again */
    assert_true(l2 + sizeof(key) - 1 + 8 * 9 <= l1);
    merge_bytes(b, m2, l2);
    struct crdt_view v;
    assert_int_equal(
        crdt_store_get_hash(b, &v, CRDT_KIND_UA,
                            crdt_store_key_hash(a, CRDT_KIND_UA, key, sizeof(key) - 1)),
        0);
    assert_int_equal(v.key_len, 0);     /* not known here yet */
    assert_int_equal(v.distinct[0], 9); /* a set that rose goes whole */
    assert_int_equal(v.distinct[1], 0);
    /* a local event names it: a replica learns the key from it */
    struct crdt_store *e2 = mk(&c);
    merge_bytes(e2, m2, l2);
    u.item_mask = 0;
    assert_int_equal(crdt_store_update(e2, crdt_store_epoch(e2), &u, 1), 0);
    assert_int_equal(crdt_store_get(e2, &v, CRDT_KIND_UA, key, sizeof(key) - 1), 0);
    assert_int_equal(v.key_len, sizeof(key) - 1);
    assert_memory_equal(v.key, key, sizeof(key) - 1);
    crdt_store_delete(e2);
    /* in either order, the two deltas give a's state: keys join too */
    merge_bytes(b, m1, l1);
    merge_bytes(d, m1, l1);
    merge_bytes(d, m2, l2);
    assert_same(b, a);
    assert_same(d, a);
    assert_int_equal(crdt_store_get(b, &v, CRDT_KIND_UA, key, sizeof(key) - 1), 0);
    assert_int_equal(v.key_len, sizeof(key) - 1);
    assert_int_equal(v.distinct[0], 9);
    assert_int_equal(v.distinct[1], 8);
    free(m1);
    free(m2);
    crdt_store_delete(a);
    crdt_store_delete(b);
    crdt_store_delete(d);
}

TEST(crdt_store_decode_rejects)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    struct crdt_store *s = mk(&c);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    random_events(s, &rng, 100, 8);
    size_t n;
    uint8_t *p = snap(s, &n);
    small_config(&c, 2);
    /* Every strict prefix is malformed and harmless. */
    for (size_t k = 0; k < n; k += 1 + k / 64) {
        struct crdt_store *t = mk(&c);
        assert_true(crdt_store_merge(t, p, k, NULL) < 0);
        crdt_store_delete(t);
    }
    struct crdt_store *t = mk(&c);
    /* another format version */
    uint8_t v3[] = {0x95, 0x03, 0xc0, 0xc0, 0xc0, 0xc0};
    assert_int_equal(crdt_store_merge(t, v3, sizeof(v3), NULL), IVT_EVERSION);
    /* trailing bytes */
    uint8_t *q = malloc(n + 1);
    memcpy(q, p, n);
    q[n] = 0xc0;
    struct crdt_store *t2 = mk(&c);
    assert_int_equal(crdt_store_merge(t2, q, n + 1, NULL), IVT_EPROTO);
    crdt_store_delete(t2);
    free(q);
    /* a peer with other lattice parameters */
    small_config(&c, 3);
    c.counter_hll_p = 7;
    struct crdt_store *other = mk(&c);
    assert_int_equal(crdt_store_merge(other, p, n, NULL), IVT_EINVAL);
    crdt_store_delete(other);
    /* a header declaring four billion origins in a few bytes */
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 16);
    ivt_mpw_array(&w, 5);
    ivt_mpw_uint(&w, 1);
    ivt_mpw_uint(&w, 0);
    ivt_mpw_array(&w, 7);
    uint64_t prm[7] = {60000, 6, 2, 4, 6, 6, 2};
    for (int i = 0; i < 7; i++)
        ivt_mpw_uint(&w, prm[i]);
    size_t hdr = w.len;
    ivt_mpw_array(&w, 0xffffffffu);
    assert_int_equal(crdt_store_merge(t, w.data, w.len, NULL), IVT_EPROTO);
    /* an entity whose slots are out of order */
    w.len = hdr;
    uint8_t o1[20] = {1}, o2[20] = {2};
    ivt_mpw_array(&w, 2);
    ivt_mpw_bin(&w, o1, 20);
    ivt_mpw_bin(&w, o2, 20);
    ivt_mpw_array(&w, 1);
    ivt_mpw_array(&w, 6);
    ivt_mpw_uint(&w, 0);
    ivt_mpw_uint(&w, 42);
    ivt_mpw_bin(&w, "x", 1);
    ivt_mpw_array(&w, 2);
    uint32_t ep = crdt_store_epoch(t);
    for (int o = 1; o >= 0; o--) {
        ivt_mpw_array(&w, 8);
        ivt_mpw_uint(&w, ep);
        ivt_mpw_uint(&w, (uint64_t)o);
        for (int m = 0; m < 6; m++)
            ivt_mpw_uint(&w, 1);
    }
    ivt_mpw_array(&w, 0);
    ivt_mpw_array(&w, 0);
    assert_int_equal(crdt_store_merge(t, w.data, w.len, NULL), IVT_EPROTO);
    /* an exact set over the bound */
    w.len = hdr;
    ivt_mpw_array(&w, 0);
    ivt_mpw_array(&w, 1);
    ivt_mpw_array(&w, 6);
    ivt_mpw_uint(&w, 0);
    ivt_mpw_uint(&w, 42);
    ivt_mpw_bin(&w, "x", 1);
    ivt_mpw_array(&w, 0);
    ivt_mpw_array(&w, 0);
    ivt_mpw_array(&w, 1);
    ivt_mpw_array(&w, 5);
    ivt_mpw_uint(&w, ep / 2);
    ivt_mpw_array(&w, 5);
    for (int i = 1; i <= 5; i++)
        ivt_mpw_uint(&w, (uint64_t)i);
    for (int d = 1; d < 4; d++)
        ivt_mpw_array(&w, 0);
    assert_int_equal(crdt_store_merge(t, w.data, w.len, NULL), IVT_ETOOBIG);
    /* a key longer than the display bound */
    w.len = hdr;
    ivt_mpw_array(&w, 0);
    ivt_mpw_array(&w, 1);
    ivt_mpw_array(&w, 6);
    ivt_mpw_uint(&w, 0);
    ivt_mpw_uint(&w, 42);
    char longkey[200];
    memset(longkey, 'a', sizeof(longkey));
    ivt_mpw_bin(&w, longkey, sizeof(longkey));
    ivt_mpw_array(&w, 0);
    ivt_mpw_array(&w, 0);
    ivt_mpw_array(&w, 0);
    assert_int_equal(crdt_store_merge(t, w.data, w.len, NULL), IVT_EPROTO);
    ivt_mpw_destroy(&w);
    struct crdt_store_stats st;
    crdt_store_stats(t, &st);
    assert_int_equal(st.entities, 0);
    /* digest messages */
    uint64_t d[16];
    uint8_t bad[] = {0x93, 0x01, 0x04, 0xc4, 0x01, 0x00};
    assert_int_equal(crdt_store_digest_decode(t, d, 16, bad, sizeof(bad)), IVT_EPROTO);
    uint8_t other_bits[] = {0x93, 0x01, 0x05, 0xc4, 0x00};
    assert_int_equal(crdt_store_digest_decode(t, d, 16, other_bits, sizeof(other_bits)),
                     IVT_EINVAL);
    free(p);
    crdt_store_delete(t);
    crdt_store_delete(s);
}

/* The digest message peers exchange: [1, digest_bits, bin] with the
 * bucket digests as little-endian u64s, the same values
 * crdt_store_digest_max gives (stale buckets marked), read back by decode. */
TEST(crdt_store_digest_message_bytes)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct crdt_config c;
    struct crdt_store *a = digest_store(&c, &rng), *b = mk(&c);
    size_t nb = crdt_store_digest_size(a);
    merge_store(b, a);
    random_events(a, &rng, 30, 200); /* stale records past the bound below */
    uint64_t *want = calloc(nb, sizeof(uint64_t)), *back = calloc(nb, sizeof(uint64_t));
    assert_non_null(want);
    assert_non_null(back);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 20);
    /* b's exact digest through the message, a's bounded one the same way */
    struct crdt_store *st[2] = {b, a};
    size_t max[2] = {SIZE_MAX, 4};
    for (int k = 0; k < 2; k++) {
        ivt_mpw_reset(&w);
        assert_int_equal(crdt_store_digest_encode(st[k], &w, max[k]), 0);
        assert_int_equal(crdt_store_digest_max(st[k], want, nb, 0), 0);
        assert_int_equal(w.len, 3 + 3 + nb * 8);
        const uint8_t head[] = {0x93, 0x01, 0x06, 0xc5, (uint8_t)(nb * 8 >> 8), (uint8_t)(nb * 8)};
        assert_memory_equal(w.data, head, sizeof(head));
        for (size_t i = 0; i < nb; i++) {
            uint64_t v = 0;
            for (int j = 0; j < 8; j++)
                v |= (uint64_t)w.data[sizeof(head) + i * 8 + j] << (8 * j);
            assert_true(v == want[i]);
        }
        assert_int_equal(crdt_store_digest_decode(st[k], back, nb, w.data, w.len), 0);
        assert_memory_equal(back, want, nb * sizeof(uint64_t));
    }
    /* a, thirty events ahead of b and bounded, differs from b somewhere */
    uint64_t *exact = calloc(nb, sizeof(uint64_t));
    assert_non_null(exact);
    assert_int_equal(crdt_store_digest_max(b, exact, nb, 0), 0);
    assert_memory_not_equal(back, exact, nb * sizeof(uint64_t));
    ivt_mpw_destroy(&w);
    free(want);
    free(back);
    free(exact);
    crdt_store_delete(a);
    crdt_store_delete(b);
}

/* How crdt_store_merge reads a message of many records: it checks records
 * in groups ahead of their joins (crdt/store.c, "merged in groups"), and
 * must still join exactly the records before a malformed one, whichever
 * group it falls in, and none after it; crdt_store_merge_seen names every
 * record of a merged message, in order. */
enum { MERGE_NREC = 70 }; /* records in the message: several merge groups */

/* Where record i of a store message starts, and the kind and key it names. */
struct rec_at {
    size_t off;
    uint64_t kind, h;
    const uint8_t *key;
    uint32_t key_len;
};

static void records(const uint8_t *msg, size_t len, struct rec_at *out, uint32_t want)
{
    const uint8_t *p = msg, *end = msg + len;
    uint32_t n;
    assert_int_equal(ivt_mp_read_array(&p, end, &n), 0);
    assert_int_equal(n, 5);
    for (int i = 0; i < 4; i++) /* version, type, params, origins */
        assert_int_equal(ivt_mp_skip(&p, end), 0);
    assert_int_equal(ivt_mp_read_array(&p, end, &n), 0);
    assert_int_equal(n, want);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *q = p;
        uint32_t fields;
        out[i].off = (size_t)(p - msg);
        assert_int_equal(ivt_mp_read_array(&q, end, &fields), 0);
        assert_int_equal(fields, 6);
        assert_int_equal(ivt_mp_read_uint(&q, end, &out[i].kind), 0);
        assert_int_equal(ivt_mp_read_uint(&q, end, &out[i].h), 0);
        assert_int_equal(ivt_mp_read_bin(&q, end, &out[i].key, &out[i].key_len), 0);
        assert_int_equal(ivt_mp_skip(&p, end), 0);
    }
    assert_ptr_equal(p, end);
}

struct seen_log {
    uint32_t n;
    uint64_t kind[MERGE_NREC], h[MERGE_NREC];
};

static void log_seen(void *ctx, enum crdt_kind kind, uint64_t hash)
{
    struct seen_log *l = ctx;
    assert_true(l->n < MERGE_NREC);
    l->kind[l->n] = (uint64_t)kind;
    l->h[l->n++] = hash;
}

TEST(crdt_store_merge_stops_at_the_bad_record)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    struct crdt_store *a = mk(&c);
    for (int i = 0; i < MERGE_NREC; i++) {
        char key[16];
        struct crdt_update u;
        memset(&u, 0, sizeof(u));
        u.kind = CRDT_KIND_UA;
        u.key_len = (size_t)snprintf(key, sizeof(key), "ua%d", i);
        u.key = key;
        u.add[0] = 1 + (uint32_t)i;
        assert_int_equal(crdt_store_update(a, crdt_store_epoch(a), &u, 1), 0);
    }
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 20);
    assert_int_equal(crdt_store_encode(a, &w), 0);
    struct rec_at at[MERGE_NREC];
    records(w.data, w.len, at, MERGE_NREC);
    /* The first record, one inside the first group, one at a group's
     * start, one in a later group and the last. */
    const uint32_t bad[] = {0, 5, 16, 37, MERGE_NREC - 1};
    for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
        uint8_t *m = malloc(w.len);
        assert_non_null(m);
        memcpy(m, w.data, w.len);
        assert_int_equal(m[at[bad[b]].off], 0x96); /* fixarray of the record's 6 fields */
        m[at[bad[b]].off] = 0x95;
        small_config(&c, 2);
        struct crdt_store *t = mk(&c);
        struct crdt_merge_stats st;
        assert_int_equal(crdt_store_merge(t, m, w.len, &st), IVT_EPROTO);
        assert_int_equal(st.entities, bad[b]);
        for (uint32_t i = 0; i < MERGE_NREC; i++) {
            struct crdt_view v;
            int rc = crdt_store_get(t, &v, (enum crdt_kind)at[i].kind, at[i].key, at[i].key_len);
            assert_int_equal(rc, i < bad[b] ? 0 : IVT_ENOENT);
        }
        crdt_store_delete(t);
        free(m);
    }
    /* Unbroken, every record joins, and is seen in message order. */
    struct crdt_store *t = mk(&c);
    struct crdt_merge_stats st;
    struct seen_log log = {0};
    assert_int_equal(crdt_store_merge_seen(t, w.data, w.len, &st, log_seen, &log), 0);
    assert_int_equal(st.entities, MERGE_NREC);
    assert_int_equal(st.created, MERGE_NREC);
    assert_int_equal(log.n, MERGE_NREC);
    for (uint32_t i = 0; i < MERGE_NREC; i++) {
        assert_int_equal(log.kind[i], at[i].kind);
        assert_int_equal(log.h[i], at[i].h);
    }
    crdt_store_delete(t);
    ivt_mpw_destroy(&w);
    crdt_store_delete(a);
}

TEST(crdt_store_query_and_iterate)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    struct crdt_store *s = mk(&c);
    char longua[300];
    memset(longua, 'M', sizeof(longua));
    struct crdt_update u[2] = {{.kind = CRDT_KIND_UA, .key = longua, .key_len = sizeof(longua)},
                               {.kind = CRDT_KIND_IP, .key = "10.0.0.1", .key_len = 8}};
    u[0].add[0] = 3;
    u[1].add[2] = 4;
    assert_int_equal(crdt_store_update(s, crdt_store_epoch(s), u, 2), 0);
    struct crdt_view v;
    assert_int_equal(crdt_store_get(s, &v, CRDT_KIND_UA, longua, sizeof(longua)), 0);
    assert_int_equal(v.key_len, CRDT_KEY_MAX);
    assert_int_equal(v.fleet[0], 3);
    assert_int_equal(v.origins, 1);
    assert_int_equal(v.first_epoch, crdt_store_epoch(s));
    uint32_t cur = 0;
    int n = 0;
    while (crdt_store_next(s, &cur, &v))
        n++;
    assert_int_equal(n, 2);
    assert_int_equal(crdt_store_get(s, &v, CRDT_KIND_PUB, "nope", 4), IVT_ENOENT);
    assert_int_equal(crdt_store_get(s, &v, (enum crdt_kind)9, "x", 1), IVT_EINVAL);
    struct crdt_update bad = {.kind = CRDT_KIND_IP, .key = "", .key_len = 0};
    bad.add[0] = 1;
    assert_int_equal(crdt_store_update(s, crdt_store_epoch(s), &bad, 1), IVT_EINVAL);
    struct crdt_config badc = c;
    badc.window_epochs = 0;
    struct crdt_store *x;
    assert_int_equal(crdt_store_new(&x, &badc, WALL0), IVT_EINVAL);
    crdt_store_delete(s);
}

/* A random update (as random_events makes them), or an invalid one. */
static void random_update(const struct crdt_store *s, struct crdt_update *u, char *key, size_t cap,
                          struct ivt_rng *rng, int nkeys)
{
    memset(u, 0, sizeof(*u));
    u->kind = (enum crdt_kind)ivt_rng_below(rng, CRDT_KINDS);
    u->key_len = (size_t)snprintf(key, cap, "k%u", (unsigned)ivt_rng_below(rng, nkeys));
    u->key = key;
    u->add[ivt_rng_below(rng, CRDT_COUNTERS)] = (uint32_t)ivt_rng_below(rng, 4);
    if (ivt_rng_below(rng, 2)) {
        u->item_mask = (uint8_t)ivt_rng_below(rng, 1u << CRDT_DISTINCTS);
        for (int d = 0; d < CRDT_DISTINCTS; d++)
            u->item[d] = ivt_rng_below(rng, 40) * 0x9e3779b97f4a7c15ULL;
    }
    if (ivt_rng_below(rng, 4) == 0)
        u->hash = crdt_store_key_hash(s, u->kind, key, u->key_len);
    if (ivt_rng_below(rng, 50) == 0)
        u->key_len = 0; /* invalid: the others still apply */
}

/* One call with many updates (the grouped, prefetching path) does what the
 * same updates one call each do: same bytes, same result code, also when
 * the map fills and evicts in the middle of a group. */
TEST(crdt_store_update_batch_equals_single)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    for (int t = 0; t < (SLOW ? 20 : 120); t++) {
        struct crdt_config c;
        small_config(&c, 1);
        c.max_entities = ivt_rng_below(&rng, 2) ? 16 : 4096;
        struct crdt_store *a = mk(&c), *b = mk(&c);
        uint32_t cur = crdt_store_epoch(a);
        for (int round = 0; round < 6; round++) {
            enum { N = 70 };
            struct crdt_update u[N];
            char keys[N][16];
            size_t n = 1 + ivt_rng_below(&rng, N);
            for (size_t i = 0; i < n; i++)
                random_update(a, &u[i], keys[i], sizeof(keys[i]), &rng, 30);
            uint32_t ep = cur - (uint32_t)ivt_rng_below(&rng, 4);
            int want = 0;
            for (size_t i = 0; i < n; i++) {
                int rc = crdt_store_update(b, ep, &u[i], 1);
                assert_true(rc == 0 || rc == IVT_EINVAL);
                if (rc)
                    want = rc;
            }
            assert_int_equal(crdt_store_update(a, ep, u, n), want);
            assert_same(a, b);
        }
        crdt_store_delete(a);
        crdt_store_delete(b);
    }
}

/* Our slot's counts add per metric, never into a neighbour, and stop at
 * UINT32_MAX (the update adds two counts per word while both are small). */
TEST(crdt_store_update_counts_saturate)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    struct crdt_store *s = mk(&c);
    uint32_t ep = crdt_store_epoch(s);
    struct crdt_update u;
    memset(&u, 0, sizeof(u));
    u.kind = CRDT_KIND_IP;
    u.key = "10.0.0.1";
    u.key_len = 8;
    struct crdt_view v;
    for (int m = 0; m < CRDT_COUNTERS; m++)
        u.add[m] = (uint32_t)m + 1;
    assert_int_equal(crdt_store_update(s, ep, &u, 1), 0);
    for (int m = 0; m < CRDT_COUNTERS; m++)
        u.add[m] = 100 * ((uint32_t)m + 1);
    assert_int_equal(crdt_store_update(s, ep, &u, 1), 0);
    assert_int_equal(crdt_store_get(s, &v, CRDT_KIND_IP, u.key, u.key_len), 0);
    for (int m = 0; m < CRDT_COUNTERS; m++) {
        assert_int_equal(v.fleet[m], 101 * (m + 1));
        assert_int_equal(v.local[m], 101 * (m + 1));
    }
    /* Past 2^31: metric 1 saturates, metric 0 and 2 stay exact. */
    memset(u.add, 0, sizeof(u.add));
    u.add[1] = 0x80000005u;
    u.add[0] = 7;
    assert_int_equal(crdt_store_update(s, ep, &u, 1), 0);
    u.add[1] = 0x7ffffffeu;
    u.add[0] = 0;
    u.add[2] = 1;
    assert_int_equal(crdt_store_update(s, ep, &u, 1), 0);
    assert_int_equal(crdt_store_get(s, &v, CRDT_KIND_IP, u.key, u.key_len), 0);
    assert_int_equal(v.fleet[0], 101 + 7);
    assert_int_equal(v.fleet[1], UINT32_MAX);
    assert_int_equal(v.fleet[2], 303 + 1);
    assert_int_equal(v.local[1], UINT32_MAX);
    /* A saturated count takes more events and stays. */
    memset(u.add, 0, sizeof(u.add));
    u.add[1] = 3;
    u.add[3] = 2;
    assert_int_equal(crdt_store_update(s, ep, &u, 1), 0);
    assert_int_equal(crdt_store_get(s, &v, CRDT_KIND_IP, u.key, u.key_len), 0);
    assert_int_equal(v.fleet[1], UINT32_MAX);
    assert_int_equal(v.fleet[3], 404 + 2);
    for (int m = 4; m < CRDT_COUNTERS; m++)
        assert_int_equal(v.fleet[m], 101 * (m + 1));
    crdt_store_delete(s);
}

/* n replicas of nodes 2 .. n + 1 (node 1 is the store under test). */
static void peers_new(struct crdt_store **p, int n)
{
    for (int k = 0; k < n; k++) {
        struct crdt_config c;
        small_config(&c, 2 + k);
        p[k] = mk(&c);
    }
}

static void peers_tick(struct crdt_store **p, int n, ivt_ms wall)
{
    for (int k = 0; k < n; k++)
        crdt_store_tick(p[k], wall);
}

static void peers_delete(struct crdt_store **p, int n)
{
    for (int k = 0; k < n; k++)
        crdt_store_delete(p[k]);
}

/* What the done callback of crdt_store_update_batch saw, and what it does:
 * the same reactions as an owner's (read the record, admit it), so the
 * test checks they see the store as a call per event leaves it. */
struct batch_log {
    struct crdt_store *s;
    const struct crdt_event *ev;
    size_t calls;
    size_t idx[64];
    int rc[64];
    uint64_t seen[64]; /* the first update's entity: its local requests */
};

static void batch_react(void *ctx, size_t i, int rc)
{
    struct batch_log *l = ctx;
    assert_true(l->calls < 64);
    l->idx[l->calls] = i;
    l->rc[l->calls] = rc;
    l->seen[l->calls] = UINT64_MAX;
    const struct crdt_event *e = &l->ev[i];
    if (e->n && (unsigned)e->u[0].kind < CRDT_KINDS && e->u[0].key_len) {
        struct crdt_view v;
        if (crdt_store_get(l->s, &v, e->u[0].kind, e->u[0].key, e->u[0].key_len) == 0) {
            l->seen[l->calls] = v.local[0] + v.local[1] + v.local[2] + v.local[3] +
                                31 * v.fleet[0] + 7 * v.distinct[0] + v.origins + v.admitted;
            if (i % 3 == 0)
                crdt_store_admit(
                    l->s, e->u[0].kind,
                    crdt_store_key_hash(l->s, e->u[0].kind, e->u[0].key, e->u[0].key_len));
        }
    }
    l->calls++;
}

/* Everything a store holds that an owner can observe: canonical bytes,
 * digests, and the deltas it would flush (queue order, journal). */
static void assert_same_all(struct crdt_store *a, struct crdt_store *b)
{
    assert_same(a, b);
    enum { ND = 16 }; /* small_config: digest_bits 4 */
    uint64_t da[ND], db[ND];
    assert_int_equal(crdt_store_digest(a, da, ND), 0);
    assert_int_equal(crdt_store_digest(b, db, ND), 0);
    assert_memory_equal(da, db, sizeof(da));
    assert_int_equal(crdt_store_pending(a), crdt_store_pending(b));
    struct ivt_mpw wa, wb;
    ivt_mpw_init_dyn(&wa, 1 << 24);
    ivt_mpw_init_dyn(&wb, 1 << 24);
    size_t na, nb;
    assert_int_equal(crdt_store_flush(a, &wa, 1 << 24, &na), 0);
    assert_int_equal(crdt_store_flush(b, &wb, 1 << 24, &nb), 0);
    assert_int_equal(na, nb);
    assert_int_equal(wa.len, wb.len);
    assert_memory_equal(wa.data, wb.data, wa.len);
    ivt_mpw_destroy(&wa);
    ivt_mpw_destroy(&wb);
}

/* crdt_store_update_batch (many events, their updates' prefetches grouped
 * across events) leaves exactly what a crdt_store_update call per event
 * leaves: same bytes, digests and deltas, the same result per event, and
 * its done callback sees each event's effect before the next. Covers
 * entities repeated inside a batch, events in several epochs (stale ones,
 * the next one) and across epoch rolls, invalid updates, set and counter
 * promotions (a peer's merges make multi-origin epochs) and eviction at
 * max_entities. */
TEST(crdt_store_update_batch_equals_calls)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    for (int t = 0; t < (SLOW ? 15 : 80); t++) {
        struct crdt_config c;
        small_config(&c, 1);
        c.max_entities = ivt_rng_below(&rng, 2) ? 16 : 4096;
        c.forward_merged = ivt_rng_below(&rng, 2);
        c.admit_kinds = (uint8_t)ivt_rng_below(&rng, 1u << CRDT_KINDS);
        struct crdt_store *a = mk(&c), *b = mk(&c);
        struct crdt_store *peer[2]; /* three origins: counter epochs promote */
        peers_new(peer, 2);
        ivt_ms wall = WALL0;
        for (int round = 0; round < 8; round++) {
            if (ivt_rng_below(&rng, 3) == 0) { /* an epoch boundary */
                wall += 60000 * (ivt_ms)(1 + ivt_rng_below(&rng, 2));
                crdt_store_tick(a, wall);
                crdt_store_tick(b, wall);
                peers_tick(peer, 2, wall);
            }
            for (int k = 0; k < 2; k++)
                if (ivt_rng_below(&rng, 3) == 0) {
                    random_events(peer[k], &rng, 20, 30);
                    merge_store(a, peer[k]);
                    merge_store(b, peer[k]);
                }
            enum { NE = 48, NU = 6 };
            struct crdt_event ev[NE];
            struct crdt_update u[NE][NU];
            char keys[NE][NU][16];
            size_t n = 1 + ivt_rng_below(&rng, NE);
            uint32_t cur = crdt_store_epoch(a);
            for (size_t i = 0; i < n; i++) {
                /* cur - 7 is past the window of 6, cur + 2 too new */
                ev[i].epoch = cur + 2 - (uint32_t)ivt_rng_below(&rng, 10);
                ev[i].n = ivt_rng_below(&rng, NU + 1);
                ev[i].u = u[i];
                for (size_t j = 0; j < ev[i].n; j++)
                    random_update(a, &u[i][j], keys[i][j], sizeof(keys[i][j]), &rng, 30);
            }
            struct batch_log la = {.s = a, .ev = ev}, lb = {.s = b, .ev = ev};
            int rc[NE];
            int want = 0;
            for (size_t i = 0; i < n; i++) {
                int r = crdt_store_update(b, ev[i].epoch, ev[i].u, ev[i].n);
                assert_true(r == 0 || r == IVT_EINVAL || r == IVT_ESTALE);
                if (r && !want)
                    want = r;
                batch_react(&lb, i, r);
            }
            assert_int_equal(crdt_store_update_batch(a, rc, ev, n, batch_react, &la), want);
            assert_int_equal(la.calls, n);
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(la.idx[i], i);
                assert_int_equal(rc[i], lb.rc[i]);
                assert_int_equal(la.rc[i], lb.rc[i]);
                assert_true(la.seen[i] == lb.seen[i]);
            }
            assert_same_all(a, b);
        }
        crdt_store_delete(a);
        crdt_store_delete(b);
        peers_delete(peer, 2);
    }
}

/* A view's local sums (this origin's own events in the window, derived
 * from its slots and promoted epochs when read) equal an exact count of
 * the events it applied, whatever the reads, merges from peers (which
 * promote epochs past counter_slots_max origins) and epoch rolls between
 * them. */
TEST(crdt_store_local_sums_exact)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    enum { KEYS = 6, WIN = 6, SPAN = 12 };
    for (int t = 0; t < (SLOW ? 4 : 20); t++) {
        struct crdt_config c;
        small_config(&c, 1);
        struct crdt_store *a = mk(&c), *peer[2];
        peers_new(peer, 2);
        /* own[e][key][m]: our adds in epoch base + e */
        static uint64_t own[SPAN + 1][KEYS][CRDT_COUNTERS];
        memset(own, 0, sizeof(own));
        uint32_t base = crdt_store_epoch(a);
        for (int step = 0; step < 200; step++) {
            uint32_t cur = crdt_store_epoch(a);
            int r = (int)ivt_rng_below(&rng, 20);
            if (r == 0 && cur - base < SPAN) {
                ivt_ms wall = (ivt_ms)(cur + 1) * c.epoch_ms;
                crdt_store_tick(a, wall);
                peers_tick(peer, 2, wall);
                continue;
            }
            char key[8];
            unsigned k = (unsigned)ivt_rng_below(&rng, KEYS);
            snprintf(key, sizeof(key), "k%u", k);
            if (r <= 3) { /* a peer's events on the same keys, merged */
                struct crdt_store *p = peer[r & 1];
                struct crdt_update u = {.kind = CRDT_KIND_PUB, .key = key, .key_len = strlen(key)};
                u.add[ivt_rng_below(&rng, 2)] = 1 + (uint32_t)ivt_rng_below(&rng, 3);
                assert_int_equal(crdt_store_update(p, crdt_store_epoch(p), &u, 1), 0);
                merge_store(a, p);
            } else if (r <= 14) {
                struct crdt_update u = {.kind = CRDT_KIND_PUB, .key = key, .key_len = strlen(key)};
                int m = (int)ivt_rng_below(&rng, 2);
                u.add[m] = 1 + (uint32_t)ivt_rng_below(&rng, 3);
                uint32_t e = cur - (uint32_t)ivt_rng_below(&rng, 3);
                if (e < base)
                    e = base;
                assert_int_equal(crdt_store_update(a, e, &u, 1), 0);
                own[e - base][k][m] += u.add[m];
            }
            struct crdt_view v;
            if (crdt_store_get(a, &v, CRDT_KIND_PUB, key, strlen(key)) != 0)
                continue;
            for (int m = 0; m < CRDT_COUNTERS; m++) {
                uint64_t want = 0;
                for (uint32_t e = base; e <= cur; e++)
                    if (e + WIN > cur)
                        want += own[e - base][k][m];
                assert_int_equal(v.local[m], want);
            }
        }
        crdt_store_delete(a);
        peers_delete(peer, 2);
    }
}

/* Cached window values stay right whatever interleaving of updates, merges
 * and reads: every view equals the one a fresh replica of the same state
 * computes from scratch. */
TEST(crdt_store_cached_views_match_fresh)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    for (int t = 0; t < (SLOW ? 6 : 30); t++) {
        struct crdt_config c;
        small_config(&c, 1);
        struct crdt_store *a = mk(&c);
        small_config(&c, 2);
        struct crdt_store *peer = mk(&c);
        uint32_t cur = crdt_store_epoch(a);
        for (int step = 0; step < 40; step++) {
            struct crdt_update u[8];
            char keys[8][16];
            size_t n = 1 + ivt_rng_below(&rng, 8);
            for (size_t i = 0; i < n; i++)
                random_update(a, &u[i], keys[i], sizeof(keys[i]), &rng, 8);
            struct crdt_store *s = ivt_rng_below(&rng, 3) ? a : peer;
            crdt_store_update(s, cur - (uint32_t)ivt_rng_below(&rng, 4), u, n);
            if (ivt_rng_below(&rng, 5) == 0)
                merge_store(a, peer);
            /* Read some entities now, so caches are warm when they change. */
            struct crdt_view va, vf;
            for (int k = 0; k < 3; k++) {
                char key[16];
                size_t len =
                    (size_t)snprintf(key, sizeof(key), "k%u", (unsigned)ivt_rng_below(&rng, 8));
                crdt_store_get(a, &va, (enum crdt_kind)ivt_rng_below(&rng, CRDT_KINDS), key, len);
            }
            if (step % 8 != 7)
                continue;
            small_config(&c, 3);
            struct crdt_store *fresh = mk(&c);
            merge_store(fresh, a);
            uint32_t cursor = 0;
            while (crdt_store_next(a, &cursor, &va)) {
                assert_int_equal(crdt_store_get_hash(fresh, &vf, va.kind, va.hash), 0);
                assert_memory_equal(va.fleet, vf.fleet, sizeof(va.fleet));
                assert_memory_equal(va.distinct, vf.distinct, sizeof(va.distinct));
                assert_true(va.origins == vf.origins);
                assert_int_equal(va.approximate, vf.approximate);
            }
            crdt_store_delete(fresh);
        }
        crdt_store_delete(a);
        crdt_store_delete(peer);
    }
}

/* Register index and value of an item in an HLL of precision p (as
 * crdt/hll.c places it). */
static void hll_place(uint64_t h, unsigned p, unsigned *idx, unsigned *val)
{
    *idx = (unsigned)(h & ((1u << p) - 1));
    *val = (unsigned)__builtin_ctzll((h >> p) | (1ULL << (64 - p))) + 1;
}

/* An exact set that a merge promotes without raising a register has still
 * risen (its form and encoding changed): digests and cached values must
 * follow. Items are chosen so the peer's fifth item lands under one of the
 * first four. */
TEST(crdt_store_merge_promotion_alone_is_a_rise)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    uint64_t items[5];
    unsigned idx[5], val[5];
    for (int i = 0; i < 4; i++) {
        items[i] = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL;
        hll_place(items[i], c.distinct_hll_p, &idx[i], &val[i]);
    }
    for (uint64_t k = 100;; k++) {
        items[4] = k * 0x9e3779b97f4a7c15ULL;
        hll_place(items[4], c.distinct_hll_p, &idx[4], &val[4]);
        if (idx[4] == idx[0] && val[4] <= val[0])
            break;
    }
    struct crdt_store *a = mk(&c);
    small_config(&c, 2);
    struct crdt_store *b = mk(&c);
    struct crdt_update u;
    memset(&u, 0, sizeof(u));
    u.kind = CRDT_KIND_IP;
    u.key = "k";
    u.key_len = 1;
    u.item_mask = 1;
    uint32_t ep = crdt_store_epoch(a);
    for (int i = 0; i < 5; i++) {
        u.item[0] = items[i];
        if (i < 4)
            assert_int_equal(crdt_store_update(a, ep, &u, 1), 0);
        assert_int_equal(crdt_store_update(b, ep, &u, 1), 0);
    }
    /* Warm a's caches on the exact form. */
    struct crdt_view v;
    assert_int_equal(crdt_store_get(a, &v, CRDT_KIND_IP, "k", 1), 0);
    assert_false(v.approximate);
    size_t nd = crdt_store_digest_size(a);
    uint64_t *da = calloc(nd, 8), *df = calloc(nd, 8);
    assert_int_equal(crdt_store_digest(a, da, nd), 0);
    merge_store(a, b);
    assert_same(a, b);
    small_config(&c, 3);
    struct crdt_store *fresh = mk(&c);
    merge_store(fresh, a);
    assert_int_equal(crdt_store_digest(a, da, nd), 0);
    assert_int_equal(crdt_store_digest(fresh, df, nd), 0);
    assert_memory_equal(da, df, nd * 8);
    struct crdt_view vf;
    assert_int_equal(crdt_store_get(a, &v, CRDT_KIND_IP, "k", 1), 0);
    assert_int_equal(crdt_store_get(fresh, &vf, CRDT_KIND_IP, "k", 1), 0);
    assert_true(v.approximate);
    assert_true(v.distinct[0] == vf.distinct[0]);
    free(da);
    free(df);
    crdt_store_delete(a);
    crdt_store_delete(b);
    crdt_store_delete(fresh);
}

/* crdt_store_prefetch is a hint: present, absent and evicted entities
 * alike, reads stay in bounds (ASan) and lookups answer as before. */
TEST(crdt_store_prefetch_is_a_hint)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct crdt_config c;
    small_config(&c, 1);
    c.max_entities = 16;
    struct crdt_store *s = mk(&c);
    random_events(s, &rng, 200, 40);
    enum crdt_kind kinds[64];
    uint64_t hashes[64];
    for (int i = 0; i < 64; i++) {
        char key[16];
        size_t len = (size_t)snprintf(key, sizeof(key), "k%d", i % 40);
        kinds[i] = (enum crdt_kind)(i % CRDT_KINDS);
        hashes[i] = i < 60 ? crdt_store_key_hash(s, kinds[i], key, len) : ivt_rng_next(&rng);
    }
    size_t la, lb;
    uint8_t *before = snap(s, &la);
    crdt_store_prefetch(s, kinds, hashes, 64);
    uint8_t *after = snap(s, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(before, after, la);
    int found = 0;
    for (int i = 0; i < 64; i++) {
        struct crdt_view v;
        int rc = crdt_store_get_hash(s, &v, kinds[i], hashes[i]);
        assert_true(rc == 0 || rc == IVT_ENOENT);
        found += rc == 0;
    }
    assert_true(found > 0 && found < 64);
    free(before);
    free(after);
    crdt_store_delete(s);
}

/* A record whose only part inside the window is a bucket of empty sets
 * carries nothing: merged, it creates no entity. It used to create one
 * holding a bucket that no encoding carries, so a snapshot of the store
 * merged elsewhere did not give the same store back (fuzz_crdt_delta),
 * and hostile records of that shape took entity slots for nothing. */
static uint8_t *find_bytes(uint8_t *p, size_t n, const void *what, size_t k)
{
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(p + i, what, k))
            return p + i;
    return NULL;
}

TEST(crdt_store_merge_empty_bucket_creates_nothing)
{
    (void)state;
    struct crdt_config c;
    small_config(&c, 1);
    struct crdt_store *a = mk(&c);
    struct crdt_update u = {.kind = CRDT_KIND_IP, .key = "1.2.3.4", .key_len = 7};
    u.item_mask = 1;
    u.item[0] = 42;
    assert_int_equal(crdt_store_update(a, crdt_store_epoch(a), &u, 1), 0);
    size_t len;
    uint8_t *m = snap(a, &len);
    /* The record's one set, [42], emptied: [] in place of 0x91 0x2a. */
    uint8_t *key = find_bytes(m, len, "1.2.3.4", 7);
    assert_non_null(key);
    uint8_t *set = find_bytes(key, len - (size_t)(key - m), "\x91\x2a", 2);
    assert_non_null(set);
    set[0] = 0x90;
    memmove(set + 1, set + 2, len - (size_t)(set + 2 - m));
    len--;
    small_config(&c, 2);
    struct crdt_store *t = mk(&c);
    struct crdt_merge_stats st;
    assert_int_equal(crdt_store_merge(t, m, len, &st), 0);
    assert_int_equal(st.entities, 1);
    assert_int_equal(st.created, 0);
    struct crdt_view v;
    assert_int_equal(crdt_store_get(t, &v, CRDT_KIND_IP, "1.2.3.4", 7), IVT_ENOENT);
    struct crdt_store_stats ss;
    crdt_store_stats(t, &ss);
    assert_int_equal(ss.entities, 0);
    free(m);
    crdt_store_delete(t);
    crdt_store_delete(a);
}
