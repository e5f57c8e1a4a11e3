/*
 * node/rpc.h: a msgpack-RPC server on libuv streams (TCP and unix sockets).
 *
 * Framing is standard msgpack-RPC (docs/protocol.md):
 *
 *   request       [0, msgid, method, params]   -> [1, msgid, error, result]
 *   notification  [2, method, params]          (no reply)
 *
 * Pipelined: a client may send many requests without waiting; responses
 * come back in request order (handlers run synchronously on the loop, so
 * order is free). Each read callback's responses are gathered into one
 * buffer and written once, with uv_try_write first and a queued uv_write for
 * what the socket does not take at once. A connection reads at most 128 KiB
 * per loop turn, so a client's backlog never holds the loop (and gossip's
 * timers) for long.
 *
 * Every input is bounded: a connection buffers at most max_frame bytes of an
 * incomplete frame; a larger frame gets an ETOOBIG error and the connection
 * is closed; bytes that are not msgpack get an EPROTO error and are closed;
 * a client that does not read its responses is not read from either (the
 * write queue is bounded) and connections past max_connections are closed
 * at accept. Each of these is counted in struct ivtd_rpc_stats.
 *
 * Shell code: libuv lives here, never in the core.
 */
#ifndef IVT_NODE_RPC_H
#define IVT_NODE_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/mp.h"
#include "node/metrics.h"

struct ivtd_rpc;

enum {
    IVTD_RPC_MSG_MAX = 256,          /* an error message */
    IVTD_RPC_MAX_LISTENERS = 16,     /* api.listen entries plus the control socket */
    IVTD_RPC_RESPONSE_MAX = 16 << 20 /* one result (metrics text, a long top list) */
};

/* One call, as a handler sees it. params is a view of the request's params
 * array elements (n_params of them, starting at params). */
struct ivtd_rpc_call {
    const uint8_t *params;
    const uint8_t *end;
    uint32_t n_params;
    bool notification;   /* no reply will be sent */
    struct ivt_mpw *out; /* write exactly one value: the result */
    char *msg;           /* on error, a message for the client */
    size_t msg_cap;
};

/*
 * A handler writes its result to call->out and returns 0, or returns a
 * negative ivt_err and may write a message into call->msg; the client then
 * gets {"code": ivt_errname(rc), "message": msg}. What it wrote to out on
 * failure is discarded.
 */
typedef int (*ivtd_rpc_fn)(void *ctx, struct ivtd_rpc_call *call);

/* One row per method: the dispatch table (Redis's command table shape). */
struct ivtd_rpc_method {
    const char *name;
    ivtd_rpc_fn fn;
    const char *help;
};

struct ivtd_rpc_limits {
    uint32_t max_frame;       /* bytes of one request frame */
    uint32_t max_connections; /* open connections at once */
    uint32_t coalesce_us;     /* read coalescing window (struct ivtd_coalesce); 0: off */
};

/*
 * Read coalescing: interrupt moderation, done by the server. At a high
 * request rate each request otherwise arrives alone, and one wake-up, one
 * epoll_wait, one read and one write serve 100 bytes: 5-8 us of kernel time
 * per request on a VM, several times the work of a score, on the core the
 * ad server's own threads need too. While requests arrive closer together
 * than half the window, the loop waits out the rest of the window since the
 * last read before it polls again, so one poll, one read and one write
 * serve every request that came meanwhile. A request waits at most the
 * window; at low rates nothing waits.
 *
 * A client that sends its next request only when the last reply came (one
 * in flight) can arrive that fast too, and a wait gathers nothing from it
 * but makes each of its requests a window late: such a client ran at 38,000
 * requests/s instead of 80,000 against bin/ivt-floor. So the rule watches
 * what its waits gather: when the reads after them carry fewer than 1.5
 * frames on average, waiting pauses for COALESCE_BACKOFF (node/rpc.c).
 *
 * The decision is kept apart from the clock and the sleep (the caller gives
 * the time) so that it can be tested alone, and so that bin/ivt-floor, the
 * benchmark server under ivtd's figures, runs the same rule.
 */
struct ivtd_coalesce {
    uint64_t window_ns;    /* 0: off */
    uint64_t last_ns;      /* when the last read that carried frames ended; 0: none yet */
    uint64_t gap_ns;       /* mean gap between frames (moving average, weight 1/8) */
    uint64_t paused_until; /* no waiting before this: the waits gathered nothing */
    uint32_t gain;         /* frames per read after a wait, x16 (moving average, 1/4) */
    bool waited;           /* a wait came after the last read */
};

/* Sets the window (microseconds; 0 turns coalescing off). */
void ivtd_coalesce_init(struct ivtd_coalesce *c, uint32_t window_us);

/* Records a read that carried frames (requests and notifications), ending
 * at now_ns. */
void ivtd_coalesce_note(struct ivtd_coalesce *c, uint64_t now_ns, size_t frames);

/* How long the loop should wait before it polls again, in ns: 0 when
 * coalescing is off or paused, when requests are not arriving fast enough
 * to gather two in a window, or when the window since the last read is
 * already over. */
uint64_t ivtd_coalesce_delay(const struct ivtd_coalesce *c, uint64_t now_ns);

/* Records that the loop waited (what the next read carries is the wait's
 * gain). */
void ivtd_coalesce_waited(struct ivtd_coalesce *c);

/* Waits ivtd_coalesce_delay() at uv_hrtime() and records it. Returns the
 * ns asked for. */
uint64_t ivtd_coalesce_wait(struct ivtd_coalesce *c);

struct ivtd_rpc_stats {
    uint64_t accepted;             /* connections accepted and served */
    uint64_t rejected_connections; /* closed at once: max_connections reached */
    uint64_t requests;             /* requests answered (including errors) */
    uint64_t notifications;
    uint64_t error_replies;       /* requests answered with an error */
    uint64_t unknown_method;      /* ENOMETHOD */
    uint64_t frames_too_big;      /* ETOOBIG, connection closed */
    uint64_t malformed;           /* not msgpack or not msgpack-RPC, connection closed */
    uint64_t notification_errors; /* notifications whose handler failed (no reply to send) */
    uint64_t read_paused;         /* times a client that did not read its replies was paused */
    uint64_t bytes_in, bytes_out;
    uint64_t open;             /* connections open now */
    uint64_t coalesce_waits;   /* loop turns that waited to gather requests */
    uint64_t coalesce_wait_ns; /* the time they waited, in all */
};

/*
 * Creates a server on loop with a method table (kept by pointer: it must
 * outlive the server) and a ctx passed to every handler. Returns 0 on
 * success, or one of these negative codes: IVT_ENOMEM, IVT_EINVAL (a limit
 * of 0).
 */
int ivtd_rpc_new(struct ivtd_rpc **out, uv_loop_t *loop, const struct ivtd_rpc_method *methods,
                 size_t n_methods, void *ctx, const struct ivtd_rpc_limits *limits);

/*
 * Listens on "ip:port" ("[v6]:port"; port 0 picks one) or "unix:/path"
 * (an old socket file at path is replaced; mode sets its permissions, e.g.
 * 0600, applied before any client can connect). On failure err says what and
 * why. Returns 0 on success, or one of these negative codes: IVT_EINVAL (a
 * bad address), IVT_ELIMIT (IVTD_RPC_MAX_LISTENERS), IVT_EEXIST (the address
 * is in use or cannot be bound).
 */
int ivtd_rpc_listen(struct ivtd_rpc *s, const char *addr, unsigned mode, char *err, size_t cap);

/* The TCP port the i-th listener is bound to (0 for unix or out of range). */
uint16_t ivtd_rpc_port(const struct ivtd_rpc *s, size_t i);

/* New limits, for SIGHUP; open connections keep buffers already allocated. */
void ivtd_rpc_set_limits(struct ivtd_rpc *s, const struct ivtd_rpc_limits *limits);
/* Reads that take over IVTD_SLOW_CB_NS to answer count in slow as kind. */
void ivtd_rpc_watch(struct ivtd_rpc *s, struct ivtd_slow_cbs *slow, enum ivtd_cb_kind kind);

void ivtd_rpc_get_stats(const struct ivtd_rpc *s, struct ivtd_rpc_stats *out);

/*
 * Closes every listener and connection (unix socket files are removed) and
 * frees the server once libuv has released every handle: run the loop until
 * then. Pending responses are dropped.
 */
void ivtd_rpc_delete(struct ivtd_rpc *s);

/* ---- helpers for handlers ------------------------------------------------ */

/* Writes {"code": code, "message": msg} (the error object of a response). */
void ivtd_rpc_write_error(struct ivt_mpw *w, const char *code, const char *msg);

/* Formats a handler's error message. Returns rc, so a handler can say
 * `return ivtd_rpc_fail(call, IVT_EINVAL, "params: expected [event]");` */
int ivtd_rpc_fail(struct ivtd_rpc_call *call, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
