/*
 * tests/node/bench_node.h: the node configuration the node benchmarks
 * share (a fixed id, generation 1, one gossip key).
 */
#ifndef IVT_TESTS_NODE_BENCH_NODE_H
#define IVT_TESTS_NODE_BENCH_NODE_H

#include <string.h>

#include "node/node.h"

static inline void bench_node_config(struct node_config *cfg)
{
    node_config_defaults(cfg);
    memset(cfg->id, 1, sizeof(cfg->id));
    cfg->generation = 1;
    uint8_t key[32] = {1};
    gossip_keyring_install(&cfg->keyring, key);
}

#endif
