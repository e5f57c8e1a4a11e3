/*
 * base/num.h: numbers as people type them on a command line.
 *
 * One checker for every command-line number (ivtctl, ivtsim,
 * ivt-loadgen): the whole string, nothing around it. strtoull alone takes
 * " -1" and "+1" (and wraps -1 to 2^64-1), strtod takes "nan", "inf" and
 * "1e300"; each place that called them had to remember all of that.
 */
#ifndef IVT_BASE_NUM_H
#define IVT_BASE_NUM_H

#include <stdbool.h>
#include <stdint.h>

/* An unsigned integer of digits only, in [min, max]. base is 10, or 0 for
 * strtoull's "0x" hex and leading-0 octal as well. Sets *out only when true. */
bool ivt_parse_uint(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out);

/* A decimal number, the whole string, above 0 and at most max (so never
 * NaN or infinite). Sets *out only when true. */
bool ivt_parse_positive(const char *s, double max, double *out);

#endif
