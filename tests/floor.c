/*
 * tests/floor.c: bin/ivt-floor, a msgpack-RPC server that does nothing.
 *
 *   ivt-floor ADDR [COALESCE_US]   (ADDR: ip:port, or unix:/path)
 *
 * It answers every request [0, msgid, method, params] with
 * [1, msgid, nil, nil] and ignores notifications, with the same libuv
 * machinery and the same batching as ivtd's API (node/rpc.c: the frames of
 * one read are answered with one write; reads are coalesced by the same
 * rule, struct ivtd_coalesce, with ivtd's default window unless
 * COALESCE_US says otherwise). Driven by bin/ivt-loadgen at the
 * rates of tests/bench_daemon.sh, it measures the floor under ivtd's
 * figures on the host at hand: what the kernel, libuv and the generator
 * cost per request when the server's own work is zero. The difference
 * between ivtd's CPU per score and this server's is ivtd's own work.
 *
 * A benchmark tool, not a test; it runs until killed. Input is not
 * trusted any more than ivtd's: a frame that is not msgpack-RPC, or one
 * larger than the buffer, closes the connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include "base/err.h"
#include "base/mp.h"
#include "node/config.h"
#include "node/rpc.h"

enum {
    BUF = 64 * 1024, /* a read's room, as ivtd's READ_CHUNK */
    /* A reply is 1 + 1 + 9 + 1 + 1 bytes; the replies to one read's
     * requests (each at least 5 bytes) fit in 4 x BUF. */
    OUT = 4 * BUF,
    BACKLOG = 511
};

union stream {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
};

static struct ivtd_coalesce co;

struct conn {
    union stream h;
    uint8_t buf[BUF];
    size_t len;
    uint8_t out[OUT];
};

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct conn *c = h->data;
    *b = uv_buf_init((char *)c->buf + c->len, (unsigned)(BUF - c->len));
}

/* Appends [1, id, nil, nil] to out; returns its length. */
static size_t reply(uint8_t *out, uint64_t id)
{
    size_t o = 0;
    out[o++] = 0x94; /* fixarray 4 */
    out[o++] = 0x01;
    out[o++] = 0xcf; /* uint64, big-endian */
    for (int i = 7; i >= 0; i--)
        out[o++] = (uint8_t)(id >> (8 * i));
    out[o++] = 0xc0;
    out[o++] = 0xc0;
    return o;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct conn *c = st->data;
    if (n == 0)
        return;
    if (n < 0) {
        uv_close(&c->h.handle, on_closed);
        return;
    }
    c->len += (size_t)n;
    size_t off = 0, o = 0, frames = 0;
    for (;;) {
        long len = ivt_mp_value_len(c->buf + off, c->len - off);
        if (len == IVT_EAGAIN && c->len - off < BUF)
            break;
        const uint8_t *p = c->buf + off, *end = p + (len > 0 ? len : 0);
        uint32_t items;
        uint64_t type, id = 0;
        /* A request is [0, msgid, method, params]: at least 5 bytes, so
         * the replies to one read fit in out (13 bytes each). */
        if (len <= 0 || ivt_mp_read_array(&p, end, &items) != 0 ||
            ivt_mp_read_uint(&p, end, &type) != 0 ||
            (type == 0 && (items != 4 || ivt_mp_read_uint(&p, end, &id) != 0))) {
            uv_close(&c->h.handle, on_closed);
            return;
        }
        if (type == 0)
            o += reply(c->out + o, id);
        off += (size_t)len;
        frames++;
    }
    ivtd_coalesce_note(&co, uv_hrtime(), frames);
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    uv_buf_t w = uv_buf_init((char *)c->out, (unsigned)o);
    /* The generator reads as fast as it writes, so a short write comes only
     * with a stalled one. Replies are not queued here: the connection is
     * closed, which the generator reports, rather than replies dropped
     * silently from the middle of its pipeline. */
    if (o && uv_try_write(st, &w, 1) != (int)o)
        uv_close(&c->h.handle, on_closed);
}

/* Before each poll, as ivtd's API server does (node/rpc.c on_turn). */
static void on_turn(uv_prepare_t *h)
{
    (void)h;
    ivtd_coalesce_wait(&co);
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    int rc = srv->type == UV_NAMED_PIPE ? uv_pipe_init(srv->loop, &c->h.pipe, 0)
                                        : uv_tcp_init(srv->loop, &c->h.tcp);
    if (rc != 0) {
        free(c);
        return;
    }
    c->h.handle.data = c;
    if (uv_accept(srv, &c->h.stream) != 0) {
        uv_close(&c->h.handle, on_closed);
        return;
    }
    if (srv->type == UV_TCP)
        uv_tcp_nodelay(&c->h.tcp, 1);
    uv_read_start(&c->h.stream, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    char *rest = NULL;
    long us = argc == 3 ? strtol(argv[2], &rest, 10) : IVTD_API_COALESCE_US;
    if (argc < 2 || argc > 3 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        (rest && (*rest || rest == argv[2] || us < 0 || us > 1000))) {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        if (!help && argc == 3)
            fprintf(stderr, "ivt-floor: COALESCE_US: expected an integer 0..1000, got '%s'\n",
                    argv[2]);
        fprintf(help ? stdout : stderr,
                "usage: ivt-floor ADDR [COALESCE_US]\n"
                "  A msgpack-RPC server that answers every request with nil, on ADDR\n"
                "  (ip:port, or unix:/path), until killed: the floor under ivtd's\n"
                "  figures in tests/bench_daemon.sh. COALESCE_US (0..1000, default %d)\n"
                "  is the read coalescing window, as ivtd's api.coalesce_us.\n",
                IVTD_API_COALESCE_US);
        return help ? 0 : 2;
    }
    ivtd_coalesce_init(&co, (uint32_t)us);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL); /* as ivtd: the waits are tens of us */
    uv_loop_t *loop = uv_default_loop();
    uv_prepare_t turn;
    uv_prepare_init(loop, &turn);
    uv_prepare_start(&turn, on_turn);
    uv_unref((uv_handle_t *)&turn);
    union stream srv;
    const char *addr = argv[1];
    int rc;
    if (strncmp(addr, "unix:", 5) == 0) {
        rc = uv_pipe_init(loop, &srv.pipe, 0);
        unlink(addr + 5);
        if (rc == 0)
            rc = uv_pipe_bind(&srv.pipe, addr + 5);
    } else {
        struct sockaddr_storage ss;
        if (ivtd_sockaddr_parse(&ss, addr) != 0) {
            fprintf(stderr, "ivt-floor: expected ip:port or unix:/path, got %s\n", addr);
            return 2;
        }
        rc = uv_tcp_init(loop, &srv.tcp);
        if (rc == 0)
            rc = uv_tcp_bind(&srv.tcp, (const struct sockaddr *)&ss, 0);
    }
    if (rc == 0)
        rc = uv_listen(&srv.stream, BACKLOG, on_connection);
    if (rc != 0) {
        fprintf(stderr, "ivt-floor: cannot listen on %s: %s\n", addr, uv_strerror(rc));
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT) == 0 ? 0 : 1;
}
