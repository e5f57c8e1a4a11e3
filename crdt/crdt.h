/*
 * crdt/crdt.h: what every evidence type shares: origins, entity kinds, the
 * metric counts and the keyed hash.
 *
 * An origin names one writer: a node's stable 16-byte id plus the
 * generation it took at start. A restarted node writes as a new origin, so a
 * slot is never reset in place (the riak_dt_emcntr failure). Origins compare
 * by their 20 bytes (id, then generation big-endian) wherever an order is
 * needed for canonical encodings and for ties.
 */
#ifndef IVT_CRDT_CRDT_H
#define IVT_CRDT_CRDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct crdt_origin {
    uint8_t id[16];
    uint32_t gen;
};

/* The 20 bytes an origin is on the wire: id, then generation big-endian. */
enum { CRDT_ORIGIN_BYTES = 20 };
void crdt_origin_pack(uint8_t out[CRDT_ORIGIN_BYTES], const struct crdt_origin *o);
void crdt_origin_unpack(struct crdt_origin *out, const uint8_t in[CRDT_ORIGIN_BYTES]);
/* <0, 0, >0 like memcmp over the packed bytes. */
int crdt_origin_cmp(const struct crdt_origin *a, const struct crdt_origin *b);

/* Entity kinds: the same numbers as node_entity_kind. */
enum crdt_kind {
    CRDT_KIND_IP = 0,
    CRDT_KIND_PREFIX = 1, /* /24 for v4, /48 for v6 */
    CRDT_KIND_DEVICE = 2,
    CRDT_KIND_UA = 3,
    CRDT_KIND_PUB = 4,
    CRDT_KINDS = 5
};

enum {
    /* Counter metrics per entity (requests, impressions, clicks,
     * datacenter-flagged, crawler-flagged, one spare): the node decides
     * their meaning; the store only sums them. */
    CRDT_COUNTERS = 6,
    /* Distinct-count metrics per entity (e.g. distinct UAs of an IP,
     * distinct IPs of a device or publisher, distinct devices of an IP). */
    CRDT_DISTINCTS = 3,
    /* The display key an entity keeps: the original key truncated here. */
    CRDT_KEY_MAX = 127,
    /* Bound of a decision's reason text. */
    CRDT_REASON_MAX = 127,
};

/* The keyed hash (SipHash-2-4, libsodium crypto_shorthash) under a 16-byte
 * key: what item hashes of distinct metrics should be made with. */
uint64_t crdt_siphash(const uint8_t key[16], const void *data, size_t len);

#endif
