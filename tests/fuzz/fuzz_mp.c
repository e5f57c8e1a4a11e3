/* libFuzzer target: the bounded msgpack reader must accept or reject any
 * bytes without reading past the end, and skip must agree with value_len. */
#include <stddef.h>
#include <stdint.h>

#include "base/mp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    long n = ivt_mp_value_len(data, size);
    int rc = ivt_mp_skip(&p, end);
    if ((rc == 0) != (n > 0))
        __builtin_trap();
    if (rc == 0 && p - data != n)
        __builtin_trap();
    /* Read typed values until the input runs out or stops parsing. */
    p = data;
    while (p < end) {
        uint64_t u;
        int64_t i;
        double d;
        uint32_t c;
        const char *s;
        const uint8_t *b;
        if (ivt_mp_read_uint(&p, end, &u) == 0 || ivt_mp_read_int(&p, end, &i) == 0 ||
            ivt_mp_read_double(&p, end, &d) == 0 || ivt_mp_read_array(&p, end, &c) == 0 ||
            ivt_mp_read_map(&p, end, &c) == 0 || ivt_mp_read_str(&p, end, &s, &c) == 0 ||
            ivt_mp_read_bin(&p, end, &b, &c) == 0)
            continue;
        if (ivt_mp_skip(&p, end))
            break;
    }
    return 0;
}
