/*
 * sim/cluster.c: a cluster of bare gossip instances over sim/net (see
 * sim/cluster.h). Node i has id (i+1, seed-derived bytes), address
 * sim_net_addr(i), name "n<i>", and every node shares one keyring.
 */
#include "sim/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"

void sim_cluster_id(const struct sim_cluster *c, uint32_t i, uint8_t id[GOSSIP_ID_LEN])
{
    uint64_t a = ivt_mix64(c->seed ^ i), b = ivt_mix64(a + i);
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
    id[0] = (uint8_t)(i >> 24);
    id[1] = (uint8_t)(i >> 16);
    id[2] = (uint8_t)(i >> 8);
    id[3] = (uint8_t)i;
}

static int node_make(struct sim_cluster *c, uint32_t i, struct gossip **out)
{
    struct gossip_config cfg = c->cfg;
    sim_cluster_id(c, i, cfg.id);
    cfg.generation = c->gen[i];
    snprintf(cfg.name, sizeof(cfg.name), "n%u", i);
    cfg.addr = sim_net_addr(i);
    struct gossip_delegate d = c->d;
    d.ctx = c->d_ctx ? c->d_ctx[i] : NULL;
    return gossip_new(out, &cfg, &c->kr, &d, ivt_mix64(c->seed + 7919u * (i + 1) + c->gen[i]),
                      sim_net_now(c->net));
}

int sim_cluster_new(struct sim_cluster **out, uint32_t n, enum gossip_profile p, uint64_t seed,
                    void (*tweak)(struct gossip_config *cfg, void *ctx), void *ctx)
{
    struct sim_cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return IVT_ENOMEM;
    c->n = n;
    c->seed = seed;
    c->g = calloc(n, sizeof(*c->g));
    c->gen = calloc(n, sizeof(*c->gen));
    if (!c->g || !c->gen || sim_net_new(&c->net, seed, 0)) {
        sim_cluster_delete(c);
        return IVT_ENOMEM;
    }
    gossip_config_profile(&c->cfg, p);
    strcpy(c->cfg.label, "sim");
    uint8_t key[GOSSIP_KEY_LEN];
    struct ivt_rng r;
    ivt_rng_seed(&r, seed ^ 0x6b6579);
    ivt_rng_bytes(&r, key, sizeof(key));
    gossip_keyring_init(&c->kr);
    gossip_keyring_install(&c->kr, key);
    if (tweak)
        tweak(&c->cfg, ctx);
    for (uint32_t i = 0; i < n; i++) {
        c->gen[i] = 1;
        int rc = node_make(c, i, &c->g[i]);
        if (rc) {
            sim_cluster_delete(c);
            return rc;
        }
        sim_net_add(c->net, &sim_net_gossip_ops, c->g[i]);
    }
    *out = c;
    return 0;
}

void sim_cluster_delete(struct sim_cluster *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; c->g && i < c->n; i++)
        gossip_delete(c->g[i]);
    sim_net_delete(c->net);
    free(c->g);
    free(c->gen);
    free(c);
}

void sim_cluster_join_all(struct sim_cluster *c, uint32_t seed)
{
    struct gossip_addr a = sim_net_addr(seed);
    ivt_ms now = sim_net_now(c->net);
    for (uint32_t i = 0; i < c->n; i++)
        if (i != seed && c->g[i])
            gossip_join(c->g[i], &a, 1, now);
    for (uint32_t i = 0; i < c->n; i++)
        if (c->g[i])
            sim_net_poke(c->net, i);
}

int sim_cluster_state(const struct sim_cluster *c, uint32_t viewer, uint32_t target)
{
    uint8_t id[GOSSIP_ID_LEN];
    struct gossip_member_info m;
    sim_cluster_id(c, target, id);
    if (!c->g[viewer] || gossip_member(c->g[viewer], id, &m))
        return -1;
    return (int)m.state;
}

bool sim_cluster_full(const struct sim_cluster *c)
{
    uint32_t live = 0;
    for (uint32_t i = 0; i < c->n; i++)
        live += c->g[i] != NULL;
    for (uint32_t v = 0; v < c->n; v++) {
        if (!c->g[v])
            continue;
        if (gossip_member_count(c->g[v], GOSSIP_ALIVE) != live)
            return false;
        for (uint32_t t = 0; t < c->n; t++)
            if (c->g[t] && sim_cluster_state(c, v, t) != GOSSIP_ALIVE)
                return false;
    }
    return true;
}

bool sim_cluster_state_everywhere(const struct sim_cluster *c, uint32_t target,
                                  enum gossip_member_state st)
{
    for (uint32_t v = 0; v < c->n; v++) {
        if (!c->g[v] || v == target)
            continue;
        int s = sim_cluster_state(c, v, target);
        if (s != (int)st && !(st == GOSSIP_DEAD && s == GOSSIP_LEFT))
            return false;
    }
    return true;
}

void sim_cluster_crash(struct sim_cluster *c, uint32_t i)
{
    sim_net_crash(c->net, i);
    gossip_delete(c->g[i]);
    c->g[i] = NULL;
}

int sim_cluster_restart(struct sim_cluster *c, uint32_t i, uint32_t seed)
{
    c->gen[i]++;
    int rc = node_make(c, i, &c->g[i]);
    if (rc)
        return rc;
    sim_net_restart(c->net, i, c->g[i]);
    struct gossip_addr a = sim_net_addr(seed);
    gossip_join(c->g[i], &a, 1, sim_net_now(c->net));
    sim_net_poke(c->net, i);
    return 0;
}
