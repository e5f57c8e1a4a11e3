/*
 * Tests of admission in crdt/store.c: a store shares (flushes, digests,
 * repairs) only admitted records, a record a peer sends is admitted where it
 * arrives, and replicas of equal shared evidence have equal digests whatever
 * local-only records each keeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "crdt/hh.h"
#include "crdt/store.h"
#include "tests/test.h"

enum { EPOCH0 = 29000000 };
static const ivt_ms WALL0 = (ivt_ms)EPOCH0 * 60000;

/* Only prefixes admitted on creation, as the node configures it. */
static struct crdt_store *mk(int node)
{
    struct crdt_config c;
    crdt_config_defaults(&c);
    c.origin.id[0] = (uint8_t)node;
    c.origin.gen = 1;
    memset(c.hash_key, 7, 16);
    c.max_entities = 1024;
    c.digest_bits = 4;
    c.admit_kinds = 1u << CRDT_KIND_PREFIX;
    struct crdt_store *s;
    assert_int_equal(crdt_store_new(&s, &c, WALL0), 0);
    return s;
}

static uint64_t see(struct crdt_store *s, enum crdt_kind kind, const char *key, uint32_t n)
{
    struct crdt_update u;
    memset(&u, 0, sizeof(u));
    u.kind = kind;
    u.key = key;
    u.key_len = strlen(key);
    u.add[0] = n;
    u.item[0] = 42 + n;
    u.item_mask = 1;
    assert_int_equal(crdt_store_update(s, EPOCH0, &u, 1), 0);
    return crdt_store_key_hash(s, kind, key, u.key_len);
}

/* Every pending delta of src, merged into dst. Returns the records sent. */
static size_t ship(struct crdt_store *src, struct crdt_store *dst)
{
    size_t total = 0;
    while (crdt_store_pending(src)) {
        struct ivt_mpw w;
        ivt_mpw_init_dyn(&w, 1 << 20);
        size_t n = 0;
        assert_int_equal(crdt_store_flush(src, &w, 1 << 20, &n), 0);
        assert_true(n > 0);
        assert_int_equal(crdt_store_merge(dst, w.data, w.len, NULL), 0);
        ivt_mpw_destroy(&w);
        total += n;
    }
    return total;
}

/* The exact digest; and then, with nothing stale left, a bounded digest
 * that refreshes nothing must equal it (records admitted while stale are
 * counted in, and out, of their bucket's stale marks). */
static void digest(struct crdt_store *s, uint64_t *out)
{
    size_t nb = crdt_store_digest_size(s);
    assert_int_equal(crdt_store_digest(s, out, nb), 0);
    uint64_t *again = malloc(nb * sizeof(uint64_t));
    assert_non_null(again);
    assert_int_equal(crdt_store_digest_max(s, again, nb, 0), 0);
    assert_memory_equal(out, again, nb * sizeof(uint64_t));
    free(again);
}

/* A full repair of what a differs in from b, merged into b. Returns the
 * records it carried. */
static size_t repair(struct crdt_store *a, struct crdt_store *b)
{
    size_t nb = crdt_store_digest_size(a), sent = 0, resume = 0;
    uint64_t *theirs = calloc(nb, sizeof(*theirs));
    assert_non_null(theirs);
    digest(b, theirs);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 24);
    assert_int_equal(crdt_store_repair(a, &w, theirs, nb, &resume, 1 << 24, SIZE_MAX, &sent), 0);
    if (sent)
        assert_int_equal(crdt_store_merge(b, w.data, w.len, NULL), 0);
    ivt_mpw_destroy(&w);
    free(theirs);
    return sent;
}

TEST(crdt_store_admission_shares_admitted_only)
{
    (void)state;
    struct crdt_store *a = mk(1), *b = mk(2), *c = mk(3);
    uint64_t px = see(a, CRDT_KIND_PREFIX, "192.0.2.0/24", 1);
    uint64_t ip1 = see(a, CRDT_KIND_IP, "192.0.2.1", 1); /* stays local */
    uint64_t ip2 = see(a, CRDT_KIND_IP, "192.0.2.2", 3);
    assert_int_equal(crdt_store_admitted(a, CRDT_KIND_PREFIX, px), 1);
    assert_int_equal(crdt_store_admitted(a, CRDT_KIND_IP, ip1), 0);
    assert_int_equal(crdt_store_admitted(a, CRDT_KIND_IP, 12345), IVT_ENOENT);
    assert_int_equal(crdt_store_admit(a, CRDT_KIND_IP, 12345), IVT_ENOENT);
    assert_int_equal(crdt_store_pending(a), 1); /* the prefix only */

    /* b saw ip2 too, before anyone admitted it: its slot stays here */
    see(b, CRDT_KIND_IP, "192.0.2.2", 2);
    assert_int_equal(crdt_store_pending(b), 0);

    assert_int_equal(crdt_store_admit(a, CRDT_KIND_IP, ip2), 0);
    assert_int_equal(crdt_store_admit(a, CRDT_KIND_IP, ip2), 0); /* idempotent */
    assert_int_equal(ship(a, b), 2);                             /* prefix and ip2, not ip1 */
    struct crdt_view v;
    assert_int_equal(crdt_store_get_hash(b, &v, CRDT_KIND_IP, ip2), 0);
    assert_true(v.admitted);
    assert_int_equal(v.fleet[0], 5);
    assert_int_equal(crdt_store_get_hash(b, &v, CRDT_KIND_IP, ip1), IVT_ENOENT);

    /* arriving admitted it at b, so b's own earlier slot goes back to a
     * (with the prefix, which b forwards as any merge that rose) */
    assert_int_equal(ship(b, a), 2);
    assert_int_equal(crdt_store_get_hash(a, &v, CRDT_KIND_IP, ip2), 0);
    assert_int_equal(v.fleet[0], 5);
    assert_int_equal(v.local[0], 3);
    assert_int_equal(v.origins, 2);

    /* equal shared evidence, equal digests: a's local ip1 does not count */
    size_t nb = crdt_store_digest_size(a);
    uint64_t da[16], db[16];
    assert_int_equal(nb, 16);
    digest(a, da);
    digest(b, db);
    assert_memory_equal(da, db, sizeof(da));
    struct crdt_store_stats sa, sb;
    crdt_store_stats(a, &sa);
    crdt_store_stats(b, &sb);
    assert_int_equal(sa.entities, 3);
    assert_int_equal(sa.admitted, 2);
    assert_int_equal(sb.entities, 2);
    assert_int_equal(sb.admitted, 2);

    /* a repair carries admitted records only, and admits them at c */
    assert_int_equal(repair(a, c), 2);
    assert_int_equal(crdt_store_get_hash(c, &v, CRDT_KIND_IP, ip2), 0);
    assert_true(v.admitted);
    assert_int_equal(crdt_store_get_hash(c, &v, CRDT_KIND_IP, ip1), IVT_ENOENT);
    uint64_t dc[16];
    digest(c, dc);
    assert_memory_equal(da, dc, sizeof(da));
    assert_int_equal(repair(a, c), 0); /* nothing left to send */

    /* a snapshot restores evidence, not admission */
    struct crdt_store *d = mk(4);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 20);
    assert_int_equal(crdt_store_encode(a, &w), 0);
    assert_int_equal(crdt_store_merge(d, w.data, w.len, NULL), 0);
    ivt_mpw_destroy(&w);
    assert_int_equal(crdt_store_admitted(d, CRDT_KIND_IP, ip1), 0);
    assert_int_equal(crdt_store_admitted(d, CRDT_KIND_IP, ip2), 0);
    assert_int_equal(crdt_store_admitted(d, CRDT_KIND_PREFIX, px), 1);
    crdt_store_stats(d, &sb);
    assert_int_equal(sb.entities, 3);
    assert_int_equal(sb.admitted, 1);

    crdt_store_delete(a);
    crdt_store_delete(b);
    crdt_store_delete(c);
    crdt_store_delete(d);
}

TEST(crdt_store_admit_kinds_checked)
{
    (void)state;
    struct crdt_config c;
    crdt_config_defaults(&c);
    assert_int_equal(c.admit_kinds, (1u << CRDT_KINDS) - 1); /* everything shared */
    c.admit_kinds = 1u << CRDT_KINDS;
    struct crdt_store *s = NULL;
    assert_int_equal(crdt_store_new(&s, &c, WALL0), IVT_EINVAL);
    assert_null(s);
}

TEST(crdt_hh_local_heavy_is_sure)
{
    (void)state;
    struct crdt_origin o = {{1}, 1};
    struct crdt_hh *h;
    assert_int_equal(crdt_hh_new(&h, &o, 4, 1), 0);
    for (int i = 0; i < 5; i++)
        crdt_hh_observe(h, 100, 1);
    crdt_hh_observe(h, 200, 2);
    assert_int_equal(crdt_hh_local_heavy(h, 100, 3), 5);
    assert_int_equal(crdt_hh_local_heavy(h, 200, 3), 0); /* under the floor */
    assert_int_equal(crdt_hh_local_heavy(h, 300, 0), 0); /* not monitored */
    /* Fill the summary with one-offs: each replacement inherits the
     * minimum as error, so none of them is surely heavy; 100 still is. */
    for (uint64_t i = 1000; i < 1006; i++)
        crdt_hh_observe(h, i, 1);
    assert_int_equal(crdt_hh_local_heavy(h, 100, 1), 5);
    assert_int_equal(crdt_hh_local_heavy(h, 1005, 1), 0);
    assert_int_equal(crdt_hh_local_heavy(h, 200, 1), 0); /* replaced */
    crdt_hh_clear_local(h);
    assert_int_equal(crdt_hh_local_heavy(h, 100, 1), 0);
    crdt_hh_delete(h);
}
