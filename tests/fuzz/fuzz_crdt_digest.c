/* libFuzzer target: a peer's digest message, then a repair built against
 * it, which must itself merge cleanly into a fresh store. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/mp.h"
#include "crdt/store.h"
#include "tests/fuzz/fuzz_crdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct crdt_store *s = fuzz_crdt_store(3, true);
    if (!s)
        return 0;
    size_t n = crdt_store_digest_size(s);
    uint64_t *d = malloc(n * sizeof(*d));
    if (d && crdt_store_digest_decode(s, d, n, data, size) == 0) {
        size_t resume = 0, k;
        struct ivt_mpw w;
        ivt_mpw_init_dyn(&w, 1 << 20);
        if (crdt_store_repair(s, &w, d, n, &resume, 1 << 16, SIZE_MAX, &k) == 0 && k) {
            struct crdt_store *t = fuzz_crdt_store(4, false);
            if (t && crdt_store_merge(t, w.data, w.len, NULL) != 0)
                __builtin_trap();
            crdt_store_delete(t);
        }
        ivt_mpw_destroy(&w);
    }
    free(d);
    crdt_store_delete(s);
    return 0;
}
