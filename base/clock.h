/*
 * base/clock.h: the time type of the sans-IO core.
 *
 * The core never reads a clock. Hosts pass two kinds of "now" in:
 *   - a monotonic now (ivt_ms) for timers: probe periods, timeouts, deadlines;
 *   - a wall-clock now (unix milliseconds, also ivt_ms) for epochs and TTLs.
 * Keeping them apart lets the simulator skew a node's wall clock without
 * disturbing its timers, as real NTP steps do.
 */
#ifndef IVT_BASE_CLOCK_H
#define IVT_BASE_CLOCK_H

#include <stdint.h>

typedef int64_t ivt_ms;

/* A deadline that never comes: what next_deadline() returns when idle. */
#define IVT_MS_NEVER INT64_MAX

#define IVT_MS_PER_S    1000
#define IVT_MS_PER_MIN  (60 * IVT_MS_PER_S)
#define IVT_MS_PER_HOUR (60 * IVT_MS_PER_MIN)
#define IVT_MS_PER_DAY  (24 * IVT_MS_PER_HOUR)

#endif
