/*
 * node/rpc.c: the msgpack-RPC server of ivtd (the ad-server API and the
 * control socket share it; see node/rpc.h for the contract).
 *
 * Parts:
 *   - listeners: TCP (v4/v6) and unix sockets, created with their final
 *     permissions (the umask is narrowed around bind, so a control socket is
 *     never briefly world-connectable);
 *   - connections: an input buffer that grows in READ_CHUNK steps up to
 *     max_frame + READ_CHUNK, split into frames with ivt_mp_value_len (which
 *     looks only at headers, so a frame is dispatched only once it is
 *     complete, and "incomplete" can never ask us to buffer more than
 *     max_frame);
 *   - dispatch: [0, msgid, method, params] and [2, method, params] are
 *     decoded with the bounded cursor of base/mp.h, looked up in the method
 *     table and answered into the connection's output buffer;
 *   - output: the answers of one read are written together; what the kernel
 *     does not take at once is queued with uv_write. A queue past
 *     WRITE_QUEUE_MAX stops reading from that client until it drains, so a
 *     client that pipelines without reading costs bounded memory.
 *   - turns: libuv reads a connection again and again (up to 32 times) as
 *     long as each read fills the buffer, so a client with a backlog of
 *     pipelined requests held the loop for all of them: 100 ms of CPU in
 *     one turn at 100,000 scores/s, 1.1 s of loop lag on a busy host, with
 *     gossip's timers (probes, acks) waiting behind. A connection that read
 *     TURN_READ_MAX bytes in one loop turn stops reading until the next
 *     turn (a prepare handle restarts it), so timers and the other sockets
 *     get their turn every few milliseconds.
 *
 * A protocol violation (not msgpack, not msgpack-RPC, a frame over
 * max_frame) gets one error reply where it can and then the connection is
 * closed: after such bytes the stream cannot be resynchronised.
 */
#include "node/rpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "node/config.h"

enum {
    READ_CHUNK = 64 * 1024,  /* a read's room: one syscall fills most pipelines */
    INITIAL_BUF = 16 * 1024, /* an idle connection's buffer: most requests fit */
    /* Replies gathered past this go out mid-read. A client's backlog (after
     * the host held the loop a few ms) came in reads of 140 KB, 1,400 scores
     * and about 2 ms of work (a throwaway timing build, docs/benchmarks.md
     * "Session 8"): at 64 KiB the first replies waited for nearly all of
     * it; at 8 KiB (by arithmetic 30-80 replies) they leave as they are
     * ready, for one more write per 8 KiB only when reads are that large. */
    FLUSH_AT = 8 * 1024,
    WRITE_QUEUE_MAX = 4 * 1024 * 1024,  /* stop reading a client this far behind */
    TURN_READ_MAX = 128 * 1024,         /* a connection's bytes per loop turn: ~3 ms of scores */
    BACKLOG = 511,                      /* listen(2) backlog, the usual SOMAXCONN */
    SCRATCH_MAX = IVTD_RPC_RESPONSE_MAX /* notifications' results go here and are dropped */
};

union stream {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
};

struct listener {
    union stream h;
    struct ivtd_rpc *srv;
    bool is_unix;
    char path[IVTD_PATH_MAX]; /* unix socket file, removed on delete */
};

struct conn {
    union stream h;
    struct ivtd_rpc *srv;
    struct conn *prev, *next;
    uint8_t *buf; /* unconsumed input: buf[0, len) */
    size_t len, cap;
    struct ivt_mpw out; /* replies gathered, not yet written */
    size_t writes_pending;
    uint64_t turn;          /* the server's turn when turn_bytes was last reset */
    size_t turn_bytes;      /* bytes read in that turn */
    bool yielded;           /* reading stopped until the next turn */
    bool paused;            /* reading stopped: the client is not reading replies */
    bool close_after_write; /* error sent or EOF: close once written */
    bool closing;
};

struct write_req {
    uv_write_t req;
    struct conn *c;
    size_t len;
    uint8_t data[];
};

struct ivtd_rpc {
    uv_loop_t *loop;
    const struct ivtd_rpc_method *methods;
    size_t n_methods;
    void *ctx;
    struct ivtd_rpc_limits limits;
    struct ivtd_rpc_stats stats;
    struct listener *listeners[IVTD_RPC_MAX_LISTENERS];
    size_t n_listeners;
    struct conn *conns;
    struct ivt_mpw scratch;
    uv_prepare_t turn_handle;   /* runs once per loop turn, before polling */
    struct ivtd_coalesce co;    /* limits.coalesce_us at work */
    struct ivtd_slow_cbs *slow; /* where a slow read counts (ivtd_rpc_watch), or NULL */
    enum ivtd_cb_kind slow_kind;
    uint64_t turn;  /* loop turns seen */
    size_t yielded; /* connections waiting for the next turn */
    size_t handles; /* open libuv handles; the server is freed at zero once deleting */
    bool deleting;
};

/* ---- helpers ------------------------------------------------------------- */

void ivtd_rpc_write_error(struct ivt_mpw *w, const char *code, const char *msg)
{
    ivt_mpw_map(w, 2);
    ivt_mpw_cstr(w, "code");
    ivt_mpw_cstr(w, code);
    ivt_mpw_cstr(w, "message");
    ivt_mpw_cstr(w, msg);
}

int ivtd_rpc_fail(struct ivtd_rpc_call *call, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->msg, call->msg_cap, fmt, ap);
    va_end(ap);
    return rc;
}

static void maybe_free(struct ivtd_rpc *s)
{
    if (s->deleting && s->handles == 0) {
        ivt_mpw_destroy(&s->scratch);
        free(s);
    }
}

/* ---- connections --------------------------------------------------------- */

static void on_conn_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct ivtd_rpc *s = c->srv;
    free(c->buf);
    ivt_mpw_destroy(&c->out);
    free(c);
    s->handles--;
    maybe_free(s);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct ivtd_rpc *s = c->srv;
    if (c->yielded) {
        c->yielded = false;
        s->yielded--;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->stats.open--;
    uv_close(&c->h.handle, on_conn_close);
}

static void process(struct conn *c);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = h->data;
    size_t limit = (size_t)c->srv->limits.max_frame + READ_CHUNK;
    if (c->cap - c->len < READ_CHUNK && c->cap < limit) {
        size_t want = c->cap ? c->cap * 2 : INITIAL_BUF;
        if (want < c->len + READ_CHUNK)
            want = c->len + READ_CHUNK;
        if (want > limit)
            want = limit;
        uint8_t *nb = realloc(c->buf, want);
        if (nb) {
            c->buf = nb;
            c->cap = want;
        }
    }
    /* A zero-length buffer makes libuv report UV_ENOBUFS: we close then. */
    buf->base = (char *)c->buf + c->len;
    buf->len = c->buf ? c->cap - c->len : 0;
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct conn *c = w->c;
    free(w);
    c->writes_pending--;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->close_after_write) {
        if (c->writes_pending == 0)
            conn_close(c);
        return;
    }
    if (c->paused && uv_stream_get_write_queue_size(&c->h.stream) < WRITE_QUEUE_MAX / 2) {
        c->paused = false;
        process(c); /* frames that waited in the buffer */
        if (!c->paused && !c->closing && !c->close_after_write && !c->yielded)
            uv_read_start(&c->h.stream, on_alloc, on_read);
    }
}

/* Writes what was gathered; queues the rest. */
static void flush(struct conn *c)
{
    struct ivt_mpw *o = &c->out;
    if (o->len == 0 || c->closing)
        return;
    size_t done = 0;
    if (c->writes_pending == 0) {
        uv_buf_t b = uv_buf_init((char *)o->data, (unsigned)o->len);
        int r = uv_try_write(&c->h.stream, &b, 1);
        if (r < 0 && r != UV_EAGAIN) {
            ivt_mpw_reset(o);
            conn_close(c);
            return;
        }
        done = r > 0 ? (size_t)r : 0;
    }
    c->srv->stats.bytes_out += o->len;
    if (done < o->len) {
        size_t rest = o->len - done;
        struct write_req *w = malloc(sizeof(*w) + rest);
        if (!w) {
            ivt_mpw_reset(o);
            conn_close(c);
            return;
        }
        w->c = c;
        w->len = rest;
        memcpy(w->data, o->data + done, rest);
        uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)rest);
        if (uv_write(&w->req, &c->h.stream, &b, 1, on_write) != 0) {
            free(w);
            ivt_mpw_reset(o);
            conn_close(c);
            return;
        }
        c->writes_pending++;
    }
    ivt_mpw_reset(o);
    if (uv_stream_get_write_queue_size(&c->h.stream) > WRITE_QUEUE_MAX && !c->paused) {
        c->paused = true;
        c->srv->stats.read_paused++;
        uv_read_stop(&c->h.stream);
    }
}

/* [1, msgid, {"code", "message"}, nil], then the connection closes. */
static void fatal_reply(struct conn *c, uint32_t msgid, const char *code, const char *msg)
{
    ivt_mpw_array(&c->out, 4);
    ivt_mpw_uint(&c->out, 1);
    ivt_mpw_uint(&c->out, msgid);
    ivtd_rpc_write_error(&c->out, code, msg);
    ivt_mpw_nil(&c->out);
    c->close_after_write = true;
    uv_read_stop(&c->h.stream);
}

/* The msgid of a (possibly partial) request, so even a fatal error can be
 * matched by the client; 0 when there is none. */
static uint32_t peek_msgid(const uint8_t *p, const uint8_t *end)
{
    uint32_t n;
    uint64_t type, id;
    if (ivt_mp_read_array(&p, end, &n) || n != 4 || ivt_mp_read_uint(&p, end, &type) || type != 0 ||
        ivt_mp_read_uint_max(&p, end, UINT32_MAX, &id))
        return 0;
    return (uint32_t)id;
}

static const struct ivtd_rpc_method *find_method(const struct ivtd_rpc *s, const char *p,
                                                 uint32_t n)
{
    for (size_t i = 0; i < s->n_methods; i++)
        if (ivt_mp_str_eq(p, n, s->methods[i].name))
            return &s->methods[i];
    return NULL;
}

/* Runs one call; the result or an error goes to out as "error, result". */
static int call_method(struct conn *c, struct ivt_mpw *out, const char *name, uint32_t name_len,
                       const uint8_t *params, const uint8_t *end, bool notification)
{
    struct ivtd_rpc *s = c->srv;
    char msg[IVTD_RPC_MSG_MAX] = "";
    size_t mark = out->len;
    const struct ivtd_rpc_method *m = find_method(s, name, name_len);
    uint32_t np = 0;
    int rc;
    if (!m) {
        s->stats.unknown_method++;
        snprintf(msg, sizeof(msg), "no method '%.*s'", (int)(name_len > 64 ? 64 : name_len), name);
        if (!notification)
            ivtd_rpc_write_error(out, "ENOMETHOD", msg);
        ivt_mpw_nil(out);
        return IVT_ENOENT;
    }
    if (ivt_mp_read_array(&params, end, &np) != 0) {
        rc = IVT_EINVAL;
        snprintf(msg, sizeof(msg), "params: expected an array");
    } else {
        ivt_mpw_nil(out);
        struct ivtd_rpc_call call = {params, end, np, notification, out, msg, sizeof(msg)};
        rc = m->fn(s->ctx, &call);
        if (rc == 0 && ivt_mpw_error(out) == 0)
            return 0;
        if (rc == 0) {
            rc = IVT_ETOOBIG;
            snprintf(msg, sizeof(msg), "the result is larger than %d bytes", IVTD_RPC_RESPONSE_MAX);
        }
    }
    /* Drop whatever the handler wrote: the reply is the error alone. */
    out->len = mark;
    out->err = 0;
    if (!msg[0])
        snprintf(msg, sizeof(msg), "%s", ivt_strerror(rc));
    ivtd_rpc_write_error(out, ivt_errname(rc), msg);
    ivt_mpw_nil(out);
    return rc;
}

/* One complete msgpack value of n bytes at p. */
static void handle_frame(struct conn *c, const uint8_t *p, size_t n)
{
    struct ivtd_rpc *s = c->srv;
    const uint8_t *pos = p, *end = p + n;
    uint32_t len;
    uint64_t type, msgid = 0;
    const char *name;
    uint32_t name_len;
    if (ivt_mp_read_array(&pos, end, &len) || ivt_mp_read_uint(&pos, end, &type))
        goto malformed;
    if (type == 0 && len == 4) {
        if (ivt_mp_read_uint_max(&pos, end, UINT32_MAX, &msgid) ||
            ivt_mp_read_str(&pos, end, &name, &name_len))
            goto malformed;
        s->stats.requests++;
        struct ivt_mpw *o = &c->out;
        ivt_mpw_array(o, 4);
        ivt_mpw_uint(o, 1);
        ivt_mpw_uint(o, msgid);
        if (call_method(c, o, name, name_len, pos, end, false) != 0)
            s->stats.error_replies++;
        return;
    }
    if (type == 2 && len == 3) {
        if (ivt_mp_read_str(&pos, end, &name, &name_len))
            goto malformed;
        s->stats.notifications++;
        ivt_mpw_reset(&s->scratch);
        if (call_method(c, &s->scratch, name, name_len, pos, end, true) != 0)
            s->stats.notification_errors++;
        return;
    }
malformed:
    s->stats.malformed++;
    fatal_reply(c, peek_msgid(p, end), "EPROTO",
                "expected a msgpack-RPC request [0, msgid, method, params] or notification "
                "[2, method, params]");
}

static void process(struct conn *c)
{
    struct ivtd_rpc *s = c->srv;
    size_t off = 0;
    while (off < c->len && !c->close_after_write && !c->paused && !c->closing) {
        long n = ivt_mp_value_len(c->buf + off, c->len - off);
        if (n == IVT_EAGAIN) {
            if (c->len - off > s->limits.max_frame)
                goto too_big;
            break;
        }
        if (n < 0) {
            s->stats.malformed++;
            fatal_reply(c, 0, "EPROTO", "the bytes are not msgpack");
            break;
        }
        if ((size_t)n > s->limits.max_frame)
            goto too_big;
        handle_frame(c, c->buf + off, (size_t)n);
        off += (size_t)n;
        if (c->out.len >= FLUSH_AT)
            flush(c);
        continue;
    too_big:
        s->stats.frames_too_big++;
        char msg[IVTD_RPC_MSG_MAX];
        snprintf(msg, sizeof(msg), "a frame is larger than api.max_frame (%u bytes)",
                 s->limits.max_frame);
        fatal_reply(c, peek_msgid(c->buf + off, c->buf + c->len), "ETOOBIG", msg);
        break;
    }
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    flush(c);
    if (c->close_after_write && c->writes_pending == 0)
        conn_close(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = st->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        /* EOF after a pipeline: the replies so far still go out, then close. */
        uv_read_stop(st);
        c->close_after_write = true;
        if (nread == UV_ENOBUFS)
            c->srv->stats.frames_too_big++;
        flush(c);
        if (c->writes_pending == 0)
            conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    struct ivtd_rpc *s = c->srv;
    s->stats.bytes_in += (uint64_t)nread;
    uint64_t frames = s->stats.requests + s->stats.notifications;
    uint64_t t0 = s->slow ? uv_hrtime() : 0;
    process(c);
    uint64_t t1 = s->slow ? ivtd_slow_cb_end(s->slow, s->slow_kind, t0) : 0;
    frames = s->stats.requests + s->stats.notifications - frames;
    if (frames && s->co.window_ns)
        ivtd_coalesce_note(&s->co, t1 ? t1 : uv_hrtime(), frames);
    if (c->turn != s->turn) {
        c->turn = s->turn;
        c->turn_bytes = 0;
    }
    c->turn_bytes += (size_t)nread;
    if (c->turn_bytes >= TURN_READ_MAX && !c->yielded && !c->paused && !c->closing &&
        !c->close_after_write) {
        uv_read_stop(st);
        c->yielded = true;
        s->yielded++;
    }
}

/* ---- read coalescing (node/rpc.h) ---------------------------------------- */

enum {
    /* A gap counts at most this much in the mean: after a quiet spell the
     * first reads must not hold coalescing off for long. */
    COALESCE_GAP_CAP_NS = 1000000,
    COALESCE_GAP_WEIGHT = 8, /* the mean follows a rate change within ~8 reads */
    /* gain is in 16ths of a frame: a wait must gather 1.5 frames on
     * average; the mean starts at 2 (optimistic: a fresh start tries) and
     * moves by a quarter per read, so a client that one wait never gathers
     * more than one frame from stops the waits after three of them. */
    COALESCE_GAIN_ONE = 16,
    COALESCE_GAIN_MIN = 24,
    COALESCE_GAIN_START = 32,
    COALESCE_GAIN_WEIGHT = 4,
    COALESCE_GAIN_FRAMES_MAX = 64, /* a huge read counts as this many */
    /* How long waiting pauses when it gathered nothing: three wasted waits
     * per 100 ms cost such a client well under 1 %, and a rate that
     * changes is seen again within a tenth of a second. */
    COALESCE_BACKOFF_NS = 100000000
};

void ivtd_coalesce_init(struct ivtd_coalesce *c, uint32_t window_us)
{
    memset(c, 0, sizeof(*c));
    c->window_ns = (uint64_t)window_us * 1000;
    c->gap_ns = COALESCE_GAP_CAP_NS;
    c->gain = COALESCE_GAIN_START;
}

void ivtd_coalesce_note(struct ivtd_coalesce *c, uint64_t now_ns, size_t frames)
{
    if (!frames)
        return;
    if (c->last_ns && now_ns > c->last_ns) {
        uint64_t since = now_ns - c->last_ns;
        uint64_t gap = (since < COALESCE_GAP_CAP_NS ? since : COALESCE_GAP_CAP_NS) / frames;
        /* gap_ns += (gap - gap_ns) / weight, in unsigned arithmetic */
        c->gap_ns = c->gap_ns - c->gap_ns / COALESCE_GAP_WEIGHT + gap / COALESCE_GAP_WEIGHT;
    }
    c->last_ns = now_ns;
    if (c->waited) {
        c->waited = false;
        uint32_t f =
            frames < COALESCE_GAIN_FRAMES_MAX ? (uint32_t)frames : COALESCE_GAIN_FRAMES_MAX;
        c->gain =
            c->gain - c->gain / COALESCE_GAIN_WEIGHT + f * COALESCE_GAIN_ONE / COALESCE_GAIN_WEIGHT;
        if (c->gain < COALESCE_GAIN_MIN) {
            c->paused_until = now_ns + COALESCE_BACKOFF_NS;
            c->gain = COALESCE_GAIN_START;
        }
    }
}

uint64_t ivtd_coalesce_delay(const struct ivtd_coalesce *c, uint64_t now_ns)
{
    if (!c->window_ns || !c->last_ns || now_ns < c->last_ns || now_ns < c->paused_until)
        return 0;
    uint64_t since = now_ns - c->last_ns;
    if (since >= c->window_ns || 2 * c->gap_ns > c->window_ns)
        return 0;
    return c->window_ns - since;
}

void ivtd_coalesce_waited(struct ivtd_coalesce *c)
{
    c->waited = true;
}

uint64_t ivtd_coalesce_wait(struct ivtd_coalesce *c)
{
    uint64_t ns = ivtd_coalesce_delay(c, uv_hrtime());
    if (ns) {
        /* EINTR (a signal) only ends the wait early: the loop polls sooner. */
        struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
        nanosleep(&ts, NULL);
        ivtd_coalesce_waited(c);
    }
    return ns;
}

/* A new loop turn: connections that used up the last one read again;
 * otherwise, while requests come fast, the turn waits to gather them. */
static void on_turn(uv_prepare_t *h)
{
    struct ivtd_rpc *s = h->data;
    s->turn++;
    if (s->yielded == 0) {
        /* Never with a backlog (a yielded connection): that is read now. */
        uint64_t ns = s->co.window_ns ? ivtd_coalesce_wait(&s->co) : 0;
        if (ns) {
            s->stats.coalesce_waits++;
            s->stats.coalesce_wait_ns += ns;
        }
        return;
    }
    for (struct conn *c = s->conns; c && s->yielded; c = c->next) {
        if (!c->yielded)
            continue;
        c->yielded = false;
        s->yielded--;
        if (!c->paused && !c->closing && !c->close_after_write)
            uv_read_start(&c->h.stream, on_alloc, on_read);
    }
}

static void on_reject_close(uv_handle_t *h)
{
    struct ivtd_rpc *s = h->data;
    free(h);
    s->handles--;
    maybe_free(s);
}

static int stream_init(struct ivtd_rpc *s, union stream *h, bool is_unix)
{
    return is_unix ? uv_pipe_init(s->loop, &h->pipe, 0) : uv_tcp_init(s->loop, &h->tcp);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    struct ivtd_rpc *s = l->srv;
    if (status < 0 || s->deleting)
        return;
    if (s->stats.open >= s->limits.max_connections) {
        union stream *h = malloc(sizeof(*h));
        if (!h)
            return;
        stream_init(s, h, l->is_unix);
        h->handle.data = s;
        s->handles++;
        uv_accept(server, &h->stream);
        s->stats.rejected_connections++;
        uv_close(&h->handle, on_reject_close);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = s;
    ivt_mpw_init_dyn(&c->out, IVTD_RPC_RESPONSE_MAX);
    stream_init(s, &c->h, l->is_unix);
    c->h.handle.data = c;
    s->handles++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->stats.open++;
    if (uv_accept(server, &c->h.stream) != 0) {
        conn_close(c);
        return;
    }
    s->stats.accepted++;
    if (!l->is_unix)
        uv_tcp_nodelay(&c->h.tcp, 1);
    if (uv_read_start(&c->h.stream, on_alloc, on_read) != 0)
        conn_close(c);
}

/* ---- server -------------------------------------------------------------- */

int ivtd_rpc_new(struct ivtd_rpc **out, uv_loop_t *loop, const struct ivtd_rpc_method *methods,
                 size_t n_methods, void *ctx, const struct ivtd_rpc_limits *limits)
{
    if (!limits->max_frame || !limits->max_connections)
        return IVT_EINVAL;
    struct ivtd_rpc *s = calloc(1, sizeof(*s));
    if (!s)
        return IVT_ENOMEM;
    s->loop = loop;
    s->methods = methods;
    s->n_methods = n_methods;
    s->ctx = ctx;
    s->limits = *limits;
    ivtd_coalesce_init(&s->co, limits->coalesce_us);
    ivt_mpw_init_dyn(&s->scratch, SCRATCH_MAX);
    uv_prepare_init(loop, &s->turn_handle);
    s->turn_handle.data = s;
    uv_prepare_start(&s->turn_handle, on_turn);
    uv_unref((uv_handle_t *)&s->turn_handle); /* never what keeps a loop running */
    s->handles++;
    *out = s;
    return 0;
}

void ivtd_rpc_set_limits(struct ivtd_rpc *s, const struct ivtd_rpc_limits *limits)
{
    if (limits->max_frame && limits->max_connections) {
        s->limits = *limits;
        s->co.window_ns = (uint64_t)limits->coalesce_us * 1000;
    }
}

void ivtd_rpc_get_stats(const struct ivtd_rpc *s, struct ivtd_rpc_stats *out)
{
    *out = s->stats;
}

uint16_t ivtd_rpc_port(const struct ivtd_rpc *s, size_t i)
{
    if (i >= s->n_listeners || s->listeners[i]->is_unix)
        return 0;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&s->listeners[i]->h.tcp, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void on_listener_close(uv_handle_t *h)
{
    struct listener *l = h->data;
    struct ivtd_rpc *s = l->srv;
    free(l);
    s->handles--;
    maybe_free(s);
}

static int listen_fail(struct listener *l, char *err, size_t cap, int rc, const char *addr,
                       const char *what, int uverr)
{
    snprintf(err, cap, "%s: cannot %s: %s", addr, what, uv_strerror(uverr));
    uv_close(&l->h.handle, on_listener_close);
    return rc;
}

/* Binds a unix socket with mode from the first instant: no window in which
 * a socket meant to be 0600 is connectable by others. */
static int bind_unix(struct listener *l, const char *path, unsigned mode, char *err, size_t cap,
                     const char *addr)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, cap, "%s: exists and is not a socket; not replacing it", addr);
            uv_close(&l->h.handle, on_listener_close);
            return IVT_EEXIST;
        }
        unlink(path);
    }
    mode_t old = umask((mode_t)(~mode & 0777));
    int r = uv_pipe_bind(&l->h.pipe, path);
    umask(old);
    if (r != 0)
        return listen_fail(l, err, cap, IVT_EEXIST, addr, "bind", r);
    if (chmod(path, (mode_t)mode) != 0) {
        int e = errno;
        snprintf(err, cap, "%s: cannot chmod %o: %s", addr, mode, strerror(e));
        uv_close(&l->h.handle, on_listener_close);
        unlink(path);
        return IVT_EEXIST;
    }
    snprintf(l->path, sizeof(l->path), "%s", path);
    return 0;
}

void ivtd_rpc_watch(struct ivtd_rpc *s, struct ivtd_slow_cbs *slow, enum ivtd_cb_kind kind)
{
    s->slow = slow;
    s->slow_kind = kind;
}

int ivtd_rpc_listen(struct ivtd_rpc *s, const char *addr, unsigned mode, char *err, size_t cap)
{
    if (s->n_listeners >= IVTD_RPC_MAX_LISTENERS) {
        snprintf(err, cap, "%s: too many listeners (at most %d)", addr, IVTD_RPC_MAX_LISTENERS);
        return IVT_ELIMIT;
    }
    bool is_unix = strncmp(addr, "unix:", 5) == 0;
    struct sockaddr_storage ss;
    if (is_unix) {
        if (addr[5] != '/' || strlen(addr + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(err, cap, "%s: expected unix:/absolute/path shorter than 108 bytes", addr);
            return IVT_EINVAL;
        }
    } else {
        if (ivtd_sockaddr_parse(&ss, addr) != 0) {
            snprintf(err, cap, "%s: expected \"ip:port\" or \"unix:/path\"", addr);
            return IVT_EINVAL;
        }
    }
    struct listener *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, cap, "%s: out of memory", addr);
        return IVT_ENOMEM;
    }
    l->srv = s;
    l->is_unix = is_unix;
    stream_init(s, &l->h, is_unix);
    l->h.handle.data = l;
    s->handles++;
    int r;
    if (is_unix) {
        if ((r = bind_unix(l, addr + 5, mode, err, cap, addr)) != 0)
            return r;
    } else if ((r = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss, 0)) != 0) {
        return listen_fail(l, err, cap, IVT_EEXIST, addr, "bind", r);
    }
    if ((r = uv_listen(&l->h.stream, BACKLOG, on_connection)) != 0) {
        if (l->path[0])
            unlink(l->path);
        return listen_fail(l, err, cap, IVT_EEXIST, addr, "listen", r);
    }
    s->listeners[s->n_listeners++] = l;
    return 0;
}

static void on_turn_close(uv_handle_t *h)
{
    struct ivtd_rpc *s = h->data;
    s->handles--;
    maybe_free(s);
}

void ivtd_rpc_delete(struct ivtd_rpc *s)
{
    if (!s)
        return;
    s->deleting = true;
    uv_close((uv_handle_t *)&s->turn_handle, on_turn_close);
    for (size_t i = 0; i < s->n_listeners; i++) {
        if (s->listeners[i]->path[0])
            unlink(s->listeners[i]->path);
        uv_close(&s->listeners[i]->h.handle, on_listener_close);
    }
    s->n_listeners = 0;
    while (s->conns)
        conn_close(s->conns);
    maybe_free(s);
}
