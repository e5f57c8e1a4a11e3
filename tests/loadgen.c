#define _GNU_SOURCE /* pthread_setaffinity_np: wake pins a sleeper to each CPU */
/*
 * tests/loadgen.c: bin/ivt-loadgen, a load generator for ivtd's API.
 *
 *   ivt-loadgen score   ADDR RATE SECONDS [CONNS [TAG]]  open loop at RATE requests/s
 *                       (LOADGEN_THREADS=N: from N sender threads)
 *                       (TAG, if given, ends every BENCH name: _TAG)
 *   ivt-loadgen observe ADDR BATCH SECONDS [CONNS]  closed loop, pipelined batches
 *   ivt-loadgen fill    ADDR ENTITIES|pool          observe ENTITIES distinct IPs
 *                       (pool: the LOADGEN_IP_POOL addresses score draws from)
 *   ivt-loadgen sync    ADDR SECONDS [TAG]          one score at a time, each sent
 *                       when the last reply came (a synchronous client)
 *   ivt-loadgen wake    SECONDS                     no server: how late this host
 *                       wakes a thread that sleeps 100 us, one on each CPU (the
 *                       host's own floor), and whether the CPUs stall together
 *
 * score is open loop: request i is due at start + i / RATE, whether or not
 * earlier replies came back, and its latency is counted from when it was
 * due, not from when it was sent. A stalled server therefore shows up in
 * the percentiles instead of slowing the generator down with it (the
 * coordinated-omission trap). Replies come back in order per connection
 * (docs/protocol.md), so each connection keeps a queue of due times.
 *
 * Output: BENCH lines (tests/bench/bench.h's format) on stdout.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/mp.h"
#include "base/rng.h"
#include "node/config.h"
#include "tests/loadgen.h"

enum {
    MAX_CONNS = LOADGEN_MAX_CONNS,
    RBUF = 1 << 20,
    OBSERVE_DEPTH = 4 /* batches in flight per connection in observe mode */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct conn {
    int fd;
    uint8_t *rbuf;
    size_t rlen;
    uint64_t *due; /* ring of due times of requests in flight */
    size_t head, tail, cap;
    struct ivt_mpw w; /* bytes not yet sent */
    size_t woff;
};

/* A unix socket ("unix:/path"): what an ad server on the same host as its
 * ivtd would use; no TCP stack, so the kernel's share per request is
 * smaller than over loopback TCP. */
static int dial_unix(const char *path)
{
    struct sockaddr_un un;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(un.sun_path)) {
        fprintf(stderr, "ivt-loadgen: socket path too long: %s\n", path);
        exit(2);
    }
    memcpy(un.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) != 0) {
        fprintf(stderr, "ivt-loadgen: cannot connect to unix:%s: %s\n", path, strerror(errno));
        exit(3);
    }
    return fd;
}

static int dial(const char *addr)
{
    if (strncmp(addr, "unix:", 5) == 0)
        return dial_unix(addr + 5);
    struct sockaddr_storage ss;
    if (ivtd_sockaddr_parse(&ss, addr) != 0) {
        fprintf(stderr, "ivt-loadgen: expected ip:port or unix:/path, got %s\n", addr);
        exit(2);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    socklen_t len =
        ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) != 0) {
        fprintf(stderr, "ivt-loadgen: cannot connect to %s: %s\n", addr, strerror(errno));
        exit(3);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void conn_init(struct conn *c, const char *addr, size_t inflight)
{
    memset(c, 0, sizeof(*c));
    c->fd = dial(addr);
    c->rbuf = malloc(RBUF);
    c->cap = inflight;
    c->due = calloc(inflight, sizeof(uint64_t));
    ivt_mpw_init_dyn(&c->w, 64 << 20);
    if (!c->rbuf || !c->due) {
        fprintf(stderr, "ivt-loadgen: out of memory\n");
        exit(1);
    }
}

static void conn_destroy(struct conn *c)
{
    close(c->fd);
    free(c->rbuf);
    free(c->due);
    ivt_mpw_destroy(&c->w);
}

static size_t inflight(const struct conn *c)
{
    return c->tail - c->head;
}

/* Sends what is buffered without blocking. */
static void pump_out(struct conn *c)
{
    while (c->woff < c->w.len) {
        ssize_t n =
            send(c->fd, c->w.data + c->woff, c->w.len - c->woff, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            fprintf(stderr, "ivt-loadgen: send: %s\n", strerror(errno));
            exit(3);
        }
        c->woff += (size_t)n;
    }
    ivt_mpw_reset(&c->w);
    c->woff = 0;
}

/* Reads replies, in order; each one's latency (us from its due time) goes
 * to lat[] and, when by_id is given, to by_id[msgid] (the score runs' msgid
 * is the request's index). Returns replies read. */
static size_t pump_in(struct conn *c, uint32_t *lat, size_t *n_lat, size_t lat_cap, uint32_t *by_id,
                      uint64_t *errors)
{
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, MSG_DONTWAIT);
    if (n == 0) {
        fprintf(stderr, "ivt-loadgen: the server closed the connection\n");
        exit(3);
    }
    if (n < 0)
        return 0;
    c->rlen += (size_t)n;
    uint64_t t = now_ns();
    size_t off = 0, got = 0;
    for (;;) {
        long len = ivt_mp_value_len(c->rbuf + off, c->rlen - off);
        if (len <= 0)
            break;
        const uint8_t *p = c->rbuf + off, *end = p + len;
        uint32_t items;
        uint64_t type, id = UINT64_MAX; /* a reply without an id lands in no row */
        if (ivt_mp_read_array(&p, end, &items) == 0 && ivt_mp_read_uint(&p, end, &type) == 0 &&
            ivt_mp_read_uint(&p, end, &id) == 0 && ivt_mp_peek(p, end) != IVT_MP_NIL)
            (*errors)++;
        uint64_t due = c->due[c->head % c->cap];
        c->head++;
        uint32_t us = (uint32_t)((t > due ? t - due : 0) / 1000);
        if (lat && *n_lat < lat_cap)
            lat[(*n_lat)++] = us;
        if (by_id && id < lat_cap)
            by_id[id] = us;
        off += (size_t)len;
        got++;
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
    return got;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double v, const char *unit)
{
    printf("BENCH %s %.6g %s\n", name, v, unit);
    fflush(stdout);
}

/* Sleeps until a connection is ready or timeout_ns passed, and says which
 * connections have bytes to read (recv on the others would only return
 * EAGAIN: a system call for nothing, half of them at 20,000/s). The timeout
 * is in nanoseconds: poll()'s milliseconds would round a 10 us gap to 0 and
 * spin a core that the daemon under test needs. */
static void wait_io(struct conn *cs, int nc, uint64_t timeout_ns, bool *readable)
{
    struct pollfd pf[MAX_CONNS];
    for (int i = 0; i < nc; i++) {
        pf[i].fd = cs[i].fd;
        pf[i].events = POLLIN | (cs[i].w.len > cs[i].woff ? POLLOUT : 0);
        pf[i].revents = 0;
    }
    struct timespec ts = {(time_t)(timeout_ns / 1000000000ULL), (long)(timeout_ns % 1000000000ULL)};
    if (ppoll(pf, (nfds_t)nc, &ts, NULL) < 0) {
        for (int i = 0; i < nc; i++)
            readable[i] = true;
        return;
    }
    for (int i = 0; i < nc; i++)
        readable[i] = (pf[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
}

static void report_tagged(const char *what, unsigned rate, const char *tag, double v,
                          const char *unit)
{
    char name[128];
    snprintf(name, sizeof(name), "daemon_score_%s_at_%u_per_s%s%s", what, rate, tag[0] ? "_" : "",
             tag);
    report(name, v, unit);
}

/* The p50/p99/p999/max of n sorted latencies, as what_p50 ... what_max. */
static void report_quantiles(const char *what, unsigned rate, const char *tag, const uint32_t *v,
                             size_t n)
{
    static const struct {
        const char *tag;
        double q;
    } qs[] = {{"p50", 0.50}, {"p99", 0.99}, {"p999", 0.999}};
    char name[64];
    for (size_t i = 0; i < 3 && n; i++) {
        snprintf(name, sizeof(name), "%s%s", what, qs[i].tag);
        report_tagged(name, rate, tag, v[(size_t)(qs[i].q * (double)(n - 1))], "us");
    }
    snprintf(name, sizeof(name), "%smax", what);
    report_tagged(name, rate, tag, n ? v[n - 1] : 0, "us");
}

enum { TIMELINE_NS = 10000000, SLOW_US = 1000 }; /* 10 ms rows; "slow": over 1 ms */

/*
 * LOADGEN_TIMELINE=FILE: when the slow requests were due, as CSV rows of
 * TIMELINE_NS (wall-clock ms of the row's start, so it lines up with the
 * daemons' log timestamps; requests due; over SLOW_US; their max; the
 * generator's max send lag). A p99 says how many were slow; this says
 * whether they came in one stall or spread out, and when.
 */
static void write_timeline(const char *path, const uint32_t *by_id, const uint32_t *slag,
                           size_t sent, uint64_t start, double period)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "ivt-loadgen: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t wall_ns = (uint64_t)wall.tv_sec * 1000000000ULL + (uint64_t)wall.tv_nsec;
    uint64_t wall_start = wall_ns - (now_ns() - start);
    fprintf(f, "wall_ms,due,slow,max_us,send_lag_max_us\n");
    size_t i = 0;
    while (i < sent) {
        uint64_t row = (uint64_t)((double)i * period) / TIMELINE_NS;
        size_t due = 0, slow = 0;
        uint32_t max = 0, lag = 0;
        for (; i < sent && (uint64_t)((double)i * period) / TIMELINE_NS == row; i++) {
            due++;
            slow += by_id[i] > SLOW_US;
            max = by_id[i] > max ? by_id[i] : max;
            lag = slag[i] > lag ? slag[i] : lag;
        }
        fprintf(f, "%llu,%zu,%zu,%u,%u\n",
                (unsigned long long)((wall_start + row * TIMELINE_NS) / 1000000), due, slow, max,
                lag);
    }
    fclose(f);
}

/* One sender thread's share of a score run: requests i with i % threads ==
 * part, round-robin over its own connections. Parts write disjoint entries
 * of the shared per-request arrays. */
struct score_part {
    pthread_t th;
    int part, threads, nc;
    struct conn *cs;
    size_t total; /* requests of the whole run */
    uint64_t start;
    double period;
    uint32_t *slag, *by_id;
    uint64_t errors;
};

static void *score_part_main(void *arg)
{
    struct score_part *sp = arg;
    struct conn *cs = sp->cs;
    int nc = sp->nc;
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 42 + (uint64_t)sp->part); /* part 0: the one-thread run's draws */
    size_t step = (size_t)sp->threads, next = (size_t)sp->part, k = 0;
    size_t mine = sp->total > next ? (sp->total - next + step - 1) / step : 0;
    size_t answered = 0;
    uint64_t end_wait = 0;
    bool readable[MAX_CONNS];
    for (int i = 0; i < nc; i++)
        readable[i] = true;
    while (answered < mine) {
        uint64_t t = now_ns();
        /* Every request of this part due by now goes out. */
        while (next < sp->total && sp->start + (uint64_t)((double)next * sp->period) <= t) {
            struct conn *c = &cs[k++ % (size_t)nc];
            uint64_t due = sp->start + (uint64_t)((double)next * sp->period);
            ivt_mpw_array(&c->w, 4);
            ivt_mpw_uint(&c->w, 0);
            ivt_mpw_uint(&c->w, next);
            ivt_mpw_str(&c->w, "score", 5);
            ivt_mpw_array(&c->w, 1);
            loadgen_write_event(&c->w, &rng, (uint32_t)ivt_rng_below(&rng, LOADGEN_IP_POOL));
            c->due[c->tail % c->cap] = due;
            c->tail++;
            sp->slag[next] = (uint32_t)((t - due) / 1000);
            next += step;
        }
        for (int i = 0; i < nc; i++) {
            pump_out(&cs[i]);
            if (readable[i])
                answered += pump_in(&cs[i], NULL, NULL, sp->total, sp->by_id, &sp->errors);
        }
        if (next >= sp->total && !end_wait)
            end_wait = now_ns() + 10000000000ULL;
        if (end_wait && now_ns() > end_wait)
            break; /* replies lost: counted by the caller */
        uint64_t due = next < sp->total ? sp->start + (uint64_t)((double)next * sp->period)
                                        : now_ns() + 1000000;
        uint64_t t2 = now_ns();
        wait_io(cs, nc, due > t2 ? due - t2 : 0, readable);
    }
    return NULL;
}

/*
 * Besides the latencies (from when each request was due to when its reply
 * was read), it reports what tells the generator's share of them apart:
 * send_lag, how late each request was written to its socket (the generator
 * woke late: its own scheduling, or a host that gave it no core), and the
 * CPU the generator used. A request never answered counts with the latency
 * it had when the run gave up on it, so lost replies raise the tail instead
 * of leaving it.
 *
 * LOADGEN_THREADS=N (default 1, at most CONNS) sends from N threads, each
 * with its share of the connections and requests, as an ad server's request
 * threads each hold their own connection: a stall of the vCPU one of them
 * runs on then delays its share of the requests, not all of them.
 */
static int run_score(const char *addr, double rate, double secs, int nc, const char *tag)
{
    struct conn cs[MAX_CONNS];
    size_t total = (size_t)(rate * secs);
    const char *th_env = getenv("LOADGEN_THREADS");
    int threads = th_env ? atoi(th_env) : 1;
    threads = threads < 1 ? 1 : threads > nc ? nc : threads;
    for (int i = 0; i < nc; i++)
        conn_init(&cs[i], addr, total / (size_t)nc + 2);
    uint32_t *lat = malloc(total * sizeof(uint32_t));
    uint32_t *slag = malloc(total * sizeof(uint32_t));
    /* Latency by request (unanswered ones stay UINT32_MAX): for the
     * timeline and for the latency from when each request was written. */
    const char *timeline = getenv("LOADGEN_TIMELINE");
    if (timeline && !timeline[0])
        timeline = NULL;
    uint32_t *by_id = malloc(total * sizeof(uint32_t));
    struct score_part *parts = calloc((size_t)threads, sizeof(*parts));
    if (!lat || !slag || !by_id || !parts) {
        fprintf(stderr, "ivt-loadgen: out of memory\n");
        exit(1);
    }
    memset(by_id, 0xff, total * sizeof(uint32_t));
    struct rusage ru0;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t start = now_ns() + 100000000ULL; /* 100 ms to settle */
    double period = 1e9 / rate;
    /* Each part holds a block of the connections, as even as they divide. */
    struct conn *pcs = cs;
    for (int p = 0; p < threads; p++) {
        int n = nc / threads + (p < nc % threads);
        parts[p] = (struct score_part){.part = p,
                                       .threads = threads,
                                       .nc = n,
                                       .cs = pcs,
                                       .total = total,
                                       .start = start,
                                       .period = period,
                                       .slag = slag,
                                       .by_id = by_id};
        pcs += n;
    }
    int started = 0;
    for (int p = 1; p < threads; p++, started++)
        if (pthread_create(&parts[p].th, NULL, score_part_main, &parts[p]) != 0) {
            fprintf(stderr, "ivt-loadgen: cannot start sender thread %d\n", p);
            exit(1);
        }
    score_part_main(&parts[0]);
    for (int p = 1; p <= started; p++)
        pthread_join(parts[p].th, NULL);
    struct rusage ru1;
    getrusage(RUSAGE_SELF, &ru1);
    uint64_t t_end = now_ns(), errors = 0;
    for (int p = 0; p < threads; p++)
        errors += parts[p].errors;
    free(parts);
    /* From due time; a request never answered counts until now. */
    size_t unanswered = 0;
    for (size_t i = 0; i < total; i++) {
        uint64_t due = start + (uint64_t)((double)i * period);
        unanswered += by_id[i] == UINT32_MAX;
        lat[i] = by_id[i] != UINT32_MAX ? by_id[i] : (uint32_t)((t_end - due) / 1000);
    }
    if (timeline)
        write_timeline(timeline, by_id, slag, total, start, period);
    /* From when each request was written instead of when it was due: the
     * generator's own send lag (it shares the host, and a vCPU it runs on
     * stalls as the daemon's does) taken out. What the generator is late
     * to read still counts. by_id becomes that latency, in place. */
    for (size_t i = 0; i < total; i++)
        if (by_id[i] != UINT32_MAX)
            by_id[i] = by_id[i] > slag[i] ? by_id[i] - slag[i] : 0;
    qsort(by_id, total, sizeof(uint32_t), cmp_u32);
    qsort(lat, total, sizeof(uint32_t), cmp_u32);
    qsort(slag, total, sizeof(uint32_t), cmp_u32);
    unsigned r = (unsigned)rate;
    report_quantiles("", r, tag, lat, total);
    report_quantiles("from_write_", r, tag, by_id, total);
    free(by_id);
    report_tagged("achieved", r, tag, (double)(total - unanswered) / secs, "req/s");
    report_tagged("unanswered", r, tag, (double)unanswered, "requests");
    report_tagged("send_lag_p99", r, tag, total ? slag[(size_t)(0.99 * (double)(total - 1))] : 0,
                  "us");
    report_tagged("send_lag_max", r, tag, total ? slag[total - 1] : 0, "us");
    report_tagged("loadgen_threads", r, tag, threads, "threads");
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    report_tagged("loadgen_cpu", r, tag, 100.0 * cpu / ((double)(t_end - start) / 1e9), "%");
    if (errors || unanswered)
        fprintf(stderr, "ivt-loadgen: %llu error replies, %zu of %zu answered\n",
                (unsigned long long)errors, total - unanswered, total);
    free(lat);
    free(slag);
    for (int i = 0; i < nc; i++)
        conn_destroy(&cs[i]);
    return errors ? 1 : 0;
}

static int run_observe(const char *addr, int batch, double secs, int nc, uint32_t distinct)
{
    struct conn cs[MAX_CONNS];
    for (int i = 0; i < nc; i++)
        conn_init(&cs[i], addr, OBSERVE_DEPTH + 1);
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 7);
    uint64_t errors = 0, batches = 0, next_ip = 0;
    uint64_t start = now_ns(), stop = start + (uint64_t)(secs * 1e9);
    bool fill = distinct > 0;
    bool readable[MAX_CONNS];
    for (int i = 0; i < nc; i++)
        readable[i] = true;
    for (;;) {
        bool done = fill ? next_ip >= distinct : now_ns() >= stop;
        size_t open = 0;
        for (int i = 0; i < nc; i++) {
            struct conn *c = &cs[i];
            while (!done && inflight(c) < OBSERVE_DEPTH) {
                ivt_mpw_array(&c->w, 4);
                ivt_mpw_uint(&c->w, 0);
                ivt_mpw_uint(&c->w, c->tail);
                ivt_mpw_str(&c->w, "observe", 7);
                ivt_mpw_array(&c->w, 1);
                ivt_mpw_array(&c->w, (uint32_t)batch);
                for (int k = 0; k < batch; k++)
                    loadgen_write_event(&c->w, &rng,
                                        fill ? (uint32_t)(next_ip++ % (1u << 24))
                                             : (uint32_t)ivt_rng_below(&rng, LOADGEN_IP_POOL));
                c->due[c->tail % c->cap] = now_ns();
                c->tail++;
                done = fill ? next_ip >= distinct : now_ns() >= stop;
            }
            pump_out(c);
            if (readable[i])
                batches += pump_in(c, NULL, NULL, 0, NULL, &errors);
            open += inflight(c);
        }
        if (done && open == 0)
            break;
        wait_io(cs, nc, 10000000, readable);
    }
    double el = (double)(now_ns() - start) / 1e9;
    if (fill) {
        report("daemon_fill_events_per_s", (double)distinct / el, "events/s");
    } else {
        char name[64];
        snprintf(name, sizeof(name), "daemon_observe_batch_%d_events_per_s", batch);
        report(name, (double)batches * batch / el, "events/s");
    }
    if (errors)
        fprintf(stderr, "ivt-loadgen: %llu error replies\n", (unsigned long long)errors);
    for (int i = 0; i < nc; i++)
        conn_destroy(&cs[i]);
    return errors ? 1 : 0;
}

/*
 * A synchronous client: one connection, one request in flight, the next
 * sent as soon as the reply to the last one is read. What a server does
 * to a client that waits for each answer (read coalescing must not make
 * it wait a window per request) shows here as throughput and latency.
 */
static int run_sync(const char *addr, double secs, const char *tag)
{
    struct conn c;
    conn_init(&c, addr, 2);
    size_t cap = 1u << 22, n_lat = 0;
    uint32_t *lat = malloc(cap * sizeof(uint32_t));
    if (!lat) {
        fprintf(stderr, "ivt-loadgen: out of memory\n");
        exit(1);
    }
    struct ivt_rng rng;
    ivt_rng_seed(&rng, 42);
    uint64_t errors = 0, start = now_ns(), stop = start + (uint64_t)(secs * 1e9);
    for (uint64_t id = 0; now_ns() < stop && n_lat < cap; id++) {
        ivt_mpw_array(&c.w, 4);
        ivt_mpw_uint(&c.w, 0);
        ivt_mpw_uint(&c.w, id);
        ivt_mpw_str(&c.w, "score", 5);
        ivt_mpw_array(&c.w, 1);
        loadgen_write_event(&c.w, &rng, (uint32_t)ivt_rng_below(&rng, LOADGEN_IP_POOL));
        c.due[c.tail % c.cap] = now_ns();
        c.tail++;
        pump_out(&c);
        while (inflight(&c)) {
            struct pollfd pf = {c.fd, POLLIN | (c.w.len > c.woff ? POLLOUT : 0), 0};
            poll(&pf, 1, 1000);
            pump_out(&c);
            pump_in(&c, lat, &n_lat, cap, NULL, &errors);
        }
    }
    double el = (double)(now_ns() - start) / 1e9;
    qsort(lat, n_lat, sizeof(uint32_t), cmp_u32);
    char name[96];
    snprintf(name, sizeof(name), "daemon_sync_score_per_s%s%s", tag[0] ? "_" : "", tag);
    report(name, (double)n_lat / el, "req/s");
    snprintf(name, sizeof(name), "daemon_sync_score_p99%s%s", tag[0] ? "_" : "", tag);
    report(name, n_lat ? lat[(size_t)(0.99 * (double)(n_lat - 1))] : 0, "us");
    free(lat);
    conn_destroy(&c);
    return errors ? 1 : 0;
}

/*
 * The host's floor under every latency above: a thread on each CPU sleeps
 * WAKE_GAP_NS again and again on an otherwise idle host and counts how late
 * it wakes. On a virtual machine a vCPU that halted (idle) runs again only
 * when the hypervisor schedules it, and a wake-up that comes milliseconds
 * late there delays every request due meanwhile, whatever the server does.
 * Whether the late wake-ups of different CPUs overlap in time says whether
 * the host stalls one vCPU at a time (then a second thread on the other
 * CPU would keep serving) or the whole machine. Run before the daemons
 * start, so their work is not in it.
 */
enum {
    WAKE_GAP_NS = 100000,
    WAKE_CPUS_MAX = 16,   /* sleepers; more CPUs than that are left out */
    WAKE_LATE_MAX = 4096, /* late wake-ups kept per CPU for the overlap count */
    WAKE_LATE_NS = 1000000
};

struct wake_stall {
    uint64_t from, to; /* the sleep that woke over WAKE_LATE_NS late, as now_ns() */
};

struct wake_thread {
    pthread_t th;
    int cpu;
    uint64_t end, worst;
    size_t n, over_100us, over_1ms;
    struct wake_stall stalls[WAKE_LATE_MAX];
};

static void *wake_main(void *arg)
{
    struct wake_thread *w = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* unpinned if refused */
    while (now_ns() < w->end) {
        struct timespec ts = {0, WAKE_GAP_NS};
        uint64_t t0 = now_ns();
        ppoll(NULL, 0, &ts, NULL);
        uint64_t t1 = now_ns(), late = t1 - t0;
        late = late > WAKE_GAP_NS ? late - WAKE_GAP_NS : 0;
        w->n++;
        w->over_100us += late > 100000;
        if (late > WAKE_LATE_NS && w->over_1ms < WAKE_LATE_MAX)
            w->stalls[w->over_1ms] = (struct wake_stall){t0, t1};
        w->over_1ms += late > WAKE_LATE_NS;
        w->worst = late > w->worst ? late : w->worst;
    }
    return NULL;
}

static int run_wake(double secs)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int ncpu = online < 1 ? 1 : online > WAKE_CPUS_MAX ? WAKE_CPUS_MAX : (int)online;
    struct wake_thread *ws = calloc((size_t)ncpu, sizeof(*ws));
    if (!ws) {
        fprintf(stderr, "ivt-loadgen: out of memory\n");
        return 1;
    }
    uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
    int started = 0;
    for (int i = 0; i < ncpu; i++) {
        ws[i].cpu = i;
        ws[i].end = end;
        if (pthread_create(&ws[i].th, NULL, wake_main, &ws[i]) != 0)
            break;
        started++;
    }
    size_t n = 0, over_100us = 0, over_1ms = 0, together = 0;
    uint64_t worst = 0;
    for (int i = 0; i < started; i++)
        pthread_join(ws[i].th, NULL);
    for (int i = 0; i < started; i++) {
        const struct wake_thread *w = &ws[i];
        n += w->n;
        over_100us += w->over_100us;
        over_1ms += w->over_1ms;
        worst = w->worst > worst ? w->worst : worst;
        size_t kept = w->over_1ms < WAKE_LATE_MAX ? w->over_1ms : WAKE_LATE_MAX;
        for (size_t a = 0; a < kept; a++) {
            bool met = false;
            for (int j = 0; j < started && !met; j++) {
                const struct wake_thread *o = &ws[j];
                size_t okept = o->over_1ms < WAKE_LATE_MAX ? o->over_1ms : WAKE_LATE_MAX;
                for (size_t b = 0; j != i && b < okept && !met; b++)
                    met =
                        w->stalls[a].from < o->stalls[b].to && o->stalls[b].from < w->stalls[a].to;
            }
            together += met;
        }
    }
    free(ws);
    report("host_wake_cpus", (double)started, "threads");
    report("host_wake_sleeps", (double)n, "sleeps");
    report("host_wake_late_over_100us", (double)over_100us, "sleeps");
    report("host_wake_late_over_1ms", (double)over_1ms, "sleeps");
    /* Of those over 1 ms, the ones during which another CPU's sleeper was
     * also over 1 ms late: the share of stalls that took the whole VM. */
    report("host_wake_late_over_1ms_together", (double)together, "sleeps");
    report("host_wake_late_max", (double)worst / 1000, "us");
    return 0;
}

int main(int argc, char **argv)
{
    struct loadgen_args o;
    char msg[LOADGEN_MSG_MAX];
    if (loadgen_args_parse(&o, argc, argv, msg, sizeof(msg))) {
        fprintf(stderr, "ivt-loadgen: %s\n", msg);
        loadgen_usage(stderr);
        return 2;
    }
    switch (o.mode) {
    case LOADGEN_WAKE: return run_wake(o.secs);
    case LOADGEN_SYNC: return run_sync(o.addr, o.secs, o.tag);
    case LOADGEN_SCORE: return run_score(o.addr, o.rate, o.secs, o.conns, o.tag);
    case LOADGEN_OBSERVE: return run_observe(o.addr, o.batch, o.secs, o.conns, 0);
    case LOADGEN_FILL: return run_observe(o.addr, o.batch, 0, o.conns, o.distinct);
    }
    return 2;
}
