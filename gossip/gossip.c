/*
 * gossip/gossip.c: SWIM membership with the Lifeguard extensions and
 * piggybacked dissemination, as a state machine with no I/O.
 *
 * Parts, in file order:
 *   - config profiles and validation;
 *   - the member table: one array (self at [0]) + an open-addressing index
 *     by id + a shuffled probe order;
 *   - the update rules (alive / suspect / dead / left), ordered by the
 *     tuple (generation, incarnation) and a state rank;
 *   - suspicion with Lifeguard's dynamic timeout;
 *   - dissemination queues and the packet builder;
 *   - the receive path (open, replay check, decode, dispatch);
 *   - the timers run by gossip_tick: probe, gossip, push-pull, reconnect,
 *     reap.
 *
 * Where and why this departs from SWIM / memberlist:
 *   - Identity is a 16-byte id plus a persisted generation, not a name or
 *     an address (Tarantool); the address is an attribute an ALIVE updates.
 *     Incarnations compare as (generation, incarnation).
 *   - Every datagram carries the sender's (id, generation, counter) inside
 *     the sealed plaintext, and a per-sender replay window is checked and
 *     committed only after the AEAD open succeeds.
 *   - Membership updates and application payloads have separate per-packet
 *     byte budgets (memberlist#299: at scale one starves the other). The
 *     membership budget is reserved; each side may use what the other left.
 *   - Dead and left members are kept as tombstones (default 24 h) and one is
 *     retried every reconnect interval with a push-pull (Serf's reconnect);
 *     seeds are re-joined while we see no live member or no join of ours
 *     has completed. So a healed partition merges by itself
 *     (memberlist#222), and a node whose join failed is no island.
 *   - A push-pull may only lower trust (memberlist#312): a remote "alive"
 *     never revives a tombstone; instead we probe that member with its
 *     death certificate attached (the buddy system), so only the member's
 *     own refutation, gossiped with a higher incarnation, brings it back.
 *   - Payloads alone do not make a gossip round send: it waits until they
 *     fill a datagram or one would wait past app_max_delay (memberlist
 *     sends whatever is queued every round; each datagram is a seal and an
 *     open whatever it carries). Membership news never waits.
 *   - Demers' feedback, off by default: copies of queued news heard again
 *     from the network may count as a fraction of one of our own sends
 *     (member_feedback, app_feedback), so saturated news stops being
 *     retransmitted sooner; SWIM and memberlist count only their own sends.
 *   - A member our join push-pull taught us is not re-gossiped (it is the
 *     seed's view, old news), and when our membership queue empties after
 *     gossip grew our view by a quarter or more, we push-pull once
 *     (memberlist re-gossips every member a push-pull brings and relies on
 *     its periodic push-pull for the rest): in a join storm the nodes that
 *     joined first learn nearly everyone by gossip from spreaders fewer
 *     than the members they pick targets among, and the residue of that
 *     news is known to whoever joined later.
 *   - Stall detection: when gossip_tick runs much later than the deadline
 *     we asked for, our own loop stalled; the probe in flight is given the
 *     stall back (its ack may be waiting in the socket buffer) and the
 *     Lifeguard health score rises, instead of suspecting a healthy peer.
 */
#include "gossip/gossip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "gossip/envelope.h"
#include "gossip/internal.h"

enum {
    MEM_INITIAL_CAP = 16,   /* grows by doubling: most tables are small */
    OUTBOX_INITIAL_CAP = 4, /* the host drains after every call */
    MQ_INITIAL_CAP = 16,    /* membership queue, at most one item per member */
    MIN_MEMBER_MSG = 24,    /* smallest membership message: stop filling below it */
    TRANSMITS_CAP = GOSSIP_TRANSMITS_CAP,
    MISFITS_MAX = 8, /* queued updates too big for the room left before a packet is called full */
    PUSHPULL_SCALE_BASE = 32, /* memberlist: push-pull interval grows above 32 nodes */
    SYNC_GRACE_PROBES = 2,    /* probe intervals a push-pull gets before a lone accusation kills */
    CONFIRM_GRACE = 1,        /* probe intervals an accused gets to refute a late confirmation */
    /* A view that gossip grew by at least 1/this of its size while our
     * membership queue was busy gets one push-pull when the queue empties:
     * its digests (~44 bytes a member, both ways) then cost at most 1/4
     * to 1/6 of what spreading that growth cost this node (~55 bytes an
     * update times the retransmit limit, 12 at 100 nodes, 20 at 10,000). */
    GROWTH_SYNC_SHARE = 4,
    /* A join storm: a member new to us, learned while our membership queue
     * holds an update for at least 1/this of our members (and we know at
     * least STORM_MEMBERS_MIN), is sent retransmit_mult times, not the
     * whole limit (enqueue_news). */
    STORM_QUEUE_SHARE = 8,
    STORM_MEMBERS_MIN = 64,
    /* gossip__pull_again: a pull that brought 1/this of the view or more
     * is repeated this many probe intervals later */
    PULL_AGAIN_SHARE = 1024,
    PULL_AGAIN_PROBES = 10,
    REAP_PERIOD_MS = 60 * IVT_MS_PER_S, /* tombstone expiry is checked this often */
    SEEN_MIN = 64,                      /* smallest payload-dedup memory */
    /* Lazy push (app_eager): IWANTs remembered, so the announcements of
     * one payload by several members cost one IWANT per probe_timeout;
     * and payloads kept after they leave the queue, so the IWANT that
     * answers our last announcement finds them. */
    WANT_MEMO = 256,
    RETIRED_MAX = 64,
    /* Announced payloads waiting for their ask; more are not asked for
     * until announced again (app_wants_overflow). */
    PENDING_WANTS_MAX = 256,
    /* A received datagram of IWANTs is answered in at most this many
     * datagrams: an answer (a payload, up to a datagram) is up to a
     * hundred times its ask. */
    ANSWER_DATAGRAMS_MAX = 8,
    /* Default app_max_delay, in gossip intervals: at the node core's
     * evidence rate a queue fills a datagram in about a second, and a
     * payload-only round every interval sent datagrams a third full. */
    APP_DELAY_ROUNDS = 5,
    /* Members above which the subkey memo is let go: its 256 slots then
     * thrash among the senders, and a simulator of 10,000 nodes would
     * hold 20 KiB each for nothing. */
    SUBKEY_MEMO_MEMBERS_MAX = 2 * GOSSIP_SUBKEYS
};

/* (generation, incarnation) as one ordered number. */
static uint64_t version(uint32_t gen, uint32_t inc)
{
    return (uint64_t)gen << 32 | inc;
}

static bool is_live(uint8_t st)
{
    return st == GOSSIP_ALIVE || st == GOSSIP_SUSPECT;
}

bool gossip_addr_eq(const struct gossip_addr *a, const struct gossip_addr *b)
{
    return a->family == b->family && a->port == b->port && !memcmp(a->bytes, b->bytes, 16);
}

const char *gossip_state_name(enum gossip_member_state st)
{
    static const char *const names[] = {"alive", "suspect", "dead", "left"};
    return (unsigned)st < GOSSIP_STATES ? names[st] : "unknown";
}

const char *gossip_drop_name(enum gossip_drop reason)
{
    static const char *const names[] = {"oversize", "garbage", "version", "key",   "auth",
                                        "replay",   "decode",  "self",    "outbox"};
    return (unsigned)reason < GOSSIP_DROP_REASONS ? names[reason] : "unknown";
}

/* ---- configuration ----------------------------------------------------- */

void gossip_config_profile(struct gossip_config *cfg, enum gossip_profile p)
{
    /* LAN: memberlist's DefaultLANConfig plus our own knobs. */
    cfg->packet_size = 1200;  /* under any path MTU with IPv6 and tunnels: never fragment */
    cfg->member_budget = 400; /* ~40% of a packet for membership, the rest for payloads */
    cfg->pushpull_max_bytes = 8u << 20;
    cfg->probe_interval = 1000;
    cfg->probe_timeout = 500;
    cfg->indirect_checks = 3;
    cfg->suspicion_mult = 4;
    cfg->suspicion_max_mult = 6;
    cfg->awareness_max = 8;
    cfg->stall_threshold = 250; /* half the probe timeout */
    cfg->gossip_interval = 200;
    cfg->gossip_nodes = 3;
    cfg->gossip_to_dead = 30 * IVT_MS_PER_S;
    cfg->retransmit_mult = 4;
    cfg->app_retransmit_mult = 0; /* payloads as membership, unless the host says otherwise */
    cfg->member_feedback = 0;     /* off: measured, docs/gossip.md "Feedback" */
    cfg->app_feedback = 0;
    cfg->app_eager = 0; /* lazy push off: memberlist's way, unless the host says otherwise */
    cfg->app_queue_max = 256;
    cfg->app_seen_max = 4096;
    cfg->pushpull_interval = 30 * IVT_MS_PER_S;
    cfg->stream_timeout = 10 * IVT_MS_PER_S;
    cfg->stream_max = 128;              /* memberlist's bound on concurrent push-pulls */
    cfg->segment_gap = 0;               /* a segment of our app diff every gossip_tick */
    cfg->pushpull_full_digests = false; /* hashed digests: docs/gossip.md */
    cfg->aead = GOSSIP_AEAD_XCHACHA20POLY1305;
    cfg->tombstone_ttl = IVT_MS_PER_DAY;
    cfg->reconnect_interval = 30 * IVT_MS_PER_S;
    cfg->max_members = 1u << 16;
    cfg->outbox_max = 4096;
    if (p == GOSSIP_PROFILE_WAN) {
        cfg->probe_interval = 5000;
        cfg->probe_timeout = 3000;
        cfg->suspicion_mult = 6;
        cfg->stall_threshold = 1500;
        cfg->gossip_interval = 500;
        cfg->gossip_nodes = 4;
        cfg->gossip_to_dead = 60 * IVT_MS_PER_S;
        cfg->pushpull_interval = 60 * IVT_MS_PER_S;
        cfg->stream_timeout = 30 * IVT_MS_PER_S;
    } else if (p == GOSSIP_PROFILE_LOCAL) {
        cfg->probe_timeout = 200;
        cfg->indirect_checks = 1;
        cfg->suspicion_mult = 3;
        cfg->stall_threshold = 100;
        cfg->retransmit_mult = 2;
        cfg->gossip_interval = 100;
        cfg->gossip_to_dead = 15 * IVT_MS_PER_S;
        cfg->pushpull_interval = 15 * IVT_MS_PER_S;
        cfg->stream_timeout = IVT_MS_PER_S;
    }
    cfg->app_max_delay = APP_DELAY_ROUNDS * cfg->gossip_interval;
}

static int config_check(const struct gossip_config *c)
{
    size_t fixed = GOSSIP_ENVELOPE_OVERHEAD + GOSSIP_HDR_MAX + GOSSIP_PROBE_MSG_MAX;
    if (c->packet_size > GOSSIP_PACKET_MAX || c->packet_size < fixed + 2 * GOSSIP_MEMBER_MSG_MAX)
        return IVT_EINVAL;
    if (c->member_budget < GOSSIP_MEMBER_MSG_MAX ||
        c->member_budget + GOSSIP_MEMBER_MSG_MAX > c->packet_size - fixed)
        return IVT_EINVAL;
    if (c->probe_interval <= 0 || c->probe_timeout <= 0 || c->probe_timeout > c->probe_interval ||
        c->gossip_interval <= 0 || c->pushpull_interval <= 0 || c->stream_timeout <= 0 ||
        c->reconnect_interval <= 0 || c->tombstone_ttl <= 0 || c->stall_threshold <= 0 ||
        c->app_max_delay < 0)
        return IVT_EINVAL;
    if (c->suspicion_mult < 1 || c->suspicion_max_mult < 1 || c->awareness_max < 1 ||
        c->retransmit_mult < 1 || c->stream_max < 1 || c->max_members < 2 ||
        c->max_members > GOSSIP_MAX_MEMBERS_LIMIT || c->outbox_max < 1 || c->app_queue_max < 1 ||
        c->meta_len > GOSSIP_META_MAX || c->member_feedback > UINT8_MAX ||
        c->app_feedback > UINT8_MAX || c->app_eager > UINT8_MAX ||
        memchr(c->name, 0, GOSSIP_NAME_MAX) == NULL ||
        memchr(c->label, 0, sizeof(c->label)) == NULL)
        return IVT_EINVAL;
    if (c->pushpull_max_bytes < 1024 || c->pushpull_max_bytes > (1u << 30))
        return IVT_EINVAL;
    if (!gossip_aead_available(c->aead))
        return IVT_EINVAL;
    return 0;
}

/* ---- member table ------------------------------------------------------ */

/* Over all 16 bytes: ids need only be unique, not random in every byte
 * (the simulator's share their first 8), and a hash of a common prefix
 * puts every member in one probe chain. */
static uint32_t id_hash(const uint8_t *id)
{
    uint64_t a, b;
    memcpy(&a, id, sizeof(a));
    memcpy(&b, id + sizeof(a), sizeof(b));
    return (uint32_t)ivt_mix64(a ^ ivt_mix64(b));
}

/* Nonces: a counter, not a draw. The first 12 bytes of our id, the
 * generation and the message counter (big-endian) never repeat under one key
 * as long as (id, generation) is never reused, which the generation's raise
 * before every start (persisted by the host) guarantees, whatever the random
 * seed: two nodes that drew the same seed still never share a nonce. */
enum { NONCE_ID_BYTES = GOSSIP_NONCE_LEN - 4 - 8 };
_Static_assert(NONCE_ID_BYTES > 0 && (int)NONCE_ID_BYTES <= (int)GOSSIP_ID_LEN, "nonce layout");

void gossip__nonce(const struct gossip *g, uint64_t counter, uint8_t nonce[GOSSIP_NONCE_LEN])
{
    memcpy(nonce, g->mem[0].id, NONCE_ID_BYTES);
    uint8_t *p = nonce + NONCE_ID_BYTES;
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(g->cfg.generation >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(counter >> (56 - 8 * i));
}

/* The index's entries: the member's index + 1 in the low HIDX_IDX_BITS (0:
 * empty), the top bits of the id's hash above them. A probe that meets
 * another member's entry is turned away by those bits (255 times in 256)
 * without reading that member's record, which in a simulator of N tables
 * of N members is a cache miss of its own; that is also what lets the index
 * fill to three quarters (HIDX_LOAD_*) where it stopped at half: at 10,000
 * members 64 KiB a table instead of 128. */
enum { HIDX_IDX_BITS = 24, HIDX_LOAD_NUM = 3, HIDX_LOAD_DEN = 4 };
#define HIDX_IDX_MASK ((1u << HIDX_IDX_BITS) - 1)
_Static_assert(GOSSIP_MAX_MEMBERS_LIMIT < HIDX_IDX_MASK, "an index + 1 fits an entry's low bits");

/* From slot *i on, the next entry whose tag is h's: the member it names
 * is a candidate (its id not compared), *i its slot; -1 at an empty slot. */
static int hidx_scan(const struct gossip *g, uint32_t h, uint32_t *i)
{
    uint32_t mask = g->hcap - 1, tag = h & ~HIDX_IDX_MASK;
    for (;; *i = (*i + 1) & mask) {
        uint32_t v = g->hidx[*i];
        if (!v)
            return -1;
        if ((v & ~HIDX_IDX_MASK) == tag)
            return (int)((v & HIDX_IDX_MASK) - 1);
    }
}

/* The first candidate for hash h, or -1. */
static int hidx_peek(const struct gossip *g, uint32_t h)
{
    uint32_t i = h & (g->hcap - 1);
    return hidx_scan(g, h, &i);
}

int gossip__find_at(const struct gossip *g, const uint8_t *id, uint32_t h)
{
    for (uint32_t i = h & (g->hcap - 1);; i = (i + 1) & (g->hcap - 1)) {
        int idx = hidx_scan(g, h, &i);
        if (idx < 0 || !memcmp(g->mem[idx].id, id, GOSSIP_ID_LEN))
            return idx;
    }
}

int gossip__find(const struct gossip *g, const uint8_t *id)
{
    return gossip__find_at(g, id, id_hash(id));
}

uint32_t gossip__find_slot(const struct gossip *g, const uint8_t *id)
{
    uint32_t h = id_hash(id);
    __builtin_prefetch(&g->hidx[h & (g->hcap - 1)]);
    return h;
}

void gossip__find_fetch(const struct gossip *g, uint32_t h)
{
    int idx = hidx_peek(g, h);
    if (idx >= 0)
        gossip_mem_prefetch(&g->mem[idx], state);
}

static void hidx_put(struct gossip *g, uint32_t idx)
{
    uint32_t mask = g->hcap - 1, h = id_hash(g->mem[idx].id);
    uint32_t i = h & mask;
    while (g->hidx[i])
        i = (i + 1) & mask;
    g->hidx[i] = (h & ~HIDX_IDX_MASK) | (idx + 1);
}

static int hidx_rebuild(struct gossip *g, uint32_t cap)
{
    uint32_t *h = calloc(cap, sizeof(*h));
    if (!h)
        return IVT_ENOMEM;
    free(g->hidx);
    g->hidx = h;
    g->hcap = cap;
    for (uint32_t i = 0; i < g->n_mem; i++)
        hidx_put(g, i);
    return 0;
}

/* Attribute arena entries (see attr_store). */
enum {
    ATTR_HDR = 2,             /* an entry starts with its name and meta lengths */
    ATTRS_INITIAL_CAP = 256,  /* the arena grows by doubling */
    ATTRS_COMPACT_MIN = 4096, /* superseded bytes worth a compaction */
};

static void member_info(const struct gossip *g, uint32_t idx, struct gossip_member_info *out)
{
    const struct gossip_mem *m = &g->mem[idx];
    memset(out, 0, sizeof(*out));
    memcpy(out->id, m->id, GOSSIP_ID_LEN);
    out->generation = m->gen;
    out->incarnation = m->inc;
    const uint8_t *e = g->attrs + m->attr;
    memcpy(out->name, e + ATTR_HDR, e[0]);
    out->addr = m->addr;
    out->state = (enum gossip_member_state)m->state;
    memcpy(out->meta, e + ATTR_HDR + e[0], e[1]);
    out->meta_len = e[1];
    out->self = idx == 0;
    out->changed = m->changed;
}

static void notify(struct gossip *g, uint32_t idx, bool state_changed)
{
    if (g->d.on_member) {
        struct gossip_member_info info;
        member_info(g, idx, &info);
        info.state_changed = state_changed;
        g->d.on_member(g->d.ctx, &info);
    }
}

void gossip__wire_member(const struct gossip *g, uint32_t idx, struct gossip_wire_member *out)
{
    const struct gossip_mem *m = &g->mem[idx];
    out->id = m->id;
    out->gen = m->gen;
    out->inc = m->inc;
    out->state = (enum gossip_member_state)m->state;
    out->from = g->mem[0].id; /* SUSPECT and DEAD updates name their accuser from the queue */
    out->addr = m->addr;
    const uint8_t *e = g->attrs + m->attr;
    out->name = (const char *)e + ATTR_HDR;
    out->name_len = e[0];
    out->meta = e + ATTR_HDR + e[0];
    out->meta_len = e[1];
}

/* A tombstone (idx, if it is one) is forgotten tombstone_ttl after its
 * last change: the earliest such time, so that reap scans the table only
 * when one is due (a scan every REAP_PERIOD_MS was 1 % of a 10,000-node
 * simulation, for tombstones kept a day). Later changes only delay a
 * tombstone's end, so the earliest may be early: reap then finds nothing
 * and takes the earliest again. */
static void tombstone_due(struct gossip *g, uint32_t idx)
{
    const struct gossip_mem *m = &g->mem[idx];
    if (!is_live(m->state) && m->changed + g->cfg.tombstone_ttl < g->reap_due)
        g->reap_due = m->changed + g->cfg.tombstone_ttl;
}

/* Member idx leaves (sign < 0) or enters the running summary, if live. */
static void sum_move(struct gossip *g, uint32_t idx, int sign)
{
    if (!is_live(g->mem[idx].state))
        return;
    uint64_t h = gossip__member_hash(g, idx);
    g->live_sum = sign < 0 ? g->live_sum - h : g->live_sum + h;
}

/* Every change of a member's state, generation or incarnation goes
 * through these two, so that the summary follows. */
static void set_state(struct gossip *g, uint32_t idx, uint8_t st, ivt_ms now)
{
    struct gossip_mem *m = &g->mem[idx];
    sum_move(g, idx, -1);
    g->n_state[m->state]--;
    g->n_state[st]++;
    m->state = st;
    m->changed = now;
    sum_move(g, idx, 1);
    tombstone_due(g, idx);
}

static void set_version(struct gossip *g, uint32_t idx, uint32_t gen, uint32_t inc)
{
    sum_move(g, idx, -1);
    g->mem[idx].gen = gen;
    g->mem[idx].inc = inc;
    sum_move(g, idx, 1);
}

/* ---- attribute arena ----------------------------------------------------
 *
 * Names and tags of every member, one entry each, [name_len, meta_len,
 * name, meta], appended when a member appears or changes them. A change
 * leaves the old entry behind; once superseded bytes are half the arena it
 * is compacted (one pass over the members). The name is kept up to its
 * first NUL, as a NUL-terminated name field would keep it. */

static uint32_t attr_size(const uint8_t *e)
{
    return ATTR_HDR + (uint32_t)e[0] + e[1];
}

static void attrs_compact(struct gossip *g)
{
    uint32_t live = g->attrs_len - g->attrs_dead;
    uint8_t *a = malloc(live > ATTRS_INITIAL_CAP ? live : ATTRS_INITIAL_CAP);
    if (!a)
        return; /* keep the garbage: correct, only larger */
    uint32_t len = 0;
    for (uint32_t i = 0; i < g->n_mem; i++) {
        const uint8_t *e = g->attrs + g->mem[i].attr;
        uint32_t n = attr_size(e);
        memcpy(a + len, e, n);
        g->mem[i].attr = len;
        len += n;
    }
    free(g->attrs);
    g->attrs = a;
    g->attrs_len = len;
    g->attrs_cap = live > ATTRS_INITIAL_CAP ? live : ATTRS_INITIAL_CAP;
    g->attrs_dead = 0;
}

/* Points member idx at an entry holding w's name and tags: its own if
 * they are unchanged, a new one appended otherwise. fresh: idx has no entry
 * yet. Returns 0, or IVT_ENOMEM (the member keeps its old entry). */
static int attr_store(struct gossip *g, uint32_t idx, const struct gossip_wire_member *w,
                      bool fresh)
{
    uint8_t e[ATTR_HDR + GOSSIP_NAME_MAX + GOSSIP_META_MAX];
    e[0] = (uint8_t)strnlen(w->name,
                            w->name_len < GOSSIP_NAME_MAX ? w->name_len : GOSSIP_NAME_MAX - 1);
    e[1] = (uint8_t)(w->meta_len < GOSSIP_META_MAX ? w->meta_len : GOSSIP_META_MAX);
    memcpy(e + ATTR_HDR, w->name, e[0]);
    memcpy(e + ATTR_HDR + e[0], w->meta, e[1]);
    uint32_t n = attr_size(e);
    struct gossip_mem *m = &g->mem[idx];
    if (!fresh) {
        const uint8_t *old = g->attrs + m->attr;
        if (attr_size(old) == n && !memcmp(old, e, n))
            return 0;
    }
    if (g->attrs_len + n > g->attrs_cap) {
        uint64_t cap = g->attrs_cap ? (uint64_t)g->attrs_cap * 2 : ATTRS_INITIAL_CAP;
        while (cap < (uint64_t)g->attrs_len + n)
            cap *= 2;
        if (cap > UINT32_MAX)
            return IVT_ENOMEM;
        uint8_t *a = realloc(g->attrs, cap);
        if (!a)
            return IVT_ENOMEM;
        g->attrs = a;
        g->attrs_cap = (uint32_t)cap;
    }
    if (!fresh)
        g->attrs_dead += attr_size(g->attrs + m->attr);
    memcpy(g->attrs + g->attrs_len, e, n);
    m->attr = g->attrs_len;
    g->attrs_len += n;
    if (g->attrs_dead > ATTRS_COMPACT_MIN && g->attrs_dead * 2 > g->attrs_len)
        attrs_compact(g);
    return 0;
}

static void copy_attrs(struct gossip *g, uint32_t idx, const struct gossip_wire_member *w)
{
    g->mem[idx].addr = w->addr;
    attr_store(g, idx, w, false); /* out of memory: the old name and tags stay */
}

/* Inserts a member at a random place in the probe order, so a new member is
 * probed within one round on average (memberlist's aliveNode). */
static void order_insert(struct gossip *g, uint32_t idx)
{
    uint32_t j = (uint32_t)ivt_rng_below(&g->rng, g->n_order + 1);
    g->order[g->n_order++] = idx;
    uint32_t t = g->order[j];
    g->order[j] = g->order[g->n_order - 1];
    g->order[g->n_order - 1] = t;
}

int gossip__reserve(struct gossip *g, uint32_t extra)
{
    uint64_t cap = (uint64_t)g->n_mem + extra;
    if (cap > g->cfg.max_members)
        cap = g->cfg.max_members;
    if (cap <= g->cap_mem)
        return 0;
    struct gossip_mem *m = realloc(g->mem, cap * sizeof(*m));
    if (!m)
        return IVT_ENOMEM;
    g->mem = m;
    uint32_t *o = realloc(g->order, cap * sizeof(*o));
    if (!o)
        return IVT_ENOMEM;
    g->order = o;
    g->cap_mem = (uint32_t)cap;
    return 0;
}

/* State we could not keep for want of memory is dropped (gossip or a
 * push-pull brings it again later), never silently: counted. */
static int nomem(struct gossip *g)
{
    g->st.nomem++;
    return IVT_ENOMEM;
}

static int member_add(struct gossip *g, const struct gossip_wire_member *w, uint8_t st, ivt_ms now)
{
    if (g->n_mem >= g->cfg.max_members)
        return IVT_ELIMIT;
    if (g->n_mem == g->cap_mem && gossip__reserve(g, g->cap_mem))
        return nomem(g);
    if ((uint64_t)(g->n_mem + 1) * HIDX_LOAD_DEN > (uint64_t)g->hcap * HIDX_LOAD_NUM &&
        hidx_rebuild(g, g->hcap * 2))
        return nomem(g);
    uint32_t idx = g->n_mem;
    struct gossip_mem *m = &g->mem[idx];
    memset(m, 0, sizeof(*m));
    if (attr_store(g, idx, w, true))
        return nomem(g);
    g->n_mem++;
    memcpy(m->id, w->id, GOSSIP_ID_LEN);
    m->gen = w->gen;
    m->inc = w->inc;
    m->state = st;
    m->changed = now;
    m->qslot = -1;
    m->addr = w->addr;
    gossip_replay_init(&m->rw);
    /* Packets it sent before we knew it were checked against a window for
     * unknown senders: carry it over, or they could be replayed now. */
    for (uint32_t i = 0; i < GOSSIP_UNKNOWN_WINDOWS; i++)
        if (!memcmp(g->unk[i].id, m->id, GOSSIP_ID_LEN))
            m->rw = g->unk[i].rw;
    g->n_state[st]++;
    sum_move(g, idx, 1);
    tombstone_due(g, idx);
    hidx_put(g, idx);
    order_insert(g, idx);
    return (int)idx;
}

uint32_t gossip__alive_count(const struct gossip *g)
{
    return g->n_state[GOSSIP_ALIVE] + g->n_state[GOSSIP_SUSPECT];
}

/* Bytes p[0..8) as a little-endian integer, whatever the host's order
 * (one load on the hosts we run on): the hash is compared across nodes. */
static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

uint64_t gossip__member_hash(const struct gossip *g, uint32_t idx)
{
    const struct gossip_mem *m = &g->mem[idx];
    uint64_t a = load_le64(m->id), b = load_le64(m->id + 8);
    return ivt_mix64(a ^ ivt_mix64(b ^ ivt_mix64(version(m->gen, m->inc) * 4 + m->state)));
}

uint64_t gossip__summary(const struct gossip *g, uint32_t *count)
{
    *count = gossip__alive_count(g);
    return g->live_sum;
}

uint64_t gossip__summary_recount(const struct gossip *g, uint32_t *count)
{
    /* Order-free (a sum) and over live members only: tombstones differ
     * harmlessly between nodes (reaped at different times) and must not
     * force full exchanges forever. */
    uint64_t sum = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->n_mem; i++) {
        if (!is_live(g->mem[i].state))
            continue;
        sum += gossip__member_hash(g, i);
        n++;
    }
    *count = n;
    return sum;
}

/* ---- lazy push ----------------------------------------------------------
 *
 * With app_eager set, a queued payload's first app_eager sends carry it
 * whole and the rest of its retransmit limit announce it (IHAVE fp). A
 * member that hears an announcement of a payload it has not seen waits
 * want_delay() for an eager copy (most are on their way: a payload waits
 * up to app_max_delay at each hop), then asks the announcer (IWANT fp).
 * An IWANT is answered from the queue, or from the ring of payloads that
 * left it (RETIRED_MAX). A payload pulled this way is delivered and
 * queued like any other, so it is pushed on eagerly from there.
 */
struct gossip_lazy {
    struct {
        uint64_t fp;
        ivt_ms at;     /* when it is (or was) asked for */
    } want[WANT_MEMO]; /* direct-mapped by fingerprint */
    struct {
        uint64_t fp;
        ivt_ms due;
        struct gossip_addr from;  /* the announcer */
    } pending[PENDING_WANTS_MAX]; /* a ring, by due time */
    uint32_t pending_head, pending_n;
    struct {
        uint64_t fp;
        uint8_t *msg; /* the USER message as sent; owned */
        uint32_t len;
    } retired[RETIRED_MAX];
    uint32_t retired_next;
};

/* fp's entry of the ask memo (fp is odd, fingerprint(): its low bit says
 * nothing). */
static uint32_t want_slot(uint64_t fp)
{
    return (uint32_t)(fp >> 1) & (WANT_MEMO - 1);
}

static struct gossip_lazy *lazy_get(struct gossip *g)
{
    if (!g->lazy && !(g->lazy = calloc(1, sizeof(*g->lazy))))
        g->st.nomem++;
    return g->lazy;
}

static void lazy_free(struct gossip *g)
{
    if (!g->lazy)
        return;
    for (uint32_t i = 0; i < RETIRED_MAX; i++)
        free(g->lazy->retired[i].msg);
    free(g->lazy);
    g->lazy = NULL;
}

/* Keeps a payload that left the queue (its message buffer, now ours), in
 * place of the oldest kept one. Without memory it is freed. */
static void lazy_retire(struct gossip *g, uint64_t fp, uint8_t *msg, uint32_t len)
{
    struct gossip_lazy *lz = lazy_get(g);
    if (!lz) {
        free(msg);
        return;
    }
    uint32_t i = lz->retired_next;
    lz->retired_next = (i + 1) % RETIRED_MAX;
    free(lz->retired[i].msg);
    lz->retired[i].fp = fp;
    lz->retired[i].msg = msg;
    lz->retired[i].len = len;
}

/* Queued payload item it is past its eager sends: the next ones announce
 * it (unless it is no bigger than its announcement). */
static bool app_announced(const struct gossip *g, const struct gossip_qitem *it)
{
    return g->cfg.app_eager && it->transmits >= g->cfg.app_eager && it->len > GOSSIP_FP_MSG_MAX;
}

/* The bytes one send of queued payload item it takes. */
static uint32_t app_wire_len(const struct gossip *g, const struct gossip_qitem *it)
{
    return app_announced(g, it) ? GOSSIP_FP_MSG_MAX : it->len;
}

/* ---- dissemination queues ----------------------------------------------- */

static uint32_t retransmit_limit(const struct gossip *g, const struct gossip_queue *q)
{
    double n = gossip__alive_count(g);
    uint32_t mult = !q->members && g->cfg.app_retransmit_mult ? g->cfg.app_retransmit_mult
                                                              : g->cfg.retransmit_mult;
    uint32_t lim = mult * (uint32_t)ceil(log10(n + 1));
    /* A smaller payload multiplier never goes below retransmit_mult, the
     * membership limit under 10 members: there the log term is 1 and
     * two sends reach about four nodes in five. */
    if (!q->members && lim < g->cfg.retransmit_mult)
        lim = g->cfg.retransmit_mult;
    if (lim < 1)
        lim = 1;
    return lim > TRANSMITS_CAP ? TRANSMITS_CAP : lim;
}

static size_t encode_member(const struct gossip *g, uint32_t idx, const uint8_t *from,
                            uint8_t *buf);

/* The transmit-limited queues: intrusive lists by transmit count. */
static void q_init(struct gossip_queue *q, bool members)
{
    memset(q, 0, sizeof(*q));
    q->members = members;
    q->free = GOSSIP_NIL;
    q->rhead = q->rtail = GOSSIP_NIL;
    for (uint32_t t = 0; t <= TRANSMITS_CAP; t++)
        q->head[t] = q->tail[t] = GOSSIP_NIL;
}

/* Appends slot s to the list of its transmit count. */
static void q_link(struct gossip_queue *q, uint32_t s)
{
    struct gossip_qitem *it = &q->it[s];
    uint32_t t = it->transmits;
    if (t > q->tmax)
        q->tmax = t;
    it->next = GOSSIP_NIL;
    it->prev = q->tail[t];
    if (it->prev != GOSSIP_NIL)
        q->it[it->prev].next = s;
    else
        q->head[t] = s;
    q->tail[t] = s;
}

static void q_unlink(struct gossip_queue *q, uint32_t s)
{
    const struct gossip_qitem *it = &q->it[s];
    uint32_t t = it->transmits;
    if (it->prev != GOSSIP_NIL)
        q->it[it->prev].next = it->next;
    else
        q->head[t] = it->next;
    if (it->next != GOSSIP_NIL)
        q->it[it->next].prev = it->prev;
    else
        q->tail[t] = it->prev;
}

/* Slot s counts one more send: to the back of the next list, and for a
 * payload whose eager sends are now done, its announcement's size in the
 * queue's bytes (what app_full reckons with). */
static void q_bump(const struct gossip *g, struct gossip_queue *q, uint32_t s)
{
    struct gossip_qitem *it = &q->it[s];
    q_unlink(q, s);
    if (!q->members)
        q->bytes -= app_wire_len(g, it);
    it->transmits++;
    if (!q->members)
        q->bytes += app_wire_len(g, it);
    q_link(q, s);
}

/* A free slot, counted as queued but not yet linked; -1 when the array
 * cannot grow. */
static int64_t q_alloc(struct gossip_queue *q)
{
    uint32_t s;
    if (q->free != GOSSIP_NIL) {
        s = q->free;
        q->free = q->it[s].next;
    } else {
        if (q->used == q->cap) {
            uint32_t cap = q->cap ? q->cap * 2 : MQ_INITIAL_CAP;
            struct gossip_qitem *it = realloc(q->it, cap * sizeof(*it));
            if (!it)
                return -1;
            q->it = it;
            if (!q->members) {
                struct gossip_ready *rl = realloc(q->rl, cap * sizeof(*rl));
                if (!rl)
                    return -1;
                q->rl = rl;
            }
            q->cap = cap;
        }
        s = q->used++;
    }
    q->n++;
    return s;
}

/* The payload list by ready time: payload slot s leaves it. */
static void ready_unlink(struct gossip_queue *q, uint32_t s)
{
    const struct gossip_ready *r = &q->rl[s];
    if (r->prev != GOSSIP_NIL)
        q->rl[r->prev].next = r->next;
    else
        q->rhead = r->next;
    if (r->next != GOSSIP_NIL)
        q->rl[r->next].prev = r->prev;
    else
        q->rtail = r->prev;
}

/* Puts payload slot s, ready at `at`, in the list by ready time, after
 * every item ready no later. Ready times are stamped from the call in
 * progress, so this is the tail unless a host's clock stepped back: then a
 * walk back. */
static void ready_link(struct gossip_queue *q, uint32_t s, ivt_ms at)
{
    struct gossip_ready *r = &q->rl[s];
    uint32_t after = q->rtail;
    while (after != GOSSIP_NIL && q->rl[after].at > at)
        after = q->rl[after].prev;
    r->at = at;
    r->prev = after;
    r->next = after != GOSSIP_NIL ? q->rl[after].next : q->rhead;
    if (after != GOSSIP_NIL)
        q->rl[after].next = s;
    else
        q->rhead = s;
    if (r->next != GOSSIP_NIL)
        q->rl[r->next].prev = s;
    else
        q->rtail = s;
}

/* Unlinks and frees slot s, and what it owns. */
static void q_remove(struct gossip *g, struct gossip_queue *q, uint32_t s)
{
    struct gossip_qitem *it = &q->it[s];
    q_unlink(q, s);
    if (q->members) {
        g->mem[it->u.m.idx].qslot = -1;
    } else {
        ready_unlink(q, s);
        q->bytes -= app_wire_len(g, it);
        if (g->cfg.app_eager)
            lazy_retire(g, q->rl[s].fp, it->u.app, it->len);
        else
            free(it->u.app);
        q->rl[s].fp = 0;
    }
    it->next = q->free;
    q->free = s;
    if (--q->n == 0) {
        q->tmax = 0;
        if (!q->members)
            g->app_due = IVT_MS_NEVER;
        if (q->members) {
            /* The end of a busy period: what we spread is spread, and what
             * gossip did not bring us by now it will not bring. */
            if ((uint64_t)g->grown * GROWTH_SYNC_SHARE >= g->n_mem && g->grown) {
                g->next_sync = g->now;
                g->sync_again = false;
            }
            g->grown = 0;
            /* Drained (a join's backlog of an update per member, say): give
             * the slots back; a simulator holds N of these queues. */
            free(q->it);
            q->it = NULL;
            q->cap = q->used = 0;
            q->free = GOSSIP_NIL;
        }
    }
}

static void q_destroy(struct gossip_queue *q)
{
    for (uint32_t t = 0; t <= q->tmax && !q->members; t++)
        for (uint32_t s = q->head[t]; s != GOSSIP_NIL; s = q->it[s].next)
            free(q->it[s].u.app);
    free(q->it);
    free(q->rl);
    q->it = NULL;
    q->rl = NULL;
}

/*
 * Queues (or re-queues, transmits reset) the update about member idx, at
 * the back of the never-sent list: first learned, first sent. (Newest
 * first, as memberlist orders its queue, starves the oldest news of a join
 * storm: at 1,000 nodes a few members then stayed unknown to a few nodes
 * until the next push-pull.)
 */
static void enqueue_member(struct gossip *g, uint32_t idx, const uint8_t *from)
{
    struct gossip_queue *q = &g->mq;
    struct gossip_mem *m = &g->mem[idx];
    /* The accuser is kept as a member index (a queue item is 24 bytes, not
     * 40: a join queues an item per member). One we do not know yet (it
     * joined a moment ago) cannot be named: a death is then repeated as
     * ours, a suspicion not at all (we did not confirm it, and its accuser
     * and the buddy system spread it). */
    int accuser = from ? gossip__find(g, from) : 0;
    if (accuser < 0 && m->state == GOSSIP_SUSPECT) {
        if (m->qslot >= 0)
            q_remove(g, q, (uint32_t)m->qslot);
        return;
    }
    uint32_t s;
    if (m->qslot < 0) {
        int64_t a = q_alloc(q);
        if (a < 0) {
            nomem(g); /* the update still spreads through push-pull */
            return;
        }
        s = (uint32_t)a;
        m->qslot = (int32_t)s;
        q->it[s].u.m.idx = idx;
    } else {
        s = (uint32_t)m->qslot;
        q_unlink(q, s);
    }
    struct gossip_qitem *it = &q->it[s];
    it->transmits = 0;
    it->heard = 0;
    it->packet = g->packet_no;
    it->u.m.from = accuser < 0 ? 0 : (uint32_t)accuser;
    uint8_t buf[GOSSIP_MEMBER_MSG_MAX];
    it->len = (uint16_t)encode_member(g, idx, g->mem[it->u.m.from].id, buf);
    q_link(q, s);
}

/*
 * Queues the alive update of a member new to us. In a join storm (our
 * membership queue holds an update for an eighth of our members or more:
 * a cluster forming, or many new hosts joining at once) it gets
 * retransmit_mult sends, not retransmit_mult x ceil(log10 N): it starts
 * at the limit less those, behind every fresher update (fewest sent go
 * first, so failure news still leads). A forming cluster spreads N joins
 * to N nodes, and at the full limit each reception was one of 12-20
 * copies: fewer sends took a third off a 3,000-node simulation's CPU
 * (docs/benchmarks.md, "Session 14"). The price is Demers' residue
 * (e^-4 of the pairs, about 2 %), which anti-entropy takes back: a node's
 * push-pull that brings members it lacked is repeated (pushpull.c,
 * gossip__pull_again), so the pulls go on while they find news.
 * Updates about members we know, suspicions, deaths and refutations keep
 * the full limit. docs/gossip.md, "Join storms".
 */
static void enqueue_news(struct gossip *g, uint32_t idx)
{
    enqueue_member(g, idx, NULL);
    int32_t s = g->mem[idx].qslot;
    if (s < 0 || g->n_mem < STORM_MEMBERS_MIN || (uint64_t)g->mq.n * STORM_QUEUE_SHARE < g->n_mem)
        return;
    uint32_t lim = retransmit_limit(g, &g->mq);
    if (lim <= g->cfg.retransmit_mult)
        return;
    q_unlink(&g->mq, (uint32_t)s);
    g->mq.it[s].transmits = (uint8_t)(lim - g->cfg.retransmit_mult);
    q_link(&g->mq, (uint32_t)s);
    g->st.storm_updates++;
}

/* Payload dedup: a fingerprint of (origin, generation, seq) in one of two
 * generations of open-addressing sets. When the current one holds
 * seen_cap / 2 it becomes the old one and a fresh one starts, so memory is
 * bounded and a payload is remembered for at least app_seen_max / 2 newer
 * payloads. The current set starts at SEEN_MIN slots and doubles at half
 * full up to seen_cap (the same members, and never fuller than a set of
 * seen_cap): a node that has heard few payloads holds a small set. */
static uint64_t fingerprint(const uint8_t *origin, uint32_t gen, uint64_t seq)
{
    uint64_t a, b;
    memcpy(&a, origin, 8);
    memcpy(&b, origin + 8, 8);
    return ivt_mix64(a ^ ivt_mix64(b ^ ivt_mix64(seq ^ (uint64_t)gen << 40))) | 1;
}

static bool seen_has(const uint64_t *set, uint32_t cap, uint64_t fp)
{
    if (!set)
        return false;
    for (uint32_t i = (uint32_t)fp & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (set[i] == fp)
            return true;
        if (!set[i])
            return false;
    }
}

/* Returns true when fp was new (and records it). The sets are allocated
 * with the first payload: a membership-only node (10,000 of them in a
 * simulator) never pays for them. Without memory nothing is new, so
 * nothing is delivered twice. */
static void seen_put(uint64_t *set, uint32_t cap, uint64_t fp)
{
    uint32_t i = (uint32_t)fp & (cap - 1);
    while (set[i])
        i = (i + 1) & (cap - 1);
    set[i] = fp;
}

/* The current set at `size` slots, its fingerprints moved over; false
 * (nothing changed) without memory. */
static bool seen_resize(struct gossip *g, uint32_t size)
{
    uint64_t *t = calloc(size, sizeof(*t));
    if (!t)
        return false;
    for (uint32_t i = 0; g->seen[0] && i < g->seen_size[0]; i++)
        if (g->seen[0][i])
            seen_put(t, size, g->seen[0][i]);
    free(g->seen[0]);
    g->seen[0] = t;
    g->seen_size[0] = size;
    return true;
}

static bool seen_add(struct gossip *g, uint64_t fp)
{
    if (!g->seen[0] && !seen_resize(g, SEEN_MIN < g->seen_cap ? SEEN_MIN : g->seen_cap))
        return false;
    if (seen_has(g->seen[0], g->seen_size[0], fp) || seen_has(g->seen[1], g->seen_size[1], fp))
        return false;
    if (g->seen_n >= g->seen_cap / 2) {
        /* A fresh current set, small again. */
        uint64_t *old = g->seen[0];
        uint32_t old_size = g->seen_size[0];
        g->seen[0] = NULL;
        if (!seen_resize(g, SEEN_MIN < g->seen_cap ? SEEN_MIN : g->seen_cap)) {
            g->seen[0] = old;
            return false;
        }
        free(g->seen[1]);
        g->seen[1] = old;
        g->seen_size[1] = old_size;
        g->seen_n = 0;
    } else if (g->seen_n + 1 > g->seen_size[0] / 2 && g->seen_size[0] < g->seen_cap &&
               !seen_resize(g, g->seen_size[0] * 2)) {
        return false;
    }
    seen_put(g->seen[0], g->seen_size[0], fp);
    g->seen_n++;
    return true;
}

/* Recomputes app_due from the oldest queued payload, after sends restamped
 * some of them or a drop took one. */
static void app_due_update(struct gossip *g)
{
    const struct gossip_queue *q = &g->aq;
    g->app_due = q->rhead == GOSSIP_NIL ? IVT_MS_NEVER : q->rl[q->rhead].at + g->cfg.app_max_delay;
}

/* The queued payloads fill a datagram's room (with no membership news in
 * it): a payload-only round now sends full datagrams. */
static bool app_full(const struct gossip *g)
{
    size_t room = g->cfg.packet_size - GOSSIP_ENVELOPE_OVERHEAD - GOSSIP_HDR_MAX;
    return g->cfg.app_max_delay == 0 || g->aq.bytes >= room;
}

/* A gossip round at now sends datagrams for payloads alone: they fill
 * one, or one of them would wait past app_max_delay for the next round.
 * Rounds keep their pace (gossip_interval) either way: a queue that cannot
 * drain (more payloads than rounds carry) must not turn every ack that
 * carries a few of them into a new round. */
static bool app_ready(const struct gossip *g, ivt_ms now)
{
    return g->aq.n && (app_full(g) || g->app_due <= now + g->cfg.gossip_interval);
}

static int app_enqueue(struct gossip *g, const uint8_t *msg, size_t len, uint64_t fp)
{
    struct gossip_queue *q = &g->aq;
    if (q->n >= g->cfg.app_queue_max) {
        /* Drop the most transmitted: it has done the most of its work. */
        uint32_t t = q->tmax;
        while (t > 0 && q->head[t] == GOSSIP_NIL)
            t--;
        if (t == 0)
            return IVT_ELIMIT;
        q_remove(g, q, q->head[t]);
        app_due_update(g);
        g->st.payloads_dropped++;
    }
    uint8_t *p = malloc(len ? len : 1); /* malloc(0) may be NULL */
    int64_t s = p ? q_alloc(q) : -1;
    if (s < 0) {
        free(p);
        return IVT_ENOMEM;
    }
    memcpy(p, msg, len);
    struct gossip_qitem *it = &q->it[s];
    it->transmits = 0;
    it->heard = 0;
    it->packet = g->packet_no;
    it->len = (uint16_t)len;
    it->u.app = p;
    q->bytes += (uint32_t)len;
    if (g->now + g->cfg.app_max_delay < g->app_due)
        g->app_due = g->now + g->cfg.app_max_delay;
    q_link(q, (uint32_t)s);
    ready_link(q, (uint32_t)s, g->now);
    q->rl[s].fp = fp;
    return 0;
}

/*
 * Demers et al.'s feedback ("Epidemic algorithms for replicated database
 * maintenance", 1987: rumor mongering loses interest in a rumor once
 * contacts show that others know it): every `copies` copies of queued
 * news heard again from the network count as one of our own sends. Early
 * in an epidemic nobody repeats it to us and each node sends it its full
 * retransmit limit, as before; once most of the cluster knows, the copies
 * that reach us spare sends. SWIM and memberlist count only their own
 * sends, so a saturated update costs limit x N datagram slots whatever
 * the fanout did. Demers' residue law (push, any variant: s = e^-m for m
 * sends a node) still holds; what the cluster misses, push-pull repairs,
 * as it does for losses. Off by default: at 3 copies a send a
 * 1,000-node formation left about one pair unknown until the periodic
 * push-pull (180 s at that size), and partition heals at 18 nodes took
 * longer (docs/gossip.md, "Feedback").
 */
static void heard_again(struct gossip *g, struct gossip_queue *q, uint32_t s, uint32_t copies)
{
    struct gossip_qitem *it = &q->it[s];
    if (++it->heard < copies)
        return;
    it->heard = 0;
    if ((uint32_t)it->transmits + 1 >= retransmit_limit(g, q)) {
        q_remove(g, q, s);
        if (!q->members)
            app_due_update(g);
        return;
    }
    q_bump(g, q, s);
}

/* The queued payload with fingerprint fp heard again. The ready array is
 * scanned (app_queue_max slots at most, 24 bytes each, contiguous): a
 * duplicate costs a pass over a few kilobytes, no pointer chase. */
/* The payload queue's slot of fingerprint fp, or -1. A scan: the queue
 * holds at most app_queue_max, and a free slot's fp is 0, never an fp. */
static int64_t app_slot(const struct gossip *g, uint64_t fp)
{
    const struct gossip_queue *q = &g->aq;
    for (uint32_t s = 0; q->n && s < q->used; s++)
        if (q->rl[s].fp == fp)
            return s;
    return -1;
}

static void app_heard_again(struct gossip *g, uint64_t fp)
{
    int64_t s;
    if (g->cfg.app_feedback && (s = app_slot(g, fp)) >= 0)
        heard_again(g, &g->aq, (uint32_t)s, g->cfg.app_feedback);
}

/* ---- packets ------------------------------------------------------------ */

/* The subkey memo for the next seal (seal) or open, or NULL (an open in a
 * cluster too large for a memo of its senders, or out of memory: each
 * packet then derives its own, as without one). Above
 * SUBKEY_MEMO_MEMBERS_MAX members the memo is one entry, our own seals'
 * (at 1,000 nodes their HChaCha20 was 0.8 % of a simulator's run). */
static struct gossip_subkeys *subkeys(struct gossip *g, bool seal)
{
    bool big = g->n_mem > SUBKEY_MEMO_MEMBERS_MAX;
    if (big && !seal)
        return NULL;
    /* The memo's size is noted here, not read from the memo: an open in a
     * large cluster should not touch a line it will not use. */
    if (g->subkeys && g->subkeys_one != big) {
        gossip_subkeys_delete(g->subkeys);
        g->subkeys = NULL;
    }
    if (!g->subkeys) {
        g->subkeys = gossip_subkeys_new(big ? 1 : GOSSIP_SUBKEYS);
        g->subkeys_one = big;
    }
    return g->subkeys;
}

static struct gossip_packet *outbox_slot(struct gossip *g)
{
    if (g->ob_len == g->ob_cap) {
        if (g->ob_cap >= g->cfg.outbox_max) {
            g->st.dropped[GOSSIP_DROP_OUTBOX]++;
            return NULL;
        }
        uint32_t cap = g->ob_cap * 2 > g->cfg.outbox_max ? g->cfg.outbox_max : g->ob_cap * 2;
        struct gossip_packet *p = malloc((size_t)cap * sizeof(*p));
        if (!p) {
            g->st.dropped[GOSSIP_DROP_OUTBOX]++;
            return NULL;
        }
        for (uint32_t i = 0; i < g->ob_len; i++)
            p[i] = g->outbox[(g->ob_head + i) % g->ob_cap];
        free(g->outbox);
        g->outbox = p;
        g->ob_head = 0;
        g->ob_cap = cap;
    }
    return &g->outbox[(g->ob_head + g->ob_len) % g->ob_cap];
}

/* Appends one encoded message if it fits both the packet and budget. */
static bool append(struct ivt_mpw *w, const uint8_t *p, size_t n, size_t *budget)
{
    if (n > *budget || n > w->cap - w->len)
        return false;
    ivt_mpw_raw(w, p, n);
    *budget -= n;
    return true;
}

/* Appends the update about member idx to w. */
static void write_member(const struct gossip *g, uint32_t idx, const uint8_t *from,
                         struct ivt_mpw *w)
{
    struct gossip_wire_member wm;
    gossip__wire_member(g, idx, &wm);
    if (wm.state == GOSSIP_SUSPECT || wm.state == GOSSIP_DEAD)
        wm.from = from;
    gossip_wire_member_msg(w, &wm);
}

static size_t encode_member(const struct gossip *g, uint32_t idx, const uint8_t *from, uint8_t *buf)
{
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, GOSSIP_MEMBER_MSG_MAX);
    write_member(g, idx, from, &w);
    return w.err ? 0 : w.len;
}

/*
 * Fills up to *budget bytes from queue q, fewest transmitted first: a walk
 * of the transmit-count lists from 0, skipping (without encoding) items too
 * big for the room left, until the room is below the smallest message or
 * MISFITS_MAX items did not fit. The cost is the items sent plus a few, not
 * the queue length: after a join the membership queue holds an update about
 * every member. Chosen items move to the back of the next list (or leave at
 * the retransmit limit) after the walk. skip_idx: a member not to include
 * (its buddy update is already in the packet). Returns the bytes used.
 *
 * Membership updates are chosen by the size noted at enqueue (the size now:
 * every change re-enqueues) and written after the walk, once the members
 * and then their names have been fetched for all of them: in a simulator of
 * N tables of N members each is a cache miss, and one after another they
 * cost as much as the datagram's encryption.
 */
static size_t fill(struct gossip *g, struct gossip_queue *q, struct ivt_mpw *w, size_t *budget,
                   int32_t skip_idx)
{
    if (!q->n || *budget < MIN_MEMBER_MSG)
        return 0;
    /* Announcements (lazy push) are the smallest items: 11 bytes, or less
     * for the rare fingerprint with high zero bytes, hence the bound. */
    enum { CHOSEN_MAX = GOSSIP_PACKET_MAX / GOSSIP_FP_MSG_MAX + 1 };
    uint32_t chosen[CHOSEN_MAX];
    /* Payloads: each chosen item's announcement (IHAVE; ann_len 0: the
     * payload itself goes), written after the walk like the members. */
    uint8_t ann[CHOSEN_MAX][GOSSIP_FP_MSG_MAX];
    uint8_t ann_len[CHOSEN_MAX];
    uint32_t n_chosen = 0, misfits = 0;
    size_t start = *budget, room = w->cap - w->len;
    for (uint32_t t = 0; t <= q->tmax; t++) {
        for (uint32_t s = q->head[t]; s != GOSSIP_NIL; s = q->it[s].next) {
            if (*budget < MIN_MEMBER_MSG || misfits >= MISFITS_MAX || n_chosen == CHOSEN_MAX)
                goto walked;
            const struct gossip_qitem *it = &q->it[s];
            if (it->packet == g->packet_no || (q->members && (int32_t)it->u.m.idx == skip_idx))
                continue;
            uint32_t len = q->members ? it->len : app_wire_len(g, it);
            if (len > *budget || len > room) {
                misfits++;
                continue;
            }
            if (q->members) {
                gossip_mem_prefetch(&g->mem[it->u.m.idx], attr);
            } else if (app_announced(g, it)) {
                struct ivt_mpw aw;
                ivt_mpw_init_fixed(&aw, ann[n_chosen], sizeof(ann[n_chosen]));
                gossip_wire_fp(&aw, GOSSIP_MSG_IHAVE, q->rl[s].fp);
                len = (uint32_t)aw.len; /* at most the size the choice assumed */
                ann_len[n_chosen] = (uint8_t)aw.len;
            } else {
                /* Each queued payload is an allocation of its own, cold
                 * in a simulator: fetched while the walk goes on. */
                ann_len[n_chosen] = 0;
                for (uint32_t o = 0; o < it->len; o += 64)
                    __builtin_prefetch(it->u.app + o);
            }
            *budget -= len;
            room -= len;
            chosen[n_chosen++] = s;
        }
    }
walked:
    if (!q->members) {
        for (uint32_t k = 0; k < n_chosen; k++) {
            const struct gossip_qitem *it = &q->it[chosen[k]];
            if (ann_len[k])
                ivt_mpw_raw(w, ann[k], ann_len[k]);
            else
                ivt_mpw_raw(w, it->u.app, it->len);
        }
    }
    if (q->members) {
        for (uint32_t k = 0; k < n_chosen; k++)
            __builtin_prefetch(g->attrs + g->mem[q->it[chosen[k]].u.m.idx].attr);
        uint32_t kept = 0;
        for (uint32_t k = 0; k < n_chosen; k++) {
            const struct gossip_qitem *it = &q->it[chosen[k]];
            size_t before = w->len;
            int err = w->err;
            write_member(g, it->u.m.idx, g->mem[it->u.m.from].id, w);
            if (w->err || w->len - before != it->len) {
                /* Not the size noted (an update changed without being
                 * re-enqueued): left for the next packet. */
                *budget += it->len;
                w->len = before;
                w->err = err;
                continue;
            }
            chosen[kept++] = chosen[k];
        }
        n_chosen = kept;
    }
    uint32_t lim = retransmit_limit(g, q);
    for (uint32_t k = 0; k < n_chosen; k++) {
        uint32_t s = chosen[k];
        struct gossip_qitem *it = &q->it[s];
        it->packet = g->packet_no;
        if ((uint32_t)it->transmits + 1 >= lim) {
            q_remove(g, q, s);
            continue;
        }
        if (!q->members && q->rl[s].at != g->now) {
            ready_unlink(q, s);
            ready_link(q, s, g->now);
        }
        q_bump(g, q, s);
    }
    if (n_chosen && !q->members)
        app_due_update(g);
    return start - *budget;
}

/*
 * Builds, seals and queues one datagram to `to`: header, the primary
 * message (prim: a ping, ack, ...; may be empty), the buddy update about
 * member `buddy` (-1: none), then piggybacked updates: membership up to its
 * reserved budget, payloads in whatever is left, membership again in what
 * payloads left. Nothing is queued when there is nothing to say.
 *
 * kind: PKT_LAZY carries no payloads (a lazy-push exchange, below);
 * PKT_BARE nothing after the buddy update: for a datagram to a member that
 * may well be dead, where every piggybacked update would spend one of its
 * sends on nobody.
 */
enum pkt_kind { PKT_PROBE, PKT_LAZY, PKT_BARE };

static void send_packet_as(struct gossip *g, const struct gossip_addr *to, const uint8_t *prim,
                           size_t plen, int32_t buddy, enum pkt_kind kind)
{
    bool lazy = kind == PKT_LAZY;
    /* The plaintext is built where gossip_seal encrypts it in place: behind
     * the envelope header of the outbox slot it will take (a kilobyte less
     * to move per datagram). Only when the outbox must grow (or is full)
     * is it built aside: taking that slot has effects, and only a packet
     * with something to say may have them. */
    uint8_t aside[GOSSIP_PACKET_MAX];
    uint8_t *plain = aside;
    if (g->ob_len < g->ob_cap)
        plain = g->outbox[(g->ob_head + g->ob_len) % g->ob_cap].data + GOSSIP_ENVELOPE_HEADER;
    struct ivt_mpw w;
    size_t cap = g->cfg.packet_size - GOSSIP_ENVELOPE_OVERHEAD;
    ivt_mpw_init_fixed(&w, plain, cap);
    g->packet_no++;
    gossip_wire_hdr(&w, g->mem[0].id, g->cfg.generation, g->counter);
    ivt_mpw_raw(&w, prim, plen);
    size_t unlimited = SIZE_MAX;
    size_t before = w.len;
    if (buddy >= 0) {
        uint8_t buf[GOSSIP_MEMBER_MSG_MAX];
        size_t len = encode_member(g, (uint32_t)buddy, g->mem[0].id, buf);
        append(&w, buf, len, &unlimited);
    }
    size_t mbudget = kind == PKT_BARE ? 0 : g->cfg.member_budget;
    size_t m1 = fill(g, &g->mq, &w, &mbudget, buddy);
    /* A lazy-push exchange carries no other payloads: its datagrams go to
     * the member that announced to us or asked us, and sends of queued
     * payloads spent on that pair (which holds the same recent ones) are
     * sends random members do not get (docs/gossip.md, "Lazy push"). */
    size_t abudget = kind == PKT_PROBE ? cap - w.len : 0;
    size_t a = fill(g, &g->aq, &w, &abudget, -1);
    size_t rest = kind == PKT_BARE ? 0 : cap - w.len;
    size_t m2 = fill(g, &g->mq, &w, &rest, buddy);
    if (w.err || (plen == 0 && w.len == before))
        return;
    struct gossip_packet *pkt = outbox_slot(g);
    if (!pkt)
        return;
    uint8_t nonce[GOSSIP_NONCE_LEN];
    gossip__nonce(g, g->counter, nonce);
    size_t out_len;
    if (gossip_seal_memo(pkt->data, g->cfg.packet_size, &out_len, &g->kr, g->cfg.label,
                         g->label_len, nonce, plain, w.len, g->cfg.aead, subkeys(g, true)))
        return;
    g->counter++;
    pkt->to = *to;
    pkt->len = (uint16_t)out_len;
    g->ob_len++;
    g->st.packets_out++;
    g->st.bytes_out += out_len;
    g->st.bytes_membership += m1 + m2;
    g->st.bytes_app += a;
    *(lazy ? &g->st.bytes_app : &g->st.bytes_probe) += plen;
}

/* A datagram whose primary message is a probe's (counted as probe
 * traffic), or none. */
static void send_packet(struct gossip *g, const struct gossip_addr *to, const uint8_t *prim,
                        size_t plen, int32_t buddy)
{
    send_packet_as(g, to, prim, plen, buddy, PKT_PROBE);
}

static void send_prim(struct gossip *g, const struct gossip_addr *to,
                      void (*enc)(struct ivt_mpw *, enum gossip_msg_type, uint32_t),
                      enum gossip_msg_type type, uint32_t seq)
{
    uint8_t buf[GOSSIP_PROBE_MSG_MAX];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    enc(&w, type, seq);
    send_packet(g, to, buf, w.len, -1);
}

static void send_ping_as(struct gossip *g, const struct gossip_addr *to, uint32_t seq,
                         const uint8_t *target, int32_t buddy, enum pkt_kind kind)
{
    uint8_t buf[GOSSIP_PROBE_MSG_MAX];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    gossip_wire_ping(&w, seq, target);
    send_packet_as(g, to, buf, w.len, buddy, kind);
}

static void send_ping(struct gossip *g, const struct gossip_addr *to, uint32_t seq,
                      const uint8_t *target, int32_t buddy)
{
    send_ping_as(g, to, seq, target, buddy, PKT_PROBE);
}

void gossip_warm(const struct gossip *g)
{
    /* The struct's first lines (see its layout), its packet counters, and
     * the fields of the configuration, keyring and queues that a receive
     * or a tick reads before anything else. */
    const char *lines[] = {
        (const char *)g,
        (const char *)&g->subkeys,
        (const char *)&g->st,
        (const char *)&g->st.payloads_delivered,
        (const char *)&g->cfg.packet_size,
        (const char *)&g->kr,
        (const char *)&g->mq,
        (const char *)&g->aq,
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        __builtin_prefetch(lines[i], 1);
    for (const char *c = (const char *)g + 64; c < (const char *)&g->subkeys; c += 64)
        __builtin_prefetch(c, 1);
}

size_t gossip_outbox(struct gossip *g, struct gossip_packet *out, size_t max)
{
    size_t n = 0;
    while (n < max && g->ob_len) {
        /* The bytes in use, not the whole 1,400-byte buffer: most
         * datagrams are pings and acks of a few dozen bytes. */
        const struct gossip_packet *p = &g->outbox[g->ob_head];
        out[n].to = p->to;
        out[n].len = p->len;
        memcpy(out[n++].data, p->data, p->len);
        g->ob_head = (g->ob_head + 1) % g->ob_cap;
        g->ob_len--;
    }
    return n;
}

/* ---- suspicion (Lifeguard LHA-Suspicion) ------------------------------- */

static int32_t susp_find(const struct gossip *g, uint32_t idx)
{
    for (uint32_t i = 0; i < g->n_susp; i++)
        if (g->susp[i].idx == idx)
            return (int32_t)i;
    return -1;
}

static void susp_remove(struct gossip *g, uint32_t idx)
{
    int32_t s = susp_find(g, idx);
    if (s >= 0)
        g->susp[s] = g->susp[--g->n_susp];
}

static uint32_t susp_k(const struct gossip *g)
{
    uint32_t k = g->cfg.suspicion_mult > 2 ? g->cfg.suspicion_mult - 2 : 0;
    if (k > GOSSIP_SUSPECT_CONFIRM_MAX)
        k = GOSSIP_SUSPECT_CONFIRM_MAX;
    /* Too few members to ever hear k confirmations: use the minimum. */
    return gossip__alive_count(g) < k + 2 ? 0 : k;
}

/* The shortest timeout, min = mult * max(1, log10 N) * probe_interval. */
static double susp_shortest(const struct gossip *g)
{
    double nodes = gossip__alive_count(g);
    double scale = nodes > 10 ? log10(nodes) : 1.0;
    return g->cfg.suspicion_mult * scale * (double)g->cfg.probe_interval;
}

/* The timeout starts at max_mult * min and falls toward min as
 * confirmations arrive: max - (max - min) * log(n + 1) / log(k + 1). */
static ivt_ms susp_timeout(const struct gossip *g, uint32_t n)
{
    double min = susp_shortest(g);
    double max = g->cfg.suspicion_max_mult * min;
    uint32_t k = susp_k(g);
    if (k == 0)
        return (ivt_ms)min;
    double t = max - (max - min) * log((double)n + 1) / log((double)k + 1);
    return (ivt_ms)(t < min ? min : t);
}

/* When suspicion s next needs us: its end, or before it, once, at the
 * shortest timeout (the caller's susp_shortest, the same for every
 * suspicion), to show the suspect its accusation (suspicion_tick). */
static ivt_ms susp_due(const struct gossip *g, const struct gossip_susp *s, ivt_ms shortest)
{
    ivt_ms end = s->start + susp_timeout(g, s->n);
    if (s->shown)
        return end;
    return s->start + shortest < end ? s->start + shortest : end;
}

static void susp_start(struct gossip *g, uint32_t idx, const uint8_t *from, ivt_ms now)
{
    if (g->n_susp == g->cap_susp) {
        uint32_t cap = g->cap_susp ? g->cap_susp * 2 : 8;
        struct gossip_susp *s = realloc(g->susp, cap * sizeof(*s));
        if (!s) {
            nomem(g); /* without a timer the member stays suspect until refuted */
            return;
        }
        g->susp = s;
        g->cap_susp = cap;
    }
    struct gossip_susp *s = &g->susp[g->n_susp++];
    s->idx = idx;
    s->start = now;
    s->n = 0;
    s->synced = false;
    s->shown = false;
    s->asked = now - g->cfg.probe_interval;
    memcpy(s->from[0], from, GOSSIP_ID_LEN);
}

/* Records an independent confirmation; true when it was new. */
static bool susp_confirm(struct gossip *g, uint32_t idx, const uint8_t *from, ivt_ms now)
{
    int32_t i = susp_find(g, idx);
    if (i < 0)
        return false;
    struct gossip_susp *s = &g->susp[i];
    if (s->n >= susp_k(g))
        return false;
    for (uint32_t j = 0; j <= s->n; j++)
        if (!memcmp(s->from[j], from, GOSSIP_ID_LEN))
            return false;
    memcpy(s->from[++s->n], from, GOSSIP_ID_LEN);
    /* A confirmation never ends a suspicion sooner than CONFIRM_GRACE
     * probe intervals after it: the accused gets that long to refute the
     * new accusation, which has only begun to spread. Lifeguard's timeout
     * shrinks with confirmations, counted from the first accusation; when
     * that one was ours and nobody heard it (every datagram of it lost in
     * a burst), a later failed probe by another member, unrelated,
     * shrank a timeout that had long run, and a healthy member died at
     * once (loss.cfg seed 55: our suspicion 19 s old, its refutation of
     * the new one 75 ms too late). Confirmations of a real crash come
     * within seconds of the first, well before that. */
    ivt_ms end = s->start + susp_timeout(g, s->n),
           least = now + CONFIRM_GRACE * g->cfg.probe_interval;
    if (end < least)
        s->start += least - end;
    return true;
}

/* Shows suspect idx its accusation on a ping to its address (the buddy
 * system, out of turn): a running member refutes it, or repeats the
 * refutation we missed, on the ack. */
static void show_accusation(struct gossip *g, uint32_t idx, enum pkt_kind kind)
{
    send_ping_as(g, &g->mem[idx].addr, g->seq++, g->mem[idx].id, (int32_t)idx, kind);
}

/* A member we suspect sent us a datagram: it runs, so show it the
 * accusation. At most once a probe interval per suspect. */
static void suspect_heard(struct gossip *g, uint32_t idx, ivt_ms now)
{
    int32_t i = susp_find(g, idx);
    if (i < 0 || now - g->susp[i].asked < g->cfg.probe_interval)
        return;
    g->susp[i].asked = now;
    g->st.suspects_heard++;
    show_accusation(g, idx, PKT_PROBE);
}

/* ---- update rules -------------------------------------------------------- */

/* Someone says we are suspect or dead (or alive with a newer incarnation
 * than ours): raise our incarnation past theirs and say we are alive. */
static void refute(struct gossip *g, uint32_t inc, ivt_ms now)
{
    struct gossip_mem *self = &g->mem[0];
    if (g->leaving)
        return;
    set_version(g, 0, self->gen, (inc >= self->inc ? inc : self->inc) + 1);
    self->changed = now;
    enqueue_member(g, 0, NULL);
    g->st.refutes++;
    /* Lifeguard: being accused is a hint that we are the slow one. */
    if (g->awareness + 1 < g->cfg.awareness_max)
        g->awareness++;
}

/* An accusation about us: refute it if it is about our current
 * incarnation; if it is older, its sender missed our last refutation, so
 * say our current one again (it rides back on our very next packet, often
 * the ack to the buddy-system ping that carried the accusation). An
 * accusation about an earlier generation (our previous run's death
 * certificate, sent by a node that held back a push-pull's news of our
 * restart) is answered the same way: nothing else would ever tell it. */
static void refute_or_repeat(struct gossip *g, const struct gossip_wire_member *w, ivt_ms now)
{
    if (g->leaving || w->gen > g->mem[0].gen)
        return;
    if (w->gen == g->mem[0].gen && w->inc >= g->mem[0].inc)
        refute(g, w->inc, now);
    else
        enqueue_member(g, 0, NULL);
}

/* The sender of src accused a member we know refuted since: send it the
 * refutation directly (one packet), rather than hope gossip reaches it
 * before its suspicion timer runs out. Push-pull merges (src NULL) are
 * corrected by the push-pull reply itself. */
static void send_packet(struct gossip *g, const struct gossip_addr *to, const uint8_t *prim,
                        size_t plen, int32_t buddy);

static void correct(struct gossip *g, const struct gossip_addr *src, int idx)
{
    if (src)
        send_packet(g, src, NULL, 0, idx);
}

/* The update about member idx, queued, was heard again from a datagram
 * (src: push-pull merges and our own timers are not the network
 * repeating it). */
static void member_heard_again(struct gossip *g, const struct gossip_addr *src, uint32_t idx)
{
    if (src && g->cfg.member_feedback && g->mem[idx].qslot >= 0)
        heard_again(g, &g->mq, (uint32_t)g->mem[idx].qslot, g->cfg.member_feedback);
}

static void apply_alive(struct gossip *g, const struct gossip_wire_member *w,
                        const struct gossip_addr *src, ivt_ms now)
{
    int idx = gossip__find(g, w->id);
    if (idx == 0) {
        struct gossip_mem *self = &g->mem[0];
        const uint8_t *e = g->attrs + self->attr;
        if (w->gen != self->gen)
            return; /* an older (or a future) instance of us: not our concern */
        if (w->inc > self->inc || (w->inc == self->inc &&
                                   (!gossip_addr_eq(&w->addr, &self->addr) || w->meta_len != e[1] ||
                                    memcmp(w->meta, e + ATTR_HDR + e[0], w->meta_len))))
            refute(g, w->inc, now);
        return;
    }
    if (idx < 0) {
        idx = member_add(g, w, GOSSIP_ALIVE, now);
        if (idx < 0)
            return;
        /* A member our join reply taught us is old news to the cluster:
         * every joiner re-gossiping the whole table was half the cost of a
         * cluster's formation (N joiners x N members x the retransmit
         * limit). What was still spreading when we joined comes again
         * from the seed a few seconds later (pushpull.c). */
        if (!g->join_merge)
            enqueue_news(g, (uint32_t)idx);
        if (src)
            g->grown++;
        notify(g, (uint32_t)idx, true);
        return;
    }
    struct gossip_mem *m = &g->mem[idx];
    if (version(w->gen, w->inc) <= version(m->gen, m->inc)) {
        if (version(w->gen, w->inc) == version(m->gen, m->inc) && m->state == GOSSIP_ALIVE)
            member_heard_again(g, src, (uint32_t)idx);
        return;
    }
    bool state_change = m->state != GOSSIP_ALIVE;
    bool restarted = w->gen != m->gen;
    set_version(g, (uint32_t)idx, w->gen, w->inc);
    copy_attrs(g, (uint32_t)idx, w);
    if (state_change) {
        susp_remove(g, (uint32_t)idx);
        set_state(g, (uint32_t)idx, GOSSIP_ALIVE, now);
    }
    enqueue_member(g, (uint32_t)idx, NULL);
    notify(g, (uint32_t)idx, state_change || restarted);
}

/* The common part of a suspect and a dead update: an accusation of us is
 * refuted, one of an unknown member or of a buried one is ignored, and a
 * stale one about a live member gets our newer view sent back. Returns the
 * member the update applies to, or -1 when it is handled here. */
static int accused(struct gossip *g, const struct gossip_wire_member *w,
                   const struct gossip_addr *src, ivt_ms now)
{
    int idx = gossip__find(g, w->id);
    if (idx == 0) {
        refute_or_repeat(g, w, now);
        return -1;
    }
    if (idx < 0)
        return -1;
    const struct gossip_mem *m = &g->mem[idx];
    bool stale = version(w->gen, w->inc) < version(m->gen, m->inc);
    if (stale && is_live(m->state))
        correct(g, src, idx);
    if (!stale && !is_live(m->state) && w->state == m->state &&
        version(w->gen, w->inc) == version(m->gen, m->inc))
        member_heard_again(g, src, (uint32_t)idx); /* the same death */
    return stale || !is_live(m->state) ? -1 : idx;
}

static void apply_suspect(struct gossip *g, const struct gossip_wire_member *w,
                          const struct gossip_addr *src, ivt_ms now)
{
    int idx = accused(g, w, src, now);
    if (idx < 0)
        return;
    struct gossip_mem *m = &g->mem[idx];
    if (m->state == GOSSIP_SUSPECT) {
        if (version(w->gen, w->inc) != version(m->gen, m->inc))
            return;
        if (susp_confirm(g, (uint32_t)idx, w->from, now))
            enqueue_member(g, (uint32_t)idx, w->from);
        else
            member_heard_again(g, src, (uint32_t)idx); /* no new accuser */
        return;
    }
    set_version(g, (uint32_t)idx, w->gen, w->inc);
    set_state(g, (uint32_t)idx, GOSSIP_SUSPECT, now);
    susp_start(g, (uint32_t)idx, w->from, now);
    enqueue_member(g, (uint32_t)idx, w->from);
    notify(g, (uint32_t)idx, true);
}

static void apply_dead(struct gossip *g, const struct gossip_wire_member *w,
                       const struct gossip_addr *src, ivt_ms now)
{
    int idx = accused(g, w, src, now);
    if (idx < 0)
        return;
    set_version(g, (uint32_t)idx, w->gen, w->inc);
    susp_remove(g, (uint32_t)idx);
    set_state(g, (uint32_t)idx, w->state == GOSSIP_LEFT ? GOSSIP_LEFT : GOSSIP_DEAD, now);
    enqueue_member(g, (uint32_t)idx, w->state == GOSSIP_LEFT ? w->id : w->from);
    notify(g, (uint32_t)idx, true);
}

static void apply(struct gossip *g, const struct gossip_wire_member *w,
                  const struct gossip_addr *src, ivt_ms now)
{
    if (w->state == GOSSIP_ALIVE)
        apply_alive(g, w, src, now);
    else if (w->state == GOSSIP_SUSPECT)
        apply_suspect(g, w, src, now);
    else
        apply_dead(g, w, src, now);
}

void gossip__merge_remote(struct gossip *g, const struct gossip_wire_member *w, ivt_ms now)
{
    int idx = gossip__find(g, w->id);
    if (idx < 0 && !is_live(w->state))
        return; /* never learn a tombstone second hand: it would outlive its ttl */
    if (idx > 0 && !is_live(g->mem[idx].state) && w->state == GOSSIP_ALIVE &&
        version(w->gen, w->inc) >= version(g->mem[idx].gen, g->mem[idx].inc)) {
        /* A claim of life for a tombstone (at the incarnation we buried it
         * with, as after a partition, or later): ask the member itself,
         * with its death certificate attached, and let its own refutation
         * decide. After a partition heals, the first push-pull across it
         * so wakes the whole other side at once. */
        g->st.resurrections_held++;
        send_ping(g, &w->addr, g->seq++, w->id, idx);
        return;
    }
    struct gossip_wire_member c = *w;
    uint8_t self_id[GOSSIP_ID_LEN];
    memcpy(self_id, g->mem[0].id, GOSSIP_ID_LEN);
    if (w->state == GOSSIP_DEAD || w->state == GOSSIP_SUSPECT) {
        /* memberlist's mergeState: a remote death is only a suspicion here,
         * accused by us, so it must survive our own suspicion timer. */
        c.state = GOSSIP_SUSPECT;
        c.from = self_id;
    }
    apply(g, &c, NULL, now);
}

/*
 * Anti-entropy that keeps going while it finds news: a push-pull that
 * brought at least 1/PULL_AGAIN_SHARE of our view (one member below
 * PULL_AGAIN_SHARE members) is followed by another with a random member
 * PULL_AGAIN_PROBES probe intervals later, unless one is already due.
 * Demers' pull: a node missing a share r of the members misses r^2 after
 * one more pull, so the residue a join storm's fewer sends leave
 * (enqueue_news, about 2 % of the pairs) is gone in two or three rounds.
 * In a settled cluster a pull brings nothing, and nothing repeats.
 */
void gossip__pull_again(struct gossip *g, uint32_t added, ivt_ms now)
{
    if (!added || (uint64_t)added * PULL_AGAIN_SHARE < g->n_mem || g->next_sync != IVT_MS_NEVER)
        return;
    g->next_sync = now + PULL_AGAIN_PROBES * g->cfg.probe_interval;
    g->sync_again = true;
}

/* ---- receive ------------------------------------------------------------- */

int gossip__replay(struct gossip *g, const struct gossip_hdr *h)
{
    struct gossip_replay *rw;
    int idx = gossip__find(g, h->id);
    if (idx > 0) {
        rw = &g->mem[idx].rw;
    } else {
        uint32_t i;
        for (i = 0; i < GOSSIP_UNKNOWN_WINDOWS; i++)
            if (!memcmp(g->unk[i].id, h->id, GOSSIP_ID_LEN))
                break;
        if (i == GOSSIP_UNKNOWN_WINDOWS) {
            i = g->unk_next++ % GOSSIP_UNKNOWN_WINDOWS;
            memcpy(g->unk[i].id, h->id, GOSSIP_ID_LEN);
            gossip_replay_init(&g->unk[i].rw);
        }
        rw = &g->unk[i].rw;
    }
    if (gossip_replay_check(rw, h->gen, h->counter))
        return IVT_EREPLAY;
    gossip_replay_commit(rw, h->gen, h->counter);
    return 0;
}

static void handle_ping(struct gossip *g, const struct gossip_addr *from,
                        const struct gossip_msg *m)
{
    if (memcmp(m->target, g->mem[0].id, GOSSIP_ID_LEN))
        return; /* meant for an earlier owner of this address */
    send_prim(g, from, gossip_wire_ack, GOSSIP_MSG_ACK, m->seq);
}

static void handle_ping_req(struct gossip *g, const struct gossip_addr *from,
                            const struct gossip_msg *m, ivt_ms now)
{
    /* Reuse the oldest relay slot when all are busy: a stale indirect
     * probe is worth less than a fresh one. */
    uint32_t slot = 0;
    for (uint32_t i = 0; i < GOSSIP_RELAY_MAX; i++) {
        if (!g->relay[i].active) {
            slot = i;
            break;
        }
        if (g->relay[i].nack_at < g->relay[slot].nack_at)
            slot = i;
    }
    struct gossip_relay *r = &g->relay[slot];
    g->n_relay += !r->active;
    r->active = true;
    r->seq = g->seq++;
    r->orig_seq = m->seq;
    r->requester = *from;
    r->nack_at = now + g->cfg.probe_timeout;
    int idx = gossip__find(g, m->target);
    send_ping(g, &m->addr, r->seq, m->target,
              idx > 0 && g->mem[idx].state == GOSSIP_SUSPECT ? idx : -1);
}

static void handle_ack(struct gossip *g, const struct gossip_msg *m, bool nack)
{
    struct gossip_probe *p = &g->probe;
    if (p->active && m->seq == p->seq) {
        if (nack)
            p->nacks++;
        else
            p->acked = true;
        if (nack)
            g->st.nacks_received++;
        return;
    }
    for (uint32_t i = 0; g->n_relay && i < GOSSIP_RELAY_MAX; i++) {
        struct gossip_relay *r = &g->relay[i];
        if (r->active && r->seq == m->seq && !nack) {
            r->active = false;
            g->n_relay--;
            send_prim(g, &r->requester, gossip_wire_ack, GOSSIP_MSG_ACK, r->orig_seq);
            return;
        }
    }
}

static void handle_user(struct gossip *g, const struct gossip_msg *m, const uint8_t *raw,
                        size_t raw_len)
{
    uint64_t fp = fingerprint(m->origin, m->origin_gen, m->user_seq);
    if (!memcmp(m->origin, g->mem[0].id, GOSSIP_ID_LEN) || !seen_add(g, fp)) {
        app_heard_again(g, fp);
        return;
    }
    g->st.payloads_delivered++;
    if (g->d.on_payload)
        g->d.on_payload(g->d.ctx, m->payload, m->payload_len);
    /* Re-gossip the payload as received: infection-style spread. */
    app_enqueue(g, raw, raw_len, fp);
}

/* What one received datagram makes us send back to its sender for lazy
 * push: IWANTs, and the payloads its IWANTs asked for, in datagrams of
 * cap bytes of them (the rest of each is piggybacked as usual). */
struct lazy_reply {
    uint8_t buf[GOSSIP_PACKET_MAX];
    size_t len, cap;
    const struct gossip_addr *to;
    uint32_t sent;
};

static void reply_flush(struct gossip *g, struct lazy_reply *r)
{
    if (!r->len)
        return;
    send_packet_as(g, r->to, r->buf, r->len, -1, PKT_LAZY);
    r->len = 0;
    r->sent++;
}

/* Room for n more bytes in the reply, sending what it holds when it is
 * full, unless the datagrams allowed are spent. */
static bool reply_room(struct gossip *g, struct lazy_reply *r, size_t n)
{
    if (n <= r->cap - r->len)
        return true;
    if (n > r->cap || r->sent + 1 >= ANSWER_DATAGRAMS_MAX)
        return false;
    reply_flush(g, r);
    return true;
}

static bool seen_either(const struct gossip *g, uint64_t fp)
{
    return seen_has(g->seen[0], g->seen_size[0], fp) || seen_has(g->seen[1], g->seen_size[1], fp);
}

/* How long an announced payload may take to arrive by itself: the
 * longest a queued payload waits for its next send, and a round. */
static ivt_ms want_delay(const struct gossip *g)
{
    return g->cfg.app_max_delay + g->cfg.gossip_interval;
}

static void handle_ihave(struct gossip *g, const struct gossip_addr *from, uint64_t fp, ivt_ms now)
{
    if (seen_either(g, fp)) {
        app_heard_again(g, fp);
        return;
    }
    struct gossip_lazy *lz = lazy_get(g);
    if (!lz)
        return;
    /* Pending, or asked for within a round trip: one ask for the many
     * announcements of a payload. */
    uint32_t i = want_slot(fp);
    if (lz->want[i].fp == fp && now < lz->want[i].at + g->cfg.probe_timeout)
        return;
    if (lz->pending_n == PENDING_WANTS_MAX) {
        g->st.app_wants_overflow++;
        return;
    }
    uint32_t k = (lz->pending_head + lz->pending_n++) % PENDING_WANTS_MAX;
    lz->pending[k].fp = fp;
    lz->pending[k].due = now + want_delay(g);
    lz->pending[k].from = *from;
    lz->want[i].fp = fp;
    lz->want[i].at = lz->pending[k].due;
    if (g->want_due == IVT_MS_NEVER)
        g->want_due = lz->pending[k].due;
}

/* Asks for the announced payloads whose wait is over and that have not
 * arrived, each from its announcer: consecutive asks to one member (an
 * announcing datagram's) share datagrams. */
static void wants_tick(struct gossip *g, ivt_ms now)
{
    struct gossip_lazy *lz = g->lazy;
    if (g->want_due > now)
        return;
    struct lazy_reply r;
    r.len = r.sent = 0;
    r.cap = g->cfg.packet_size - GOSSIP_ENVELOPE_OVERHEAD - GOSSIP_HDR_MAX;
    struct gossip_addr to;
    r.to = &to;
    for (; lz->pending_n && lz->pending[lz->pending_head].due <= now;
         lz->pending_head = (lz->pending_head + 1) % PENDING_WANTS_MAX, lz->pending_n--) {
        const uint64_t fp = lz->pending[lz->pending_head].fp;
        const struct gossip_addr *from = &lz->pending[lz->pending_head].from;
        if (seen_either(g, fp))
            continue;
        if (r.len && !gossip_addr_eq(&to, from)) {
            reply_flush(g, &r);
            r.sent = 0;
        }
        to = *from;
        if (!reply_room(g, &r, GOSSIP_FP_MSG_MAX)) {
            g->st.app_wants_overflow++;
            continue;
        }
        struct ivt_mpw w;
        ivt_mpw_init_fixed(&w, r.buf + r.len, r.cap - r.len);
        gossip_wire_fp(&w, GOSSIP_MSG_IWANT, fp);
        r.len += w.len;
        g->st.app_wants_sent++;
        lz->want[want_slot(fp)].fp = fp;
        lz->want[want_slot(fp)].at = now;
    }
    g->want_due = lz->pending_n ? lz->pending[lz->pending_head].due : IVT_MS_NEVER;
    reply_flush(g, &r);
}

/* The USER message of the payload with fingerprint fp, from our queue or
 * the retired ring; false when we no longer hold it. */
static bool app_find(const struct gossip *g, uint64_t fp, const uint8_t **msg, size_t *len)
{
    int64_t s = app_slot(g, fp);
    if (s >= 0) {
        *msg = g->aq.it[s].u.app;
        *len = g->aq.it[s].len;
        return true;
    }
    for (uint32_t i = 0; g->lazy && i < RETIRED_MAX; i++)
        if (g->lazy->retired[i].msg && g->lazy->retired[i].fp == fp) {
            *msg = g->lazy->retired[i].msg;
            *len = g->lazy->retired[i].len;
            return true;
        }
    return false;
}

static void handle_iwant(struct gossip *g, uint64_t fp, struct lazy_reply *r)
{
    const uint8_t *msg;
    size_t len;
    if (!app_find(g, fp, &msg, &len) || !reply_room(g, r, len)) {
        g->st.app_wants_unanswered++;
        return;
    }
    memcpy(r->buf + r->len, msg, len);
    r->len += len;
    g->st.app_wants_answered++;
}

static bool member_update(unsigned type)
{
    return type == GOSSIP_MSG_ALIVE || type == GOSSIP_MSG_SUSPECT || type == GOSSIP_MSG_DEAD;
}

static int drop(struct gossip *g, enum gossip_drop reason, int rc)
{
    g->st.dropped[reason]++;
    return rc;
}

static void dispatch(struct gossip *g, const struct gossip_addr *from, const struct gossip_msg *m,
                     const uint8_t *raw, size_t raw_len, struct lazy_reply *r, ivt_ms now);

enum {
    MSGS_KEPT = 32 /* messages kept decoded between the passes: a full packet holds ~25 */
};

int gossip_receive(struct gossip *g, const struct gossip_addr *from, const uint8_t *data,
                   size_t len, ivt_ms now)
{
    g->now = now;
    g->st.packets_in++;
    g->st.bytes_in += len;
    if (len > g->cfg.packet_size)
        return drop(g, GOSSIP_DROP_OVERSIZE, IVT_ETOOBIG);
    uint8_t plain[GOSSIP_PACKET_MAX];
    size_t plen;
    int rc = gossip_open_memo(plain, sizeof(plain), &plen, &g->kr, g->cfg.label, g->label_len, data,
                              len, subkeys(g, false));
    switch (rc) {
    case 0: gossip__count_opened(g, data[0]); break;
    case IVT_EVERSION: return drop(g, GOSSIP_DROP_VERSION, rc);
    case IVT_ENOENT: return drop(g, GOSSIP_DROP_KEY, rc);
    case IVT_EAUTH: return drop(g, GOSSIP_DROP_AUTH, rc);
    default: return drop(g, GOSSIP_DROP_GARBAGE, IVT_EPROTO);
    }
    /* Decode everything before acting on anything: a packet is applied
     * whole or not at all, and its counter is committed only if it parses.
     * The first MSGS_KEPT messages are kept decoded for the passes below
     * (decoding was a fifth of a 1,000-node simulation); where each starts
     * is noted, so any beyond are decoded once more. Every message takes
     * at least a byte. */
    const uint8_t *pos = plain, *end = plain + plen;
    struct gossip_hdr h;
    struct gossip_msg kept[MSGS_KEPT];
    uint16_t off[GOSSIP_PACKET_MAX + 1];
    uint8_t type[GOSSIP_PACKET_MAX]; /* each message's, as decoded */
    uint32_t mh[GOSSIP_PACKET_MAX];  /* membership updates: the member id's index hash */
    uint32_t n_msg = 0;
    if (gossip_wire_hdr_decode(&pos, end, &h))
        return drop(g, GOSSIP_DROP_DECODE, IVT_EPROTO);
    /* The sender's index hash: its replay window is checked below. */
    uint32_t sender_h = gossip__find_slot(g, h.id);
    while (pos < end) {
        struct gossip_msg spare;
        struct gossip_msg *mp = n_msg < MSGS_KEPT ? &kept[n_msg] : &spare;
        off[n_msg] = (uint16_t)(pos - plain);
        if (gossip_wire_msg_decode(&pos, end, mp))
            return drop(g, GOSSIP_DROP_DECODE, IVT_EPROTO);
        enum gossip_msg_type t = mp->type;
        type[n_msg++] = (uint8_t)t;
        /* The index slot each update will look up, fetched while we
         * decode the rest, then (below) the member it names: in a
         * simulator of N tables of N members every lookup is two cache
         * misses, and they overlap this way. */
        if (member_update(t)) {
            mh[n_msg - 1] = gossip__find_slot(g, mp->m.id);
        } else if ((t == GOSSIP_MSG_USER || t == GOSSIP_MSG_IHAVE) && g->seen[0]) {
            /* Likewise the payload-dedup slots the delivery will probe. */
            uint32_t fh = t == GOSSIP_MSG_IHAVE
                              ? (uint32_t)mp->fp
                              : (uint32_t)fingerprint(mp->origin, mp->origin_gen, mp->user_seq);
            __builtin_prefetch(&g->seen[0][fh & (g->seen_size[0] - 1)]);
            if (g->seen[1])
                __builtin_prefetch(&g->seen[1][fh & (g->seen_size[1] - 1)]);
        }
    }
    off[n_msg] = (uint16_t)plen;
    int sender_guess = hidx_peek(g, sender_h);
    if (sender_guess >= 0) {
        const struct gossip_mem *sm = &g->mem[sender_guess];
        __builtin_prefetch(sm->id);
        __builtin_prefetch(&sm->rw);
    }
    for (uint32_t i = 0; i < n_msg; i++)
        if (member_update(type[i]))
            gossip__find_fetch(g, mh[i]);
    if (!memcmp(h.id, g->mem[0].id, GOSSIP_ID_LEN))
        return drop(g, GOSSIP_DROP_SELF, IVT_EEXIST);
    if (gossip__replay(g, &h))
        return drop(g, GOSSIP_DROP_REPLAY, IVT_EREPLAY);
    int sender = gossip__find_at(g, h.id, sender_h);
    if (sender > 0 && g->mem[sender].state == GOSSIP_DEAD && h.gen >= g->mem[sender].gen)
        /* A member we buried is talking to us: show it the certificate on
         * a ping, so its refutation (or its repeated alive, when it has
         * restarted since) comes straight back on the ack. */
        send_ping(g, from, g->seq++, h.id, sender);
    /* Two passes: news first, then probes. A ping that carries an
     * accusation (the buddy system) must be answered after we have
     * refuted it, so the refutation rides on the ack. Announcements are
     * in the second pass, after the payloads the datagram delivered. */
    struct lazy_reply reply;
    reply.len = reply.sent = 0;
    reply.cap = g->cfg.packet_size - GOSSIP_ENVELOPE_OVERHEAD - GOSSIP_HDR_MAX;
    reply.to = from;
    uint64_t delivered = g->st.payloads_delivered;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < n_msg; i++)
            if ((member_update(type[i]) || type[i] == GOSSIP_MSG_USER) == (pass == 0)) {
                struct gossip_msg again;
                if (i >= MSGS_KEPT) {
                    pos = plain + off[i];
                    gossip_wire_msg_decode(&pos, end, &again);
                }
                dispatch(g, from, i < MSGS_KEPT ? &kept[i] : &again, plain + off[i],
                         (size_t)(off[i + 1] - off[i]), &reply, now);
            }
        if (pass == 0 && g->st.payloads_delivered != delivered) {
            g->st.payload_datagrams++;
            if (g->d.on_payloads_end)
                g->d.on_payloads_end(g->d.ctx);
        }
    }
    reply_flush(g, &reply);
    /* After the news: the datagram may have carried the sender's own
     * refutation, and then there is nothing to show it. */
    if (sender > 0 && g->mem[sender].state == GOSSIP_SUSPECT && h.gen == g->mem[sender].gen)
        suspect_heard(g, (uint32_t)sender, now);
    g->last_deadline = gossip_next_deadline(g);
    return 0;
}

/* raw: the message's bytes (a payload is re-gossiped as received). */
static void dispatch(struct gossip *g, const struct gossip_addr *from, const struct gossip_msg *m,
                     const uint8_t *raw, size_t raw_len, struct lazy_reply *r, ivt_ms now)
{
    switch (m->type) {
    case GOSSIP_MSG_PING: handle_ping(g, from, m); break;
    case GOSSIP_MSG_PING_REQ: handle_ping_req(g, from, m, now); break;
    case GOSSIP_MSG_ACK: handle_ack(g, m, false); break;
    case GOSSIP_MSG_NACK: handle_ack(g, m, true); break;
    case GOSSIP_MSG_ALIVE:
    case GOSSIP_MSG_SUSPECT:
    case GOSSIP_MSG_DEAD: apply(g, &m->m, from, now); break;
    case GOSSIP_MSG_USER: handle_user(g, m, raw, raw_len); break;
    case GOSSIP_MSG_IHAVE: handle_ihave(g, from, m->fp, now); break;
    case GOSSIP_MSG_IWANT: handle_iwant(g, m->fp, r); break;
    default: break;
    }
}

/* ---- probing (SWIM + Lifeguard LHA-Probe) ------------------------------- */

static ivt_ms scaled(const struct gossip *g, ivt_ms t)
{
    return t * (ivt_ms)(g->awareness + 1);
}

static void order_shuffle(struct gossip *g)
{
    for (uint32_t i = g->n_order; i > 1; i--) {
        uint32_t j = (uint32_t)ivt_rng_below(&g->rng, i);
        uint32_t t = g->order[i - 1];
        g->order[i - 1] = g->order[j];
        g->order[j] = t;
    }
    g->order_pos = 0;
}

/* The next probe target in the shuffled round-robin order, or -1. */
static int next_target(struct gossip *g)
{
    for (uint32_t tries = 0; tries <= g->n_order; tries++) {
        if (g->order_pos >= g->n_order)
            order_shuffle(g);
        uint32_t idx = g->order[g->order_pos++];
        if (idx != 0 && is_live(g->mem[idx].state))
            return (int)idx;
    }
    return -1;
}

/* Up to max distinct random live members other than self and `except`. */
static uint32_t random_members(struct gossip *g, uint32_t *out, uint32_t max, int except,
                               ivt_ms dead_since)
{
    uint32_t n = 0;
    uint32_t tries = max * 4 + 8;
    if (g->n_mem < 2)
        return 0;
    while (n < max && tries--) {
        uint32_t idx = 1 + (uint32_t)ivt_rng_below(&g->rng, g->n_mem - 1);
        const struct gossip_mem *m = &g->mem[idx];
        if ((int)idx == except)
            continue;
        if (!is_live(m->state) && !(m->state == GOSSIP_DEAD && m->changed > dead_since))
            continue;
        bool dup = false;
        for (uint32_t k = 0; k < n; k++)
            dup |= out[k] == idx;
        if (!dup)
            out[n++] = idx;
    }
    return n;
}

static void probe_finish(struct gossip *g, ivt_ms now)
{
    struct gossip_probe *p = &g->probe;
    p->active = false;
    if (p->acked) {
        if (g->awareness > 0)
            g->awareness--;
        return;
    }
    g->st.probe_failures++;
    /* LHA-Probe: missing nacks mean our own links or loop are slow. */
    uint32_t missing =
        p->nacks_expected
            ? p->nacks_expected - (p->nacks < p->nacks_expected ? p->nacks : p->nacks_expected)
            : 1;
    g->awareness += missing;
    if (g->awareness > g->cfg.awareness_max - 1)
        g->awareness = g->cfg.awareness_max - 1;
    int idx = gossip__find(g, p->id);
    /* Alive: we accuse. Already suspect: our failed probe is an
     * independent confirmation (Lifeguard), re-gossiped so every timer
     * shrinks toward its minimum. */
    if (idx <= 0 || !is_live(g->mem[idx].state))
        return;
    struct gossip_wire_member w;
    gossip__wire_member(g, (uint32_t)idx, &w);
    w.state = GOSSIP_SUSPECT;
    w.from = g->mem[0].id;
    g->st.suspects_raised++;
    apply_suspect(g, &w, NULL, now);
}

static void probe_start(struct gossip *g, ivt_ms now)
{
    int idx = next_target(g);
    if (idx < 0)
        return;
    struct gossip_probe *p = &g->probe;
    memset(p, 0, sizeof(*p));
    p->active = true;
    p->idx = (uint32_t)idx;
    memcpy(p->id, g->mem[idx].id, GOSSIP_ID_LEN);
    p->seq = g->seq++;
    p->indirect_at = now + scaled(g, g->cfg.probe_timeout);
    p->end = now + scaled(g, g->cfg.probe_interval);
    g->st.probes++;
    /* Buddy system: a suspect learns of it from the prober directly. */
    send_ping(g, &g->mem[idx].addr, p->seq, p->id, g->mem[idx].state == GOSSIP_SUSPECT ? idx : -1);
}

static void probe_indirect(struct gossip *g)
{
    struct gossip_probe *p = &g->probe;
    p->indirect_sent = true;
    int idx = gossip__find(g, p->id);
    if (idx <= 0)
        return;
    uint32_t helpers[64];
    uint32_t k = g->cfg.indirect_checks < 64 ? g->cfg.indirect_checks : 64;
    uint32_t n = random_members(g, helpers, k, idx, IVT_MS_NEVER);
    uint8_t buf[GOSSIP_PROBE_MSG_MAX];
    for (uint32_t i = 0; i < n; i++) {
        struct ivt_mpw w;
        ivt_mpw_init_fixed(&w, buf, sizeof(buf));
        gossip_wire_ping_req(&w, p->seq, p->id, &g->mem[idx].addr);
        send_packet(g, &g->mem[helpers[i]].addr, buf, w.len, -1);
    }
    p->nacks_expected = n;
    g->st.indirect_probes += n;
}

/* ---- timers ---------------------------------------------------------------- */

static ivt_ms pushpull_period(const struct gossip *g)
{
    uint32_t n = gossip__alive_count(g);
    if (n <= PUSHPULL_SCALE_BASE)
        return g->cfg.pushpull_interval;
    double mult = ceil(log2((double)n) - log2((double)PUSHPULL_SCALE_BASE)) + 1;
    return (ivt_ms)(mult * (double)g->cfg.pushpull_interval);
}

/*
 * Sends one datagram to each of gossip_nodes random members while there is
 * something to say. Membership news always goes at once (with payloads in
 * the room it leaves). Payloads alone wait until they fill a datagram or
 * one would wait past app_max_delay before the next round (departure from
 * memberlist, which sends
 * whatever is queued every round: at the node core's evidence rate a
 * payload-only round carried a payload or two, a third of a datagram, and
 * each datagram costs a seal and an open whatever it carries). The rounds
 * that do send still go to distinct members, so a payload's
 * app_retransmit_mult x log10 N sends still spread it as before, only
 * later by up to the delay at each hop.
 */
static void gossip_round(struct gossip *g, ivt_ms now)
{
    bool app = app_ready(g, now);
    if (!g->mq.n && !app)
        return;
    uint32_t targets[64];
    uint32_t k = g->cfg.gossip_nodes < 64 ? g->cfg.gossip_nodes : 64;
    uint32_t n = random_members(g, targets, k, -1, now - g->cfg.gossip_to_dead);
    for (uint32_t i = 0; i < n && (g->mq.n || (app && g->aq.n)); i++)
        send_packet(g, &g->mem[targets[i]].addr, NULL, 0, -1);
    /* Nobody to send to (a node alone): the payloads wait another delay,
     * rather than leave a deadline in the past (a host would spin). */
    if (g->aq.n && g->app_due <= now)
        g->app_due = now + g->cfg.app_max_delay;
}

static void suspicion_tick(struct gossip *g, ivt_ms now)
{
    ivt_ms shortest = g->n_susp ? (ivt_ms)susp_shortest(g) : 0;
    for (uint32_t i = 0; i < g->n_susp;) {
        struct gossip_susp *s = &g->susp[i];
        if (now < susp_due(g, s, shortest)) {
            i++;
            continue;
        }
        if (!s->shown) {
            s->shown = true;
            if (now < s->start + susp_timeout(g, s->n)) {
                /* Still unconfirmed enough to outlive the shortest
                 * timeout: show the suspect the accusation, directly. A
                 * running member refutes it (or repeats the refutation we
                 * missed) on the ack; a crashed one costs one datagram,
                 * bare: updates piggybacked on it would spend sends on
                 * nobody (at 10,000 nodes that slowed a crash's death
                 * news past its restart). */
                g->st.suspects_shown++;
                show_accusation(g, s->idx, PKT_BARE);
                i++;
                continue;
            }
        }
        /* A suspicion nobody else confirmed, at its longest timeout: the
         * member may have refuted long ago and every datagram carrying
         * that missed us (each node sends a refutation a few times, so a
         * bystander misses it with odds of about e^-8 per update, which a
         * 50-node cluster under 10% loss meets about once an hour). One
         * push-pull with a random live member, over a stream, brings what
         * the fleet knows; the member dies SYNC_GRACE later if nothing
         * refutes. A confirmed suspicion (a real crash: several probers
         * fail) dies on time. */
        uint32_t peer;
        if (s->n == 0 && !s->synced && random_members(g, &peer, 1, (int)s->idx, now) == 1) {
            s->synced = true;
            s->start += SYNC_GRACE_PROBES * g->cfg.probe_interval;
            g->st.suspicions_synced++;
            gossip__stream_open(g, &g->mem[peer].addr, false, now);
            i++;
            continue;
        }
        struct gossip_wire_member w;
        gossip__wire_member(g, s->idx, &w);
        w.state = GOSSIP_DEAD;
        w.from = g->mem[0].id;
        g->st.deaths_declared++;
        apply_dead(g, &w, NULL, now); /* removes s from the array */
    }
}

static void relay_tick(struct gossip *g, ivt_ms now)
{
    for (uint32_t i = 0; g->n_relay && i < GOSSIP_RELAY_MAX; i++) {
        struct gossip_relay *r = &g->relay[i];
        if (r->active && now >= r->nack_at) {
            r->active = false;
            g->n_relay--;
            g->st.nacks_sent++;
            send_prim(g, &r->requester, gossip_wire_ack, GOSSIP_MSG_NACK, r->orig_seq);
        }
    }
}

bool gossip__needs_join(const struct gossip *g)
{
    return g->n_seeds && (!g->joined || gossip__alive_count(g) <= 1);
}

/* Retry one random tombstone (Serf's reconnect) and re-join the seeds when
 * we see nobody, or while no join of ours has completed: together they heal
 * partitions, and a node whose own join failed while later joiners came to
 * it does not stay an island with them (regions.cfg at 300 nodes, seed 2:
 * node 267's three seeds were busy with the join storm, node 292 joined
 * through it meanwhile, and the two knew nobody else for the whole run). */
static void reconnect(struct gossip *g, ivt_ms now)
{
    if (gossip__needs_join(g)) {
        g->join_next = 0;
        gossip__join_next(g, now);
    }
    uint32_t dead = g->n_state[GOSSIP_DEAD];
    if (!dead)
        return;
    uint32_t pick = (uint32_t)ivt_rng_below(&g->rng, dead);
    for (uint32_t i = 1; i < g->n_mem; i++) {
        if (g->mem[i].state != GOSSIP_DEAD || pick--)
            continue;
        send_ping(g, &g->mem[i].addr, g->seq++, g->mem[i].id, (int32_t)i);
        gossip__stream_open(g, &g->mem[i].addr, false, now);
        return;
    }
}

/* Forgets tombstones older than tombstone_ttl. Rare, so it simply
 * compacts the array and rebuilds every index into it. */
static void reap(struct gossip *g, ivt_ms now)
{
    uint32_t *map = malloc(g->n_mem * sizeof(*map));
    if (!map)
        return;
    uint32_t w = 1;
    map[0] = 0;
    g->reap_due = IVT_MS_NEVER;
    for (uint32_t i = 1; i < g->n_mem; i++) {
        struct gossip_mem *m = &g->mem[i];
        if (!is_live(m->state) && now - m->changed >= g->cfg.tombstone_ttl) {
            if (m->qslot >= 0)
                q_remove(g, &g->mq, (uint32_t)m->qslot);
            g->n_state[m->state]--;
            g->attrs_dead += attr_size(g->attrs + m->attr);
            map[i] = UINT32_MAX;
            continue;
        }
        map[i] = w;
        if (w != i)
            g->mem[w] = *m;
        tombstone_due(g, w);
        w++;
    }
    if (w != g->n_mem) {
        g->n_mem = w;
        for (uint32_t t = 0; t <= g->mq.tmax; t++)
            for (uint32_t q = g->mq.head[t]; q != GOSSIP_NIL; q = g->mq.it[q].next) {
                struct gossip_qitem *it = &g->mq.it[q];
                it->u.m.idx = map[it->u.m.idx];
                /* an accuser forgotten since: the update is repeated as ours */
                it->u.m.from = map[it->u.m.from] == UINT32_MAX ? 0 : map[it->u.m.from];
            }
        for (uint32_t i = 0; i < g->n_susp; i++)
            g->susp[i].idx = map[g->susp[i].idx];
        g->n_order = 0;
        for (uint32_t i = 0; i < g->n_mem; i++)
            g->order[g->n_order++] = i;
        order_shuffle(g);
        g->probe.active = false;
        hidx_rebuild(g, g->hcap);
        if (g->attrs_dead * 2 > g->attrs_len)
            attrs_compact(g);
    }
    free(map);
}

int gossip_tick(struct gossip *g, ivt_ms now)
{
    g->now = now;
    /* Stall detection: we asked to run at last_deadline. If we run much
     * later, our own loop was stalled: the probe's ack may be sitting in
     * the socket buffer, so give the probe the stall back, and count the
     * stall against our own health rather than against the target. */
    if (g->last_deadline != IVT_MS_NEVER && now - g->last_deadline > g->cfg.stall_threshold) {
        ivt_ms lag = now - g->last_deadline;
        if (g->probe.active) {
            g->probe.indirect_at += lag;
            g->probe.end += lag;
        }
        for (uint32_t i = 0; i < g->n_susp; i++)
            g->susp[i].start += lag;
        for (uint32_t i = 0; i < GOSSIP_RELAY_MAX; i++)
            g->relay[i].nack_at += lag;
        if (g->awareness + 1 < g->cfg.awareness_max)
            g->awareness++;
    }
    relay_tick(g, now);
    suspicion_tick(g, now);
    wants_tick(g, now);
    if (!g->leaving) {
        struct gossip_probe *p = &g->probe;
        if (p->active && !p->acked && !p->indirect_sent && now >= p->indirect_at)
            probe_indirect(g);
        if (p->active && now >= p->end)
            probe_finish(g, now);
        if (now >= g->next_probe) {
            if (p->active)
                probe_finish(g, now);
            probe_start(g, now);
            g->next_probe = now + scaled(g, g->cfg.probe_interval);
        }
    }
    if (now >= g->next_gossip) {
        gossip_round(g, now);
        g->next_gossip = now + g->cfg.gossip_interval;
    }
    if (now >= g->next_pushpull) {
        uint32_t t;
        if (!g->leaving && random_members(g, &t, 1, -1, IVT_MS_NEVER) == 1)
            gossip__stream_open(g, &g->mem[t].addr, false, now);
        g->next_pushpull = now + pushpull_period(g);
    }
    if (now >= g->next_sync) {
        /* Our busy period ended after gossip grew the view by a large
         * share (q_remove): one push-pull with a random member now, not at
         * the periodic one (300 s at 10,000 nodes), for the residue of
         * that news. A join storm is where it matters: a member learned
         * from a join push-pull is not re-gossiped by the joiner, so the
         * nodes that must learn it by gossip (those that joined before it)
         * hear it from fewer spreaders than the cluster has members. */
        uint32_t t;
        if (!g->leaving && random_members(g, &t, 1, -1, IVT_MS_NEVER) == 1 &&
            gossip__stream_open(g, &g->mem[t].addr, false, now) == 0) {
            if (g->sync_again)
                g->st.pulls_again++;
            else
                g->st.syncs_after_growth++;
        }
        g->next_sync = IVT_MS_NEVER;
        g->sync_again = false;
    }
    if (now >= g->next_resync) {
        /* The other seeds now (so two clusters whose seeds were each
         * other's are bridged), or the one that answered again. */
        uint32_t opened = 0;
        for (uint32_t i = 0; i < g->n_seeds && !g->leaving; i++)
            if (!gossip_addr_eq(&g->seeds[i], &g->resync_to)) {
                gossip__stream_open(g, &g->seeds[i], false, now);
                opened++;
            }
        if (!opened && !g->leaving)
            gossip__stream_open(g, &g->resync_to, false, now);
        g->next_resync = IVT_MS_NEVER;
    }
    if (now >= g->next_reconnect) {
        if (!g->leaving)
            reconnect(g, now);
        g->next_reconnect = now + g->cfg.reconnect_interval;
    }
    if (now >= g->next_reap) {
        if (now >= g->reap_due)
            reap(g, now);
        g->next_reap = now + REAP_PERIOD_MS;
    }
    gossip__streams_tick(g, now);
    g->last_deadline = gossip_next_deadline(g);
    return 0;
}

static ivt_ms min_ms(ivt_ms a, ivt_ms b)
{
    return a < b ? a : b;
}

ivt_ms gossip_next_deadline(const struct gossip *g)
{
    ivt_ms t =
        min_ms(min_ms(g->next_pushpull, g->next_resync), min_ms(g->next_reconnect, g->next_reap));
    t = min_ms(t, g->next_sync);
    if (!g->leaving) {
        t = min_ms(t, g->next_probe);
        if (g->probe.active) {
            t = min_ms(t, g->probe.end);
            if (!g->probe.acked && !g->probe.indirect_sent)
                t = min_ms(t, g->probe.indirect_at);
        }
    }
    /* Gossip rounds only matter when there is something to say and someone
     * to say it to (a node alone kept waking every round for its own
     * alive update); payloads alone say it once they fill a datagram or
     * one has waited long enough. A member's arrival comes with a receive,
     * after which the host asks for the deadline again. */
    bool peers = g->n_mem > 1;
    if (peers && (g->mq.n || (g->aq.n && app_full(g)))) {
        t = min_ms(t, g->next_gossip);
    } else if (peers && g->aq.n) {
        ivt_ms last_round = g->app_due - g->cfg.gossip_interval;
        t = min_ms(t, last_round > g->next_gossip ? last_round : g->next_gossip);
    }
    ivt_ms shortest = g->n_susp ? (ivt_ms)susp_shortest(g) : 0;
    for (uint32_t i = 0; i < g->n_susp; i++)
        t = min_ms(t, susp_due(g, &g->susp[i], shortest));
    t = min_ms(t, g->want_due);
    for (uint32_t i = 0; g->n_relay && i < GOSSIP_RELAY_MAX; i++)
        if (g->relay[i].active)
            t = min_ms(t, g->relay[i].nack_at);
    return min_ms(t, gossip__streams_deadline(g));
}

/* ---- lifecycle and API -------------------------------------------------- */

int gossip_new(struct gossip **out, const struct gossip_config *cfg,
               const struct gossip_keyring *kr, const struct gossip_delegate *d, uint64_t seed,
               ivt_ms now)
{
    *out = NULL;
    if (config_check(cfg) || gossip_keyring_count(kr) == 0)
        return IVT_EINVAL;
    struct gossip *g = calloc(1, sizeof(*g));
    if (!g)
        return IVT_ENOMEM;
    g->cfg = *cfg;
    g->kr = *kr;
    if (d)
        g->d = *d;
    ivt_rng_seed(&g->rng, seed);
    g->label_len = strlen(cfg->label);
    memcpy(g->stream_label, cfg->label, g->label_len);
    memcpy(g->stream_label + g->label_len, "/stream", GOSSIP_STREAM_LABEL_SUFFIX);
    g->stream_label_len = g->label_len + GOSSIP_STREAM_LABEL_SUFFIX;
    g->cap_mem = MEM_INITIAL_CAP;
    g->mem = malloc(g->cap_mem * sizeof(*g->mem));
    g->order = malloc(g->cap_mem * sizeof(*g->order));
    g->ob_cap = OUTBOX_INITIAL_CAP;
    g->outbox = malloc(g->ob_cap * sizeof(*g->outbox));
    q_init(&g->mq, true);
    q_init(&g->aq, false);
    g->app_due = IVT_MS_NEVER;
    g->want_due = IVT_MS_NEVER;
    g->now = now;
    g->seen_cap = SEEN_MIN;
    while (g->seen_cap < cfg->app_seen_max)
        g->seen_cap *= 2;
    if (!g->mem || !g->order || !g->outbox || hidx_rebuild(g, MEM_INITIAL_CAP * 2) ||
        gossip__streams_init(g)) {
        gossip_delete(g);
        return IVT_ENOMEM;
    }
    struct gossip_wire_member self = {.id = cfg->id,
                                      .gen = cfg->generation,
                                      .inc = 0,
                                      .addr = cfg->addr,
                                      .name = cfg->name,
                                      .name_len = (uint32_t)strlen(cfg->name),
                                      .meta = cfg->meta,
                                      .meta_len = (uint32_t)cfg->meta_len};
    member_add(g, &self, GOSSIP_ALIVE, now);
    g->n_order = 0; /* self is never probed */
    enqueue_member(g, 0, NULL);
    /* Random stagger, so nodes started together do not probe in lockstep. */
    g->next_probe = now + (ivt_ms)ivt_rng_below(&g->rng, (uint64_t)cfg->probe_interval);
    g->next_gossip = now + (ivt_ms)ivt_rng_below(&g->rng, (uint64_t)cfg->gossip_interval);
    g->next_pushpull = now + (ivt_ms)ivt_rng_below(&g->rng, (uint64_t)cfg->pushpull_interval);
    g->next_reconnect = now + (ivt_ms)ivt_rng_below(&g->rng, (uint64_t)cfg->reconnect_interval);
    g->next_reap = now + REAP_PERIOD_MS;
    g->reap_due = IVT_MS_NEVER;
    g->next_resync = IVT_MS_NEVER;
    g->next_sync = IVT_MS_NEVER;
    g->last_deadline = IVT_MS_NEVER;
    *out = g;
    return 0;
}

void gossip_delete(struct gossip *g)
{
    if (!g)
        return;
    gossip__streams_free(g);
    q_destroy(&g->aq);
    lazy_free(g);
    free(g->seen[0]);
    free(g->seen[1]);
    free(g->mem);
    free(g->order);
    free(g->attrs);
    free(g->hidx);
    free(g->susp);
    q_destroy(&g->mq);
    free(g->outbox);
    gossip_subkeys_delete(g->subkeys);
    gossip_keyring_destroy(&g->kr);
    free(g);
}

void gossip__join_next(struct gossip *g, ivt_ms now)
{
    if (g->join_next < g->n_seeds)
        gossip__stream_open(g, &g->seeds[g->join_next++], true, now);
}

int gossip_join(struct gossip *g, const struct gossip_addr *seeds, size_t n, ivt_ms now)
{
    if (n == 0 || n > GOSSIP_SEEDS_MAX)
        return IVT_EINVAL;
    memcpy(g->seeds, seeds, n * sizeof(*seeds));
    g->n_seeds = (uint32_t)n;
    g->join_next = 0;
    gossip__join_next(g, now);
    return 0;
}

int gossip_leave(struct gossip *g, ivt_ms now)
{
    g->now = now;
    g->leaving = true;
    g->probe.active = false;
    set_state(g, 0, GOSSIP_LEFT, now);
    enqueue_member(g, 0, NULL);
    /* Say it now rather than at the next gossip round. */
    gossip_round(g, now);
    return 0;
}

size_t gossip_app_budget(const struct gossip *g)
{
    return g->cfg.packet_size - GOSSIP_ENVELOPE_OVERHEAD - GOSSIP_HDR_MAX - GOSSIP_PROBE_MSG_MAX -
           GOSSIP_MEMBER_MSG_MAX - g->cfg.member_budget - GOSSIP_USER_OVERHEAD;
}

int gossip_publish(struct gossip *g, const uint8_t *payload, size_t len, ivt_ms now)
{
    g->now = now;
    if (len == 0)
        return IVT_EINVAL;
    if (len > gossip_app_budget(g))
        return IVT_ETOOBIG;
    uint8_t buf[GOSSIP_PACKET_MAX];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    uint64_t seq = g->user_seq;
    gossip_wire_user(&w, g->mem[0].id, g->cfg.generation, seq, payload, len);
    uint64_t fp = fingerprint(g->mem[0].id, g->cfg.generation, seq);
    int rc = app_enqueue(g, buf, w.len, fp);
    if (rc)
        return rc;
    /* Heard: an announcement of our own payload asks us for nothing. */
    if (g->cfg.app_eager)
        seen_add(g, fp);
    g->user_seq++;
    g->st.payloads_published++;
    return 0;
}

struct gossip_keyring *gossip_keyring(struct gossip *g)
{
    return &g->kr;
}

int gossip_set_meta(struct gossip *g, const uint8_t *meta, size_t len, ivt_ms now)
{
    if (len > GOSSIP_META_MAX)
        return IVT_ETOOBIG;
    struct gossip_wire_member w;
    gossip__wire_member(g, 0, &w);
    w.meta = meta;
    w.meta_len = (uint32_t)len;
    if (attr_store(g, 0, &w, false))
        return IVT_ENOMEM;
    struct gossip_mem *self = &g->mem[0];
    set_version(g, 0, self->gen, self->inc + 1);
    self->changed = now;
    enqueue_member(g, 0, NULL);
    return 0;
}

size_t gossip_members(const struct gossip *g, struct gossip_member_info *out, size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < g->n_mem && n < max; i++)
        member_info(g, i, &out[n++]);
    return n;
}

size_t gossip_member_count(const struct gossip *g, enum gossip_member_state st)
{
    return (unsigned)st < GOSSIP_STATES ? g->n_state[st] : 0;
}

int gossip_member(const struct gossip *g, const uint8_t id[GOSSIP_ID_LEN],
                  struct gossip_member_info *out)
{
    int idx = gossip__find(g, id);
    if (idx < 0)
        return IVT_ENOENT;
    member_info(g, (uint32_t)idx, out);
    return 0;
}

void gossip_get_stats(const struct gossip *g, struct gossip_stats *out)
{
    *out = g->st;
    out->health = g->awareness;
    out->members = g->n_mem;
}
