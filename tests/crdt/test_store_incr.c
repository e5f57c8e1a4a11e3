/*
 * Tests of the store's incrementally kept structures: after any sequence of
 * updates, merges (with promotions), evictions and epoch rolls, every
 * running total and per-bucket digest equals the value recomputed by a walk
 * over the records, and the expiry calendar leaves nothing older than the
 * window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "crdt/internal.h"
#include "crdt/store.h"
#include "tests/test.h"

enum { INCR_WALL0_EPOCH = 29000000 }; /* an epoch of 2025 at 60 s */

static void incr_config(struct crdt_config *c, int node)
{
    crdt_config_defaults(c);
    c->origin.id[0] = (uint8_t)node;
    c->origin.gen = 1;
    memset(c->hash_key, 7, 16);
    c->epoch_ms = 60000;
    c->window_epochs = 6;
    c->distinct_bucket_epochs = 2;
    c->max_entities = 48; /* small: evictions happen */
    c->counter_slots_max = 2;
    c->distinct_exact_max = 3;
    c->counter_hll_p = 5;
    c->distinct_hll_p = 5;
    c->digest_bits = 3;
}

static void incr_events(struct crdt_store *s, struct ivt_rng *rng, int n)
{
    uint32_t cur = crdt_store_epoch(s);
    for (int i = 0; i < n; i++) {
        char key[32];
        struct crdt_update u;
        memset(&u, 0, sizeof(u));
        u.kind = (enum crdt_kind)ivt_rng_below(rng, CRDT_KINDS);
        u.key_len = (size_t)snprintf(key, sizeof(key), "k%u", (unsigned)ivt_rng_below(rng, 30));
        u.key = key;
        u.add[ivt_rng_below(rng, CRDT_COUNTERS)] = 1 + (uint32_t)ivt_rng_below(rng, 5);
        if (ivt_rng_below(rng, 2)) {
            u.item_mask = (uint8_t)(1u << ivt_rng_below(rng, CRDT_DISTINCTS));
            for (int d = 0; d < CRDT_DISTINCTS; d++)
                u.item[d] = ivt_rng_below(rng, 40) * 0x9e3779b97f4a7c15ULL;
        }
        uint32_t back = (uint32_t)ivt_rng_below(rng, 4);
        assert_int_equal(crdt_store_update(s, cur > back ? cur - back : cur, &u, 1), 0);
    }
}

static void incr_check_stats(const struct crdt_store *s)
{
    struct crdt_store_stats run, walk;
    crdt_store_stats(s, &run);
    crdt__store_recount(s, &walk);
    assert_int_equal(run.entities, walk.entities);
    assert_int_equal(run.bytes, walk.bytes);
    assert_int_equal(run.promoted_counters, walk.promoted_counters);
    assert_int_equal(run.promoted_sets, walk.promoted_sets);
    /* The expiry calendar: nothing older than the window is held, and
     * every record is filed where the next epoch roll will look. */
    assert_int_equal(crdt__store_check_expiry(s), 0);
    assert_int_equal(crdt__store_check_hist(s), 0);
}

/* One random step on s[i]: own events, a merge of a peer's snapshot or
 * delta, or an epoch roll. */
static void incr_step(struct crdt_store **s, int ns, int i, struct ivt_rng *rng, ivt_ms *wall)
{
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 24);
    switch (ivt_rng_below(rng, 5)) {
    case 0:
    case 1: incr_events(s[i], rng, 1 + (int)ivt_rng_below(rng, 20)); break;
    case 2: {
        int j = (int)ivt_rng_below(rng, (uint64_t)ns);
        assert_int_equal(crdt_store_encode(s[j], &w), 0);
        assert_int_equal(crdt_store_merge(s[i], w.data, w.len, NULL), 0);
        break;
    }
    case 3: {
        int j = (int)ivt_rng_below(rng, (uint64_t)ns);
        size_t n;
        if (crdt_store_pending(s[j]) &&
            crdt_store_flush(s[j], &w, 1 + (size_t)ivt_rng_below(rng, 4096), &n) == 0 && n)
            assert_int_equal(crdt_store_merge(s[i], w.data, w.len, NULL), 0);
        break;
    }
    default:
        if (ivt_rng_below(rng, 3) == 0) {
            /* Now and then a roll past the whole window (a stopped node). */
            uint64_t epochs = ivt_rng_below(rng, 25) ? 1 + ivt_rng_below(rng, 3) : 11;
            *wall += 60000 * (ivt_ms)epochs;
            for (int k = 0; k < ns; k++)
                crdt_store_tick(s[k], *wall);
        }
        break;
    }
    ivt_mpw_destroy(&w);
}

enum { NS = 4 }; /* replicas of a run */

/* Opens NS replicas at the start epoch. Returns its wall time. */
static ivt_ms incr_open(struct crdt_store **s)
{
    ivt_ms wall = (ivt_ms)INCR_WALL0_EPOCH * 60000;
    for (int i = 0; i < NS; i++) {
        struct crdt_config c;
        incr_config(&c, i + 1);
        assert_int_equal(crdt_store_new(&s[i], &c, wall), 0);
    }
    return wall;
}

TEST(crdt_store_stats_running_equals_recount)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct crdt_store *s[NS];
    ivt_ms wall = incr_open(s);
    for (int i = 0; i < NS; i++)
        incr_check_stats(s[i]);
    uint64_t evictions = 0, expired = 0, promoted = 0;
    for (int step = 0; step < 600; step++) {
        int i = (int)ivt_rng_below(&rng, NS);
        incr_step(s, NS, i, &rng, &wall);
        for (int k = 0; k < NS; k++) /* a step may roll every replica's epoch */
            incr_check_stats(s[k]);
        struct crdt_store_stats st;
        crdt_store_stats(s[i], &st);
        promoted += st.promoted_counters + st.promoted_sets;
    }
    for (int i = 0; i < NS; i++) {
        struct crdt_store_stats st;
        incr_check_stats(s[i]);
        crdt_store_stats(s[i], &st);
        evictions += st.evictions;
        expired += st.expired;
        crdt_store_delete(s[i]);
    }
    /* The run went through every kind of change the totals must follow. */
    assert_true(evictions > 0);
    assert_true(expired > 0);
    assert_true(promoted > 0);
}

/* The kept digests equal a fresh encoding of every record, and a repair
 * asked for every bucket sends every record exactly once. */
static void incr_check_digest(struct crdt_store *s)
{
    size_t nd = crdt_store_digest_size(s);
    uint64_t kept[8], fresh[8], peer[8];
    assert_int_equal(nd, 8);
    assert_int_equal(crdt_store_digest(s, kept, nd), 0);
    assert_int_equal(crdt__store_digest_recount(s, fresh, nd), 0);
    assert_memory_equal(kept, fresh, sizeof(kept));
    for (size_t b = 0; b < nd; b++)
        peer[b] = ~kept[b];
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 24);
    size_t resume = 0, n = 0;
    assert_int_equal(crdt_store_repair(s, &w, peer, nd, &resume, 1 << 24, SIZE_MAX, &n), 0);
    assert_int_equal(resume, nd);
    struct crdt_store_stats st;
    crdt_store_stats(s, &st);
    assert_int_equal(n, st.entities);
    ivt_mpw_destroy(&w);
}

TEST(crdt_store_digest_kept_equals_recomputed)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct crdt_store *s[NS];
    ivt_ms wall = incr_open(s);
    for (int i = 0; i < NS; i++)
        incr_check_digest(s[i]);
    for (int step = 0; step < 600; step++) {
        int i = (int)ivt_rng_below(&rng, NS);
        incr_step(s, NS, i, &rng, &wall);
        /* Digests are read at random moments, so records go stale, are
         * re-encoded, go stale again, or are evicted while stale. */
        if (ivt_rng_below(&rng, 3) == 0)
            incr_check_digest(s[i]);
        else if (ivt_rng_below(&rng, 2) == 0)
            crdt_store_digest_step(s[i], (size_t)ivt_rng_below(&rng, 8));
    }
    for (int i = 0; i < NS; i++) {
        incr_check_digest(s[i]);
        crdt_store_delete(s[i]);
    }
}

/* Few keys, many items: every distinct set promotes and most go dense,
 * whose register sums are kept as registers rise (own adds) or summed again
 * after a merge raised them. The kept digests equal a recount at random
 * moments, and replicas that exchanged everything digest alike. */
TEST(crdt_store_digest_dense_sets_kept_equals_recomputed)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct crdt_store *s[NS];
    ivt_ms wall = (ivt_ms)INCR_WALL0_EPOCH * 60000;
    for (int i = 0; i < NS; i++) {
        struct crdt_config c;
        incr_config(&c, i + 1);
        c.max_entities = 64; /* no eviction: the sets grow */
        assert_int_equal(crdt_store_new(&s[i], &c, wall), 0);
    }
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 24);
    for (int step = 0; step < 400; step++) {
        int i = (int)ivt_rng_below(&rng, NS), j = (int)ivt_rng_below(&rng, NS);
        uint32_t cur = crdt_store_epoch(s[i]);
        size_t n;
        ivt_mpw_reset(&w);
        switch (ivt_rng_below(&rng, 4)) {
        case 0:
        case 1:
            for (int e = 0; e < 10; e++) {
                char key[8];
                struct crdt_update u;
                memset(&u, 0, sizeof(u));
                u.kind = CRDT_KIND_PUB;
                u.key_len =
                    (size_t)snprintf(key, sizeof(key), "p%u", (unsigned)ivt_rng_below(&rng, 4));
                u.key = key;
                u.add[0] = 1;
                u.item_mask = (1u << CRDT_DISTINCTS) - 1;
                for (int d = 0; d < CRDT_DISTINCTS; d++)
                    u.item[d] = ivt_rng_next(&rng);
                assert_int_equal(
                    crdt_store_update(s[i], cur - (uint32_t)ivt_rng_below(&rng, 4), &u, 1), 0);
            }
            break;
        case 2:
            if (crdt_store_pending(s[j]) && crdt_store_flush(s[j], &w, 1 << 20, &n) == 0 && n)
                assert_int_equal(crdt_store_merge(s[i], w.data, w.len, NULL), 0);
            break;
        default:
            assert_int_equal(crdt_store_encode(s[j], &w), 0);
            assert_int_equal(crdt_store_merge(s[i], w.data, w.len, NULL), 0);
            break;
        }
        if (ivt_rng_below(&rng, 3) == 0)
            incr_check_digest(s[i]);
    }
    struct crdt_store_stats st;
    crdt_store_stats(s[0], &st);
    assert_true(st.promoted_sets > 0);
    /* Everyone takes everyone's state: equal stores, equal digests. */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < NS; i++)
            for (int j = 0; j < NS; j++) {
                ivt_mpw_reset(&w);
                assert_int_equal(crdt_store_encode(s[j], &w), 0);
                assert_int_equal(crdt_store_merge(s[i], w.data, w.len, NULL), 0);
            }
    uint64_t d0[8], di[8];
    assert_int_equal(crdt_store_digest(s[0], d0, 8), 0);
    for (int i = 0; i < NS; i++) {
        incr_check_digest(s[i]);
        assert_int_equal(crdt_store_digest(s[i], di, 8), 0);
        assert_memory_equal(d0, di, sizeof(d0));
        crdt_store_delete(s[i]);
    }
    ivt_mpw_destroy(&w);
}

/* Canonical bytes of a store (caller frees). */
static uint8_t *incr_snap(struct crdt_store *s, size_t *len)
{
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 24);
    assert_int_equal(crdt_store_encode(s, &w), 0);
    *len = w.len;
    return w.data;
}

/* An epoch roll done in steps of a few records, with or without events
 * arriving between steps, ends in the state of the one-call roll followed
 * by the same events: over rolls that visit the expiry lists (one epoch) and
 * rolls that walk the slab (most entities lose evidence). */
TEST(crdt_store_tick_steps_equal_one_call)
{
    (void)state;
    uint64_t seed = ivt_test_seed();
    struct ivt_rng ra, rb, rng;
    ivt_rng_seed(&ra, seed);
    ivt_rng_seed(&rb, seed);
    ivt_rng_seed(&rng, seed + 1);
    struct crdt_config c;
    incr_config(&c, 1);
    c.max_entities = 4096; /* no eviction: it ranks unvisited records as they were */
    ivt_ms wall = (ivt_ms)INCR_WALL0_EPOCH * 60000;
    struct crdt_store *a, *b;
    assert_int_equal(crdt_store_new(&a, &c, wall), 0);
    assert_int_equal(crdt_store_new(&b, &c, wall), 0);
    size_t removed = 0, steps_walk = 0, steps_lists = 0;
    for (int round = 0; round < 60; round++) {
        /* Half the rounds with events between steps: an entity the roll
         * would remove may then be kept (it has new evidence when it is
         * visited), so removal counts only match without them. */
        bool between = round % 2;
        size_t removed_a = 0, removed_b = 0;
        int n = 1 + (int)ivt_rng_below(&rng, 120);
        incr_events(a, &ra, n);
        incr_events(b, &rb, n);
        uint64_t epochs = ivt_rng_below(&rng, 4) ? 1 : 5 + ivt_rng_below(&rng, 4);
        wall += 60000 * (ivt_ms)epochs;
        removed_a += crdt_store_tick(a, wall);
        bool pending = crdt_store_tick_begin(b, wall, &removed_b);
        assert_true(pending == crdt_store_tick_pending(b));
        size_t steps = 0;
        while (crdt_store_tick_step(b, 1 + (size_t)ivt_rng_below(&rng, 4), &removed_b)) {
            steps++;
            /* An event between steps; a the same event after its roll. */
            int k = between ? (int)ivt_rng_below(&rng, 3) : 0;
            incr_events(a, &ra, k);
            incr_events(b, &rb, k);
        }
        assert_false(crdt_store_tick_pending(b));
        if (epochs > 1)
            steps_walk += steps;
        else
            steps_lists += steps;
        if (!between)
            assert_int_equal(removed_a, removed_b);
        removed += removed_a;
        size_t la, lb;
        uint8_t *x = incr_snap(a, &la), *y = incr_snap(b, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(x, y, la);
        free(x);
        free(y);
        incr_check_stats(b);
    }
    /* Both kinds of roll ran in several steps. */
    assert_true(steps_walk > 10 && steps_lists > 10);
    assert_true(removed > 0);
    crdt_store_delete(a);
    crdt_store_delete(b);
}
