/*
 * gossip/pushpull.c: digest-first push-pull anti-entropy over streams.
 *
 * Datagram gossip is fast but lossy; push-pull repairs what it missed (a
 * new node, a node back from a partition, an update that ran out of
 * retransmits). memberlist sends its whole state both ways every time; we
 * send a digest first and only then what the other side lacks, in the
 * manner of scuttlebutt, so an idle exchange costs two small frames each
 * way whatever the cluster size:
 *
 *   initiator                                   responder
 *   REQ  [16, join, summary, count, app digest] ->
 *                                <- RESP [17, summary, count, member digest | nil,
 *                                         app digest, app diff for the initiator, more]
 *                                <- DIFF [20, app diff, more]   (while more)
 *   FIN  [18, member digest | nil, entries the responder lacks,
 *         app diff for the responder, more]      ->
 *   DIFF [20, app diff, more]   (while more)     ->
 *                                <- END  [19, entries the initiator lacks]
 *
 *   summary = sum of a hash of (id, generation, incarnation, state) over live
 *             members; equal summaries and counts (and no join) mean the
 *             member digests are skipped (nil).
 *   member digest = array of [id, gen, inc, state], every member we hold;
 *   entries = array of [id, gen, inc, state, addr, name, meta].
 *
 * Hashed digests: a REQ with a sixth field, true, asks for one. The RESP's
 * member digest is then a bin of 8-byte hashes (gossip__member_hash, big-
 * endian), one per member, and the FIN's is a bin of the hashes the
 * initiator holds no identical member for; its entries are every member
 * whose hash the RESP did not list; the END carries the members whose
 * hashes the FIN listed. A full digest is ~24 bytes a member and went both
 * ways; a hashed one is 8, one way, plus 8 a member the initiator lacks
 * (at 3,000 nodes forming, digests were four fifths of push-pull bytes). A
 * node before hashed digests ignores the sixth field and answers in full,
 * and never asks: both ends then speak as before.
 *
 * Framing on the stream (TCP in the daemon):
 *
 *   +----------------+--------------------------------------------------+
 *   | length (4, BE) | sealed envelope: header | ciphertext | tag       |
 *   +----------------+--------------------------------------------------+
 *
 * The plaintext is the datagram header [sender id, generation, counter]
 * followed by one frame message; the sender's replay window covers frames
 * as well as datagrams (one counter per sender). The label is the cluster
 * label with "/stream" appended, so a datagram can never be replayed as a
 * frame or the reverse. Frames over pushpull_max_bytes are refused before
 * anything is buffered.
 *
 * Merging may only lower trust (gossip__merge_remote): a remote death is a
 * suspicion here, and a remote claim of life never revives a tombstone.
 *
 * The application's diff is the one part of an exchange that can be
 * large (the node's evidence repair: a megabyte, some 5 ms of store walks
 * to write and milliseconds more to seal, open and copy as one frame). The
 * delegate may write it in segments (app_diff returning IVT_EAGAIN): the
 * first goes in the RESP or FIN with more = true, and each later one in a
 * DIFF frame of its own, one per gossip_tick at most every segment_gap
 * ms (the host's choice), the last with more = false.
 * The host's loop serves its other work between them, on both ends: each
 * segment is sealed, sent, opened and merged alone. Turns stay strict: a
 * side says nothing while the other's segments are coming, so a frame
 * that arrives while we still owe segments is a protocol error. A RESP or
 * FIN without the more field (a node before segments) is one segment.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "gossip/envelope.h"
#include "gossip/internal.h"

enum {
    FRAME_LEN_BYTES = 4, /* big-endian length prefix */
    /* Room at the front of a frame's writer for its length and envelope
     * header: the frame is sealed where it is written (frame_out). */
    FRAME_PREFIX = FRAME_LEN_BYTES + GOSSIP_ENVELOPE_HEADER,
    /* A joiner's view is its seed's at the join, and what it learned there
     * it does not re-gossip (gossip.c, apply_alive): this many probe
     * intervals later it push-pulls with its other seeds (or that seed
     * again), for the news that was still spreading then (the other
     * joiners of a storm). */
    JOIN_RESYNC_PROBES = 5,
    DIFF_BATCH = 16, /* digest entries looked up together (member_diff) */
    /* Stream slots a new instance starts with; they double up to
     * stream_max as exchanges overlap (a seed during a join storm). Most
     * nodes run one or two at a time, and a simulator holds an instance per
     * node: 128 slots were 19 KiB each, zeroed at creation. */
    STREAMS_INITIAL = 4,
    ROLE_INITIATOR = 1,
    ROLE_RESPONDER = 2,
    PHASE_WAIT_RESP = 1,
    PHASE_WAIT_REQ,
    PHASE_WAIT_FIN,
    PHASE_WAIT_END,
    PHASE_WAIT_RESP_DIFF, /* initiator: the rest of the responder's diff */
    PHASE_WAIT_FIN_DIFF,  /* responder: the rest of the initiator's diff */
    PHASE_DONE
};

struct gossip_stream {
    uint32_t sid; /* 0: free slot */
    uint8_t role, phase;
    bool join, polled, failed;
    /* Initiator: the REQ frame (our digest, the store's included) is built
     * when the host first asks for output, i.e. once it has connected: a
     * reconnect to a member that is really dead (the connection refused)
     * costs no digest. */
    bool req_pending;
    struct gossip_addr peer;
    ivt_ms deadline;
    /* The counter in the header of the frame being built, taken from
     * g->counter when it was begun: datagrams sealed while the frame is
     * built (a merge that corrects a peer) take the next ones, so the
     * frame's header never repeats one a datagram carried (a receiver
     * dropped such a join reply as a replay). */
    uint64_t counter;
    uint8_t *in;
    size_t in_len;
    uint8_t *out;
    size_t out_len, out_off;
    /* Our diff's segments still to send: the application's job, and when
     * the next is due (at once: the time of the last). */
    void *job;
    ivt_ms job_at;
    /* What our reply waits for while the peer's segments arrive: its
     * member digest (keep_a bytes, 0 for nil) and app digest (keep_b)
     * for the initiator's FIN; our END's entries (keep_a) for the
     * responder. */
    uint8_t *keep;
    size_t keep_a, keep_b;
};

int gossip__streams_init(struct gossip *g)
{
    g->cap_streams = g->cfg.stream_max < STREAMS_INITIAL ? g->cfg.stream_max : STREAMS_INITIAL;
    g->streams = calloc(g->cap_streams, sizeof(*g->streams));
    g->next_sid = 1;
    return g->streams ? 0 : IVT_ENOMEM;
}

/* Gives an unfinished diff job back to the application. */
static void job_drop(struct gossip *g, struct gossip_stream *s)
{
    if (s->job && g->d.app_diff_cancel)
        g->d.app_diff_cancel(g->d.ctx, s->job);
    s->job = NULL;
}

static void stream_reset(struct gossip *g, struct gossip_stream *s)
{
    job_drop(g, s);
    free(s->keep);
    if (s->sid)
        g->n_streams--;
    free(s->in);
    free(s->out);
    memset(s, 0, sizeof(*s));
}

void gossip__streams_free(struct gossip *g)
{
    if (!g->streams)
        return;
    for (uint32_t i = 0; i < g->cap_streams; i++)
        stream_reset(g, &g->streams[i]);
    free(g->streams);
    g->streams = NULL;
}

static struct gossip_stream *stream_get(const struct gossip *g, uint32_t sid)
{
    for (uint32_t i = 0; sid && i < g->cap_streams; i++)
        if (g->streams[i].sid == sid)
            return &g->streams[i];
    return NULL;
}

/* The lowest free slot, the array grown (stream pointers held across this
 * call move) when every slot is taken and stream_max allows more; NULL when
 * not. */
static struct gossip_stream *stream_slot(struct gossip *g)
{
    for (uint32_t i = 0; i < g->cap_streams; i++)
        if (!g->streams[i].sid)
            return &g->streams[i];
    if (g->cap_streams >= g->cfg.stream_max)
        return NULL;
    uint32_t cap = g->cap_streams * 2 < g->cfg.stream_max ? g->cap_streams * 2 : g->cfg.stream_max;
    struct gossip_stream *p = realloc(g->streams, (size_t)cap * sizeof(*p));
    if (!p)
        return NULL;
    memset(p + g->cap_streams, 0, (size_t)(cap - g->cap_streams) * sizeof(*p));
    g->streams = p;
    uint32_t i = g->cap_streams;
    g->cap_streams = cap;
    return &g->streams[i];
}

static struct gossip_stream *stream_alloc(struct gossip *g, uint8_t role,
                                          const struct gossip_addr *peer, ivt_ms now)
{
    struct gossip_stream *s = stream_slot(g);
    if (!s)
        return NULL;
    s->sid = g->next_sid++;
    g->n_streams++;
    if (!g->next_sid)
        g->next_sid = 1; /* 0 marks a free slot */
    s->role = role;
    s->peer = *peer;
    s->deadline = now + g->cfg.stream_timeout;
    return s;
}

static void stream_fail(struct gossip *g, struct gossip_stream *s)
{
    job_drop(g, s);
    if (s->phase != PHASE_DONE) {
        s->phase = PHASE_DONE;
        s->failed = true;
        g->st.pushpull_failed++;
    }
}

/* Seals the frame frame_begin began in w where it was written, and queues
 * it: w's buffer becomes the stream's output when none is pending (the
 * common case), so a frame costs no second buffer of its size and no copy.
 * At 10,000 members a frame is up to a few hundred kB, and each allocation
 * of that size searches a simulator's fragmented heap (a tenth of a
 * formation's CPU went to such searches and the copies). */
static int frame_out(struct gossip *g, struct gossip_stream *s, struct ivt_mpw *w)
{
    if (w->err)
        return w->err;
    size_t plain_len = w->len - FRAME_PREFIX;
    if (plain_len > g->cfg.pushpull_max_bytes)
        return IVT_ETOOBIG;
    if (!ivt_mpw_reserve(w, GOSSIP_TAG_LEN)) /* the tag's room */
        return w->err;
    uint8_t nonce[GOSSIP_NONCE_LEN];
    gossip__nonce(g, s->counter, nonce);
    size_t sealed;
    uint8_t *f = w->data;
    int rc = gossip_seal_memo(f + FRAME_LEN_BYTES, w->cap - FRAME_LEN_BYTES, &sealed, &g->kr,
                              g->stream_label, g->stream_label_len, nonce, f + FRAME_PREFIX,
                              plain_len, g->cfg.aead, NULL);
    if (rc)
        return rc;
    f[0] = (uint8_t)(sealed >> 24);
    f[1] = (uint8_t)(sealed >> 16);
    f[2] = (uint8_t)(sealed >> 8);
    f[3] = (uint8_t)sealed;
    size_t n = FRAME_LEN_BYTES + sealed;
    if (!s->out) {
        s->out = f;
        s->out_len = n;
        s->out_off = 0;
        w->data = NULL; /* the stream's now: ivt_mpw_destroy frees nothing */
    } else {
        uint8_t *p = realloc(s->out, s->out_len + n);
        if (!p)
            return IVT_ENOMEM;
        memcpy(p + s->out_len, f, n);
        s->out = p;
        s->out_len += n;
    }
    g->st.bytes_pushpull += n;
    return 0;
}

static void frame_begin(struct gossip *g, struct gossip_stream *s, struct ivt_mpw *w,
                        enum gossip_msg_type type, uint32_t fields)
{
    ivt_mpw_init_dyn(w, FRAME_PREFIX + g->cfg.pushpull_max_bytes + GOSSIP_TAG_LEN);
    uint8_t *p = ivt_mpw_reserve(w, FRAME_PREFIX);
    if (p) {
        memset(p, 0, FRAME_PREFIX); /* the length and header frame_out writes */
        ivt_mpw_commit(w, p + FRAME_PREFIX);
    }
    s->counter = g->counter++;
    gossip_wire_hdr(w, g->mem[0].id, g->cfg.generation, s->counter);
    ivt_mpw_array(w, fields);
    ivt_mpw_uint(w, type);
}

/* Writes a as a bin field of w (empty when rc or a failed) and frees a. */
static void app_bin(struct ivt_mpw *w, struct ivt_mpw *a, int rc)
{
    static const uint8_t none[1];
    if (rc || a->err || !a->data)
        ivt_mpw_bin(w, none, 0);
    else
        ivt_mpw_bin(w, a->data, a->len);
    ivt_mpw_destroy(a);
}

/* The application's digest as a bin field (empty when absent). */
static void app_digest_field(struct gossip *g, struct ivt_mpw *w)
{
    struct ivt_mpw a;
    ivt_mpw_init_dyn(&a, g->cfg.pushpull_max_bytes / 2);
    int rc = g->d.app_digest ? g->d.app_digest(g->d.ctx, &a) : IVT_ENOENT;
    app_bin(w, &a, rc);
}

/*
 * The next segment of our diff from the delegate into a (initialised
 * here): the first (peer: the peer's app digest) or a later one (s->job
 * set). Returns true when more segments follow (s->job holds the
 * application's job); *rc is the delegate's result otherwise.
 */
static bool diff_segment(struct gossip *g, struct gossip_stream *s, struct ivt_mpw *a,
                         const uint8_t *peer, size_t n, ivt_ms now, int *rc)
{
    ivt_mpw_init_dyn(a, g->cfg.pushpull_max_bytes / 2);
    *rc = g->d.app_diff ? g->d.app_diff(g->d.ctx, &s->job, peer, n, a) : IVT_ENOENT;
    bool more = *rc == IVT_EAGAIN;
    if (more) {
        s->job_at = now + g->cfg.segment_gap;
        *rc = 0;
    } else {
        s->job = NULL;
    }
    return more;
}

/* The first segment of our diff as a bin field of w (the RESP's or the
 * FIN's). Returns true when more follow in DIFF frames. */
static bool app_diff_first(struct gossip *g, struct gossip_stream *s, struct ivt_mpw *w,
                           const uint8_t *peer, size_t n, ivt_ms now)
{
    struct ivt_mpw a;
    int rc;
    bool more = diff_segment(g, s, &a, peer, n, now, &rc);
    app_bin(w, &a, rc);
    return more;
}

/* Sends the next DIFF frame of our diff. A segment the delegate left empty
 * with more to come is a pause (its own work spread over ticks): no frame. */
static void diff_step(struct gossip *g, struct gossip_stream *s, ivt_ms now)
{
    struct ivt_mpw a, w;
    int rc;
    bool more = diff_segment(g, s, &a, NULL, 0, now, &rc);
    if (more && a.len == 0 && !a.err) {
        ivt_mpw_destroy(&a);
        return;
    }
    frame_begin(g, s, &w, GOSSIP_MSG_PP_DIFF, 3);
    app_bin(&w, &a, rc);
    ivt_mpw_bool(&w, more);
    rc = frame_out(g, s, &w);
    ivt_mpw_destroy(&w);
    if (rc)
        stream_fail(g, s);
}

/* Keeps a copy of a and b (either may be empty) for a later reply. */
static int keep(struct gossip_stream *s, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    free(s->keep);
    s->keep = malloc(na + nb ? na + nb : 1);
    if (!s->keep)
        return IVT_ENOMEM;
    if (na)
        memcpy(s->keep, a, na);
    if (nb)
        memcpy(s->keep + na, b, nb);
    s->keep_a = na;
    s->keep_b = nb;
    return 0;
}

static void keep_free(struct gossip_stream *s)
{
    free(s->keep);
    s->keep = NULL;
    s->keep_a = s->keep_b = 0;
}

/* Grows w once to hold n more bytes, when its bound allows: a frame of
 * 10,000 entries grown by doubling was a dozen reallocations, each a search
 * of a simulator's fragmented heap. What is written is unchanged. */
static void presize(struct ivt_mpw *w, size_t n)
{
    if (!w->err && n <= w->max - w->len)
        ivt_mpw_reserve(w, n);
}

static void member_digest(struct gossip *g, struct ivt_mpw *w)
{
    presize(w, IVT_MP_ARRAY_MAX + (size_t)g->n_mem * GOSSIP_DIGEST_ENTRY_MAX);
    ivt_mpw_array(w, g->n_mem);
    for (uint32_t i = 0; i < g->n_mem; i++) {
        struct gossip_wire_member m;
        gossip__wire_member(g, i, &m);
        gossip_wire_digest_entry(w, &m);
    }
}

enum { HASH_BYTES = 8 /* a member's hash in a hashed digest */ };

/* A hashed digest: every member's hash, big-endian, in one bin. */
static void member_hashes(struct gossip *g, struct ivt_mpw *w)
{
    size_t n = (size_t)g->n_mem * HASH_BYTES;
    uint8_t *p = ivt_mpw_reserve(w, IVT_MP_BIN_HEAD_MAX + n);
    if (!p)
        return; /* w's error is set */
    p = ivt_mp_put_bin_head(p, (uint32_t)n);
    for (uint32_t i = 0; i < g->n_mem; i++, p += HASH_BYTES)
        ivt__mp_put_be(p, gossip__member_hash(g, i), HASH_BYTES);
    ivt_mpw_commit(w, p);
}

/* Our members by hash, for the peer's hashes to be looked up in (open
 * addressing, at most two thirds full), and a flag a member for what the
 * exchange sends. Its size follows our table (max_members), never what a
 * peer sends. One allocation: each is a search of a simulator's large,
 * fragmented heap (three a side were 5 % of a 10,000-node run). */
struct mset {
    uint64_t *h;
    uint32_t *idx1; /* member index + 1; 0: an empty slot */
    uint8_t *pick;  /* by member index, set to pick0 */
    uint32_t mask;
};

static void mset_free(struct mset *t)
{
    free(t->h);
}

static int mset_build(const struct gossip *g, struct mset *t, uint8_t pick0)
{
    size_t cap = 16;
    while (cap < (size_t)g->n_mem + g->n_mem / 2)
        cap *= 2;
    t->h = malloc(cap * (sizeof(*t->h) + sizeof(*t->idx1)) + g->n_mem);
    if (!t->h)
        return IVT_ENOMEM;
    t->idx1 = (uint32_t *)(t->h + cap);
    t->pick = (uint8_t *)(t->idx1 + cap);
    t->mask = (uint32_t)(cap - 1);
    memset(t->idx1, 0, cap * sizeof(*t->idx1));
    memset(t->pick, pick0, g->n_mem);
    for (uint32_t i = 0; i < g->n_mem; i++) {
        uint64_t h = gossip__member_hash(g, i);
        uint32_t at = (uint32_t)h & t->mask;
        while (t->idx1[at])
            at = (at + 1) & t->mask;
        t->h[at] = h;
        t->idx1[at] = i + 1;
    }
    return 0;
}

/* The member whose hash is h, or -1. */
static int64_t mset_find(const struct mset *t, uint64_t h)
{
    for (uint32_t at = (uint32_t)h & t->mask; t->idx1[at]; at = (at + 1) & t->mask)
        if (t->h[at] == h)
            return (int64_t)t->idx1[at] - 1;
    return -1;
}

/* Full entries for the members flagged in pick (n_mem bytes), in our order. */
static void entries_picked(struct gossip *g, struct ivt_mpw *w, const uint8_t *pick)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < g->n_mem; i++)
        count += pick[i];
    presize(w, IVT_MP_ARRAY_MAX + (size_t)count * GOSSIP_FULL_ENTRY_MAX);
    ivt_mpw_array(w, count);
    for (uint32_t i = 0; i < g->n_mem; i++) {
        if (!pick[i])
            continue;
        struct gossip_wire_member m;
        gossip__wire_member(g, i, &m);
        gossip_wire_full_entry(w, &m);
    }
}

/* The initiator's FIN fields for a hashed digest (hp: n hashes of the
 * responder's members): the bin of the hashes we hold no identical member
 * for, then our members whose hashes it did not list. Those are members it
 * lacks, holds other news about (older or newer: it keeps the newer), or
 * reaped as tombstones (it ignores tombstones it does not hold): without
 * its (id, version) we cannot tell which, and sending all of them is what
 * the 16 bytes a member saved pay for. */
static int hashed_fin(struct gossip *g, struct ivt_mpw *w, const uint8_t *hp, uint32_t n)
{
    struct mset t;
    if (mset_build(g, &t, 1))
        return IVT_ENOMEM;
    /* The hashes we lack go straight into w, behind room for the largest
     * bin head, and move down under the real head once counted: no buffer
     * of their own (a frame-sized allocation, see frame_out). n is bounded
     * by the RESP's frame. */
    uint8_t *p = ivt_mpw_reserve(w, IVT_MP_BIN_HEAD_MAX + (size_t)n * HASH_BYTES);
    if (!p) {
        mset_free(&t);
        return w->err;
    }
    uint8_t *wants = p + IVT_MP_BIN_HEAD_MAX, *q = wants;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t h = ivt_mp_be64(hp + (size_t)k * HASH_BYTES);
        int64_t i = mset_find(&t, h);
        if (i >= 0) {
            t.pick[i] = 0;
        } else {
            ivt__mp_put_be(q, h, HASH_BYTES);
            q += HASH_BYTES;
        }
    }
    size_t nw = (size_t)(q - wants);
    uint8_t *body = ivt_mp_put_bin_head(p, (uint32_t)nw);
    memmove(body, wants, nw);
    ivt_mpw_commit(w, body + nw);
    entries_picked(g, w, t.pick);
    mset_free(&t);
    return 0;
}

/* The responder's END entries for a hashed FIN (hp: n hashes the initiator
 * wants): our members with those hashes, each once; hashes we no longer
 * hold (the member changed since our RESP) are skipped. */
static int wanted_entries(struct gossip *g, struct ivt_mpw *w, const uint8_t *hp, uint32_t n)
{
    struct mset t;
    if (mset_build(g, &t, 0))
        return IVT_ENOMEM;
    for (uint32_t k = 0; k < n; k++) {
        int64_t i = mset_find(&t, ivt_mp_be64(hp + (size_t)k * HASH_BYTES));
        if (i >= 0)
            t.pick[i] = 1;
    }
    entries_picked(g, w, t.pick);
    mset_free(&t);
    return 0;
}

/* A digest field read by read_digest (raw bytes d..dend): its hashes when it
 * is a hashed one (*hp, *n), else false. */
static bool digest_hashes(const uint8_t *d, const uint8_t *dend, const uint8_t **hp, uint32_t *n)
{
    uint32_t len;
    if (!d || ivt_mp_peek(d, dend) != IVT_MP_BIN || ivt_mp_read_bin(&d, dend, hp, &len))
        return false;
    *n = len / HASH_BYTES;
    return true;
}

/* Full entries for every member the peer's digest shows it lacks or holds
 * older news about. pos/end: the peer's digest array (already validated). */
static int member_diff(struct gossip *g, struct ivt_mpw *w, const uint8_t *pos, const uint8_t *end)
{
    uint8_t *peer_ok = calloc(g->n_mem ? g->n_mem : 1, 1);
    if (!peer_ok)
        return IVT_ENOMEM;
    uint32_t n;
    if (ivt_mp_read_array(&pos, end, &n)) {
        free(peer_ok);
        return IVT_EPROTO;
    }
    /* A batch of entries is decoded and its members fetched before any is
     * compared: the peer's digest is in its order, not ours, so each is a
     * lookup that misses cache in a large table (a join's push-pull walks
     * the whole cluster). */
    struct gossip_wire_member batch[DIFF_BATCH];
    uint32_t h[DIFF_BATCH]; /* each entry's id hash (gossip__find_slot) */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t b = i % DIFF_BATCH;
        if (b == 0) {
            uint32_t k = n - i < DIFF_BATCH ? n - i : DIFF_BATCH;
            for (uint32_t j = 0; j < k; j++) {
                if (gossip_wire_digest_entry_decode(&pos, end, &batch[j])) {
                    free(peer_ok);
                    return IVT_EPROTO;
                }
                h[j] = gossip__find_slot(g, batch[j].id);
            }
            for (uint32_t j = 0; j < k; j++)
                gossip__find_fetch(g, h[j]);
        }
        const struct gossip_wire_member pm = batch[b];
        int idx = gossip__find_at(g, pm.id, h[b]);
        if (idx < 0)
            continue;
        const struct gossip_mem *m = &g->mem[idx];
        uint64_t ours = (uint64_t)m->gen << 32 | m->inc;
        uint64_t theirs = (uint64_t)pm.gen << 32 | pm.inc;
        int rank_ours = m->state == GOSSIP_LEFT ? GOSSIP_DEAD : m->state;
        int rank_theirs = pm.state == GOSSIP_LEFT ? GOSSIP_DEAD : (int)pm.state;
        /* Ours is news to the peer when newer, or when we hold alive a
         * member it buried at the same incarnation: a partition healing. It
         * will not believe us (no second-hand resurrection) but will ask
         * that member directly. */
        bool newer = ours > theirs || (ours == theirs && rank_ours > rank_theirs);
        bool life_claim =
            m->state <= GOSSIP_SUSPECT && rank_theirs >= GOSSIP_DEAD && ours >= theirs;
        peer_ok[idx] = newer || life_claim ? 2 : 1;
    }
    /* Send what the peer holds older news about, and live members it lacks
     * (it would ignore tombstones it never knew). */
    for (uint32_t i = 0; i < g->n_mem; i++)
        peer_ok[i] = peer_ok[i] == 2 || (!peer_ok[i] && g->mem[i].state <= GOSSIP_SUSPECT);
    entries_picked(g, w, peer_ok);
    free(peer_ok);
    return 0;
}

static int merge_entries(struct gossip *g, const uint8_t **pos, const uint8_t *end, ivt_ms now)
{
    uint32_t n;
    if (ivt_mp_read_array(pos, end, &n))
        return IVT_EPROTO;
    gossip__reserve(g, n); /* on failure, member_add grows (or fails) one by one */
    uint32_t before = g->n_mem;
    for (uint32_t i = 0; i < n; i++) {
        struct gossip_wire_member m;
        if (gossip_wire_full_entry_decode(pos, end, &m))
            return IVT_EPROTO;
        gossip__merge_remote(g, &m, now);
    }
    /* Members are only added here (a reap runs from gossip_tick). */
    if (!g->join_merge && g->n_mem > before)
        gossip__pull_again(g, g->n_mem - before, now);
    return 0;
}

/* A member digest field: nil, an array we validate, or a bin of hashes
 * (a whole number of them), returned as a view of the raw field. */
static int read_digest(const uint8_t **pos, const uint8_t *end, const uint8_t **d,
                       const uint8_t **dend)
{
    *d = *dend = NULL;
    if (ivt_mp_peek(*pos, end) == IVT_MP_NIL)
        return ivt_mp_read_nil(pos, end);
    const uint8_t *start = *pos;
    uint32_t n;
    if (ivt_mp_peek(*pos, end) == IVT_MP_BIN) {
        const uint8_t *hp;
        if (ivt_mp_read_bin(pos, end, &hp, &n) || n % HASH_BYTES)
            return IVT_EPROTO;
        *d = start;
        *dend = *pos;
        return 0;
    }
    if (ivt_mp_read_array(pos, end, &n))
        return IVT_EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        struct gossip_wire_member m;
        if (gossip_wire_digest_entry_decode(pos, end, &m))
            return IVT_EPROTO;
    }
    *d = start;
    *dend = *pos;
    return 0;
}

static int send_req(struct gossip *g, struct gossip_stream *s)
{
    struct ivt_mpw w;
    uint32_t count;
    uint64_t sum = gossip__summary(g, &count);
    bool hashed = !g->cfg.pushpull_full_digests;
    frame_begin(g, s, &w, GOSSIP_MSG_PP_REQ, hashed ? 6 : 5);
    ivt_mpw_bool(&w, s->join);
    ivt_mpw_uint(&w, sum);
    ivt_mpw_uint(&w, count);
    app_digest_field(g, &w);
    if (hashed)
        ivt_mpw_bool(&w, true);
    int rc = frame_out(g, s, &w);
    ivt_mpw_destroy(&w);
    return rc;
}

int gossip__stream_open(struct gossip *g, const struct gossip_addr *to, bool join, ivt_ms now)
{
    for (uint32_t i = 0; i < g->cap_streams; i++)
        if (g->streams[i].sid && gossip_addr_eq(&g->streams[i].peer, to))
            return IVT_EEXIST; /* one exchange with a peer at a time */
    struct gossip_stream *s = stream_alloc(g, ROLE_INITIATOR, to, now);
    if (!s)
        return IVT_ELIMIT;
    s->join = join;
    s->phase = PHASE_WAIT_RESP;
    s->req_pending = true;
    g->st.pushpull_started++;
    return 0;
}

/* Responder: REQ -> RESP. */
static int on_req(struct gossip *g, struct gossip_stream *s, const uint8_t *pos, const uint8_t *end,
                  uint32_t fields, ivt_ms now)
{
    bool join, hashed = false;
    uint64_t sum;
    uint64_t count;
    const uint8_t *app;
    uint32_t app_len;
    if (ivt_mp_read_bool(&pos, end, &join) || ivt_mp_read_uint(&pos, end, &sum) ||
        ivt_mp_read_uint(&pos, end, &count) || ivt_mp_read_bin(&pos, end, &app, &app_len) ||
        (fields > 5 && ivt_mp_read_bool(&pos, end, &hashed)))
        return IVT_EPROTO;
    uint32_t our_count;
    uint64_t our_sum = gossip__summary(g, &our_count);
    struct ivt_mpw w;
    frame_begin(g, s, &w, GOSSIP_MSG_PP_RESP, 7);
    ivt_mpw_uint(&w, our_sum);
    ivt_mpw_uint(&w, our_count);
    if (!join && sum == our_sum && count == our_count) {
        ivt_mpw_nil(&w);
    } else if (hashed && !g->cfg.pushpull_full_digests) {
        member_hashes(g, &w);
        g->st.digests_hashed++;
    } else {
        member_digest(g, &w);
    }
    app_digest_field(g, &w);
    ivt_mpw_bool(&w, app_diff_first(g, s, &w, app, app_len, now));
    int rc = frame_out(g, s, &w);
    ivt_mpw_destroy(&w);
    s->phase = PHASE_WAIT_FIN;
    return rc;
}

static void app_merge(struct gossip *g, const uint8_t *p, uint32_t n)
{
    if (n && g->d.app_merge)
        g->d.app_merge(g->d.ctx, p, n);
}

/* The optional last field of a RESP or FIN: more DIFF frames follow. */
static int read_more(const uint8_t **pos, const uint8_t *end, uint32_t fields, uint32_t at,
                     bool *more)
{
    *more = false;
    return fields > at ? ivt_mp_read_bool(pos, end, more) : 0;
}

/* Initiator: the FIN, once the responder's diff is all in. d: the
 * responder's member digest (NULL: it sent nil); app: its app digest. */
static int send_fin(struct gossip *g, struct gossip_stream *s, const uint8_t *d,
                    const uint8_t *dend, const uint8_t *app, size_t app_len, ivt_ms now)
{
    struct ivt_mpw w;
    frame_begin(g, s, &w, GOSSIP_MSG_PP_FIN, 5);
    int rc = 0;
    const uint8_t *hp;
    uint32_t nh;
    if (digest_hashes(d, dend, &hp, &nh)) {
        rc = hashed_fin(g, &w, hp, nh);
    } else if (d) {
        member_digest(g, &w);
        rc = member_diff(g, &w, d, dend);
    } else {
        ivt_mpw_nil(&w);
        ivt_mpw_array(&w, 0);
    }
    s->phase = PHASE_WAIT_END;
    if (!rc) {
        ivt_mpw_bool(&w, app_diff_first(g, s, &w, app, app_len, now));
        rc = frame_out(g, s, &w);
    }
    ivt_mpw_destroy(&w);
    return rc;
}

/* Initiator: RESP -> FIN (or the rest of the responder's diff first). */
static int on_resp(struct gossip *g, struct gossip_stream *s, const uint8_t *pos,
                   const uint8_t *end, uint32_t fields, ivt_ms now)
{
    uint64_t sum, count;
    const uint8_t *d, *dend, *app, *diff;
    uint32_t app_len, diff_len;
    bool more;
    if (ivt_mp_read_uint(&pos, end, &sum) || ivt_mp_read_uint(&pos, end, &count) ||
        read_digest(&pos, end, &d, &dend) || ivt_mp_read_bin(&pos, end, &app, &app_len) ||
        ivt_mp_read_bin(&pos, end, &diff, &diff_len) || read_more(&pos, end, fields, 6, &more))
        return IVT_EPROTO;
    app_merge(g, diff, diff_len);
    if (!more)
        return send_fin(g, s, d, dend, app, app_len, now);
    s->phase = PHASE_WAIT_RESP_DIFF;
    return keep(s, d, d ? (size_t)(dend - d) : 0, app, app_len);
}

/* Responder: our END (entries: the initiator's lacks, computed at its FIN). */
static int send_end(struct gossip *g, struct gossip_stream *s, const uint8_t *entries, size_t n)
{
    struct ivt_mpw w;
    frame_begin(g, s, &w, GOSSIP_MSG_PP_END, 2);
    ivt_mpw_raw(&w, entries, n);
    int rc = frame_out(g, s, &w);
    ivt_mpw_destroy(&w);
    s->phase = PHASE_DONE;
    if (!rc)
        g->st.pushpull_completed++;
    return rc;
}

/* Responder: FIN -> END, done (or the rest of the initiator's diff first). */
static int on_fin(struct gossip *g, struct gossip_stream *s, const uint8_t *pos, const uint8_t *end,
                  uint32_t fields, ivt_ms now)
{
    const uint8_t *d, *dend, *diff;
    uint32_t diff_len;
    bool more;
    if (read_digest(&pos, end, &d, &dend))
        return IVT_EPROTO;
    /* Validate the whole frame before merging any of it. */
    const uint8_t *entries = pos;
    uint32_t n;
    if (ivt_mp_read_array(&pos, end, &n))
        return IVT_EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        struct gossip_wire_member m;
        if (gossip_wire_full_entry_decode(&pos, end, &m))
            return IVT_EPROTO;
    }
    const uint8_t *entries_end = pos;
    if (ivt_mp_read_bin(&pos, end, &diff, &diff_len) || read_more(&pos, end, fields, 4, &more))
        return IVT_EPROTO;
    /* Compute what the initiator lacks from our state before the merge, so
     * the reply carries our view, not an echo of theirs. */
    struct ivt_mpw e;
    ivt_mpw_init_dyn(&e, g->cfg.pushpull_max_bytes);
    int rc = 0;
    const uint8_t *hp;
    uint32_t nh;
    if (digest_hashes(d, dend, &hp, &nh))
        rc = wanted_entries(g, &e, hp, nh);
    else if (d)
        rc = member_diff(g, &e, d, dend);
    else
        ivt_mpw_array(&e, 0);
    merge_entries(g, &entries, entries_end, now);
    app_merge(g, diff, diff_len);
    if (!rc && ivt_mpw_error(&e))
        rc = ivt_mpw_error(&e);
    if (!rc && more) {
        s->phase = PHASE_WAIT_FIN_DIFF;
        rc = keep(s, e.data, e.len, NULL, 0);
    } else if (!rc) {
        rc = send_end(g, s, e.data, e.len);
    }
    ivt_mpw_destroy(&e);
    return rc;
}

/* Either end: one more segment of the peer's diff; the reply when it was
 * the last. */
static int on_diff(struct gossip *g, struct gossip_stream *s, const uint8_t *pos,
                   const uint8_t *end, ivt_ms now)
{
    const uint8_t *diff;
    uint32_t diff_len;
    bool more;
    if (ivt_mp_read_bin(&pos, end, &diff, &diff_len) || ivt_mp_read_bool(&pos, end, &more))
        return IVT_EPROTO;
    app_merge(g, diff, diff_len);
    if (more)
        return 0;
    int rc;
    if (s->phase == PHASE_WAIT_RESP_DIFF) {
        const uint8_t *d = s->keep_a ? s->keep : NULL;
        rc = send_fin(g, s, d, d ? d + s->keep_a : NULL, s->keep + s->keep_a, s->keep_b, now);
    } else {
        rc = send_end(g, s, s->keep, s->keep_a);
    }
    keep_free(s);
    return rc;
}

/* Initiator: END, done. */
static int on_end(struct gossip *g, struct gossip_stream *s, const uint8_t *pos, const uint8_t *end,
                  ivt_ms now)
{
    const uint8_t *check = pos;
    uint32_t n;
    if (ivt_mp_read_array(&check, end, &n))
        return IVT_EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        struct gossip_wire_member m;
        if (gossip_wire_full_entry_decode(&check, end, &m))
            return IVT_EPROTO;
    }
    g->join_merge = s->join;
    merge_entries(g, &pos, end, now);
    g->join_merge = false;
    if (s->join) {
        g->joined = true;
        g->resync_to = s->peer;
        g->next_resync = now + JOIN_RESYNC_PROBES * g->cfg.probe_interval;
        g->join_next = g->n_seeds;
    }
    s->phase = PHASE_DONE;
    g->st.pushpull_completed++;
    return 0;
}

/* Opens frame f[0, n) in place: the plaintext starts at f. */
static int open_frame(struct gossip *g, size_t *plen, uint8_t *f, size_t n)
{
    uint8_t aead = n ? f[0] : 0; /* the plaintext overwrites it */
    int rc = gossip_open(f, n, plen, &g->kr, g->stream_label, g->stream_label_len, f, n);
    switch (rc) {
    case 0: gossip__count_opened(g, aead); return 0;
    case IVT_EVERSION: g->st.dropped[GOSSIP_DROP_VERSION]++; return rc;
    case IVT_ENOENT: g->st.dropped[GOSSIP_DROP_KEY]++; return rc;
    case IVT_EAUTH: g->st.dropped[GOSSIP_DROP_AUTH]++; return rc;
    default: g->st.dropped[GOSSIP_DROP_GARBAGE]++; return IVT_EPROTO;
    }
}

/* Handles one frame f[0, n), which it overwrites: the stream's input
 * buffer, freed after. Opened where it lies, a frame costs no second
 * buffer of its size (see frame_out). */
static int on_frame(struct gossip *g, struct gossip_stream *s, uint8_t *f, size_t n, ivt_ms now)
{
    size_t plen = 0;
    int rc = open_frame(g, &plen, f, n);
    const uint8_t *pos = f, *end = f + plen;
    struct gossip_hdr h;
    uint32_t fields;
    uint64_t type;
    if (!rc && (gossip_wire_hdr_decode(&pos, end, &h) || ivt_mp_read_array(&pos, end, &fields) ||
                ivt_mp_read_uint(&pos, end, &type))) {
        g->st.dropped[GOSSIP_DROP_DECODE]++;
        rc = IVT_EPROTO;
    }
    if (!rc && !memcmp(h.id, g->mem[0].id, GOSSIP_ID_LEN)) {
        g->st.dropped[GOSSIP_DROP_SELF]++;
        rc = IVT_EEXIST;
    }
    if (!rc && gossip__replay(g, &h)) {
        g->st.dropped[GOSSIP_DROP_REPLAY]++;
        rc = IVT_EREPLAY;
    }
    if (!rc && s->job) {
        /* The peer speaks while we still owe it segments of our diff: it
         * cannot, it waits for the last one. */
        rc = IVT_EPROTO;
    } else if (!rc) {
        uint8_t want = s->phase == PHASE_WAIT_REQ         ? GOSSIP_MSG_PP_REQ
                       : s->phase == PHASE_WAIT_RESP      ? GOSSIP_MSG_PP_RESP
                       : s->phase == PHASE_WAIT_FIN       ? GOSSIP_MSG_PP_FIN
                       : s->phase == PHASE_WAIT_END       ? GOSSIP_MSG_PP_END
                       : s->phase == PHASE_WAIT_RESP_DIFF ? GOSSIP_MSG_PP_DIFF
                       : s->phase == PHASE_WAIT_FIN_DIFF  ? GOSSIP_MSG_PP_DIFF
                                                          : 0;
        if (type != want)
            rc = IVT_EPROTO;
        else if (type == GOSSIP_MSG_PP_REQ)
            rc = on_req(g, s, pos, end, fields, now);
        else if (type == GOSSIP_MSG_PP_RESP)
            rc = on_resp(g, s, pos, end, fields, now);
        else if (type == GOSSIP_MSG_PP_FIN)
            rc = on_fin(g, s, pos, end, fields, now);
        else if (type == GOSSIP_MSG_PP_DIFF)
            rc = on_diff(g, s, pos, end, now);
        else
            rc = on_end(g, s, pos, end, now);
        if (rc == IVT_EPROTO)
            g->st.dropped[GOSSIP_DROP_DECODE]++;
    }
    return rc;
}

int gossip_stream_poll_connect(struct gossip *g, uint32_t *sid, struct gossip_addr *to)
{
    for (uint32_t i = 0, seen = 0; i < g->cap_streams && seen < g->n_streams; i++) {
        struct gossip_stream *s = &g->streams[i];
        seen += s->sid != 0;
        if (s->sid && s->role == ROLE_INITIATOR && !s->polled && s->phase != PHASE_DONE) {
            s->polled = true;
            *sid = s->sid;
            *to = s->peer;
            return 1;
        }
    }
    return 0;
}

int gossip_stream_accept(struct gossip *g, uint32_t *sid, const struct gossip_addr *from,
                         ivt_ms now)
{
    struct gossip_stream *s = stream_alloc(g, ROLE_RESPONDER, from, now);
    if (!s)
        return IVT_ELIMIT;
    s->polled = true;
    s->phase = PHASE_WAIT_REQ;
    *sid = s->sid;
    return 0;
}

static int stream_receive(struct gossip *g, uint32_t sid, const uint8_t *data, size_t len,
                          ivt_ms now);

int gossip_stream_receive(struct gossip *g, uint32_t sid, const uint8_t *data, size_t len,
                          ivt_ms now)
{
    int rc = stream_receive(g, sid, data, len, now);
    g->last_deadline = gossip_next_deadline(g);
    return rc;
}

static int stream_receive(struct gossip *g, uint32_t sid, const uint8_t *data, size_t len,
                          ivt_ms now)
{
    struct gossip_stream *s = stream_get(g, sid);
    if (!s)
        return IVT_ENOENT;
    if (s->phase == PHASE_DONE)
        return len ? IVT_EPROTO : 0;
    size_t max_frame = g->cfg.pushpull_max_bytes + GOSSIP_ENVELOPE_OVERHEAD;
    while (len) {
        /* Buffer at most one frame (and its length): bounded by config. */
        size_t want = FRAME_LEN_BYTES;
        if (s->in_len >= FRAME_LEN_BYTES) {
            size_t flen =
                (size_t)s->in[0] << 24 | (size_t)s->in[1] << 16 | (size_t)s->in[2] << 8 | s->in[3];
            if (flen > max_frame || flen < GOSSIP_ENVELOPE_OVERHEAD) {
                g->st.dropped[flen > max_frame ? GOSSIP_DROP_OVERSIZE : GOSSIP_DROP_GARBAGE]++;
                g->st.streams_rejected++;
                stream_fail(g, s);
                return flen > max_frame ? IVT_ETOOBIG : IVT_EPROTO;
            }
            want += flen;
        }
        if (!s->in) {
            s->in = malloc(FRAME_LEN_BYTES);
            if (!s->in)
                return IVT_ENOMEM;
        } else if (want > FRAME_LEN_BYTES && s->in_len == FRAME_LEN_BYTES) {
            uint8_t *p = realloc(s->in, want);
            if (!p)
                return IVT_ENOMEM;
            s->in = p;
        }
        size_t take = want - s->in_len < len ? want - s->in_len : len;
        memcpy(s->in + s->in_len, data, take);
        s->in_len += take;
        data += take;
        len -= take;
        g->st.bytes_in += take;
        if (s->in_len < want || want == FRAME_LEN_BYTES)
            continue;
        int rc = on_frame(g, s, s->in + FRAME_LEN_BYTES, want - FRAME_LEN_BYTES, now);
        free(s->in);
        s->in = NULL;
        s->in_len = 0;
        if (rc) {
            g->st.streams_rejected++;
            stream_fail(g, s);
            return rc;
        }
        if (s->phase == PHASE_DONE)
            return len ? IVT_EPROTO : 0;
    }
    return 0;
}

size_t gossip_stream_output(struct gossip *g, uint32_t sid, uint8_t *buf, size_t cap)
{
    struct gossip_stream *s = stream_get(g, sid);
    if (!s)
        return 0;
    if (s->req_pending) {
        s->req_pending = false;
        if (s->phase == PHASE_WAIT_RESP && send_req(g, s)) {
            stream_fail(g, s);
            return 0;
        }
    }
    size_t n = s->out_len - s->out_off;
    if (n > cap)
        n = cap;
    if (n == 0)
        return 0;
    memcpy(buf, s->out + s->out_off, n);
    s->out_off += n;
    if (s->out_off == s->out_len) {
        free(s->out);
        s->out = NULL;
        s->out_len = s->out_off = 0;
    }
    return n;
}

bool gossip_stream_done(const struct gossip *g, uint32_t sid)
{
    const struct gossip_stream *s = stream_get(g, sid);
    return !s || s->phase == PHASE_DONE;
}

void gossip_stream_close(struct gossip *g, uint32_t sid, ivt_ms now)
{
    struct gossip_stream *s = stream_get(g, sid);
    if (!s)
        return;
    bool retry = s->join && s->phase != PHASE_DONE;
    stream_fail(g, s); /* no-op when it completed */
    stream_reset(g, s);
    if (retry && gossip__needs_join(g) && g->join_next < g->n_seeds) {
        gossip__join_next(g, now); /* the next seed in line, at once */
    } else if (retry && gossip__needs_join(g)) {
        /* A join that failed (a busy seed, say) is retried within a few
         * probe intervals rather than at the next reconnect round. */
        ivt_ms t = now + g->cfg.probe_interval +
                   (ivt_ms)ivt_rng_below(&g->rng, 2 * (uint64_t)g->cfg.probe_interval);
        if (t < g->next_reconnect)
            g->next_reconnect = t;
    }
    g->last_deadline = gossip_next_deadline(g);
}

void gossip__streams_tick(struct gossip *g, ivt_ms now)
{
    /* Slots in use are counted, so the usual idle node (no stream, out of
     * stream_max = 128 slots) stops at once: this runs on every tick. */
    for (uint32_t i = 0, seen = 0; i < g->cap_streams && seen < g->n_streams; i++) {
        struct gossip_stream *s = &g->streams[i];
        if (!s->sid)
            continue;
        seen++;
        if (s->job && now >= s->job_at && now < s->deadline)
            diff_step(g, s, now);
        if (now < s->deadline)
            continue;
        stream_fail(g, s);
        /* A host that never closes (or never connects) must not leak the
         * slot: forget it one more timeout later. */
        if (now >= s->deadline + g->cfg.stream_timeout)
            stream_reset(g, s);
    }
}

ivt_ms gossip__streams_deadline(const struct gossip *g)
{
    ivt_ms t = IVT_MS_NEVER;
    for (uint32_t i = 0, seen = 0; i < g->cap_streams && seen < g->n_streams; i++) {
        const struct gossip_stream *s = &g->streams[i];
        if (!s->sid)
            continue;
        seen++;
        ivt_ms d = s->phase == PHASE_DONE ? s->deadline + g->cfg.stream_timeout : s->deadline;
        if (s->job && s->job_at < d)
            d = s->job_at; /* our diff's next segment */
        t = d < t ? d : t;
    }
    return t;
}
