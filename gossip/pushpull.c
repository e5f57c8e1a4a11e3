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
 *                                         app digest, app diff for the initiator]
 *   FIN  [18, member digest | nil, entries the responder lacks,
 *         app diff for the responder]            ->
 *                                <- END  [19, entries the initiator lacks]
 *
 *   summary = sum of a hash of (id, generation, incarnation, state) over live
 *             members; equal summaries and counts (and no join) mean the
 *             member digests are skipped (nil).
 *   member digest = array of [id, gen, inc, state], every member we hold;
 *   entries = array of [id, gen, inc, state, addr, name, meta].
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
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "gossip/envelope.h"
#include "gossip/internal.h"

enum {
    FRAME_LEN_BYTES = 4, /* big-endian length prefix */
    /* A joiner's view is its seed's at the join, and what it learned there
     * it does not re-gossip (gossip.c, apply_alive): this many probe
     * intervals later it push-pulls with its other seeds (or that seed
     * again), for the news that was still spreading then (the other
     * joiners of a storm). */
    JOIN_RESYNC_PROBES = 5,
    DIFF_BATCH = 16, /* digest entries looked up together (member_diff) */
    ROLE_INITIATOR = 1,
    ROLE_RESPONDER = 2,
    PHASE_WAIT_RESP = 1,
    PHASE_WAIT_REQ,
    PHASE_WAIT_FIN,
    PHASE_WAIT_END,
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
};

int gossip__streams_init(struct gossip *g)
{
    g->streams = calloc(g->cfg.stream_max, sizeof(*g->streams));
    g->next_sid = 1;
    return g->streams ? 0 : IVT_ENOMEM;
}

static void stream_reset(struct gossip *g, struct gossip_stream *s)
{
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
    for (uint32_t i = 0; i < g->cfg.stream_max; i++)
        stream_reset(g, &g->streams[i]);
    free(g->streams);
    g->streams = NULL;
}

static struct gossip_stream *stream_get(const struct gossip *g, uint32_t sid)
{
    for (uint32_t i = 0; sid && i < g->cfg.stream_max; i++)
        if (g->streams[i].sid == sid)
            return &g->streams[i];
    return NULL;
}

static struct gossip_stream *stream_alloc(struct gossip *g, uint8_t role,
                                          const struct gossip_addr *peer, ivt_ms now)
{
    for (uint32_t i = 0; i < g->cfg.stream_max; i++) {
        struct gossip_stream *s = &g->streams[i];
        if (s->sid)
            continue;
        s->sid = g->next_sid++;
        g->n_streams++;
        if (!g->next_sid)
            g->next_sid = 1; /* 0 marks a free slot */
        s->role = role;
        s->peer = *peer;
        s->deadline = now + g->cfg.stream_timeout;
        return s;
    }
    return NULL;
}

static void stream_fail(struct gossip *g, struct gossip_stream *s)
{
    if (s->phase != PHASE_DONE) {
        s->phase = PHASE_DONE;
        s->failed = true;
        g->st.pushpull_failed++;
    }
}

/* Seals the plaintext in w as one frame at the end of the output. */
static int frame_out(struct gossip *g, struct gossip_stream *s, const struct ivt_mpw *w)
{
    if (w->err)
        return w->err;
    if (w->len > g->cfg.pushpull_max_bytes)
        return IVT_ETOOBIG;
    size_t need = FRAME_LEN_BYTES + w->len + GOSSIP_ENVELOPE_OVERHEAD;
    uint8_t *p = realloc(s->out, s->out_len + need);
    if (!p)
        return IVT_ENOMEM;
    s->out = p;
    uint8_t nonce[GOSSIP_NONCE_LEN];
    gossip__nonce(g, s->counter, nonce);
    size_t sealed;
    uint8_t *f = p + s->out_len;
    int rc = gossip_seal(f + FRAME_LEN_BYTES, need - FRAME_LEN_BYTES, &sealed, &g->kr,
                         g->stream_label, g->stream_label_len, nonce, w->data, w->len);
    if (rc)
        return rc;
    f[0] = (uint8_t)(sealed >> 24);
    f[1] = (uint8_t)(sealed >> 16);
    f[2] = (uint8_t)(sealed >> 8);
    f[3] = (uint8_t)sealed;
    s->out_len += FRAME_LEN_BYTES + sealed;
    g->st.bytes_pushpull += FRAME_LEN_BYTES + sealed;
    return 0;
}

static void frame_begin(struct gossip *g, struct gossip_stream *s, struct ivt_mpw *w,
                        enum gossip_msg_type type, uint32_t fields)
{
    ivt_mpw_init_dyn(w, g->cfg.pushpull_max_bytes);
    s->counter = g->counter++;
    gossip_wire_hdr(w, g->mem[0].id, g->cfg.generation, s->counter);
    ivt_mpw_array(w, fields);
    ivt_mpw_uint(w, type);
}

/* The application's digest or diff as a bin field (empty when absent). */
static void app_field(struct gossip *g, struct ivt_mpw *w, const uint8_t *peer, size_t n, bool diff)
{
    struct ivt_mpw a;
    ivt_mpw_init_dyn(&a, g->cfg.pushpull_max_bytes / 2);
    int rc = IVT_ENOENT;
    if (diff && g->d.app_diff)
        rc = g->d.app_diff(g->d.ctx, peer, n, &a);
    else if (!diff && g->d.app_digest)
        rc = g->d.app_digest(g->d.ctx, &a);
    static const uint8_t none[1];
    if (rc || a.err || !a.data)
        ivt_mpw_bin(w, none, 0);
    else
        ivt_mpw_bin(w, a.data, a.len);
    ivt_mpw_destroy(&a);
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
    uint32_t slot[DIFF_BATCH];
    for (uint32_t i = 0; i < n; i++) {
        uint32_t b = i % DIFF_BATCH;
        if (b == 0) {
            uint32_t k = n - i < DIFF_BATCH ? n - i : DIFF_BATCH;
            for (uint32_t j = 0; j < k; j++) {
                if (gossip_wire_digest_entry_decode(&pos, end, &batch[j])) {
                    free(peer_ok);
                    return IVT_EPROTO;
                }
                slot[j] = gossip__find_slot(g, batch[j].id);
            }
            for (uint32_t j = 0; j < k; j++)
                gossip__find_fetch(g, slot[j]);
        }
        const struct gossip_wire_member pm = batch[b];
        int idx = gossip__find_at(g, pm.id, slot[b]);
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
    uint32_t count = 0;
    for (uint32_t i = 0; i < g->n_mem; i++)
        count += peer_ok[i] == 2 || (!peer_ok[i] && g->mem[i].state <= GOSSIP_SUSPECT);
    presize(w, IVT_MP_ARRAY_MAX + (size_t)count * GOSSIP_FULL_ENTRY_MAX);
    ivt_mpw_array(w, count);
    for (uint32_t i = 0; i < g->n_mem; i++) {
        if (!(peer_ok[i] == 2 || (!peer_ok[i] && g->mem[i].state <= GOSSIP_SUSPECT)))
            continue;
        struct gossip_wire_member m;
        gossip__wire_member(g, i, &m);
        gossip_wire_full_entry(w, &m);
    }
    free(peer_ok);
    return 0;
}

static int merge_entries(struct gossip *g, const uint8_t **pos, const uint8_t *end, ivt_ms now)
{
    uint32_t n;
    if (ivt_mp_read_array(pos, end, &n))
        return IVT_EPROTO;
    gossip__reserve(g, n); /* on failure, member_add grows (or fails) one by one */
    for (uint32_t i = 0; i < n; i++) {
        struct gossip_wire_member m;
        if (gossip_wire_full_entry_decode(pos, end, &m))
            return IVT_EPROTO;
        gossip__merge_remote(g, &m, now);
    }
    return 0;
}

/* A member digest field: nil, or an array we validate and return as a view. */
static int read_digest(const uint8_t **pos, const uint8_t *end, const uint8_t **d,
                       const uint8_t **dend)
{
    *d = *dend = NULL;
    if (ivt_mp_peek(*pos, end) == IVT_MP_NIL)
        return ivt_mp_read_nil(pos, end);
    const uint8_t *start = *pos;
    uint32_t n;
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
    frame_begin(g, s, &w, GOSSIP_MSG_PP_REQ, 5);
    ivt_mpw_bool(&w, s->join);
    ivt_mpw_uint(&w, sum);
    ivt_mpw_uint(&w, count);
    app_field(g, &w, NULL, 0, false);
    int rc = frame_out(g, s, &w);
    ivt_mpw_destroy(&w);
    return rc;
}

int gossip__stream_open(struct gossip *g, const struct gossip_addr *to, bool join, ivt_ms now)
{
    for (uint32_t i = 0; i < g->cfg.stream_max; i++)
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
static int on_req(struct gossip *g, struct gossip_stream *s, const uint8_t *pos, const uint8_t *end)
{
    bool join;
    uint64_t sum;
    uint64_t count;
    const uint8_t *app;
    uint32_t app_len;
    if (ivt_mp_read_bool(&pos, end, &join) || ivt_mp_read_uint(&pos, end, &sum) ||
        ivt_mp_read_uint(&pos, end, &count) || ivt_mp_read_bin(&pos, end, &app, &app_len))
        return IVT_EPROTO;
    uint32_t our_count;
    uint64_t our_sum = gossip__summary(g, &our_count);
    struct ivt_mpw w;
    frame_begin(g, s, &w, GOSSIP_MSG_PP_RESP, 6);
    ivt_mpw_uint(&w, our_sum);
    ivt_mpw_uint(&w, our_count);
    if (join || sum != our_sum || count != our_count)
        member_digest(g, &w);
    else
        ivt_mpw_nil(&w);
    app_field(g, &w, NULL, 0, false);
    app_field(g, &w, app, app_len, true);
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

/* Initiator: RESP -> FIN. */
static int on_resp(struct gossip *g, struct gossip_stream *s, const uint8_t *pos,
                   const uint8_t *end)
{
    uint64_t sum, count;
    const uint8_t *d, *dend, *app, *diff;
    uint32_t app_len, diff_len;
    if (ivt_mp_read_uint(&pos, end, &sum) || ivt_mp_read_uint(&pos, end, &count) ||
        read_digest(&pos, end, &d, &dend) || ivt_mp_read_bin(&pos, end, &app, &app_len) ||
        ivt_mp_read_bin(&pos, end, &diff, &diff_len))
        return IVT_EPROTO;
    app_merge(g, diff, diff_len);
    struct ivt_mpw w;
    frame_begin(g, s, &w, GOSSIP_MSG_PP_FIN, 4);
    int rc = 0;
    if (d) {
        member_digest(g, &w);
        rc = member_diff(g, &w, d, dend);
    } else {
        ivt_mpw_nil(&w);
        ivt_mpw_array(&w, 0);
    }
    app_field(g, &w, app, app_len, true);
    if (!rc)
        rc = frame_out(g, s, &w);
    ivt_mpw_destroy(&w);
    s->phase = PHASE_WAIT_END;
    return rc;
}

/* Responder: FIN -> END, done. */
static int on_fin(struct gossip *g, struct gossip_stream *s, const uint8_t *pos, const uint8_t *end,
                  ivt_ms now)
{
    const uint8_t *d, *dend, *diff;
    uint32_t diff_len;
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
    if (ivt_mp_read_bin(&pos, end, &diff, &diff_len))
        return IVT_EPROTO;
    /* Compute what the initiator lacks from our state before the merge, so
     * the reply carries our view, not an echo of theirs. */
    struct ivt_mpw w;
    frame_begin(g, s, &w, GOSSIP_MSG_PP_END, 2);
    int rc = 0;
    if (d)
        rc = member_diff(g, &w, d, dend);
    else
        ivt_mpw_array(&w, 0);
    merge_entries(g, &entries, end, now);
    app_merge(g, diff, diff_len);
    if (!rc)
        rc = frame_out(g, s, &w);
    ivt_mpw_destroy(&w);
    s->phase = PHASE_DONE;
    if (!rc)
        g->st.pushpull_completed++;
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
        g->resync_to = s->peer;
        g->next_resync = now + JOIN_RESYNC_PROBES * g->cfg.probe_interval;
        g->join_next = g->n_seeds;
    }
    s->phase = PHASE_DONE;
    g->st.pushpull_completed++;
    return 0;
}

static int open_frame(struct gossip *g, uint8_t *plain, size_t *plen, const uint8_t *f, size_t n)
{
    int rc = gossip_open(plain, n, plen, &g->kr, g->stream_label, g->stream_label_len, f, n);
    switch (rc) {
    case 0: return 0;
    case IVT_EVERSION: g->st.dropped[GOSSIP_DROP_VERSION]++; return rc;
    case IVT_ENOENT: g->st.dropped[GOSSIP_DROP_KEY]++; return rc;
    case IVT_EAUTH: g->st.dropped[GOSSIP_DROP_AUTH]++; return rc;
    default: g->st.dropped[GOSSIP_DROP_GARBAGE]++; return IVT_EPROTO;
    }
}

static int on_frame(struct gossip *g, struct gossip_stream *s, const uint8_t *f, size_t n,
                    ivt_ms now)
{
    uint8_t *plain = malloc(n);
    if (!plain)
        return IVT_ENOMEM;
    size_t plen;
    int rc = open_frame(g, plain, &plen, f, n);
    const uint8_t *pos = plain, *end = plain + plen;
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
    if (!rc) {
        uint8_t want = s->phase == PHASE_WAIT_REQ    ? GOSSIP_MSG_PP_REQ
                       : s->phase == PHASE_WAIT_RESP ? GOSSIP_MSG_PP_RESP
                       : s->phase == PHASE_WAIT_FIN  ? GOSSIP_MSG_PP_FIN
                       : s->phase == PHASE_WAIT_END  ? GOSSIP_MSG_PP_END
                                                     : 0;
        if (type != want)
            rc = IVT_EPROTO;
        else if (type == GOSSIP_MSG_PP_REQ)
            rc = on_req(g, s, pos, end);
        else if (type == GOSSIP_MSG_PP_RESP)
            rc = on_resp(g, s, pos, end);
        else if (type == GOSSIP_MSG_PP_FIN)
            rc = on_fin(g, s, pos, end, now);
        else
            rc = on_end(g, s, pos, end, now);
        if (rc == IVT_EPROTO)
            g->st.dropped[GOSSIP_DROP_DECODE]++;
    }
    free(plain);
    return rc;
}

int gossip_stream_poll_connect(struct gossip *g, uint32_t *sid, struct gossip_addr *to)
{
    for (uint32_t i = 0, seen = 0; i < g->cfg.stream_max && seen < g->n_streams; i++) {
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
    if (retry && gossip__alive_count(g) <= 1 && g->join_next < g->n_seeds) {
        gossip__join_next(g, now); /* the next seed in line, at once */
    } else if (retry && gossip__alive_count(g) <= 1) {
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
    for (uint32_t i = 0, seen = 0; i < g->cfg.stream_max && seen < g->n_streams; i++) {
        struct gossip_stream *s = &g->streams[i];
        if (!s->sid)
            continue;
        seen++;
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
    for (uint32_t i = 0, seen = 0; i < g->cfg.stream_max && seen < g->n_streams; i++) {
        const struct gossip_stream *s = &g->streams[i];
        if (!s->sid)
            continue;
        seen++;
        ivt_ms d = s->phase == PHASE_DONE ? s->deadline + g->cfg.stream_timeout : s->deadline;
        t = d < t ? d : t;
    }
    return t;
}
