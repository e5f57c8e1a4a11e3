/* libFuzzer target: ivtctl's reply decoder must accept or reject any bytes
 * a control socket could send without reading past the end, leaking, or
 * building a value the text renderer cannot show. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    uint32_t id;
    json_t *err, *res;
    if (ivtctl_reply_decode(&p, data + size, &id, &err, &res) == 0) {
        if (p != data + size || (err && res) || (!err && !res))
            __builtin_trap();
        char buf[512];
        ivtctl_json_text(buf, sizeof(buf), err ? err : res);
        char *s = json_dumps(err ? err : res, JSON_ENCODE_ANY);
        if (!s)
            __builtin_trap(); /* every decoded value must print as JSON */
        free(s);
        json_decref(err);
        json_decref(res);
    }
    /* The value reader alone, with a small budget. */
    p = data;
    size_t budget = 64;
    json_t *v;
    if (ivtctl_mp_to_json(&p, data + size, &budget, &v) == 0) {
        if (p > data + size)
            __builtin_trap();
        json_decref(v);
    }
    return 0;
}
