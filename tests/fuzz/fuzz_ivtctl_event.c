/* libFuzzer target: a JSON line for `ivtctl observe` is either reported
 * with a message or becomes an event map that decodes back to an object
 * with the required keys. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/mp.h"
#include "cli/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 20);
    char msg[256];
    msg[0] = '\0';
    int rc = ivtctl_event_parse_line(&w, (const char *)data, size, msg, sizeof(msg));
    if (rc) {
        if (!msg[0] || w.len != 0)
            __builtin_trap(); /* a rejection always says why, and appends nothing */
    } else {
        const uint8_t *p = w.data;
        size_t budget = 64;
        json_t *v;
        if (ivtctl_mp_to_json(&p, w.data + w.len, &budget, &v) != 0 || p != w.data + w.len)
            __builtin_trap();
        static const char *const required[] = {"ip", "ua", "pub", "kind"};
        for (int i = 0; i < 4; i++)
            if (!json_is_string(json_object_get(v, required[i])))
                __builtin_trap();
        json_decref(v);
    }
    ivt_mpw_destroy(&w);
    return 0;
}
