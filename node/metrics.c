/*
 * node/metrics.c: Prometheus text format, histograms, loop lag, and the
 * GET /metrics server (see node/metrics.h).
 *
 * The HTTP part reads at most IVTD_HTTP_REQ_MAX bytes per connection into a
 * fixed buffer inside the connection (no allocation driven by the client),
 * looks only at the request line once the header block is complete, answers
 * and closes. Nothing else of HTTP is needed by a Prometheus scraper, so
 * nothing else is implemented: no keep-alive, no chunked bodies, no ranges.
 */
#include "node/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "node/config.h"
#include "node/log.h"

enum { IVTD_HTTP_HEAD_MAX = 512 }; /* our status line and three headers */

/* ---- text format ------------------------------------------------------------ */

void ivtd_prom_init(struct ivtd_prom *p, size_t max)
{
    memset(p, 0, sizeof(*p));
    p->max = max;
}

void ivtd_prom_destroy(struct ivtd_prom *p)
{
    free(p->data);
    memset(p, 0, sizeof(*p));
}

void ivtd_prom_reset(struct ivtd_prom *p)
{
    p->len = 0;
    p->failed = false;
    if (p->data)
        p->data[0] = 0;
}

static void prom_printf(struct ivtd_prom *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void prom_printf(struct ivtd_prom *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    for (;;) {
        size_t room = p->cap - p->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(p->data ? p->data + p->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            p->failed = true;
            return;
        }
        if ((size_t)n < room) {
            p->len += (size_t)n;
            return;
        }
        size_t want = p->cap ? p->cap * 2 : 4096;
        while (want < p->len + (size_t)n + 1)
            want *= 2;
        if (want > p->max)
            want = p->max;
        if (want < p->len + (size_t)n + 1) {
            p->failed = true;
            return;
        }
        char *nd = realloc(p->data, want);
        if (!nd) {
            p->failed = true;
            return;
        }
        p->data = nd;
        p->cap = want;
    }
}

void ivtd_prom_family(struct ivtd_prom *p, const char *name, const char *type, const char *help)
{
    prom_printf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_value(struct ivtd_prom *p, double v)
{
    if (isinf(v))
        prom_printf(p, v > 0 ? "+Inf\n" : "-Inf\n");
    else if (isnan(v))
        prom_printf(p, "NaN\n");
    else if (v == floor(v) && fabs(v) < 1e15)
        prom_printf(p, "%.0f\n", v);
    else
        prom_printf(p, "%.9g\n", v);
}

void ivtd_prom_sample(struct ivtd_prom *p, const char *name, const char *labels, double value)
{
    if (labels && labels[0])
        prom_printf(p, "%s{%s} ", name, labels);
    else
        prom_printf(p, "%s ", name);
    prom_value(p, value);
}

void ivtd_prom_one(struct ivtd_prom *p, const char *name, const char *type, const char *help,
                   double value)
{
    ivtd_prom_family(p, name, type, help);
    ivtd_prom_sample(p, name, NULL, value);
}

void ivtd_prom_rows(struct ivtd_prom *p, const struct ivtd_prom_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ivtd_prom_one(p, rows[i].name, rows[i].type, rows[i].help, rows[i].value);
}

void ivtd_prom_by(struct ivtd_prom *p, const char *name, const char *type, const char *help,
                  const char *key, const struct ivtd_prom_lv *rows, size_t n)
{
    ivtd_prom_family(p, name, type, help);
    for (size_t i = 0; i < n; i++) {
        char label[96];
        snprintf(label, sizeof(label), "%s=\"%s\"", key, rows[i].label);
        ivtd_prom_sample(p, name, label, rows[i].value);
    }
}

/* ---- histogram ---------------------------------------------------------------- */

const uint32_t ivtd_hist_bounds_us[IVTD_HIST_BUCKETS] = {
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 250000, 1000000};

void ivtd_hist_observe(struct ivtd_hist *h, uint64_t us)
{
    size_t i = 0;
    while (i < IVTD_HIST_BUCKETS && us > ivtd_hist_bounds_us[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum_us += (double)us;
}

void ivtd_prom_hist(struct ivtd_prom *p, const char *name, const char *help,
                    const struct ivtd_hist *h)
{
    ivtd_prom_family(p, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i <= IVTD_HIST_BUCKETS; i++) {
        cum += h->buckets[i];
        if (i < IVTD_HIST_BUCKETS)
            prom_printf(p, "%s_bucket{le=\"%g\"} %llu\n", name, ivtd_hist_bounds_us[i] / 1e6,
                        (unsigned long long)cum);
        else
            prom_printf(p, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    prom_printf(p, "%s_sum %.9g\n%s_count %llu\n", name, h->sum_us / 1e6, name,
                (unsigned long long)h->count);
}

/* ---- loop lag ------------------------------------------------------------------ */

enum { LAG_PERIOD_MS = 100 }; /* fine enough to see a stall, cheap enough to ignore */

static void on_lag(uv_timer_t *t)
{
    struct ivtd_lag *lag = t->data;
    uint64_t now = uv_hrtime();
    uint64_t late = now > lag->expected_ns ? (now - lag->expected_ns) / 1000 : 0;
    lag->last_us = late;
    if (late > lag->max_us)
        lag->max_us = late;
    ivtd_hist_observe(&lag->hist, late);
    lag->expected_ns = now + (uint64_t)LAG_PERIOD_MS * 1000000;
}

int ivtd_lag_start(struct ivtd_lag *lag, uv_loop_t *loop)
{
    memset(lag, 0, sizeof(*lag));
    uv_timer_init(loop, &lag->timer);
    lag->timer.data = lag;
    lag->expected_ns = uv_hrtime() + (uint64_t)LAG_PERIOD_MS * 1000000;
    return uv_timer_start(&lag->timer, on_lag, LAG_PERIOD_MS, LAG_PERIOD_MS) == 0 ? 0 : IVT_EINVAL;
}

void ivtd_lag_stop(struct ivtd_lag *lag)
{
    uv_timer_stop(&lag->timer);
    uv_close((uv_handle_t *)&lag->timer, NULL);
}

/* ---- slow callbacks -------------------------------------------------------------- */

const char *const ivtd_cb_kind_names[IVTD_CB_KINDS] = {"api",      "control", "tick",
                                                       "pushpull", "gossip",  "snapshot"};

uint64_t ivtd_slow_cb_end(struct ivtd_slow_cbs *s, enum ivtd_cb_kind kind, uint64_t t0)
{
    uint64_t now = uv_hrtime();
    uint64_t ns = now - t0;
    if (ns <= IVTD_SLOW_CB_NS)
        return now;
    s->count[kind]++;
    s->total_ns[kind] += ns;
    if (ns > s->max_ns[kind])
        s->max_ns[kind] = ns;
    ivtd_log(IVTD_LOG_DEBUG, "slow callback", "kind=%s ms=%.3f", ivtd_cb_kind_names[kind],
             (double)ns / 1e6);
    return now;
}

/* ---- HTTP -------------------------------------------------------------------- */

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct ivtd_http *srv;
    struct http_conn *prev, *next;
    uv_write_t wreq;
    struct ivtd_prom reply;
    int open_handles; /* tcp and timer: freed when both are closed */
    bool closing;
    size_t len;
    char req[IVTD_HTTP_REQ_MAX + 1];
};

struct ivtd_http {
    uv_tcp_t listener;
    uv_loop_t *loop;
    ivtd_metrics_render_fn render;
    void *ctx;
    struct ivtd_http_stats stats;
    struct http_conn *list;
    size_t conns;
    size_t handles;
    bool deleting;
};

static void http_maybe_free(struct ivtd_http *h)
{
    if (h->deleting && h->handles == 0)
        free(h);
}

static void on_http_handle_close(uv_handle_t *hd)
{
    struct http_conn *c = hd->data;
    struct ivtd_http *h = c->srv;
    h->handles--;
    if (--c->open_handles == 0) {
        ivtd_prom_destroy(&c->reply);
        free(c);
        h->conns--;
    }
    http_maybe_free(h);
}

static void http_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct ivtd_http *h = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_http_handle_close);
    uv_close((uv_handle_t *)&c->tcp, on_http_handle_close);
}

static void on_http_written(uv_write_t *req, int status)
{
    (void)status;
    http_close(req->data);
}

static void prom_append(struct ivtd_prom *p, const char *data, size_t n)
{
    if (p->failed)
        return;
    if (p->cap - p->len < n + 1) {
        size_t want = p->len + n + 1;
        if (want > p->max) {
            p->failed = true;
            return;
        }
        char *nd = realloc(p->data, want);
        if (!nd) {
            p->failed = true;
            return;
        }
        p->data = nd;
        p->cap = want;
    }
    memcpy(p->data + p->len, data, n);
    p->len += n;
    p->data[p->len] = 0;
}

/* Head and body go out in one buffer owned by the connection until written. */
static void http_respond(struct http_conn *c, int code, const char *reason, const char *ctype,
                         const char *body, size_t body_len)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    ivtd_prom_reset(&c->reply);
    prom_printf(&c->reply,
                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Connection: close\r\n\r\n",
                code, reason, ctype, body_len);
    prom_append(&c->reply, body, body_len);
    if (c->reply.failed) {
        http_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init(c->reply.data, (unsigned)c->reply.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_http_written) != 0)
        http_close(c);
}

static void http_text(struct http_conn *c, int code, const char *reason, const char *body)
{
    http_respond(c, code, reason, "text/plain; charset=utf-8", body, strlen(body));
}

enum ivtd_http_req ivtd_http_classify(const char *req, size_t len)
{
    /* A copy ends at len whatever the bytes: the request is read as text. */
    char text[IVTD_HTTP_REQ_MAX + 1];
    size_t n = len < IVTD_HTTP_REQ_MAX ? len : IVTD_HTTP_REQ_MAX;
    memcpy(text, req, n);
    text[n] = 0;
    if (!strstr(text, "\r\n\r\n") && !strstr(text, "\n\n"))
        return len >= IVTD_HTTP_REQ_MAX ? IVTD_HTTP_TOO_LARGE : IVTD_HTTP_INCOMPLETE;
    char method[16], target[256], version[16];
    if (sscanf(text, "%15s %255s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0)
        return IVTD_HTTP_BAD_REQUEST;
    if (strcmp(method, "GET") != 0)
        return IVTD_HTTP_BAD_METHOD;
    char *q = strchr(target, '?');
    if (q)
        *q = 0;
    return strcmp(target, "/metrics") == 0 ? IVTD_HTTP_METRICS : IVTD_HTTP_NOT_FOUND;
}

/* Answers once the header block is complete. */
static void http_handle(struct http_conn *c)
{
    struct ivtd_http *h = c->srv;
    switch (ivtd_http_classify(c->req, c->len)) {
    case IVTD_HTTP_INCOMPLETE: return;
    case IVTD_HTTP_TOO_LARGE:
        h->stats.too_large++;
        http_text(c, 431, "Request Header Fields Too Large", "request too large\n");
        return;
    case IVTD_HTTP_BAD_REQUEST:
        h->stats.bad_request++;
        http_text(c, 400, "Bad Request", "bad request\n");
        return;
    case IVTD_HTTP_BAD_METHOD:
        h->stats.bad_method++;
        http_text(c, 405, "Method Not Allowed", "only GET\n");
        return;
    case IVTD_HTTP_NOT_FOUND:
        h->stats.not_found++;
        http_text(c, 404, "Not Found", "not found: try /metrics\n");
        return;
    case IVTD_HTTP_METRICS: break;
    }
    h->stats.ok++;
    struct ivtd_prom body;
    ivtd_prom_init(&body, IVTD_METRICS_TEXT_MAX);
    h->render(h->ctx, &body);
    if (body.failed) {
        ivtd_prom_destroy(&body);
        http_text(c, 500, "Internal Server Error", "metrics text too large\n");
        return;
    }
    http_respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                 body.data ? body.data : "", body.len);
    ivtd_prom_destroy(&body);
}

static void on_http_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct http_conn *c = hd->data;
    buf->base = c->req + c->len;
    buf->len = IVTD_HTTP_REQ_MAX - c->len;
}

static void on_http_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct http_conn *c = st->data;
    if (c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_ENOBUFS) {
            c->srv->stats.too_large++;
            http_text(c, 431, "Request Header Fields Too Large", "request too large\n");
            return;
        }
        http_close(c);
        return;
    }
    c->len += (size_t)nread;
    http_handle(c);
}

static void on_http_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    c->srv->stats.timeouts++;
    http_close(c);
}

static void on_reject_close(uv_handle_t *hd)
{
    struct ivtd_http *h = hd->data;
    free(hd);
    h->handles--;
    http_maybe_free(h);
}

static void on_http_connection(uv_stream_t *server, int status)
{
    struct ivtd_http *h = server->data;
    if (status < 0 || h->deleting)
        return;
    if (h->conns >= IVTD_HTTP_MAX_CONNS) {
        uv_tcp_t *t = malloc(sizeof(*t));
        if (!t)
            return;
        uv_tcp_init(h->loop, t);
        t->data = h;
        h->handles++;
        uv_accept(server, (uv_stream_t *)t);
        h->stats.rejected++;
        uv_close((uv_handle_t *)t, on_reject_close);
        return;
    }
    struct http_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = h;
    ivtd_prom_init(&c->reply, IVTD_METRICS_TEXT_MAX + IVTD_HTTP_HEAD_MAX);
    uv_tcp_init(h->loop, &c->tcp);
    uv_timer_init(h->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    h->handles += 2;
    h->conns++;
    c->next = h->list;
    if (h->list)
        h->list->prev = c;
    h->list = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_http_alloc, on_http_read) != 0) {
        http_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_http_timeout, IVTD_HTTP_TIMEOUT_MS, 0);
}

static void on_listener_close(uv_handle_t *hd)
{
    struct ivtd_http *h = hd->data;
    h->handles--;
    http_maybe_free(h);
}

int ivtd_http_new(struct ivtd_http **out, uv_loop_t *loop, const char *addr,
                  ivtd_metrics_render_fn render, void *ctx, char *err, size_t cap)
{
    struct sockaddr_storage ss;
    if (ivtd_sockaddr_parse(&ss, addr) != 0) {
        snprintf(err, cap, "%s: expected \"ip:port\"", addr);
        return IVT_EINVAL;
    }
    struct ivtd_http *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, cap, "%s: out of memory", addr);
        return IVT_ENOMEM;
    }
    h->loop = loop;
    h->render = render;
    h->ctx = ctx;
    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    h->handles = 1;
    int r = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&h->listener, 64, on_http_connection);
    if (r != 0) {
        snprintf(err, cap, "%s: cannot listen: %s", addr, uv_strerror(r));
        h->deleting = true;
        uv_close((uv_handle_t *)&h->listener, on_listener_close);
        return IVT_EEXIST;
    }
    *out = h;
    return 0;
}

uint16_t ivtd_http_port(const struct ivtd_http *h)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

void ivtd_http_get_stats(const struct ivtd_http *h, struct ivtd_http_stats *out)
{
    *out = h->stats;
}

void ivtd_http_delete(struct ivtd_http *h)
{
    if (!h)
        return;
    h->deleting = true;
    uv_close((uv_handle_t *)&h->listener, on_listener_close);
    while (h->list)
        http_close(h->list);
    http_maybe_free(h);
}
