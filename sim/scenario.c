/*
 * sim/scenario.c: strict libconfig parsing of simulator scenarios.
 *
 * Each group is checked against the table of keys it may hold before any
 * value is read, so a misspelt knob is an error with its file and line
 * rather than a default silently used. Numbers may be written as integers
 * or floats wherever a float is meant (libconfig types them by spelling).
 * Node selections are strings ("all", "random:3", "random:10%",
 * "region:eu", "node:4", "nodes:0-9", "half", "rest") resolved by the
 * world when the fault fires, because which nodes are alive then is only
 * known then.
 */
#include "sim/scenario.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "base/err.h"
#include "gossip/envelope.h"

struct ctx {
    const char *file;
    char *err;
    size_t errcap;
    struct sim_scenario *sc;
};

static int fail(struct ctx *c, const config_setting_t *s, int code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->err && c->errcap)
        snprintf(c->err, c->errcap, "%s:%d: %s", c->file, s ? config_setting_source_line(s) : 0,
                 msg);
    return code;
}

/* Every member of group g must be named in keys (NULL-terminated). */
static int check_keys(struct ctx *c, const config_setting_t *g, const char *what,
                      const char *const *keys)
{
    if (!config_setting_is_group(g))
        return fail(c, g, IVT_EINVAL, "%s must be a group { ... }", what);
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        bool ok = false;
        for (const char *const *k = keys; *k && !ok; k++)
            ok = strcmp(*k, name) == 0;
        if (!ok)
            return fail(c, m, IVT_EINVAL, "unknown key \"%s\" in %s", name, what);
    }
    return 0;
}

static bool is_number(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}

static double number(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: return config_setting_get_int(s);
    case CONFIG_TYPE_INT64: return (double)config_setting_get_int64(s);
    default: return config_setting_get_float(s);
    }
}

/* Reads an optional number in [lo, hi]; *found tells whether it was there. */
static int get_num(struct ctx *c, const config_setting_t *g, const char *key, double lo, double hi,
                   double *out, bool *found)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (found)
        *found = s != NULL;
    if (!s)
        return 0;
    if (!is_number(s))
        return fail(c, s, IVT_EINVAL, "%s must be a number", key);
    double v = number(s);
    if (v < lo || v > hi)
        return fail(c, s, IVT_EINVAL, "%s = %g is out of range [%g, %g]", key, v, lo, hi);
    *out = v;
    return 0;
}

static int get_u32(struct ctx *c, const config_setting_t *g, const char *key, uint32_t lo,
                   uint32_t hi, uint32_t *out, bool *found)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (found)
        *found = s != NULL;
    if (!s)
        return 0;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return fail(c, s, IVT_EINVAL, "%s must be an integer", key);
    long long v = t == CONFIG_TYPE_INT ? config_setting_get_int(s) : config_setting_get_int64(s);
    if (v < lo || v > hi)
        return fail(c, s, IVT_EINVAL, "%s = %lld is out of range [%u, %u]", key, v, lo, hi);
    *out = (uint32_t)v;
    return 0;
}

static int get_bool(struct ctx *c, const config_setting_t *g, const char *key, bool *out)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return fail(c, s, IVT_EINVAL, "%s must be true or false", key);
    *out = config_setting_get_bool(s);
    return 0;
}

static int get_str(struct ctx *c, const config_setting_t *g, const char *key, char *out, size_t cap,
                   bool *found)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (found)
        *found = s != NULL;
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail(c, s, IVT_EINVAL, "%s must be a string", key);
    const char *v = config_setting_get_string(s);
    if (strlen(v) >= cap)
        return fail(c, s, IVT_EINVAL, "%s is longer than %zu bytes", key, cap - 1);
    snprintf(out, cap, "%s", v);
    return 0;
}

static int region_index(const struct sim_scenario *sc, const char *name)
{
    for (uint32_t r = 0; r < sc->net.n_regions; r++)
        if (strcmp(sc->net.regions[r].name, name) == 0)
            return (int)r;
    return -1;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_)                                                                                   \
            return rc_;                                                                            \
    } while (0)

/* ---- sim ---------------------------------------------------------------- */

/* Bounds that keep a typo from asking for a week of simulation or a
 * million nodes: the largest run we benchmark is 10,000 nodes x 10 minutes. */
enum { MAX_ISOLATED = 64 };

static int parse_sim(struct ctx *c, const config_setting_t *g)
{
    static const char *const keys[] = {"name",           "seed",   "nodes",       "duration_s",
                                       "isolated_nodes", "oracle", "join_over_s", NULL};
    struct sim_scenario *sc = c->sc;
    TRY(check_keys(c, g, "sim", keys));
    TRY(get_str(c, g, "name", sc->name, sizeof(sc->name), NULL));
    const config_setting_t *s = config_setting_get_member(g, "seed");
    if (s) {
        int t = config_setting_type(s);
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
            return fail(c, s, IVT_EINVAL, "seed must be an integer");
        sc->seed = (uint64_t)(t == CONFIG_TYPE_INT ? config_setting_get_int(s)
                                                   : config_setting_get_int64(s));
    }
    TRY(get_u32(c, g, "nodes", 1, SIM_MAX_NODES, &sc->nodes, NULL));
    double d = (double)sc->duration / IVT_MS_PER_S;
    TRY(get_num(c, g, "duration_s", 1, SIM_MAX_DURATION_S, &d, NULL));
    sc->duration = (ivt_ms)(d * IVT_MS_PER_S);
    TRY(get_u32(c, g, "isolated_nodes", 0, MAX_ISOLATED, &sc->isolated_nodes, NULL));
    TRY(get_bool(c, g, "oracle", &sc->oracle));
    double j = -1;
    bool found;
    TRY(get_num(c, g, "join_over_s", 0, SIM_MAX_DURATION_S, &j, &found));
    if (found)
        sc->join_over = (ivt_ms)(j * IVT_MS_PER_S);
    return 0;
}

/* ---- network ------------------------------------------------------------ */

static int parse_regions(struct ctx *c, const config_setting_t *l)
{
    static const char *const keys[] = {"name", "nodes", "traffic", NULL};
    struct sim_scenario *sc = c->sc;
    if (!config_setting_is_list(l))
        return fail(c, l, IVT_EINVAL, "regions must be a list ( {...}, ... )");
    int n = config_setting_length(l);
    if (n < 1 || n > SIM_MAX_REGIONS)
        return fail(c, l, IVT_EINVAL, "between 1 and %d regions", SIM_MAX_REGIONS);
    sc->net.n_regions = (uint32_t)n;
    sc->workload.n_regions = (uint32_t)n;
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
        struct sim_region *r = &sc->net.regions[i];
        TRY(check_keys(c, g, "a region", keys));
        bool found;
        TRY(get_str(c, g, "name", r->name, sizeof(r->name), &found));
        if (!found)
            return fail(c, g, IVT_EINVAL, "a region needs a name");
        for (int j = 0; j < i; j++)
            if (strcmp(sc->net.regions[j].name, r->name) == 0)
                return fail(c, g, IVT_EINVAL, "region \"%s\" is defined twice", r->name);
        r->node_share = 1;
        TRY(get_num(c, g, "nodes", 0, 1e9, &r->node_share, NULL));
        sc->workload.region_share[i] = r->node_share;
        TRY(get_num(c, g, "traffic", 0, 1e9, &sc->workload.region_share[i], NULL));
    }
    return 0;
}

static int parse_latency(struct ctx *c, const config_setting_t *s)
{
    struct sim_network *net = &c->sc->net;
    if (is_number(s)) {
        double v = number(s);
        if (v < 0 || v > 10000)
            return fail(c, s, IVT_EINVAL, "latency_ms out of range [0, 10000]");
        for (uint32_t i = 0; i < SIM_MAX_REGIONS; i++)
            for (uint32_t j = 0; j < SIM_MAX_REGIONS; j++)
                net->latency_ms[i][j] = v;
        return 0;
    }
    if (!config_setting_is_list(s) || config_setting_length(s) != (int)net->n_regions)
        return fail(c, s, IVT_EINVAL,
                    "latency_ms must be a number or a list of %u arrays (one row per region)",
                    net->n_regions);
    for (uint32_t i = 0; i < net->n_regions; i++) {
        const config_setting_t *row = config_setting_get_elem(s, i);
        if (!config_setting_is_array(row) || config_setting_length(row) != (int)net->n_regions)
            return fail(c, row, IVT_EINVAL, "latency_ms row %u must be an array of %u numbers", i,
                        net->n_regions);
        for (uint32_t j = 0; j < net->n_regions; j++) {
            const config_setting_t *v = config_setting_get_elem(row, j);
            if (!is_number(v) || number(v) < 0 || number(v) > 10000)
                return fail(c, row, IVT_EINVAL, "latency_ms[%u][%u] must be in [0, 10000]", i, j);
            net->latency_ms[i][j] = number(v);
        }
    }
    return 0;
}

/* Every directed pair from the network-wide values and the matrix. */
static void resolve_links(struct sim_network *net)
{
    for (uint32_t i = 0; i < SIM_MAX_REGIONS; i++)
        for (uint32_t j = 0; j < SIM_MAX_REGIONS; j++) {
            net->links[i][j] = net->all;
            net->links[i][j].latency_ms = net->latency_ms[i][j];
        }
}

/* The keys a link shares with the network-wide defaults. */
static int get_link_keys(struct ctx *c, const config_setting_t *g, struct sim_link_config *l)
{
    TRY(get_num(c, g, "jitter_ms", 0, 10000, &l->jitter_ms, NULL));
    TRY(get_num(c, g, "loss", 0, 1, &l->loss, NULL));
    TRY(get_num(c, g, "duplicate", 0, 1, &l->duplicate, NULL));
    TRY(get_num(c, g, "reorder", 0, 1, &l->reorder, NULL));
    TRY(get_num(c, g, "reorder_ms", 0, 10000, &l->reorder_ms, NULL));
    return 0;
}

/* Reads a ["region", "region"] pair of region names into indices. */
static int get_between(struct ctx *c, const config_setting_t *g, int out[2], bool *found)
{
    const config_setting_t *s = config_setting_get_member(g, "between");
    *found = s != NULL;
    if (!s)
        return 0;
    if (!config_setting_is_array(s) || config_setting_length(s) != 2 ||
        config_setting_type(config_setting_get_elem(s, 0)) != CONFIG_TYPE_STRING)
        return fail(c, s, IVT_EINVAL, "between must be [\"region\", \"region\"]");
    for (unsigned i = 0; i < 2; i++) {
        const char *name = config_setting_get_string(config_setting_get_elem(s, i));
        out[i] = region_index(c->sc, name);
        if (out[i] < 0)
            return fail(c, s, IVT_EINVAL, "no region named \"%s\" in network.regions", name);
    }
    return 0;
}

/* One override of the links list: the keys it names replace the pair's
 * values, both ways unless oneway (then from between[0] to between[1]). */
static int parse_link(struct ctx *c, const config_setting_t *g)
{
    static const char *const keys[] = {"between",   "oneway",  "latency_ms", "jitter_ms", "loss",
                                       "duplicate", "reorder", "reorder_ms", NULL};
    struct sim_network *net = &c->sc->net;
    TRY(check_keys(c, g, "a link", keys));
    int r[2];
    bool found, oneway = false;
    TRY(get_between(c, g, r, &found));
    if (!found)
        return fail(c, g, IVT_EINVAL, "a link needs between = [\"region\", \"region\"]");
    TRY(get_bool(c, g, "oneway", &oneway));
    for (int dir = 0; dir < (oneway ? 1 : 2); dir++) {
        struct sim_link_config *l = &net->links[r[dir]][r[!dir]];
        TRY(get_num(c, g, "latency_ms", 0, 10000, &l->latency_ms, NULL));
        TRY(get_link_keys(c, g, l));
    }
    return 0;
}

static int parse_network(struct ctx *c, const config_setting_t *g)
{
    static const char *const keys[] = {"regions",        "latency_ms",  "jitter_ms", "loss",
                                       "gilbert",        "duplicate",   "reorder",   "reorder_ms",
                                       "bandwidth_kbps", "packet_size", "links",     NULL};
    static const char *const gkeys[] = {"p", "r", "loss_bad", "loss_good", NULL};
    struct sim_network *net = &c->sc->net;
    TRY(check_keys(c, g, "network", keys));
    const config_setting_t *s = config_setting_get_member(g, "regions");
    if (s)
        TRY(parse_regions(c, s));
    s = config_setting_get_member(g, "latency_ms");
    if (s)
        TRY(parse_latency(c, s));
    TRY(get_link_keys(c, g, &net->all));
    TRY(get_num(c, g, "bandwidth_kbps", 0, 1e9, &net->bandwidth_kbps, NULL));
    TRY(get_u32(c, g, "packet_size", 64, 65507, &net->packet_size, NULL));
    s = config_setting_get_member(g, "gilbert");
    if (s) {
        TRY(check_keys(c, s, "network.gilbert", gkeys));
        net->gilbert.on = true;
        net->gilbert.loss_bad = 1;
        TRY(get_num(c, s, "p", 0, 1, &net->gilbert.p, NULL));
        TRY(get_num(c, s, "r", 0, 1, &net->gilbert.r, NULL));
        TRY(get_num(c, s, "loss_bad", 0, 1, &net->gilbert.loss_bad, NULL));
        TRY(get_num(c, s, "loss_good", 0, 1, &net->gilbert.loss_good, NULL));
        if (net->gilbert.r <= 0)
            return fail(c, s, IVT_EINVAL, "gilbert.r must be > 0 (bursts must end)");
    }
    resolve_links(net);
    s = config_setting_get_member(g, "links");
    if (s) {
        if (!config_setting_is_list(s))
            return fail(c, s, IVT_EINVAL, "links must be a list ( {...}, ... )");
        for (int i = 0; i < config_setting_length(s); i++)
            TRY(parse_link(c, config_setting_get_elem(s, (unsigned)i)));
    }
    return 0;
}

/* ---- node --------------------------------------------------------------- */

static int parse_node(struct ctx *c, const config_setting_t *g)
{
    static const char *const keys[] = {"profile",
                                       "epoch_s",
                                       "window_epochs",
                                       "max_entities",
                                       "gossip_bytes_per_s",
                                       "th_ip_requests",
                                       "th_ip_distinct_ua",
                                       "th_device_distinct_ip",
                                       "th_shared_ip_devices",
                                       "th_household_devices",
                                       "suspect_score",
                                       "bot_score",
                                       "admit_all",
                                       "member_feedback",
                                       "app_feedback",
                                       "cipher",
                                       NULL};
    struct sim_node_settings *n = &c->sc->node;
    TRY(check_keys(c, g, "node", keys));
    bool found;
    TRY(get_str(c, g, "profile", n->profile, sizeof(n->profile), &found));
    if (found && strcmp(n->profile, "lan") && strcmp(n->profile, "wan") &&
        strcmp(n->profile, "local"))
        return fail(c, config_setting_get_member(g, "profile"), IVT_EINVAL,
                    "profile must be \"lan\", \"wan\" or \"local\"");
    TRY(get_bool(c, g, "admit_all", &n->admit_all));
    double epoch_s = 60;
    TRY(get_num(c, g, "epoch_s", 1, 3600, &epoch_s, &n->set_epoch_ms));
    n->epoch_ms = (ivt_ms)(epoch_s * IVT_MS_PER_S);
    TRY(get_u32(c, g, "window_epochs", 1, 10000, &n->window_epochs, &n->set_window_epochs));
    TRY(get_u32(c, g, "max_entities", 1, 100000000, &n->max_entities, &n->set_max_entities));
    TRY(get_u32(c, g, "gossip_bytes_per_s", 0, 1u << 30, &n->gossip_bytes_per_s,
                &n->set_gossip_bytes_per_s));
    /* Unset is 0, off: the default of gossip and of ivtd. */
    TRY(get_u32(c, g, "member_feedback", 0, UINT8_MAX, &n->member_feedback, NULL));
    TRY(get_u32(c, g, "app_feedback", 0, UINT8_MAX, &n->app_feedback, NULL));
    char cipher[32];
    TRY(get_str(c, g, "cipher", cipher, sizeof(cipher), &found));
    if (found) {
        n->aead = (uint8_t)gossip_aead_parse(cipher);
        if (!n->aead)
            return fail(c, config_setting_get_member(g, "cipher"), IVT_EINVAL,
                        "cipher must be \"xchacha20-poly1305\" or \"aes-256-gcm\"");
    }
    TRY(get_u32(c, g, "th_ip_requests", 0, UINT32_MAX, &n->th_ip_requests, &n->set_th_ip_requests));
    TRY(get_u32(c, g, "th_ip_distinct_ua", 0, UINT32_MAX, &n->th_ip_distinct_ua,
                &n->set_th_ip_distinct_ua));
    TRY(get_u32(c, g, "th_device_distinct_ip", 0, UINT32_MAX, &n->th_device_distinct_ip,
                &n->set_th_device_distinct_ip));
    TRY(get_u32(c, g, "th_shared_ip_devices", 0, UINT32_MAX, &n->th_shared_ip_devices,
                &n->set_th_shared_ip_devices));
    TRY(get_u32(c, g, "th_household_devices", 1, UINT32_MAX, &n->th_household_devices,
                &n->set_th_household_devices));
    uint32_t v;
    TRY(get_u32(c, g, "suspect_score", 1, 100, &v, &n->set_suspect_score));
    if (n->set_suspect_score)
        n->suspect_score = (uint8_t)v;
    TRY(get_u32(c, g, "bot_score", 1, 100, &v, &n->set_bot_score));
    if (n->set_bot_score)
        n->bot_score = (uint8_t)v;
    return 0;
}

/* ---- workload ----------------------------------------------------------- */

static int parse_actor(struct ctx *c, const config_setting_t *g, struct sim_actor_config *a)
{
    static const char *const keys[] = {
        "kind",   "name",   "count",       "rate_per_min",     "ips",  "rotate", "ua_pool",
        "spread", "region", "click_share", "impression_share", "asns", "pub",    NULL};
    TRY(check_keys(c, g, "an actor", keys));
    char kind[32];
    bool found;
    TRY(get_str(c, g, "kind", kind, sizeof(kind), &found));
    enum sim_actor_kind k;
    if (!found || sim_actor_kind_parse(&k, kind))
        return fail(c, g, IVT_EINVAL,
                    "actor kind must be one of human, crawler, scraper, botnet, device_farm, "
                    "residential_proxy, fraud_publisher, cgnat, corporate_proxy");
    sim_actor_defaults(a, k);
    TRY(get_str(c, g, "name", a->name, sizeof(a->name), NULL));
    TRY(get_u32(c, g, "count", 0, 100000000, &a->count, NULL));
    TRY(get_num(c, g, "rate_per_min", 0, 1e6, &a->rate_per_min, NULL));
    TRY(get_u32(c, g, "ips", 1, 100000000, &a->ips, NULL));
    TRY(get_u32(c, g, "rotate", 1, 1000000, &a->rotate, NULL));
    TRY(get_u32(c, g, "ua_pool", 1, 1000000, &a->ua_pool, NULL));
    TRY(get_bool(c, g, "spread", &a->spread));
    char region[SIM_NAME_MAX];
    TRY(get_str(c, g, "region", region, sizeof(region), &found));
    if (found) {
        a->region = region_index(c->sc, region);
        if (a->region < 0)
            return fail(c, config_setting_get_member(g, "region"), IVT_EINVAL,
                        "no region named \"%s\" in network.regions", region);
    }
    TRY(get_num(c, g, "click_share", 0, 1, &a->click_share, NULL));
    TRY(get_num(c, g, "impression_share", 0, 1, &a->impression_share, NULL));
    if (a->click_share + a->impression_share > 1)
        return fail(c, g, IVT_EINVAL, "click_share + impression_share must be at most 1");
    TRY(get_str(c, g, "pub", a->pub, sizeof(a->pub), NULL));
    const config_setting_t *s = config_setting_get_member(g, "asns");
    if (s) {
        int n = config_setting_length(s);
        if (!config_setting_is_array(s) || n < 1 || n > SIM_MAX_ASNS)
            return fail(c, s, IVT_EINVAL, "asns must be an array of 1 to %d integers",
                        SIM_MAX_ASNS);
        for (int i = 0; i < n; i++) {
            const config_setting_t *v = config_setting_get_elem(s, (unsigned)i);
            if (config_setting_type(v) != CONFIG_TYPE_INT || config_setting_get_int(v) <= 0)
                return fail(c, s, IVT_EINVAL, "asns must hold positive integers");
            a->asns[i] = (uint32_t)config_setting_get_int(v);
        }
        a->n_asns = (size_t)n;
    }
    return 0;
}

static int parse_workload(struct ctx *c, const config_setting_t *g)
{
    static const char *const keys[] = {
        "publishers",       "diurnal",      "peak_hour", "rate_scale",
        "scale_with_nodes", "start_unix_s", "actors",    NULL};
    struct sim_workload_config *w = &c->sc->workload;
    TRY(check_keys(c, g, "workload", keys));
    TRY(get_u32(c, g, "publishers", 1, 1000000, &w->publishers, NULL));
    TRY(get_num(c, g, "diurnal", 0, 1, &w->diurnal, NULL));
    TRY(get_num(c, g, "peak_hour", 0, 24, &w->peak_hour, NULL));
    TRY(get_num(c, g, "rate_scale", 0, 1e6, &w->rate_scale, NULL));
    TRY(get_bool(c, g, "scale_with_nodes", &c->sc->workload_scale_with_nodes));
    double start = (double)w->start_wall / IVT_MS_PER_S;
    TRY(get_num(c, g, "start_unix_s", 0, 1e11, &start, NULL));
    w->start_wall = (ivt_ms)(start * IVT_MS_PER_S);
    const config_setting_t *l = config_setting_get_member(g, "actors");
    if (!l)
        return 0;
    if (!config_setting_is_list(l))
        return fail(c, l, IVT_EINVAL, "actors must be a list ( {...}, ... )");
    int n = config_setting_length(l);
    if (n > SIM_MAX_ACTORS)
        return fail(c, l, IVT_EINVAL, "at most %d actors", SIM_MAX_ACTORS);
    for (int i = 0; i < n; i++)
        TRY(parse_actor(c, config_setting_get_elem(l, (unsigned)i), &w->actors[i]));
    w->n_actors = (size_t)n;
    return 0;
}

/* ---- faults ------------------------------------------------------------- */

static const char *const fault_names[SIM_FAULT_KINDS] = {
    "crash", "pause", "partition", "leave", "churn", "clock", "loss",
};

const char *sim_fault_kind_name(enum sim_fault_kind k)
{
    return (unsigned)k < SIM_FAULT_KINDS ? fault_names[k] : "?";
}

static int parse_sel(struct ctx *c, const config_setting_t *s, struct sim_sel *out)
{
    const char *v =
        config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
    memset(out, 0, sizeof(*out));
    if (!v)
        return fail(c, s, IVT_EINVAL, "a node selection is a string");
    char *end;
    if (strcmp(v, "all") == 0) {
        out->kind = SIM_SEL_ALL;
    } else if (strcmp(v, "rest") == 0) {
        out->kind = SIM_SEL_REST;
    } else if (strcmp(v, "half") == 0) {
        out->kind = SIM_SEL_HALF;
    } else if (strncmp(v, "random:", 7) == 0) {
        double x = strtod(v + 7, &end);
        if (end == v + 7 || x < 0)
            goto bad;
        if (*end == '%' && end[1] == 0 && x <= 100) {
            out->kind = SIM_SEL_PERCENT;
            out->percent = x;
        } else if (*end == 0 && x == (uint32_t)x) {
            out->kind = SIM_SEL_COUNT;
            out->a = (uint32_t)x;
        } else {
            goto bad;
        }
    } else if (strncmp(v, "region:", 7) == 0) {
        int r = region_index(c->sc, v + 7);
        if (r < 0)
            return fail(c, s, IVT_EINVAL, "no region named \"%s\"", v + 7);
        out->kind = SIM_SEL_REGION;
        out->a = (uint32_t)r;
    } else if (strncmp(v, "node:", 5) == 0) {
        unsigned long x = strtoul(v + 5, &end, 10);
        if (end == v + 5 || *end)
            goto bad;
        out->kind = SIM_SEL_RANGE;
        out->a = out->b = (uint32_t)x;
    } else if (strncmp(v, "nodes:", 6) == 0) {
        unsigned long a = strtoul(v + 6, &end, 10);
        if (end == v + 6 || *end != '-')
            goto bad;
        const char *p = end + 1;
        unsigned long b = strtoul(p, &end, 10);
        if (end == p || *end || b < a)
            goto bad;
        out->kind = SIM_SEL_RANGE;
        out->a = (uint32_t)a;
        out->b = (uint32_t)b;
    } else {
        goto bad;
    }
    return 0;
bad:
    return fail(c, s, IVT_EINVAL,
                "bad node selection \"%s\" (all, half, rest, random:N, random:P%%, region:NAME, "
                "node:I, nodes:A-B)",
                v);
}

static int get_pair(struct ctx *c, const config_setting_t *g, const char *key, double *lo,
                    double *hi)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (!s)
        return 0;
    if (is_number(s)) {
        *lo = *hi = number(s);
        return 0;
    }
    if (!config_setting_is_array(s) || config_setting_length(s) != 2 ||
        !is_number(config_setting_get_elem(s, 0)) || !is_number(config_setting_get_elem(s, 1)))
        return fail(c, s, IVT_EINVAL, "%s must be a number or [min, max]", key);
    *lo = number(config_setting_get_elem(s, 0));
    *hi = number(config_setting_get_elem(s, 1));
    if (*hi < *lo)
        return fail(c, s, IVT_EINVAL, "%s: max below min", key);
    return 0;
}

static int parse_fault(struct ctx *c, const config_setting_t *g, struct sim_fault *f)
{
    static const char *const keys[] = {"kind",      "at_s",      "for_s",         "restart_after_s",
                                       "nodes",     "other",     "oneway",        "from_snapshot",
                                       "offset_ms", "drift_ppm", "joins_per_min", "leaves_per_min",
                                       "loss",      "between",   "excused",       NULL};
    TRY(check_keys(c, g, "a fault", keys));
    memset(f, 0, sizeof(*f));
    char kind[32];
    bool found;
    TRY(get_str(c, g, "kind", kind, sizeof(kind), &found));
    int k = -1;
    for (int i = 0; found && i < SIM_FAULT_KINDS; i++)
        if (strcmp(kind, fault_names[i]) == 0)
            k = i;
    if (k < 0)
        return fail(c, g, IVT_EINVAL,
                    "fault kind must be one of crash, pause, partition, leave, churn, clock, loss");
    f->kind = (enum sim_fault_kind)k;
    double at = 0, dur = 0, restart = 0;
    TRY(get_num(c, g, "at_s", 0, SIM_MAX_DURATION_S, &at, &found));
    if (!found)
        return fail(c, g, IVT_EINVAL, "a fault needs at_s");
    f->at = (ivt_ms)(at * IVT_MS_PER_S);
    TRY(get_num(c, g, "for_s", 0, SIM_MAX_DURATION_S, &dur, &found));
    bool need_for = f->kind == SIM_FAULT_PAUSE || f->kind == SIM_FAULT_PARTITION ||
                    f->kind == SIM_FAULT_CHURN || f->kind == SIM_FAULT_LOSS;
    if (need_for && !found)
        return fail(c, g, IVT_EINVAL, "a %s fault needs for_s", kind);
    if (!need_for && found)
        return fail(c, config_setting_get_member(g, "for_s"), IVT_EINVAL,
                    "for_s does not apply to a %s fault", kind);
    TRY(get_num(c, g, "restart_after_s", 0, SIM_MAX_DURATION_S, &restart, &found));
    if (found && f->kind != SIM_FAULT_CRASH)
        return fail(c, config_setting_get_member(g, "restart_after_s"), IVT_EINVAL,
                    "restart_after_s applies to crash only");
    f->duration = (ivt_ms)((f->kind == SIM_FAULT_CRASH ? restart : dur) * IVT_MS_PER_S);
    f->nodes.kind = SIM_SEL_ALL;
    f->other.kind = SIM_SEL_REST;
    const config_setting_t *s = config_setting_get_member(g, "nodes");
    if (s)
        TRY(parse_sel(c, s, &f->nodes));
    s = config_setting_get_member(g, "other");
    if (s) {
        if (f->kind != SIM_FAULT_PARTITION)
            return fail(c, s, IVT_EINVAL, "other applies to partition only");
        TRY(parse_sel(c, s, &f->other));
    }
    if (f->kind == SIM_FAULT_PARTITION && f->nodes.kind == SIM_SEL_ALL)
        f->nodes.kind = SIM_SEL_HALF;
    TRY(get_bool(c, g, "oneway", &f->oneway));
    f->excused = f->kind == SIM_FAULT_PAUSE || f->kind == SIM_FAULT_PARTITION;
    s = config_setting_get_member(g, "excused");
    if (s && !f->excused)
        return fail(c, s, IVT_EINVAL, "excused applies to pause and partition only");
    TRY(get_bool(c, g, "excused", &f->excused));
    TRY(get_bool(c, g, "from_snapshot", &f->from_snapshot));
    TRY(get_pair(c, g, "offset_ms", &f->offset_min_ms, &f->offset_max_ms));
    TRY(get_pair(c, g, "drift_ppm", &f->drift_min_ppm, &f->drift_max_ppm));
    TRY(get_num(c, g, "joins_per_min", 0, 1e6, &f->joins_per_min, NULL));
    TRY(get_num(c, g, "leaves_per_min", 0, 1e6, &f->leaves_per_min, NULL));
    TRY(get_num(c, g, "loss", 0, 1, &f->loss, NULL));
    f->between[0] = f->between[1] = -1;
    TRY(get_between(c, g, f->between, &found));
    if (found && f->kind != SIM_FAULT_LOSS)
        return fail(c, config_setting_get_member(g, "between"), IVT_EINVAL,
                    "between applies to loss only");
    return 0;
}

static int parse_faults(struct ctx *c, const config_setting_t *l)
{
    if (!config_setting_is_list(l))
        return fail(c, l, IVT_EINVAL, "faults must be a list ( {...}, ... )");
    int n = config_setting_length(l);
    if (!n)
        return 0;
    c->sc->faults = calloc((size_t)n, sizeof(*c->sc->faults));
    if (!c->sc->faults)
        return IVT_ENOMEM;
    for (int i = 0; i < n; i++) {
        TRY(parse_fault(c, config_setting_get_elem(l, (unsigned)i), &c->sc->faults[i]));
        c->sc->n_faults = (size_t)i + 1;
    }
    return 0;
}

/* ---- checks ------------------------------------------------------------- */

static int parse_checks(struct ctx *c, const config_setting_t *g)
{
    static const char *const keys[] = {"false_dead_max",
                                       "dead_everywhere_s",
                                       "converged_s",
                                       "bytes_per_node_per_s_max",
                                       "recall_min",
                                       "precision_min",
                                       "fleet_beats_isolated",
                                       "positive",
                                       "score_after_s",
                                       "recall_vs_oracle_min",
                                       NULL};
    struct sim_checks *k = &c->sc->checks;
    TRY(check_keys(c, g, "checks", keys));
    TRY(get_u32(c, g, "false_dead_max", 0, UINT32_MAX, &k->false_dead_max, &k->has_false_dead));
    TRY(get_num(c, g, "dead_everywhere_s", 0, 1e6, &k->dead_everywhere_s, &k->has_dead_everywhere));
    TRY(get_num(c, g, "converged_s", 0, 1e6, &k->converged_s, &k->has_converged));
    TRY(get_num(c, g, "bytes_per_node_per_s_max", 0, 1e12, &k->bytes_per_node_per_s_max,
                &k->has_bytes));
    TRY(get_num(c, g, "recall_min", 0, 1, &k->recall_min, &k->has_recall));
    TRY(get_num(c, g, "precision_min", 0, 1, &k->precision_min, &k->has_precision));
    TRY(get_bool(c, g, "fleet_beats_isolated", &k->fleet_beats_isolated));
    TRY(get_num(c, g, "recall_vs_oracle_min", 0, 1, &k->recall_vs_oracle_min,
                &k->has_recall_vs_oracle));
    if (k->has_recall_vs_oracle && !c->sc->oracle) /* sim is parsed before checks */
        return fail(c, config_setting_get_member(g, "recall_vs_oracle_min"), IVT_EINVAL,
                    "recall_vs_oracle_min needs sim.oracle = true (the node it compares with)");
    TRY(get_num(c, g, "score_after_s", 0, SIM_MAX_DURATION_S, &k->score_after_s, NULL));
    char pos[16];
    bool found;
    TRY(get_str(c, g, "positive", pos, sizeof(pos), &found));
    if (found) {
        if (strcmp(pos, "bot") && strcmp(pos, "suspect"))
            return fail(c, config_setting_get_member(g, "positive"), IVT_EINVAL,
                        "positive must be \"bot\" or \"suspect\"");
        k->positive_suspect = strcmp(pos, "suspect") == 0;
    }
    return 0;
}

/* ---- the file ----------------------------------------------------------- */

static void defaults(struct sim_scenario *sc)
{
    memset(sc, 0, sizeof(*sc));
    sc->seed = 1;
    sc->nodes = 10;
    sc->duration = 60 * IVT_MS_PER_S;
    sc->join_over = -1; /* the world picks: 20 ms a node, at most 30 s */
    sc->net.n_regions = 1;
    snprintf(sc->net.regions[0].name, sizeof(sc->net.regions[0].name), "dc");
    sc->net.regions[0].node_share = 1;
    for (int i = 0; i < SIM_MAX_REGIONS; i++)
        for (int j = 0; j < SIM_MAX_REGIONS; j++)
            sc->net.latency_ms[i][j] = 0.2; /* one datacenter: a fraction of a millisecond */
    sc->net.all.jitter_ms = 0.1;
    sc->net.packet_size = 1400;
    snprintf(sc->node.profile, sizeof(sc->node.profile), "lan");
    sim_workload_config_defaults(&sc->workload);
    sc->checks.score_after_s = 60;
}

static int parse_config(struct ctx *c, config_t *cfg)
{
    static const char *const keys[] = {"sim",    "network", "node", "workload",
                                       "faults", "checks",  NULL};
    const config_setting_t *root = config_root_setting(cfg);
    TRY(check_keys(c, root, "the scenario", keys));
    /* network first: actors and faults name its regions */
    const config_setting_t *s;
    if ((s = config_setting_get_member(root, "sim")))
        TRY(parse_sim(c, s));
    if ((s = config_setting_get_member(root, "network")))
        TRY(parse_network(c, s));
    else
        resolve_links(&c->sc->net);
    if ((s = config_setting_get_member(root, "node")))
        TRY(parse_node(c, s));
    if ((s = config_setting_get_member(root, "workload")))
        TRY(parse_workload(c, s));
    if ((s = config_setting_get_member(root, "faults")))
        TRY(parse_faults(c, s));
    if ((s = config_setting_get_member(root, "checks")))
        TRY(parse_checks(c, s));
    c->sc->workload.seed = c->sc->seed;
    c->sc->workload_nodes = c->sc->nodes;
    return 0;
}

static int finish(struct ctx *c, config_t *cfg, int ok)
{
    int rc;
    if (ok != CONFIG_TRUE) {
        snprintf(c->err, c->errcap, "%s:%d: %s", c->file, config_error_line(cfg),
                 config_error_text(cfg));
        rc = config_error_type(cfg) == CONFIG_ERR_FILE_IO ? IVT_ENOENT : IVT_EPROTO;
        if (rc == IVT_ENOENT)
            snprintf(c->err, c->errcap, "%s: cannot read the file", c->file);
    } else {
        rc = parse_config(c, cfg);
    }
    config_destroy(cfg);
    if (rc)
        sim_scenario_destroy(c->sc);
    return rc;
}

int sim_scenario_parse(struct sim_scenario *out, const char *text, const char *name, char *err,
                       size_t errcap)
{
    struct ctx c = {name, err, errcap, out};
    defaults(out);
    snprintf(out->path, sizeof(out->path), "%s", name);
    config_t cfg;
    config_init(&cfg);
    return finish(&c, &cfg, config_read_string(&cfg, text));
}

int sim_scenario_load(struct sim_scenario *out, const char *path, char *err, size_t errcap)
{
    struct ctx c = {path, err, errcap, out};
    defaults(out);
    snprintf(out->path, sizeof(out->path), "%s", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out->name, sizeof(out->name), "%.*s", (int)strcspn(base, "."), base);
    config_t cfg;
    config_init(&cfg);
    return finish(&c, &cfg, config_read_file(&cfg, path));
}

void sim_scenario_destroy(struct sim_scenario *sc)
{
    free(sc->faults);
    sc->faults = NULL;
    sc->n_faults = 0;
}

ivt_ms sim_scenario_last_heal(const struct sim_scenario *sc)
{
    ivt_ms last = 0;
    for (size_t i = 0; i < sc->n_faults; i++) {
        const struct sim_fault *f = &sc->faults[i];
        ivt_ms end = f->at + (f->kind == SIM_FAULT_CLOCK ? 0 : f->duration);
        if (end > last)
            last = end;
    }
    return last;
}
