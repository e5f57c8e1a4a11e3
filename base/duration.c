/*
 * base/duration.c: parse and print "1h30m"-style durations (see duration.h).
 *
 * The parser is a loop over terms: digits, then a unit. Overflow is checked
 * before every multiply and add, so "99999999999999999d" is IVT_ETOOBIG
 * rather than a silently wrapped, possibly negative, TTL.
 */
#include "base/duration.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"

struct unit {
    const char *name;
    ivt_ms ms;
};

/* Longest name first where one is a prefix of another ("ms" before "m"). */
static const struct unit units[] = {
    {"ms", 1},
    {"s", IVT_MS_PER_S},
    {"m", IVT_MS_PER_MIN},
    {"h", IVT_MS_PER_HOUR},
    {"d", IVT_MS_PER_DAY},
};

enum { N_UNITS = sizeof(units) / sizeof(units[0]) };

int ivt_duration_parse(ivt_ms *out, const char *s)
{
    if (!s || !*s)
        return IVT_EINVAL;
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    ivt_ms total = 0;
    const char *p = s;
    while (*p) {
        if (*p < '0' || *p > '9')
            return IVT_EINVAL;
        ivt_ms n = 0;
        int too_big = 0;
        while (*p >= '0' && *p <= '9') {
            int digit = *p++ - '0';
            if (n > (INT64_MAX - digit) / 10)
                too_big = 1;
            else
                n = n * 10 + digit;
        }
        const struct unit *u = NULL;
        for (int i = 0; i < N_UNITS && !u; i++) {
            size_t len = strlen(units[i].name);
            /* A unit must end the term: "5mx" is junk, not 5m then "x". */
            if (strncmp(p, units[i].name, len) == 0 &&
                (p[len] == '\0' || (p[len] >= '0' && p[len] <= '9')))
                u = &units[i];
        }
        if (!u)
            return IVT_EINVAL;
        p += strlen(u->name);
        /* Syntax first, size second: "9999999999999999999x" is a typo. */
        if (too_big || n > (INT64_MAX - total) / u->ms)
            too_big = 1;
        if (too_big) {
            /* Keep scanning so junk later in the string still reads as junk. */
            while (*p) {
                if (!((*p >= '0' && *p <= '9') || strchr("mshd", *p)))
                    return IVT_EINVAL;
                p++;
            }
            return IVT_ETOOBIG;
        }
        total += n * u->ms;
    }
    *out = total;
    return 0;
}

const char *ivt_duration_format(char *buf, size_t cap, ivt_ms d)
{
    if (!cap)
        return buf;
    buf[0] = '\0';
    size_t len = 0;
    uint64_t v = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    if (d < 0)
        len += (size_t)snprintf(buf, cap, "-");
    if (v == 0) {
        snprintf(buf + len, cap - len, "0s");
        return buf;
    }
    for (int i = N_UNITS - 1; i >= 0 && len < cap; i--) {
        uint64_t per = (uint64_t)units[i].ms;
        if (v >= per && (i > 0 || v % per == 0)) {
            uint64_t n = v / per;
            v -= n * per;
            len += (size_t)snprintf(buf + len, cap - len, "%llu%s", (unsigned long long)n,
                                    units[i].name);
        }
    }
    return buf;
}
