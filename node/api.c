/*
 * node/api.c: the RPC methods of ivtd, one table row each (name, handler,
 * help), over the node core. docs/protocol.md is the contract; this file
 * decodes params with the bounded cursor of base/mp.h and encodes results.
 *
 * The ad-server API (score, observe, lookup) is the request path: no
 * allocation, no logging, no system call beyond the clock read for the
 * latency histogram. The control methods (status, members, top, decide,
 * keys, ...) serve ivtctl and may allocate what they list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "crdt/lww.h"
#include "gossip/keyring.h"
#include "node/ivtd.h"
#include "node/log.h"

enum {
    OBSERVE_ERRORS_MAX = 16, /* errors listed per observe call: enough to fix a client */
    OBSERVE_CHUNK = 64,      /* events parsed, then observed as one batch */
    TOP_MAX = 1000,          /* rows of `top`: a screenful is 20, a report 1000 */
    DECISIONS_MAX = 4096,    /* live decisions listed at most */
    JOIN_MAX = GOSSIP_SEEDS_MAX
};

/* ---- params ---------------------------------------------------------------- */

static int want_params(struct ivtd_rpc_call *call, uint32_t min, uint32_t max, const char *usage)
{
    if (call->n_params < min || call->n_params > max)
        return ivtd_rpc_fail(call, IVT_EINVAL, "params: expected %s, got %u values", usage,
                             call->n_params);
    return 0;
}

static int read_str_param(struct ivtd_rpc_call *call, const uint8_t **p, const char **s,
                          uint32_t *n, const char *what)
{
    if (ivt_mp_read_str(p, call->end, s, n) != 0)
        return ivtd_rpc_fail(call, IVT_EINVAL, "%s: expected a string", what);
    return 0;
}

/* The event fields a map key can name. */
enum ev_field { EV_UNKNOWN, EV_TS, EV_ASN, EV_IP, EV_UA, EV_DEVICE, EV_PUB, EV_KIND, EV_COUNTRY };

#define LIT_EQ(p, n, lit) ((n) == sizeof(lit) - 1 && memcmp((p), (lit), sizeof(lit) - 1) == 0)

/* By length first: this runs for every key of every event, and comparing
 * against each name in turn (a strlen and a memcmp each) was 2.5% of
 * ivtd's CPU at 100,000 scores/s. */
static enum ev_field ev_field(const char *k, uint32_t n)
{
    switch (n) {
    case 2:
        return LIT_EQ(k, n, "ip")   ? EV_IP
               : LIT_EQ(k, n, "ua") ? EV_UA
               : LIT_EQ(k, n, "ts") ? EV_TS
                                    : EV_UNKNOWN;
    case 3: return LIT_EQ(k, n, "pub") ? EV_PUB : LIT_EQ(k, n, "asn") ? EV_ASN : EV_UNKNOWN;
    case 4: return LIT_EQ(k, n, "kind") ? EV_KIND : EV_UNKNOWN;
    case 6: return LIT_EQ(k, n, "device") ? EV_DEVICE : EV_UNKNOWN;
    case 7: return LIT_EQ(k, n, "country") ? EV_COUNTRY : EV_UNKNOWN;
    default: return EV_UNKNOWN;
    }
}

/*
 * An event map. Strings stay views into the request frame (the core copies
 * what it keeps). Unknown keys are errors so a client's typo is seen.
 */
static int parse_event(struct node_event *ev, const uint8_t **p, const uint8_t *end, char *msg,
                       size_t cap)
{
    uint32_t n;
    memset(ev, 0, sizeof(*ev));
    if (ivt_mp_read_map(p, end, &n) != 0) {
        snprintf(msg, cap, "event: expected a map");
        return IVT_EINVAL;
    }
    bool have_ip = false, have_ua = false, have_pub = false, have_kind = false;
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *s = NULL;
        uint32_t kl, sl = 0;
        if (ivt_mp_read_str(p, end, &k, &kl) != 0) {
            snprintf(msg, cap, "event: keys must be strings");
            return IVT_EINVAL;
        }
        enum ev_field f = ev_field(k, kl);
        uint64_t v = 0;
        int bad = 0;
        switch (f) {
        case EV_UNKNOWN:
            snprintf(msg, cap, "event: unknown key '%.*s'", (int)(kl > 32 ? 32 : kl), k);
            return IVT_EINVAL;
        case EV_TS: bad = ivt_mp_read_uint_max(p, end, INT64_MAX, &v); break;
        case EV_ASN: bad = ivt_mp_read_uint_max(p, end, UINT32_MAX, &v); break;
        default: bad = ivt_mp_read_str(p, end, &s, &sl); break;
        }
        if (bad) {
            snprintf(msg, cap, "event: '%.*s': wrong type", (int)kl, k);
            return IVT_EINVAL;
        }
        switch (f) {
        case EV_TS: ev->ts = (ivt_ms)v; break;
        case EV_ASN: ev->asn = (uint32_t)v; break;
        case EV_IP:
            if (node_ip_parse(&ev->ip, s, sl) != 0) {
                snprintf(msg, cap, "event: 'ip': not an IPv4 or IPv6 address: '%.*s'",
                         (int)(sl > 64 ? 64 : sl), s);
                return IVT_EINVAL;
            }
            have_ip = true;
            break;
        case EV_UA:
            ev->ua = s;
            ev->ua_len = sl;
            have_ua = true;
            break;
        case EV_DEVICE:
            ev->device = s;
            ev->device_len = sl;
            break;
        case EV_PUB:
            ev->pub = s;
            ev->pub_len = sl;
            have_pub = true;
            break;
        case EV_KIND:
            if (node_event_kind_parse(&ev->kind, s, sl) != 0) {
                snprintf(msg, cap,
                         "event: 'kind': expected request, impression or click, got '%.*s'",
                         (int)(sl > 32 ? 32 : sl), s);
                return IVT_EINVAL;
            }
            have_kind = true;
            break;
        case EV_COUNTRY:
            if (sl != 0 && sl != 2) {
                snprintf(msg, cap, "event: 'country': expected 2 letters");
                return IVT_EINVAL;
            }
            if (sl == 2)
                memcpy(ev->country, s, 2);
            break;
        case EV_UNKNOWN: break;
        }
    }
    const char *missing = !have_ip     ? "ip"
                          : !have_ua   ? "ua"
                          : !have_pub  ? "pub"
                          : !have_kind ? "kind"
                                       : NULL;
    if (missing) {
        snprintf(msg, cap, "event: missing key '%s'", missing);
        return IVT_EINVAL;
    }
    return 0;
}

static int read_kind_key(struct ivtd_rpc_call *call, const uint8_t **p, enum node_entity_kind *kind,
                         const char **key, uint32_t *key_len)
{
    const char *s;
    uint32_t sl;
    int rc = read_str_param(call, p, &s, &sl, "kind");
    if (rc)
        return rc;
    if (node_entity_kind_parse(kind, s, sl) != 0)
        return ivtd_rpc_fail(call, IVT_EINVAL,
                             "kind: expected ip, prefix, device, ua or pub, got '%.*s'",
                             (int)(sl > 32 ? 32 : sl), s);
    rc = read_str_param(call, p, key, key_len, "key");
    if (rc)
        return rc;
    if (*key_len == 0 || *key_len >= NODE_KEY_MAX)
        return ivtd_rpc_fail(call, IVT_EINVAL, "key: expected 1..%d bytes", NODE_KEY_MAX - 1);
    struct node_ip ip;
    if (*kind == NODE_ENT_IP && node_ip_parse(&ip, *key, *key_len) != 0)
        return ivtd_rpc_fail(call, IVT_EINVAL, "key: not an IPv4 or IPv6 address: '%.*s'",
                             (int)(*key_len > 64 ? 64 : *key_len), *key);
    return 0;
}

/* node_lookup and node_decide refuse a key of the wrong form with EINVAL
 * (kind, ip key and ttl are checked before): for a prefix, name the forms. */
static int entity_fail(struct ivtd_rpc_call *call, int rc, enum node_entity_kind kind,
                       const char *what)
{
    if (rc == IVT_EINVAL && kind == NODE_ENT_PREFIX)
        return ivtd_rpc_fail(call, rc,
                             "key: expected an address, ADDR/24 (IPv4) or ADDR/48 (IPv6) for a "
                             "prefix");
    return ivtd_rpc_fail(call, rc, "%s: %s", what, ivt_strerror(rc));
}

/* ---- results ----------------------------------------------------------------- */

static void kv_str(struct ivt_mpw *w, const char *k, const char *v)
{
    ivt_mpw_cstr(w, k);
    ivt_mpw_cstr(w, v);
}

static void kv_uint(struct ivt_mpw *w, const char *k, uint64_t v)
{
    ivt_mpw_cstr(w, k);
    ivt_mpw_uint(w, v);
}

static void kv_double(struct ivt_mpw *w, const char *k, double v)
{
    ivt_mpw_cstr(w, k);
    ivt_mpw_double(w, v);
}

static void write_class(struct ivt_mpw *w, enum node_ivt_class c)
{
    if (c == NODE_CLASS_NONE)
        ivt_mpw_nil(w);
    else
        ivt_mpw_cstr(w, node_class_name(c));
}

/* A msgpack fixstr (at most 31 bytes) at b; returns the byte after it. */
static uint8_t *put_fixstr(uint8_t *b, const char *s, size_t n)
{
    *b++ = (uint8_t)(0xa0 | n);
    memcpy(b, s, n);
    return b + n;
}

#define PUT_KEY(b, lit) put_fixstr((b), (lit), sizeof(lit) - 1)

/*
 * A score reply: {score, verdict, class, decided, reasons}. Every score
 * request writes one, so the part before the reasons (short strings, small
 * integers) is laid out in a stack buffer and written at once: through the
 * packer it was a dozen writer calls and a strlen per key.
 */
static void write_score(struct ivt_mpw *w, const struct node_score *s)
{
    uint8_t head[64], *b = head;
    uint32_t n = s->n_reasons > NODE_MAX_REASONS ? NODE_MAX_REASONS : s->n_reasons;
    const char *verdict = node_verdict_name(s->verdict);
    *b++ = 0x85; /* fixmap of 5 */
    b = PUT_KEY(b, "score");
    if (s->score > 0x7f) /* positive fixint up to 127, else uint8 */
        *b++ = 0xcc;
    *b++ = s->score;
    b = PUT_KEY(b, "verdict");
    b = put_fixstr(b, verdict, strlen(verdict));
    b = PUT_KEY(b, "class");
    if (s->class_ == NODE_CLASS_NONE) {
        *b++ = 0xc0; /* nil */
    } else {
        const char *c = node_class_name(s->class_);
        b = put_fixstr(b, c, strlen(c));
    }
    b = PUT_KEY(b, "decided");
    *b++ = s->decided ? 0xc3 : 0xc2;
    b = PUT_KEY(b, "reasons");
    ivt_mpw_raw(w, head, (size_t)(b - head));
    ivt_mpw_array(w, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct node_reason *r = &s->reasons[i];
        ivt_mpw_map(w, 6);
        ivt_mpw_cstr(w, "signal");
        ivt_mpw_str(w, r->signal, strnlen(r->signal, sizeof(r->signal)));
        kv_double(w, "local", r->local);
        kv_double(w, "fleet", r->fleet);
        kv_double(w, "threshold", r->threshold);
        kv_uint(w, "points", r->points);
        ivt_mpw_cstr(w, "detail");
        ivt_mpw_str(w, r->detail, strnlen(r->detail, sizeof(r->detail)));
    }
}

static void write_decision(struct ivt_mpw *w, const struct node_decision *d)
{
    ivt_mpw_map(w, 7);
    kv_str(w, "kind", node_entity_kind_name(d->kind));
    ivt_mpw_cstr(w, "key");
    ivt_mpw_str(w, d->key, strnlen(d->key, sizeof(d->key)));
    kv_str(w, "action", node_action_name(d->action));
    ivt_mpw_cstr(w, "reason");
    ivt_mpw_str(w, d->reason, strnlen(d->reason, sizeof(d->reason)));
    kv_uint(w, "set_at", (uint64_t)d->set_at);
    kv_uint(w, "expires", (uint64_t)d->expires);
    ivt_mpw_cstr(w, "origin");
    ivt_mpw_str(w, d->origin, strnlen(d->origin, sizeof(d->origin)));
}

static void write_report(struct ivt_mpw *w, const struct node_report *r)
{
    ivt_mpw_map(w, 9);
    kv_str(w, "kind", node_entity_kind_name(r->kind));
    ivt_mpw_cstr(w, "key");
    ivt_mpw_str(w, r->key, strnlen(r->key, sizeof(r->key)));
    ivt_mpw_cstr(w, "known");
    ivt_mpw_bool(w, r->known);
    ivt_mpw_cstr(w, "shared");
    ivt_mpw_bool(w, r->shared);
    ivt_mpw_cstr(w, "score");
    write_score(w, &r->score);
    ivt_mpw_cstr(w, "metrics");
    uint32_t n = r->n_metrics > NODE_MAX_METRICS ? NODE_MAX_METRICS : r->n_metrics;
    ivt_mpw_array(w, n);
    for (uint32_t i = 0; i < n; i++) {
        ivt_mpw_map(w, 3);
        ivt_mpw_cstr(w, "name");
        ivt_mpw_str(w, r->metrics[i].name, strnlen(r->metrics[i].name, sizeof(r->metrics[i].name)));
        kv_double(w, "local", r->metrics[i].local);
        kv_double(w, "fleet", r->metrics[i].fleet);
    }
    kv_uint(w, "first_epoch", r->first_epoch);
    kv_uint(w, "last_epoch", r->last_epoch);
    ivt_mpw_cstr(w, "decision");
    if (r->has_decision)
        write_decision(w, &r->decision);
    else
        ivt_mpw_nil(w);
}

static void write_ok(struct ivt_mpw *w)
{
    ivt_mpw_map(w, 1);
    ivt_mpw_cstr(w, "ok");
    ivt_mpw_bool(w, true);
}

/* ---- ad-server API ------------------------------------------------------------- */

static int m_score(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 1, 2, "[event] or [event, {\"observe\": bool}]");
    if (rc)
        return rc;
    const uint8_t *p = call->params;
    struct node_event ev;
    if ((rc = parse_event(&ev, &p, call->end, call->msg, call->msg_cap)) != 0)
        return rc;
    bool observe = true;
    if (call->n_params == 2) {
        uint32_t n;
        if (ivt_mp_read_map(&p, call->end, &n) != 0)
            return ivtd_rpc_fail(call, IVT_EINVAL, "options: expected a map");
        for (uint32_t i = 0; i < n; i++) {
            const char *k;
            uint32_t kl;
            if (ivt_mp_read_str(&p, call->end, &k, &kl) != 0 || !ivt_mp_str_eq(k, kl, "observe") ||
                ivt_mp_read_bool(&p, call->end, &observe) != 0)
                return ivtd_rpc_fail(call, IVT_EINVAL,
                                     "options: the only option is \"observe\": bool");
        }
    }
    uint64_t t0 = uv_hrtime();
    struct node_score s;
    rc = node_score(d->node, &s, &ev, observe, ivtd_now(d), ivtd_wall_turn(d));
    ivtd_hist_observe(&d->score_hist, (uv_hrtime() - t0) / 1000);
    if (rc)
        return ivtd_rpc_fail(call, rc, "score: %s", ivt_strerror(rc));
    if (observe)
        ivtd_rearm(d);
    write_score(call->out, &s);
    return 0;
}

static int m_observe(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 1, 1, "[[event, ...]]");
    if (rc)
        return rc;
    const uint8_t *p = call->params;
    uint32_t n;
    if (ivt_mp_read_array(&p, call->end, &n) != 0)
        return ivtd_rpc_fail(call, IVT_EINVAL, "params: expected [[event, ...]]");
    struct {
        uint32_t index;
        char msg[120];
    } errs[OBSERVE_ERRORS_MAX];
    uint32_t n_errs = 0, accepted = 0, rejected = 0;
    ivt_ms now = ivtd_now(d), wall = ivtd_wall_turn(d);
    /* Parsed a chunk at a time and observed as one batch, so the store
     * overlaps the cache misses of several events (node_observe_batch). */
    for (uint32_t i0 = 0; i0 < n; i0 += OBSERVE_CHUNK) {
        uint32_t m = n - i0 < OBSERVE_CHUNK ? n - i0 : OBSERVE_CHUNK, ne = 0;
        struct node_event ev[OBSERVE_CHUNK];
        int prc[OBSERVE_CHUNK], orc[OBSERVE_CHUNK];
        char msg[OBSERVE_CHUNK][120];
        for (uint32_t j = 0; j < m; j++) {
            const uint8_t *start = p;
            prc[j] = parse_event(&ev[ne], &p, call->end, msg[j], sizeof(msg[j]));
            if (prc[j] == 0) {
                ne++;
                continue;
            }
            /* Skip the whole bad element so the next one is read in place. */
            p = start;
            if (ivt_mp_skip(&p, call->end) != 0) {
                /* The events before it are recorded, as one call each would. */
                node_observe_batch(d->node, orc, ev, ne, now, wall);
                return ivtd_rpc_fail(call, IVT_EPROTO, "event %u: not a msgpack value", i0 + j);
            }
        }
        node_observe_batch(d->node, orc, ev, ne, now, wall);
        for (uint32_t j = 0, k = 0; j < m; j++) {
            rc = prc[j] ? prc[j] : orc[k++];
            if (rc == 0) {
                accepted++;
                continue;
            }
            if (!prc[j])
                snprintf(msg[j], sizeof(msg[j]), "%s", ivt_strerror(rc));
            rejected++;
            if (n_errs < OBSERVE_ERRORS_MAX) {
                errs[n_errs].index = i0 + j;
                snprintf(errs[n_errs].msg, sizeof(errs[n_errs].msg), "%.*s",
                         (int)strnlen(msg[j], sizeof(msg[j])), msg[j]);
                n_errs++;
            }
        }
    }
    if (accepted)
        ivtd_rearm(d);
    struct ivt_mpw *w = call->out;
    ivt_mpw_map(w, 3);
    kv_uint(w, "accepted", accepted);
    kv_uint(w, "rejected", rejected);
    ivt_mpw_cstr(w, "errors");
    ivt_mpw_array(w, n_errs);
    for (uint32_t i = 0; i < n_errs; i++) {
        ivt_mpw_map(w, 2);
        kv_uint(w, "index", errs[i].index);
        kv_str(w, "message", errs[i].msg);
    }
    return 0;
}

static int m_lookup(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 2, 2, "[kind, key]");
    if (rc)
        return rc;
    const uint8_t *p = call->params;
    enum node_entity_kind kind;
    const char *key;
    uint32_t kl;
    if ((rc = read_kind_key(call, &p, &kind, &key, &kl)) != 0)
        return rc;
    struct node_report r;
    rc = node_lookup(d->node, &r, kind, key, kl, ivtd_wall());
    if (rc)
        return entity_fail(call, rc, kind, "lookup");
    write_report(call->out, &r);
    return 0;
}

/* ---- control ------------------------------------------------------------------- */

static void hex(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* A copy of the member list (heap: a fleet may be thousands). Returns it
 * and its length in *n, or NULL when out of memory. */
static struct gossip_member_info *members_copy(struct ivtd *d, size_t *n)
{
    struct gossip *g = node_gossip(d->node);
    struct gossip_stats gs;
    gossip_get_stats(g, &gs);
    size_t cap = (size_t)gs.members + 1;
    struct gossip_member_info *m = calloc(cap, sizeof(*m));
    if (m)
        *n = gossip_members(g, m, cap);
    return m;
}

static const char *keyring_match_name(enum node_keyring_match k)
{
    static const char *const names[] = {"same", "different", "unknown"};
    return (unsigned)k < 3 ? names[k] : "unknown";
}

/* How many alive members hold the same keyring as this node, a different
 * one, or say nothing of theirs: what an operator waits on between the
 * steps of a key rotation. */
static int write_keyring_agreement(struct ivt_mpw *w, struct ivtd *d)
{
    size_t n;
    struct gossip_member_info *m = members_copy(d, &n);
    if (!m)
        return IVT_ENOMEM;
    uint64_t count[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++)
        if (m[i].state == GOSSIP_ALIVE)
            count[node_keyring_match(d->node, &m[i])]++;
    free(m);
    ivt_mpw_map(w, 3);
    for (int k = 0; k < 3; k++)
        kv_uint(w, keyring_match_name((enum node_keyring_match)k), count[k]);
    return 0;
}

static int m_status(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 0, 0, "[]");
    if (rc)
        return rc;
    struct gossip *g = node_gossip(d->node);
    struct node_stats ns;
    node_get_stats(d->node, &ns);
    struct ivt_mpw *w = call->out;
    char idhex[2 * GOSSIP_ID_LEN + 1], keyid[GOSSIP_KEY_ID_HEX] = "";
    hex(idhex, d->id, sizeof(d->id));
    const struct gossip_keyring *kr = gossip_keyring(g);
    const struct gossip_key *primary = gossip_keyring_primary(kr);
    if (primary)
        gossip_key_id_format(keyid, primary->id);
    static const char *const profiles[] = {"lan", "wan", "local"};
    ivt_mpw_map(w, 20);
    kv_str(w, "name", d->cfg.name);
    kv_str(w, "id", idhex);
    kv_uint(w, "generation", d->generation);
    kv_str(w, "label", d->cfg.label);
    kv_str(w, "profile", profiles[d->cfg.profile]);
    ivt_mpw_cstr(w, "members");
    ivt_mpw_map(w, GOSSIP_STATES);
    for (int st = 0; st < GOSSIP_STATES; st++)
        kv_uint(w, gossip_state_name((enum gossip_member_state)st),
                gossip_member_count(g, (enum gossip_member_state)st));
    kv_uint(w, "epoch", ns.epoch);
    kv_uint(w, "keys", gossip_keyring_count(kr));
    kv_str(w, "primary_key", keyid);
    ivt_mpw_cstr(w, "keyring");
    if ((rc = write_keyring_agreement(w, d)) != 0)
        return rc;
    kv_uint(w, "uptime_s", (uint64_t)((ivtd_now(d) - d->started) / 1000));
    kv_double(w, "events_per_s", d->events_per_s);
    kv_uint(w, "events_observed", ns.events_observed);
    kv_uint(w, "entities", ns.entities);
    kv_uint(w, "entities_shared", ns.entities_admitted);
    kv_uint(w, "evidence_bytes", ns.evidence_bytes);
    kv_double(w, "gossip_bytes_per_s", d->gossip_bytes_per_s);
    /* What held the loop since start: the largest lag of the 100 ms probe
     * and the callbacks over 1 ms by kind (the metrics' figures). */
    ivt_mpw_cstr(w, "loop");
    ivt_mpw_map(w, 2);
    kv_double(w, "lag_max_ms", (double)d->lag.max_us / 1000);
    ivt_mpw_cstr(w, "slow_callbacks");
    ivt_mpw_map(w, IVTD_CB_KINDS);
    for (int k = 0; k < IVTD_CB_KINDS; k++)
        kv_uint(w, ivtd_cb_kind_names[k], d->slow.count[k]);
    kv_str(w, "version", IVTD_VERSION);
    char addr[64];
    ivtd_addr_format(addr, sizeof(addr), &d->self_addr);
    kv_str(w, "addr", addr);
    return 0;
}

static int m_members(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 0, 1, "[] or [status]");
    if (rc)
        return rc;
    int want = -1;
    if (call->n_params == 1) {
        const uint8_t *p = call->params;
        const char *s;
        uint32_t sl;
        if ((rc = read_str_param(call, &p, &s, &sl, "status")) != 0)
            return rc;
        for (int st = 0; st < GOSSIP_STATES; st++)
            if (ivt_mp_str_eq(s, sl, gossip_state_name((enum gossip_member_state)st)))
                want = st;
        if (want < 0)
            return ivtd_rpc_fail(call, IVT_EINVAL, "status: expected alive, suspect, dead or left");
    }
    size_t n, shown = 0;
    struct gossip_member_info *m = members_copy(d, &n);
    if (!m)
        return IVT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        shown += want < 0 || (int)m[i].state == want;
    struct ivt_mpw *w = call->out;
    ivt_ms now = ivtd_now(d);
    ivt_mpw_array(w, (uint32_t)shown);
    for (size_t i = 0; i < n; i++) {
        if (want >= 0 && (int)m[i].state != want)
            continue;
        char idhex[2 * GOSSIP_ID_LEN + 1], addr[64];
        hex(idhex, m[i].id, sizeof(m[i].id));
        ivtd_addr_format(addr, sizeof(addr), &m[i].addr);
        ivt_mpw_map(w, 9);
        ivt_mpw_cstr(w, "name");
        ivt_mpw_str(w, m[i].name, strnlen(m[i].name, sizeof(m[i].name)));
        kv_str(w, "id", idhex);
        kv_str(w, "addr", addr);
        kv_str(w, "status", gossip_state_name(m[i].state));
        kv_uint(w, "incarnation", m[i].incarnation);
        kv_uint(w, "generation", m[i].generation);
        /* Tags as an operator reads them: whether the member's keyring
         * is the same as ours (a key rotation reached it). */
        ivt_mpw_cstr(w, "tags");
        ivt_mpw_map(w, 1);
        kv_str(w, "keyring", keyring_match_name(node_keyring_match(d->node, &m[i])));
        kv_uint(w, "last_change_s",
                (uint64_t)(now > m[i].changed ? (now - m[i].changed) / 1000 : 0));
        ivt_mpw_cstr(w, "self");
        ivt_mpw_bool(w, m[i].self);
    }
    free(m);
    return 0;
}

static int m_top(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 0, 2, "[kind | nil, n]");
    if (rc)
        return rc;
    const uint8_t *p = call->params;
    int kind = -1;
    uint64_t n = 20;
    if (call->n_params >= 1) {
        if (ivt_mp_peek(p, call->end) == IVT_MP_NIL) {
            ivt_mp_read_nil(&p, call->end);
        } else {
            const char *s;
            uint32_t sl;
            enum node_entity_kind k;
            if ((rc = read_str_param(call, &p, &s, &sl, "kind")) != 0)
                return rc;
            if (node_entity_kind_parse(&k, s, sl) != 0)
                return ivtd_rpc_fail(call, IVT_EINVAL,
                                     "kind: expected ip, prefix, device, ua, pub or nil");
            kind = (int)k;
        }
    }
    if (call->n_params == 2 && ivt_mp_read_uint_max(&p, call->end, TOP_MAX, &n) != 0)
        return ivtd_rpc_fail(call, IVT_EINVAL, "n: expected an integer 0..%d", TOP_MAX);
    struct node_top_row *rows = calloc(n ? n : 1, sizeof(*rows));
    if (!rows)
        return IVT_ENOMEM;
    size_t got = node_top(d->node, rows, (size_t)n, kind, ivtd_wall());
    struct ivt_mpw *w = call->out;
    ivt_mpw_array(w, (uint32_t)got);
    for (size_t i = 0; i < got; i++) {
        ivt_mpw_map(w, 7);
        kv_str(w, "kind", node_entity_kind_name(rows[i].kind));
        ivt_mpw_cstr(w, "key");
        ivt_mpw_str(w, rows[i].key, strnlen(rows[i].key, sizeof(rows[i].key)));
        kv_uint(w, "score", rows[i].score);
        kv_str(w, "verdict", node_verdict_name(rows[i].verdict));
        ivt_mpw_cstr(w, "class");
        write_class(w, rows[i].class_);
        kv_double(w, "requests", rows[i].requests_fleet);
        ivt_mpw_cstr(w, "top_signal");
        ivt_mpw_str(w, rows[i].top_signal, strnlen(rows[i].top_signal, sizeof(rows[i].top_signal)));
    }
    free(rows);
    return 0;
}

static int m_decide(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 5, 5, "[action, kind, key, ttl_ms, reason]");
    if (rc)
        return rc;
    const uint8_t *p = call->params;
    const char *s, *key, *reason;
    uint32_t sl, kl, rl;
    if ((rc = read_str_param(call, &p, &s, &sl, "action")) != 0)
        return rc;
    enum node_action act;
    if (ivt_mp_str_eq(s, sl, "ban"))
        act = NODE_ACT_BAN;
    else if (ivt_mp_str_eq(s, sl, "allow"))
        act = NODE_ACT_ALLOW;
    else if (ivt_mp_str_eq(s, sl, "unban") || ivt_mp_str_eq(s, sl, "clear"))
        act = NODE_ACT_CLEAR;
    else
        return ivtd_rpc_fail(call, IVT_EINVAL, "action: expected ban, allow or unban");
    enum node_entity_kind kind;
    if ((rc = read_kind_key(call, &p, &kind, &key, &kl)) != 0)
        return rc;
    uint64_t ttl;
    if (ivt_mp_read_uint_max(&p, call->end, INT64_MAX, &ttl) != 0)
        return ivtd_rpc_fail(call, IVT_EINVAL, "ttl_ms: expected a positive integer");
    /* unban ignores its ttl (ivtctl sends 0); ban and allow need one. */
    if (act != NODE_ACT_CLEAR && (ttl == 0 || ttl > (uint64_t)CRDT_LWW_MAX_TTL))
        return ivtd_rpc_fail(call, IVT_EINVAL, "ttl_ms: expected 1..%llu (30 days)",
                             (unsigned long long)CRDT_LWW_MAX_TTL);
    if ((rc = read_str_param(call, &p, &reason, &rl, "reason")) != 0)
        return rc;
    char rbuf[128];
    snprintf(rbuf, sizeof(rbuf), "%.*s", (int)(rl > 127 ? 127 : rl), reason);
    rc = node_decide(d->node, kind, key, kl, act, (ivt_ms)ttl, rbuf, ivtd_now(d), ivtd_wall());
    if (rc)
        return entity_fail(call, rc, kind, "decide");
    char kbuf[NODE_KEY_MAX], kq[2 * NODE_KEY_MAX], rq[2 * sizeof(rbuf)];
    snprintf(kbuf, sizeof(kbuf), "%.*s", (int)kl, key);
    ivtd_log(IVTD_LOG_INFO, "decision", "action=%s kind=%s key=%s reason=%s", node_action_name(act),
             node_entity_kind_name(kind), ivtd_log_quote(kq, sizeof(kq), kbuf),
             ivtd_log_quote(rq, sizeof(rq), rbuf));
    ivtd_pump(d);
    write_ok(call->out);
    return 0;
}

static int m_decisions(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 0, 0, "[]");
    if (rc)
        return rc;
    struct node_decision *rows = calloc(DECISIONS_MAX, sizeof(*rows));
    if (!rows)
        return IVT_ENOMEM;
    size_t n = node_decisions(d->node, rows, DECISIONS_MAX, ivtd_wall());
    ivt_mpw_array(call->out, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        write_decision(call->out, &rows[i]);
    free(rows);
    return 0;
}

static int m_keys_list(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 0, 0, "[]");
    if (rc)
        return rc;
    struct gossip_key_info info[GOSSIP_KEYRING_MAX];
    size_t n = gossip_keyring_list(gossip_keyring(node_gossip(d->node)), info, GOSSIP_KEYRING_MAX);
    ivt_mpw_array(call->out, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        char id[GOSSIP_KEY_ID_HEX];
        gossip_key_id_format(id, info[i].id);
        ivt_mpw_map(call->out, 2);
        kv_str(call->out, "id", id);
        ivt_mpw_cstr(call->out, "primary");
        ivt_mpw_bool(call->out, info[i].primary);
    }
    return 0;
}

static int key_op(void *ctx, struct ivtd_rpc_call *call, enum node_key_op op, const char *name)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 1, 1, "[key_base64]");
    if (rc)
        return rc;
    const uint8_t *p = call->params;
    const char *s;
    uint32_t sl;
    uint8_t key[GOSSIP_KEY_LEN];
    if ((rc = read_str_param(call, &p, &s, &sl, "key")) != 0)
        return rc;
    if (gossip_key_decode_base64(key, s, sl) != 0)
        return ivtd_rpc_fail(call, IVT_EINVAL,
                             "key: expected base64 of 32 bytes (ivtctl keys generate)");
    rc = node_key_op(d->node, op, key, ivtd_now(d));
    char id[GOSSIP_KEY_ID_HEX];
    gossip_key_id_format(id, gossip_key_id(key));
    if (rc) {
        return ivtd_rpc_fail(call, rc, "keys.%s %s: %s", name, id,
                             rc == IVT_ENOENT   ? "the key is not installed"
                             : rc == IVT_EINVAL ? "it is the primary key: use another first"
                             : rc == IVT_ELIMIT ? "the keyring is full"
                                                : ivt_strerror(rc));
    }
    ivtd_log(IVTD_LOG_INFO, "key operation", "op=%s key_id=%s", name, id);
    ivtd_save_keyring(d);
    ivtd_pump(d);
    write_ok(call->out);
    return 0;
}

static int m_keys_install(void *ctx, struct ivtd_rpc_call *call)
{
    return key_op(ctx, call, NODE_KEY_INSTALL, "install");
}

static int m_keys_use(void *ctx, struct ivtd_rpc_call *call)
{
    return key_op(ctx, call, NODE_KEY_USE, "use");
}

static int m_keys_remove(void *ctx, struct ivtd_rpc_call *call)
{
    return key_op(ctx, call, NODE_KEY_REMOVE, "remove");
}

static int m_join(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 1, JOIN_MAX, "[\"ip:port\", ...]");
    if (rc)
        return rc;
    /* After leave the gossip layer stays quiet for good: a join would be
     * accepted and do nothing. Say so instead (serf refuses the same). */
    struct gossip_member_info self;
    if (gossip_members(node_gossip(d->node), &self, 1) == 1 && self.state == GOSSIP_LEFT)
        return ivtd_rpc_fail(call, IVT_EINVAL,
                             "join: this node left the cluster; restart ivtd to bring it back");
    const uint8_t *p = call->params;
    struct gossip_addr seeds[JOIN_MAX];
    for (uint32_t i = 0; i < call->n_params; i++) {
        const char *s;
        uint32_t sl;
        if ((rc = read_str_param(call, &p, &s, &sl, "addr")) != 0)
            return rc;
        char buf[IVTD_ADDR_MAX];
        snprintf(buf, sizeof(buf), "%.*s", (int)(sl >= sizeof(buf) ? sizeof(buf) - 1 : sl), s);
        struct sockaddr_storage ss;
        if (ivtd_sockaddr_parse(&ss, buf) != 0 ||
            ivtd_addr_from_sockaddr(&seeds[i], (struct sockaddr *)&ss) != 0)
            return ivtd_rpc_fail(call, IVT_EINVAL, "addr %u: expected \"ip:port\", got '%s'", i,
                                 buf);
    }
    rc = node_join(d->node, seeds, call->n_params, ivtd_now(d));
    if (rc)
        return ivtd_rpc_fail(call, rc, "join: %s", ivt_strerror(rc));
    ivtd_pump(d);
    ivt_mpw_map(call->out, 1);
    kv_uint(call->out, "joined", call->n_params);
    return 0;
}

static int m_leave(void *ctx, struct ivtd_rpc_call *call)
{
    struct ivtd *d = ctx;
    int rc = want_params(call, 0, 0, "[]");
    if (rc)
        return rc;
    rc = node_leave(d->node, ivtd_now(d));
    if (rc)
        return ivtd_rpc_fail(call, rc, "leave: %s", ivt_strerror(rc));
    ivtd_log(IVTD_LOG_INFO, "left the cluster (by request)", NULL);
    ivtd_pump(d);
    write_ok(call->out);
    return 0;
}

static int m_metrics(void *ctx, struct ivtd_rpc_call *call)
{
    int rc = want_params(call, 0, 0, "[]");
    if (rc)
        return rc;
    struct ivtd_prom p;
    ivtd_prom_init(&p, IVTD_METRICS_TEXT_MAX);
    ivtd_render_metrics(ctx, &p);
    if (p.failed) {
        ivtd_prom_destroy(&p);
        return ivtd_rpc_fail(call, IVT_ETOOBIG, "metrics text too large");
    }
    ivt_mpw_str(call->out, p.data ? p.data : "", p.len);
    ivtd_prom_destroy(&p);
    return 0;
}

#define API_ROWS                                                                                   \
    {"score", m_score, "[event] or [event, {observe}]: score an event (and observe it)"},          \
        {"observe", m_observe, "[[event, ...]]: record a batch of events"},                        \
    {                                                                                              \
        "lookup", m_lookup, "[kind, key]: an entity's evidence and score"                          \
    }

const struct ivtd_rpc_method ivtd_api_methods[] = {API_ROWS};
const size_t ivtd_n_api_methods = sizeof(ivtd_api_methods) / sizeof(ivtd_api_methods[0]);

const struct ivtd_rpc_method ivtd_control_methods[] = {
    API_ROWS,
    {"status", m_status, "[]: this node"},
    {"members", m_members, "[] or [status]: the member list"},
    {"explain", m_lookup, "[kind, key]: an entity's evidence, score and reasons"},
    {"top", m_top, "[kind | nil, n]: the worst entities fleet-wide"},
    {"decide", m_decide, "[action, kind, key, ttl_ms, reason]: ban, allow or unban fleet-wide"},
    {"decisions", m_decisions, "[]: live decisions"},
    {"keys.list", m_keys_list, "[]: installed gossip keys (ids only)"},
    {"keys.install", m_keys_install, "[key]: install a key cluster-wide"},
    {"keys.use", m_keys_use, "[key]: make a key primary cluster-wide"},
    {"keys.remove", m_keys_remove, "[key]: remove a key cluster-wide"},
    {"join", m_join, "[addr, ...]: join through these nodes"},
    {"leave", m_leave, "[]: leave the cluster gracefully"},
    {"metrics", m_metrics, "[]: the Prometheus text"},
};
const size_t ivtd_n_control_methods =
    sizeof(ivtd_control_methods) / sizeof(ivtd_control_methods[0]);
