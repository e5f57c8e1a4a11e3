/*
 * sim/host_node.c: the node core (node/node.h) as the world's core: the
 * exact gossip, evidence and detector code ivtd runs, configured from the
 * scenario's node settings the way ivtd configures it from its file.
 */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "node/detect.h"
#include "node/node.h"
#include "sim/internal.h"

static enum node_profile profile_of(const char *p)
{
    return strcmp(p, "wan") == 0     ? NODE_PROFILE_WAN
           : strcmp(p, "local") == 0 ? NODE_PROFILE_LOCAL
                                     : NODE_PROFILE_LAN;
}

static int n_create(void **out, const struct sim_core_spec *spec)
{
    const struct sim_node_settings *s = spec->settings;
    struct node_config cfg;
    node_config_defaults(&cfg);
    memcpy(cfg.id, spec->id, sizeof(cfg.id));
    cfg.generation = spec->generation;
    snprintf(cfg.name, sizeof(cfg.name), "%s", spec->name);
    snprintf(cfg.label, sizeof(cfg.label), "ivtsim");
    cfg.profile = profile_of(s->profile);
    gossip_keyring_init(&cfg.keyring);
    int rc = gossip_keyring_install(&cfg.keyring, spec->key);
    if (rc)
        return rc;
    cfg.addr = spec->addr;
    /* every node of a cluster shares the evidence hash key */
    memcpy(cfg.hash_key, spec->key + 16, sizeof(cfg.hash_key));
    cfg.packet_size = spec->packet_size;
    if (s->set_epoch_ms)
        cfg.epoch_ms = s->epoch_ms;
    if (s->set_window_epochs)
        cfg.window_epochs = s->window_epochs;
    if (s->set_max_entities)
        cfg.max_entities = s->max_entities;
    if (s->set_gossip_bytes_per_s)
        cfg.gossip_bytes_per_s = s->gossip_bytes_per_s;
    cfg.admit_all = s->admit_all;
    cfg.aead = s->aead;
    /* The node's own gossip knobs, with the scenario's feedback. */
    struct gossip_config gc;
    node_gossip_defaults(&gc, cfg.profile);
    gc.member_feedback = s->member_feedback;
    gc.app_feedback = s->app_feedback;
    cfg.gossip = &gc;
    struct node_thresholds th;
    node_thresholds_defaults(&th);
    if (s->set_th_ip_requests)
        th.th_ip_requests = s->th_ip_requests;
    if (s->set_th_ip_distinct_ua)
        th.th_ip_distinct_ua = s->th_ip_distinct_ua;
    if (s->set_th_device_distinct_ip)
        th.th_device_distinct_ip = s->th_device_distinct_ip;
    if (s->set_th_shared_ip_devices)
        th.th_shared_ip_devices = s->th_shared_ip_devices;
    if (s->set_th_household_devices)
        th.th_household_devices = s->th_household_devices;
    if (s->set_suspect_score)
        th.suspect_score = s->suspect_score;
    if (s->set_bot_score)
        th.bot_score = s->bot_score;
    cfg.thresholds = &th;
    cfg.rules = spec->rules;
    rc = node_new((struct node **)out, &cfg, spec->seed, spec->now, spec->wall);
    gossip_keyring_destroy(&cfg.keyring);
    return rc;
}

static void n_destroy(void *c)
{
    node_delete(c);
}
static struct gossip *n_gossip(void *c)
{
    return node_gossip(c);
}
static int n_receive(void *c, const struct gossip_addr *from, const uint8_t *p, size_t n,
                     ivt_ms now, ivt_ms wall)
{
    return node_receive(c, from, p, n, now, wall);
}
static int n_tick(void *c, ivt_ms now, ivt_ms wall)
{
    return node_tick(c, now, wall);
}
static ivt_ms n_deadline(void *c)
{
    return node_next_deadline(c);
}
static size_t n_outbox(void *c, struct gossip_packet *out, size_t max)
{
    return node_outbox(c, out, max);
}
static int n_join(void *c, const struct gossip_addr *seeds, size_t n, ivt_ms now)
{
    return node_join(c, seeds, n, now);
}
static int n_leave(void *c, ivt_ms now)
{
    return node_leave(c, now);
}

static void to_node_event(struct node_event *ne, const struct sim_event *ev, ivt_ms wall)
{
    memset(ne, 0, sizeof(*ne));
    ne->ts = wall;
    ne->ip.family = 4;
    ne->ip.bytes[0] = (uint8_t)(ev->ip >> 24);
    ne->ip.bytes[1] = (uint8_t)(ev->ip >> 16);
    ne->ip.bytes[2] = (uint8_t)(ev->ip >> 8);
    ne->ip.bytes[3] = (uint8_t)ev->ip;
    ne->ua = ev->ua;
    ne->ua_len = ev->ua_len;
    ne->device = ev->device_len ? ev->device : NULL;
    ne->device_len = ev->device_len;
    ne->pub = ev->pub;
    ne->pub_len = ev->pub_len;
    ne->kind = (enum node_event_kind)ev->kind;
    ne->asn = ev->asn;
}

static int n_score(void *c, struct sim_verdict *out, const struct sim_event *ev, ivt_ms now,
                   ivt_ms wall)
{
    struct node_event ne;
    struct node_score sc;
    to_node_event(&ne, ev, wall);
    int rc = node_score(c, &sc, &ne, true, now, wall);
    out->score = rc ? 0 : sc.score;
    out->verdict = rc ? 0 : (uint8_t)sc.verdict;
    return rc;
}

static double n_ip_requests(void *c, uint32_t ip, ivt_ms wall)
{
    /* Dotted quad by hand: looked up for every sampled address on every
     * node each simulated second, where snprintf was a tenth of the cost. */
    char key[16];
    size_t n = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        unsigned o = (ip >> shift) & 255;
        if (o >= 100)
            key[n++] = (char)('0' + o / 100);
        if (o >= 10)
            key[n++] = (char)('0' + o / 10 % 10);
        key[n++] = (char)('0' + o % 10);
        if (shift)
            key[n++] = '.';
    }
    struct node_report rep;
    if (node_lookup(c, &rep, NODE_ENT_IP, key, n, wall) || !rep.known)
        return 0;
    for (int i = 0; i < rep.n_metrics; i++)
        if (strcmp(rep.metrics[i].name, "requests") == 0)
            return rep.metrics[i].fleet;
    return 0;
}

static int n_snapshot(void *c, struct ivt_mpw *out, ivt_ms wall)
{
    return node_snapshot(c, out, wall);
}
static int n_restore(void *c, const uint8_t *p, size_t n, ivt_ms wall)
{
    return node_restore(c, p, n, wall);
}

static void n_warm(void *c, int stage)
{
    node_warm(c, stage);
}

const struct sim_core_ops sim_core_node = {
    .name = "node",
    .detects = true,
    .create = n_create,
    .destroy = n_destroy,
    .gossip = n_gossip,
    .receive = n_receive,
    .tick = n_tick,
    .deadline = n_deadline,
    .outbox = n_outbox,
    .join = n_join,
    .leave = n_leave,
    .score = n_score,
    .ip_requests = n_ip_requests,
    .snapshot = n_snapshot,
    .restore = n_restore,
    .warm = n_warm,
};
