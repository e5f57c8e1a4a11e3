/*
 * tests/gossip/test_pushpull.c: a push-pull whose application diff the
 * delegate writes in segments (app_diff returning IVT_EAGAIN): the first
 * goes out in the RESP or FIN, each later one in a DIFF frame of its own,
 * one per tick, merged by the peer as it arrives; the peer replies after
 * the last; a stream that ends first gives the job back to the delegate.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "gossip/envelope.h"
#include "gossip/gossip.h"
#include "gossip/wire.h"
#include "tests/test.h"

enum { STEPS = 4, STEP_BYTES = 3000 };

/* A delegate that writes STEPS segments of STEP_BYTES, one per call, and
 * keeps what it merges, segment after segment. */
struct app {
    int calls, jobs, cancels;
    uint8_t merged[STEPS * STEP_BYTES];
    size_t merged_len;
    int merges;
};

static int app_digest(void *ctx, struct ivt_mpw *out)
{
    (void)ctx;
    ivt_mpw_uint(out, 42);
    return 0;
}

/* The job: the next segment, and whether the pause before the second one
 * was taken. */
struct job {
    int step;
    bool paused;
};

static int app_diff(void *ctx, void **job, const uint8_t *peer, size_t n, struct ivt_mpw *out)
{
    struct app *a = ctx;
    a->calls++;
    struct job *j = *job;
    if (!j) {
        /* The first call gets the peer's digest, the later ones do not. */
        assert_non_null(peer);
        assert_true(n > 0);
        j = calloc(1, sizeof(*j));
        assert_non_null(j);
        a->jobs++;
    } else {
        assert_null(peer);
    }
    if (j->step == 1 && !j->paused) {
        /* A call that writes nothing: a pause, no frame. */
        j->paused = true;
        *job = j;
        return IVT_EAGAIN;
    }
    uint8_t chunk[STEP_BYTES];
    memset(chunk, 'a' + j->step, sizeof(chunk));
    ivt_mpw_raw(out, chunk, sizeof(chunk));
    if (++j->step < STEPS) {
        *job = j;
        return IVT_EAGAIN;
    }
    free(j);
    return 0;
}

static void app_diff_cancel(void *ctx, void *job)
{
    struct app *a = ctx;
    a->cancels++;
    free(job);
}

static int app_merge(void *ctx, const uint8_t *p, size_t n)
{
    struct app *a = ctx;
    a->merges++;
    assert_int_equal(n, STEP_BYTES); /* one segment a call */
    assert_true(a->merged_len + n <= sizeof(a->merged));
    memcpy(a->merged + a->merged_len, p, n);
    a->merged_len += n;
    return 0;
}

struct pair {
    struct gossip_keyring kr;
    struct gossip *g[2]; /* 0 initiates (joins through 1) */
    struct app app[2];
    uint32_t sid[2];
};

/* Two ends of one push-pull stream; gap: their segment_gap; full[i]: end
 * i speaks as a node before hashed digests (pushpull_full_digests). */
static void pair_init_cfg(struct pair *p, ivt_ms gap, const bool full[2])
{
    assert_true(sodium_init() >= 0);
    memset(p, 0, sizeof(*p));
    uint8_t key[GOSSIP_KEY_LEN];
    memset(key, 9, sizeof(key));
    gossip_keyring_init(&p->kr);
    assert_int_equal(gossip_keyring_install(&p->kr, key), 0);
    for (int i = 0; i < 2; i++) {
        struct gossip_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        gossip_config_profile(&cfg, GOSSIP_PROFILE_LAN);
        memset(cfg.id, 0x51 + i, GOSSIP_ID_LEN);
        cfg.generation = 1;
        strcpy(cfg.name, i ? "responder" : "initiator");
        strcpy(cfg.label, "pp");
        cfg.addr.port = (uint16_t)(1 + i);
        cfg.segment_gap = gap;
        cfg.pushpull_full_digests = full[i];
        struct gossip_delegate d = {.ctx = &p->app[i],
                                    .app_digest = app_digest,
                                    .app_diff = app_diff,
                                    .app_diff_cancel = app_diff_cancel,
                                    .app_merge = app_merge};
        assert_int_equal(gossip_new(&p->g[i], &cfg, &p->kr, &d, (uint64_t)i + 1, 0), 0);
    }
    struct gossip_addr seed = {.port = 2}, from = {.port = 1}, to;
    assert_int_equal(gossip_join(p->g[0], &seed, 1, 0), 0);
    assert_int_equal(gossip_stream_poll_connect(p->g[0], &p->sid[0], &to), 1);
    assert_int_equal(gossip_stream_accept(p->g[1], &p->sid[1], &from, 0), 0);
}

static void pair_init_gap(struct pair *p, ivt_ms gap)
{
    static const bool hashed[2] = {false, false};
    pair_init_cfg(p, gap, hashed);
}

static void pair_init(struct pair *p)
{
    pair_init_gap(p, 0);
}

static void pair_destroy(struct pair *p)
{
    gossip_delete(p->g[0]);
    gossip_delete(p->g[1]);
}

/* Moves what end i has written to the other end; returns the bytes. */
static size_t pipe_out(struct pair *p, int i, ivt_ms now)
{
    static uint8_t buf[1 << 16];
    size_t len, total = 0;
    while ((len = gossip_stream_output(p->g[i], p->sid[i], buf, sizeof(buf))) > 0) {
        gossip_stream_receive(p->g[!i], p->sid[!i], buf, len, now);
        total += len;
    }
    return total;
}

/* The segments end i sent, as its peer merged them, in order. */
static void assert_segments(const struct app *peer)
{
    assert_int_equal(peer->merged_len, (size_t)peer->merges * STEP_BYTES);
    for (size_t k = 0; k < peer->merged_len; k++)
        assert_int_equal(peer->merged[k], 'a' + k / STEP_BYTES);
}

TEST(gossip_pushpull_app_diff_sent_in_segments)
{
    (void)state;
    struct pair p;
    pair_init(&p);
    ivt_ms now = 0;
    assert_true(pipe_out(&p, 0, now) > 0); /* REQ */
    /* The RESP goes at once with the first segment; each tick of the
     * responder (asked for at once) sends the next in a DIFF frame, which
     * the initiator merges as it comes, saying nothing until the last. */
    assert_true(pipe_out(&p, 1, now) > 0);
    assert_int_equal(p.app[0].merges, 1);
    /* The delegate's pause: a tick, a call, no frame. */
    assert_true(gossip_next_deadline(p.g[1]) <= now);
    gossip_tick(p.g[1], ++now);
    assert_int_equal(p.app[1].calls, 2);
    assert_int_equal(pipe_out(&p, 1, now), 0);
    for (int seg = 2; seg <= STEPS; seg++) {
        assert_int_equal(pipe_out(&p, 0, now), 0);
        assert_true(gossip_next_deadline(p.g[1]) <= now);
        now++;
        gossip_tick(p.g[1], now);
        assert_int_equal(p.app[1].calls, seg + 1);
        assert_true(pipe_out(&p, 1, now) > 0);
        assert_int_equal(p.app[0].merges, seg);
        assert_segments(&p.app[0]);
    }
    /* After the last, the initiator's FIN with its own first segment. */
    assert_true(pipe_out(&p, 0, now) > 0);
    assert_int_equal(p.app[1].merges, 1);
    for (int tick = 0; p.app[1].merges < STEPS; tick++) {
        assert_true(tick < STEPS);                 /* STEPS - 1 segments and a pause */
        assert_int_equal(pipe_out(&p, 1, now), 0); /* no END yet */
        gossip_tick(p.g[0], ++now);
        pipe_out(&p, 0, now);
    }
    assert_segments(&p.app[1]);
    assert_true(pipe_out(&p, 1, now) > 0); /* END */
    assert_true(gossip_stream_done(p.g[0], p.sid[0]));
    assert_true(gossip_stream_done(p.g[1], p.sid[1]));
    for (int i = 0; i < 2; i++) {
        struct gossip_stats st;
        gossip_get_stats(p.g[i], &st);
        assert_int_equal(st.pushpull_completed, 1);
        assert_int_equal(st.pushpull_failed, 0);
        assert_int_equal(p.app[i].cancels, 0);
        assert_int_equal(p.app[i].jobs, 1);
    }
    pair_destroy(&p);
}

/* A host that does not write for a while (a peer's TCP window full) finds
 * every frame queued meanwhile in its stream's output, whole and in order:
 * the RESP and the DIFF frames of each segment, read out in one go. */
TEST(gossip_pushpull_frames_queue_while_the_host_waits)
{
    (void)state;
    struct pair p;
    pair_init(&p);
    ivt_ms now = 0;
    assert_true(pipe_out(&p, 0, now) > 0); /* REQ */
    /* The responder runs its diff to the end, its output never read. */
    for (int tick = 0; tick < 2 * STEPS && p.app[1].calls <= STEPS; tick++)
        gossip_tick(p.g[1], ++now);
    assert_int_equal(p.app[0].merges, 0);
    assert_true(pipe_out(&p, 1, now) > 0);
    assert_int_equal(p.app[0].merges, STEPS);
    assert_segments(&p.app[0]);
    struct gossip_stats st;
    gossip_get_stats(p.g[0], &st);
    assert_int_equal(st.streams_rejected, 0);
    pair_destroy(&p);
}

/* With a segment_gap the delegate is asked for its next segment no sooner
 * than that after the last one (pauses included), and the deadline says
 * when. */
TEST(gossip_pushpull_segments_wait_the_gap)
{
    (void)state;
    struct pair p;
    pair_init_gap(&p, 5);
    assert_true(pipe_out(&p, 0, 0) > 0); /* REQ */
    assert_true(pipe_out(&p, 1, 0) > 0); /* RESP, first segment */
    assert_int_equal(p.app[1].calls, 1);
    assert_int_equal(gossip_next_deadline(p.g[1]), 5);
    gossip_tick(p.g[1], 4);
    assert_int_equal(p.app[1].calls, 1);
    gossip_tick(p.g[1], 5); /* the delegate's pause */
    assert_int_equal(p.app[1].calls, 2);
    gossip_tick(p.g[1], 9);
    assert_int_equal(p.app[1].calls, 2);
    assert_int_equal(pipe_out(&p, 1, 9), 0);
    gossip_tick(p.g[1], 10);
    assert_int_equal(p.app[1].calls, 3);
    assert_true(pipe_out(&p, 1, 10) > 0); /* a DIFF frame */
    assert_int_equal(p.app[0].merges, 2);
    pair_destroy(&p);
}

TEST(gossip_pushpull_frame_while_sending_segments_fails_and_cancels)
{
    (void)state;
    struct pair p;
    pair_init(&p);
    static uint8_t req[1 << 16];
    size_t len = gossip_stream_output(p.g[0], p.sid[0], req, sizeof(req));
    assert_true(len > 0);
    assert_int_equal(gossip_stream_receive(p.g[1], p.sid[1], req, len, 0), 0);
    assert_int_equal(p.app[1].jobs, 1);
    /* A peer that speaks while we still owe it segments breaks the
     * exchange: the stream fails and the delegate gets its job back. The
     * frame is a fresh, valid REQ (another joiner's), so only its timing
     * is wrong. */
    struct gossip_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    gossip_config_profile(&cfg, GOSSIP_PROFILE_LAN);
    memset(cfg.id, 0x60, GOSSIP_ID_LEN);
    cfg.generation = 1;
    strcpy(cfg.name, "other");
    strcpy(cfg.label, "pp");
    cfg.addr.port = 3;
    struct gossip *other;
    assert_int_equal(gossip_new(&other, &cfg, &p.kr, NULL, 3, 0), 0);
    struct gossip_addr seed = {.port = 2}, to;
    uint32_t sid;
    assert_int_equal(gossip_join(other, &seed, 1, 0), 0);
    assert_int_equal(gossip_stream_poll_connect(other, &sid, &to), 1);
    len = gossip_stream_output(other, sid, req, sizeof(req));
    assert_true(len > 0);
    assert_int_equal(gossip_stream_receive(p.g[1], p.sid[1], req, len, 0), IVT_EPROTO);
    gossip_delete(other);
    assert_int_equal(p.app[1].cancels, 1);
    assert_true(gossip_stream_done(p.g[1], p.sid[1]));
    struct gossip_stats st;
    gossip_get_stats(p.g[1], &st);
    assert_int_equal(st.pushpull_failed, 1);
    gossip_tick(p.g[1], 1);
    assert_int_equal(p.app[1].calls, 1); /* no segment after the failure */
    pair_destroy(&p);
}

TEST(gossip_pushpull_closed_while_sending_segments_cancels)
{
    (void)state;
    struct pair p;
    pair_init(&p);
    assert_true(pipe_out(&p, 0, 0) > 0);
    assert_int_equal(p.app[1].jobs, 1);
    gossip_stream_close(p.g[1], p.sid[1], 0); /* the connection dropped */
    assert_int_equal(p.app[1].cancels, 1);
    /* A stream still building when its instance is deleted: the same. */
    struct pair q;
    pair_init(&q);
    assert_true(pipe_out(&q, 0, 0) > 0);
    struct app *a = &q.app[1];
    gossip_delete(q.g[1]);
    assert_int_equal(a->cancels, 1);
    gossip_delete(q.g[0]);
    pair_destroy(&p);
}

/* The msgpack type of the member digest in the RESP frame at f (n bytes,
 * length prefix included), and its bytes when a bin. */
static enum ivt_mp_type resp_digest(const struct pair *p, const uint8_t *f, size_t n,
                                    uint32_t *bin_len)
{
    uint8_t plain[1 << 16];
    size_t len;
    assert_true(n > 4);
    assert_int_equal(gossip_open(plain, sizeof(plain), &len, &p->kr, "pp/stream", 9, f + 4, n - 4),
                     0);
    const uint8_t *pos = plain, *end = plain + len, *b;
    struct gossip_hdr h;
    uint32_t fields;
    uint64_t type, v;
    assert_int_equal(gossip_wire_hdr_decode(&pos, end, &h), 0);
    assert_int_equal(ivt_mp_read_array(&pos, end, &fields), 0);
    assert_int_equal(ivt_mp_read_uint(&pos, end, &type), 0);
    assert_int_equal(type, GOSSIP_MSG_PP_RESP);
    assert_int_equal(ivt_mp_read_uint(&pos, end, &v), 0); /* summary */
    assert_int_equal(ivt_mp_read_uint(&pos, end, &v), 0); /* count */
    enum ivt_mp_type t = ivt_mp_peek(pos, end);
    *bin_len = 0;
    if (t == IVT_MP_BIN)
        assert_int_equal(ivt_mp_read_bin(&pos, end, &b, bin_len), 0);
    return t;
}

/* A join through a peer with ends of either kind: the responder's digest is
 * hashed (8 bytes a member: it knows itself) only when both ends are of the
 * new kind, in full otherwise, and every pairing ends with each end knowing
 * the other. A node before hashed digests ignores the REQ's sixth field;
 * one that never asks is never sent a bin it could not read. */
TEST(gossip_pushpull_hashed_digest_only_when_both_ends_speak_it)
{
    (void)state;
    for (int mode = 0; mode < 4; mode++) {
        bool full[2] = {mode & 1, mode & 2};
        struct pair p;
        pair_init_cfg(&p, 0, full);
        ivt_ms now = 0;
        assert_true(pipe_out(&p, 0, now) > 0); /* REQ */
        static uint8_t buf[1 << 16];
        size_t len = gossip_stream_output(p.g[1], p.sid[1], buf, sizeof(buf));
        uint32_t bin_len;
        enum ivt_mp_type t = resp_digest(&p, buf, len, &bin_len);
        if (mode == 0) {
            assert_int_equal(t, IVT_MP_BIN);
            assert_int_equal(bin_len, 8);
        } else {
            assert_int_equal(t, IVT_MP_ARRAY);
        }
        gossip_stream_receive(p.g[0], p.sid[0], buf, len, now);
        for (int turn = 0; turn < 64 && !(gossip_stream_done(p.g[0], p.sid[0]) &&
                                          gossip_stream_done(p.g[1], p.sid[1]));
             turn++) {
            now++;
            gossip_tick(p.g[0], now);
            gossip_tick(p.g[1], now);
            pipe_out(&p, 0, now);
            pipe_out(&p, 1, now);
        }
        for (int i = 0; i < 2; i++) {
            struct gossip_stats st;
            gossip_get_stats(p.g[i], &st);
            assert_int_equal(st.pushpull_completed, 1);
            assert_int_equal(st.members, 2);
            assert_int_equal(st.digests_hashed, i == 1 && mode == 0);
        }
        pair_destroy(&p);
    }
}
