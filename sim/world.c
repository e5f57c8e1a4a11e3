/*
 * sim/world.c: a fleet of cores on sim/net, run under a scenario.
 *
 * Parts:
 *   1. hosts: one slot per node that ever runs (initial nodes and churn
 *      joins), each wrapping a core (sim/internal.h) for sim/net, with its
 *      own wall clock (offset and drift: the monotonic clock is the net's);
 *   2. actions: a small (time, seq) heap of what the scenario does between
 *      network events (node starts, faults, heals, restarts, churn), run
 *      with the net's clock stopped at their time;
 *   3. the tap: every datagram passes it before the net's own link model;
 *      it applies what sim/net does not model itself (packet-size limit,
 *      per-node egress bandwidth, Gilbert-Elliott burst loss) and feeds
 *      the trace;
 *   4. traffic: workload events go to a node of their region picked by the
 *      event's load-balancer draw among the running ones (another region
 *      when the whole region is down), are scored there, and are also
 *      scored on the isolated shadows (nodes that see only the traffic of
 *      the node they mirror, and no gossip) and the oracle (one node that
 *      sees everything);
 *   5. measurement: each simulated second a row of the timeline (views,
 *      bytes, evidence divergence over a few tracked bot addresses,
 *      detections) and a false-dead scan; every 100 ms while a crash is
 *      not yet dead everywhere, its state in every view.
 *
 * Node i's id carries i in bytes 8..11, so a member seen in any view maps
 * back to its slot without a table. Everything random is drawn from
 * streams derived from the scenario seed (faults, the net, each node), so
 * adding a fault does not move a node's draws.
 */
#include "sim/world.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "sim/internal.h"
#include "sim/net.h"

enum {
    POLL_MS = 100,          /* crash-detection resolution */
    SAMPLE_MS = 1000,       /* one timeline row a simulated second */
    SEEDS_PER_JOIN = 3,     /* a joining node contacts up to this many running nodes */
    TRACKED_IPS = 8,        /* bot addresses whose evidence divergence is followed */
    DIVERGENCE_NODES = 16,  /* nodes sampled for divergence */
    LEAVE_LINGER_MS = 5000, /* a leaving node keeps gossiping this long */
    JOIN_STEP_MS = 20,      /* default join pacing: one node every 20 ms */
    JOIN_SPAN_MAX_MS = 30000,
    /* A node paused or cut off may be declared dead during the fault and
     * until its suspicion could have run out afterwards (memberlist's
     * maximum suspicion at N = 10,000 is 96 s). */
    EXCUSE_GRACE_MS = 120000,
    OUTBOX_SCRATCH = 16,
};

static const char *const rec_names[] = {"?",       "send",  "event",     "start", "crash",
                                        "restart", "pause", "partition", "heal",  "leave",
                                        "stop",    "clock", "loss",      "sample"};
enum rec_kind {
    REC_SEND = 1,
    REC_EVENT,
    REC_START,
    REC_CRASH,
    REC_RESTART,
    REC_PAUSE,
    REC_PARTITION,
    REC_HEAL,
    REC_LEAVE,
    REC_STOP,
    REC_CLOCK,
    REC_LOSS,
    REC_SAMPLE,
};

enum act_kind {
    ACT_START = 1,
    ACT_FAULT,
    ACT_HEAL,
    ACT_RESTORE_LOSS,
    ACT_RESTART,
    ACT_STOP,
    ACT_CHURN_LEAVE,
};

struct action {
    ivt_ms t;
    uint64_t seq;
    uint32_t kind;
    uint32_t a;
};

struct host {
    struct sim_world *w;
    void *core; /* NULL while not running */
    uint32_t slot;
    uint32_t generation;
    uint8_t region;
    bool started, running, left;
    bool crashed_ever;
    ivt_ms excused_until;
    double offset_ms, drift_ppm;
    uint8_t *snapshot;
    size_t snapshot_len;
    bool false_dead; /* counted once */
    /* Gilbert-Elliott state of its egress, and its bandwidth bucket */
    bool ge_bad;
    double tokens;
    ivt_ms tokens_at;
};

struct crash {
    uint32_t slot;
    ivt_ms at;
    ivt_ms first_suspect, first_dead, all_dead; /* -1 until seen */
    bool closed;                                /* restarted, or measured */
};

struct shadow {
    void *core;
    uint32_t mirror; /* slot whose traffic it sees; UINT32_MAX: all (oracle) */
    uint64_t tp, fp, fn, tn;
};

struct sim_world {
    const struct sim_scenario *sc;
    const struct sim_core_ops *core;
    const struct node_rules *rules;
    struct sim_net *net;
    struct sim_workload *wl;
    struct ivt_rng frng; /* faults and the tap */
    uint8_t key[32];
    ivt_ms end, now;
    uint64_t seq;

    struct host *hosts;
    uint32_t n_hosts, cap_hosts, n_started;
    uint32_t *region_slots[SIM_MAX_REGIONS];
    uint32_t region_n[SIM_MAX_REGIONS];
    uint32_t region_cap[SIM_MAX_REGIONS];

    struct action *acts;
    size_t n_acts, cap_acts;

    struct crash *crashes;
    size_t n_crashes, cap_crashes;

    struct shadow *shadows;
    size_t n_shadows;

    /* trace */
    struct sim_trace trace;
    bool record;
    struct sim_trace_rec *recs;
    size_t n_recs, cap_recs;
    uint64_t events;

    /* measurement */
    struct sim_timeline tl;
    ivt_ms next_sample, next_poll;
    uint64_t sec_events, sec_bots, sec_flagged, sec_flagged_bots;
    uint64_t last_bytes;
    double bytes_sum, live_sum;
    struct gossip_stats gsum; /* of the cores stopped so far (traffic by kind) */
    uint32_t false_dead, false_suspect_views;
    uint64_t oversize, bw_dropped, ge_dropped;
    ivt_ms last_heal;
    ivt_ms converged_at; /* -1 until */
    uint64_t tp, fp, fn, tn;
    uint64_t actor_events[SIM_MAX_ACTORS], actor_flagged[SIM_MAX_ACTORS];
    uint32_t tracked[TRACKED_IPS];
    size_t n_tracked;
    struct gossip_member_info *scratch; /* members of one view */
    size_t scratch_cap;
    double divergence;
    bool finished;
};

/* ---- trace --------------------------------------------------------------- */

static int record(struct sim_world *w, uint32_t kind, uint32_t node, uint64_t a, uint64_t b)
{
    struct sim_trace_rec r = {w->now, w->seq++, kind, node, a, b};
    sim_trace_add(&w->trace, &r);
    w->events++;
    if (!w->record)
        return 0;
    if (w->n_recs == w->cap_recs) {
        size_t cap = w->cap_recs ? w->cap_recs * 2 : 1024;
        struct sim_trace_rec *p = realloc(w->recs, cap * sizeof(*p));
        if (!p)
            return IVT_ENOMEM;
        w->recs = p;
        w->cap_recs = cap;
    }
    w->recs[w->n_recs++] = r;
    return 0;
}

void sim_world_describe(const struct sim_trace_rec *r, char *buf, size_t cap)
{
    const char *k = r->kind < sizeof(rec_names) / sizeof(rec_names[0]) ? rec_names[r->kind] : "?";
    snprintf(buf, cap, "#%llu t=%.3fs %s node=%u a=%llx b=%llx", (unsigned long long)r->seq,
             (double)r->t / IVT_MS_PER_S, k, r->node, (unsigned long long)r->a,
             (unsigned long long)r->b);
}

/* ---- actions ------------------------------------------------------------- */

static bool act_less(const struct action *a, const struct action *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int schedule(struct sim_world *w, ivt_ms t, uint32_t kind, uint32_t a)
{
    if (w->n_acts == w->cap_acts) {
        size_t cap = w->cap_acts ? w->cap_acts * 2 : 64;
        struct action *p = realloc(w->acts, cap * sizeof(*p));
        if (!p)
            return IVT_ENOMEM;
        w->acts = p;
        w->cap_acts = cap;
    }
    struct action x = {t, w->seq++, kind, a};
    size_t i = w->n_acts++;
    while (i > 0 && act_less(&x, &w->acts[(i - 1) / 2])) {
        w->acts[i] = w->acts[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->acts[i] = x;
    return 0;
}

static struct action pop_action(struct sim_world *w)
{
    struct action top = w->acts[0], x = w->acts[--w->n_acts];
    size_t i = 0, n = w->n_acts;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && act_less(&w->acts[c + 1], &w->acts[c]))
            c++;
        if (!act_less(&w->acts[c], &x))
            break;
        w->acts[i] = w->acts[c];
        i = c;
    }
    if (n)
        w->acts[i] = x;
    return top;
}

/* ---- hosts ---------------------------------------------------------------- */

static ivt_ms wall_of(const struct host *h, ivt_ms now)
{
    double skew = h->offset_ms + h->drift_ppm * 1e-6 * (double)now;
    return h->w->sc->workload.start_wall + now + (ivt_ms)llround(skew);
}

static void slot_id(const struct sim_world *w, uint32_t slot, uint8_t id[GOSSIP_ID_LEN])
{
    uint64_t a = ivt_mix64(w->sc->seed ^ 0x1d5eedULL), b = ivt_mix64(a ^ slot);
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
    id[8] = (uint8_t)(slot >> 24);
    id[9] = (uint8_t)(slot >> 16);
    id[10] = (uint8_t)(slot >> 8);
    id[11] = (uint8_t)slot;
}

static uint32_t id_slot(const uint8_t id[GOSSIP_ID_LEN])
{
    return (uint32_t)id[8] << 24 | (uint32_t)id[9] << 16 | (uint32_t)id[10] << 8 | id[11];
}

static int h_receive(void *p, const struct gossip_addr *from, const uint8_t *d, size_t n,
                     ivt_ms now)
{
    struct host *h = p;
    return h->w->core->receive(h->core, from, d, n, now, wall_of(h, now));
}
static int h_tick(void *p, ivt_ms now)
{
    struct host *h = p;
    return h->w->core->tick(h->core, now, wall_of(h, now));
}
static ivt_ms h_deadline(void *p)
{
    struct host *h = p;
    return h->w->core->deadline(h->core);
}
static size_t h_outbox(void *p, struct gossip_packet *out, size_t max)
{
    struct host *h = p;
    return h->w->core->outbox(h->core, out, max);
}
static struct gossip *h_g(void *p)
{
    struct host *h = p;
    return h->w->core->gossip(h->core);
}
static void h_warm(void *p, int stage)
{
    struct host *h = p;
    if (h->core)
        h->w->core->warm(h->core, stage);
}
static const struct sim_net_ops host_ops = {h_receive, h_tick, h_deadline, h_outbox, h_g, h_warm};
/* For a core without warm: the network then skips the call, and the read
 * of the (cold) host record that would only find there is nothing to do. */
static const struct sim_net_ops host_ops_cold = {h_receive, h_tick, h_deadline,
                                                 h_outbox,  h_g,    NULL};

static int core_create(struct sim_world *w, void **out, uint32_t slot, uint32_t generation,
                       const struct host *h)
{
    struct sim_core_spec spec;
    memset(&spec, 0, sizeof(spec));
    slot_id(w, slot, spec.id);
    spec.generation = generation;
    snprintf(spec.name, sizeof(spec.name), "n%05u", slot);
    spec.addr = sim_net_addr(slot);
    memcpy(spec.key, w->key, sizeof(spec.key));
    spec.packet_size = w->sc->net.packet_size < 1200 ? w->sc->net.packet_size : 1200;
    spec.settings = &w->sc->node;
    spec.rules = w->rules;
    spec.seed = ivt_mix64(w->sc->seed ^ ivt_mix64(((uint64_t)slot << 20) + generation));
    spec.now = w->now;
    spec.wall = h ? wall_of(h, w->now) : w->sc->workload.start_wall + w->now;
    return w->core->create(out, &spec);
}

static uint32_t running_count(const struct sim_world *w)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < w->n_hosts; i++)
        n += w->hosts[i].running;
    return n;
}

/* Up to SEEDS_PER_JOIN distinct running nodes other than self. */
static size_t pick_seeds(struct sim_world *w, uint32_t self, struct gossip_addr *out)
{
    uint32_t cand[SEEDS_PER_JOIN];
    size_t n = 0;
    uint32_t live = running_count(w) - (w->hosts[self].running ? 1 : 0);
    for (int tries = 0; n < SEEDS_PER_JOIN && n < live && tries < 64; tries++) {
        uint32_t s = (uint32_t)ivt_rng_below(&w->frng, w->n_hosts);
        if (s == self || !w->hosts[s].running)
            continue;
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= cand[k] == s;
        if (!dup) {
            cand[n] = s;
            out[n++] = sim_net_addr(s);
        }
    }
    return n;
}

static int region_add(struct sim_world *w, uint8_t r, uint32_t slot)
{
    if (w->region_n[r] == w->region_cap[r]) {
        uint32_t cap = w->region_cap[r] ? w->region_cap[r] * 2 : 16;
        uint32_t *p = realloc(w->region_slots[r], cap * sizeof(*p));
        if (!p)
            return IVT_ENOMEM;
        w->region_slots[r] = p;
        w->region_cap[r] = cap;
    }
    w->region_slots[r][w->region_n[r]++] = slot;
    return 0;
}

/* Region of the i-th initial node: contiguous blocks in proportion to the
 * regions' node shares. */
static uint8_t initial_region(const struct sim_world *w, uint32_t i)
{
    const struct sim_network *net = &w->sc->net;
    double total = 0, acc = 0;
    for (uint32_t r = 0; r < net->n_regions; r++)
        total += net->regions[r].node_share;
    if (total <= 0)
        return 0;
    double pos = ((double)i + 0.5) / w->sc->nodes * total;
    for (uint32_t r = 0; r < net->n_regions; r++) {
        acc += net->regions[r].node_share;
        if (pos < acc)
            return (uint8_t)r;
    }
    return (uint8_t)(net->n_regions - 1);
}

static int start_node(struct sim_world *w)
{
    if (w->n_hosts == w->cap_hosts)
        return IVT_ELIMIT;
    uint32_t slot = w->n_hosts++;
    struct host *h = &w->hosts[slot];
    memset(h, 0, sizeof(*h));
    h->w = w;
    h->slot = slot;
    h->generation = 1;
    if (slot < w->sc->nodes) {
        h->region = initial_region(w, slot);
    } else {
        /* a churn node lands in a region drawn by node share */
        double total = 0, acc = 0;
        for (uint32_t r = 0; r < w->sc->net.n_regions; r++)
            total += w->sc->net.regions[r].node_share;
        double u = ivt_rng_double(&w->frng) * total;
        for (uint32_t r = 0; r < w->sc->net.n_regions; r++) {
            acc += w->sc->net.regions[r].node_share;
            if (u < acc) {
                h->region = (uint8_t)r;
                break;
            }
        }
    }
    int rc = region_add(w, h->region, slot);
    if (!rc)
        rc = core_create(w, &h->core, slot, h->generation, h);
    if (rc)
        return rc;
    struct gossip_addr seeds[SEEDS_PER_JOIN];
    size_t n = pick_seeds(w, slot, seeds);
    if (n)
        w->core->join(h->core, seeds, n, w->now);
    int idx = sim_net_add(w->net, w->core->warm ? &host_ops : &host_ops_cold, h);
    if (idx < 0)
        return idx;
    if ((uint32_t)idx != slot)
        return IVT_EINVAL;
    sim_net_set_zone(w->net, slot, h->region);
    h->started = h->running = true;
    w->n_started++;
    sim_net_poke(w->net, slot);
    return record(w, REC_START, slot, h->region, n);
}

/* Adds a core's gossip counters to the fleet's: the traffic by kind of
 * summary.json, which must count the cores that stopped too. */
static void add_gossip_stats(struct gossip_stats *sum, struct gossip *g)
{
    struct gossip_stats st;
    gossip_get_stats(g, &st);
    sum->packets_out += st.packets_out;
    sum->bytes_out += st.bytes_out;
    sum->bytes_membership += st.bytes_membership;
    sum->bytes_app += st.bytes_app;
    sum->bytes_probe += st.bytes_probe;
    sum->bytes_pushpull += st.bytes_pushpull;
    sum->payloads_published += st.payloads_published;
    sum->payloads_delivered += st.payloads_delivered;
    sum->payload_datagrams += st.payload_datagrams;
    sum->payloads_dropped += st.payloads_dropped;
    sum->app_wants_sent += st.app_wants_sent;
    sum->app_wants_answered += st.app_wants_answered;
    sum->app_wants_unanswered += st.app_wants_unanswered;
    sum->app_wants_overflow += st.app_wants_overflow;
    sum->nomem += st.nomem;
    sum->storm_updates += st.storm_updates;
    sum->syncs_after_growth += st.syncs_after_growth;
    sum->pulls_again += st.pulls_again;
    sum->suspects_heard += st.suspects_heard;
    sum->suspects_shown += st.suspects_shown;
}

static void stop_host(struct sim_world *w, struct host *h)
{
    add_gossip_stats(&w->gsum, w->core->gossip(h->core));
    sim_net_crash(w->net, h->slot);
    w->core->destroy(h->core);
    h->core = NULL;
    h->running = false;
}

static int crash_node(struct sim_world *w, struct host *h, ivt_ms restart_after, bool snapshot)
{
    if (snapshot && w->core->snapshot) {
        struct ivt_mpw mpw;
        ivt_mpw_init_dyn(&mpw, 1u << 30);
        if (w->core->snapshot(h->core, &mpw, wall_of(h, w->now)) == 0 && !ivt_mpw_error(&mpw)) {
            free(h->snapshot);
            h->snapshot = malloc(mpw.len ? mpw.len : 1);
            if (h->snapshot) {
                memcpy(h->snapshot, mpw.data, mpw.len);
                h->snapshot_len = mpw.len;
            }
        }
        ivt_mpw_destroy(&mpw);
    }
    stop_host(w, h);
    h->crashed_ever = true;
    if (w->n_crashes == w->cap_crashes) {
        size_t cap = w->cap_crashes ? w->cap_crashes * 2 : 16;
        struct crash *p = realloc(w->crashes, cap * sizeof(*p));
        if (!p)
            return IVT_ENOMEM;
        w->crashes = p;
        w->cap_crashes = cap;
    }
    w->crashes[w->n_crashes++] = (struct crash){h->slot, w->now, -1, -1, -1, false};
    if (restart_after > 0) {
        int rc = schedule(w, w->now + restart_after, ACT_RESTART, h->slot);
        if (rc)
            return rc;
    }
    return record(w, REC_CRASH, h->slot, (uint64_t)restart_after, snapshot);
}

static int restart_node(struct sim_world *w, struct host *h)
{
    if (h->running || h->left)
        return 0;
    h->generation++;
    int rc = core_create(w, &h->core, h->slot, h->generation, h);
    if (rc)
        return rc;
    if (h->snapshot && w->core->restore)
        w->core->restore(h->core, h->snapshot, h->snapshot_len, wall_of(h, w->now));
    free(h->snapshot);
    h->snapshot = NULL;
    h->snapshot_len = 0;
    struct gossip_addr seeds[SEEDS_PER_JOIN];
    size_t n = pick_seeds(w, h->slot, seeds);
    if (n)
        w->core->join(h->core, seeds, n, w->now);
    h->running = true;
    sim_net_restart(w->net, h->slot, h);
    sim_net_poke(w->net, h->slot);
    for (size_t i = 0; i < w->n_crashes; i++)
        if (w->crashes[i].slot == h->slot)
            w->crashes[i].closed = true;
    return record(w, REC_RESTART, h->slot, h->generation, n);
}

static int leave_node(struct sim_world *w, struct host *h)
{
    if (!h->running || h->left)
        return 0;
    w->core->leave(h->core, w->now);
    sim_net_poke(w->net, h->slot);
    h->left = true;
    int rc = schedule(w, w->now + LEAVE_LINGER_MS, ACT_STOP, h->slot);
    return rc ? rc : record(w, REC_LEAVE, h->slot, 0, 0);
}

/* ---- links ------------------------------------------------------------------ */

_Static_assert((int)SIM_MAX_REGIONS <= (int)SIM_NET_ZONES,
               "every region must be a zone of sim/net");

/* Region i to region j as the scenario says, or with its loss replaced
 * (loss >= 0: a loss fault). Milliseconds are whole in sim/net. */
static void set_pair(struct sim_world *w, uint32_t i, uint32_t j, double loss)
{
    const struct sim_link_config *c = &w->sc->net.links[i][j];
    struct sim_net_link l = {
        .delay = (ivt_ms)llround(c->latency_ms),
        .jitter = (ivt_ms)llround(c->jitter_ms),
        .loss = loss >= 0 ? loss : c->loss,
        .dup = c->duplicate,
        .reorder = c->reorder,
        .reorder_delay = (ivt_ms)llround(c->reorder_ms),
    };
    sim_net_set_pair(w->net, i, j, &l);
}

static bool loss_covers(const struct sim_fault *f, uint32_t i, uint32_t j)
{
    return f->between[0] < 0 || ((int)i == f->between[0] && (int)j == f->between[1]) ||
           ((int)i == f->between[1] && (int)j == f->between[0]);
}

/* Every link's loss: the scenario's, or that of the latest-started loss
 * fault acting on it now (every pair, or both ways between two regions).
 * Recomputed whenever a loss fault starts or ends, so nested and
 * overlapping ones each undo exactly their own part. */
static void apply_losses(struct sim_world *w)
{
    uint32_t n = w->sc->net.n_regions;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++) {
            double loss = -1;
            ivt_ms since = -1;
            for (size_t k = 0; k < w->sc->n_faults; k++) {
                const struct sim_fault *f = &w->sc->faults[k];
                if (f->kind == SIM_FAULT_LOSS && f->at <= w->now && w->now < f->at + f->duration &&
                    f->at >= since && loss_covers(f, i, j)) {
                    loss = f->loss;
                    since = f->at;
                }
            }
            set_pair(w, i, j, loss);
        }
}

/* ---- node selections -------------------------------------------------------- */

/* A node a random selection may pick: running, and not one that has left
 * and lingers before it stops (a crash of it would crash nothing: churn.cfg
 * seed 4 then had no crash to measure). */
static bool member_now(const struct host *h)
{
    return h->running && !h->left;
}

/* Marks the slots a selection names among running nodes; returns how many.
 * `other` marks (for SIM_SEL_REST) are the complement of `taken`. */
static uint32_t select_nodes(struct sim_world *w, const struct sim_sel *s, uint8_t *mark,
                             const uint8_t *taken)
{
    uint32_t n = 0, live = 0;
    for (uint32_t i = 0; i < w->n_hosts; i++)
        live += member_now(&w->hosts[i]);
    memset(mark, 0, w->n_hosts);
    uint32_t want = 0;
    switch (s->kind) {
    case SIM_SEL_COUNT: want = s->a; break;
    case SIM_SEL_PERCENT: want = (uint32_t)llround(s->percent / 100.0 * live); break;
    default: break;
    }
    if (s->kind == SIM_SEL_COUNT || s->kind == SIM_SEL_PERCENT) {
        if (want > live)
            want = live;
        /* a partial Fisher-Yates over the running slots */
        uint32_t *c = malloc((live ? live : 1) * sizeof(*c));
        if (!c)
            return 0;
        uint32_t k = 0;
        for (uint32_t i = 0; i < w->n_hosts; i++)
            if (member_now(&w->hosts[i]))
                c[k++] = i;
        for (uint32_t i = 0; i < want; i++) {
            uint32_t j = i + (uint32_t)ivt_rng_below(&w->frng, live - i);
            uint32_t t = c[i];
            c[i] = c[j];
            c[j] = t;
            mark[c[i]] = 1;
        }
        free(c);
        return want;
    }
    for (uint32_t i = 0; i < w->n_hosts; i++) {
        bool in = false;
        switch (s->kind) {
        case SIM_SEL_ALL: in = true; break;
        case SIM_SEL_REGION: in = w->hosts[i].region == s->a; break;
        case SIM_SEL_RANGE: in = i >= s->a && i <= s->b; break;
        case SIM_SEL_REST: in = !taken || !taken[i]; break;
        case SIM_SEL_HALF: in = i < w->n_hosts / 2; break;
        default: break;
        }
        if (in && (w->hosts[i].running || s->kind == SIM_SEL_REST || s->kind == SIM_SEL_HALF)) {
            mark[i] = 1;
            n++;
        }
    }
    return n;
}

static void excuse(struct sim_world *w, const uint8_t *mark, ivt_ms until)
{
    for (uint32_t i = 0; i < w->n_hosts; i++)
        if (mark[i] && w->hosts[i].excused_until < until)
            w->hosts[i].excused_until = until;
}

static double uniform(struct ivt_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ivt_rng_double(r);
}

static int apply_fault(struct sim_world *w, uint32_t fi)
{
    const struct sim_fault *f = &w->sc->faults[fi];
    uint8_t *mark = calloc(w->cap_hosts, 1), *other = calloc(w->cap_hosts, 1);
    int rc = mark && other ? 0 : IVT_ENOMEM;
    if (rc)
        goto out;
    uint32_t n = select_nodes(w, &f->nodes, mark, NULL);
    switch (f->kind) {
    case SIM_FAULT_CRASH:
        for (uint32_t i = 0; i < w->n_hosts && !rc; i++)
            if (mark[i] && w->hosts[i].running && !w->hosts[i].left)
                rc = crash_node(w, &w->hosts[i], f->duration, f->from_snapshot);
        break;
    case SIM_FAULT_PAUSE:
        for (uint32_t i = 0; i < w->n_hosts; i++)
            if (mark[i] && w->hosts[i].running)
                sim_net_pause(w->net, i, f->duration);
        if (f->excused)
            excuse(w, mark, w->now + f->duration + EXCUSE_GRACE_MS);
        rc = record(w, REC_PAUSE, fi, n, (uint64_t)f->duration);
        break;
    case SIM_FAULT_PARTITION: {
        uint32_t m = select_nodes(w, &f->other, other, mark);
        for (uint32_t i = 0; i < w->n_hosts; i++) {
            if (mark[i])
                sim_net_set_group(w->net, i, 1);
            else if (other[i])
                sim_net_set_group(w->net, i, 2);
        }
        if (f->oneway)
            sim_net_cut(w->net, 2, 1, false); /* b's packets never reach a */
        else
            sim_net_cut(w->net, 1, 2, true);
        if (f->excused) {
            excuse(w, mark, w->now + f->duration + EXCUSE_GRACE_MS);
            excuse(w, other, w->now + f->duration + EXCUSE_GRACE_MS);
        }
        rc = schedule(w, w->now + f->duration, ACT_HEAL, fi);
        if (!rc)
            rc = record(w, REC_PARTITION, fi, n, m);
        break;
    }
    case SIM_FAULT_LEAVE:
        for (uint32_t i = 0; i < w->n_hosts && !rc; i++)
            if (mark[i])
                rc = leave_node(w, &w->hosts[i]);
        break;
    case SIM_FAULT_CHURN: {
        /* joins were scheduled at world creation (they size the host table);
         * leaves are drawn now, as a Poisson process over the span */
        double t = (double)w->now;
        double rate = f->leaves_per_min / IVT_MS_PER_MIN;
        while (rate > 0 && !rc) {
            t += -log(1 - ivt_rng_double(&w->frng)) / rate;
            if (t >= (double)(f->at + f->duration))
                break;
            rc = schedule(w, (ivt_ms)t, ACT_CHURN_LEAVE, fi);
        }
        break;
    }
    case SIM_FAULT_CLOCK:
        for (uint32_t i = 0; i < w->n_hosts; i++)
            if (mark[i]) {
                struct host *h = &w->hosts[i];
                h->offset_ms = uniform(&w->frng, f->offset_min_ms, f->offset_max_ms);
                h->drift_ppm = uniform(&w->frng, f->drift_min_ppm, f->drift_max_ppm);
            }
        rc = record(w, REC_CLOCK, fi, n, 0);
        break;
    case SIM_FAULT_LOSS: {
        apply_losses(w);
        rc = schedule(w, w->now + f->duration, ACT_RESTORE_LOSS, fi);
        if (!rc)
            rc = record(w, REC_LOSS, fi, (uint64_t)(f->loss * 1e6), 0);
        break;
    }
    default: break;
    }
out:
    free(mark);
    free(other);
    return rc;
}

static int run_action(struct sim_world *w, const struct action *a)
{
    switch (a->kind) {
    case ACT_START: return start_node(w);
    case ACT_FAULT: return apply_fault(w, a->a);
    case ACT_HEAL:
        sim_net_heal(w->net);
        for (uint32_t i = 0; i < w->n_hosts; i++)
            sim_net_set_group(w->net, i, 0);
        return record(w, REC_HEAL, a->a, 0, 0);
    case ACT_RESTORE_LOSS: apply_losses(w); return 0;
    case ACT_RESTART: return restart_node(w, &w->hosts[a->a]);
    case ACT_STOP: {
        struct host *h = &w->hosts[a->a];
        if (h->running)
            stop_host(w, h);
        return record(w, REC_STOP, a->a, 0, 0);
    }
    case ACT_CHURN_LEAVE: {
        uint32_t live = running_count(w);
        if (live <= 1)
            return 0;
        uint32_t k = (uint32_t)ivt_rng_below(&w->frng, live);
        for (uint32_t i = 0; i < w->n_hosts; i++)
            if (w->hosts[i].running && k-- == 0)
                return leave_node(w, &w->hosts[i]);
        return 0;
    }
    default: return 0;
    }
}

/* ---- the tap ------------------------------------------------------------------ */

static bool tap(void *ctx, uint32_t from, uint32_t to, const uint8_t *p, size_t n, ivt_ms now)
{
    struct sim_world *w = ctx;
    const struct sim_network *net = &w->sc->net;
    struct host *h = &w->hosts[from];
    (void)now;
    /* the digest covers the envelope header and nonce: cheap, and any
     * divergence in what a node sends shows there */
    record(w, REC_SEND, from, (uint64_t)to << 32 | n, sim_digest64(p, n < 64 ? n : 64));
    if (n > net->packet_size) {
        w->oversize++;
        return false;
    }
    if (net->bandwidth_kbps > 0) {
        double rate = net->bandwidth_kbps * 1000 / 8 / IVT_MS_PER_S; /* bytes per ms */
        double cap = rate * IVT_MS_PER_S;                            /* one second of burst */
        h->tokens = fmin(cap, h->tokens + rate * (double)(w->now - h->tokens_at));
        h->tokens_at = w->now;
        if (h->tokens < (double)n) {
            w->bw_dropped++;
            return false;
        }
        h->tokens -= (double)n;
    }
    if (net->gilbert.on) {
        const struct sim_gilbert *g = &net->gilbert;
        bool lost = ivt_rng_double(&w->frng) < (h->ge_bad ? g->loss_bad : g->loss_good);
        double flip = h->ge_bad ? g->r : g->p;
        if (ivt_rng_double(&w->frng) < flip)
            h->ge_bad = !h->ge_bad;
        if (lost) {
            w->ge_dropped++;
            return false;
        }
    }
    return true;
}

/* ---- traffic -------------------------------------------------------------------- */

static struct host *route(struct sim_world *w, const struct sim_event *ev)
{
    uint8_t r = ev->region < w->sc->net.n_regions ? ev->region : 0;
    for (uint32_t tries = 0; tries < w->sc->net.n_regions; tries++) {
        uint8_t rr = (uint8_t)((r + tries) % w->sc->net.n_regions);
        uint32_t n = w->region_n[rr];
        for (uint32_t k = 0; k < n; k++) {
            struct host *h = &w->hosts[w->region_slots[rr][(ev->lb + k) % n]];
            if (h->running && !h->left)
                return h;
        }
    }
    return NULL;
}

static bool positive(const struct sim_world *w, const struct sim_verdict *v)
{
    return v->verdict >= (w->sc->checks.positive_suspect ? 1 : 2);
}

static void count(uint64_t *tp, uint64_t *fp, uint64_t *fn, uint64_t *tn, bool bot, bool pos)
{
    if (bot)
        ++*(pos ? tp : fn);
    else
        ++*(pos ? fp : tn);
}

static int handle_event(struct sim_world *w, const struct sim_event *ev)
{
    struct host *h = route(w, ev);
    w->sec_events++;
    w->sec_bots += ev->label == SIM_BOT;
    if (!h)
        return record(w, REC_EVENT, UINT32_MAX, ev->ip, 0);
    if (!w->core->detects)
        return record(w, REC_EVENT, h->slot, ev->ip, 0);
    ivt_ms wall = wall_of(h, w->now);
    struct sim_verdict v = {0, 0};
    w->core->score(h->core, &v, ev, w->now, wall);
    sim_net_poke(w->net, h->slot);
    bool pos = positive(w, &v), bot = ev->label == SIM_BOT;
    w->sec_flagged += pos;
    w->sec_flagged_bots += pos && bot;
    bool counted = (double)w->now >= w->sc->checks.score_after_s * IVT_MS_PER_S;
    if (counted) {
        count(&w->tp, &w->fp, &w->fn, &w->tn, bot, pos);
        if (ev->actor < SIM_MAX_ACTORS) {
            w->actor_events[ev->actor]++;
            w->actor_flagged[ev->actor] += pos;
        }
    }
    for (size_t i = 0; i < w->n_shadows; i++) {
        struct shadow *s = &w->shadows[i];
        if (s->mirror != UINT32_MAX && s->mirror != h->slot)
            continue;
        struct sim_verdict sv = {0, 0};
        w->core->score(s->core, &sv, ev, w->now, w->sc->workload.start_wall + w->now);
        if (counted)
            count(&s->tp, &s->fp, &s->fn, &s->tn, bot, positive(w, &sv));
    }
    if (bot && w->n_tracked < TRACKED_IPS) {
        bool have = false;
        for (size_t i = 0; i < w->n_tracked; i++)
            have |= w->tracked[i] == ev->ip;
        if (!have)
            w->tracked[w->n_tracked++] = ev->ip;
    }
    return record(w, REC_EVENT, h->slot, (uint64_t)ev->ip << 8 | v.verdict, v.score);
}

/* ---- measurement ------------------------------------------------------------------ */

static bool excused(const struct sim_world *w, uint32_t slot)
{
    if (slot >= w->n_hosts)
        return true;
    const struct host *h = &w->hosts[slot];
    return h->crashed_ever || h->left || !h->running || h->excused_until > w->now;
}

static int ensure_scratch(struct sim_world *w)
{
    if (w->scratch_cap >= w->n_hosts + 8u)
        return 0;
    size_t cap = w->n_hosts + 64u;
    struct gossip_member_info *p = realloc(w->scratch, cap * sizeof(*p));
    if (!p)
        return IVT_ENOMEM;
    w->scratch = p;
    w->scratch_cap = cap;
    return 0;
}

/* Members of a view in DEAD (or SUSPECT) state that are not excused. */
static void scan_view(struct sim_world *w, struct host *viewer)
{
    if (ensure_scratch(w))
        return;
    struct gossip *g = w->core->gossip(viewer->core);
    size_t n = gossip_members(g, w->scratch, w->scratch_cap);
    for (size_t i = 0; i < n; i++) {
        const struct gossip_member_info *m = &w->scratch[i];
        uint32_t slot = id_slot(m->id);
        if (excused(w, slot))
            continue;
        if (m->state == GOSSIP_SUSPECT)
            w->false_suspect_views++;
        if (m->state == GOSSIP_DEAD && !w->hosts[slot].false_dead) {
            w->hosts[slot].false_dead = true;
            w->false_dead++;
        }
    }
}

static double divergence(struct sim_world *w)
{
    if (!w->core->detects || !w->n_tracked)
        return NAN;
    uint32_t live = running_count(w);
    if (!live)
        return NAN;
    uint32_t step = live > DIVERGENCE_NODES ? live / DIVERGENCE_NODES : 1;
    double sum = 0;
    int n = 0;
    for (size_t e = 0; e < w->n_tracked; e++) {
        double lo = INFINITY, hi = 0;
        uint32_t k = 0;
        for (uint32_t i = 0; i < w->n_hosts; i++) {
            struct host *h = &w->hosts[i];
            if (!h->running || k++ % step)
                continue;
            double v = w->core->ip_requests(h->core, w->tracked[e], wall_of(h, w->now));
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
        if (hi > 0) {
            sum += (hi - lo) / hi;
            n++;
        }
    }
    return n ? sum / n : NAN;
}

static int sample(struct sim_world *w)
{
    struct sim_timeline_row r;
    memset(&r, 0, sizeof(r));
    r.t_s = (double)w->now / IVT_MS_PER_S;
    uint32_t excusable = 0;
    for (uint32_t i = 0; i < w->n_hosts; i++)
        excusable += excused(w, i);
    uint32_t agree = 0;
    for (uint32_t i = 0; i < w->n_hosts; i++) {
        struct host *h = &w->hosts[i];
        if (!h->running)
            continue;
        r.live++;
        struct gossip *g = w->core->gossip(h->core);
        size_t a = gossip_member_count(g, GOSSIP_ALIVE), s = gossip_member_count(g, GOSSIP_SUSPECT),
               d = gossip_member_count(g, GOSSIP_DEAD);
        r.alive += (double)a;
        r.suspect += (double)s;
        r.dead += (double)d;
        if (d > excusable || s > excusable)
            scan_view(w, h);
    }
    /* a view agrees with the truth when it holds every running node alive
     * and suspects no one */
    uint32_t live = r.live;
    for (uint32_t i = 0; i < w->n_hosts; i++) {
        struct host *h = &w->hosts[i];
        if (!h->running)
            continue;
        struct gossip *g = w->core->gossip(h->core);
        agree += gossip_member_count(g, GOSSIP_ALIVE) == live &&
                 gossip_member_count(g, GOSSIP_SUSPECT) == 0;
    }
    if (live) {
        r.alive /= live;
        r.suspect /= live;
        r.dead /= live;
        r.views_agree = (double)agree / live;
    }
    struct sim_net_stats st;
    sim_net_get_stats(w->net, &st);
    uint64_t bytes = st.bytes_sent + st.stream_bytes;
    r.bytes = bytes - w->last_bytes;
    w->last_bytes = bytes;
    r.bytes_per_node = live ? (double)r.bytes / live : 0;
    w->bytes_sum += (double)r.bytes;
    w->live_sum += live;
    r.divergence = divergence(w);
    w->divergence = r.divergence;
    r.events = w->sec_events;
    r.bot_events = w->sec_bots;
    r.flagged = w->sec_flagged;
    r.flagged_bots = w->sec_flagged_bots;
    w->sec_events = w->sec_bots = w->sec_flagged = w->sec_flagged_bots = 0;
    /* shadows run their timers (epochs) once a second; what they would send
     * goes nowhere: they are cut off by definition */
    for (size_t i = 0; i < w->n_shadows; i++) {
        struct gossip_packet pk[OUTBOX_SCRATCH];
        w->core->tick(w->shadows[i].core, w->now, w->sc->workload.start_wall + w->now);
        while (w->core->outbox(w->shadows[i].core, pk, OUTBOX_SCRATCH) == OUTBOX_SCRATCH)
            ;
    }
    if (w->converged_at < 0 && w->now >= w->last_heal && live && agree == live)
        w->converged_at = w->now;
    int rc = sim_timeline_add(&w->tl, &r);
    return rc ? rc : record(w, REC_SAMPLE, live, (uint64_t)(r.alive * 1000), agree);
}

static void poll_crashes(struct sim_world *w)
{
    for (size_t c = 0; c < w->n_crashes; c++) {
        struct crash *k = &w->crashes[c];
        if (k->closed)
            continue;
        uint8_t id[GOSSIP_ID_LEN];
        slot_id(w, k->slot, id);
        bool any_suspect = false, any_dead = false, all_dead = true;
        for (uint32_t i = 0; i < w->n_hosts; i++) {
            struct host *h = &w->hosts[i];
            if (!h->running || h->left)
                continue;
            struct gossip_member_info m;
            int st = gossip_member(w->core->gossip(h->core), id, &m) ? GOSSIP_DEAD : (int)m.state;
            any_suspect |= st != GOSSIP_ALIVE;
            any_dead |= st == GOSSIP_DEAD || st == GOSSIP_LEFT;
            all_dead &= st == GOSSIP_DEAD || st == GOSSIP_LEFT;
        }
        if (any_suspect && k->first_suspect < 0)
            k->first_suspect = w->now;
        if (any_dead && k->first_dead < 0)
            k->first_dead = w->now;
        if (all_dead) {
            k->all_dead = w->now;
            if (k->first_suspect < 0)
                k->first_suspect = w->now;
            if (k->first_dead < 0)
                k->first_dead = w->now;
            k->closed = true;
        }
    }
}

static bool crashes_pending(const struct sim_world *w)
{
    for (size_t c = 0; c < w->n_crashes; c++)
        if (!w->crashes[c].closed)
            return true;
    return false;
}

/* ---- the world ------------------------------------------------------------------------ */

/* Host slots: the initial nodes plus every churn join, drawn here so the
 * table never moves (sim/net holds pointers to the slots). */
static int plan_joins(struct sim_world *w, uint32_t *extra)
{
    *extra = 0;
    for (size_t i = 0; i < w->sc->n_faults; i++) {
        const struct sim_fault *f = &w->sc->faults[i];
        if (f->kind != SIM_FAULT_CHURN || f->joins_per_min <= 0)
            continue;
        double t = (double)f->at, rate = f->joins_per_min / IVT_MS_PER_MIN;
        for (;;) {
            t += -log(1 - ivt_rng_double(&w->frng)) / rate;
            if (t >= (double)(f->at + f->duration) || t >= (double)w->end)
                break;
            int rc = schedule(w, (ivt_ms)t, ACT_START, 0);
            if (rc)
                return rc;
            ++*extra;
        }
    }
    return 0;
}

/* Above a full membership queue's items at 16,384 slots (393 kB, drained
 * and refilled, which a mapping would fault in again each time) and below
 * a member table of 8,192 members (720 kB, which only grows). Measured at
 * 10,000 nodes: max RSS 15.6 -> 14.2 GB, CPU 415 -> 422 s (at 256 kB:
 * 13.9 GB but 429 s, the queues' pages faulted again and again). */
enum { SIM_MMAP_THRESHOLD = 600 * 1024 };

void sim_process_setup(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, SIM_MMAP_THRESHOLD);
#endif
}

int sim_world_new(struct sim_world **out, const struct sim_scenario *sc,
                  const struct sim_core_ops *core, const struct sim_data *data,
                  const struct node_rules *rules, bool rec, char *err, size_t errcap)
{
    *out = NULL;
    struct sim_world *w = calloc(1, sizeof(*w));
    if (!w)
        return IVT_ENOMEM;
    w->sc = sc;
    w->core = core;
    w->rules = rules;
    w->record = rec;
    w->end = sc->duration;
    w->converged_at = -1;
    w->last_heal = sim_scenario_last_heal(sc);
    sim_trace_init(&w->trace);
    ivt_rng_seed(&w->frng, ivt_mix64(sc->seed ^ 0xfa017ULL));
    struct ivt_rng kr;
    ivt_rng_seed(&kr, ivt_mix64(sc->seed ^ 0x6b6579ULL));
    ivt_rng_bytes(&kr, w->key, sizeof(w->key));
    int rc = 0;
    rc = sim_net_new(&w->net, ivt_mix64(sc->seed ^ 0x6e6574ULL), 0);
    if (rc)
        goto fail;
    for (uint32_t i = 0; i < sc->net.n_regions; i++)
        for (uint32_t j = 0; j < sc->net.n_regions; j++)
            set_pair(w, i, j, -1);
    sim_net_set_tap(w->net, tap, w);
    ivt_ms span = sc->join_over >= 0 ? sc->join_over : (ivt_ms)sc->nodes * JOIN_STEP_MS;
    if (sc->join_over < 0 && span > JOIN_SPAN_MAX_MS)
        span = JOIN_SPAN_MAX_MS;
    for (uint32_t i = 0; i < sc->nodes && !rc; i++)
        rc = schedule(w, sc->nodes > 1 ? span * i / (sc->nodes - 1) : 0, ACT_START, i);
    uint32_t extra = 0;
    if (!rc)
        rc = plan_joins(w, &extra);
    for (size_t i = 0; i < sc->n_faults && !rc; i++)
        rc = schedule(w, sc->faults[i].at, ACT_FAULT, (uint32_t)i);
    if (rc)
        goto fail;
    w->cap_hosts = sc->nodes + extra;
    w->hosts = calloc(w->cap_hosts, sizeof(*w->hosts));
    if (!w->hosts) {
        rc = IVT_ENOMEM;
        goto fail;
    }
    struct sim_workload_config wc = sc->workload;
    if (sc->workload_scale_with_nodes && sc->workload_nodes)
        wc.rate_scale *= (double)sc->nodes / sc->workload_nodes;
    if (!core->detects)
        wc.n_actors = 0; /* membership only: no traffic to score */
    rc = sim_workload_new(&w->wl, &wc, data);
    if (rc) {
        snprintf(err, errcap, "%s: the workload cannot be built (%s)", sc->path, ivt_strerror(rc));
        goto fail;
    }
    if (core->detects) {
        size_t ns = sc->isolated_nodes + (sc->oracle ? 1 : 0);
        w->shadows = calloc(ns ? ns : 1, sizeof(*w->shadows));
        if (!w->shadows) {
            rc = IVT_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < ns; i++) {
            struct shadow *s = &w->shadows[i];
            bool oracle = i == sc->isolated_nodes;
            s->mirror =
                oracle
                    ? UINT32_MAX
                    : (uint32_t)((i * sc->nodes) / (sc->isolated_nodes ? sc->isolated_nodes : 1));
            rc = core_create(w, &s->core, w->cap_hosts + 1 + (uint32_t)i, 1, NULL);
            if (rc) {
                snprintf(err, errcap, "shadow node: %s", ivt_strerror(rc));
                goto fail;
            }
            w->n_shadows++;
        }
    }
    *out = w;
    return 0;
fail:
    if (!err[0])
        snprintf(err, errcap, "%s: %s", sc->path, ivt_strerror(rc));
    sim_world_delete(w);
    return rc;
}

void sim_world_delete(struct sim_world *w)
{
    if (!w)
        return;
    for (uint32_t i = 0; i < w->n_hosts; i++) {
        if (w->hosts[i].core)
            w->core->destroy(w->hosts[i].core);
        free(w->hosts[i].snapshot);
    }
    for (size_t i = 0; i < w->n_shadows; i++)
        w->core->destroy(w->shadows[i].core);
    sim_net_delete(w->net);
    sim_workload_delete(w->wl);
    for (int r = 0; r < SIM_MAX_REGIONS; r++)
        free(w->region_slots[r]);
    free(w->hosts);
    free(w->acts);
    free(w->crashes);
    free(w->shadows);
    free(w->recs);
    free(w->scratch);
    sim_timeline_destroy(&w->tl);
    free(w);
}

int sim_world_run_until(struct sim_world *w, ivt_ms until)
{
    if (until > w->end)
        until = w->end;
    while (w->now < until || (w->now == until && w->next_sample == until)) {
        ivt_ms t = until;
        if (w->n_acts && w->acts[0].t < t)
            t = w->acts[0].t;
        ivt_ms tw = sim_workload_peek(w->wl);
        if (tw < t)
            t = tw;
        if (w->next_sample < t)
            t = w->next_sample;
        if (crashes_pending(w) && w->next_poll < t)
            t = w->next_poll;
        if (t < w->now)
            t = w->now;
        sim_net_run_until(w->net, t);
        w->now = t;
        int rc = 0;
        while (!rc && w->n_acts && w->acts[0].t <= t) {
            struct action a = pop_action(w);
            rc = run_action(w, &a);
        }
        while (!rc && sim_workload_peek(w->wl) <= t) {
            struct sim_event ev;
            sim_workload_next(w->wl, &ev);
            rc = handle_event(w, &ev);
        }
        if (!rc && crashes_pending(w) && w->next_poll <= t) {
            poll_crashes(w);
            w->next_poll = t + POLL_MS;
        }
        if (!rc && w->next_sample <= t) {
            rc = sample(w);
            w->next_sample = t + SAMPLE_MS;
        }
        if (rc)
            return rc;
        if (t == until)
            break;
    }
    return 0;
}

ivt_ms sim_world_now(const struct sim_world *w)
{
    return w->now;
}

ivt_ms sim_world_end(const struct sim_world *w)
{
    return w->end;
}

uint64_t sim_world_events(const struct sim_world *w)
{
    struct sim_net_stats st;
    sim_net_get_stats(w->net, &st);
    return w->events + st.delivered;
}

const struct sim_trace_rec *sim_world_records(const struct sim_world *w, size_t *n)
{
    *n = w->n_recs;
    return w->recs;
}

void sim_world_clear_records(struct sim_world *w)
{
    w->n_recs = 0;
}

/* ---- the verdict ----------------------------------------------------------------------- */

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : NAN;
}

static void add_check(struct sim_summary *s, const char *name, bool ok, double measured,
                      double limit, const char *detail)
{
    if (s->n_checks >= SIM_MAX_CHECKS)
        return;
    struct sim_check_result *c = &s->checks[s->n_checks++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->ok = ok;
    c->measured = measured;
    c->limit = limit;
    snprintf(c->detail, sizeof(c->detail), "%s", detail);
    s->passed &= ok;
}

/* The detail of a check that compares recalls when no bot event was
 * scored (recall is then undefined, not "nan"). */
static void no_recall(char *d, size_t cap, const struct sim_checks *c)
{
    snprintf(d, cap, "no bot events scored after %.1f s, so no recall to compare",
             c->score_after_s);
}

void sim_world_finish(struct sim_world *w, struct sim_summary *s,
                      const struct sim_timeline **timeline)
{
    const struct sim_scenario *sc = w->sc;
    memset(s, 0, sizeof(*s));
    snprintf(s->scenario, sizeof(s->scenario), "%s", sc->name);
    snprintf(s->scenario_path, sizeof(s->scenario_path), "%s", sc->path);
    s->nodes = sc->nodes;
    s->sim_seconds = (double)w->now / IVT_MS_PER_S;
    s->seed = sc->seed;
    struct sim_net_stats st;
    sim_net_get_stats(w->net, &st);
    /* the run's hash covers our trace and every delivery of the net */
    struct sim_trace t = w->trace;
    struct sim_trace_rec fin = {w->now, w->seq, 0, 0, sim_net_trace_hash(w->net), st.delivered};
    sim_trace_add(&t, &fin);
    sim_trace_hex(&t, s->trace_hash);
    s->trace_events = w->events + st.delivered;

    /* failure detection */
    double *de = calloc(w->n_crashes + 1, sizeof(double)),
           *ds = calloc(w->n_crashes + 1, sizeof(double));
    double fd_sum = 0, dead_sum = 0;
    size_t n_de = 0, n_fd = 0;
    for (size_t i = 0; i < w->n_crashes; i++) {
        const struct crash *k = &w->crashes[i];
        s->crashes++;
        if (k->first_suspect >= 0) {
            fd_sum += (double)(k->first_suspect - k->at) / IVT_MS_PER_S;
            dead_sum += k->first_dead >= 0 ? (double)(k->first_dead - k->at) / IVT_MS_PER_S : 0;
            n_fd++;
        }
        if (k->all_dead >= 0 && de && ds) {
            de[n_de] = (double)(k->all_dead - k->at) / IVT_MS_PER_S;
            ds[n_de++] = (double)(k->all_dead - k->first_dead) / IVT_MS_PER_S;
        } else if (k->all_dead < 0 && !(k->closed)) {
            s->dead_everywhere_missing++;
        }
    }
    s->first_detect_s = n_fd ? fd_sum / (double)n_fd : NAN;
    s->first_dead_s = n_fd ? dead_sum / (double)n_fd : NAN;
    s->dead_everywhere_p50_s = de ? sim_percentile(de, n_de, 50) : NAN;
    s->dead_everywhere_p99_s = de ? sim_percentile(de, n_de, 99) : NAN;
    s->dissemination_p99_s = ds ? sim_percentile(ds, n_de, 99) : NAN;
    free(de);
    free(ds);
    struct gossip_config gc;
    gossip_config_profile(&gc, strcmp(sc->node.profile, "wan") == 0     ? GOSSIP_PROFILE_WAN
                               : strcmp(sc->node.profile, "local") == 0 ? GOSSIP_PROFILE_LOCAL
                                                                        : GOSSIP_PROFILE_LAN);
    s->first_detect_model_s = sim_model_first_detect_s((double)gc.probe_interval / IVT_MS_PER_S);
    s->dissemination_model_p99_s = sim_model_dissemination_s(
        sc->nodes, gc.gossip_nodes, (double)gc.gossip_interval / IVT_MS_PER_S, 0.99);
    s->false_dead = w->false_dead;
    s->false_suspect_views = w->false_suspect_views;

    /* load */
    s->bytes_per_node_per_s = w->live_sum > 0 ? w->bytes_sum / w->live_sum : 0;
    double secs = s->sim_seconds > 0 ? s->sim_seconds : 1;
    for (uint32_t i = 0; i < w->n_hosts; i++)
        s->bytes_per_node_per_s_max_node =
            fmax(s->bytes_per_node_per_s_max_node, (double)sim_net_host_bytes(w->net, i) / secs);
    s->packets_sent = st.sent;
    struct gossip_stats gs = w->gsum;
    for (uint32_t i = 0; i < w->n_hosts; i++)
        if (w->hosts[i].core)
            add_gossip_stats(&gs, w->core->gossip(w->hosts[i].core));
    double ns = w->live_sum > 0 ? w->live_sum : 1; /* node-seconds */
    struct sim_traffic *tr = &s->traffic;
    tr->membership = (double)gs.bytes_membership / ns;
    tr->payload = (double)gs.bytes_app / ns;
    tr->probe = (double)gs.bytes_probe / ns;
    tr->pushpull = (double)gs.bytes_pushpull / ns;
    tr->overhead =
        (double)(gs.bytes_out - gs.bytes_membership - gs.bytes_app - gs.bytes_probe) / ns;
    tr->payloads_published = gs.payloads_published;
    tr->payloads_delivered = gs.payloads_delivered;
    tr->payload_datagrams = gs.payload_datagrams;
    tr->payloads_dropped = gs.payloads_dropped;
    tr->asks_sent = gs.app_wants_sent;
    tr->asks_answered = gs.app_wants_answered;
    tr->asks_unanswered = gs.app_wants_unanswered;
    tr->asks_overflow = gs.app_wants_overflow;
    s->packets_dropped_net = st.lost + st.blocked + w->bw_dropped + w->ge_dropped;
    s->packets_oversize = w->oversize;
    s->packets_policed = w->bw_dropped;
    s->gossip_nomem = gs.nomem;
    s->ticks = st.ticks;
    s->storm_updates = gs.storm_updates;
    s->syncs_after_growth = gs.syncs_after_growth;
    s->pulls_again = gs.pulls_again;
    s->suspects_heard = gs.suspects_heard;
    s->suspects_shown = gs.suspects_shown;

    /* convergence */
    s->converged_after_s =
        w->converged_at >= 0 ? (double)(w->converged_at - w->last_heal) / IVT_MS_PER_S : NAN;
    s->converged = w->converged_at >= 0 &&
                   (!sc->checks.has_converged || s->converged_after_s <= sc->checks.converged_s);
    s->divergence_final = w->divergence;

    /* detection quality */
    s->tp = w->tp;
    s->fp = w->fp;
    s->fn = w->fn;
    s->scored = w->tp + w->fp + w->fn + w->tn;
    s->scored_bots = w->tp + w->fn;
    s->recall = ratio(w->tp, w->tp + w->fn);
    s->precision = ratio(w->tp, w->tp + w->fp);
    s->n_actors = sc->workload.n_actors;
    for (size_t i = 0; i < s->n_actors; i++) {
        const struct sim_actor_config *a = &sc->workload.actors[i];
        struct sim_actor_result *r = &s->actors[i];
        snprintf(r->name, sizeof(r->name), "%s", a->name);
        r->bot = sim_actor_kind_label(a->kind) == SIM_BOT;
        r->events = w->actor_events[i];
        r->flagged = w->actor_flagged[i];
    }
    uint64_t itp = 0, ifp = 0, ifn = 0;
    s->recall_oracle = s->precision_oracle = NAN;
    for (size_t i = 0; i < w->n_shadows; i++) {
        const struct shadow *sh = &w->shadows[i];
        if (sh->mirror == UINT32_MAX) {
            s->recall_oracle = ratio(sh->tp, sh->tp + sh->fn);
            s->precision_oracle = ratio(sh->tp, sh->tp + sh->fp);
        } else {
            itp += sh->tp;
            ifp += sh->fp;
            ifn += sh->fn;
        }
    }
    s->recall_isolated = ratio(itp, itp + ifn);
    s->precision_isolated = ratio(itp, itp + ifp);

    /* checks */
    const struct sim_checks *c = &sc->checks;
    char d[160];
    s->passed = true;
    if (c->has_false_dead) {
        snprintf(d, sizeof(d), "%u healthy nodes declared dead (at most %u allowed)", s->false_dead,
                 c->false_dead_max);
        add_check(s, "false_dead", s->false_dead <= c->false_dead_max, s->false_dead,
                  c->false_dead_max, d);
    }
    /* A check whose event the run never reached says so, not "nan s": a
     * --duration shorter than the scenario's faults ends before them. */
    double end_s = (double)w->end / IVT_MS_PER_S;
    if (c->has_dead_everywhere) {
        bool ok = s->dead_everywhere_missing == 0 && s->crashes > 0 &&
                  !(s->dead_everywhere_p99_s > c->dead_everywhere_s);
        if (s->crashes == 0)
            snprintf(d, sizeof(d), "no node crashed in the run (it ends at %.1f s)", end_s);
        else if (s->dead_everywhere_missing == s->crashes)
            snprintf(d, sizeof(d),
                     "%u crashes, none dead everywhere by the end at %.1f s (limit %.1f s)",
                     s->crashes, end_s, c->dead_everywhere_s);
        else
            snprintf(d, sizeof(d),
                     "%u crashes, %u never dead everywhere, p99 %.1f s (limit %.1f s)", s->crashes,
                     s->dead_everywhere_missing, s->dead_everywhere_p99_s, c->dead_everywhere_s);
        add_check(s, "dead_everywhere", ok, s->dead_everywhere_p99_s, c->dead_everywhere_s, d);
    }
    if (c->has_converged) {
        double heal_s = (double)w->last_heal / IVT_MS_PER_S;
        if (w->last_heal > w->end)
            snprintf(d, sizeof(d), "the last heal at %.1f s is after the run's end at %.1f s",
                     heal_s, end_s);
        else if (w->converged_at < 0)
            snprintf(d, sizeof(d),
                     "views still differed from the truth at the end, %.1f s after the last heal "
                     "at %.1f s (limit %.1f s)",
                     end_s - heal_s, heal_s, c->converged_s);
        else
            snprintf(d, sizeof(d),
                     "every view matched the truth %.1f s after the last heal at %.1f s (limit "
                     "%.1f s)",
                     s->converged_after_s, heal_s, c->converged_s);
        add_check(s, "converged", s->converged, s->converged_after_s, c->converged_s, d);
    }
    if (c->has_bytes) {
        snprintf(d, sizeof(d), "%.0f bytes per node per second", s->bytes_per_node_per_s);
        add_check(s, "bytes_per_node_per_s", s->bytes_per_node_per_s <= c->bytes_per_node_per_s_max,
                  s->bytes_per_node_per_s, c->bytes_per_node_per_s_max, d);
    }
    if (c->has_recall) {
        snprintf(d, sizeof(d), "%llu of %llu bot events flagged", (unsigned long long)s->tp,
                 (unsigned long long)s->scored_bots);
        add_check(s, "recall", s->recall >= c->recall_min, s->recall, c->recall_min, d);
    }
    if (c->has_precision) {
        snprintf(d, sizeof(d), "%llu of %llu flagged events were bots", (unsigned long long)s->tp,
                 (unsigned long long)(s->tp + s->fp));
        add_check(s, "precision", s->precision >= c->precision_min, s->precision, c->precision_min,
                  d);
    }
    if (c->has_recall_vs_oracle) {
        /* The fleet against one node fed every event: what gossip and the
         * evidence model fail to carry, whatever share of the workload the
         * rules can catch at all (a draw of botnet.cfg's workload may hide
         * most of its botnet from the oracle too). Nothing for the oracle
         * to catch, nothing lost. */
        double share = s->recall_oracle > 0    ? s->recall / s->recall_oracle
                       : s->recall_oracle == 0 ? 1
                                               : NAN;
        if (isfinite(share))
            snprintf(d, sizeof(d), "fleet recall %.4f, %.1f %% of the oracle's %.4f", s->recall,
                     100 * share, s->recall_oracle);
        else
            no_recall(d, sizeof(d), c);
        add_check(s, "recall_vs_oracle", share >= c->recall_vs_oracle_min, share,
                  c->recall_vs_oracle_min, d);
    }
    if (c->fleet_beats_isolated) {
        if (isfinite(s->recall) && isfinite(s->recall_isolated))
            snprintf(d, sizeof(d), "fleet recall %.3f vs isolated %.3f", s->recall,
                     s->recall_isolated);
        else
            no_recall(d, sizeof(d), c);
        add_check(s, "fleet_beats_isolated", s->recall > s->recall_isolated, s->recall,
                  s->recall_isolated, d);
    }
    w->finished = true;
    *timeline = &w->tl;
}

/* ---- membership only: a bare gossip instance as the core ---------------------------------- */

static int g_create(void **out, const struct sim_core_spec *spec)
{
    struct gossip_config cfg;
    const char *p = spec->settings->profile;
    gossip_config_profile(&cfg, strcmp(p, "wan") == 0     ? GOSSIP_PROFILE_WAN
                                : strcmp(p, "local") == 0 ? GOSSIP_PROFILE_LOCAL
                                                          : GOSSIP_PROFILE_LAN);
    memcpy(cfg.id, spec->id, sizeof(cfg.id));
    cfg.generation = spec->generation;
    memcpy(cfg.name, spec->name, sizeof(cfg.name));
    cfg.meta_len = 0;
    cfg.addr = spec->addr;
    cfg.member_feedback = spec->settings->member_feedback;
    cfg.app_feedback = spec->settings->app_feedback;
    if (spec->settings->aead)
        cfg.aead = (enum gossip_aead)spec->settings->aead;
    snprintf(cfg.label, sizeof(cfg.label), "ivtsim");
    cfg.packet_size = spec->packet_size;
    struct gossip_keyring kr;
    gossip_keyring_init(&kr);
    int rc = gossip_keyring_install(&kr, spec->key);
    if (!rc)
        rc = gossip_new((struct gossip **)out, &cfg, &kr, NULL, spec->seed, spec->now);
    gossip_keyring_destroy(&kr);
    return rc;
}
static void g_destroy(void *c)
{
    gossip_delete(c);
}
static struct gossip *g_gossip(void *c)
{
    return c;
}
static int g_receive(void *c, const struct gossip_addr *from, const uint8_t *p, size_t n,
                     ivt_ms now, ivt_ms wall)
{
    (void)wall;
    return gossip_receive(c, from, p, n, now);
}
static int g_tick(void *c, ivt_ms now, ivt_ms wall)
{
    (void)wall;
    return gossip_tick(c, now);
}
static ivt_ms g_deadline(void *c)
{
    return gossip_next_deadline(c);
}
static size_t g_outbox(void *c, struct gossip_packet *out, size_t max)
{
    return gossip_outbox(c, out, max);
}
static int g_join(void *c, const struct gossip_addr *seeds, size_t n, ivt_ms now)
{
    return gossip_join(c, seeds, n, now);
}
static int g_leave(void *c, ivt_ms now)
{
    return gossip_leave(c, now);
}

const struct sim_core_ops sim_core_gossip = {
    .name = "gossip",
    .detects = false,
    .create = g_create,
    .destroy = g_destroy,
    .gossip = g_gossip,
    .receive = g_receive,
    .tick = g_tick,
    .deadline = g_deadline,
    .outbox = g_outbox,
    .join = g_join,
    .leave = g_leave,
    /* No warm: a membership-only event is short, and asking for the next
     * instance's lines cost what it saved (docs/simulator.md). */
};
