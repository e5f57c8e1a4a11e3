/* libFuzzer target: gossiped payloads from a peer that holds the cluster
 * key (a compromised or buggy node) must be merged or refused by the node
 * core without a crash, a leak or a hang: evidence deltas, decisions, key
 * operations, types from a newer version, and bytes that are none of
 * these. The input is a sequence of payloads, each a 2-byte big-endian
 * length and the payload ([type, fields ...], as node/core.c publishes
 * them); the target wraps each in a USER message from the peer, puts the
 * header in front, seals it with the cluster key and hands the datagram to
 * node_receive, ticking the node between datagrams. A length with its top
 * bit set puts the next payload in the same datagram (one that does not
 * fit is dropped): the node merges a datagram's deltas as one batch. Every
 * other datagram is preceded by a `top` query, so the merge also runs
 * with the node's cache of aggregates filled (the path that drops the
 * entries a merge touched). The node's wall clock is the seed corpus's epoch
 * (tests/fuzz/corpus/fuzz_node_datagram: deltas and decisions written by a
 * store and a decision map of the node's own parameters). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    PAYLOADS_MAX = 24, /* per input: more than the node merges in one batch (PEND_MAX) */
    PAYLOAD_MAX = 1024 /* a USER message and its header fit the default 1,200-byte datagram */
};

static struct node *node;
static struct gossip_keyring kr;
static char label[64];
static uint64_t counter, seq; /* the fake peer's: never repeat across inputs */
static ivt_ms now;
/* Epoch 29,000,000 of 60 s: the seed corpus's. */
static const ivt_ms WALL0 = (ivt_ms)29000000 * 60000;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t msg[GOSSIP_PACKET_MAX], sealed[GOSSIP_PACKET_MAX];
    static struct node_top_row rows[8];
    if (!node && fuzz_node_new(&node, &kr, label, WALL0))
        abort();
    const struct gossip_addr from = {.family = 4, .port = 2, .bytes = {127, 0, 0, 2}};
    size_t used = 0; /* bytes of USER messages in msg, waiting for their datagram */
    for (int i = 0; i < PAYLOADS_MAX && size >= 2; i++) {
        bool shares = data[0] & 0x80;
        size_t n = (size_t)(data[0] & 0x7f) << 8 | data[1];
        data += 2;
        size -= 2;
        if (n > size)
            n = size;
        if (n > PAYLOAD_MAX)
            n = PAYLOAD_MAX;
        struct ivt_mpw w;
        ivt_mpw_init_fixed(&w, msg + used, sizeof(msg) - used);
        gossip_wire_user(&w, fuzz_node_peer, 1, ++seq, data, n);
        data += n;
        size -= n;
        if (!ivt_mpw_error(&w))
            used += w.len;
        /* A datagram of several deltas is merged as one batch: the next
         * payload joins this one's datagram (dropped if it does not fit). */
        if (shares && i + 1 < PAYLOADS_MAX && size >= 2)
            continue;
        if (!used)
            continue;
        size_t len =
            fuzz_node_seal(sealed, sizeof(sealed), &kr, label, strlen(label), ++counter, msg, used);
        used = 0;
        if (i % 2)
            node_top(node, rows, 8, -1, WALL0 + now);
        if (len)
            node_receive(node, &from, sealed, len, now, WALL0 + now);
        now += 10;
        node_tick(node, now, WALL0 + now);
    }
    return 0;
}
