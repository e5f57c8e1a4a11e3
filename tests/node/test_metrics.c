/* Unit tests of node/metrics.c: the text a Prometheus server parses, and
 * the GET /metrics server's answers to good and bad requests. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "node/metrics.h"
#include "tests/test.h"

TEST(node_metrics_text_format)
{
    (void)state;
    struct ivtd_prom p;
    ivtd_prom_init(&p, 1 << 20);
    ivtd_prom_one(&p, "ivtd_up", "gauge", "1 when up.", 1);
    ivtd_prom_family(&p, "ivtd_packets_dropped_total", "counter", "Dropped packets.");
    ivtd_prom_sample(&p, "ivtd_packets_dropped_total", "reason=\"auth\"", 12);
    ivtd_prom_sample(&p, "ivtd_packets_dropped_total", "reason=\"replay\"", 0.5);
    assert_string_equal(p.data, "# HELP ivtd_up 1 when up.\n# TYPE ivtd_up gauge\nivtd_up 1\n"
                                "# HELP ivtd_packets_dropped_total Dropped packets.\n"
                                "# TYPE ivtd_packets_dropped_total counter\n"
                                "ivtd_packets_dropped_total{reason=\"auth\"} 12\n"
                                "ivtd_packets_dropped_total{reason=\"replay\"} 0.5\n");
    /* The same two families written as tables: the same text. */
    char *by_hand = strdup(p.data);
    assert_non_null(by_hand);
    ivtd_prom_reset(&p);
    const struct ivtd_prom_row rows[] = {{"ivtd_up", "gauge", "1 when up.", 1}};
    const struct ivtd_prom_lv dropped[] = {{"auth", 12}, {"replay", 0.5}};
    ivtd_prom_rows(&p, rows, 1);
    ivtd_prom_by(&p, "ivtd_packets_dropped_total", "counter", "Dropped packets.", "reason", dropped,
                 2);
    assert_string_equal(p.data, by_hand);
    free(by_hand);
    ivtd_prom_reset(&p);
    struct ivtd_hist h = {0};
    ivtd_hist_observe(&h, 5);
    ivtd_hist_observe(&h, 10);
    ivtd_hist_observe(&h, 700);
    ivtd_hist_observe(&h, 5000000);
    ivtd_prom_hist(&p, "lat_seconds", "Latency.", &h);
    assert_non_null(strstr(p.data, "lat_seconds_bucket{le=\"1e-05\"} 2\n"));
    assert_non_null(strstr(p.data, "lat_seconds_bucket{le=\"0.0005\"} 2\n"));
    assert_non_null(strstr(p.data, "lat_seconds_bucket{le=\"0.001\"} 3\n"));
    assert_non_null(strstr(p.data, "lat_seconds_bucket{le=\"1\"} 3\n"));
    assert_non_null(strstr(p.data, "lat_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(p.data, "lat_seconds_count 4\n"));
    assert_non_null(strstr(p.data, "lat_seconds_sum 5.000715\n"));
    /* A bounded buffer fails instead of growing. */
    struct ivtd_prom small;
    ivtd_prom_init(&small, 64);
    for (int i = 0; i < 10; i++)
        ivtd_prom_one(&small, "a_long_metric_name", "gauge", "help text", i);
    assert_true(small.failed);
    assert_true(small.len < 64);
    ivtd_prom_destroy(&small);
    ivtd_prom_destroy(&p);
}

static void render(void *ctx, struct ivtd_prom *p)
{
    int *calls = ctx;
    (*calls)++;
    ivtd_prom_one(p, "ivtd_test_total", "counter", "Test.", 7);
}

/* Sends req, returns the whole response (the server closes after it). */
static void exchange(uv_loop_t *loop, uint16_t port, const char *req, size_t req_len, char *resp,
                     size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    size_t off = 0;
    while (off < req_len) {
        ssize_t w = send(fd, req + off, req_len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno != EAGAIN)
            break; /* the server may close early on an oversized request */
        uv_run(loop, UV_RUN_NOWAIT);
    }
    size_t len = 0;
    for (int i = 0; i < 5000; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        ssize_t n = recv(fd, resp + len, cap - 1 - len, MSG_DONTWAIT);
        if (n == 0)
            break;
        if (n > 0)
            len += (size_t)n;
        else
            usleep(1000);
    }
    resp[len] = 0;
    close(fd);
}

/* A callback counts as slow only past IVTD_SLOW_CB_NS, under its own kind,
 * with its time in the total and the longest kept. */
TEST(node_metrics_slow_callbacks_by_kind)
{
    (void)state;
    struct ivtd_slow_cbs s = {0};
    uint64_t now = uv_hrtime();
    uint64_t after = ivtd_slow_cb_end(&s, IVTD_CB_API, now);
    assert_true(after >= now);
    for (int k = 0; k < IVTD_CB_KINDS; k++)
        assert_int_equal(s.count[k], 0);
    ivtd_slow_cb_end(&s, IVTD_CB_TICK, uv_hrtime() - 3 * (uint64_t)IVTD_SLOW_CB_NS);
    ivtd_slow_cb_end(&s, IVTD_CB_TICK, uv_hrtime() - 2 * (uint64_t)IVTD_SLOW_CB_NS);
    ivtd_slow_cb_end(&s, IVTD_CB_PUSHPULL, uv_hrtime() - 5 * (uint64_t)IVTD_SLOW_CB_NS);
    assert_int_equal(s.count[IVTD_CB_TICK], 2);
    assert_int_equal(s.count[IVTD_CB_PUSHPULL], 1);
    assert_int_equal(s.count[IVTD_CB_API], 0);
    assert_true(s.total_ns[IVTD_CB_TICK] >= 5 * (uint64_t)IVTD_SLOW_CB_NS);
    assert_true(s.max_ns[IVTD_CB_TICK] >= 3 * (uint64_t)IVTD_SLOW_CB_NS);
    assert_true(s.max_ns[IVTD_CB_TICK] < s.total_ns[IVTD_CB_TICK]);
    assert_true(s.max_ns[IVTD_CB_PUSHPULL] >= 5 * (uint64_t)IVTD_SLOW_CB_NS);
    assert_string_equal(ivtd_cb_kind_names[IVTD_CB_PUSHPULL], "pushpull");
}

TEST(node_metrics_http_answers)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int calls = 0;
    struct ivtd_http *h;
    char err[256];
    assert_int_equal(ivtd_http_new(&h, &loop, "127.0.0.1:0", render, &calls, err, sizeof(err)), 0);
    uint16_t port = ivtd_http_port(h);
    static char resp[65536];
    const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    exchange(&loop, port, get, strlen(get), resp, sizeof(resp));
    assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(resp, "\r\n\r\n# HELP ivtd_test_total Test.\n"));
    assert_non_null(strstr(resp, "ivtd_test_total 7\n"));
    assert_int_equal(calls, 1);
    const char *other = "GET / HTTP/1.0\r\n\r\n";
    exchange(&loop, port, other, strlen(other), resp, sizeof(resp));
    assert_non_null(strstr(resp, "HTTP/1.1 404 Not Found"));
    const char *post = "POST /metrics HTTP/1.1\r\n\r\n";
    exchange(&loop, port, post, strlen(post), resp, sizeof(resp));
    assert_non_null(strstr(resp, "HTTP/1.1 405"));
    const char *junk = "\x01\x02garbage\r\n\r\n";
    exchange(&loop, port, junk, strlen(junk), resp, sizeof(resp));
    assert_non_null(strstr(resp, "HTTP/1.1 400"));
    static char huge[20000];
    memset(huge, 'A', sizeof(huge));
    memcpy(huge, "GET /metrics HTTP/1.1\r\nX: ", 26);
    exchange(&loop, port, huge, sizeof(huge), resp, sizeof(resp));
    assert_non_null(strstr(resp, "HTTP/1.1 431"));
    assert_int_equal(calls, 1);
    struct ivtd_http_stats st;
    ivtd_http_get_stats(h, &st);
    assert_int_equal(st.ok, 1);
    assert_int_equal(st.not_found, 1);
    assert_int_equal(st.bad_method, 1);
    assert_int_equal(st.bad_request, 1);
    assert_int_equal(st.too_large, 1);
    /* Binding a port in use fails with a message. */
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
    struct ivtd_http *h2;
    assert_true(ivtd_http_new(&h2, &loop, addr, render, &calls, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "cannot listen"));
    ivtd_http_delete(h);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* What a scrape's bytes ask for, request by request: a Prometheus scrape
 * (with a query string and headers), the wrong path or method, garbage, a
 * header block still arriving, and one that never ends. */
TEST(node_metrics_http_classify)
{
    (void)state;
    static const struct {
        const char *req;
        enum ivtd_http_req want;
    } cases[] = {
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n", IVTD_HTTP_METRICS},
        {"GET /metrics?name[]=up HTTP/1.0\n\n", IVTD_HTTP_METRICS},
        {"GET /metricsx HTTP/1.1\r\n\r\n", IVTD_HTTP_NOT_FOUND},
        {"GET / HTTP/1.1\r\n\r\n", IVTD_HTTP_NOT_FOUND},
        {"POST /metrics HTTP/1.1\r\n\r\n", IVTD_HTTP_BAD_METHOD},
        {"GET /metrics SPDY/3\r\n\r\n", IVTD_HTTP_BAD_REQUEST},
        {"GET\r\n\r\n", IVTD_HTTP_BAD_REQUEST},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\n", IVTD_HTTP_INCOMPLETE},
        {"", IVTD_HTTP_INCOMPLETE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(ivtd_http_classify(cases[i].req, strlen(cases[i].req)), cases[i].want);
    /* A NUL before the blank line hides it: the request never completes,
     * and at IVTD_HTTP_REQ_MAX bytes it is too large. */
    static char big[IVTD_HTTP_REQ_MAX];
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /metrics HTTP/1.1\r\n\0\r\n\r\n", 28);
    assert_int_equal(ivtd_http_classify(big, 28), IVTD_HTTP_INCOMPLETE);
    assert_int_equal(ivtd_http_classify(big, sizeof(big)), IVTD_HTTP_TOO_LARGE);
}
