/*
 * Tests of the repair encoder in crdt/store.c: a repair sends the differing
 * buckets' records in canonical order (hash, then kind), the same bytes a
 * snapshot writes for them, and a repair cut by its budget resumes exactly
 * where it stopped, whichever of the buckets walked together the cut falls
 * in. Hashes are chosen (crdt_update.hash) so that records crowd one bin of
 * the canonical sort's radix pass and share a hash across kinds.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "crdt/store.h"
#include "tests/test.h"

enum { EPOCH0 = 29000000, RECORDS = 3000 };
static const ivt_ms WALL0 = (ivt_ms)EPOCH0 * 60000;

static void add(struct crdt_store *s, enum crdt_kind kind, uint64_t h, uint32_t n, int d,
                uint64_t item)
{
    char key[32];
    struct crdt_update u;
    memset(&u, 0, sizeof(u));
    u.kind = kind;
    u.hash = h;
    u.key_len = (size_t)snprintf(key, sizeof(key), "key-%llx", (unsigned long long)h);
    u.key = key;
    u.add[0] = n;
    if (d >= 0) {
        u.item_mask = 1u << d;
        u.item[d] = item;
    }
    assert_int_equal(crdt_store_update(s, EPOCH0, &u, 1), 0);
}

/* RECORDS admitted records in 2^4 digest buckets: a quarter with uniform
 * hashes, a quarter crowded into a few radix bins (four hash prefixes,
 * differing in the low 20 bits), each followed by one sharing its hash
 * under another kind. Some sets hold items: one, a few, past distinct_exact_max
 * (sparse), past the sparse bound (dense). */
static struct crdt_store *mk(struct ivt_rng *rng)
{
    struct crdt_config c;
    crdt_config_defaults(&c);
    c.origin.id[0] = 3;
    c.origin.gen = 1;
    memset(c.hash_key, 5, 16);
    c.max_entities = 2 * RECORDS;
    c.digest_bits = 4;
    struct crdt_store *s;
    assert_int_equal(crdt_store_new(&s, &c, WALL0), 0);
    uint64_t crowd[4], h = 0;
    for (int i = 0; i < 4; i++)
        crowd[i] = ivt_rng_next(rng) & ~(uint64_t)0xfffff;
    enum crdt_kind kind = CRDT_KIND_IP;
    for (int i = 0; i < RECORDS; i++) {
        switch (i % 4) {
        case 0:
            h = ivt_rng_next(rng);
            kind = (enum crdt_kind)ivt_rng_below(rng, CRDT_KINDS);
            break;
        case 2:
            h = crowd[ivt_rng_below(rng, 4)] | ivt_rng_below(rng, 1u << 20);
            kind = (enum crdt_kind)ivt_rng_below(rng, CRDT_KINDS);
            break;
        default: /* the hash of the record before, another kind */
            kind = (enum crdt_kind)((kind + 1 + ivt_rng_below(rng, CRDT_KINDS - 1)) % CRDT_KINDS);
            break;
        }
        int items = i % 97 == 0 ? 3000 : i % 31 == 0 ? 200 : (int)ivt_rng_below(rng, 4);
        add(s, kind, h, 1 + (uint32_t)ivt_rng_below(rng, 300), -1, 0);
        for (int k = 0; k < items; k++)
            add(s, kind, h, 1, k % CRDT_DISTINCTS, ivt_rng_next(rng));
        assert_int_equal(crdt_store_admit(s, kind, h), 0);
    }
    return s;
}

/* The records of a message ([version, type, params, origins, records]):
 * where they start, after the header, and how many. Checks that the
 * message has exactly this one store's origin. */
static const uint8_t *records(const uint8_t *data, size_t len, uint32_t *n)
{
    const uint8_t *pos = data, *end = data + len;
    uint32_t top, norigins;
    uint64_t v;
    assert_int_equal(ivt_mp_read_array(&pos, end, &top), 0);
    assert_int_equal(top, 5);
    assert_int_equal(ivt_mp_read_uint(&pos, end, &v), 0);
    assert_int_equal(ivt_mp_read_uint(&pos, end, &v), 0);
    assert_int_equal(ivt_mp_skip(&pos, end), 0);
    assert_int_equal(ivt_mp_read_array(&pos, end, &norigins), 0);
    assert_int_equal(norigins, 1); /* record bytes then compare across messages */
    assert_int_equal(ivt_mp_skip(&pos, end), 0);
    assert_int_equal(ivt_mp_read_array(&pos, end, n), 0);
    return pos;
}

/* A repair of s against a peer that differs in bucket only (every bucket
 * when only is nb). */
static void repair_some(struct crdt_store *s, struct ivt_mpw *w, size_t budget, size_t *resume,
                        size_t *sent, size_t only)
{
    size_t nb = crdt_store_digest_size(s);
    uint64_t *peer = malloc(nb * sizeof(*peer));
    assert_non_null(peer);
    assert_int_equal(crdt_store_digest(s, peer, nb), 0);
    for (size_t b = 0; b < nb; b++)
        peer[b] ^= only == nb || b == only;
    ivt_mpw_reset(w);
    assert_int_equal(crdt_store_repair(s, w, peer, nb, resume, budget, SIZE_MAX, sent), 0);
    free(peer);
}

static void repair_all(struct crdt_store *s, struct ivt_mpw *w, size_t budget, size_t *resume,
                       size_t *sent)
{
    repair_some(s, w, budget, resume, sent, crdt_store_digest_size(s));
}

TEST(crdt_store_repair_is_snapshot_order)
{
    (void)state;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    struct crdt_store *s = mk(&rng);
    struct ivt_mpw snap, rep;
    ivt_mpw_init_dyn(&snap, 1 << 26);
    ivt_mpw_init_dyn(&rep, 1 << 26);
    assert_int_equal(crdt_store_encode(s, &snap), 0);
    size_t resume = 0, sent = 0;
    repair_all(s, &rep, 1 << 26, &resume, &sent);
    assert_int_equal(resume, crdt_store_digest_size(s));
    uint32_t ns, nr;
    const uint8_t *a = records(snap.data, snap.len, &ns), *b = records(rep.data, rep.len, &nr);
    /* Crowded hashes may repeat under a kind: a few records fewer. */
    assert_true(ns > RECORDS - RECORDS / 100);
    assert_int_equal(nr, ns);
    assert_int_equal(sent, ns);
    size_t la = (size_t)(snap.data + snap.len - a), lb = (size_t)(rep.data + rep.len - b);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    /* Canonical order: hash, then kind; ties and crowded bins included. */
    const uint8_t *pos = a, *end = snap.data + snap.len;
    uint64_t ph = 0, pk = 0;
    int ties = 0;
    for (uint32_t i = 0; i < ns; i++) {
        const uint8_t *q = pos;
        uint32_t fields;
        uint64_t kind, h;
        assert_int_equal(ivt_mp_read_array(&q, end, &fields), 0);
        assert_int_equal(ivt_mp_read_uint(&q, end, &kind), 0);
        assert_int_equal(ivt_mp_read_uint(&q, end, &h), 0);
        if (i > 0) {
            assert_true(h > ph || (h == ph && kind > pk));
            ties += h == ph;
        }
        ph = h;
        pk = kind;
        assert_int_equal(ivt_mp_skip(&pos, end), 0);
    }
    assert_true(ties >= RECORDS / 4);
    ivt_mpw_destroy(&snap);
    ivt_mpw_destroy(&rep);
    crdt_store_delete(s);
}

/* A store, its snapshot's records, and the records of a run of repair
 * messages appended as they come: the two must end equal. */
struct resume_rig {
    struct crdt_store *s;
    struct ivt_mpw snap, w, cat;
    const uint8_t *a; /* the snapshot's records */
    uint32_t ns;      /* ... how many */
    size_t total;     /* records appended */
};

static void resume_init(struct resume_rig *r)
{
    struct ivt_rng rng;
    ivt_rng_seed(&rng, ivt_test_seed());
    r->s = mk(&rng);
    ivt_mpw_init_dyn(&r->snap, 1 << 26);
    ivt_mpw_init_dyn(&r->w, 1 << 26);
    ivt_mpw_init_dyn(&r->cat, 1 << 26);
    assert_int_equal(crdt_store_encode(r->s, &r->snap), 0);
    r->a = records(r->snap.data, r->snap.len, &r->ns);
    r->total = 0;
}

/* Appends the records of the message in r->w (sent of them). */
static void resume_append(struct resume_rig *r, size_t sent)
{
    uint32_t n;
    const uint8_t *rec = records(r->w.data, r->w.len, &n);
    assert_int_equal(n, sent);
    ivt_mpw_raw(&r->cat, rec, (size_t)(r->w.data + r->w.len - rec));
    r->total += sent;
}

/* The messages held the store's records, each once, in snapshot order. */
static void resume_check_and_free(struct resume_rig *r)
{
    assert_int_equal(r->total, r->ns);
    assert_int_equal(r->cat.len, (size_t)(r->snap.data + r->snap.len - r->a));
    assert_memory_equal(r->cat.data, r->a, r->cat.len);
    ivt_mpw_destroy(&r->snap);
    ivt_mpw_destroy(&r->w);
    ivt_mpw_destroy(&r->cat);
    crdt_store_delete(r->s);
}

TEST(crdt_store_repair_budget_resumes_exactly)
{
    (void)state;
    struct resume_rig r;
    resume_init(&r);
    /* Room for the largest bucket's records (so no bucket is cut inside),
     * less than the store's: messages end inside groups of buckets. */
    size_t nb = crdt_store_digest_size(r.s), resume = 0, messages = 0, budget = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t sent = 0;
        resume = 0;
        repair_some(r.s, &r.w, 1 << 26, &resume, &sent, b);
        budget = r.w.len > budget ? r.w.len : budget;
    }
    budget += budget / 4;
    resume = 0;
    while (resume < nb) {
        size_t sent = 0, before = resume;
        repair_all(r.s, &r.w, budget, &resume, &sent);
        assert_true(resume > before);
        assert_true(r.w.len <= budget);
        if (!sent)
            continue;
        resume_append(&r, sent);
        messages++;
    }
    assert_true(messages >= 3);
    assert_true(messages < nb); /* some messages hold several buckets */
    resume_check_and_free(&r);
}

/* A repair answer written in parts (crdt_store_repair_part, as a node
 * writes one over several loop turns): each part ends on the first whole
 * bucket past its soft size, even a bucket larger than that (the hard
 * budget allows it), and the parts together are the store, in order. */
TEST(crdt_store_repair_parts_end_on_buckets_and_resume_exactly)
{
    (void)state;
    struct resume_rig r;
    resume_init(&r);
    size_t nb = crdt_store_digest_size(r.s), filled = 0, smallest = SIZE_MAX;
    for (size_t b = 0; b < nb; b++) {
        size_t sent = 0, resume = 0;
        repair_some(r.s, &r.w, 1 << 26, &resume, &sent, b);
        filled += sent > 0;
        if (sent && r.w.len < smallest)
            smallest = r.w.len;
    }
    uint64_t *peer = malloc(nb * sizeof(*peer));
    assert_non_null(peer);
    assert_int_equal(crdt_store_digest(r.s, peer, nb), 0);
    for (size_t b = 0; b < nb; b++)
        peer[b] ^= 1;
    /* Soft below the smallest bucket: one bucket a part, none cut. */
    size_t resume = 0, parts = 0;
    while (resume < nb) {
        size_t sent = 0;
        ivt_mpw_reset(&r.w);
        assert_int_equal(
            crdt_store_repair_part(r.s, &r.w, peer, nb, &resume, smallest / 2, 1 << 26, &sent), 0);
        if (!sent)
            continue;
        resume_append(&r, sent);
        parts++;
    }
    assert_int_equal(parts, filled);
    assert_true(parts >= 3);
    /* Soft past the whole store: one part, the same as one repair. */
    resume = 0;
    size_t sent = 0;
    ivt_mpw_reset(&r.w);
    assert_int_equal(crdt_store_repair_part(r.s, &r.w, peer, nb, &resume, 1 << 26, 1 << 26, &sent),
                     0);
    assert_int_equal(resume, nb);
    assert_int_equal(sent, r.ns);
    free(peer);
    resume_check_and_free(&r);
}
