/* libFuzzer target: a snapshot decoded into an empty store; what decodes
 * must re-encode canonically (encode, merge into a fresh store, encode: the
 * same bytes). Also drives the heavy-hitter and decision decoders, which
 * take part in node snapshots. */
#include <stddef.h>
#include <stdint.h>

#include "base/mp.h"
#include "crdt/hh.h"
#include "crdt/lww.h"
#include "crdt/store.h"
#include "tests/fuzz/fuzz_crdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct crdt_store *s = fuzz_crdt_store(2, false);
    if (!s)
        return 0;
    if (crdt_store_merge(s, data, size, NULL) == 0)
        fuzz_crdt_check_roundtrip(s);
    crdt_store_delete(s);
    struct crdt_origin o = {{1}, 1};
    struct crdt_lww *l;
    if (crdt_lww_new(&l, &o, 64) == 0) {
        crdt_lww_merge(l, data, size, 1764100000000LL, NULL);
        crdt_lww_delete(l);
    }
    struct crdt_hh *h;
    if (crdt_hh_new(&h, &o, 8, 8) == 0) {
        crdt_hh_merge(h, data, size, 0);
        crdt_hh_delete(h);
    }
    return 0;
}
