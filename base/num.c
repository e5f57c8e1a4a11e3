#include "base/num.h"

#include <errno.h>
#include <stdlib.h>

bool ivt_parse_uint(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s[0] < '0' || s[0] > '9')
        return false; /* no sign, no space: strtoull would take them */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (*end || errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool ivt_parse_positive(const char *s, double max, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > max) /* !(v > 0) is true of NaN too */
        return false;
    *out = v;
    return true;
}
