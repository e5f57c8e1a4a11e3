/*
 * node/daemon.c: ivtd, the libuv host of the node core.
 *
 * The core decides everything; this file moves bytes and time:
 *
 *   UDP datagram ----------> node_receive(from, bytes, now, wall)
 *   deadline timer --------> node_tick(now, wall)
 *   after either ----------> node_outbox -> uv_udp_try_send
 *                            gossip_stream_poll_connect -> uv_tcp_connect
 *                            gossip_stream_output -> uv_write
 *                            node_next_deadline -> re-arm the one timer
 *   TCP on the same port --> gossip_stream_accept / _receive (push-pull)
 *   RPC (node/rpc.c) ------> node_score / node_observe / ... (node/api.c)
 *   snapshot timer --------> node_snapshot_begin, then node_snapshot_step
 *                            every 2 ms (a timer); the bytes are written
 *                            on the thread pool
 *   SIGTERM / SIGINT ------> node_leave, a short grace so it spreads, save, exit 0
 *   SIGHUP ----------------> re-read the file: log level, limits, thresholds,
 *                            rules, keys added to the keyring file
 *
 * `now` is uv_now() (monotonic, cached per loop iteration); `wall` is
 * CLOCK_REALTIME. Start-up order matters: the generation is raised and
 * saved before the node exists, so a crash at any later point still gives
 * the next run a new generation (a fresh evidence origin).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/checkout.h"
#include "base/err.h"
#include "base/mp.h"
#include "node/hugemem.h"
#include "node/ivtd.h"
#include "node/log.h"
#include "node/persist.h"
#include "node/rules.h"

enum {
    LEAVE_GRACE_MS = 1500,        /* gossip rounds for the leave to spread before exit */
    RATE_PERIOD_MS = 1000,        /* events/s and gossip bytes/s are averaged over this */
    SNAPSHOT_MAX = 1 << 30,       /* a snapshot larger than 1 GiB is a bug, not evidence */
    DATA_FILE_MAX = 64 << 20,     /* rules data files: the shipped ones are a few MiB */
    KEYRING_FILE_MAX = 64 * 1024, /* 16 keys of 45 bytes, with room for comments */
    UDP_BUFFER = 4 << 20          /* socket buffers: absorb bursts while the loop scores */
};

struct ivtd_stream {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct ivtd *d;
    struct ivtd_stream *prev, *next;
    uint32_t sid;
    size_t writes_pending;
    bool open;    /* connected (outgoing) or accepted */
    bool closing; /* gossip_stream_close called, handle closing */
    uint8_t buf[IVTD_STREAM_CHUNK];
};

struct stream_write {
    uv_write_t req;
    struct ivtd_stream *s;
    uint8_t data[];
};

/* ---- time and addresses --------------------------------------------------- */

ivt_ms ivtd_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (ivt_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ivt_ms ivtd_wall_turn(struct ivtd *d)
{
    uint64_t t = uv_now(d->loop);
    if (t != d->wall_turn_at || d->wall_turn == 0) {
        d->wall_turn_at = t;
        d->wall_turn = ivtd_wall();
    }
    return d->wall_turn;
}

ivt_ms ivtd_now(const struct ivtd *d)
{
    return (ivt_ms)uv_now(d->loop);
}

int ivtd_addr_from_sockaddr(struct gossip_addr *out, const struct sockaddr *sa)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        out->family = 4;
        out->port = ntohs(v4->sin_port);
        memcpy(out->bytes, &v4->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        out->port = ntohs(v6->sin6_port);
        /* A v4 peer on a dual-stack socket: keep one spelling per address,
         * or the member table would hold it twice. */
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
            out->family = 4;
            memcpy(out->bytes, (const uint8_t *)&v6->sin6_addr + 12, 4);
        } else {
            out->family = 6;
            memcpy(out->bytes, &v6->sin6_addr, 16);
        }
        return 0;
    }
    return IVT_EINVAL;
}

void ivtd_addr_to_sockaddr(struct sockaddr_storage *out, const struct gossip_addr *a,
                           bool v6_socket)
{
    memset(out, 0, sizeof(*out));
    if (a->family == 4 && !v6_socket) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)out;
        v4->sin_family = AF_INET;
        v4->sin_port = htons(a->port);
        memcpy(&v4->sin_addr, a->bytes, 4);
        return;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(a->port);
    if (a->family == 4) {
        uint8_t *b = (uint8_t *)&v6->sin6_addr;
        b[10] = b[11] = 0xff;
        memcpy(b + 12, a->bytes, 4);
    } else {
        memcpy(&v6->sin6_addr, a->bytes, 16);
    }
}

void ivtd_addr_format(char *out, size_t cap, const struct gossip_addr *a)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->family == 4)
        inet_ntop(AF_INET, a->bytes, ip, sizeof(ip));
    else if (a->family == 6)
        inet_ntop(AF_INET6, a->bytes, ip, sizeof(ip));
    snprintf(out, cap, a->family == 6 ? "[%s]:%u" : "%s:%u", ip, a->port);
}

static bool bound_v6(const struct ivtd *d)
{
    return d->cfg.bind[0] == '[';
}

/* ---- push-pull streams ----------------------------------------------------- */

static void stream_flush(struct ivtd_stream *s);

static void on_stream_closed(uv_handle_t *h)
{
    free(h->data);
}

static void stream_unlink(struct ivtd_stream *s)
{
    struct ivtd *d = s->d;
    if (s->prev)
        s->prev->next = s->next;
    else
        d->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

/* Ends a stream once: the core forgets it, the handle closes. */
static void stream_end(struct ivtd_stream *s)
{
    if (s->closing)
        return;
    s->closing = true;
    struct ivtd *d = s->d;
    stream_unlink(s);
    if (d->node)
        gossip_stream_close(node_gossip(d->node), s->sid, ivtd_now(d));
    uv_close((uv_handle_t *)&s->tcp, on_stream_closed);
}

static struct ivtd_stream *stream_new(struct ivtd *d, uint32_t sid)
{
    struct ivtd_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->d = d;
    s->sid = sid;
    uv_tcp_init(d->loop, &s->tcp);
    s->tcp.data = s;
    s->next = d->streams;
    if (d->streams)
        d->streams->prev = s;
    d->streams = s;
    return s;
}

static void on_stream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct ivtd_stream *s = h->data;
    *buf = uv_buf_init((char *)s->buf, sizeof(s->buf));
}

static void on_stream_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct ivtd_stream *s = st->data;
    struct ivtd *d = s->d;
    if (nread == 0 || s->closing)
        return;
    if (nread < 0) {
        /* The peer finished (or failed): whatever the core still wanted to
         * say is moot without a reader. */
        uv_read_stop(st);
        if (!gossip_stream_done(node_gossip(d->node), s->sid)) {
            d->c.streams_failed++;
            ivtd_log(IVTD_LOG_DEBUG, "push-pull stream ended early", "sid=%u err=%s", s->sid,
                     uv_err_name((int)nread));
        }
        stream_end(s);
        ivtd_pump(d);
        return;
    }
    uint64_t t0 = uv_hrtime();
    int rc = gossip_stream_receive(node_gossip(d->node), s->sid, (const uint8_t *)buf->base,
                                   (size_t)nread, ivtd_now(d));
    if (rc < 0 && rc != IVT_ENOENT) {
        d->c.streams_failed++;
        ivtd_log(IVTD_LOG_DEBUG, "push-pull stream failed", "sid=%u err=%s", s->sid,
                 ivt_errname(rc));
    }
    ivtd_pump(d);
    ivtd_slow_cb_end(&d->slow, IVTD_CB_PUSHPULL, t0);
}

static void on_stream_written(uv_write_t *req, int status)
{
    struct stream_write *w = (struct stream_write *)req;
    struct ivtd_stream *s = w->s;
    free(w);
    s->writes_pending--;
    if (s->closing)
        return;
    if (status < 0) {
        s->d->c.streams_failed++;
        stream_end(s);
        return;
    }
    stream_flush(s);
}

/* Moves the core's output to the socket; ends the stream when it is done. */
static void stream_flush(struct ivtd_stream *s)
{
    struct ivtd *d = s->d;
    if (!s->open || s->closing)
        return;
    struct gossip *g = node_gossip(d->node);
    for (;;) {
        size_t n = gossip_stream_output(g, s->sid, s->buf, sizeof(s->buf));
        if (n == 0)
            break;
        struct stream_write *w = malloc(sizeof(*w) + n);
        if (!w) {
            stream_end(s);
            return;
        }
        w->s = s;
        memcpy(w->data, s->buf, n);
        uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
        if (uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_stream_written) != 0) {
            free(w);
            d->c.streams_failed++;
            stream_end(s);
            return;
        }
        s->writes_pending++;
    }
    if (s->writes_pending == 0 && gossip_stream_done(g, s->sid))
        stream_end(s);
}

static void on_stream_connect(uv_connect_t *req, int status)
{
    struct ivtd_stream *s = req->data;
    if (s->closing)
        return;
    if (status < 0) {
        s->d->c.streams_failed++;
        if (ivtd_log_enabled(IVTD_LOG_DEBUG)) {
            struct sockaddr_storage ss;
            int len = sizeof(ss);
            struct gossip_addr to;
            char a[64] = "?";
            if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) == 0 &&
                ivtd_addr_from_sockaddr(&to, (struct sockaddr *)&ss) == 0)
                ivtd_addr_format(a, sizeof(a), &to);
            ivtd_log(IVTD_LOG_DEBUG, "push-pull connect failed", "sid=%u to=%s err=%s", s->sid, a,
                     uv_err_name(status));
        }
        stream_end(s);
        ivtd_pump(s->d);
        return;
    }
    s->open = true;
    uv_read_start((uv_stream_t *)&s->tcp, on_stream_alloc, on_stream_read);
    ivtd_pump(s->d);
}

static void on_pushpull_connection(uv_stream_t *server, int status)
{
    struct ivtd *d = server->data;
    if (status < 0)
        return;
    struct ivtd_stream *s = stream_new(d, 0);
    if (!s)
        return;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    struct gossip_addr from;
    if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0 || d->stopping ||
        uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) != 0 ||
        ivtd_addr_from_sockaddr(&from, (struct sockaddr *)&ss) != 0 ||
        gossip_stream_accept(node_gossip(d->node), &s->sid, &from, ivtd_now(d)) != 0) {
        /* Never the core's: close the handle without gossip_stream_close. */
        d->c.streams_refused++;
        s->closing = true;
        stream_unlink(s);
        uv_close((uv_handle_t *)&s->tcp, on_stream_closed);
        return;
    }
    s->open = true;
    if (ivtd_log_enabled(IVTD_LOG_DEBUG)) {
        char a[64];
        ivtd_addr_format(a, sizeof(a), &from);
        ivtd_log(IVTD_LOG_DEBUG, "push-pull accepted", "sid=%u from=%s", s->sid, a);
    }
    uv_read_start((uv_stream_t *)&s->tcp, on_stream_alloc, on_stream_read);
    ivtd_pump(d);
}

static void open_streams(struct ivtd *d)
{
    struct gossip *g = node_gossip(d->node);
    uint32_t sid;
    struct gossip_addr to;
    while (gossip_stream_poll_connect(g, &sid, &to) == 1) {
        struct ivtd_stream *s = stream_new(d, sid);
        if (!s) {
            gossip_stream_close(g, sid, ivtd_now(d));
            continue;
        }
        struct sockaddr_storage ss;
        ivtd_addr_to_sockaddr(&ss, &to, bound_v6(d));
        if (ivtd_log_enabled(IVTD_LOG_DEBUG)) {
            char a[64];
            ivtd_addr_format(a, sizeof(a), &to);
            ivtd_log(IVTD_LOG_DEBUG, "push-pull connect", "sid=%u to=%s", sid, a);
        }
        s->connect.data = s;
        if (uv_tcp_connect(&s->connect, &s->tcp, (struct sockaddr *)&ss, on_stream_connect) != 0) {
            d->c.streams_failed++;
            stream_end(s);
        }
    }
}

/* ---- the pump ------------------------------------------------------------------ */

static void on_tick(uv_timer_t *t);

/* One line per member change: joins, deaths and departures at info (a
 * death at warn), other updates (incarnation, address, tags) at debug. */
static void log_member_changes(struct ivtd *d)
{
    struct node_member_change ch[16];
    size_t k;
    uint64_t dropped = 0;
    while ((k = node_member_changes(d->node, ch, 16, &dropped)) > 0) {
        for (size_t i = 0; i < k; i++) {
            enum ivtd_log_level lv = !ch[i].state_changed         ? IVTD_LOG_DEBUG
                                     : ch[i].state == GOSSIP_DEAD ? IVTD_LOG_WARN
                                                                  : IVTD_LOG_INFO;
            if (!ivtd_log_enabled(lv))
                continue;
            char addr[64], name[2 * GOSSIP_NAME_MAX];
            ivtd_addr_format(addr, sizeof(addr), &ch[i].addr);
            ivtd_log(lv, ch[i].state_changed ? "member state" : "member updated",
                     "name=%s addr=%s state=%s generation=%u incarnation=%u",
                     ivtd_log_quote(name, sizeof(name), ch[i].name), addr,
                     gossip_state_name(ch[i].state), ch[i].generation, ch[i].incarnation);
        }
        if (dropped)
            ivtd_log(IVTD_LOG_WARN, "member changes not logged", "count=%llu",
                     (unsigned long long)dropped);
    }
}

/* The tick timer at the node's next deadline (stopped when it has none);
 * sooner_only: only if that is earlier than the timer already set. */
static void tick_arm(struct ivtd *d, bool sooner_only)
{
    bool armed = uv_is_active((uv_handle_t *)&d->tick);
    ivt_ms deadline = node_next_deadline(d->node), now = ivtd_now(d);
    if (deadline == IVT_MS_NEVER) {
        if (!sooner_only)
            uv_timer_stop(&d->tick);
        return;
    }
    uint64_t delay = deadline > now ? (uint64_t)(deadline - now) : 0;
    if (!sooner_only || !armed || delay < uv_timer_get_due_in(&d->tick))
        uv_timer_start(&d->tick, on_tick, delay, 0);
}

void ivtd_pump(struct ivtd *d)
{
    if (!d->node)
        return;
    log_member_changes(d);
    size_t n;
    bool v6 = bound_v6(d);
    while ((n = node_outbox(d->node, d->out, IVTD_OUTBOX_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct sockaddr_storage ss;
            ivtd_addr_to_sockaddr(&ss, &d->out[i].to, v6);
            uv_buf_t b = uv_buf_init((char *)d->out[i].data, d->out[i].len);
            /* UDP is lossy by contract: a full socket buffer is one more
             * lost datagram, which SWIM already tolerates. */
            int rc = uv_udp_try_send(&d->udp, &b, 1, (struct sockaddr *)&ss);
            if (rc < 0) {
                d->c.udp_send_errors++;
                if (ivtd_log_enabled(IVTD_LOG_DEBUG)) {
                    char to[64];
                    ivtd_addr_format(to, sizeof(to), &d->out[i].to);
                    ivtd_log(IVTD_LOG_DEBUG, "udp send failed", "to=%s err=%s", to,
                             uv_err_name(rc));
                }
            }
        }
        if (n < IVTD_OUTBOX_BATCH)
            break;
    }
    open_streams(d);
    for (struct ivtd_stream *s = d->streams, *next; s; s = next) {
        next = s->next;
        stream_flush(s);
    }
    tick_arm(d, false);
}

void ivtd_rearm(struct ivtd *d)
{
    /* A tick due within a flush interval flushes what was just observed
     * soon enough; the node's deadline is computed only past that (an
     * idle node's first events). */
    if (d->node && !(uv_is_active((uv_handle_t *)&d->tick) &&
                     uv_timer_get_due_in(&d->tick) <= IVTD_REARM_SLACK_MS))
        tick_arm(d, true);
}

/* The record slab's next bytes to write (a filling store writes it front
 * to back): faulted in off the loop, as the pools' chunks are
 * (node/hugemem.h), so no update clears a huge page of it. */
enum { SLAB_AHEAD = 8 << 20 /* 4 huge pages, ~20,000 records: 50 ms of a 400,000/s fill */ };

static void on_tick(uv_timer_t *t)
{
    struct ivtd *d = t->data;
    uint64_t t0 = uv_hrtime();
    node_tick(d->node, ivtd_now(d), ivtd_wall());
    ivtd_pump(d);
    ivtd_slow_cb_end(&d->slow, IVTD_CB_TICK, t0);
    void *at;
    size_t len;
    node_slab_ahead(d->node, &at, &len, SLAB_AHEAD);
    ivtd_hugemem_ahead(d->mem, at, len);
}

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct ivtd *d = h->data;
    *buf = uv_buf_init((char *)d->rxbuf, sizeof(d->rxbuf));
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
    (void)flags;
    struct ivtd *d = h->data;
    if (nread < 0) {
        d->c.udp_recv_errors++;
        return;
    }
    if (!addr || nread == 0)
        return;
    struct gossip_addr from;
    if (ivtd_addr_from_sockaddr(&from, addr) != 0)
        return;
    uint64_t t0 = uv_hrtime();
    if (node_receive(d->node, &from, (const uint8_t *)buf->base, (size_t)nread, ivtd_now(d),
                     ivtd_wall()) != 0)
        d->c.udp_dropped++;
    ivtd_pump(d);
    ivtd_slow_cb_end(&d->slow, IVTD_CB_GOSSIP, t0);
}

/* ---- state files ----------------------------------------------------------------- */

static void state_path(char *out, size_t cap, const struct ivtd *d, const char *name)
{
    snprintf(out, cap, "%s/%s", d->cfg.state_dir, name);
}

/* The keyring as its file holds it: base64 keys, one a line, primary first. */
static void keyring_text(char *out, size_t cap, const struct gossip_keyring *kr)
{
    size_t len = 0;
    out[0] = 0;
    const struct gossip_key *p = gossip_keyring_primary(kr);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < kr->count; i++) {
            const struct gossip_key *k = &kr->slots[i];
            if ((pass == 0) != (k == p))
                continue;
            char b64[GOSSIP_KEY_BASE64_LEN];
            gossip_key_encode_base64(b64, sizeof(b64), k->key);
            len += (size_t)snprintf(out + len, cap - len, "%s\n", b64);
            sodium_memzero(b64, sizeof(b64));
        }
}

void ivtd_save_keyring(struct ivtd *d)
{
    char text[sizeof(d->keyring_text)], err[IVTD_PERSIST_ERR_MAX];
    keyring_text(text, sizeof(text), gossip_keyring(node_gossip(d->node)));
    if (strcmp(text, d->keyring_text) != 0) {
        /* Small and rare (a key operation): written on the loop. */
        if (ivtd_persist_write(d->cfg.keyring_file, text, strlen(text), 0600, err, sizeof(err)) ==
            0)
            memcpy(d->keyring_text, text, sizeof(text));
        else
            ivtd_log(IVTD_LOG_ERROR, "cannot save the keyring", "err=\"%s\"", err);
    }
    sodium_memzero(text, sizeof(text));
}

/* Reads the keyring file into kr. Returns 0, IVT_ENOENT (no file), or
 * IVT_EPROTO (a line that is not a key; msg says which). */
static int load_keyring(struct gossip_keyring *kr, const char *path, char *msg, size_t cap)
{
    uint8_t *data;
    size_t len;
    int rc = ivtd_persist_read(&data, &len, path, KEYRING_FILE_MAX, msg, cap);
    if (rc)
        return rc;
    rc = ivtd_keyring_parse(kr, (const char *)data, len, path, msg, cap);
    sodium_memzero(data, len);
    free(data);
    return rc;
}

bool ivtd_has_key(const struct ivtd_config *cfg, char *msg, size_t cap)
{
    if (cfg->encrypt.set || access(cfg->keyring_file, R_OK) == 0)
        return true;
    snprintf(msg, cap,
             "no gossip key: gossip is always encrypted. Make a key with `ivtctl keys generate` "
             "and set it on every node as cluster.encrypt = \"<key>\"; in %s (no keyring file "
             "at %s either)",
             cfg->file[0] ? cfg->file : "the configuration", cfg->keyring_file);
    return false;
}

static void on_snapshot_saved(void *ctx, int rc, const char *err)
{
    struct ivtd *d = ctx;
    d->saving = false;
    if (rc) {
        d->c.snapshots_failed++;
        ivtd_log(IVTD_LOG_ERROR, "cannot save the evidence snapshot", "err=\"%s\"", err);
    } else {
        d->c.snapshots_saved++;
        ivtd_log(IVTD_LOG_DEBUG, "evidence snapshot saved", "bytes=%llu",
                 (unsigned long long)d->c.snapshot_bytes);
    }
}

enum {
    /* What a snapshot step encodes: at most 128 store records (2 us a
     * plain record: about 0.25 ms of the loop) and none after the one that
     * takes the step to 64 KiB. A hot publisher's record, its distinct
     * sets promoted in every bucket of the window, encodes some 55 KiB in
     * 0.2 ms (crdt_store_snapshot_hot_record_cpu): with the record bound
     * alone one step of 9 ms was traced. A step delays the requests that
     * arrive meanwhile, so steps are paced: one every SNAPSHOT_STEP_MS
     * (about 12 % of the loop). Run every loop turn instead (an idle
     * handle), they added a quarter of a millisecond to each turn for the
     * whole snapshot: at 100,000 scores/s the loop fell behind for the
     * 2-3 s of a 100,000-entity snapshot and the slowest 0.1 % of scores
     * took 5-15 ms (docs/benchmarks.md). By arithmetic (128 records a
     * step), 100,000 records take 1.6 s and a million some 16 s of a 60 s
     * interval. */
    SNAPSHOT_STEP = 128,
    SNAPSHOT_STEP_BYTES = 64 << 10,
    SNAPSHOT_STEP_MS = 2
};

/* Hands a complete snapshot's bytes to the thread pool, which writes them
 * (atomically: temporary file, fsync, rename) and frees them. */
static void snapshot_write_async(struct ivtd *d, struct ivt_mpw *w)
{
    char path[IVTD_PATH_MAX + 16];
    state_path(path, sizeof(path), d, "evidence");
    d->c.snapshot_bytes = w->len;
    uint8_t *bytes = w->data;
    size_t len = w->len;
    w->data = NULL;
    w->owned = false;
    ivt_mpw_destroy(w);
    d->saving = true;
    if (ivtd_persist_save_async(d->loop, path, bytes, len, 0600, on_snapshot_saved, d) != 0) {
        d->saving = false;
        d->c.snapshots_failed++;
    }
}

static void snapshot_failed(struct ivtd *d, int rc)
{
    d->c.snapshots_failed++;
    ivtd_log(IVTD_LOG_ERROR, "cannot encode the evidence snapshot", "err=%s", ivt_errname(rc));
}

/* Forgets a snapshot still being encoded. */
static void snapshot_abandon(struct ivtd *d)
{
    if (!d->snapping)
        return;
    uv_timer_stop(&d->snap_step);
    ivt_mpw_destroy(&d->snap_w);
    d->snapping = d->saving = false;
}

/* One step of the periodic snapshot (SNAPSHOT_STEP_MS apart). */
static void on_snapshot_step(uv_timer_t *h)
{
    struct ivtd *d = h->data;
    uint64_t t0 = uv_hrtime();
    int rc =
        node_snapshot_step(d->node, &d->snap_w, &d->snap_job, SNAPSHOT_STEP, SNAPSHOT_STEP_BYTES);
    ivtd_slow_cb_end(&d->slow, IVTD_CB_SNAPSHOT, t0);
    if (rc == 1)
        return;
    uv_timer_stop(h);
    d->snapping = false;
    if (rc < 0) {
        snapshot_failed(d, rc);
        ivt_mpw_destroy(&d->snap_w);
        d->saving = false;
        return;
    }
    snapshot_write_async(d, &d->snap_w);
}

/*
 * Periodic saves encode the snapshot a step at a time, SNAPSHOT_STEP_MS
 * apart (the loop polls between the steps, so requests wait behind one
 * step, not behind the store) and write it on the thread pool. Before, a forked child
 * encoded it from a copy-on-write image: after the fork every first write
 * to a page of the store was a copy, some 150 ms of the loop at 100,000
 * scores/s (docs/benchmarks.md). The final save (sync) encodes at once and
 * writes before the daemon exits, replacing one still being encoded.
 */
static void save_snapshot(struct ivtd *d, bool sync)
{
    ivtd_save_keyring(d);
    if (!sync) {
        if (d->saving) {
            d->c.snapshots_skipped++;
            return;
        }
        ivt_mpw_init_dyn(&d->snap_w, SNAPSHOT_MAX);
        int rc = node_snapshot_begin(d->node, &d->snap_w, &d->snap_job);
        if (rc) {
            snapshot_failed(d, rc);
            ivt_mpw_destroy(&d->snap_w);
            return;
        }
        d->snapping = d->saving = true;
        ivtd_log(IVTD_LOG_DEBUG, "evidence snapshot started", NULL);
        uv_timer_start(&d->snap_step, on_snapshot_step, 0, SNAPSHOT_STEP_MS);
        return;
    }
    snapshot_abandon(d);
    char path[IVTD_PATH_MAX + 16], err[IVTD_PERSIST_ERR_MAX];
    state_path(path, sizeof(path), d, "evidence");
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, SNAPSHOT_MAX);
    int rc = node_snapshot(d->node, &w, ivtd_wall());
    if (rc == 0)
        rc = ivt_mpw_error(&w);
    if (rc) {
        snapshot_failed(d, rc);
        ivt_mpw_destroy(&w);
        return;
    }
    d->c.snapshot_bytes = w.len;
    rc = ivtd_persist_write(path, w.data, w.len, 0600, err, sizeof(err));
    on_snapshot_saved(d, rc, err);
    ivt_mpw_destroy(&w);
}

static void on_snapshot_timer(uv_timer_t *t)
{
    save_snapshot(t->data, false);
}

/* ---- rules and thresholds ------------------------------------------------------------ */

/* The shipped data file `name`: the configured path, else node/data/ of
 * the checkout the binary runs from (bin/ivtd, or build/release/bin/ivtd
 * from make release), else the installed copy. */
static void data_path(char *out, size_t cap, const char *configured, const char *name)
{
    if (configured[0]) {
        snprintf(out, cap, "%s", configured);
        return;
    }
    char exe[PATH_MAX], rel[128], root[PATH_MAX + 16];
    size_t n = sizeof(exe);
    snprintf(rel, sizeof(rel), "node/data/%s", name);
    const char *slash = uv_exepath(exe, &n) == 0 ? strrchr(exe, '/') : NULL;
    if (slash && ivt_checkout_root(root, sizeof(root), exe, (size_t)(slash - exe), rel)) {
        int w = snprintf(out, cap, "%s/%s", root, rel);
        if (w > 0 && (size_t)w < cap)
            return;
    }
    snprintf(out, cap, "/usr/share/ivt/%s", name);
}

static int build_rules(struct node_rules **out, const struct ivtd_config *cfg, char *msg,
                       size_t cap)
{
    char cpath[IVTD_PATH_MAX + 64], hpath[IVTD_PATH_MAX + 64];
    data_path(cpath, sizeof(cpath), cfg->crawler_file, "crawler-user-agents.json");
    data_path(hpath, sizeof(hpath), cfg->hosting_file, "hosting-asn-ipv4.csv");
    uint8_t *cj = NULL, *hc = NULL;
    size_t cl = 0, hl = 0;
    int rc = ivtd_persist_read(&cj, &cl, cpath, DATA_FILE_MAX, msg, cap);
    if (rc == 0)
        rc = ivtd_persist_read(&hc, &hl, hpath, DATA_FILE_MAX, msg, cap);
    if (rc == 0) {
        char err[256];
        rc = node_rules_new(out, cj, cl, hc, hl, err, sizeof(err));
        if (rc)
            snprintf(msg, cap, "rules: %s", err);
    }
    free(cj);
    free(hc);
    return rc;
}

static void build_thresholds(struct node_thresholds *th, const struct ivtd_config *cfg)
{
    node_thresholds_defaults(th);
    /* The config field and the threshold share a name; IVTD_UNSET keeps
     * the core's default. */
#define SET_IF(f, type)                                                                            \
    if (cfg->f != IVTD_UNSET)                                                                      \
        th->f = (type)cfg->f;
    SET_IF(th_ip_requests, double)
    SET_IF(th_ip_distinct_ua, double)
    SET_IF(th_device_distinct_ip, double)
    SET_IF(th_prefix_requests, double)
    SET_IF(th_pub_min_requests, double)
    SET_IF(th_pub_datacenter_share, double)
    SET_IF(th_shared_ip_devices, double)
    SET_IF(th_household_devices, double)
    SET_IF(th_shared_events_per_device, double)
    SET_IF(th_shared_ua_per_device, double)
    SET_IF(suspect_score, uint8_t)
    SET_IF(bot_score, uint8_t)
    SET_IF(admit_events, double)
    SET_IF(admit_ip_distinct_ua, double)
    SET_IF(admit_device_distinct_ip, double)
    SET_IF(admit_top_k, uint32_t)
    SET_IF(admit_top_min, uint32_t)
#undef SET_IF
}

/* ---- signals ------------------------------------------------------------------------- */

static void close_all(struct ivtd *d);

static void on_grace_over(uv_timer_t *t)
{
    struct ivtd *d = t->data;
    save_snapshot(d, true);
    ivtd_log(IVTD_LOG_INFO, "stopped", "generation=%u", d->generation);
    close_all(d);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct ivtd *d = h->data;
    if (d->stopping) {
        /* A second signal: the operator does not want to wait. */
        uv_timer_stop(&d->grace);
        on_grace_over(&d->grace);
        return;
    }
    d->stopping = true;
    ivtd_log(IVTD_LOG_INFO, "leaving the cluster", "signal=%s", signum == SIGINT ? "INT" : "TERM");
    node_leave(d->node, ivtd_now(d));
    ivtd_pump(d);
    uv_timer_start(&d->grace, on_grace_over, LEAVE_GRACE_MS, 0);
}

static void reload(struct ivtd *d)
{
    struct ivtd_config *next = malloc(sizeof(*next));
    char err[IVTD_ERR_MAX];
    if (!next)
        return;
    ivtd_config_defaults(next);
    if (ivtd_config_load(next, d->cfg_path, err, sizeof(err)) != 0) {
        d->c.reload_errors++;
        char q[IVTD_ERR_MAX * 2];
        ivtd_log(IVTD_LOG_ERROR, "reload refused: the running settings stay", "err=%s",
                 ivtd_log_quote(q, sizeof(q), err));
        free(next);
        return;
    }
    /* Rules first: a bad data file refuses the whole reload. */
    struct node_rules *rules = NULL;
    if (build_rules(&rules, next, err, sizeof(err)) != 0) {
        d->c.reload_errors++;
        char q[IVTD_ERR_MAX * 2];
        ivtd_log(IVTD_LOG_ERROR, "reload refused: the running settings stay", "err=%s",
                 ivtd_log_quote(q, sizeof(q), err));
        free(next);
        return;
    }
    struct node_thresholds th;
    build_thresholds(&th, next);
    if (node_set_thresholds(d->node, &th) != 0) {
        d->c.reload_errors++;
        ivtd_log(IVTD_LOG_ERROR, "reload refused: thresholds out of range", NULL);
        node_rules_delete(rules);
        free(next);
        return;
    }
    d->th = th;
    node_set_rules(d->node, rules);
    node_rules_delete(d->rules);
    d->rules = rules;
    ivtd_log_set_level(next->log_level);
    struct ivtd_rpc_limits lim = {next->api_max_frame, next->api_max_connections,
                                  next->api_coalesce_us};
    if (d->api)
        ivtd_rpc_set_limits(d->api, &lim);
    lim.coalesce_us = 0; /* ivtctl's few requests never wait */
    if (d->control)
        ivtd_rpc_set_limits(d->control, &lim);
    if (next->snapshot_interval != d->cfg.snapshot_interval)
        uv_timer_start(&d->snap, on_snapshot_timer, (uint64_t)next->snapshot_interval,
                       (uint64_t)next->snapshot_interval);
    /* Keys added to the keyring file join the live keyring (locally: an
     * operator adds the same key on every node, or uses ivtctl keys). */
    struct gossip_keyring kr;
    int installed = 0;
    if (load_keyring(&kr, next->keyring_file, err, sizeof(err)) == 0) {
        struct gossip_keyring *live = gossip_keyring(node_gossip(d->node));
        for (size_t i = 0; i < kr.count; i++)
            installed += gossip_keyring_install(live, kr.slots[i].key) == 0;
        gossip_keyring_destroy(&kr);
    }
    /* Keys SIGHUP cannot apply are named, not silently ignored. */
    const char *restart = NULL;
    if (strcmp(next->bind, d->cfg.bind) || strcmp(next->advertise, d->cfg.advertise))
        restart = "cluster.bind/advertise";
    else if (strcmp(next->state_dir, d->cfg.state_dir) || strcmp(next->name, d->cfg.name))
        restart = "node.name/state_dir";
    else if (strcmp(next->label, d->cfg.label) || next->profile != d->cfg.profile)
        restart = "cluster.label/profile";
    else if (memcmp(next->api_listen, d->cfg.api_listen, sizeof(next->api_listen)) ||
             strcmp(next->control_socket, d->cfg.control_socket) ||
             strcmp(next->metrics_listen, d->cfg.metrics_listen))
        restart = "api.listen/control.socket/metrics.listen";
    else if (next->epoch_ms != d->cfg.epoch_ms || next->window_ms != d->cfg.window_ms ||
             next->max_entities != d->cfg.max_entities)
        restart = "evidence.*";
    else if (next->packet_size != d->cfg.packet_size || next->full_digests != d->cfg.full_digests ||
             next->cipher != d->cfg.cipher)
        restart = "gossip.*";
    if (restart)
        ivtd_log(IVTD_LOG_WARN, "some changed keys need a restart", "keys=%s", restart);
    d->cfg.log_level = next->log_level;
    d->cfg.api_max_frame = next->api_max_frame;
    d->cfg.api_max_connections = next->api_max_connections;
    d->cfg.api_coalesce_us = next->api_coalesce_us;
    d->cfg.snapshot_interval = next->snapshot_interval;
    memcpy(d->cfg.keyring_file, next->keyring_file, sizeof(d->cfg.keyring_file));
    d->c.reloads++;
    ivtd_log(IVTD_LOG_INFO, "reloaded", "keys_installed=%d", installed);
    ivtd_save_keyring(d);
    free(next);
}

static void on_hup(uv_signal_t *h, int signum)
{
    (void)signum;
    reload(h->data);
}

static void on_rate(uv_timer_t *t)
{
    struct ivtd *d = t->data;
    struct gossip_stats gs;
    uint64_t events = node_events_observed(d->node);
    gossip_get_stats(node_gossip(d->node), &gs);
    double secs = RATE_PERIOD_MS / 1000.0;
    d->events_per_s = (double)(events - d->rate_events) / secs;
    d->gossip_bytes_per_s = (double)(gs.bytes_out - d->rate_gossip_bytes) / secs;
    d->rate_events = events;
    d->rate_gossip_bytes = gs.bytes_out;
}

/* ---- metrics -------------------------------------------------------------------------- */

/* What held the loop: callbacks over IVTD_SLOW_CB_NS, by kind. */
static void slow_cb_metrics(struct ivtd_prom *p, const struct ivtd_slow_cbs *s)
{
    static const struct {
        const char *name, *type, *help;
    } fam[3] = {
        {"ivtd_event_loop_slow_callbacks_total", "counter",
         "Loop callbacks that ran over 1 ms, by kind (api, control, tick, pushpull, gossip, "
         "snapshot)."},
        {"ivtd_event_loop_slow_callback_seconds_total", "counter", "Time those callbacks took."},
        {"ivtd_event_loop_slow_callback_max_seconds", "gauge", "The longest of them, by kind."}};
    for (int f = 0; f < 3; f++) {
        ivtd_prom_family(p, fam[f].name, fam[f].type, fam[f].help);
        for (int k = 0; k < IVTD_CB_KINDS; k++) {
            char label[32];
            snprintf(label, sizeof(label), "kind=\"%s\"", ivtd_cb_kind_names[k]);
            double v = f == 0   ? (double)s->count[k]
                       : f == 1 ? (double)s->total_ns[k] / 1e9
                                : (double)s->max_ns[k] / 1e9;
            ivtd_prom_sample(p, fam[f].name, label, v);
        }
    }
}

/* The families every rpc server adds a sample to, labelled iface="api" or
 * iface="control": declared once in ivtd_render_metrics. */
enum { RPC_REJECT_REASONS = 6 };
static const char *const rpc_reject_reasons[RPC_REJECT_REASONS] = {
    "max_connections", "too_big", "malformed", "unknown_method", "notification_error", "paused"};

static void rpc_metrics(struct ivtd_prom *p, const char *iface, const struct ivtd_rpc *r)
{
    if (!r)
        return;
    struct ivtd_rpc_stats st;
    ivtd_rpc_get_stats(r, &st);
    char l[128];
    snprintf(l, sizeof(l), "iface=\"%s\"", iface);
    const struct {
        const char *name;
        double value;
    } plain[] = {
        {"ivtd_rpc_requests_total", (double)st.requests},
        {"ivtd_rpc_notifications_total", (double)st.notifications},
        {"ivtd_rpc_error_replies_total", (double)st.error_replies},
        {"ivtd_rpc_connections_open", (double)st.open},
        {"ivtd_rpc_connections_total", (double)st.accepted},
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        ivtd_prom_sample(p, plain[i].name, l, plain[i].value);
    const uint64_t rejected[RPC_REJECT_REASONS] = {
        st.rejected_connections, st.frames_too_big,      st.malformed,
        st.unknown_method,       st.notification_errors, st.read_paused};
    for (size_t i = 0; i < RPC_REJECT_REASONS; i++) {
        snprintf(l, sizeof(l), "iface=\"%s\",reason=\"%s\"", iface, rpc_reject_reasons[i]);
        ivtd_prom_sample(p, "ivtd_rpc_rejected_total", l, (double)rejected[i]);
    }
    snprintf(l, sizeof(l), "iface=\"%s\",dir=\"in\"", iface);
    ivtd_prom_sample(p, "ivtd_rpc_bytes_total", l, (double)st.bytes_in);
    snprintf(l, sizeof(l), "iface=\"%s\",dir=\"out\"", iface);
    ivtd_prom_sample(p, "ivtd_rpc_bytes_total", l, (double)st.bytes_out);
    snprintf(l, sizeof(l), "iface=\"%s\"", iface);
    ivtd_prom_sample(p, "ivtd_rpc_coalesce_waits_total", l, (double)st.coalesce_waits);
    ivtd_prom_sample(p, "ivtd_rpc_coalesce_wait_seconds_total", l,
                     (double)st.coalesce_wait_ns / 1e9);
}

#define ROWS(a) (a), (sizeof(a) / sizeof((a)[0]))

/* Gossip's families: datagrams, bytes, members, failure detection. */
static void gossip_metrics(struct ivtd_prom *p, const struct ivtd *d, struct gossip *g)
{
    struct gossip_stats gs;
    gossip_get_stats(g, &gs);
    const struct ivtd_prom_lv packets[] = {{"in", (double)gs.packets_in},
                                           {"out", (double)gs.packets_out}};
    ivtd_prom_by(p, "ivtd_gossip_packets_total", "counter", "Gossip datagrams.", "dir",
                 ROWS(packets));
    struct ivtd_prom_lv dropped[GOSSIP_DROP_REASONS + 2];
    for (int r = 0; r < GOSSIP_DROP_REASONS; r++)
        dropped[r] =
            (struct ivtd_prom_lv){gossip_drop_name((enum gossip_drop)r), (double)gs.dropped[r]};
    dropped[GOSSIP_DROP_REASONS] =
        (struct ivtd_prom_lv){"send_failed", (double)d->c.udp_send_errors};
    dropped[GOSSIP_DROP_REASONS + 1] =
        (struct ivtd_prom_lv){"recv_error", (double)d->c.udp_recv_errors};
    ivtd_prom_by(p, "ivtd_gossip_packets_dropped_total", "counter",
                 "Gossip datagrams and frames dropped, by reason.", "reason", ROWS(dropped));
    const struct ivtd_prom_lv opened[] = {
        {gossip_aead_name(GOSSIP_AEAD_XCHACHA20POLY1305),
         (double)gs.opened[GOSSIP_AEAD_XCHACHA20POLY1305]},
        {gossip_aead_name(GOSSIP_AEAD_AES256GCM), (double)gs.opened[GOSSIP_AEAD_AES256GCM]}};
    ivtd_prom_by(p, "ivtd_gossip_opened_total", "counter",
                 "Gossip datagrams and frames opened, by the cipher their sender sealed them with.",
                 "cipher", ROWS(opened));
    const struct ivtd_prom_lv bytes[] = {{"membership", (double)gs.bytes_membership},
                                         {"evidence", (double)gs.bytes_app},
                                         {"probe", (double)gs.bytes_probe},
                                         {"pushpull", (double)gs.bytes_pushpull},
                                         {"all_in", (double)gs.bytes_in},
                                         {"all_out", (double)gs.bytes_out}};
    ivtd_prom_by(p, "ivtd_gossip_bytes_total", "counter", "Gossip bytes sent, by kind.", "kind",
                 ROWS(bytes));
    struct ivtd_prom_lv members[GOSSIP_STATES];
    for (int st = 0; st < GOSSIP_STATES; st++)
        members[st] =
            (struct ivtd_prom_lv){gossip_state_name((enum gossip_member_state)st),
                                  (double)gossip_member_count(g, (enum gossip_member_state)st)};
    ivtd_prom_by(p, "ivtd_members", "gauge", "Members by state (this node included).", "state",
                 ROWS(members));
    const struct ivtd_prom_row rows[] = {
        {"ivtd_gossip_health", "gauge",
         "Lifeguard local health: 0 is healthy; higher means this node is slow.", gs.health},
        {"ivtd_gossip_probe_failures_total", "counter", "Failed direct probes.",
         (double)gs.probe_failures},
        {"ivtd_gossip_deaths_declared_total", "counter", "Members this node declared dead.",
         (double)gs.deaths_declared},
        {"ivtd_gossip_suspicions_synced_total", "counter",
         "Unconfirmed suspicions checked by a push-pull before a death.",
         (double)gs.suspicions_synced},
        {"ivtd_gossip_suspects_heard_total", "counter",
         "Suspects that sent this node a datagram and were shown their accusation on a ping.",
         (double)gs.suspects_heard},
        {"ivtd_gossip_suspects_shown_total", "counter",
         "Suspicions still unconfirmed at the shortest timeout, shown to the suspect on a ping.",
         (double)gs.suspects_shown},
        {"ivtd_gossip_syncs_after_growth_total", "counter",
         "Push-pulls started when gossip had grown the view by a quarter or more.",
         (double)gs.syncs_after_growth},
        {"ivtd_gossip_storm_updates_total", "counter",
         "Members new to this node sent fewer times because its queue was long (a join storm).",
         (double)gs.storm_updates},
        {"ivtd_gossip_pulls_again_total", "counter",
         "Push-pulls repeated because the previous one brought members this node lacked.",
         (double)gs.pulls_again},
        {"ivtd_gossip_digests_hashed_total", "counter",
         "Push-pulls this node answered with a hashed member digest (the peer asked for one).",
         (double)gs.digests_hashed},
        {"ivtd_gossip_nomem_total", "counter",
         "Gossip state dropped for want of memory (a member, a queued update, a timer).",
         (double)gs.nomem},
    };
    ivtd_prom_rows(p, ROWS(rows));
    const struct ivtd_prom_lv pushpull[] = {{"started", (double)gs.pushpull_started},
                                            {"completed", (double)gs.pushpull_completed},
                                            {"failed", (double)gs.pushpull_failed},
                                            {"refused", (double)d->c.streams_refused},
                                            {"io_error", (double)d->c.streams_failed}};
    ivtd_prom_by(p, "ivtd_pushpull_total", "counter", "Push-pull exchanges, by outcome.", "outcome",
                 ROWS(pushpull));
    const struct ivtd_prom_lv asks[] = {{"sent", (double)gs.app_wants_sent},
                                        {"answered", (double)gs.app_wants_answered},
                                        {"unanswered", (double)gs.app_wants_unanswered},
                                        {"overflow", (double)gs.app_wants_overflow}};
    ivtd_prom_by(p, "ivtd_gossip_evidence_asks_total", "counter",
                 "Lazy push: announced evidence this node asked members for (sent, overflow: "
                 "not asked, the pending list full), and asks it answered or could not.",
                 "outcome", ROWS(asks));
}

/* The node core's families: events, scores, the evidence store, deltas. */
static void node_metrics(struct ivtd_prom *p, const struct ivtd *d)
{
    struct node_stats ns;
    node_get_stats(d->node, &ns);
    const struct ivtd_prom_row events[] = {
        {"ivtd_events_observed_total", "counter", "Events recorded as evidence.",
         (double)ns.events_observed},
        {"ivtd_events_rejected_total", "counter", "Events refused (bad or stale).",
         (double)ns.events_rejected},
        {"ivtd_scores_total", "counter", "Score requests answered.", (double)ns.scores},
    };
    ivtd_prom_rows(p, ROWS(events));
    ivtd_prom_hist(p, "ivtd_score_latency_seconds",
                   "Time in node_score per request (decode and reply excluded).", &d->score_hist);
    const struct ivtd_prom_row store[] = {
        {"ivtd_evidence_entities", "gauge", "Live entities in the evidence store.",
         (double)ns.entities},
        {"ivtd_evidence_bytes", "gauge", "Approximate memory of the evidence store.",
         (double)ns.evidence_bytes},
        {"ivtd_evidence_digest_stale", "gauge",
         "Shared entities changed since their anti-entropy digest was taken.",
         (double)ns.digest_stale},
        {"ivtd_evidence_admitted", "gauge",
         "Live entities shared with the fleet (admitted here or by a peer).",
         (double)ns.entities_admitted},
        {"ivtd_evidence_local", "gauge",
         "Live entities kept on this node only (not admitted: never gossiped).",
         (double)(ns.entities - ns.entities_admitted)},
    };
    ivtd_prom_rows(p, ROWS(store));
    struct ivtd_prom_lv admissions[NODE_ADMIT_REASONS];
    for (int r = 0; r < NODE_ADMIT_REASONS; r++)
        admissions[r] = (struct ivtd_prom_lv){node_admit_reason_name((enum node_admit_reason)r),
                                              (double)ns.admissions[r]};
    ivtd_prom_by(p, "ivtd_evidence_admissions_total", "counter",
                 "IPs and devices this node admitted into the shared evidence, by signal.",
                 "reason", ROWS(admissions));
    const struct ivtd_prom_row more[] = {
        {"ivtd_evidence_evicted_total", "counter", "Entities evicted at evidence.max_entities.",
         (double)ns.entities_evicted},
        {"ivtd_evidence_epoch", "gauge", "The current evidence epoch.", (double)ns.epoch},
        {"ivtd_decision_resends_total", "counter",
         "Decisions this node made, published again in case a broadcast was lost.",
         (double)ns.decision_resends},
        {"ivtd_keyop_retries_total", "counter",
         "Key operations published again because a member's keyring differed.",
         (double)ns.keyop_retries},
        {"ivtd_keyop_retries_exhausted_total", "counter",
         "Key operations given up on with a member's keyring still different.",
         (double)ns.keyop_retries_exhausted},
        {"ivtd_repair_queued_bytes", "gauge",
         "Push-pull repair evidence received and not merged yet (merged in chunks).",
         (double)ns.merge_queued_bytes},
        {"ivtd_payloads_rejected_total", "counter",
         "Gossiped payloads and repair parts from members that did not decode or merge.",
         (double)ns.payloads_rejected},
    };
    ivtd_prom_rows(p, ROWS(more));
    const struct ivtd_prom_lv deltas[] = {{"out", (double)ns.deltas_sent},
                                          {"in", (double)ns.deltas_received}};
    ivtd_prom_by(p, "ivtd_deltas_total", "counter", "Evidence deltas gossiped.", "dir",
                 ROWS(deltas));
    const struct ivtd_prom_lv delta_bytes[] = {{"out", (double)ns.deltas_bytes_out},
                                               {"in", (double)ns.deltas_bytes_in}};
    ivtd_prom_by(p, "ivtd_deltas_bytes_total", "counter", "Evidence delta bytes.", "dir",
                 ROWS(delta_bytes));
    const struct ivtd_prom_lv unsent[] = {{"queue_full", (double)ns.deltas_dropped},
                                          {"oversize", (double)ns.deltas_oversize}};
    ivtd_prom_by(p, "ivtd_deltas_unsent_total", "counter",
                 "Evidence changes not gossiped as deltas, left to push-pull.", "reason",
                 ROWS(unsent));
    const struct ivtd_prom_lv ignored[] = {{"expired", (double)ns.ignored_expired},
                                           {"future", (double)ns.ignored_future},
                                           {"origins_full", (double)ns.ignored_origins_full},
                                           {"old_format", (double)ns.ignored_old_format}};
    ivtd_prom_by(p, "ivtd_evidence_ignored_total", "counter",
                 "Evidence cells read in merges and not joined, by reason.", "reason",
                 ROWS(ignored));
}

void ivtd_render_metrics(void *ctx, struct ivtd_prom *p)
{
    struct ivtd *d = ctx;
    char l[96];

    ivtd_prom_family(p, "ivtd_info", "gauge", "Constant 1, labelled with the build and node.");
    snprintf(l, sizeof(l), "version=\"%s\",generation=\"%u\"", IVTD_VERSION, d->generation);
    ivtd_prom_sample(p, "ivtd_info", l, 1);
    ivtd_prom_one(p, "ivtd_uptime_seconds", "gauge", "Seconds since start.",
                  (double)(ivtd_now(d) - d->started) / 1000.0);
    gossip_metrics(p, d, node_gossip(d->node));
    node_metrics(p, d);

    const struct ivtd_prom_row rpc[] = {
        {"ivtd_rpc_requests_total", "counter", "RPC requests answered.", 0},
        {"ivtd_rpc_notifications_total", "counter", "RPC notifications.", 0},
        {"ivtd_rpc_error_replies_total", "counter", "RPC error replies.", 0},
        {"ivtd_rpc_connections_open", "gauge", "Open RPC connections.", 0},
        {"ivtd_rpc_connections_total", "counter", "RPC connections accepted.", 0},
        {"ivtd_rpc_rejected_total", "counter",
         "RPC input refused or connections closed, by reason.", 0},
        {"ivtd_rpc_bytes_total", "counter", "RPC bytes.", 0},
        {"ivtd_rpc_coalesce_waits_total", "counter",
         "Loop turns that waited to gather requests (api.coalesce_us).", 0},
        {"ivtd_rpc_coalesce_wait_seconds_total", "counter", "Time those turns waited.", 0},
    };
    for (size_t i = 0; i < sizeof(rpc) / sizeof(rpc[0]); i++)
        ivtd_prom_family(p, rpc[i].name, rpc[i].type, rpc[i].help);
    rpc_metrics(p, "api", d->api);
    rpc_metrics(p, "control", d->control);

    ivtd_prom_hist(p, "ivtd_event_loop_lag_seconds",
                   "How late a 100 ms timer fires: time the loop spent on other work.",
                   &d->lag.hist);
    ivtd_prom_one(p, "ivtd_event_loop_lag_max_seconds", "gauge", "The largest lag seen.",
                  (double)d->lag.max_us / 1e6);
    slow_cb_metrics(p, &d->slow);

    const struct ivtd_prom_lv snapshots[] = {{"saved", (double)d->c.snapshots_saved},
                                             {"failed", (double)d->c.snapshots_failed},
                                             {"skipped", (double)d->c.snapshots_skipped}};
    ivtd_prom_by(p, "ivtd_snapshots_total", "counter", "Evidence snapshots, by outcome.", "outcome",
                 ROWS(snapshots));
    ivtd_prom_one(p, "ivtd_snapshot_bytes", "gauge", "Size of the last snapshot.",
                  (double)d->c.snapshot_bytes);
    const struct ivtd_prom_lv reloads[] = {{"ok", (double)d->c.reloads},
                                           {"refused", (double)d->c.reload_errors}};
    ivtd_prom_by(p, "ivtd_reloads_total", "counter", "SIGHUP reloads, by outcome.", "outcome",
                 ROWS(reloads));
    if (d->http) {
        struct ivtd_http_stats hs;
        ivtd_http_get_stats(d->http, &hs);
        const struct ivtd_prom_lv http[] = {
            {"ok", (double)hs.ok},
            {"not_found", (double)hs.not_found},
            {"bad", (double)(hs.bad_method + hs.bad_request + hs.too_large)},
            {"timeout", (double)hs.timeouts},
            {"rejected", (double)hs.rejected}};
        ivtd_prom_by(p, "ivtd_metrics_http_total", "counter",
                     "Requests to this endpoint, by outcome.", "outcome", ROWS(http));
    }
}

/* ---- start and stop -------------------------------------------------------------------- */

static void on_closed_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void close_all(struct ivtd *d)
{
    ivtd_hugemem_stop(d->mem); /* the loop runs dry now: no more chunks filled */
    ivtd_rpc_delete(d->api);
    ivtd_rpc_delete(d->control);
    ivtd_http_delete(d->http);
    d->api = d->control = NULL;
    d->http = NULL;
    while (d->streams)
        stream_end(d->streams);
    /* Everything else (sockets, timers, signals) has no per-handle state to
     * free: close what is still open. */
    uv_walk(d->loop, on_closed_walk, NULL);
}

/* advertise: the configured address, else bind; a wildcard bind advertises
 * the first non-loopback interface of its family. */
static int self_address(struct gossip_addr *out, const struct ivtd_config *cfg, char *msg,
                        size_t cap)
{
    const char *s = cfg->advertise[0] ? cfg->advertise : cfg->bind;
    struct sockaddr_storage ss;
    if (ivtd_sockaddr_parse(&ss, s) != 0 || ivtd_addr_from_sockaddr(out, (struct sockaddr *)&ss)) {
        snprintf(msg, cap, "cluster.advertise: cannot use '%s'", s);
        return IVT_EINVAL;
    }
    static const uint8_t zero[16];
    if (memcmp(out->bytes, zero, out->family == 4 ? 4 : 16) != 0)
        return 0;
    uv_interface_address_t *ifs;
    int n;
    if (uv_interface_addresses(&ifs, &n) == 0) {
        for (int i = 0; i < n; i++) {
            struct gossip_addr a;
            if (ifs[i].is_internal ||
                ivtd_addr_from_sockaddr(&a, (struct sockaddr *)&ifs[i].address.address4) != 0 ||
                a.family != out->family)
                continue;
            if (a.family == 6 && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80)
                continue; /* link-local needs a scope id other nodes cannot use */
            memcpy(out->bytes, a.bytes, sizeof(a.bytes));
            uv_free_interface_addresses(ifs, n);
            return 0;
        }
        uv_free_interface_addresses(ifs, n);
    }
    snprintf(msg, cap,
             "cluster.bind is a wildcard (%s) and no interface address was found: set "
             "cluster.advertise",
             cfg->bind);
    return IVT_EINVAL;
}

/* Seeds may be DNS names: resolved once at start (blocking is fine here). */
static size_t resolve_seeds(struct gossip_addr *out, const struct ivtd_config *cfg,
                            const struct gossip_addr *self)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_seeds && n < GOSSIP_SEEDS_MAX; i++) {
        char host[IVTD_ADDR_MAX], port[8];
        uint16_t pnum;
        if (ivtd_hostport_split(host, sizeof(host), &pnum, cfg->seeds[i]) != 0)
            continue;
        snprintf(port, sizeof(port), "%u", pnum);
        struct addrinfo hints = {0}, *res;
        hints.ai_socktype = SOCK_DGRAM;
        hints.ai_family = cfg->bind[0] == '[' ? AF_UNSPEC : AF_INET;
        int rc = getaddrinfo(host, port, &hints, &res);
        if (rc != 0) {
            ivtd_log(IVTD_LOG_WARN, "cannot resolve a seed", "seed=%s err=\"%s\"", cfg->seeds[i],
                     gai_strerror(rc));
            continue;
        }
        if (ivtd_addr_from_sockaddr(&out[n], res->ai_addr) == 0 && !gossip_addr_eq(&out[n], self))
            n++;
        freeaddrinfo(res);
    }
    return n;
}

static int fail_start(const char *what, const char *err)
{
    char q[IVTD_ERR_MAX * 2];
    ivtd_log(IVTD_LOG_ERROR, what, "err=%s", ivtd_log_quote(q, sizeof(q), err));
    return 1;
}

/* The evidence hash key must be equal fleet-wide and survive gossip key
 * rotation, so it is fixed once and kept in state_dir/hash-key. It comes
 * from cluster.evidence_key when set (every node agrees, whenever it was
 * installed), else from the first gossip key: fine for a fleet that never
 * rotates, wrong for a node added after a rotation (docs/operations.md).
 * A saved key that differs from cluster.evidence_key stops the start: the
 * saved evidence is hashed with it and would silently stop matching. */
static int evidence_hash_key(uint8_t out[16], const struct ivtd *d,
                             const struct gossip_keyring *keyring, char *err, size_t cap)
{
    static const char ctx_str[] = "ivt evidence hash key v1";
    const struct ivtd_config *cfg = &d->cfg;
    const uint8_t *seed =
        cfg->evidence_key.set ? cfg->evidence_key.key : gossip_keyring_primary(keyring)->key;
    uint8_t want[16];
    crypto_generichash(want, sizeof(want), (const uint8_t *)ctx_str, sizeof(ctx_str) - 1, seed,
                       IVTD_KEY_LEN);

    char path[IVTD_PATH_MAX + 16];
    state_path(path, sizeof(path), d, "hash-key");
    uint8_t *saved;
    size_t len;
    int rc = ivtd_persist_read(&saved, &len, path, 64, err, cap);
    if (rc == 0) {
        bool ok = len == sizeof(want);
        if (ok)
            memcpy(out, saved, sizeof(want));
        free(saved);
        if (ok && cfg->evidence_key.set && sodium_memcmp(out, want, sizeof(want)) != 0) {
            /* Truncation only shortens the advice; the cause comes first. */
            int n = snprintf(err, cap,
                             "hash-key in %s was made from another key than cluster.evidence_key, "
                             "and the saved evidence is hashed with it; to adopt the new key, stop "
                             "the node and remove hash-key and evidence from that directory",
                             cfg->state_dir);
            (void)n;
            return IVT_EINVAL;
        }
        if (ok)
            return 0;
    }
    memcpy(out, want, sizeof(want));
    return ivtd_persist_write(path, out, sizeof(want), 0600, err, cap);
}

/* Everything up to the running loop; returns 0 or an exit code. */
static int start(struct ivtd *d)
{
    char err[IVTD_ERR_MAX];
    struct ivtd_config *cfg = &d->cfg;
    if (sodium_init() < 0)
        return fail_start("cannot start", "libsodium failed to initialise");
    /* The API's coalescing waits (api.coalesce_us) are tens of us; Linux's
     * default 50 us of timer slack would more than double them. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    if (!ivtd_has_key(cfg, err, sizeof(err)))
        return fail_start("refusing to start", err);
    if (ivtd_persist_mkdir(cfg->state_dir, err, sizeof(err)) != 0)
        return fail_start("cannot use node.state_dir", err);
    if (ivtd_persist_lock(&d->lock_fd, cfg->state_dir, err, sizeof(err)) != 0)
        return fail_start("cannot use node.state_dir", err);
    if (ivtd_persist_node_id(d->id, cfg->state_dir, err, sizeof(err)) != 0)
        return fail_start("cannot read the node id", err);
    /* Saved before the node exists: even a crash right after start gives the
     * next run a newer generation. */
    if (ivtd_persist_next_generation(&d->generation, cfg->state_dir, err, sizeof(err)) != 0)
        return fail_start("cannot raise the generation", err);

    struct node_config nc;
    node_config_defaults(&nc);
    int rc = load_keyring(&nc.keyring, cfg->keyring_file, err, sizeof(err));
    if (rc == IVT_ENOENT) {
        gossip_keyring_init(&nc.keyring);
        gossip_keyring_install(&nc.keyring, cfg->encrypt.key);
    } else if (rc != 0) {
        return fail_start("cannot read the keyring", err);
    }
    sodium_memzero(&cfg->encrypt, sizeof(cfg->encrypt));
    if (evidence_hash_key(nc.hash_key, d, &nc.keyring, err, sizeof(err)) != 0)
        return fail_start("cannot set the evidence hash key", err);

    if (build_rules(&d->rules, cfg, err, sizeof(err)) != 0)
        return fail_start("cannot load the GIVT rules", err);
    build_thresholds(&d->th, cfg);
    if (self_address(&d->self_addr, cfg, err, sizeof(err)) != 0)
        return fail_start("cannot pick the advertised address", err);

    memcpy(nc.id, d->id, sizeof(nc.id));
    nc.generation = d->generation;
    snprintf(nc.name, sizeof(nc.name), "%s", cfg->name);
    snprintf(nc.label, sizeof(nc.label), "%s", cfg->label);
    nc.profile = (enum node_profile)cfg->profile;
    nc.addr = d->self_addr;
    if (cfg->packet_size != IVTD_UNSET)
        nc.packet_size = (size_t)cfg->packet_size;
    if (cfg->epoch_ms != IVTD_UNSET)
        nc.epoch_ms = cfg->epoch_ms;
    if (cfg->window_ms != IVTD_UNSET)
        nc.window_epochs = (uint32_t)(cfg->window_ms / nc.epoch_ms);
    if (cfg->max_entities != IVTD_UNSET)
        nc.max_entities = (uint32_t)cfg->max_entities;
    if (cfg->gossip_bytes_per_s != IVTD_UNSET)
        nc.gossip_bytes_per_s = (uint32_t)cfg->gossip_bytes_per_s;
    nc.admit_all = cfg->admit_all;
    nc.full_digests = cfg->full_digests;
    nc.aead = cfg->cipher;
    nc.member_changes_max = IVTD_MEMBER_CHANGES;
    nc.thresholds = &d->th;
    nc.rules = d->rules;
    struct crdt_alloc store_alloc; /* copied by node_new */
    if (!(d->mem = ivtd_hugemem_new(d->loop)))
        return fail_start("cannot start", "out of memory");
    ivtd_hugemem_reserve_alloc(&store_alloc, d->mem);
    nc.store_alloc = &store_alloc;
    nc.store_table_full = true;
    uint64_t seed;
    randombytes_buf(&seed, sizeof(seed));
    /* uv_now() is cached per loop iteration and the loop has not run yet:
     * the rules took a while to build, so bring it to the present. */
    uv_update_time(d->loop);
    d->started = ivtd_now(d);
    d->started_wall = ivtd_wall();
    rc = node_new(&d->node, &nc, seed, d->started, d->started_wall);
    sodium_memzero(&nc.keyring, sizeof(nc.keyring));
    if (rc != 0)
        return fail_start("cannot create the node", ivt_strerror(rc));
    ivtd_save_keyring(d);

    char evpath[IVTD_PATH_MAX + 16];
    state_path(evpath, sizeof(evpath), d, "evidence");
    uint8_t *snap;
    size_t snap_len;
    rc = ivtd_persist_read(&snap, &snap_len, evpath, SNAPSHOT_MAX, err, sizeof(err));
    if (rc == 0) {
        rc = node_restore(d->node, snap, snap_len, ivtd_wall());
        free(snap);
        if (rc)
            ivtd_log(IVTD_LOG_WARN, "the saved evidence does not load; starting without it",
                     "file=%s err=%s", evpath, ivt_errname(rc));
        else
            ivtd_log(IVTD_LOG_INFO, "restored evidence", "bytes=%zu", snap_len);
    } else if (rc != IVT_ENOENT) {
        ivtd_log(IVTD_LOG_WARN, "cannot read the saved evidence", "err=\"%s\"", err);
    }

    /* Gossip: UDP and TCP on the same address. */
    struct sockaddr_storage bind_ss;
    ivtd_sockaddr_parse(&bind_ss, cfg->bind);
    uv_udp_init_ex(d->loop, &d->udp, bind_ss.ss_family);
    d->udp.data = d;
    if ((rc = uv_udp_bind(&d->udp, (struct sockaddr *)&bind_ss, 0)) != 0) {
        snprintf(err, sizeof(err), "%s (udp): %s", cfg->bind, uv_strerror(rc));
        return fail_start("cannot bind cluster.bind", err);
    }
    int bufsize = UDP_BUFFER;
    uv_recv_buffer_size((uv_handle_t *)&d->udp, &bufsize);
    bufsize = UDP_BUFFER;
    uv_send_buffer_size((uv_handle_t *)&d->udp, &bufsize);
    uv_udp_recv_start(&d->udp, on_udp_alloc, on_udp_recv);
    uv_tcp_init(d->loop, &d->pushpull);
    d->pushpull.data = d;
    if ((rc = uv_tcp_bind(&d->pushpull, (struct sockaddr *)&bind_ss, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&d->pushpull, 128, on_pushpull_connection)) != 0) {
        snprintf(err, sizeof(err), "%s (tcp): %s", cfg->bind, uv_strerror(rc));
        return fail_start("cannot bind cluster.bind", err);
    }

    struct ivtd_rpc_limits lim = {cfg->api_max_frame, cfg->api_max_connections,
                                  cfg->api_coalesce_us};
    if (ivtd_rpc_new(&d->api, d->loop, ivtd_api_methods, ivtd_n_api_methods, d, &lim) != 0)
        return fail_start("cannot start the API", "out of memory");
    ivtd_rpc_watch(d->api, &d->slow, IVTD_CB_API);
    lim.coalesce_us = 0; /* ivtctl's few requests never wait */
    for (size_t i = 0; i < cfg->n_api_listen; i++)
        if (ivtd_rpc_listen(d->api, cfg->api_listen[i], 0660, err, sizeof(err)) != 0)
            return fail_start("cannot listen on api.listen", err);
    if (cfg->control_socket[0]) {
        char dir[IVTD_PATH_MAX], addr[IVTD_PATH_MAX + 8];
        snprintf(dir, sizeof(dir), "%s", cfg->control_socket);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            if (ivtd_persist_mkdir(dir, err, sizeof(err)) != 0)
                return fail_start("cannot create the control socket's directory", err);
        }
        snprintf(addr, sizeof(addr), "unix:%s", cfg->control_socket);
        if (ivtd_rpc_new(&d->control, d->loop, ivtd_control_methods, ivtd_n_control_methods, d,
                         &lim) != 0 ||
            ivtd_rpc_listen(d->control, addr, cfg->control_mode, err, sizeof(err)) != 0)
            return fail_start("cannot listen on control.socket", err);
        ivtd_rpc_watch(d->control, &d->slow, IVTD_CB_CONTROL);
    }
    if (cfg->metrics_listen[0] && ivtd_http_new(&d->http, d->loop, cfg->metrics_listen,
                                                ivtd_render_metrics, d, err, sizeof(err)) != 0)
        return fail_start("cannot listen on metrics.listen", err);

    uv_timer_init(d->loop, &d->tick);
    uv_timer_init(d->loop, &d->snap);
    uv_timer_init(d->loop, &d->rate);
    uv_timer_init(d->loop, &d->grace);
    d->tick.data = d->snap.data = d->rate.data = d->grace.data = d;
    uv_timer_start(&d->snap, on_snapshot_timer, (uint64_t)cfg->snapshot_interval,
                   (uint64_t)cfg->snapshot_interval);
    uv_timer_start(&d->rate, on_rate, RATE_PERIOD_MS, RATE_PERIOD_MS);
    ivtd_lag_start(&d->lag, d->loop);
    uv_signal_init(d->loop, &d->sig_term);
    uv_signal_init(d->loop, &d->sig_int);
    uv_signal_init(d->loop, &d->sig_hup);
    uv_timer_init(d->loop, &d->snap_step);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d->snap_step.data = d;
    uv_signal_start(&d->sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_hup, SIGHUP);

    char self[64], idhex[33];
    ivtd_addr_format(self, sizeof(self), &d->self_addr);
    for (int i = 0; i < 16; i++)
        snprintf(idhex + 2 * i, 3, "%02x", d->id[i]);
    ivtd_log(IVTD_LOG_INFO, "started", "name=%s id=%s generation=%u addr=%s version=%s cipher=%s",
             cfg->name, idhex, d->generation, self, IVTD_VERSION,
             gossip_aead_name((enum gossip_aead)cfg->cipher));

    struct gossip_addr seeds[GOSSIP_SEEDS_MAX];
    size_t n = resolve_seeds(seeds, cfg, &d->self_addr);
    uv_update_time(d->loop); /* resolving may have blocked */
    if (n > 0 && (rc = node_join(d->node, seeds, n, ivtd_now(d))) != 0)
        ivtd_log(IVTD_LOG_WARN, "cannot join the seeds", "err=%s", ivt_errname(rc));
    ivtd_pump(d);
    return 0;
}

int ivtd_run(const struct ivtd_config *cfg, const char *cfg_path)
{
    struct ivtd *d = calloc(1, sizeof(*d));
    if (!d)
        return 1;
    d->cfg = *cfg;
    snprintf(d->cfg_path, sizeof(d->cfg_path), "%s", cfg_path);
    d->lock_fd = -1;
    d->loop = uv_default_loop();
    ivtd_log_set_level(cfg->log_level);
    signal(SIGPIPE, SIG_IGN);
    int code = start(d);
    if (code != 0) {
        close_all(d);
    } else {
        uv_run(d->loop, UV_RUN_DEFAULT);
    }
    /* Closing callbacks of a failed start still need a turn of the loop. */
    uv_run(d->loop, UV_RUN_DEFAULT);
    uv_loop_close(d->loop);
    if (d->node)
        node_delete(d->node);
    ivtd_hugemem_delete(d->mem); /* after the store: its chunks are the store's */
    node_rules_delete(d->rules);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    sodium_memzero(d->keyring_text, sizeof(d->keyring_text));
    free(d);
    return code;
}
