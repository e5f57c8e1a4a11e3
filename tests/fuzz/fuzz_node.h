/* tests/fuzz/fuzz_node.h: a node core that holds a known cluster key, and
 * what a peer holding that key sends it, for the fuzz targets that play a
 * compromised or buggy member (header-only: each target is one binary). */
#ifndef IVT_TESTS_FUZZ_NODE_H
#define IVT_TESTS_FUZZ_NODE_H

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "base/mp.h"
#include "gossip/envelope.h"
#include "gossip/gossip.h"
#include "gossip/wire.h"
#include "node/node.h"

enum { FUZZ_NODE_KEY_BYTE = 7 };

/* The fake peer's id. */
static const uint8_t fuzz_node_peer[GOSSIP_ID_LEN] = {0x22};

/* A node named "fuzz" at wall (its monotonic clock at 0), in kr the same
 * key and in label (64 bytes) its cluster label, for sealing what the peer
 * sends. Returns 0, or -1. */
static inline int fuzz_node_new(struct node **out, struct gossip_keyring *kr, char label[64],
                                ivt_ms wall)
{
    if (sodium_init() < 0)
        return -1;
    uint8_t key[GOSSIP_KEY_LEN];
    memset(key, FUZZ_NODE_KEY_BYTE, sizeof(key));
    gossip_keyring_init(kr);
    struct node_config cfg;
    node_config_defaults(&cfg);
    memset(cfg.id, 0x11, sizeof(cfg.id));
    cfg.generation = 1;
    strcpy(cfg.name, "fuzz");
    if (gossip_keyring_install(kr, key) || gossip_keyring_install(&cfg.keyring, key))
        return -1;
    memset(cfg.hash_key, 9, sizeof(cfg.hash_key));
    cfg.addr.port = 1;
    cfg.max_entities = 4096;
    memcpy(label, cfg.label, 64);
    return node_new(out, &cfg, 1, 0, wall) ? -1 : 0;
}

/* Seals the peer's header (generation 1, send counter) and msg as the
 * envelope of label into out. Returns the sealed length, 0 if it does not
 * fit. */
static inline size_t fuzz_node_seal(uint8_t *out, size_t cap, const struct gossip_keyring *kr,
                                    const char *label, size_t label_len, uint64_t counter,
                                    const uint8_t *msg, size_t n)
{
    static uint8_t plain[(1 << 16) + 64];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, plain, sizeof(plain));
    gossip_wire_hdr(&w, fuzz_node_peer, 1, counter);
    ivt_mpw_raw(&w, msg, n);
    if (ivt_mpw_error(&w))
        return 0;
    uint8_t nonce[GOSSIP_NONCE_LEN] = {0x22};
    for (int i = 0; i < 8; i++)
        nonce[GOSSIP_NONCE_LEN - 1 - i] = (uint8_t)(counter >> (8 * i));
    size_t sealed;
    if (gossip_seal(out, cap, &sealed, kr, label, label_len, nonce, w.data, w.len))
        return 0;
    return sealed;
}

#endif
