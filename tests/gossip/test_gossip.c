/*
 * tests/gossip/test_gossip.c: the gossip codec and protocol steps, driven
 * by hand: crafted sealed packets in, the outbox and counters checked.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "gossip/envelope.h"
#include "gossip/gossip.h"
#include "gossip/wire.h"
#include "tests/test.h"

static const char LABEL[] = "unit";

struct rig {
    struct gossip_keyring kr;
    struct gossip *g;
    uint8_t peer[GOSSIP_ID_LEN];
    uint64_t counter;
};

/* The rig's node's configuration: the LAN profile, id bytes `id`, then
 * tweak (may be NULL). */
static void rig_config(struct gossip_config *cfg, uint8_t id,
                       void (*tweak)(struct gossip_config *cfg))
{
    memset(cfg, 0, sizeof(*cfg));
    gossip_config_profile(cfg, GOSSIP_PROFILE_LAN);
    memset(cfg->id, id, GOSSIP_ID_LEN);
    cfg->generation = 1;
    strcpy(cfg->name, "self");
    strcpy(cfg->label, LABEL);
    cfg->addr.port = 1;
    if (tweak)
        tweak(cfg);
}

/* A node with id bytes `id` and rng seed `seed`, and a peer to talk to;
 * tweak (may be NULL) overrides knobs of the LAN profile; d (may be NULL)
 * is its delegate. */
static void rig_init_full(struct rig *r, uint8_t id, uint64_t seed,
                          void (*tweak)(struct gossip_config *cfg), const struct gossip_delegate *d)
{
    assert_true(sodium_init() >= 0);
    memset(r, 0, sizeof(*r));
    uint8_t key[GOSSIP_KEY_LEN];
    memset(key, 7, sizeof(key));
    gossip_keyring_init(&r->kr);
    assert_int_equal(gossip_keyring_install(&r->kr, key), 0);
    struct gossip_config cfg;
    rig_config(&cfg, id, tweak);
    assert_int_equal(gossip_new(&r->g, &cfg, &r->kr, d, seed, 0), 0);
    memset(r->peer, 0xb2, GOSSIP_ID_LEN);
}

static void rig_init_with(struct rig *r, uint8_t id, uint64_t seed,
                          void (*tweak)(struct gossip_config *cfg))
{
    rig_init_full(r, id, seed, tweak, NULL);
}

static void rig_init_as(struct rig *r, uint8_t id, uint64_t seed)
{
    rig_init_with(r, id, seed, NULL);
}

static void rig_init(struct rig *r)
{
    rig_init_as(r, 0xa1, 1);
}

/* Seals a plaintext of header + the messages in body, from r->peer. */
static size_t craft(struct rig *r, uint8_t *out, const uint8_t *body, size_t n, uint64_t counter)
{
    uint8_t plain[GOSSIP_PACKET_MAX];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, plain, sizeof(plain));
    gossip_wire_hdr(&w, r->peer, 1, counter);
    ivt_mpw_raw(&w, body, n);
    uint8_t nonce[GOSSIP_NONCE_LEN] = {(uint8_t)counter};
    size_t len;
    assert_int_equal(gossip_seal(out, GOSSIP_PACKET_MAX, &len, &r->kr, LABEL, strlen(LABEL), nonce,
                                 plain, w.len),
                     0);
    return len;
}

static size_t alive_msg(uint8_t *buf, const uint8_t *id, uint32_t inc)
{
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, GOSSIP_MEMBER_MSG_MAX);
    struct gossip_wire_member m = {.id = id,
                                   .gen = 1,
                                   .inc = inc,
                                   .state = GOSSIP_ALIVE,
                                   .name = "peer",
                                   .name_len = 4,
                                   .meta = (const uint8_t *)""};
    m.addr.port = 2;
    gossip_wire_member_msg(&w, &m);
    return w.len;
}

TEST(gossip_wire_round_trip_every_message)
{
    (void)state;
    uint8_t buf[1024];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    uint8_t id[GOSSIP_ID_LEN], from[GOSSIP_ID_LEN];
    memset(id, 1, sizeof(id));
    memset(from, 2, sizeof(from));
    struct gossip_addr a = {.family = 4, .port = 7946, .bytes = {10, 0, 0, 1}};
    gossip_wire_hdr(&w, id, 3, 99);
    gossip_wire_ping(&w, 5, id);
    gossip_wire_ping_req(&w, 6, id, &a);
    gossip_wire_ack(&w, GOSSIP_MSG_ACK, 7);
    gossip_wire_ack(&w, GOSSIP_MSG_NACK, 8);
    struct gossip_wire_member m = {.id = id,
                                   .gen = 3,
                                   .inc = 4,
                                   .state = GOSSIP_ALIVE,
                                   .from = from,
                                   .addr = a,
                                   .name = "x",
                                   .name_len = 1,
                                   .meta = (const uint8_t *)"tag",
                                   .meta_len = 3};
    gossip_wire_member_msg(&w, &m);
    m.state = GOSSIP_SUSPECT;
    gossip_wire_member_msg(&w, &m);
    m.state = GOSSIP_LEFT;
    gossip_wire_member_msg(&w, &m);
    gossip_wire_user(&w, id, 3, 11, (const uint8_t *)"hi", 2);
    gossip_wire_fp(&w, GOSSIP_MSG_IHAVE, 0x8000000000000001ull);
    gossip_wire_fp(&w, GOSSIP_MSG_IWANT, 3);
    assert_int_equal(w.err, 0);
    assert_int_equal(gossip_wire_packet_check(buf, w.len), 10);

    const uint8_t *pos = buf, *end = buf + w.len;
    struct gossip_hdr h;
    struct gossip_msg msg;
    assert_int_equal(gossip_wire_hdr_decode(&pos, end, &h), 0);
    assert_int_equal(h.gen, 3);
    assert_int_equal(h.counter, 99);
    assert_int_equal(gossip_wire_msg_decode(&pos, end, &msg), 0);
    assert_int_equal(msg.type, GOSSIP_MSG_PING);
    assert_int_equal(msg.seq, 5);
    assert_int_equal(gossip_wire_msg_decode(&pos, end, &msg), 0);
    assert_int_equal(msg.type, GOSSIP_MSG_PING_REQ);
    assert_true(gossip_addr_eq(&msg.addr, &a));
    assert_int_equal(gossip_wire_msg_decode(&pos, end, &msg), 0);
    assert_int_equal(msg.type, GOSSIP_MSG_ACK);
    assert_int_equal(gossip_wire_msg_decode(&pos, end, &msg), 0);
    assert_int_equal(msg.type, GOSSIP_MSG_NACK);
    assert_int_equal(msg.seq, 8);
    assert_int_equal(gossip_wire_msg_decode(&pos, end, &msg), 0);
    assert_int_equal(msg.m.state, GOSSIP_ALIVE);
    assert_int_equal(msg.m.inc, 4);
    assert_memory_equal(msg.m.meta, "tag", 3);
    assert_int_equal(gossip_wire_msg_decode(&pos, end, &msg), 0);
    assert_int_equal(msg.m.state, GOSSIP_SUSPECT);
    assert_memory_equal(msg.m.from, from, GOSSIP_ID_LEN);
    assert_int_equal(gossip_wire_msg_decode(&pos, end, &msg), 0);
    assert_int_equal(msg.m.state, GOSSIP_LEFT);
    assert_int_equal(gossip_wire_msg_decode(&pos, end, &msg), 0);
    assert_int_equal(msg.type, GOSSIP_MSG_USER);
    assert_memory_equal(msg.payload, "hi", 2);
    assert_int_equal(gossip_wire_msg_decode(&pos, end, &msg), 0);
    assert_int_equal(msg.type, GOSSIP_MSG_IHAVE);
    assert_true(msg.fp == 0x8000000000000001ull);
    assert_int_equal(gossip_wire_msg_decode(&pos, end, &msg), 0);
    assert_int_equal(msg.type, GOSSIP_MSG_IWANT);
    assert_true(msg.fp == 3);
    assert_true(pos == end);

    /* Every proper prefix is rejected or decodes fewer messages; none
     * reads past its end (ASan checks the reads). */
    for (size_t n = 0; n < w.len; n++)
        assert_true(gossip_wire_packet_check(buf, n) < 10);

    /* No payload has fingerprint 0 (an empty slot of the dedup sets). */
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    gossip_wire_fp(&w, GOSSIP_MSG_IWANT, 0);
    pos = buf;
    assert_int_equal(gossip_wire_msg_decode(&pos, buf + w.len, &msg), IVT_EPROTO);
}

/* Member messages and push-pull entries take a fast path when the writer
 * has room for their largest form and the packer's otherwise (a nearly full
 * packet): both must write the same bytes, or two builds of the same
 * cluster would disagree on the wire. */
static size_t wire_entry(uint8_t *buf, size_t cap, int kind, const struct gossip_wire_member *m)
{
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, cap);
    if (kind == 0)
        gossip_wire_member_msg(&w, m);
    else if (kind == 1)
        gossip_wire_digest_entry(&w, m);
    else
        gossip_wire_full_entry(&w, m);
    return w.err ? 0 : w.len;
}

TEST(gossip_wire_fast_and_packer_paths_agree)
{
    (void)state;
    uint8_t id[GOSSIP_ID_LEN], from[GOSSIP_ID_LEN];
    memset(id, 0xa5, sizeof(id));
    memset(from, 0x5a, sizeof(from));
    static const char name[] = "a-name-of-31-bytes-at-the-limit";
    uint8_t meta[GOSSIP_META_MAX];
    memset(meta, 7, sizeof(meta));
    const uint32_t nums[] = {0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX};
    const struct gossip_addr addrs[] = {
        {.family = 4, .port = 7946, .bytes = {10, 0, 0, 1}},
        {.family = 6, .port = 65535, .bytes = {0xfe, 0x80, [15] = 1}},
        {.family = 0}};
    for (int kind = 0; kind < 3; kind++)
        for (int st = 0; st < GOSSIP_STATES; st++)
            for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
                struct gossip_wire_member m = {.id = id,
                                               .gen = nums[i],
                                               .inc = nums[(i + 3) % 9],
                                               .state = (enum gossip_member_state)st,
                                               .from = from,
                                               .addr = addrs[i % 3],
                                               .name = name,
                                               .name_len = (uint32_t)(i * 31 / 8),
                                               .meta = meta,
                                               .meta_len = (uint32_t)(i * GOSSIP_META_MAX / 8)};
                uint8_t roomy[256], tight[256];
                size_t n = wire_entry(roomy, sizeof(roomy), kind, &m);
                assert_true(n > 0);
                /* Exactly the room it needs: the packer's path. */
                assert_int_equal(wire_entry(tight, n, kind, &m), n);
                assert_memory_equal(roomy, tight, n);
                /* A byte short: it does not fit, and says so. */
                assert_int_equal(wire_entry(tight, n - 1, kind, &m), 0);
                const uint8_t *pos = roomy;
                struct gossip_wire_member back;
                struct gossip_msg msg;
                if (kind == 0) {
                    assert_int_equal(gossip_wire_msg_decode(&pos, roomy + n, &msg), 0);
                    back = msg.m;
                } else if (kind == 1) {
                    assert_int_equal(gossip_wire_digest_entry_decode(&pos, roomy + n, &back), 0);
                } else {
                    assert_int_equal(gossip_wire_full_entry_decode(&pos, roomy + n, &back), 0);
                }
                assert_ptr_equal(pos, roomy + n);
                assert_int_equal(back.gen, m.gen);
                assert_int_equal(back.inc, m.inc);
                if (kind == 2 || (kind == 0 && st == GOSSIP_ALIVE)) {
                    assert_int_equal(back.name_len, m.name_len);
                    assert_int_equal(back.meta_len, m.meta_len);
                    assert_true(gossip_addr_eq(&back.addr, &m.addr));
                }
            }
}

TEST(gossip_wire_unknown_types_skipped)
{
    (void)state;
    uint8_t buf[256];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    uint8_t id[GOSSIP_ID_LEN] = {0};
    gossip_wire_hdr(&w, id, 1, 1);
    ivt_mpw_array(&w, 3); /* a future message type with fields */
    ivt_mpw_uint(&w, 200);
    ivt_mpw_cstr(&w, "later");
    ivt_mpw_array(&w, 0);
    gossip_wire_ack(&w, GOSSIP_MSG_ACK, 1);
    assert_int_equal(gossip_wire_packet_check(buf, w.len), 2);
}

TEST(gossip_config_profiles_match_memberlist)
{
    (void)state;
    struct gossip_config c;
    gossip_config_profile(&c, GOSSIP_PROFILE_LAN);
    assert_int_equal(c.probe_interval, 1000);
    assert_int_equal(c.probe_timeout, 500);
    assert_int_equal(c.indirect_checks, 3);
    assert_int_equal(c.suspicion_mult, 4);
    assert_int_equal(c.suspicion_max_mult, 6);
    assert_int_equal(c.gossip_interval, 200);
    assert_int_equal(c.gossip_nodes, 3);
    assert_int_equal(c.retransmit_mult, 4);
    assert_int_equal(c.pushpull_interval, 30000);
    assert_int_equal(c.packet_size, 1200);
    gossip_config_profile(&c, GOSSIP_PROFILE_WAN);
    assert_int_equal(c.probe_interval, 5000);
    assert_int_equal(c.probe_timeout, 3000);
    gossip_config_profile(&c, GOSSIP_PROFILE_LOCAL);
    assert_int_equal(c.probe_timeout, 200);
    assert_int_equal(c.indirect_checks, 1);
    /* Every knob, not only memberlist's: a host that keeps its config on
     * the stack and fills it from a profile reads no garbage (the
     * simulator's membership-only core did, valgrind found). */
    for (int p = GOSSIP_PROFILE_LAN; p <= GOSSIP_PROFILE_LOCAL; p++) {
        memset(&c, 0xa5, sizeof(c));
        gossip_config_profile(&c, (enum gossip_profile)p);
        assert_int_equal(c.app_retransmit_mult, 0);
        assert_int_equal(c.segment_gap, 0);
        assert_int_equal(c.member_feedback, 0);
        assert_int_equal(c.app_feedback, 0);
        assert_int_equal(c.app_eager, 0);
    }
}

TEST(gossip_rejects_and_counts_bad_packets)
{
    (void)state;
    struct rig r;
    rig_init(&r);
    struct gossip_addr from = {.port = 2};
    uint8_t body[GOSSIP_MEMBER_MSG_MAX];
    size_t bn = alive_msg(body, r.peer, 0);
    uint8_t pkt[GOSSIP_PACKET_MAX];
    size_t n = craft(&r, pkt, body, bn, 1);
    struct gossip_stats st;

    /* Oversize, garbage, truncated. */
    uint8_t big[GOSSIP_PACKET_MAX] = {0};
    assert_int_equal(gossip_receive(r.g, &from, big, 1300, 0), IVT_ETOOBIG);
    assert_true(gossip_receive(r.g, &from, big, 3, 0) < 0);
    assert_true(gossip_receive(r.g, &from, pkt, n - 1, 0) < 0);
    /* Tampered: every byte flipped in turn is rejected. */
    for (size_t i = 0; i < n; i++) {
        pkt[i] ^= 0x20;
        assert_true(gossip_receive(r.g, &from, pkt, n, 0) < 0);
        pkt[i] ^= 0x20;
    }
    /* The genuine packet is accepted once, then is a replay. */
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, 0), 0);
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, 0), IVT_EREPLAY);
    /* Wrong label. */
    uint8_t plain[64];
    size_t plen;
    (void)plain, (void)plen;
    uint8_t wrong[GOSSIP_PACKET_MAX];
    uint8_t nonce[GOSSIP_NONCE_LEN] = {9};
    size_t wn;
    assert_int_equal(gossip_seal(wrong, sizeof(wrong), &wn, &r.kr, "other", 5, nonce, body, bn), 0);
    assert_int_equal(gossip_receive(r.g, &from, wrong, wn, 0), IVT_EAUTH);
    /* Unknown key. */
    struct gossip_keyring other;
    uint8_t k2[GOSSIP_KEY_LEN];
    memset(k2, 9, sizeof(k2));
    gossip_keyring_init(&other);
    gossip_keyring_install(&other, k2);
    assert_int_equal(
        gossip_seal(wrong, sizeof(wrong), &wn, &other, LABEL, strlen(LABEL), nonce, body, bn), 0);
    assert_int_equal(gossip_receive(r.g, &from, wrong, wn, 0), IVT_ENOENT);
    /* Authentic but not a packet (no header). */
    assert_int_equal(gossip_seal(wrong, sizeof(wrong), &wn, &r.kr, LABEL, strlen(LABEL), nonce,
                                 (const uint8_t *)"\xc1", 1),
                     0);
    assert_int_equal(gossip_receive(r.g, &from, wrong, wn, 0), IVT_EPROTO);

    gossip_get_stats(r.g, &st);
    assert_int_equal(st.dropped[GOSSIP_DROP_OVERSIZE], 1);
    assert_true(st.dropped[GOSSIP_DROP_GARBAGE] + st.dropped[GOSSIP_DROP_AUTH] +
                    st.dropped[GOSSIP_DROP_VERSION] + st.dropped[GOSSIP_DROP_KEY] >=
                n + 2);
    assert_int_equal(st.dropped[GOSSIP_DROP_REPLAY], 1);
    assert_int_equal(st.dropped[GOSSIP_DROP_KEY], 1 + 4); /* + the 4 flipped key-id bytes */
    assert_int_equal(st.dropped[GOSSIP_DROP_DECODE], 1);
    assert_int_equal(gossip_member_count(r.g, GOSSIP_ALIVE), 2);
    gossip_delete(r.g);
}

TEST(gossip_refutes_suspicion_about_itself)
{
    (void)state;
    struct rig r;
    rig_init(&r);
    struct gossip_addr from = {.port = 2};
    uint8_t body[2 * GOSSIP_MEMBER_MSG_MAX];
    size_t bn = alive_msg(body, r.peer, 0);
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, body + bn, GOSSIP_MEMBER_MSG_MAX);
    uint8_t self[GOSSIP_ID_LEN];
    memset(self, 0xa1, sizeof(self));
    struct gossip_wire_member m = {
        .id = self, .gen = 1, .inc = 0, .state = GOSSIP_SUSPECT, .from = r.peer};
    gossip_wire_member_msg(&w, &m);
    uint8_t pkt[GOSSIP_PACKET_MAX];
    size_t n = craft(&r, pkt, body, bn + w.len, 1);
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, 0), 0);
    struct gossip_member_info me;
    assert_int_equal(gossip_member(r.g, self, &me), 0);
    assert_int_equal(me.incarnation, 1);
    assert_int_equal(me.state, GOSSIP_ALIVE);
    struct gossip_stats st;
    gossip_get_stats(r.g, &st);
    assert_int_equal(st.refutes, 1);
    /* The refutation goes out on the next gossip round. */
    gossip_tick(r.g, 1000);
    struct gossip_packet out[8];
    assert_true(gossip_outbox(r.g, out, 8) > 0);
    gossip_delete(r.g);
}

/* A node alone asks its host for no gossip rounds: its own alive update
 * (queued by a tag change) has nobody to go to, and it was woken every
 * gossip interval for it. The first member to appear gets it at the next
 * round. */
TEST(gossip_alone_asks_for_no_rounds)
{
    (void)state;
    struct rig r;
    rig_init(&r);
    const uint8_t tags[] = {0x80}; /* an empty msgpack map */
    assert_int_equal(gossip_set_meta(r.g, tags, sizeof(tags), 0), 0);
    struct gossip_packet out[16];
    ivt_ms now = 0;
    int ticks = 0;
    while (now < 3000) {
        ivt_ms next = gossip_next_deadline(r.g);
        assert_true(next > now);
        now = next;
        assert_int_equal(gossip_tick(r.g, now), 0);
        assert_int_equal(gossip_outbox(r.g, out, 16), 0);
        ticks++;
    }
    assert_true(ticks <= 4); /* the probe timer, once a second; rounds: 15 */
    /* A member arrives: a round tells it within a gossip interval. */
    struct gossip_addr from = {.port = 2};
    uint8_t body[GOSSIP_MEMBER_MSG_MAX], pkt[GOSSIP_PACKET_MAX];
    size_t n = craft(&r, pkt, body, alive_msg(body, r.peer, 0), 1);
    ivt_ms t0 = now;
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, t0), 0);
    now = gossip_next_deadline(r.g);
    assert_true(now <= t0 + 200);
    assert_int_equal(gossip_tick(r.g, now), 0);
    assert_true(gossip_outbox(r.g, out, 16) >= 1);
    gossip_delete(r.g);
}

TEST(gossip_probe_failure_suspects_then_declares_dead)
{
    (void)state;
    struct rig r;
    rig_init(&r);
    struct gossip_addr from = {.port = 2};
    uint8_t body[GOSSIP_MEMBER_MSG_MAX];
    size_t bn = alive_msg(body, r.peer, 0);
    uint8_t pkt[GOSSIP_PACKET_MAX];
    size_t n = craft(&r, pkt, body, bn, 1);
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, 0), 0);
    /* Nobody answers: the peer becomes suspect, then dead (a cluster of
     * two: no confirmations expected, so the minimum timeout applies). */
    struct gossip_packet out[16];
    ivt_ms now = 0;
    for (int i = 0; i < 200 && gossip_member_count(r.g, GOSSIP_DEAD) == 0; i++) {
        now = gossip_next_deadline(r.g);
        gossip_tick(r.g, now);
        while (gossip_outbox(r.g, out, 16))
            ;
    }
    struct gossip_member_info m;
    assert_int_equal(gossip_member(r.g, r.peer, &m), 0);
    assert_int_equal(m.state, GOSSIP_DEAD);
    /* Declared within a few probe periods plus the minimum suspicion. */
    assert_true(now <= 4 * 1000 + 4 * 1000 * 2);
    /* A dead member's late ALIVE at the same incarnation does not revive it. */
    n = craft(&r, pkt, body, bn, 2);
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, now), 0);
    assert_int_equal(gossip_member(r.g, r.peer, &m), 0);
    assert_int_equal(m.state, GOSSIP_DEAD);
    /* Its refutation (a higher incarnation) does. */
    bn = alive_msg(body, r.peer, 1);
    n = craft(&r, pkt, body, bn, 3);
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, now), 0);
    assert_int_equal(gossip_member(r.g, r.peer, &m), 0);
    assert_int_equal(m.state, GOSSIP_ALIVE);
    gossip_delete(r.g);
}

TEST(gossip_packets_never_exceed_packet_size)
{
    (void)state;
    struct rig r;
    rig_init(&r);
    struct gossip_addr from = {.port = 2};
    /* Many members and payloads queued at once. */
    for (uint32_t i = 0; i < 200; i++) {
        uint8_t id[GOSSIP_ID_LEN], body[GOSSIP_MEMBER_MSG_MAX], pkt[GOSSIP_PACKET_MAX];
        memset(id, 0x30, sizeof(id));
        memcpy(id, &i, sizeof(i));
        size_t bn = alive_msg(body, id, 0);
        size_t n = craft(&r, pkt, body, bn, i + 1);
        assert_int_equal(gossip_receive(r.g, &from, pkt, n, 0), 0);
    }
    uint8_t p[GOSSIP_PACKET_MAX] = {0};
    for (int i = 0; i < 50; i++)
        assert_int_equal(gossip_publish(r.g, p, gossip_app_budget(r.g), 0), 0);
    struct gossip_packet out[64];
    size_t total = 0;
    for (ivt_ms t = 0; t < 30000; t += 100) {
        gossip_tick(r.g, t);
        size_t k;
        while ((k = gossip_outbox(r.g, out, 64)) > 0)
            for (size_t i = 0; i < k; i++, total++)
                assert_true(out[i].len <= 1200);
    }
    assert_true(total > 0);
    gossip_delete(r.g);
}

/* Probes once an hour: the datagrams of these tests are gossip rounds. */
static void rare_probes(struct gossip_config *cfg)
{
    cfg->probe_interval = 60 * IVT_MS_PER_MIN;
}

/* The rig's node with its peer joined and every membership update about
 * the two of them sent, ticked as a host does (at each deadline) up to
 * `until`. Returns the time it stopped at. */
static ivt_ms rig_quiet(struct rig *r, ivt_ms until)
{
    struct gossip_addr from = {.port = 2};
    uint8_t body[GOSSIP_MEMBER_MSG_MAX], pkt[GOSSIP_PACKET_MAX];
    size_t bn = alive_msg(body, r->peer, 0);
    size_t n = craft(r, pkt, body, bn, ++r->counter);
    assert_int_equal(gossip_receive(r->g, &from, pkt, n, 0), 0);
    struct gossip_packet out[8];
    ivt_ms t = 0;
    while (t < until) {
        gossip_tick(r->g, t);
        while (gossip_outbox(r->g, out, 8) > 0) {
        }
        t = gossip_next_deadline(r->g);
    }
    return until;
}

/* A node (tweaked) and its peer, quiet for 5 s, then one payload of len
 * bytes (the first one b) published: returns the time it was. */
static ivt_ms rig_one_payload(struct rig *r, void (*tweak)(struct gossip_config *cfg), size_t len,
                              uint8_t b)
{
    rig_init_with(r, 0xa1, 1, tweak);
    ivt_ms t = rig_quiet(r, 5 * IVT_MS_PER_S);
    uint8_t p[GOSSIP_PACKET_MAX] = {b};
    assert_int_equal(gossip_publish(r->g, p, len, t), 0);
    return t;
}

/* Runs the host loop from t to `until`; returns the time of the first
 * datagram that carried payload bytes (IVT_MS_NEVER: none) and the length
 * of the longest such datagram. */
static ivt_ms rig_first_payload(struct rig *r, ivt_ms t, ivt_ms until, size_t *longest)
{
    struct gossip_packet out[8];
    struct gossip_stats st;
    gossip_get_stats(r->g, &st);
    uint64_t app = st.bytes_app;
    ivt_ms first = IVT_MS_NEVER;
    *longest = 0;
    while (t <= until) {
        gossip_tick(r->g, t);
        size_t k;
        gossip_get_stats(r->g, &st);
        bool carried = st.bytes_app > app;
        app = st.bytes_app;
        while ((k = gossip_outbox(r->g, out, 8)) > 0)
            for (size_t i = 0; i < k && carried; i++)
                *longest = out[i].len > *longest ? out[i].len : *longest;
        if (carried && first == IVT_MS_NEVER)
            first = t;
        ivt_ms next = gossip_next_deadline(r->g);
        t = next > t ? next : t + 1;
    }
    return first;
}

/* A lone small payload does not go out in the next gossip round (a third
 * of a datagram, sealed and opened for so little), but never waits longer
 * than app_max_delay. */
TEST(gossip_lone_payload_waits_at_most_max_delay)
{
    (void)state;
    struct rig r;
    ivt_ms t = rig_one_payload(&r, rare_probes, 40, 1);
    struct gossip_config lan;
    gossip_config_profile(&lan, GOSSIP_PROFILE_LAN);
    assert_int_equal(lan.app_max_delay, 1000);
    size_t longest;
    ivt_ms first = rig_first_payload(&r, t, t + 10 * IVT_MS_PER_S, &longest);
    assert_true(first != IVT_MS_NEVER);
    assert_true(first > t + lan.gossip_interval);
    assert_true(first <= t + lan.app_max_delay);
    gossip_delete(r.g);
}

/* Payloads that fill a datagram go out in the next round, in full
 * datagrams. */
TEST(gossip_full_datagram_of_payloads_sent_at_once)
{
    (void)state;
    struct rig r;
    rig_init_with(&r, 0xa1, 1, rare_probes);
    ivt_ms t = rig_quiet(&r, 5 * IVT_MS_PER_S);
    size_t budget = gossip_app_budget(r.g);
    uint8_t p[GOSSIP_PACKET_MAX] = {2};
    size_t longest;
    /* One short of a datagram's worth: held for a round or two. */
    assert_int_equal(gossip_publish(r.g, p, budget, t), 0);
    assert_int_equal(gossip_publish(r.g, p, budget, t), 0);
    assert_int_equal(rig_first_payload(&r, t, t + 400, &longest), IVT_MS_NEVER);
    /* The third fills it: the next round (200 ms, LAN) sends. */
    t += 400;
    assert_int_equal(gossip_publish(r.g, p, budget, t), 0);
    ivt_ms first = rig_first_payload(&r, t, t + 200, &longest);
    assert_true(first != IVT_MS_NEVER && first <= t + 200);
    assert_true(longest >= 2 * budget);
    gossip_delete(r.g);
}

static void ten_streams(struct gossip_config *cfg)
{
    cfg->stream_max = 10;
}

/* Concurrent exchanges up to stream_max and not past it (the slots grow as
 * they are needed): each accepted stream keeps its id until it is closed,
 * and a closed one's slot serves the next. */
TEST(gossip_streams_up_to_stream_max)
{
    (void)state;
    struct rig r;
    rig_init_with(&r, 0xa1, 1, ten_streams);
    uint32_t sid[10];
    for (int i = 0; i < 10; i++) {
        struct gossip_addr from = {.port = (uint16_t)(100 + i)};
        assert_int_equal(gossip_stream_accept(r.g, &sid[i], &from, 0), 0);
        for (int k = 0; k < i; k++)
            assert_true(sid[k] != sid[i]);
    }
    struct gossip_addr more = {.port = 200};
    uint32_t extra;
    assert_int_equal(gossip_stream_accept(r.g, &extra, &more, 0), IVT_ELIMIT);
    for (int i = 0; i < 10; i++)
        assert_false(gossip_stream_done(r.g, sid[i]));
    gossip_stream_close(r.g, sid[6], 0);
    assert_true(gossip_stream_done(r.g, sid[6]));
    assert_int_equal(gossip_stream_accept(r.g, &extra, &more, 0), 0);
    assert_false(gossip_stream_done(r.g, extra));
    for (int i = 0; i < 10; i++)
        if (i != 6)
            assert_false(gossip_stream_done(r.g, sid[i]));
    gossip_delete(r.g);
    gossip_keyring_destroy(&r.kr);
}

static void count_payload(void *ctx, const uint8_t *p, size_t n)
{
    (void)p;
    (void)n;
    (*(int *)ctx)++;
}

/* Payload seq of r->peer's origin arrives in a datagram of its own. */
static void receive_payload(struct rig *r, uint64_t seq)
{
    uint8_t body[64], pkt[GOSSIP_PACKET_MAX];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, body, sizeof(body));
    gossip_wire_user(&w, r->peer, 1, seq, (const uint8_t *)"evidence", 8);
    size_t n = craft(r, pkt, body, w.len, ++r->counter);
    struct gossip_addr from = {.port = 2};
    assert_int_equal(gossip_receive(r->g, &from, pkt, n, 0), 0);
}

/* Each payload is delivered once, and a copy of any of the last
 * app_seen_max / 2 is still known for one, while the dedup sets grow from
 * small and turn over. */
enum { SEEN_MAX = 256 };

static void small_seen(struct gossip_config *cfg)
{
    cfg->app_seen_max = SEEN_MAX;
}

TEST(gossip_payload_delivered_once_within_seen_max)
{
    (void)state;
    enum { PAYLOADS = 700 };
    int delivered = 0;
    struct gossip_delegate d = {.ctx = &delivered, .on_payload = count_payload};
    struct rig r;
    rig_init_full(&r, 0xa1, 1, small_seen, &d);
    for (uint64_t seq = 1; seq <= PAYLOADS; seq++) {
        receive_payload(&r, seq);
        assert_int_equal(delivered, (int)seq);
        /* Copies of this one and of the last SEEN_MAX / 2 before it. */
        receive_payload(&r, seq);
        receive_payload(&r, seq > SEEN_MAX / 2 ? seq - SEEN_MAX / 2 : 1);
        assert_int_equal(delivered, (int)seq);
    }
    gossip_delete(r.g);
}

/* What the host heard: payloads, and the ends of their datagrams (with
 * the payloads delivered by then). */
struct ends {
    int payloads, ends, at_end[4];
};

static void ends_payload(void *ctx, const uint8_t *p, size_t n)
{
    (void)p;
    (void)n;
    ((struct ends *)ctx)->payloads++;
}

static void ends_end(void *ctx)
{
    struct ends *e = ctx;
    if (e->ends < 4)
        e->at_end[e->ends] = e->payloads;
    e->ends++;
}

/* A host that keeps a datagram's payloads to handle them together (the
 * node merges its deltas as one batch) hears once, after the last, that
 * the datagram has no more; a datagram that delivers nothing new ends
 * nothing. The count of such datagrams is what a batch's size is read
 * from (ivtsim's payload_datagrams). */
TEST(gossip_payloads_end_after_a_datagrams_last)
{
    (void)state;
    struct ends e = {0};
    struct gossip_delegate d = {.ctx = &e, .on_payload = ends_payload, .on_payloads_end = ends_end};
    struct rig r;
    rig_init_full(&r, 0xa1, 1, NULL, &d);
    uint8_t body[256], pkt[GOSSIP_PACKET_MAX];
    struct gossip_addr from = {.port = 2};
    /* Three new payloads and a copy of the first, in one datagram. */
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, body, sizeof(body));
    for (uint64_t seq = 1; seq <= 3; seq++)
        gossip_wire_user(&w, r.peer, 1, seq, (const uint8_t *)"evidence", 8);
    gossip_wire_user(&w, r.peer, 1, 1, (const uint8_t *)"evidence", 8);
    size_t n = craft(&r, pkt, body, w.len, ++r.counter);
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, 0), 0);
    assert_int_equal(e.payloads, 3);
    assert_int_equal(e.ends, 1);
    assert_int_equal(e.at_end[0], 3);
    /* Only copies: nothing delivered, nothing ended. */
    n = craft(&r, pkt, body, w.len, ++r.counter);
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, 0), 0);
    assert_int_equal(e.ends, 1);
    /* One more, alone. */
    receive_payload(&r, 4);
    assert_int_equal(e.ends, 2);
    assert_int_equal(e.at_end[1], 4);
    struct gossip_stats st;
    gossip_get_stats(r.g, &st);
    assert_int_equal(st.payloads_delivered, 4);
    assert_int_equal(st.payload_datagrams, 2);
    gossip_delete(r.g);
    gossip_keyring_destroy(&r.kr);
}

/* An update about member id (generation gen, incarnation 0) in state st,
 * accused by `from` (SUSPECT, DEAD), at port `port`. */
/* A member message about id (generation gen, incarnation inc) in state
 * st, accused by from (or NULL), at port. */
static size_t member_msg_inc(uint8_t *buf, const uint8_t *id, uint32_t gen, uint32_t inc,
                             uint8_t st, const uint8_t *from, uint16_t port)
{
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, GOSSIP_MEMBER_MSG_MAX);
    struct gossip_wire_member m = {.id = id,
                                   .gen = gen,
                                   .inc = inc,
                                   .state = st,
                                   .from = from,
                                   .name = "m",
                                   .name_len = 1,
                                   .meta = (const uint8_t *)""};
    m.addr.port = port;
    gossip_wire_member_msg(&w, &m);
    return w.len;
}

static size_t member_msg(uint8_t *buf, const uint8_t *id, uint32_t gen, uint8_t st,
                         const uint8_t *from, uint16_t port)
{
    return member_msg_inc(buf, id, gen, 0, st, from, port);
}

enum { RIG_MSGS_MAX = 160 }; /* a full datagram of the smallest news: 109 IHAVEs */

/* Opens sealed datagram p of the rig's node into plain and decodes its
 * messages into msgs (RIG_MSGS_MAX of them); returns how many. */
static size_t rig_open_msgs(struct rig *r, const struct gossip_packet *p,
                            uint8_t plain[GOSSIP_PACKET_MAX], struct gossip_msg *msgs)
{
    size_t n, k = 0;
    assert_int_equal(
        gossip_open(plain, GOSSIP_PACKET_MAX, &n, &r->kr, LABEL, strlen(LABEL), p->data, p->len),
        0);
    const uint8_t *pos = plain, *end = plain + n;
    struct gossip_hdr h;
    assert_int_equal(gossip_wire_hdr_decode(&pos, end, &h), 0);
    while (pos < end) {
        assert_true(k < RIG_MSGS_MAX);
        assert_int_equal(gossip_wire_msg_decode(&pos, end, &msgs[k++]), 0);
    }
    return k;
}

/* True when the sealed datagram carries an ALIVE about id at generation gen. */
static bool carries_alive(struct rig *r, const struct gossip_packet *p, const uint8_t *id,
                          uint32_t gen)
{
    uint8_t plain[GOSSIP_PACKET_MAX];
    struct gossip_msg msgs[RIG_MSGS_MAX];
    size_t n = rig_open_msgs(r, p, plain, msgs);
    for (size_t i = 0; i < n; i++)
        if (msgs[i].type == GOSSIP_MSG_ALIVE && !memcmp(msgs[i].m.id, id, GOSSIP_ID_LEN) &&
            msgs[i].m.gen == gen)
            return true;
    return false;
}

static void second_generation(struct gossip_config *cfg)
{
    rare_probes(cfg);
    cfg->generation = 2;
}

/* A restarted node shown the death certificate of its previous generation
 * (by a node that missed the restart's gossip and holds the tombstone)
 * answers with its current alive, on the ack to the ping that carried it:
 * nothing else would ever tell that node. */
TEST(gossip_restarted_member_answers_old_certificate)
{
    (void)state;
    struct rig r;
    rig_init_with(&r, 0xa1, 1, second_generation);
    ivt_ms t = rig_quiet(&r, 5 * IVT_MS_PER_S);
    uint8_t self[GOSSIP_ID_LEN], body[GOSSIP_PROBE_MSG_MAX + GOSSIP_MEMBER_MSG_MAX];
    memset(self, 0xa1, sizeof(self));
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, body, GOSSIP_PROBE_MSG_MAX);
    gossip_wire_ping(&w, 9, self);
    size_t bn = w.len + member_msg(body + w.len, self, 1, GOSSIP_DEAD, r.peer, 1);
    uint8_t pkt[GOSSIP_PACKET_MAX];
    size_t n = craft(&r, pkt, body, bn, ++r.counter);
    struct gossip_addr from = {.port = 2};
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, t), 0);
    struct gossip_packet out[8];
    size_t k = gossip_outbox(r.g, out, 8);
    bool answered = false;
    for (size_t i = 0; i < k; i++)
        answered |= out[i].to.port == 2 && carries_alive(&r, &out[i], self, 2);
    assert_true(answered);
    gossip_delete(r.g);
}

/* A join reply is not dropped as a replay when the seed sends the joiner
 * a datagram while it builds the reply (here: the seed buried the joiner's
 * previous generation, and pings it with the certificate as it merges the
 * join), even when that datagram arrives first. */
TEST(gossip_join_reply_survives_datagrams_sent_while_built)
{
    (void)state;
    struct rig r;
    rig_init_with(&r, 0xa1, 1, rare_probes);
    uint8_t joiner[GOSSIP_ID_LEN], body[2 * GOSSIP_MEMBER_MSG_MAX], pkt[GOSSIP_PACKET_MAX];
    memset(joiner, 0xc3, sizeof(joiner));
    size_t bn = member_msg(body, joiner, 1, GOSSIP_ALIVE, NULL, 3);
    bn += member_msg(body + bn, joiner, 1, GOSSIP_DEAD, r.peer, 3);
    size_t n = craft(&r, pkt, body, bn, ++r.counter);
    struct gossip_addr from = {.port = 2}, seed = {.port = 1}, at = {.port = 3};
    assert_int_equal(gossip_receive(r.g, &from, pkt, n, 0), 0);
    struct gossip_member_info m;
    assert_int_equal(gossip_member(r.g, joiner, &m), 0);
    assert_int_equal(m.state, GOSSIP_DEAD);

    struct gossip_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    gossip_config_profile(&cfg, GOSSIP_PROFILE_LAN);
    memcpy(cfg.id, joiner, GOSSIP_ID_LEN);
    cfg.generation = 2;
    strcpy(cfg.name, "joiner");
    strcpy(cfg.label, LABEL);
    cfg.addr = at;
    struct gossip *j;
    assert_int_equal(gossip_new(&j, &cfg, &r.kr, NULL, 2, 0), 0);
    assert_int_equal(gossip_join(j, &seed, 1, 0), 0);
    uint32_t sj, ss;
    struct gossip_addr to;
    assert_int_equal(gossip_stream_poll_connect(j, &sj, &to), 1);
    assert_int_equal(gossip_stream_accept(r.g, &ss, &at, 0), 0);
    static uint8_t buf[1 << 16];
    struct gossip_packet out[8];
    for (int round = 0; round < 8; round++) {
        size_t len;
        while ((len = gossip_stream_output(j, sj, buf, sizeof(buf))) > 0)
            gossip_stream_receive(r.g, ss, buf, len, 0);
        /* The seed's datagrams overtake its stream bytes. */
        size_t k;
        while ((k = gossip_outbox(r.g, out, 8)) > 0)
            for (size_t i = 0; i < k; i++)
                if (out[i].to.port == 3)
                    gossip_receive(j, &seed, out[i].data, out[i].len, 0);
        while ((len = gossip_stream_output(r.g, ss, buf, sizeof(buf))) > 0)
            gossip_stream_receive(j, sj, buf, len, 0);
    }
    assert_true(gossip_stream_done(j, sj));
    struct gossip_stats st;
    gossip_get_stats(j, &st);
    assert_int_equal(st.pushpull_failed, 0);
    assert_int_equal(st.pushpull_completed, 1);
    gossip_get_stats(r.g, &st);
    assert_true(st.resurrections_held >= 1); /* the ping was sent mid-reply */
    gossip_delete(j);
    gossip_delete(r.g);
}

/* A node alone with a payload queued (no one to send it to) is not asked
 * to be ticked again at once: its host would spin. */
TEST(gossip_lone_node_with_payload_does_not_spin)
{
    (void)state;
    struct rig r;
    rig_init_with(&r, 0xa1, 1, rare_probes);
    uint8_t p[40] = {4};
    assert_int_equal(gossip_publish(r.g, p, sizeof(p), 0), 0);
    struct gossip_packet out[8];
    ivt_ms t = 0;
    while (t < 60 * IVT_MS_PER_S) {
        gossip_tick(r.g, t);
        while (gossip_outbox(r.g, out, 8) > 0) {
        }
        ivt_ms next = gossip_next_deadline(r.g);
        assert_true(next > t);
        t = next;
    }
    gossip_delete(r.g);
}

/* app_max_delay 0 is memberlist's way: whatever is queued goes out in the
 * next round. */
static void no_delay(struct gossip_config *cfg)
{
    rare_probes(cfg);
    cfg->app_max_delay = 0;
}

TEST(gossip_payload_without_delay_goes_next_round)
{
    (void)state;
    struct rig r;
    ivt_ms t = rig_one_payload(&r, no_delay, 40, 3);
    size_t longest;
    ivt_ms first = rig_first_payload(&r, t, t + 200, &longest);
    assert_true(first != IVT_MS_NEVER && first <= t + 200);
    gossip_delete(r.g);
}

static int cmp_nonce(const void *a, const void *b)
{
    return memcmp(a, b, GOSSIP_NONCE_LEN);
}

/* XChaCha20-Poly1305 loses confidentiality and integrity when a nonce
 * repeats under one key. Two nodes that drew the same random seed (the
 * fleet shares the key) must still never seal with the same nonce. */
TEST(gossip_nonces_never_repeat_even_with_equal_seeds)
{
    (void)state;
    enum { NODES = 2, PER_NODE = 200, PEERS = 20 };
    static uint8_t nonces[NODES * PER_NODE][GOSSIP_NONCE_LEN];
    size_t n = 0;
    for (int k = 0; k < NODES; k++) {
        struct rig r;
        rig_init_as(&r, (uint8_t)(0xc0 + k), 42); /* same seed, other ids */
        struct gossip_addr from = {.port = 2};
        for (uint32_t i = 0; i < PEERS; i++) {
            uint8_t id[GOSSIP_ID_LEN], body[GOSSIP_MEMBER_MSG_MAX], pkt[GOSSIP_PACKET_MAX];
            memset(id, 0x30, sizeof(id));
            memcpy(id, &i, sizeof(i));
            size_t bn = alive_msg(body, id, 0);
            assert_int_equal(gossip_receive(r.g, &from, pkt, craft(&r, pkt, body, bn, i + 1), 0),
                             0);
        }
        size_t got = 0;
        struct gossip_packet out[64];
        for (ivt_ms t = 0; got < PER_NODE && t < 600000; t += 50) {
            gossip_tick(r.g, t);
            size_t m;
            while (got < PER_NODE && (m = gossip_outbox(r.g, out, 64)) > 0)
                for (size_t i = 0; i < m && got < PER_NODE; i++, got++)
                    memcpy(nonces[n++], out[i].data + 1 + 4, GOSSIP_NONCE_LEN);
        }
        assert_int_equal(got, PER_NODE);
        gossip_delete(r.g);
        gossip_keyring_destroy(&r.kr);
    }
    qsort(nonces, n, GOSSIP_NONCE_LEN, cmp_nonce);
    for (size_t i = 1; i < n; i++)
        assert_true(memcmp(nonces[i - 1], nonces[i], GOSSIP_NONCE_LEN) != 0);
}

static void members_at_limit(struct gossip_config *cfg)
{
    cfg->max_members = GOSSIP_MAX_MEMBERS_LIMIT;
}

static void members_over_limit(struct gossip_config *cfg)
{
    cfg->max_members = GOSSIP_MAX_MEMBERS_LIMIT + 1;
}

/* The member index fills to three quarters, and a probe turns away other
 * members' entries by their hash tags: 3,000 members learned 16 to a
 * datagram (the index then at 3,001 of 4,096 slots, long probe chains),
 * ids that share their first 8 bytes as the simulator's do. Every member
 * is found with its own incarnation, ids never heard are not, and a
 * max_members the index cannot number is refused. */
TEST(gossip_member_index_full_to_three_quarters)
{
    (void)state;
    enum { MEMBERS = 3000, PER_PACKET = 16 };
    struct rig r;
    rig_init(&r);
    struct gossip_addr from = {.port = 2};
    uint8_t id[GOSSIP_ID_LEN];
    memset(id, 0x3c, sizeof(id));
    uint64_t counter = 1;
    for (uint32_t i = 0; i < MEMBERS; i += PER_PACKET) {
        uint8_t body[PER_PACKET * GOSSIP_MEMBER_MSG_MAX];
        size_t bn = 0;
        for (uint32_t k = i; k < i + PER_PACKET && k < MEMBERS; k++) {
            memcpy(id + 8, &k, sizeof(k));
            bn += alive_msg(body + bn, id, k % 7);
        }
        uint8_t pkt[GOSSIP_PACKET_MAX];
        size_t n = craft(&r, pkt, body, bn, counter++);
        assert_int_equal(gossip_receive(r.g, &from, pkt, n, 0), 0);
    }
    assert_int_equal(gossip_member_count(r.g, GOSSIP_ALIVE), MEMBERS + 1);
    for (uint32_t k = 0; k < MEMBERS; k++) {
        struct gossip_member_info mi;
        memcpy(id + 8, &k, sizeof(k));
        assert_int_equal(gossip_member(r.g, id, &mi), 0);
        assert_int_equal(mi.incarnation, k % 7);
        assert_memory_equal(mi.id, id, GOSSIP_ID_LEN);
        uint32_t stranger = k + MEMBERS;
        memcpy(id + 8, &stranger, sizeof(stranger));
        assert_int_equal(gossip_member(r.g, id, &mi), IVT_ENOENT);
    }
    gossip_delete(r.g);

    rig_init_with(&r, 0xa1, 1, members_at_limit);
    gossip_delete(r.g);
    struct gossip_config c;
    rig_config(&c, 0xa1, members_over_limit);
    struct gossip *g = NULL;
    assert_int_equal(gossip_new(&g, &c, &r.kr, NULL, 1, 0), IVT_EINVAL);
    assert_null(g);
}

/* Lazy push with one eager send, probes out of the way. */
static void lazy_rig(struct gossip_config *cfg)
{
    rare_probes(cfg);
    cfg->app_eager = 1;
}

/* Counts the messages of sealed datagram p by type (below 16), and notes
 * the fingerprint of its last IHAVE and IWANT in fp[type]. */
static void tally(struct rig *r, const struct gossip_packet *p, int count[16], uint64_t fp[16])
{
    uint8_t plain[GOSSIP_PACKET_MAX];
    struct gossip_msg msgs[RIG_MSGS_MAX];
    size_t n = rig_open_msgs(r, p, plain, msgs);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned)msgs[i].type < 16)
            count[msgs[i].type]++;
        if (msgs[i].type == GOSSIP_MSG_IHAVE || msgs[i].type == GOSSIP_MSG_IWANT)
            fp[msgs[i].type] = msgs[i].fp;
    }
}

/* Runs the host loop from t to until, tallying every datagram sent. */
static void run_tally(struct rig *r, ivt_ms t, ivt_ms until, int count[16], uint64_t fp[16])
{
    struct gossip_packet out[8];
    while (t <= until) {
        gossip_tick(r->g, t);
        size_t k;
        while ((k = gossip_outbox(r->g, out, 8)) > 0)
            for (size_t i = 0; i < k; i++)
                tally(r, &out[i], count, fp);
        ivt_ms next = gossip_next_deadline(r->g);
        t = next > t ? next : t + 1;
    }
}

/* A datagram of IHAVE or IWANT (type) for fp from the rig's peer. */
static void receive_fp(struct rig *r, enum gossip_msg_type type, uint64_t fp, ivt_ms now)
{
    uint8_t body[GOSSIP_FP_MSG_MAX], pkt[GOSSIP_PACKET_MAX];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, body, sizeof(body));
    gossip_wire_fp(&w, type, fp);
    size_t n = craft(r, pkt, body, w.len, ++r->counter);
    struct gossip_addr from = {.port = 2};
    assert_int_equal(gossip_receive(r->g, &from, pkt, n, now), 0);
}

/* Lazy push, one node and its peer (docs/gossip.md, "Lazy push"): the
 * first send of a payload carries it and the rest of the limit (4 at two
 * members) announce it; an ask is answered with the payload alone, even
 * after it left the queue; an ask for what the node never held is
 * counted; an announcement of a payload the node lacks is followed by one
 * ask, of the announcer, once app_max_delay and a round have passed. */
TEST(gossip_lazy_push_announces_asks_and_answers)
{
    (void)state;
    struct rig r;
    ivt_ms t = rig_one_payload(&r, lazy_rig, 100, 3);
    int count[16] = {0};
    uint64_t fps[16] = {0};
    run_tally(&r, t, t + 10 * IVT_MS_PER_S, count, fps);
    assert_int_equal(count[GOSSIP_MSG_USER], 1);
    assert_int_equal(count[GOSSIP_MSG_IHAVE], 3);
    const uint64_t fp = fps[GOSSIP_MSG_IHAVE];
    assert_true(fp != 0);
    t += 10 * IVT_MS_PER_S;

    /* Asked for after its last announcement: answered from the retired
     * payloads, with no other payload in the datagram (another one is
     * queued: it waits for a round to a member of gossip's choosing). */
    memset(count, 0, sizeof(count));
    uint8_t p[100] = {4};
    assert_int_equal(gossip_publish(r.g, p, sizeof(p), t), 0);
    receive_fp(&r, GOSSIP_MSG_IWANT, fp, t);
    struct gossip_packet out[8];
    size_t k = gossip_outbox(r.g, out, 8);
    assert_int_equal(k, 1);
    assert_int_equal(out[0].to.port, 2);
    tally(&r, &out[0], count, fps);
    assert_int_equal(count[GOSSIP_MSG_USER], 1);
    assert_int_equal(count[GOSSIP_MSG_IHAVE] + count[GOSSIP_MSG_IWANT], 0);
    struct gossip_stats st;
    gossip_get_stats(r.g, &st);
    assert_int_equal(st.app_wants_answered, 1);

    /* Never held: nothing sent, counted. */
    receive_fp(&r, GOSSIP_MSG_IWANT, 0x1235, t);
    assert_int_equal(gossip_outbox(r.g, out, 8), 0);
    gossip_get_stats(r.g, &st);
    assert_int_equal(st.app_wants_unanswered, 1);

    /* Announced twice, lacking it: one ask, not before the wait. */
    const uint64_t other = 0x7777777777777777ull;
    receive_fp(&r, GOSSIP_MSG_IHAVE, other, t);
    receive_fp(&r, GOSSIP_MSG_IHAVE, other, t + 100);
    memset(count, 0, sizeof(count));
    ivt_ms wait = 1000 + 200; /* LAN: app_max_delay + gossip_interval */
    run_tally(&r, t + 100, t + wait - 1, count, fps);
    assert_int_equal(count[GOSSIP_MSG_IWANT], 0);
    run_tally(&r, t + wait, t + 3 * wait, count, fps);
    assert_int_equal(count[GOSSIP_MSG_IWANT], 1);
    assert_true(fps[GOSSIP_MSG_IWANT] == other);
    gossip_get_stats(r.g, &st);
    assert_int_equal(st.app_wants_sent, 1);
    gossip_delete(r.g);
    gossip_keyring_destroy(&r.kr);
}

/* Runs the rig's host loop to `until`, acking nothing, dropping all output. */
static void rig_run_silent(struct rig *r, ivt_ms *t, ivt_ms until)
{
    struct gossip_packet out[8];
    while (*t < until) {
        ivt_ms next = gossip_next_deadline(r->g);
        *t = next < until ? (next > *t ? next : *t + 1) : until;
        gossip_tick(r->g, *t);
        while (gossip_outbox(r->g, out, 8) > 0) {
        }
    }
}

static void receive_member(struct rig *r, const uint8_t *id, uint32_t inc, uint8_t st,
                           const uint8_t *from, ivt_ms now)
{
    uint8_t body[GOSSIP_MEMBER_MSG_MAX], pkt[GOSSIP_PACKET_MAX];
    size_t bn = member_msg_inc(body, id, 1, inc, st, from, (uint16_t)(id[0] == 0xb2 ? 2 : id[0]));
    size_t n = craft(r, pkt, body, bn, ++r->counter);
    struct gossip_addr src = {.port = 2};
    assert_int_equal(gossip_receive(r->g, &src, pkt, n, now), 0);
}

static enum gossip_member_state state_of(struct rig *r, const uint8_t *id)
{
    struct gossip_member_info m;
    assert_int_equal(gossip_member(r->g, id, &m), 0);
    return m.state;
}

static ivt_ms suspected_at(struct rig *r, const uint8_t *id)
{
    struct gossip_member_info m;
    assert_int_equal(gossip_member(r->g, id, &m), 0);
    assert_int_equal(m.state, GOSSIP_SUSPECT);
    return m.changed;
}

/* The datagrams in r's outbox to port 2 that ping id with its suspicion at
 * incarnation inc attached (the buddy system); every other is dropped. */
static int pings_with_suspicion(struct rig *r, const uint8_t *id, uint32_t inc)
{
    struct gossip_packet out[8];
    int pings = 0;
    size_t k;
    while ((k = gossip_outbox(r->g, out, 8)) > 0)
        for (size_t i = 0; i < k; i++) {
            if (out[i].to.port != 2)
                continue;
            uint8_t plain[GOSSIP_PACKET_MAX];
            struct gossip_msg msgs[RIG_MSGS_MAX];
            size_t n = rig_open_msgs(r, &out[i], plain, msgs);
            bool ping = n > 0 && msgs[0].type == GOSSIP_MSG_PING &&
                        !memcmp(msgs[0].target, id, GOSSIP_ID_LEN);
            for (size_t j = 1; ping && j < n; j++)
                if (msgs[j].type == GOSSIP_MSG_SUSPECT &&
                    !memcmp(msgs[j].m.id, id, GOSSIP_ID_LEN) && msgs[j].m.inc == inc) {
                    pings++;
                    break;
                }
        }
    return pings;
}

/* A datagram with no messages from the rig's peer at `now`. */
static void receive_empty(struct rig *r, ivt_ms now)
{
    uint8_t pkt[GOSSIP_PACKET_MAX];
    size_t n = craft(r, pkt, NULL, 0, ++r->counter);
    struct gossip_addr from = {.port = 2};
    assert_int_equal(gossip_receive(r->g, &from, pkt, n, now), 0);
}

/* A member we suspect that sends us a datagram is running: it is shown the
 * accusation on a ping, once the datagram's news is applied, so that its
 * refutation (or the newer incarnation we missed while a partition healed)
 * comes back on the ack. Without it the suspicion lasted until our round-robin probed the member
 * (up to N probe intervals) or the suspicion timed out: regions.cfg at
 * 100 nodes agreed 151-212 s after its partition healed. At most once a
 * probe interval per suspect, so a chatty suspect costs few pings. */
TEST(gossip_suspect_that_talks_is_shown_its_accusation)
{
    (void)state;
    struct rig r;
    rig_init(&r); /* LAN: probe interval 1 s; never ticked, so it probes nobody */
    uint8_t accuser[GOSSIP_ID_LEN], peer[GOSSIP_ID_LEN];
    memcpy(peer, r.peer, GOSSIP_ID_LEN);
    memset(accuser, 0xc3, sizeof(accuser));
    receive_member(&r, peer, 0, GOSSIP_ALIVE, NULL, 0);
    receive_member(&r, accuser, 0, GOSSIP_ALIVE, NULL, 0);
    /* The accuser's datagram (its own header) suspects the peer. */
    memcpy(r.peer, accuser, GOSSIP_ID_LEN);
    uint64_t counter = r.counter;
    r.counter = 0;
    receive_member(&r, peer, 0, GOSSIP_SUSPECT, accuser, 10);
    memcpy(r.peer, peer, GOSSIP_ID_LEN);
    r.counter = counter;
    assert_int_equal(state_of(&r, peer), GOSSIP_SUSPECT);
    /* Drains the outbox: that datagram was not the peer talking. */
    assert_int_equal(pings_with_suspicion(&r, peer, 0), 0);

    receive_empty(&r, 20);
    assert_int_equal(pings_with_suspicion(&r, peer, 0), 1);
    struct gossip_stats st;
    gossip_get_stats(r.g, &st);
    assert_int_equal(st.suspects_heard, 1);
    /* Again within the probe interval: no second ping. */
    receive_empty(&r, 500);
    assert_int_equal(pings_with_suspicion(&r, peer, 0), 0);
    /* A probe interval later it is shown the accusation again. */
    receive_empty(&r, 1020);
    assert_int_equal(pings_with_suspicion(&r, peer, 0), 1);
    gossip_get_stats(r.g, &st);
    assert_int_equal(st.suspects_heard, 2);
    /* Its refutation clears the suspicion; then it is pinged no more. */
    receive_member(&r, peer, 1, GOSSIP_ALIVE, NULL, 1100);
    assert_int_equal(state_of(&r, peer), GOSSIP_ALIVE);
    receive_empty(&r, 3000);
    assert_int_equal(pings_with_suspicion(&r, peer, 0), 0);
    assert_int_equal(pings_with_suspicion(&r, peer, 1), 0);
    gossip_delete(r.g);
}

/* The rig's node with three members alive (the peer, x and y): enough for
 * suspicions to expect confirmations (k = 2 at 4 members, LAN). */
static void rig_four(struct rig *r, uint8_t x[GOSSIP_ID_LEN], uint8_t y[GOSSIP_ID_LEN])
{
    rig_init(r);
    memset(x, 3, GOSSIP_ID_LEN);
    memset(y, 4, GOSSIP_ID_LEN);
    receive_member(r, r->peer, 0, GOSSIP_ALIVE, NULL, 0);
    receive_member(r, x, 0, GOSSIP_ALIVE, NULL, 0);
    receive_member(r, y, 0, GOSSIP_ALIVE, NULL, 0);
}

/* Lifeguard shortens a suspicion as independent accusers confirm it,
 * counted from the first accusation. Ours may be old and unheard (every
 * datagram of it lost): a confirmation that comes later, from a member
 * whose own probe just failed, must not end the suspicion at once, before
 * the accused has heard the new accusation; it gets a probe interval to
 * refute it (loss.cfg seed 55 declared a healthy node dead so). A member
 * nobody refutes still dies, that probe interval later. */
TEST(gossip_late_confirmation_leaves_time_to_refute)
{
    (void)state;
    struct rig r;
    uint8_t x[GOSSIP_ID_LEN], y[GOSSIP_ID_LEN];
    rig_four(&r, x, y);
    /* Nobody acks: our probes fail and we suspect the members, alone. */
    ivt_ms t = 0;
    while (gossip_member_count(r.g, GOSSIP_SUSPECT) < 3 && t < 60 * IVT_MS_PER_S)
        rig_run_silent(&r, &t, t + 100);
    assert_int_equal(gossip_member_count(r.g, GOSSIP_SUSPECT), 3);
    /* 4 members: suspicions last 24 s unconfirmed, 11.4 s with one
     * confirmation, 4 s with two. Each confirmation below comes 15 s into
     * its suspicion: past 11.4 s, so it used to end the suspicion at once. */
    ivt_ms peer_conf = suspected_at(&r, r.peer) + 15 * IVT_MS_PER_S;
    ivt_ms x_start = suspected_at(&r, x);
    assert_true(t < peer_conf);
    /* The peer refutes 500 ms after the confirmation, and lives. */
    rig_run_silent(&r, &t, peer_conf);
    receive_member(&r, r.peer, 0, GOSSIP_SUSPECT, y, t);
    rig_run_silent(&r, &t, t + 500);
    assert_int_equal(state_of(&r, r.peer), GOSSIP_SUSPECT);
    receive_member(&r, r.peer, 1, GOSSIP_ALIVE, NULL, t);
    assert_int_equal(state_of(&r, r.peer), GOSSIP_ALIVE);
    /* x says nothing and dies a probe interval (1 s) after its. */
    ivt_ms conf = x_start + 15 * IVT_MS_PER_S > t ? x_start + 15 * IVT_MS_PER_S : t;
    assert_true(conf < x_start + 20 * IVT_MS_PER_S);
    rig_run_silent(&r, &t, conf);
    receive_member(&r, x, 0, GOSSIP_SUSPECT, y, t);
    rig_run_silent(&r, &t, conf + 999);
    assert_int_equal(state_of(&r, x), GOSSIP_SUSPECT);
    rig_run_silent(&r, &t, conf + 1000);
    assert_int_equal(state_of(&r, x), GOSSIP_DEAD);
    gossip_delete(r.g);
    gossip_keyring_destroy(&r.kr);
}

static uint64_t shown(struct rig *r)
{
    struct gossip_stats st;
    gossip_get_stats(r->g, &st);
    return st.suspects_shown;
}

/* A suspicion nobody confirms, still running at the shortest timeout (4 s
 * at 4 members; it lasts 24 s), is shown to the suspect on a ping of its
 * own: a view that missed a refutation while a partition healed held the
 * suspicion until the member happened to talk to it or the round-robin
 * reached it (up to N probe intervals). Nothing refuting it, the member
 * still dies at the longest timeout. */
TEST(gossip_lone_suspicion_shown_to_the_suspect_at_its_shortest_timeout)
{
    (void)state;
    struct rig r;
    uint8_t x[GOSSIP_ID_LEN], y[GOSSIP_ID_LEN];
    rig_four(&r, x, y);
    /* Nobody acks: our probe of the peer fails and we suspect it, alone
     * (our own later failed probes are no confirmation). */
    ivt_ms t = 0;
    while (state_of(&r, r.peer) != GOSSIP_SUSPECT && t < 60 * IVT_MS_PER_S)
        rig_run_silent(&r, &t, t + 1);
    ivt_ms start = suspected_at(&r, r.peer);
    rig_run_silent(&r, &t, start + 4 * IVT_MS_PER_S - 1);
    uint64_t before = shown(&r);
    t = start + 4 * IVT_MS_PER_S;
    assert_true(gossip_next_deadline(r.g) <= t);
    gossip_tick(r.g, t);
    assert_int_equal(shown(&r), before + 1);
    assert_true(pings_with_suspicion(&r, r.peer, 0) >= 1);
    assert_int_equal(state_of(&r, r.peer), GOSSIP_SUSPECT);
    /* At 24 s a push-pull checks it once more (suspicions_synced), and it
     * dies two probe intervals later. */
    rig_run_silent(&r, &t, start + 26 * IVT_MS_PER_S - 1);
    assert_int_equal(state_of(&r, r.peer), GOSSIP_SUSPECT);
    rig_run_silent(&r, &t, start + 26 * IVT_MS_PER_S);
    assert_int_equal(state_of(&r, r.peer), GOSSIP_DEAD);
    gossip_delete(r.g);
    gossip_keyring_destroy(&r.kr);
}
