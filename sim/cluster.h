/*
 * sim/cluster.h: N bare gossip instances on one sim/net, with the
 * vocabulary cluster specifications are written in (Tarantool's
 * swim_test_utils: join, crash, restart, "state of X in Y's view",
 * "full membership"). Used by tests/gossip and the gossip benchmarks.
 */
#ifndef IVT_SIM_CLUSTER_H
#define IVT_SIM_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "gossip/gossip.h"
#include "sim/net.h"

struct sim_cluster {
    struct sim_net *net;
    struct gossip **g; /* NULL for a crashed node */
    uint32_t n;
    uint32_t *gen;
    struct gossip_config cfg; /* template: identity is filled per node */
    struct gossip_keyring kr;
    struct gossip_delegate d; /* copied into every node; ctx per node via d_ctx */
    void **d_ctx;
    uint64_t seed;
};

/* n nodes on profile p; tweak (may be NULL) edits the template config.
 * Nodes are created but not joined. Returns 0, IVT_ENOMEM or IVT_EINVAL. */
int sim_cluster_new(struct sim_cluster **out, uint32_t n, enum gossip_profile p, uint64_t seed,
                    void (*tweak)(struct gossip_config *cfg, void *ctx), void *ctx);
void sim_cluster_delete(struct sim_cluster *c);

/* The 16-byte id of node i (derived from i and the seed). */
void sim_cluster_id(const struct sim_cluster *c, uint32_t i, uint8_t id[GOSSIP_ID_LEN]);

/* Every node except seed joins through node `seed`. */
void sim_cluster_join_all(struct sim_cluster *c, uint32_t seed);

/* The state of node `target` in node `viewer`'s table, or -1 if unknown. */
int sim_cluster_state(const struct sim_cluster *c, uint32_t viewer, uint32_t target);

/* Every live node sees every live node alive (and knows no other live one). */
bool sim_cluster_full(const struct sim_cluster *c);

/* Every live node holds target in state st (dead accepts left too when
 * st is GOSSIP_DEAD). */
bool sim_cluster_state_everywhere(const struct sim_cluster *c, uint32_t target,
                                  enum gossip_member_state st);

/* Stops node i; its gossip instance is freed. */
void sim_cluster_crash(struct sim_cluster *c, uint32_t i);
/* Brings a crashed node back with generation + 1 and joins it through seed. */
int sim_cluster_restart(struct sim_cluster *c, uint32_t i, uint32_t seed);

#endif
