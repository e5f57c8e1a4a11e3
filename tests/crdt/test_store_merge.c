/*
 * Tests of how crdt_store_merge reads a message of many records: it checks
 * records in groups ahead of their joins (crdt/store.c, "merged in groups"),
 * and must still join exactly the records before a malformed one, whichever
 * group it falls in, and none after it; crdt_store_merge_seen names every
 * record of a merged message, in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "crdt/store.h"
#include "tests/test.h"

enum {
    EPOCH0 = 29000000,
    NREC = 70, /* records in the message: several merge groups */
};
static const ivt_ms WALL0 = (ivt_ms)EPOCH0 * 60000;

static struct crdt_store *mk(int node)
{
    struct crdt_config c;
    crdt_config_defaults(&c);
    c.origin.id[0] = (uint8_t)node;
    c.origin.gen = 1;
    memset(c.hash_key, 7, 16);
    c.max_entities = 1024;
    c.digest_bits = 4;
    struct crdt_store *s;
    assert_int_equal(crdt_store_new(&s, &c, WALL0), 0);
    return s;
}

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
    uint64_t kind[NREC], h[NREC];
};

static void log_seen(void *ctx, enum crdt_kind kind, uint64_t hash)
{
    struct seen_log *l = ctx;
    assert_true(l->n < NREC);
    l->kind[l->n] = (uint64_t)kind;
    l->h[l->n++] = hash;
}

TEST(crdt_store_merge_stops_at_the_bad_record)
{
    (void)state;
    struct crdt_store *a = mk(1);
    for (int i = 0; i < NREC; i++) {
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
    struct rec_at at[NREC];
    records(w.data, w.len, at, NREC);
    /* The first record, one inside the first group, one at a group's
     * start, one in a later group and the last. */
    const uint32_t bad[] = {0, 5, 16, 37, NREC - 1};
    for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
        uint8_t *m = malloc(w.len);
        assert_non_null(m);
        memcpy(m, w.data, w.len);
        assert_int_equal(m[at[bad[b]].off], 0x96); /* fixarray of the record's 6 fields */
        m[at[bad[b]].off] = 0x95;
        struct crdt_store *t = mk(2);
        struct crdt_merge_stats st;
        assert_int_equal(crdt_store_merge(t, m, w.len, &st), IVT_EPROTO);
        assert_int_equal(st.entities, bad[b]);
        for (uint32_t i = 0; i < NREC; i++) {
            struct crdt_view v;
            int rc = crdt_store_get(t, &v, (enum crdt_kind)at[i].kind, at[i].key, at[i].key_len);
            assert_int_equal(rc, i < bad[b] ? 0 : IVT_ENOENT);
        }
        crdt_store_delete(t);
        free(m);
    }
    /* Unbroken, every record joins, and is seen in message order. */
    struct crdt_store *t = mk(2);
    struct crdt_merge_stats st;
    struct seen_log log = {0};
    assert_int_equal(crdt_store_merge_seen(t, w.data, w.len, &st, log_seen, &log), 0);
    assert_int_equal(st.entities, NREC);
    assert_int_equal(st.created, NREC);
    assert_int_equal(log.n, NREC);
    for (uint32_t i = 0; i < NREC; i++) {
        assert_int_equal(log.kind[i], at[i].kind);
        assert_int_equal(log.h[i], at[i].h);
    }
    crdt_store_delete(t);
    ivt_mpw_destroy(&w);
    crdt_store_delete(a);
}
