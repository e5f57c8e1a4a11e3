/*
 * gossip/wire.c: encoders and bounded decoders of the gossip plaintext
 * (layout drawn in gossip/wire.h and docs/protocol.md).
 *
 * Encoders write into an ivt_mpw and never check space themselves: the
 * writer remembers the first overflow and the caller checks once. The
 * packet builder encodes each piggybacked message into a small scratch
 * writer first, so a message either fits the datagram whole or is left for
 * the next one. The member messages and push-pull entries (a cluster's
 * formation is N^2 x the retransmit limit of them) take a faster path when
 * the writer already has room for their largest form: written with
 * base/mp.h's ivt_mp_put_*, the same bytes, without a call through the
 * packer per field. Short of that room they take the packer's path, so a
 * message that fits a nearly full packet still goes in.
 *
 * Decoders use base/mp.h's cursor readers: they never read past end, hand
 * out views into the input, and reject every malformed field with
 * IVT_EPROTO. Unknown message types and extra fields are skipped (append-
 * only evolution); a known type with missing or mistyped fields is not.
 */
#include "gossip/wire.h"

#include <string.h>

#include "base/err.h"
#include "base/mp.h"

/* Fields each message type must have, type included (more are skipped). */
enum {
    FIELDS_PING = 3,
    FIELDS_PING_REQ = 4,
    FIELDS_ACK = 2,
    FIELDS_MEMBER = 5,
    FIELDS_ALIVE = 7,
    FIELDS_USER = 5,
    FIELDS_FP = 2, /* IHAVE, IWANT */
    FIELDS_DIGEST = 4,
    FIELDS_FULL = 7,
    FIELDS_HDR = 3,
    ADDR_V4_LEN = 4,
    ADDR_FIXED = 3 /* family + port */
};

void gossip_wire_hdr(struct ivt_mpw *w, const uint8_t *id, uint32_t gen, uint64_t counter)
{
    ivt_mpw_array(w, FIELDS_HDR);
    ivt_mpw_bin(w, id, GOSSIP_ID_LEN);
    ivt_mpw_uint(w, gen);
    ivt_mpw_uint(w, counter);
}

void gossip_wire_addr(struct ivt_mpw *w, const struct gossip_addr *a)
{
    uint8_t b[GOSSIP_ADDR_WIRE_MAX];
    size_t n = a->family == 4 ? ADDR_V4_LEN : 16;
    b[0] = a->family;
    b[1] = (uint8_t)(a->port >> 8);
    b[2] = (uint8_t)a->port;
    memcpy(b + ADDR_FIXED, a->bytes, n);
    ivt_mpw_bin(w, b, ADDR_FIXED + n);
}

void gossip_wire_ping(struct ivt_mpw *w, uint32_t seq, const uint8_t *target)
{
    ivt_mpw_array(w, FIELDS_PING);
    ivt_mpw_uint(w, GOSSIP_MSG_PING);
    ivt_mpw_uint(w, seq);
    ivt_mpw_bin(w, target, GOSSIP_ID_LEN);
}

void gossip_wire_ping_req(struct ivt_mpw *w, uint32_t seq, const uint8_t *target,
                          const struct gossip_addr *addr)
{
    ivt_mpw_array(w, FIELDS_PING_REQ);
    ivt_mpw_uint(w, GOSSIP_MSG_PING_REQ);
    ivt_mpw_uint(w, seq);
    ivt_mpw_bin(w, target, GOSSIP_ID_LEN);
    gossip_wire_addr(w, addr);
}

void gossip_wire_ack(struct ivt_mpw *w, enum gossip_msg_type type, uint32_t seq)
{
    ivt_mpw_array(w, FIELDS_ACK);
    ivt_mpw_uint(w, type);
    ivt_mpw_uint(w, seq);
}

static void wire_name_meta(struct ivt_mpw *w, const struct gossip_wire_member *m)
{
    gossip_wire_addr(w, &m->addr);
    ivt_mpw_str(w, m->name, m->name_len);
    ivt_mpw_bin(w, m->meta, m->meta_len);
}

/* ---- the fast path (see the top of the file) ----------------------------- */

enum {
    MP_FIXSTR = 0xa0, /* msgpack's str of under 32 bytes: the tag holds the length */
    FIXSTR_MAX = 31,
    DIGEST_ENTRY_MAX = GOSSIP_DIGEST_ENTRY_MAX,
    FULL_ENTRY_MAX = GOSSIP_FULL_ENTRY_MAX
};
_Static_assert(GOSSIP_NAME_MAX - 1 <= FIXSTR_MAX, "a name is a fixstr");

/* Where to write at least n bytes in w's present buffer, or NULL: then the
 * caller takes the packer's path, which fails (or grows) only where the
 * exact bytes do not fit. */
static uint8_t *room(struct ivt_mpw *w, size_t n)
{
    return !w->err && w->cap - w->len >= n ? w->data + w->len : NULL;
}

static uint8_t *put_id_gen_inc(uint8_t *p, const struct gossip_wire_member *m)
{
    p = ivt_mp_put_bin(p, m->id, GOSSIP_ID_LEN);
    p = ivt_mp_put_uint(p, m->gen);
    return ivt_mp_put_uint(p, m->inc);
}

/* gossip_wire_addr, the name and the meta, as wire_name_meta writes them. */
static uint8_t *put_name_meta(uint8_t *p, const struct gossip_wire_member *m)
{
    size_t n = m->addr.family == 4 ? ADDR_V4_LEN : 16;
    p = ivt_mp_put_bin_head(p, (uint32_t)(ADDR_FIXED + n));
    p[0] = m->addr.family;
    p[1] = (uint8_t)(m->addr.port >> 8);
    p[2] = (uint8_t)m->addr.port;
    memcpy(p + ADDR_FIXED, m->addr.bytes, n);
    p += ADDR_FIXED + n;
    *p++ = (uint8_t)(MP_FIXSTR | m->name_len);
    memcpy(p, m->name, m->name_len);
    p += m->name_len;
    return ivt_mp_put_bin(p, m->meta, m->meta_len);
}

static bool name_fits(const struct gossip_wire_member *m)
{
    return m->name_len <= FIXSTR_MAX && m->meta_len <= GOSSIP_META_MAX;
}

void gossip_wire_member_msg(struct ivt_mpw *w, const struct gossip_wire_member *m)
{
    uint8_t *p = room(w, GOSSIP_MEMBER_MSG_MAX);
    if (p && name_fits(m)) {
        bool alive = m->state == GOSSIP_ALIVE;
        p = ivt_mp_put_array(p, alive ? FIELDS_ALIVE : FIELDS_MEMBER);
        p = ivt_mp_put_uint(p, alive                        ? GOSSIP_MSG_ALIVE
                               : m->state == GOSSIP_SUSPECT ? GOSSIP_MSG_SUSPECT
                                                            : GOSSIP_MSG_DEAD);
        p = put_id_gen_inc(p, m);
        if (alive)
            p = put_name_meta(p, m);
        else
            p = ivt_mp_put_bin(p, m->state == GOSSIP_LEFT ? m->id : m->from, GOSSIP_ID_LEN);
        ivt_mpw_commit(w, p);
        return;
    }
    if (m->state == GOSSIP_ALIVE) {
        ivt_mpw_array(w, FIELDS_ALIVE);
        ivt_mpw_uint(w, GOSSIP_MSG_ALIVE);
    } else {
        ivt_mpw_array(w, FIELDS_MEMBER);
        ivt_mpw_uint(w, m->state == GOSSIP_SUSPECT ? GOSSIP_MSG_SUSPECT : GOSSIP_MSG_DEAD);
    }
    ivt_mpw_bin(w, m->id, GOSSIP_ID_LEN);
    ivt_mpw_uint(w, m->gen);
    ivt_mpw_uint(w, m->inc);
    if (m->state == GOSSIP_ALIVE)
        wire_name_meta(w, m);
    else
        ivt_mpw_bin(w, m->state == GOSSIP_LEFT ? m->id : m->from, GOSSIP_ID_LEN);
}

void gossip_wire_user(struct ivt_mpw *w, const uint8_t *origin, uint32_t gen, uint64_t seq,
                      const uint8_t *p, size_t n)
{
    ivt_mpw_array(w, FIELDS_USER);
    ivt_mpw_uint(w, GOSSIP_MSG_USER);
    ivt_mpw_bin(w, origin, GOSSIP_ID_LEN);
    ivt_mpw_uint(w, gen);
    ivt_mpw_uint(w, seq);
    ivt_mpw_bin(w, p, n);
}

void gossip_wire_fp(struct ivt_mpw *w, enum gossip_msg_type type, uint64_t fp)
{
    ivt_mpw_array(w, FIELDS_FP);
    ivt_mpw_uint(w, type);
    ivt_mpw_uint(w, fp);
}

void gossip_wire_digest_entry(struct ivt_mpw *w, const struct gossip_wire_member *m)
{
    uint8_t *p = room(w, DIGEST_ENTRY_MAX);
    if (p) {
        p = put_id_gen_inc(ivt_mp_put_array(p, FIELDS_DIGEST), m);
        ivt_mpw_commit(w, ivt_mp_put_uint(p, m->state));
        return;
    }
    ivt_mpw_array(w, FIELDS_DIGEST);
    ivt_mpw_bin(w, m->id, GOSSIP_ID_LEN);
    ivt_mpw_uint(w, m->gen);
    ivt_mpw_uint(w, m->inc);
    ivt_mpw_uint(w, m->state);
}

void gossip_wire_full_entry(struct ivt_mpw *w, const struct gossip_wire_member *m)
{
    uint8_t *p = room(w, FULL_ENTRY_MAX);
    if (p && name_fits(m)) {
        p = put_id_gen_inc(ivt_mp_put_array(p, FIELDS_FULL), m);
        ivt_mpw_commit(w, put_name_meta(ivt_mp_put_uint(p, m->state), m));
        return;
    }
    ivt_mpw_array(w, FIELDS_FULL);
    ivt_mpw_bin(w, m->id, GOSSIP_ID_LEN);
    ivt_mpw_uint(w, m->gen);
    ivt_mpw_uint(w, m->inc);
    ivt_mpw_uint(w, m->state);
    wire_name_meta(w, m);
}

/* ---- decoding ---------------------------------------------------------- */

/* The readers inline (ivt_mp_get_*): every received update is an id and
 * two of these, and a packet is dropped whole on any error, so where the
 * cursor stops after one does not matter. */
static int read_id(const uint8_t **pos, const uint8_t *end, const uint8_t **id)
{
    uint32_t n;
    if (ivt_mp_get_bin(pos, end, id, &n) || n != GOSSIP_ID_LEN)
        return IVT_EPROTO;
    return 0;
}

static int read_u32(const uint8_t **pos, const uint8_t *end, uint32_t *out)
{
    uint64_t v;
    if (ivt_mp_get_uint(pos, end, &v) || v > UINT32_MAX)
        return IVT_EPROTO;
    *out = (uint32_t)v;
    return 0;
}

/* Skips the fields of an array beyond the `used` this version reads. */
static int skip_rest(const uint8_t **pos, const uint8_t *end, uint32_t n, uint32_t used)
{
    for (uint32_t i = used; i < n; i++)
        if (ivt_mp_skip(pos, end))
            return IVT_EPROTO;
    return 0;
}

int gossip_wire_hdr_decode(const uint8_t **pos, const uint8_t *end, struct gossip_hdr *h)
{
    uint32_t n;
    if (ivt_mp_read_array(pos, end, &n) || n < FIELDS_HDR)
        return IVT_EPROTO;
    if (read_id(pos, end, &h->id) || read_u32(pos, end, &h->gen) ||
        ivt_mp_read_uint(pos, end, &h->counter))
        return IVT_EPROTO;
    return skip_rest(pos, end, n, FIELDS_HDR);
}

int gossip_wire_addr_decode(const uint8_t **pos, const uint8_t *end, struct gossip_addr *a)
{
    const uint8_t *b;
    uint32_t n;
    if (ivt_mp_read_bin(pos, end, &b, &n) || n < ADDR_FIXED)
        return IVT_EPROTO;
    memset(a, 0, sizeof(*a));
    a->family = b[0];
    size_t want = a->family == 4 ? ADDR_V4_LEN : 16;
    if ((a->family != 0 && a->family != 4 && a->family != 6) || n != ADDR_FIXED + want)
        return IVT_EPROTO;
    a->port = (uint16_t)(b[1] << 8 | b[2]);
    memcpy(a->bytes, b + ADDR_FIXED, want);
    return 0;
}

static int read_state(const uint8_t **pos, const uint8_t *end, enum gossip_member_state *st)
{
    uint64_t v;
    if (ivt_mp_read_uint_max(pos, end, GOSSIP_STATES - 1, &v))
        return IVT_EPROTO;
    *st = (enum gossip_member_state)v;
    return 0;
}

static int read_name_meta(const uint8_t **pos, const uint8_t *end, struct gossip_wire_member *m)
{
    if (gossip_wire_addr_decode(pos, end, &m->addr) ||
        ivt_mp_read_str(pos, end, &m->name, &m->name_len) || m->name_len >= GOSSIP_NAME_MAX ||
        ivt_mp_read_bin(pos, end, &m->meta, &m->meta_len) || m->meta_len > GOSSIP_META_MAX)
        return IVT_EPROTO;
    return 0;
}

static int read_id_gen_inc(const uint8_t **pos, const uint8_t *end, struct gossip_wire_member *m)
{
    if (read_id(pos, end, &m->id) || read_u32(pos, end, &m->gen) || read_u32(pos, end, &m->inc))
        return IVT_EPROTO;
    return 0;
}

int gossip_wire_msg_decode(const uint8_t **pos, const uint8_t *end, struct gossip_msg *m)
{
    uint32_t n;
    uint64_t type;
    memset(m, 0, sizeof(*m));
    if (ivt_mp_read_array(pos, end, &n) || n < 1 || ivt_mp_read_uint(pos, end, &type))
        return IVT_EPROTO;
    uint32_t used;
    switch (type) {
    case GOSSIP_MSG_PING:
    case GOSSIP_MSG_PING_REQ:
        used = type == GOSSIP_MSG_PING ? FIELDS_PING : FIELDS_PING_REQ;
        if (n < used || read_u32(pos, end, &m->seq) || read_id(pos, end, &m->target))
            return IVT_EPROTO;
        if (type == GOSSIP_MSG_PING_REQ && gossip_wire_addr_decode(pos, end, &m->addr))
            return IVT_EPROTO;
        break;
    case GOSSIP_MSG_ACK:
    case GOSSIP_MSG_NACK:
        used = FIELDS_ACK;
        if (n < used || read_u32(pos, end, &m->seq))
            return IVT_EPROTO;
        break;
    case GOSSIP_MSG_ALIVE:
        used = FIELDS_ALIVE;
        m->m.state = GOSSIP_ALIVE;
        if (n < used || read_id_gen_inc(pos, end, &m->m) || read_name_meta(pos, end, &m->m))
            return IVT_EPROTO;
        break;
    case GOSSIP_MSG_SUSPECT:
    case GOSSIP_MSG_DEAD:
        used = FIELDS_MEMBER;
        if (n < used || read_id_gen_inc(pos, end, &m->m) || read_id(pos, end, &m->m.from))
            return IVT_EPROTO;
        if (type == GOSSIP_MSG_SUSPECT)
            m->m.state = GOSSIP_SUSPECT;
        else
            m->m.state = memcmp(m->m.from, m->m.id, GOSSIP_ID_LEN) ? GOSSIP_DEAD : GOSSIP_LEFT;
        break;
    case GOSSIP_MSG_USER:
        used = FIELDS_USER;
        if (n < used || read_id(pos, end, &m->origin) || read_u32(pos, end, &m->origin_gen) ||
            ivt_mp_read_uint(pos, end, &m->user_seq) ||
            ivt_mp_read_bin(pos, end, &m->payload, &m->payload_len) || m->payload_len == 0)
            return IVT_EPROTO;
        break;
    case GOSSIP_MSG_IHAVE:
    case GOSSIP_MSG_IWANT:
        used = FIELDS_FP;
        if (n < used || ivt_mp_read_uint(pos, end, &m->fp) || m->fp == 0)
            return IVT_EPROTO;
        break;
    default: m->type = GOSSIP_MSG_UNKNOWN; return skip_rest(pos, end, n, 1);
    }
    m->type = (enum gossip_msg_type)type;
    return skip_rest(pos, end, n, used);
}

int gossip_wire_digest_entry_decode(const uint8_t **pos, const uint8_t *end,
                                    struct gossip_wire_member *m)
{
    uint32_t n;
    memset(m, 0, sizeof(*m));
    if (ivt_mp_read_array(pos, end, &n) || n < FIELDS_DIGEST || read_id_gen_inc(pos, end, m) ||
        read_state(pos, end, &m->state))
        return IVT_EPROTO;
    return skip_rest(pos, end, n, FIELDS_DIGEST);
}

int gossip_wire_full_entry_decode(const uint8_t **pos, const uint8_t *end,
                                  struct gossip_wire_member *m)
{
    uint32_t n;
    memset(m, 0, sizeof(*m));
    if (ivt_mp_read_array(pos, end, &n) || n < FIELDS_FULL || read_id_gen_inc(pos, end, m) ||
        read_state(pos, end, &m->state) || read_name_meta(pos, end, m))
        return IVT_EPROTO;
    return skip_rest(pos, end, n, FIELDS_FULL);
}

int gossip_wire_packet_check(const uint8_t *p, size_t n)
{
    const uint8_t *pos = p, *end = p + n;
    struct gossip_hdr h;
    struct gossip_msg m;
    int count = 0;
    if (gossip_wire_hdr_decode(&pos, end, &h))
        return IVT_EPROTO;
    while (pos < end) {
        if (gossip_wire_msg_decode(&pos, end, &m))
            return IVT_EPROTO;
        count++;
    }
    return count;
}
