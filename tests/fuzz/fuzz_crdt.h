/* tests/fuzz/fuzz_crdt.h: a small store for the crdt fuzz targets, and the
 * round-trip check they share (header-only: each target is one binary). */
#ifndef IVT_TESTS_FUZZ_CRDT_H
#define IVT_TESTS_FUZZ_CRDT_H

#include <stdlib.h>
#include <string.h>

#include "base/mp.h"
#include "crdt/store.h"

/* Epoch 29000000 at 60 s: what the seed corpus was written at. */
#define FUZZ_CRDT_WALL ((ivt_ms)29000000 * 60000)

static inline struct crdt_store *fuzz_crdt_store(int node, bool with_evidence)
{
    struct crdt_config c;
    crdt_config_defaults(&c);
    c.origin.id[0] = (uint8_t)node;
    c.origin.gen = 1;
    memset(c.hash_key, 7, 16);
    c.window_epochs = 6;
    c.distinct_bucket_epochs = 2;
    c.max_entities = 64;
    c.counter_slots_max = 2;
    c.distinct_exact_max = 4;
    c.counter_hll_p = 6;
    c.distinct_hll_p = 6;
    c.digest_bits = 4;
    c.max_origins = 16;
    struct crdt_store *s;
    if (crdt_store_new(&s, &c, FUZZ_CRDT_WALL))
        return NULL;
    if (with_evidence) {
        const char *keys[] = {"1.2.3.4", "dev-1", "pub-9"};
        for (int i = 0; i < 3; i++) {
            struct crdt_update u = {.kind = (enum crdt_kind)(i * 2), .key = keys[i]};
            u.key_len = strlen(keys[i]);
            u.add[0] = 3;
            u.item_mask = 1;
            u.item[0] = 42;
            crdt_store_update(s, crdt_store_epoch(s), &u, 1);
        }
    }
    return s;
}

/* encode -> merge into a fresh store -> encode gives the same bytes. */
static inline void fuzz_crdt_check_roundtrip(struct crdt_store *s)
{
    struct ivt_mpw a, b;
    ivt_mpw_init_dyn(&a, 1 << 24);
    ivt_mpw_init_dyn(&b, 1 << 24);
    struct crdt_store *t = fuzz_crdt_store(9, false);
    if (t && crdt_store_encode(s, &a) == 0) {
        if (crdt_store_merge(t, a.data, a.len, NULL) != 0)
            __builtin_trap();
        struct crdt_store_stats st;
        crdt_store_stats(t, &st);
        if (st.evictions == 0) {
            if (crdt_store_encode(t, &b) != 0 || a.len != b.len || memcmp(a.data, b.data, a.len))
                __builtin_trap();
        }
    }
    crdt_store_delete(t);
    ivt_mpw_destroy(&a);
    ivt_mpw_destroy(&b);
}

#endif
