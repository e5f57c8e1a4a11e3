/*
 * node/metrics.h: Prometheus text rendering, a latency histogram, an
 * event-loop lag probe, and a minimal HTTP/1.1 server for GET /metrics.
 *
 * The HTTP server is deliberately tiny: it reads one request of at most
 * IVTD_HTTP_REQ_MAX bytes, answers GET /metrics (200), any other path (404),
 * any other method (405) or a malformed or oversized request (400, 431), and
 * closes the connection. A client that does not finish its request within
 * IVTD_HTTP_TIMEOUT_MS is closed. Every outcome is counted.
 *
 * Shell code (libuv).
 */
#ifndef IVT_NODE_METRICS_H
#define IVT_NODE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* ---- text format --------------------------------------------------------- */

/* A growable text buffer with a hard maximum; overflow sets failed. */
struct ivtd_prom {
    char *data;
    size_t len, cap, max;
    bool failed;
};

void ivtd_prom_init(struct ivtd_prom *p, size_t max);
void ivtd_prom_destroy(struct ivtd_prom *p);
void ivtd_prom_reset(struct ivtd_prom *p);

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram). */
void ivtd_prom_family(struct ivtd_prom *p, const char *name, const char *type, const char *help);
/* One sample line: name{labels} value. labels is "k=\"v\",k2=\"v2\"" or NULL. */
void ivtd_prom_sample(struct ivtd_prom *p, const char *name, const char *labels, double value);
/* A family with a single unlabelled sample. */
void ivtd_prom_one(struct ivtd_prom *p, const char *name, const char *type, const char *help,
                   double value);

/* Families of one unlabelled sample each, in table order: what most of a
 * scrape is, written as a table rather than a call per family. */
struct ivtd_prom_row {
    const char *name, *type, *help;
    double value;
};
void ivtd_prom_rows(struct ivtd_prom *p, const struct ivtd_prom_row *rows, size_t n);

/* One family with a sample per row, each labelled key="label":
 * name{key="label"} value. */
struct ivtd_prom_lv {
    const char *label;
    double value;
};
void ivtd_prom_by(struct ivtd_prom *p, const char *name, const char *type, const char *help,
                  const char *key, const struct ivtd_prom_lv *rows, size_t n);

/* ---- histogram ------------------------------------------------------------ */

enum { IVTD_HIST_BUCKETS = 14 };

/* Upper bounds in microseconds: 10 us .. 1 s, in 1-2.5-5 steps. */
extern const uint32_t ivtd_hist_bounds_us[IVTD_HIST_BUCKETS];

struct ivtd_hist {
    uint64_t buckets[IVTD_HIST_BUCKETS + 1]; /* the last one is +Inf */
    uint64_t count;
    double sum_us;
};

void ivtd_hist_observe(struct ivtd_hist *h, uint64_t us);
/* Renders a histogram family in seconds (the Prometheus base unit). */
void ivtd_prom_hist(struct ivtd_prom *p, const char *name, const char *help,
                    const struct ivtd_hist *h);

/* ---- event-loop lag -------------------------------------------------------- */

/* A repeating timer that measures how late it fires: the time the loop was
 * busy with something else when it should have run the timer. */
struct ivtd_lag {
    uv_timer_t timer;
    uint64_t expected_ns;
    uint64_t last_us, max_us;
    struct ivtd_hist hist;
};

int ivtd_lag_start(struct ivtd_lag *lag, uv_loop_t *loop);
/* Stops the timer; the caller runs the loop until the handle is closed. */
void ivtd_lag_stop(struct ivtd_lag *lag);

/* ---- slow callbacks ---------------------------------------------------------- */

/* The lag probe says that the loop was late; this says what held it. Each
 * callback of the loop that can run long is timed (two uv_hrtime reads:
 * vDSO clock reads, no system call), and one that took over IVTD_SLOW_CB_NS counts under its kind:
 * how many, their total and the longest, and a debug log line with the
 * time, so a latency spike in the scores can be matched with what the loop
 * was doing then. The time is wall time on the loop thread: a callback the
 * kernel preempted counts the wait too (ivtd_runqueue_wait tells them
 * apart over a whole run). */
enum ivtd_cb_kind {
    IVTD_CB_API,      /* reading and answering ad-server requests */
    IVTD_CB_CONTROL,  /* the control socket */
    IVTD_CB_TICK,     /* node_tick: gossip rounds, flushes, paced merges, epoch rolls */
    IVTD_CB_PUSHPULL, /* push-pull stream bytes in (digests, answers) */
    IVTD_CB_GOSSIP,   /* one gossip datagram in (opened, decoded, merged) */
    IVTD_CB_SNAPSHOT, /* a step of the periodic snapshot */
    IVTD_CB_KINDS
};

enum { IVTD_SLOW_CB_NS = 1000000 }; /* 1 ms: the score p99 target; one such callback is a miss */

extern const char *const ivtd_cb_kind_names[IVTD_CB_KINDS];

struct ivtd_slow_cbs {
    uint64_t count[IVTD_CB_KINDS];
    uint64_t total_ns[IVTD_CB_KINDS];
    uint64_t max_ns[IVTD_CB_KINDS];
};

/* Ends a callback timed from t0 (uv_hrtime()); returns the time now. */
uint64_t ivtd_slow_cb_end(struct ivtd_slow_cbs *s, enum ivtd_cb_kind kind, uint64_t t0);

/* ---- HTTP ------------------------------------------------------------------ */

enum {
    IVTD_HTTP_REQ_MAX = 8192,       /* a GET with ordinary headers is far smaller */
    IVTD_HTTP_TIMEOUT_MS = 10000,   /* a scrape that has not sent its request by now never will */
    IVTD_HTTP_MAX_CONNS = 64,       /* Prometheus scrapes one at a time */
    IVTD_METRICS_TEXT_MAX = 8 << 20 /* rendering stops (500) past this */
};

/* What a request's bytes so far ask for (ivtd_http_classify). */
enum ivtd_http_req {
    IVTD_HTTP_INCOMPLETE,  /* no blank line yet: read more */
    IVTD_HTTP_TOO_LARGE,   /* no blank line within IVTD_HTTP_REQ_MAX bytes: 431 */
    IVTD_HTTP_BAD_REQUEST, /* not "METHOD TARGET HTTP/1.x": 400 */
    IVTD_HTTP_BAD_METHOD,  /* not GET: 405 */
    IVTD_HTTP_NOT_FOUND,   /* a path other than /metrics: 404 */
    IVTD_HTTP_METRICS      /* GET /metrics (any query string): 200 */
};

/* Classifies the len bytes of a request read so far (any bytes; a NUL ends
 * the header block early, as it would a C string). Pure: the server's
 * parser, apart so that it can be fuzzed. */
enum ivtd_http_req ivtd_http_classify(const char *req, size_t len);

struct ivtd_http;

/* Fills p with the metrics text (called for every GET /metrics). */
typedef void (*ivtd_metrics_render_fn)(void *ctx, struct ivtd_prom *p);

struct ivtd_http_stats {
    uint64_t ok, not_found, bad_method, bad_request, too_large, timeouts, rejected;
};

/*
 * Serves GET /metrics on "ip:port" (port 0 picks one). On failure err says
 * why. Returns 0 on success, or one of these negative codes: IVT_EINVAL (a
 * bad address), IVT_EEXIST (cannot bind), IVT_ENOMEM.
 */
int ivtd_http_new(struct ivtd_http **out, uv_loop_t *loop, const char *addr,
                  ivtd_metrics_render_fn render, void *ctx, char *err, size_t cap);
uint16_t ivtd_http_port(const struct ivtd_http *h);
void ivtd_http_get_stats(const struct ivtd_http *h, struct ivtd_http_stats *out);
/* Closes everything; freed once the loop has released the handles. */
void ivtd_http_delete(struct ivtd_http *h);

#endif
