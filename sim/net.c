/*
 * sim/net.c: the virtual network and clock of sim/net.h.
 *
 * One binary min-heap of events keyed by (time, seq): seq breaks ties in
 * the order events were scheduled, so a run is a pure function of the seed
 * and the calls. Event kinds:
 *   TICK     call the host's tick; each host has at most one live tick (a
 *            newer schedule makes older heap entries stale: lazy deletion);
 *   DELIVER  hand a datagram to a host (a paused host gets it on resume);
 *   CONNECT  a stream connection reaches its target, which accepts or refuses;
 *   SDATA    stream bytes arrive at one end of a connection;
 *   SCLOSE   the other end of a connection closed (or it was reset).
 * After every host call the network drains the host's outbox, starts the
 * connections it asks for, pumps its stream output and re-arms its tick:
 * the "host loop" of the daemon, collapsed into one function (host_after).
 *
 * Links: a matrix of SIM_NET_ZONES x SIM_NET_ZONES, one per ordered pair of
 * zones (a host's zone is its region or datacenter), so a datagram from
 * eu to us takes the eu->us delay, jitter, loss, duplication and
 * reordering, and one inside eu the eu->eu link. Every draw comes from the
 * network's one seeded stream, in a fixed order per datagram (loss,
 * duplication, then per copy jitter and reordering): a run is a function of
 * the seed whatever the matrix holds.
 *
 * Streams: a connection is two (host, sid) ends. Bytes travel with the
 * link's base delay and never reorder (each direction's arrival times are
 * monotonic). A cut between the ends resets the connection at the next
 * delivery; a crashed end never answers and the live end times out on its
 * own (the gossip core times streams out).
 */
#include "sim/net.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"

enum {
    EV_TICK = 1,
    EV_DELIVER,
    EV_CONNECT,
    EV_SDATA,
    EV_SCLOSE,
    OUTBOX_BATCH = 16,        /* datagrams drained per outbox call */
    STREAM_CHUNK = 64 * 1024, /* stream bytes moved per event */
    /* Free buffers kept for reuse (bufs_get): at most this many of each
     * size; the rest go back to malloc. */
    SMALL_KEPT = 1 << 16, /* x GOSSIP_PACKET_MAX: 92 MB at most */
    LARGE_KEPT = 1 << 10  /* x STREAM_CHUNK: 64 MB at most */
};

/* Fixed-size buffers for the bytes in flight: datagram copies (up to
 * GOSSIP_PACKET_MAX) and stream chunks (up to STREAM_CHUNK), chosen by
 * length both when taken and when given back. */
struct bufs {
    uint8_t **v;
    size_t n, cap, kept;
};

struct event {
    ivt_ms t;
    uint64_t seq;
    uint8_t kind;
    uint32_t host, peer; /* receiver, sender */
    uint32_t conn;
    uint32_t len;
    uint8_t *data;
};

struct host {
    const struct sim_net_ops *ops;
    void *h;
    ivt_ms tick_at; /* the live tick; IVT_MS_NEVER when none */
    ivt_ms paused_until;
    bool crashed;
    uint8_t group;
    uint8_t zone;
    uint64_t bytes;
};

struct conn {
    bool used;
    uint32_t host[2]; /* 0: initiator, 1: acceptor */
    uint32_t sid[2];
    bool open[2]; /* the end's host has a live sid */
    /* Accepted: the initiator's core is asked for its bytes only now (a
     * refused connection costs it no request), but they travel as if
     * written when it connected, as before: they arrive with the accept. */
    bool connected;
    ivt_ms opened;          /* when the initiator connected */
    bool early;             /* the initiator's first bytes: sent at `opened` */
    ivt_ms last_arrival[2]; /* toward end i: keeps each direction in order */
};

struct sim_net {
    struct ivt_rng rng;
    ivt_ms now;
    uint64_t seq;
    struct event *heap;
    size_t n_ev, cap_ev;
    struct host *hosts;
    uint32_t n_hosts, cap_hosts;
    struct conn *conns;
    uint32_t n_conns, cap_conns;
    struct sim_net_link link[SIM_NET_ZONES][SIM_NET_ZONES]; /* [from zone][to zone] */
    bool blocked[SIM_NET_GROUPS][SIM_NET_GROUPS];
    sim_net_tap_fn tap;
    void *tap_ctx;
    struct sim_net_stats st;
    uint64_t trace;
    struct bufs small, large; /* bufs_get */
    struct gossip_packet pkts[OUTBOX_BATCH];
    uint8_t chunk[STREAM_CHUNK];
};

/* ---- ops for a bare gossip instance ------------------------------------ */

static int g_receive(void *h, const struct gossip_addr *from, const uint8_t *p, size_t n,
                     ivt_ms now)
{
    return gossip_receive(h, from, p, n, now);
}
static int g_tick(void *h, ivt_ms now)
{
    return gossip_tick(h, now);
}
static ivt_ms g_deadline(void *h)
{
    return gossip_next_deadline(h);
}
static size_t g_outbox(void *h, struct gossip_packet *out, size_t max)
{
    return gossip_outbox(h, out, max);
}
static struct gossip *g_self(void *h)
{
    return h;
}
/* No warm: bare gossip hosts gained nothing from it (docs/simulator.md). */
const struct sim_net_ops sim_net_gossip_ops = {g_receive, g_tick, g_deadline,
                                               g_outbox,  g_self, NULL};

/* ---- buffers ------------------------------------------------------------- */

/*
 * A buffer for len bytes in flight. Not malloc per datagram: at 10,000
 * nodes, in a heap of 15 GB that millions of member tables fragment, each
 * malloc of a datagram's 1-1.4 kB (glibc's large bins start at 1,024
 * bytes, past its per-thread cache) was a search, 8 % of the run's CPU.
 */
static struct bufs *bufs_of(struct sim_net *n, size_t len)
{
    return len <= GOSSIP_PACKET_MAX ? &n->small : &n->large;
}

static uint8_t *bufs_get(struct sim_net *n, size_t len)
{
    struct bufs *b = bufs_of(n, len);
    if (b->n)
        return b->v[--b->n];
    return malloc(len <= GOSSIP_PACKET_MAX ? GOSSIP_PACKET_MAX : STREAM_CHUNK);
}

static void bufs_put(struct sim_net *n, uint8_t *p, size_t len)
{
    if (!p)
        return;
    struct bufs *b = bufs_of(n, len);
    if (b->n == b->cap && b->cap < b->kept) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        uint8_t **v = realloc(b->v, cap * sizeof(*v));
        if (v) {
            b->v = v;
            b->cap = cap;
        }
    }
    if (b->n < b->cap)
        b->v[b->n++] = p;
    else
        free(p);
}

static void bufs_free(struct bufs *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i]);
    free(b->v);
}

/* ---- event heap ---------------------------------------------------------- */

static bool ev_less(const struct event *a, const struct event *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int push(struct sim_net *n, struct event e)
{
    if (n->n_ev == n->cap_ev) {
        size_t cap = n->cap_ev ? n->cap_ev * 2 : 1024;
        struct event *h = realloc(n->heap, cap * sizeof(*h));
        if (!h) {
            bufs_put(n, e.data, e.len);
            return IVT_ENOMEM;
        }
        n->heap = h;
        n->cap_ev = cap;
    }
    e.seq = n->seq++;
    size_t i = n->n_ev++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&e, &n->heap[p]))
            break;
        n->heap[i] = n->heap[p];
        i = p;
    }
    n->heap[i] = e;
    return 0;
}

static struct event pop(struct sim_net *n)
{
    struct event top = n->heap[0];
    struct event last = n->heap[--n->n_ev];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n->n_ev)
            break;
        if (c + 1 < n->n_ev && ev_less(&n->heap[c + 1], &n->heap[c]))
            c++;
        if (!ev_less(&n->heap[c], &last))
            break;
        n->heap[i] = n->heap[c];
        i = c;
    }
    if (n->n_ev)
        n->heap[i] = last;
    return top;
}

/* ---- setup ------------------------------------------------------------- */

int sim_net_new(struct sim_net **out, uint64_t seed, ivt_ms start)
{
    struct sim_net *n = calloc(1, sizeof(*n));
    if (!n)
        return IVT_ENOMEM;
    ivt_rng_seed(&n->rng, seed);
    n->now = start;
    sim_net_set_link(n, &(struct sim_net_link){.delay = 1, .jitter = 1});
    n->trace = 0xcbf29ce484222325ULL;
    n->small.kept = SMALL_KEPT;
    n->large.kept = LARGE_KEPT;
    *out = n;
    return 0;
}

void sim_net_delete(struct sim_net *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_ev; i++)
        free(n->heap[i].data);
    bufs_free(&n->small);
    bufs_free(&n->large);
    free(n->heap);
    free(n->hosts);
    free(n->conns);
    free(n);
}

struct gossip_addr sim_net_addr(uint32_t i)
{
    struct gossip_addr a = {.family = 0, .port = 1};
    a.bytes[0] = (uint8_t)(i >> 24);
    a.bytes[1] = (uint8_t)(i >> 16);
    a.bytes[2] = (uint8_t)(i >> 8);
    a.bytes[3] = (uint8_t)i;
    return a;
}

static int64_t addr_host(const struct sim_net *n, const struct gossip_addr *a)
{
    if (a->family != 0)
        return -1;
    uint32_t i = (uint32_t)a->bytes[0] << 24 | (uint32_t)a->bytes[1] << 16 |
                 (uint32_t)a->bytes[2] << 8 | a->bytes[3];
    return i < n->n_hosts ? (int64_t)i : -1;
}

static void arm_tick(struct sim_net *n, uint32_t i)
{
    struct host *h = &n->hosts[i];
    if (h->crashed)
        return;
    ivt_ms t = h->ops->next_deadline(h->h);
    if (t < n->now)
        t = n->now;
    if (t < h->paused_until)
        t = h->paused_until;
    if (t == IVT_MS_NEVER || t == h->tick_at)
        return;
    h->tick_at = t;
    push(n, (struct event){.t = t, .kind = EV_TICK, .host = i});
}

int sim_net_add(struct sim_net *n, const struct sim_net_ops *ops, void *host)
{
    if (n->n_hosts == n->cap_hosts) {
        uint32_t cap = n->cap_hosts ? n->cap_hosts * 2 : 16;
        struct host *h = realloc(n->hosts, cap * sizeof(*h));
        if (!h)
            return IVT_ENOMEM;
        n->hosts = h;
        n->cap_hosts = cap;
    }
    uint32_t i = n->n_hosts++;
    n->hosts[i] = (struct host){.ops = ops, .h = host, .tick_at = IVT_MS_NEVER};
    arm_tick(n, i);
    return (int)i;
}

uint32_t sim_net_count(const struct sim_net *n)
{
    return n->n_hosts;
}

void *sim_net_host(const struct sim_net *n, uint32_t i)
{
    return n->hosts[i].h;
}

ivt_ms sim_net_now(const struct sim_net *n)
{
    return n->now;
}

void sim_net_set_link(struct sim_net *n, const struct sim_net_link *l)
{
    for (uint32_t a = 0; a < SIM_NET_ZONES; a++)
        for (uint32_t b = 0; b < SIM_NET_ZONES; b++)
            n->link[a][b] = *l;
}

void sim_net_set_pair(struct sim_net *n, uint32_t a, uint32_t b, const struct sim_net_link *l)
{
    n->link[a % SIM_NET_ZONES][b % SIM_NET_ZONES] = *l;
}

const struct sim_net_link *sim_net_pair(const struct sim_net *n, uint32_t a, uint32_t b)
{
    return &n->link[a % SIM_NET_ZONES][b % SIM_NET_ZONES];
}

void sim_net_set_zone(struct sim_net *n, uint32_t host, uint32_t zone)
{
    n->hosts[host].zone = (uint8_t)(zone % SIM_NET_ZONES);
}

/* The link datagrams and stream bytes from host a to host b take. */
static const struct sim_net_link *link_of(const struct sim_net *n, uint32_t a, uint32_t b)
{
    return &n->link[n->hosts[a].zone][n->hosts[b].zone];
}

void sim_net_set_tap(struct sim_net *n, sim_net_tap_fn fn, void *ctx)
{
    n->tap = fn;
    n->tap_ctx = ctx;
}

void sim_net_set_group(struct sim_net *n, uint32_t host, uint32_t group)
{
    n->hosts[host].group = (uint8_t)(group % SIM_NET_GROUPS);
}

void sim_net_cut(struct sim_net *n, uint32_t a, uint32_t b, bool both)
{
    n->blocked[a % SIM_NET_GROUPS][b % SIM_NET_GROUPS] = true;
    if (both)
        n->blocked[b % SIM_NET_GROUPS][a % SIM_NET_GROUPS] = true;
}

void sim_net_heal(struct sim_net *n)
{
    memset(n->blocked, 0, sizeof(n->blocked));
}

static bool is_blocked(const struct sim_net *n, uint32_t from, uint32_t to)
{
    return n->blocked[n->hosts[from].group][n->hosts[to].group];
}

static void conn_close_end(struct sim_net *n, struct conn *c, int end)
{
    if (!c->open[end])
        return;
    c->open[end] = false;
    struct host *h = &n->hosts[c->host[end]];
    if (!h->crashed)
        gossip_stream_close(h->ops->gossip(h->h), c->sid[end], n->now);
    if (!c->open[0] && !c->open[1])
        c->used = false;
}

void sim_net_crash(struct sim_net *n, uint32_t host)
{
    n->hosts[host].crashed = true;
    n->hosts[host].tick_at = IVT_MS_NEVER;
    /* Its ends of connections vanish with it; the peers find out by timeout. */
    for (uint32_t i = 0; i < n->n_conns; i++) {
        struct conn *c = &n->conns[i];
        for (int e = 0; e < 2 && c->used; e++)
            if (c->host[e] == host && c->open[e]) {
                c->open[e] = false;
                if (!c->open[0] && !c->open[1])
                    c->used = false;
            }
    }
}

bool sim_net_crashed(const struct sim_net *n, uint32_t host)
{
    return n->hosts[host].crashed;
}

void sim_net_pause(struct sim_net *n, uint32_t host, ivt_ms ms)
{
    struct host *h = &n->hosts[host];
    h->paused_until = n->now + ms;
    /* The resume tick is scheduled now, before any datagram that will wait
     * for the resume: a stalled loop runs its late timers first. */
    h->tick_at = h->paused_until;
    push(n, (struct event){.t = h->paused_until, .kind = EV_TICK, .host = host});
}

void sim_net_poke(struct sim_net *n, uint32_t host)
{
    struct host *h = &n->hosts[host];
    if (h->crashed)
        return;
    h->tick_at = n->now > h->paused_until ? n->now : h->paused_until;
    push(n, (struct event){.t = h->tick_at, .kind = EV_TICK, .host = host});
}

void sim_net_restart(struct sim_net *n, uint32_t host, void *new_host)
{
    struct host *h = &n->hosts[host];
    h->h = new_host;
    h->crashed = false;
    h->paused_until = 0;
    h->tick_at = IVT_MS_NEVER;
    arm_tick(n, host);
}

/* ---- traffic --------------------------------------------------------------- */

static void trace_mix(struct sim_net *n, uint64_t v)
{
    n->trace = ivt_mix64(n->trace ^ v);
}

static void send_datagram(struct sim_net *n, uint32_t from, const struct gossip_packet *p)
{
    n->st.sent++;
    n->st.bytes_sent += p->len;
    n->hosts[from].bytes += p->len;
    int64_t to = addr_host(n, &p->to);
    if (n->tap &&
        !n->tap(n->tap_ctx, from, to < 0 ? UINT32_MAX : (uint32_t)to, p->data, p->len, n->now))
        return;
    if (to < 0)
        return;
    const struct sim_net_link *l = link_of(n, from, (uint32_t)to);
    if (ivt_rng_double(&n->rng) < l->loss) {
        n->st.lost++;
        return;
    }
    int copies = ivt_rng_double(&n->rng) < l->dup ? 2 : 1;
    n->st.duplicated += (uint64_t)(copies - 1);
    ivt_ms hold = l->reorder_delay > 0 ? l->reorder_delay : l->delay;
    for (int c = 0; c < copies; c++) {
        ivt_ms d = l->delay + (ivt_ms)ivt_rng_below(&n->rng, (uint64_t)l->jitter + 1);
        if (ivt_rng_double(&n->rng) < l->reorder)
            d += hold + (ivt_ms)ivt_rng_below(&n->rng, (uint64_t)hold + 1);
        uint8_t *data = bufs_get(n, p->len);
        if (!data)
            return;
        memcpy(data, p->data, p->len);
        push(n, (struct event){.t = n->now + d,
                               .kind = EV_DELIVER,
                               .host = (uint32_t)to,
                               .peer = from,
                               .len = p->len,
                               .data = data});
    }
}

static struct conn *conn_new(struct sim_net *n)
{
    for (uint32_t i = 0; i < n->n_conns; i++)
        if (!n->conns[i].used)
            return &n->conns[i];
    if (n->n_conns == n->cap_conns) {
        uint32_t cap = n->cap_conns ? n->cap_conns * 2 : 64;
        struct conn *c = realloc(n->conns, cap * sizeof(*c));
        if (!c)
            return NULL;
        n->conns = c;
        n->cap_conns = cap;
    }
    return &n->conns[n->n_conns++];
}

/* Moves whatever end `end` of c has to write toward the other end. */
static void pump(struct sim_net *n, uint32_t ci, int end)
{
    struct conn *c = &n->conns[ci];
    struct host *h = &n->hosts[c->host[end]];
    if (!c->open[end] || h->crashed || (end == 0 && !c->connected))
        return;
    for (;;) {
        size_t len =
            gossip_stream_output(h->ops->gossip(h->h), c->sid[end], n->chunk, sizeof(n->chunk));
        if (!len)
            break;
        h->bytes += len;
        n->st.stream_bytes += len;
        uint8_t *data = bufs_get(n, len);
        if (!data)
            return;
        memcpy(data, n->chunk, len);
        int other = !end;
        ivt_ms sent = end == 0 && c->early ? c->opened : n->now;
        ivt_ms t = sent + link_of(n, c->host[end], c->host[other])->delay;
        if (t < c->last_arrival[other])
            t = c->last_arrival[other];
        c->last_arrival[other] = t;
        push(n, (struct event){.t = t,
                               .kind = EV_SDATA,
                               .host = c->host[other],
                               .conn = ci,
                               .peer = (uint32_t)other,
                               .len = (uint32_t)len,
                               .data = data});
    }
    if (end == 0)
        c->early = false;
    if (gossip_stream_done(h->ops->gossip(h->h), c->sid[end])) {
        /* Finished and flushed: close our end; the peer hears it after its
         * data (same direction, same ordering). */
        conn_close_end(n, c, end);
        int other = !end;
        ivt_ms t = n->now + link_of(n, c->host[end], c->host[other])->delay;
        if (t < c->last_arrival[other])
            t = c->last_arrival[other];
        push(n, (struct event){.t = t,
                               .kind = EV_SCLOSE,
                               .host = c->host[other],
                               .conn = ci,
                               .peer = (uint32_t)other});
    }
}

static void host_after(struct sim_net *n, uint32_t i)
{
    struct host *h = &n->hosts[i];
    if (h->crashed)
        return;
    size_t k;
    while ((k = h->ops->outbox(h->h, n->pkts, OUTBOX_BATCH)) > 0)
        for (size_t j = 0; j < k; j++)
            send_datagram(n, i, &n->pkts[j]);
    uint32_t sid;
    struct gossip_addr to;
    while (gossip_stream_poll_connect(h->ops->gossip(h->h), &sid, &to) == 1) {
        struct conn *c = conn_new(n);
        int64_t target = addr_host(n, &to);
        if (!c || target < 0) {
            gossip_stream_close(h->ops->gossip(h->h), sid, n->now);
            continue;
        }
        n->st.streams++;
        *c = (struct conn){.used = true,
                           .host = {i, (uint32_t)target},
                           .sid = {sid, 0},
                           .open = {true, false},
                           .opened = n->now,
                           .early = true};
        uint32_t ci = (uint32_t)(c - n->conns);
        push(n, (struct event){.t = n->now + link_of(n, i, (uint32_t)target)->delay,
                               .kind = EV_CONNECT,
                               .host = (uint32_t)target,
                               .conn = ci});
    }
    for (uint32_t ci = 0; ci < n->n_conns; ci++) {
        struct conn *c = &n->conns[ci];
        for (int e = 0; e < 2 && c->used; e++)
            if (c->host[e] == i)
                pump(n, ci, e);
    }
    arm_tick(n, i);
}

/* Resets a connection: both live ends are told it closed. */
static void conn_reset(struct sim_net *n, uint32_t ci)
{
    struct conn *c = &n->conns[ci];
    uint32_t a = c->host[0], b = c->host[1];
    conn_close_end(n, c, 0);
    conn_close_end(n, c, 1);
    c->used = false;
    host_after(n, a);
    host_after(n, b);
}

static void run_event(struct sim_net *n, struct event *e)
{
    struct host *h = &n->hosts[e->host];
    if (e->kind != EV_TICK && !h->crashed && n->now < h->paused_until) {
        /* A stalled loop reads nothing: the event waits in the socket
         * buffer until the loop runs again (after its late timers). */
        struct event later = *e;
        later.t = h->paused_until;
        push(n, later);
        e->data = NULL;
        return;
    }
    switch (e->kind) {
    case EV_TICK:
        if (h->crashed || e->t != h->tick_at)
            return; /* stale: a newer tick replaced it */
        h->tick_at = IVT_MS_NEVER;
        n->st.ticks++;
        h->ops->tick(h->h, n->now);
        host_after(n, e->host);
        return;
    case EV_DELIVER:
        if (h->crashed)
            return;
        if (is_blocked(n, e->peer, e->host)) {
            n->st.blocked++;
            return;
        }
        n->st.delivered++;
        trace_mix(n, (uint64_t)n->now << 32 ^ (uint64_t)e->peer << 16 ^ e->host ^
                         (uint64_t)e->len << 48);
        struct gossip_addr from = sim_net_addr(e->peer);
        h->ops->receive(h->h, &from, e->data, e->len, n->now);
        host_after(n, e->host);
        return;
    case EV_CONNECT: {
        struct conn *c = &n->conns[e->conn];
        uint32_t a = c->host[0];
        if (!c->used)
            return;
        if (h->crashed || is_blocked(n, a, e->host) || is_blocked(n, e->host, a)) {
            /* Refused or unreachable: the initiator learns after a round trip. */
            n->st.streams_refused++;
            conn_reset(n, e->conn);
            return;
        }
        struct gossip_addr src = sim_net_addr(a);
        uint32_t sid;
        if (gossip_stream_accept(h->ops->gossip(h->h), &sid, &src, n->now)) {
            n->st.streams_refused++;
            conn_reset(n, e->conn);
            return;
        }
        c->sid[1] = sid;
        c->open[1] = true;
        c->connected = true;
        host_after(n, e->host);
        host_after(n, a);
        return;
    }
    case EV_SDATA: {
        struct conn *c = &n->conns[e->conn];
        int end = (int)e->peer;
        if (!c->used || !c->open[end] || h->crashed)
            return;
        if (is_blocked(n, c->host[!end], c->host[end])) {
            conn_reset(n, e->conn);
            return;
        }
        trace_mix(n, (uint64_t)n->now << 32 ^ e->len ^ 0x5a5aULL << 40);
        gossip_stream_receive(h->ops->gossip(h->h), c->sid[end], e->data, e->len, n->now);
        host_after(n, e->host);
        return;
    }
    case EV_SCLOSE: {
        struct conn *c = &n->conns[e->conn];
        int end = (int)e->peer;
        if (!c->used)
            return;
        uint32_t hi = c->host[end];
        conn_close_end(n, c, end);
        host_after(n, hi);
        return;
    }
    }
}

/* The hosts of the next two events (as the heap stands: an event the
 * current one schedules may come first) are asked for their cold lines:
 * the one after next for its own, the next for what those point to. */
static void warm_ahead(struct sim_net *n)
{
    if (!n->n_ev)
        return;
    const struct host *a = &n->hosts[n->heap[0].host];
    if (n->n_ev > 1) {
        size_t c = n->n_ev > 2 && ev_less(&n->heap[2], &n->heap[1]) ? 2 : 1;
        const struct host *b = &n->hosts[n->heap[c].host];
        if (b->ops->warm)
            b->ops->warm(b->h, 0);
    }
    if (a->ops->warm)
        a->ops->warm(a->h, 1);
    if (n->heap[0].data)
        __builtin_prefetch(n->heap[0].data);
}

void sim_net_run_until(struct sim_net *n, ivt_ms t)
{
    while (n->n_ev && n->heap[0].t <= t) {
        struct event e = pop(n);
        n->now = e.t;
        warm_ahead(n);
        run_event(n, &e);
        bufs_put(n, e.data, e.len);
    }
    n->now = t;
}

void sim_net_run_for(struct sim_net *n, ivt_ms ms)
{
    sim_net_run_until(n, n->now + ms);
}

bool sim_net_wait(struct sim_net *n, bool (*pred)(void *ctx), void *ctx, ivt_ms step, ivt_ms limit)
{
    ivt_ms end = n->now + limit;
    while (!pred(ctx)) {
        if (n->now >= end)
            return false;
        sim_net_run_until(n, n->now + step < end ? n->now + step : end);
    }
    return true;
}

void sim_net_get_stats(const struct sim_net *n, struct sim_net_stats *out)
{
    *out = n->st;
}

uint64_t sim_net_host_bytes(const struct sim_net *n, uint32_t i)
{
    return n->hosts[i].bytes;
}

uint64_t sim_net_trace_hash(const struct sim_net *n)
{
    return n->trace;
}
