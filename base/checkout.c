/* base/checkout.c: see checkout.h. */
#include "base/checkout.h"

#include <stdio.h>
#include <unistd.h>

bool ivt_checkout_root(char *out, size_t cap, const char *bindir, size_t bindir_len,
                       const char *rel)
{
    static const char *const up[] = {"..", "../../.."}; /* bin/, build/release/bin/ */
    if (bindir_len > 4096)
        return false;
    for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++) {
        int root = snprintf(out, cap, "%.*s/%s", (int)bindir_len, bindir, up[i]);
        if (root < 0 || (size_t)root >= cap)
            return false;
        int w = snprintf(out + root, cap - (size_t)root, "/%s", rel);
        if (w > 0 && (size_t)w < cap - (size_t)root && access(out, R_OK) == 0) {
            out[root] = 0;
            return true;
        }
    }
    return false;
}
