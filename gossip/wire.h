/*
 * gossip/wire.h: the plaintext codec of gossip datagrams and push-pull
 * frames (what gossip_seal() seals and gossip_open() returns). Pure: no
 * state, no allocation; decoders return views into the input.
 *
 * A datagram's plaintext is a header followed by messages, each a msgpack
 * array whose first element is its type:
 *
 *   +----------------------------------------------+
 *   | [ sender id bin16, generation, counter ]     |  header (replay window key)
 *   +----------------------------------------------+
 *   | [ type, field, ... ]                         |  message 1 (ping, ack, ...)
 *   | [ type, field, ... ]                         |  message 2 (piggyback) ...
 *   +----------------------------------------------+
 *
 *   PING     [0, seq, target id]              are you target? ack to the source
 *   PING_REQ [1, seq, target id, target addr] probe target for me, nack if silent
 *   ACK      [2, seq]
 *   NACK     [3, seq]                          helper heard nothing from the target
 *   ALIVE    [4, id, gen, inc, addr, name, meta]
 *   SUSPECT  [5, id, gen, inc, from id]
 *   DEAD     [6, id, gen, inc, from id]        from == id: a graceful leave
 *   USER     [7, origin id, origin gen, seq, payload bin]
 *   IHAVE    [8, fp]      I hold the payload whose fingerprint is fp
 *   IWANT    [9, fp]      send me that payload (answered with its USER)
 *
 *   fp = the payload's fingerprint, a 64-bit mix of (origin id, origin
 *        gen, seq), never 0 (gossip.c, fingerprint()).
 *
 *   addr = bin(3 + n): family(1) | port(2, big-endian) | bytes(n), n = 4
 *          for IPv4, 16 otherwise.
 *
 * Unknown message types and extra trailing fields are skipped, not
 * rejected, so a later version can append types and fields (memberlist's
 * message ids are append-only for the same reason).
 */
#ifndef IVT_GOSSIP_WIRE_H
#define IVT_GOSSIP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/gossip.h"

struct ivt_mpw;

enum gossip_msg_type {
    GOSSIP_MSG_PING = 0,
    GOSSIP_MSG_PING_REQ = 1,
    GOSSIP_MSG_ACK = 2,
    GOSSIP_MSG_NACK = 3,
    GOSSIP_MSG_ALIVE = 4,
    GOSSIP_MSG_SUSPECT = 5,
    GOSSIP_MSG_DEAD = 6,
    GOSSIP_MSG_USER = 7,
    GOSSIP_MSG_IHAVE = 8,
    GOSSIP_MSG_IWANT = 9,
    /* push-pull frames */
    GOSSIP_MSG_PP_REQ = 16,
    GOSSIP_MSG_PP_RESP = 17,
    GOSSIP_MSG_PP_FIN = 18,
    GOSSIP_MSG_PP_END = 19,
    GOSSIP_MSG_PP_DIFF = 20, /* more of an app diff (pushpull.c) */
    GOSSIP_MSG_UNKNOWN = 255 /* decoded and skipped */
};

enum {
    GOSSIP_ADDR_WIRE_MAX = 3 + 16,
    /* Largest encoded ALIVE (the biggest membership message): array, type,
     * bin16 id, two uint32, addr, name and meta with their headers. */
    GOSSIP_MEMBER_MSG_MAX =
        1 + 1 + 18 + 5 + 5 + 2 + GOSSIP_ADDR_WIRE_MAX + 2 + GOSSIP_NAME_MAX + 2 + GOSSIP_META_MAX,
    /* Largest push-pull entries: array, bin16 id, two uint32, state, and
     * for a full entry the ALIVE's addr, name and meta. */
    GOSSIP_DIGEST_ENTRY_MAX = 1 + 18 + 5 + 5 + 1,
    GOSSIP_FULL_ENTRY_MAX = GOSSIP_DIGEST_ENTRY_MAX + 2 + GOSSIP_ADDR_WIRE_MAX + 2 +
                            GOSSIP_NAME_MAX + 2 + GOSSIP_META_MAX,
    /* Largest header: array, bin16, uint32, uint64. */
    GOSSIP_HDR_MAX = 1 + 18 + 5 + 9,
    /* USER without its payload: array, type, bin16, uint32, uint64, bin32 header. */
    GOSSIP_USER_OVERHEAD = 1 + 1 + 18 + 5 + 9 + 5,
    /* IHAVE or IWANT: array, type, uint64. */
    GOSSIP_FP_MSG_MAX = 1 + 1 + 9,
    /* Largest probe message (PING_REQ): array, type, seq, bin16, addr. */
    GOSSIP_PROBE_MSG_MAX = 1 + 1 + 5 + 18 + 2 + GOSSIP_ADDR_WIRE_MAX
};

struct gossip_hdr {
    const uint8_t *id; /* GOSSIP_ID_LEN bytes */
    uint32_t gen;
    uint64_t counter;
};

/* One member as push-pull and ALIVE/SUSPECT/DEAD carry it (views). */
struct gossip_wire_member {
    const uint8_t *id;
    uint32_t gen, inc;
    enum gossip_member_state state;
    const uint8_t *from; /* SUSPECT/DEAD accuser (NULL in push-pull) */
    struct gossip_addr addr;
    const char *name;
    uint32_t name_len;
    const uint8_t *meta;
    uint32_t meta_len;
};

struct gossip_msg {
    enum gossip_msg_type type;
    uint32_t seq;
    const uint8_t *target;       /* PING, PING_REQ */
    struct gossip_addr addr;     /* PING_REQ target address */
    struct gossip_wire_member m; /* ALIVE, SUSPECT, DEAD */
    const uint8_t *origin;       /* USER */
    uint32_t origin_gen;
    uint64_t user_seq;
    const uint8_t *payload;
    uint32_t payload_len;
    uint64_t fp; /* IHAVE, IWANT */
};

void gossip_wire_hdr(struct ivt_mpw *w, const uint8_t *id, uint32_t gen, uint64_t counter);
void gossip_wire_addr(struct ivt_mpw *w, const struct gossip_addr *a);
void gossip_wire_ping(struct ivt_mpw *w, uint32_t seq, const uint8_t *target);
void gossip_wire_ping_req(struct ivt_mpw *w, uint32_t seq, const uint8_t *target,
                          const struct gossip_addr *addr);
void gossip_wire_ack(struct ivt_mpw *w, enum gossip_msg_type type, uint32_t seq);
/* ALIVE, SUSPECT, DEAD or LEFT (a DEAD from the member itself) by m->state. */
void gossip_wire_member_msg(struct ivt_mpw *w, const struct gossip_wire_member *m);
/* IHAVE or IWANT (type) of the payload with fingerprint fp. */
void gossip_wire_fp(struct ivt_mpw *w, enum gossip_msg_type type, uint64_t fp);
void gossip_wire_user(struct ivt_mpw *w, const uint8_t *origin, uint32_t gen, uint64_t seq,
                      const uint8_t *p, size_t n);
/* Push-pull: the digest entry [id, gen, inc, state] and the full entry
 * [id, gen, inc, state, addr, name, meta]. */
void gossip_wire_digest_entry(struct ivt_mpw *w, const struct gossip_wire_member *m);
void gossip_wire_full_entry(struct ivt_mpw *w, const struct gossip_wire_member *m);

/* Each decoder returns 0 and advances *pos, or IVT_EPROTO (leaves *pos
 * unspecified: the caller drops the whole input). */
int gossip_wire_hdr_decode(const uint8_t **pos, const uint8_t *end, struct gossip_hdr *h);
int gossip_wire_addr_decode(const uint8_t **pos, const uint8_t *end, struct gossip_addr *a);
int gossip_wire_msg_decode(const uint8_t **pos, const uint8_t *end, struct gossip_msg *m);
int gossip_wire_digest_entry_decode(const uint8_t **pos, const uint8_t *end,
                                    struct gossip_wire_member *m);
int gossip_wire_full_entry_decode(const uint8_t **pos, const uint8_t *end,
                                  struct gossip_wire_member *m);

/* Decodes a whole datagram plaintext (header and every message) without
 * acting on it: what the fuzzer and gossip_receive's first pass use.
 * Returns the number of messages, or IVT_EPROTO. */
int gossip_wire_packet_check(const uint8_t *p, size_t n);

#endif
