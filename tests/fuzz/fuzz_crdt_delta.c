/* libFuzzer target: a delta / repair message merged into a store with
 * evidence must be accepted or rejected cleanly, and after a clean merge the
 * store must still encode to a snapshot that merges back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mp.h"
#include "crdt/store.h"
#include "tests/fuzz/fuzz_crdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct crdt_store *s = fuzz_crdt_store(1, true);
    if (!s)
        return 0;
    if (crdt_store_merge(s, data, size, NULL) == 0)
        fuzz_crdt_check_roundtrip(s);
    crdt_store_delete(s);
    return 0;
}
