/*
 * node/log.c: the daemon's logfmt logger (see node/log.h).
 */
#include "node/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum ivtd_log_level log_level = IVTD_LOG_INFO;
static int log_fd = 2;

void ivtd_log_set_level(enum ivtd_log_level level)
{
    log_level = level;
}

void ivtd_log_set_fd(int fd)
{
    log_fd = fd;
}

bool ivtd_log_enabled(enum ivtd_log_level level)
{
    return level >= log_level;
}

const char *ivtd_log_level_name(enum ivtd_log_level level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    return (unsigned)level < 4 ? names[level] : "info";
}

const char *ivtd_log_quote(char *out, size_t cap, const char *s)
{
    bool bare = *s != 0;
    for (const char *p = s; *p && bare; p++)
        bare = (unsigned char)*p > ' ' && *p != '"' && *p != '=' && *p != '\\' &&
               (unsigned char)*p < 0x7f;
    if (bare) {
        snprintf(out, cap, "%s", s);
        return out;
    }
    size_t n = 0;
    if (cap < 3) {
        if (cap)
            out[0] = 0;
        return out;
    }
    out[n++] = '"';
    /* Keep room for the closing quote and the NUL at every step. */
    for (const char *p = s; *p && n + 6 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < ' ' || c == 0x7f) {
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = '"';
    out[n] = 0;
    return out;
}

void ivtd_log(enum ivtd_log_level level, const char *msg, const char *kvfmt, ...)
{
    if (!ivtd_log_enabled(level))
        return;
    char line[IVTD_LOG_LINE_MAX];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char qmsg[512];
    int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, ivtd_log_level_name(level),
                     ivtd_log_quote(qmsg, sizeof(qmsg), msg[0] ? msg : "-"));
    size_t len = n < 0 ? 0 : (size_t)n;
    if (kvfmt && len + 1 < sizeof(line)) {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, kvfmt);
        n = vsnprintf(line + len, sizeof(line) - len, kvfmt, ap);
        va_end(ap);
        if (n > 0)
            len += (size_t)n;
    }
    /* A cut line still ends in a newline. */
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(log_fd, line, len);
    (void)w; /* nowhere to report a failed log write */
}
