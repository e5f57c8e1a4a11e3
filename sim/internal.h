/*
 * sim/internal.h: what the world asks of the core it hosts.
 *
 * Two cores plug in: the node core (node/node.h, sim/host_node.c): gossip,
 * evidence and detector, what ivtd runs; and a bare gossip instance
 * (membership only, in sim/world.c) for runs and benchmarks of the
 * membership protocol alone. The world never knows which one it drives.
 */
#ifndef IVT_SIM_INTERNAL_H
#define IVT_SIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "gossip/gossip.h"
#include "sim/scenario.h"
#include "sim/workload.h"

struct ivt_mpw;
struct node_rules;

/* Everything one core instance is created from. */
struct sim_core_spec {
    uint8_t id[GOSSIP_ID_LEN];
    uint32_t generation;
    char name[GOSSIP_NAME_MAX];
    struct gossip_addr addr;
    uint8_t key[32];
    size_t packet_size;
    const struct sim_node_settings *settings;
    const struct node_rules *rules;
    uint64_t seed;
    ivt_ms now, wall;
};

/* What a scored event came to. */
struct sim_verdict {
    uint8_t score;
    uint8_t verdict; /* 0 ok, 1 suspect, 2 bot (node_verdict values) */
};

struct sim_core_ops {
    const char *name;
    bool detects; /* score and lookup are meaningful */
    int (*create)(void **out, const struct sim_core_spec *spec);
    void (*destroy)(void *c);
    struct gossip *(*gossip)(void *c);
    int (*receive)(void *c, const struct gossip_addr *from, const uint8_t *p, size_t n, ivt_ms now,
                   ivt_ms wall);
    int (*tick)(void *c, ivt_ms now, ivt_ms wall);
    ivt_ms (*deadline)(void *c);
    size_t (*outbox)(void *c, struct gossip_packet *out, size_t max);
    int (*join)(void *c, const struct gossip_addr *seeds, size_t n, ivt_ms now);
    int (*leave)(void *c, ivt_ms now);
    /* detection (NULL when !detects) */
    int (*score)(void *c, struct sim_verdict *out, const struct sim_event *ev, ivt_ms now,
                 ivt_ms wall);
    /* the fleet-wide request count of an IP in this node's evidence */
    double (*ip_requests)(void *c, uint32_t ip, ivt_ms wall);
    int (*snapshot)(void *c, struct ivt_mpw *out, ivt_ms wall);
    int (*restore)(void *c, const uint8_t *p, size_t n, ivt_ms wall);
    /* optional: sim_net_ops.warm */
    void (*warm)(void *c, int stage);
};

/* Membership only: bare gossip instances (sim/world.c). */
extern const struct sim_core_ops sim_core_gossip;
/* The node core (sim/host_node.c). */
extern const struct sim_core_ops sim_core_node;

#endif
