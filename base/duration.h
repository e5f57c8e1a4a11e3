/*
 * base/duration.h: durations as operators write them ("90s", "15m", "4h").
 *
 * One parser for every place a person types a duration: ivtctl's --ttl,
 * --timeout and --interval, and any daemon setting that is a duration. A
 * duration is one or more <integer><unit> terms, largest unit first or not,
 * summed: "500ms", "90s", "15m", "4h", "7d", "1h30m". Units: ms, s, m, h, d.
 * A bare number is rejected (is "90" seconds or milliseconds? the reader of
 * a config cannot tell), except "0", which means zero in every unit.
 * No fractions, no signs, no spaces, no weeks (a week is "7d").
 */
#ifndef IVT_BASE_DURATION_H
#define IVT_BASE_DURATION_H

#include <stddef.h>

#include "base/clock.h"

/* What error messages show as the accepted forms. */
#define IVT_DURATION_FORMS "500ms, 90s, 15m, 4h, 7d or a sum like 1h30m"

/*
 * Parses s into milliseconds. Returns 0 on success, or one of these negative
 * codes: IVT_EINVAL (empty, no unit, unknown unit, a sign, a fraction, junk),
 * IVT_ETOOBIG (more milliseconds than an ivt_ms holds). *out is set only on
 * success.
 */
int ivt_duration_parse(ivt_ms *out, const char *s);

/*
 * Writes d as a sum of terms, largest unit first: "1h30m", "1m30s", "90ms",
 * "0s" (negative: a leading '-'), so that parse(format(d)) == d. Returns
 * buf; output is truncated to cap (at least 32 bytes holds any value).
 */
const char *ivt_duration_format(char *buf, size_t cap, ivt_ms d);

#endif
