/*
 * cli/rpc.c: a blocking msgpack-RPC client over the control socket.
 *
 * A request (PROTOCOL-SPEC.md):
 *
 *   +------+------+----------------+-------------+----------------+
 *   | 0x94 | 0    | msgid (uint32) | method (str)| params (array) |
 *   +------+------+----------------+-------------+----------------+
 *
 * One request at a time: write it, then read until one complete msgpack
 * value has arrived (ivt_mp_value_len tells when), then decode it
 * (reply.c). Every wait is bounded by the --timeout deadline, so a stalled
 * node (kill -STOP) costs the operator seconds, not a hung shell.
 *
 * Failures to reach the node name the socket and the likely cause, because
 * "connection refused" alone sends people hunting in the wrong place.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/err.h"
#include "base/mp.h"
#include "cli/internal.h"

ivt_ms ivtctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ivt_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ivt_ms ivtctl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (ivt_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Request header room: array, type, msgid and a method name. */
enum { REQ_HEADER_MAX = 64 };

static int unreachable(struct ivtctl *c, const char *why)
{
    ivtctl_disconnect(c);
    return ivtctl_fail(c, IVTCTL_EXIT_UNREACHABLE, "EUNREACHABLE", "cannot reach ivtd at %s: %s",
                       c->socket, why);
}

static const char *connect_hint(int e)
{
    switch (e) {
    case ENOENT:
        return "no such socket (is ivtd running? its control.socket setting names the path; "
               "pass it with -s or IVT_SOCKET)";
    case ECONNREFUSED:
        return "connection refused (the socket file is there but no ivtd listens: it stopped "
               "or crashed)";
    case EACCES:
    case EPERM:
        return "permission denied (the control socket is mode 0600: run as ivtd's user or "
               "root)";
    case ENOTSOCK: return "not a socket (check the path)";
    case ENOTDIR: return "a component of the path is not a directory (check the path)";
    case EAGAIN: return "ivtd is not accepting connections (overloaded? its backlog is full)";
    default: return strerror(e);
    }
}

static int connect_socket(struct ivtctl *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(c->socket) >= sizeof(sa.sun_path))
        return unreachable(c, "the path is longer than a unix socket path may be (107 bytes)");
    memcpy(sa.sun_path, c->socket, strlen(c->socket) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return unreachable(c, strerror(errno));
    /* A unix connect completes or fails at once (no handshake to wait
     * for), so no non-blocking dance is needed; reads are polled. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return unreachable(c, connect_hint(e));
    }
    c->fd = fd;
    return 0;
}

void ivtctl_disconnect(struct ivtctl *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = c->rcap = 0;
}

static int wait_fd(struct ivtctl *c, short events, ivt_ms deadline)
{
    for (;;) {
        ivt_ms left = deadline - ivtctl_now_ms();
        if (left <= 0) {
            char d[32], why[128];
            snprintf(why, sizeof(why),
                     "no answer within %s (ivtd stalled or overloaded; raise --timeout)",
                     ivt_duration_format(d, sizeof(d), c->timeout));
            return unreachable(c, why);
        }
        struct pollfd p = {.fd = c->fd, .events = events};
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return unreachable(c, strerror(errno));
    }
}

static int send_all(struct ivtctl *c, const uint8_t *p, size_t n, ivt_ms deadline)
{
    while (n) {
        int rc = wait_fd(c, POLLOUT, deadline);
        if (rc)
            return rc;
        /* MSG_NOSIGNAL: a node that went away must be a message and exit
         * code 3, not a SIGPIPE death. */
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return unreachable(c, errno == EPIPE || errno == ECONNRESET
                                      ? "the node closed the connection (ivtd stopped?)"
                                      : strerror(errno));
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads until rbuf starts with one complete value; returns its length
 * through *len, or an exit code. */
static int read_frame(struct ivtctl *c, ivt_ms deadline, size_t *len)
{
    for (;;) {
        /* rbuf is NULL before the first read: NULL + 0 is undefined. */
        long n = c->rlen ? ivt_mp_value_len(c->rbuf, c->rlen) : IVT_EAGAIN;
        if (n > 0) {
            *len = (size_t)n;
            return 0;
        }
        if (n == IVT_EPROTO && c->rlen) {
            ivtctl_disconnect(c);
            return ivtctl_fail(c, IVTCTL_EXIT_NODE, "EPROTO",
                               "%s answered with bytes that are not msgpack-RPC (is it an ivtd "
                               "control socket?)",
                               c->socket);
        }
        if (c->rlen == IVTCTL_MAX_REPLY) {
            ivtctl_disconnect(c);
            return ivtctl_fail(c, IVTCTL_EXIT_NODE, "ETOOBIG",
                               "the reply from %s is larger than %d MiB", c->socket,
                               IVTCTL_MAX_REPLY >> 20);
        }
        if (c->rlen == c->rcap) {
            size_t cap = c->rcap ? c->rcap * 2 : 4096;
            if (cap > IVTCTL_MAX_REPLY)
                cap = IVTCTL_MAX_REPLY;
            uint8_t *b = realloc(c->rbuf, cap);
            if (!b)
                return ivtctl_fail(c, IVTCTL_EXIT_NODE, "ENOMEM", "out of memory");
            c->rbuf = b;
            c->rcap = cap;
        }
        int rc = wait_fd(c, POLLIN, deadline);
        if (rc)
            return rc;
        ssize_t k = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
        if (k == 0)
            return unreachable(c, "the node closed the connection before answering (ivtd "
                                  "stopped or restarted?)");
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return unreachable(c, strerror(errno));
        }
        c->rlen += (size_t)k;
    }
}

int ivtctl_call(struct ivtctl *c, const char *method, const struct ivt_mpw *params, json_t **result)
{
    *result = NULL;
    if (c->check_only)
        return IVTCTL_CHECKED;
    int rc;
    if (c->fd < 0 && (rc = connect_socket(c)))
        return rc;
    ivt_ms deadline = ivtctl_now_ms() + c->timeout;
    uint32_t id = ++c->msgid;
    uint8_t head[REQ_HEADER_MAX];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, head, sizeof(head));
    ivt_mpw_array(&w, 4);
    ivt_mpw_uint(&w, 0);
    ivt_mpw_uint(&w, id);
    ivt_mpw_cstr(&w, method);
    if (ivt_mpw_error(&w))
        return ivtctl_fail(c, IVTCTL_EXIT_USAGE, "EINVAL", "method name too long");
    if ((rc = send_all(c, w.data, w.len, deadline)) ||
        (rc = send_all(c, params->data, params->len, deadline)))
        return rc;
    size_t len = 0;
    if ((rc = read_frame(c, deadline, &len)))
        return rc;
    const uint8_t *p = c->rbuf;
    uint32_t got;
    json_t *err, *res;
    int drc = ivtctl_reply_decode(&p, c->rbuf + len, &got, &err, &res);
    /* Keep bytes past this frame (none in lockstep, but never lose any). */
    memmove(c->rbuf, c->rbuf + len, c->rlen - len);
    c->rlen -= len;
    if (drc) {
        ivtctl_disconnect(c);
        return ivtctl_fail(c, IVTCTL_EXIT_NODE, ivt_errname(drc),
                           "the reply to '%s' does not decode: %s", method, ivt_strerror(drc));
    }
    if (got != id) {
        json_decref(err);
        json_decref(res);
        ivtctl_disconnect(c);
        return ivtctl_fail(c, IVTCTL_EXIT_NODE, "EPROTO",
                           "the reply to '%s' carries msgid %u, not %u", method, got, id);
    }
    if (err) {
        rc = ivtctl_fail(c, IVTCTL_EXIT_NODE, json_string_value(json_object_get(err, "code")), "%s",
                         json_string_value(json_object_get(err, "message")));
        json_decref(err);
        return rc;
    }
    *result = res;
    return 0;
}

int ivtctl_call0(struct ivtctl *c, const char *method, json_t **result)
{
    uint8_t buf[1];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    ivt_mpw_array(&w, 0);
    return ivtctl_call(c, method, &w, result);
}
