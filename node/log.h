/*
 * node/log.h: logfmt lines on stderr, one per event.
 *
 *   ts=2024-05-01T12:00:00.123Z level=info msg="member joined" name=web-7 addr=10.0.0.7:7946
 *
 * Shell code: the daemon's one process-wide logger (the core never logs; it
 * counts). Each line is built in a buffer and written with one write(2), so
 * lines never interleave and a line is never half written by us.
 */
#ifndef IVT_NODE_LOG_H
#define IVT_NODE_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "node/config.h"

enum { IVTD_LOG_LINE_MAX = 1024 }; /* longer lines are cut, never split */

void ivtd_log_set_level(enum ivtd_log_level level);
/* Where lines go (default 2, stderr); tests point it at a file. */
void ivtd_log_set_fd(int fd);
bool ivtd_log_enabled(enum ivtd_log_level level);

/*
 * Logs msg with key=value pairs formatted from kvfmt (printf style, may be
 * NULL). A string value that may hold spaces, quotes or '=' goes through
 * ivtd_log_quote first.
 */
void ivtd_log(enum ivtd_log_level level, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes s into out as a logfmt value: bare when it is safe, else quoted with
 * '"' and '\' escaped and control bytes as \xNN. Returns out. */
const char *ivtd_log_quote(char *out, size_t cap, const char *s);

const char *ivtd_log_level_name(enum ivtd_log_level level);

#endif
