/* Unit tests of node/rpc.c: a real uv loop and real sockets in one process.
 * The client side is a plain blocking socket; the loop is pumped while the
 * test waits for replies, so nothing needs a second thread. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "base/err.h"
#include "base/mp.h"
#include "node/config.h"
#include "node/rpc.h"
#include "tests/test.h"

struct fixture {
    uv_loop_t loop;
    struct ivtd_rpc *rpc;
    int notes; /* notifications the "note" method received */
};

/* echo [x] -> x */
static int m_echo(void *ctx, struct ivtd_rpc_call *call)
{
    (void)ctx;
    if (call->n_params != 1)
        return ivtd_rpc_fail(call, IVT_EINVAL, "echo: expected [value]");
    const uint8_t *p = call->params;
    if (ivt_mp_skip(&p, call->end) != 0)
        return IVT_EPROTO;
    ivt_mpw_raw(call->out, call->params, (size_t)(p - call->params));
    return 0;
}

static int m_fail(void *ctx, struct ivtd_rpc_call *call)
{
    (void)ctx;
    ivt_mpw_cstr(call->out, "this must not be sent");
    return ivtd_rpc_fail(call, IVT_EINVAL, "fail: as asked");
}

static int m_note(void *ctx, struct ivtd_rpc_call *call)
{
    struct fixture *f = ctx;
    f->notes++;
    ivt_mpw_nil(call->out);
    return 0;
}

static const struct ivtd_rpc_method methods[] = {
    {"echo", m_echo, "returns its argument"},
    {"fail", m_fail, "always fails"},
    {"note", m_note, "counts calls"},
};

static void setup(struct fixture *f, uint32_t max_frame, uint32_t max_conn)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    /* ivtd's default coalescing: every test below also checks that waiting
     * to gather requests never loses, reorders or holds back a reply. */
    struct ivtd_rpc_limits lim = {max_frame, max_conn, IVTD_API_COALESCE_US};
    assert_int_equal(ivtd_rpc_new(&f->rpc, &f->loop, methods, 3, f, &lim), 0);
    char err[256];
    assert_int_equal(ivtd_rpc_listen(f->rpc, "127.0.0.1:0", 0, err, sizeof(err)), 0);
}

static void teardown(struct fixture *f)
{
    ivtd_rpc_delete(f->rpc);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int connect_tcp(struct fixture *f)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(ivtd_rpc_port(f->rpc, 0));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_all(struct fixture *f, int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            uv_run(&f->loop, UV_RUN_NOWAIT);
            continue;
        }
        assert_true(w > 0);
        b += w;
        n -= (size_t)w;
    }
}

struct replies {
    uint8_t buf[1 << 20];
    size_t len;
    bool closed;
};

/* Pumps the loop until `want` complete values arrived, or the server closed
 * the connection, or about five seconds passed. Returns how many arrived. */
static size_t pump(struct fixture *f, int fd, struct replies *r, size_t want)
{
    for (int i = 0; i < 5000; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        ssize_t n = recv(fd, r->buf + r->len, sizeof(r->buf) - r->len, MSG_DONTWAIT);
        if (n > 0)
            r->len += (size_t)n;
        else if (n == 0)
            r->closed = true;
        size_t count = 0;
        const uint8_t *p = r->buf, *end = r->buf + r->len;
        while (p < end && ivt_mp_skip(&p, end) == 0)
            count++;
        if (count >= want || r->closed)
            return count;
        if (n <= 0)
            usleep(1000);
    }
    return 0;
}

/* Checks the next reply is [1, msgid, nil, <uint>] or [1, msgid, {code}, nil]. */
static void next_reply(const uint8_t **p, const uint8_t *end, uint32_t msgid, const char *code,
                       uint64_t *result)
{
    uint32_t n;
    uint64_t v;
    assert_int_equal(ivt_mp_read_array(p, end, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(ivt_mp_read_uint(p, end, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(ivt_mp_read_uint(p, end, &v), 0);
    assert_int_equal(v, msgid);
    if (!code) {
        assert_int_equal(ivt_mp_read_nil(p, end), 0);
        if (result)
            assert_int_equal(ivt_mp_read_uint(p, end, result), 0);
        else
            assert_int_equal(ivt_mp_skip(p, end), 0);
        return;
    }
    assert_int_equal(ivt_mp_read_map(p, end, &n), 0);
    assert_int_equal(n, 2);
    const char *s;
    uint32_t sl;
    assert_int_equal(ivt_mp_read_str(p, end, &s, &sl), 0);
    assert_true(ivt_mp_str_eq(s, sl, "code"));
    assert_int_equal(ivt_mp_read_str(p, end, &s, &sl), 0);
    if (!ivt_mp_str_eq(s, sl, code))
        fail_msg("expected code %s, got %.*s", code, (int)sl, s);
    assert_int_equal(ivt_mp_read_str(p, end, &s, &sl), 0);
    assert_true(ivt_mp_str_eq(s, sl, "message"));
    assert_int_equal(ivt_mp_read_str(p, end, &s, &sl), 0);
    assert_true(sl > 0);
    assert_int_equal(ivt_mp_read_nil(p, end), 0);
}

static void request(struct ivt_mpw *w, uint32_t msgid, const char *method, uint64_t arg)
{
    ivt_mpw_array(w, 4);
    ivt_mpw_uint(w, 0);
    ivt_mpw_uint(w, msgid);
    ivt_mpw_cstr(w, method);
    ivt_mpw_array(w, 1);
    ivt_mpw_uint(w, arg);
}

static struct replies R;

TEST(node_rpc_pipelined_requests_answered_in_order)
{
    (void)state;
    struct fixture f;
    setup(&f, 1 << 20, 16);
    int fd = connect_tcp(&f);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 22);
    enum { N = 20000 };
    for (uint32_t i = 0; i < N; i++)
        request(&w, i, i % 1000 == 7 ? "fail" : "echo", i * 3ULL);
    send_all(&f, fd, w.data, w.len);
    memset(&R, 0, sizeof(R));
    assert_int_equal(pump(&f, fd, &R, N), N);
    const uint8_t *p = R.buf, *end = R.buf + R.len;
    for (uint32_t i = 0; i < N; i++) {
        uint64_t v = 0;
        next_reply(&p, end, i, i % 1000 == 7 ? "EINVAL" : NULL, &v);
        if (i % 1000 != 7)
            assert_int_equal(v, i * 3ULL);
    }
    assert_ptr_equal(p, end);
    struct ivtd_rpc_stats st;
    ivtd_rpc_get_stats(f.rpc, &st);
    assert_int_equal(st.requests, N);
    assert_int_equal(st.error_replies, N / 1000);
    ivt_mpw_destroy(&w);
    close(fd);
    teardown(&f);
}

TEST(node_rpc_errors_keep_the_connection)
{
    (void)state;
    struct fixture f;
    setup(&f, 4096, 16);
    int fd = connect_tcp(&f);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 16);
    request(&w, 1, "nosuch", 0);
    /* params not an array */
    ivt_mpw_array(&w, 4);
    ivt_mpw_uint(&w, 0);
    ivt_mpw_uint(&w, 2);
    ivt_mpw_cstr(&w, "echo");
    ivt_mpw_uint(&w, 5);
    /* wrong arity */
    ivt_mpw_array(&w, 4);
    ivt_mpw_uint(&w, 0);
    ivt_mpw_uint(&w, 3);
    ivt_mpw_cstr(&w, "echo");
    ivt_mpw_array(&w, 0);
    /* a notification: no reply, but the handler runs */
    ivt_mpw_array(&w, 3);
    ivt_mpw_uint(&w, 2);
    ivt_mpw_cstr(&w, "note");
    ivt_mpw_array(&w, 0);
    /* an unknown notification: counted, no reply */
    ivt_mpw_array(&w, 3);
    ivt_mpw_uint(&w, 2);
    ivt_mpw_cstr(&w, "nosuch");
    ivt_mpw_array(&w, 0);
    request(&w, 4, "echo", 42);
    send_all(&f, fd, w.data, w.len);
    memset(&R, 0, sizeof(R));
    assert_int_equal(pump(&f, fd, &R, 4), 4);
    const uint8_t *p = R.buf, *end = R.buf + R.len;
    uint64_t v;
    next_reply(&p, end, 1, "ENOMETHOD", NULL);
    next_reply(&p, end, 2, "EINVAL", NULL);
    next_reply(&p, end, 3, "EINVAL", NULL);
    next_reply(&p, end, 4, NULL, &v);
    assert_int_equal(v, 42);
    assert_false(R.closed);
    assert_int_equal(f.notes, 1);
    struct ivtd_rpc_stats st;
    ivtd_rpc_get_stats(f.rpc, &st);
    assert_int_equal(st.unknown_method, 2);
    assert_int_equal(st.notification_errors, 1);
    ivt_mpw_destroy(&w);
    close(fd);
    teardown(&f);
}

/* Sends bytes, expects one error reply with code and msgid, then a close. */
static void expect_fatal(const void *bytes, size_t n, uint32_t msgid, const char *code)
{
    struct fixture f;
    setup(&f, 1024, 16);
    int fd = connect_tcp(&f);
    send_all(&f, fd, bytes, n);
    memset(&R, 0, sizeof(R));
    pump(&f, fd, &R, 2); /* waits for the close too */
    assert_true(R.closed);
    const uint8_t *p = R.buf, *end = R.buf + R.len;
    next_reply(&p, end, msgid, code, NULL);
    assert_ptr_equal(p, end);
    close(fd);
    /* The server still serves others. */
    fd = connect_tcp(&f);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1024);
    request(&w, 9, "echo", 1);
    send_all(&f, fd, w.data, w.len);
    memset(&R, 0, sizeof(R));
    assert_int_equal(pump(&f, fd, &R, 1), 1);
    ivt_mpw_destroy(&w);
    close(fd);
    teardown(&f);
}

TEST(node_rpc_hostile_input_gets_an_error_and_a_close)
{
    (void)state;
    static const uint8_t garbage[] = {0xc1, 0x00, 0x01};
    expect_fatal(garbage, sizeof(garbage), 0, "EPROTO");
    /* valid msgpack, not msgpack-RPC */
    static const uint8_t a_map[] = {0x81, 0xa1, 'a', 0x01};
    expect_fatal(a_map, sizeof(a_map), 0, "EPROTO");
    /* a response sent to the server */
    static const uint8_t resp[] = {0x94, 0x01, 0x05, 0xc0, 0xc0};
    expect_fatal(resp, sizeof(resp), 0, "EPROTO");
    /* msgid that is not a uint */
    static const uint8_t badid[] = {0x94, 0x00, 0xa1, 'x', 0xa4, 'e', 'c', 'h', 'o', 0x90};
    expect_fatal(badid, sizeof(badid), 0, "EPROTO");

    /* Lying headers: an array of 2^32-1 elements, a 4 GiB string; both are
     * followed by more than max_frame bytes and must end in ETOOBIG, having
     * allocated no more than the frame bound. */
    uint8_t lie[4096];
    memset(lie, 0x01, sizeof(lie));
    lie[0] = 0xdd;
    lie[1] = lie[2] = lie[3] = lie[4] = 0xff;
    expect_fatal(lie, sizeof(lie), 0, "ETOOBIG");
    static uint8_t req_big_str[4096];
    memset(req_big_str, 'a', sizeof(req_big_str));
    const uint8_t head[] = {0x94, 0x00, 0x07, 0xa4, 'e',  'c',  'h',
                            'o',  0x91, 0xdb, 0xff, 0xff, 0xff, 0xff};
    memcpy(req_big_str, head, sizeof(head));
    expect_fatal(req_big_str, sizeof(req_big_str), 7, "ETOOBIG");
    /* an honest frame that is simply too big */
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 16);
    ivt_mpw_array(&w, 4);
    ivt_mpw_uint(&w, 0);
    ivt_mpw_uint(&w, 8);
    ivt_mpw_cstr(&w, "echo");
    ivt_mpw_array(&w, 1);
    ivt_mpw_str(&w, (const char *)req_big_str, 2000);
    expect_fatal(w.data, w.len, 8, "ETOOBIG");
    ivt_mpw_destroy(&w);
}

TEST(node_rpc_split_and_truncated_frames)
{
    (void)state;
    struct fixture f;
    setup(&f, 4096, 16);
    int fd = connect_tcp(&f);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1024);
    request(&w, 77, "echo", 123456);
    /* One byte at a time: answered once, when complete. */
    for (size_t i = 0; i < w.len; i++) {
        send_all(&f, fd, w.data + i, 1);
        for (int k = 0; k < 3; k++)
            uv_run(&f.loop, UV_RUN_NOWAIT);
    }
    memset(&R, 0, sizeof(R));
    assert_int_equal(pump(&f, fd, &R, 1), 1);
    const uint8_t *p = R.buf;
    uint64_t v;
    next_reply(&p, R.buf + R.len, 77, NULL, &v);
    assert_int_equal(v, 123456);
    /* Half a frame and then EOF: no reply, a clean close. */
    send_all(&f, fd, w.data, w.len / 2);
    shutdown(fd, SHUT_WR);
    memset(&R, 0, sizeof(R));
    assert_int_equal(pump(&f, fd, &R, 1), 0);
    assert_true(R.closed);
    close(fd);
    struct ivtd_rpc_stats st;
    ivtd_rpc_get_stats(f.rpc, &st);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.open, 0);
    ivt_mpw_destroy(&w);
    teardown(&f);
}

TEST(node_rpc_requests_then_eof_still_answered)
{
    (void)state;
    struct fixture f;
    setup(&f, 4096, 16);
    int fd = connect_tcp(&f);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 16);
    for (uint32_t i = 0; i < 100; i++)
        request(&w, i, "echo", i);
    send_all(&f, fd, w.data, w.len);
    shutdown(fd, SHUT_WR);
    memset(&R, 0, sizeof(R));
    assert_int_equal(pump(&f, fd, &R, 100), 100);
    ivt_mpw_destroy(&w);
    close(fd);
    teardown(&f);
}

TEST(node_rpc_max_connections)
{
    (void)state;
    struct fixture f;
    setup(&f, 4096, 2);
    int a = connect_tcp(&f), b = connect_tcp(&f);
    for (int i = 0; i < 20; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    int c = connect_tcp(&f);
    memset(&R, 0, sizeof(R));
    assert_int_equal(pump(&f, c, &R, 1), 0);
    assert_true(R.closed);
    struct ivtd_rpc_stats st;
    ivtd_rpc_get_stats(f.rpc, &st);
    assert_int_equal(st.rejected_connections, 1);
    assert_int_equal(st.open, 2);
    /* The two admitted ones work. */
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1024);
    request(&w, 1, "echo", 1);
    send_all(&f, b, w.data, w.len);
    memset(&R, 0, sizeof(R));
    assert_int_equal(pump(&f, b, &R, 1), 1);
    ivt_mpw_destroy(&w);
    close(a);
    close(b);
    close(c);
    teardown(&f);
}

TEST(node_rpc_client_that_never_reads_is_paused)
{
    (void)state;
    struct fixture f;
    setup(&f, 1 << 20, 16);
    int fd = connect_tcp(&f);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    /* Each echo of a 60 KB string returns 60 KB: 400 of them is 24 MB of
     * replies that the client never reads. */
    static char big[60000];
    memset(big, 'x', sizeof(big));
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 20);
    ivt_mpw_array(&w, 4);
    ivt_mpw_uint(&w, 0);
    ivt_mpw_uint(&w, 1);
    ivt_mpw_cstr(&w, "echo");
    ivt_mpw_array(&w, 1);
    ivt_mpw_str(&w, big, sizeof(big));
    int sent = 0;
    for (int i = 0; i < 400; i++) {
        ssize_t n = send(fd, w.data, w.len, MSG_DONTWAIT | MSG_NOSIGNAL);
        for (int k = 0; k < 5; k++)
            uv_run(&f.loop, UV_RUN_NOWAIT);
        if (n > 0)
            sent++;
        if (n < (ssize_t)w.len)
            break; /* the server stopped reading us: that is the point */
    }
    struct ivtd_rpc_stats st;
    ivtd_rpc_get_stats(f.rpc, &st);
    assert_true(st.read_paused >= 1);
    assert_true(sent < 400);
    ivt_mpw_destroy(&w);
    close(fd);
    for (int k = 0; k < 20; k++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    teardown(&f);
}

TEST(node_rpc_unix_socket_has_its_mode)
{
    (void)state;
    struct fixture f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(uv_loop_init(&f.loop), 0);
    struct ivtd_rpc_limits lim = {4096, 4, 0};
    assert_int_equal(ivtd_rpc_new(&f.rpc, &f.loop, methods, 3, &f, &lim), 0);
    char path[64], addr[80], err[256];
    snprintf(path, sizeof(path), "/tmp/ivt-test-rpc-%d.sock", (int)getpid());
    snprintf(addr, sizeof(addr), "unix:%s", path);
    assert_int_equal(ivtd_rpc_listen(f.rpc, addr, 0600, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1024);
    request(&w, 5, "echo", 5);
    send_all(&f, fd, w.data, w.len);
    memset(&R, 0, sizeof(R));
    assert_int_equal(pump(&f, fd, &R, 1), 1);
    ivt_mpw_destroy(&w);
    close(fd);
    /* A regular file in the way is not replaced. */
    char path2[64], addr2[80];
    snprintf(path2, sizeof(path2), "/tmp/ivt-test-rpc-%d.file", (int)getpid());
    FILE *fp = fopen(path2, "w");
    fclose(fp);
    snprintf(addr2, sizeof(addr2), "unix:%s", path2);
    assert_int_equal(ivtd_rpc_listen(f.rpc, addr2, 0600, err, sizeof(err)), IVT_EEXIST);
    assert_non_null(strstr(err, "not a socket"));
    unlink(path2);
    assert_int_equal(ivtd_rpc_listen(f.rpc, "nonsense", 0600, err, sizeof(err)), IVT_EINVAL);
    teardown(&f);
    assert_int_not_equal(lstat(path, &st), 0); /* removed on delete */
}

/* A client with a long backlog of pipelined requests does not hold the
 * loop for all of them: one turn reads a bounded share, and the rest waits
 * for later turns (where timers and other sockets run first). A unix
 * socket, whose queue holds all the client sent (loopback TCP lets a
 * receiver see only its receive window, too little for a backlog). */
TEST(node_rpc_backlog_is_read_over_several_turns)
{
    (void)state;
    struct fixture f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(uv_loop_init(&f.loop), 0);
    struct ivtd_rpc_limits lim = {1 << 20, 16, IVTD_API_COALESCE_US};
    assert_int_equal(ivtd_rpc_new(&f.rpc, &f.loop, methods, 3, &f, &lim), 0);
    char path[64], addr[80], err[256];
    snprintf(path, sizeof(path), "/tmp/ivt-test-rpc-turn-%d.sock", (int)getpid());
    snprintf(addr, sizeof(addr), "unix:%s", path);
    assert_int_equal(ivtd_rpc_listen(f.rpc, addr, 0600, err, sizeof(err)), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, 1 << 22);
    enum { N = 60000 }; /* 14 bytes each: 840 KB */
    for (uint32_t i = 0; i < N; i++)
        request(&w, i, "note", i);
    /* Queued before the server reads any of it. */
    size_t off = 0;
    while (off < w.len) {
        ssize_t n = send(fd, w.data + off, w.len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    for (int i = 0; i < 1000 && f.notes == 0; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    /* The first turn that read stopped within a few reads' worth. */
    assert_true(f.notes > 0);
    assert_true((size_t)f.notes * w.len / N <= 512 * 1024);
    assert_true((size_t)f.notes < N);
    send_all(&f, fd, w.data + off, w.len - off);
    memset(&R, 0, sizeof(R));
    assert_int_equal(pump(&f, fd, &R, N), N);
    const uint8_t *p = R.buf, *end = R.buf + R.len;
    for (uint32_t i = 0; i < N; i++)
        next_reply(&p, end, i, NULL, NULL);
    assert_int_equal(f.notes, N);
    ivt_mpw_destroy(&w);
    close(fd);
    teardown(&f);
}

/* The coalescing rule alone, on a clock the test drives: it waits only
 * while requests come faster than two per window, never past the window
 * since the last read, not for a client its waits gather nothing from,
 * and never when off. */
TEST(node_rpc_coalesce_waits_only_while_requests_come_fast)
{
    (void)state;
    struct ivtd_coalesce c;
    ivtd_coalesce_init(&c, 50);
    const uint64_t us = 1000, t0 = 1000000000ULL;
    assert_int_equal(ivtd_coalesce_delay(&c, t0), 0); /* nothing read yet */
    ivtd_coalesce_note(&c, t0, 1);
    assert_int_equal(ivtd_coalesce_delay(&c, t0 + us), 0); /* one read: no rate known */
    /* 100,000 requests/s, one per read: the mean gap falls to 10 us. */
    uint64_t t = t0;
    for (int i = 0; i < 100; i++)
        ivtd_coalesce_note(&c, t += 10 * us, 1);
    assert_int_equal(ivtd_coalesce_delay(&c, t + 5 * us), 45 * us);
    assert_int_equal(ivtd_coalesce_delay(&c, t + 50 * us), 0); /* the window is over */
    assert_int_equal(ivtd_coalesce_delay(&c, t + 80 * us), 0);
    /* Gathered: five requests per 50 us read keep the same rate, and the
     * rule keeps waiting. */
    for (int i = 0; i < 100; i++)
        ivtd_coalesce_note(&c, t += 50 * us, 5);
    assert_int_equal(ivtd_coalesce_delay(&c, t + 1 * us), 49 * us);
    /* The rate drops to 20,000/s (50 us apart): fewer than two per window,
     * so nothing waits any more. */
    for (int i = 0; i < 100; i++)
        ivtd_coalesce_note(&c, t += 50 * us, 1);
    assert_int_equal(ivtd_coalesce_delay(&c, t + 1 * us), 0);
    /* A read of nothing changes nothing; a clock before the last read
     * (it cannot, but a caller's could) never waits. */
    ivtd_coalesce_note(&c, t + 7 * us, 0);
    assert_int_equal(c.last_ns, t);
    assert_int_equal(ivtd_coalesce_delay(&c, t - 1), 0);
    /* Gathered reads after waits keep waiting on. */
    ivtd_coalesce_init(&c, 50);
    t = t0;
    for (int i = 0; i < 50; i++) /* the mean gap falls from its start */
        ivtd_coalesce_note(&c, t += 50 * us, 5);
    for (int i = 0; i < 100; i++) {
        assert_int_not_equal(ivtd_coalesce_delay(&c, t + 1 * us), 0);
        ivtd_coalesce_waited(&c);
        ivtd_coalesce_note(&c, t += 50 * us, 5);
    }
    /* A synchronous client (one request in flight, the next 12 us after
     * each reply): its requests come fast, but a wait gathers just the one
     * it would have sent anyway. Three such waits pause waiting for 100 ms,
     * then it is tried again. */
    ivtd_coalesce_init(&c, 50);
    t = t0;
    for (int i = 0; i < 50; i++)
        ivtd_coalesce_note(&c, t += 12 * us, 1);
    int waits = 0;
    for (int i = 0; i < 10; i++) {
        if (ivtd_coalesce_delay(&c, t + 1 * us)) {
            waits++;
            ivtd_coalesce_waited(&c);
            t += 50 * us;
        } else {
            t += 12 * us;
        }
        ivtd_coalesce_note(&c, t, 1);
    }
    assert_int_equal(waits, 3);
    uint64_t t1 = t;
    while (t < t1 + 99000 * us) {
        assert_int_equal(ivtd_coalesce_delay(&c, t + 1 * us), 0);
        ivtd_coalesce_note(&c, t += 12 * us, 1);
    }
    while (t < t1 + 101000 * us)
        ivtd_coalesce_note(&c, t += 12 * us, 1);
    assert_int_not_equal(ivtd_coalesce_delay(&c, t + 1 * us), 0);
    /* Off. */
    ivtd_coalesce_init(&c, 0);
    for (int i = 0; i < 100; i++)
        ivtd_coalesce_note(&c, t += 10 * us, 1);
    assert_int_equal(ivtd_coalesce_delay(&c, t + 1 * us), 0);
}
