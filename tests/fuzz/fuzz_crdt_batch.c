/* libFuzzer target: a batch of delta / repair messages merged at once
 * (crdt_store_merge_many, as a node merges the deltas of one datagram) must
 * give what merging them one after another gives: each message's result
 * and stats, and the store's bytes. The input is a sequence of messages,
 * each a 2-byte big-endian length and the message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mp.h"
#include "crdt/store.h"
#include "tests/fuzz/fuzz_crdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MSGS_MAX = 24 /* past a merge group of records, with room to spare */ };

static bool same_bytes(struct crdt_store *a, struct crdt_store *b)
{
    struct ivt_mpw x, y;
    ivt_mpw_init_dyn(&x, 1 << 24);
    ivt_mpw_init_dyn(&y, 1 << 24);
    bool same = crdt_store_encode(a, &x) == 0 && crdt_store_encode(b, &y) == 0 && x.len == y.len &&
                !memcmp(x.data, y.data, x.len);
    free(x.data);
    free(y.data);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct crdt_merge_msg m[MSGS_MAX];
    size_t n = 0;
    while (n < MSGS_MAX && size >= 2) {
        size_t len = (size_t)data[0] << 8 | data[1];
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        m[n++] = (struct crdt_merge_msg){.data = data, .len = len};
        data += len;
        size -= len;
    }
    struct crdt_store *one = fuzz_crdt_store(1, true), *many = fuzz_crdt_store(1, true);
    if (one && many) {
        int rc[MSGS_MAX], first = 0;
        struct crdt_merge_stats st[MSGS_MAX];
        for (size_t i = 0; i < n; i++) {
            rc[i] = crdt_store_merge(one, m[i].data, m[i].len, &st[i]);
            if (rc[i] && !first)
                first = rc[i];
        }
        if (crdt_store_merge_many(many, m, n, NULL, NULL) != first)
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if (m[i].rc != rc[i] || memcmp(&m[i].st, &st[i], sizeof(st[i])))
                __builtin_trap();
        if (!same_bytes(one, many))
            __builtin_trap();
    }
    crdt_store_delete(one);
    crdt_store_delete(many);
    return 0;
}
