/*
 * node/detect.c: the scoring function.
 *
 * SANS-IO and pure. Input: what the node core measured for one event
 * (struct node_signals: two GIVT list hits and, per SIVT signal, this node's
 * value and the fleet's value over the window). Output: a score 0-100, a
 * verdict, a class and the reasons. docs/detection.md explains the model
 * with a worked example; in short:
 *
 *   - Each signal that fires gives points p_i in 0..100. GIVT hits give
 *     fixed points (a crawler 100, a data-center address 85). An SIVT signal
 *     gives nothing below its threshold, points_at_threshold at it, and
 *     points_per_doubling more for each doubling of value/threshold, up to
 *     points_max. log2 is taken piecewise-linear between powers of two:
 *     exact at them, monotone, and built from frexp and basic IEEE
 *     operations only, so every node computes the same bits.
 *   - Points combine as independent evidence (a noisy-OR):
 *     score = 100 * (1 - prod(1 - p_i/100)), rounded. One signal alone
 *     gives its own points; a second can only raise the score; 100 from
 *     anything means 100. The product runs on integers (prod of (100 - p_i)
 *     over 100^n, at most 100^7 here), so the rounding is the same
 *     everywhere.
 *   - A count is judged by max(local, fleet): the fleet value includes this
 *     node's own slots, so the max is the fleet value, except when a fleet
 *     estimate (HyperLogLog) comes out a little under an exact local count,
 *     where the max keeps what this node saw itself. A share (a fraction)
 *     is judged by its fleet value alone, and only over a minimum volume.
 *   - Shared addresses: an IP with many returning devices that keep their
 *     user agents (a carrier's CGNAT, a corporate proxy) stands for many
 *     households, and its per-IP thresholds are multiplied by how many
 *     (shared_households). This is the one place where more evidence (more
 *     devices) can lower a score: it is a mitigating signal, and a 0-point
 *     reason "shared_ip" says so whenever it applies.
 *
 * Departures from the research note (references/detection.md, section
 * 5.3): it proposes additive log-odds points; a noisy-OR of bounded
 * points keeps the score in 0..100 without a clamp that would make several
 * strong signals indistinguishable from one, and stays monotone. The per-
 * entity propagation it proposes (max over ip, prefix, device) is left to
 * the later model; here every entity's signals meet in one combination.
 *
 * Adding a signal: one node_measure in node_signals, one threshold in
 * node_thresholds with its default, one row in SIVT_SIGNALS.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "base/err.h"
#include "crdt/hh.h"
#include "node/detect.h"

enum {
    /* Defaults (docs/detection.md says why each). */
    DEFAULT_IP_REQUESTS = 3600,      /* 60 a minute sustained over the hour */
    DEFAULT_IP_DISTINCT_UA = 10,     /* a household has a handful of browsers */
    DEFAULT_DEVICE_DISTINCT_IP = 5,  /* home, work, mobile, a café, one more */
    DEFAULT_PREFIX_REQUESTS = 36000, /* ten busy IPs in one /24 */
    DEFAULT_PUB_MIN_REQUESTS = 500,  /* Nameles scores publishers above 500 */
    DEFAULT_SHARED_IP_DEVICES = 20,  /* no household has 20 devices; a CGNAT address has hundreds */
    DEFAULT_HOUSEHOLD_DEVICES = 4,   /* phones, a laptop, a TV: the unit per-IP thresholds assume */
    DEFAULT_SHARED_UA_PER_DEVICE = 2, /* a device has one browser, two with an in-app web view */
    DEFAULT_POINTS_CRAWLER = 100,     /* it says so itself */
    DEFAULT_POINTS_DATACENTER = 85,   /* GIVT by the MRC's list; VPNs exist */
    DEFAULT_POINTS_AT_THRESHOLD = 50, /* one signal at threshold: suspect */
    DEFAULT_POINTS_PER_DOUBLING = 15, /* four times over: bot by itself */
    DEFAULT_POINTS_MAX = 95,          /* one statistical signal never certain */
    DEFAULT_ADMIT_EVENTS = 60,        /* one a minute at one node, sustained for the hour */
    DEFAULT_ADMIT_IP_DISTINCT_UA = 2, /* one browser per address is the human norm */
    DEFAULT_ADMIT_DEVICE_DISTINCT_IP = 2, /* a device seen on two addresses by one node */
    DEFAULT_ADMIT_TOP_K = 32,             /* a node's heaviest of the epoch: bounded per epoch */
    DEFAULT_ADMIT_TOP_MIN = 3, /* a quiet node's top holds one-offs: three in an epoch at least */
    DEFAULT_SUSPECT_SCORE = 50,
    DEFAULT_BOT_SCORE = 80,

    /* value/threshold beyond 2^16 adds nothing: points_max is reached long
     * before with any sane points_per_doubling, and frexp of huge or
     * infinite values is left out. */
    RATIO_LOG2_CAP = 16,
    POINTS_FULL = 100,
};

#define DEFAULT_PUB_DATACENTER_SHARE 0.5 /* most of its traffic from hosting networks */
/* Device ids must come back to count: a bot that stamps a fresh id on each
 * event shows 1.0 event per device; real devices behind a carrier return
 * (ad request, impression, click) within a window. 1.1 is six standard
 * errors of the 1.6% HyperLogLog above 1.0, and humans at two ad events
 * an hour pass it a few minutes into a window. */
#define DEFAULT_SHARED_EVENTS_PER_DEVICE 1.1

void node_thresholds_defaults(struct node_thresholds *th)
{
    *th = (struct node_thresholds){
        .th_ip_requests = DEFAULT_IP_REQUESTS,
        .th_ip_distinct_ua = DEFAULT_IP_DISTINCT_UA,
        .th_device_distinct_ip = DEFAULT_DEVICE_DISTINCT_IP,
        .th_prefix_requests = DEFAULT_PREFIX_REQUESTS,
        .th_pub_datacenter_share = DEFAULT_PUB_DATACENTER_SHARE,
        .th_pub_min_requests = DEFAULT_PUB_MIN_REQUESTS,
        .th_shared_ip_devices = DEFAULT_SHARED_IP_DEVICES,
        .th_household_devices = DEFAULT_HOUSEHOLD_DEVICES,
        .th_shared_events_per_device = DEFAULT_SHARED_EVENTS_PER_DEVICE,
        .th_shared_ua_per_device = DEFAULT_SHARED_UA_PER_DEVICE,
        .admit_events = DEFAULT_ADMIT_EVENTS,
        .admit_ip_distinct_ua = DEFAULT_ADMIT_IP_DISTINCT_UA,
        .admit_device_distinct_ip = DEFAULT_ADMIT_DEVICE_DISTINCT_IP,
        .admit_top_k = DEFAULT_ADMIT_TOP_K,
        .admit_top_min = DEFAULT_ADMIT_TOP_MIN,
        .points_crawler = DEFAULT_POINTS_CRAWLER,
        .points_datacenter = DEFAULT_POINTS_DATACENTER,
        .points_at_threshold = DEFAULT_POINTS_AT_THRESHOLD,
        .points_per_doubling = DEFAULT_POINTS_PER_DOUBLING,
        .points_max = DEFAULT_POINTS_MAX,
        .suspect_score = DEFAULT_SUSPECT_SCORE,
        .bot_score = DEFAULT_BOT_SCORE,
    };
}

enum sivt_kind {
    SIVT_COUNT,    /* judged by max(local, fleet) */
    SIVT_IP_COUNT, /* the same, per IP: its threshold scales with a shared address */
    SIVT_SHARE,    /* a fraction: judged by fleet, only over the volume gate */
};

/* One SIVT signal: where its measure and threshold live. */
struct sivt_signal {
    const char *name; /* the reason's signal name: a contract (ivtctl, metrics) */
    size_t measure;   /* offsetof in struct node_signals */
    size_t threshold; /* offsetof in struct node_thresholds */
    enum sivt_kind kind;
};

#define SIG(name, kind)                                                                            \
    {                                                                                              \
#name, offsetof(struct node_signals, name), offsetof(struct node_thresholds, th_##name),   \
            kind                                                                                   \
    }

static const struct sivt_signal SIVT_SIGNALS[] = {
    SIG(ip_requests, SIVT_IP_COUNT),       SIG(ip_distinct_ua, SIVT_IP_COUNT),
    SIG(device_distinct_ip, SIVT_COUNT),   SIG(prefix_requests, SIVT_COUNT),
    SIG(pub_datacenter_share, SIVT_SHARE),
};

/* GIVT reasons, and the shared_ip note. */
enum { N_SIVT = sizeof(SIVT_SIGNALS) / sizeof(SIVT_SIGNALS[0]), N_GIVT = 2, N_NOTES = 1 };

_Static_assert(N_GIVT + N_SIVT + N_NOTES <= NODE_MAX_REASONS,
               "every signal must fit in the reasons");

static bool threshold_ok(double t)
{
    return isfinite(t) && t >= 0;
}

int node_thresholds_check(const struct node_thresholds *th)
{
    for (size_t i = 0; i < N_SIVT; i++)
        if (!threshold_ok(*(const double *)((const char *)th + SIVT_SIGNALS[i].threshold)))
            return IVT_EINVAL;
    if (!threshold_ok(th->th_pub_min_requests) || th->th_pub_datacenter_share > 1)
        return IVT_EINVAL;
    /* A household of 0 devices would make every shared address infinitely
     * many households. */
    if (!threshold_ok(th->th_shared_ip_devices) || !threshold_ok(th->th_shared_ua_per_device) ||
        !threshold_ok(th->th_shared_events_per_device) || !threshold_ok(th->th_household_devices) ||
        (th->th_shared_ip_devices > 0 && !(th->th_household_devices >= 1)))
        return IVT_EINVAL;
    if (!threshold_ok(th->admit_events) || !threshold_ok(th->admit_ip_distinct_ua) ||
        !threshold_ok(th->admit_device_distinct_ip) || th->admit_top_k > CRDT_HH_K_MAX)
        return IVT_EINVAL;
    if (th->points_crawler > POINTS_FULL || th->points_datacenter > POINTS_FULL ||
        th->points_at_threshold > POINTS_FULL || th->points_per_doubling > POINTS_FULL ||
        th->points_max > POINTS_FULL)
        return IVT_EINVAL;
    if (th->suspect_score == 0 || th->bot_score < th->suspect_score || th->bot_score > POINTS_FULL)
        return IVT_EINVAL;
    return 0;
}

/* log2(r) for r >= 1, linear between powers of two. */
static double log2_pl(double r)
{
    if (!(r < (double)(1u << RATIO_LOG2_CAP)))
        return RATIO_LOG2_CAP;
    int e;
    double m = frexp(r, &e); /* r = m * 2^e, m in [0.5, 1) */
    return (double)(e - 1) + (2.0 * m - 1.0);
}

static uint8_t sivt_points(const struct node_thresholds *th, double v, double t)
{
    /* Written so that NaN fails both tests: a NaN never gives points. */
    if (!(t > 0) || !(v >= t))
        return 0;
    unsigned cap = th->points_max < POINTS_FULL ? th->points_max : POINTS_FULL;
    double p = th->points_at_threshold + th->points_per_doubling * log2_pl(v / t);
    return p >= cap ? (uint8_t)cap : (uint8_t)p;
}

/* max(local, fleet, 0), where a NaN counts as 0. */
static double count_value(const struct node_measure *m)
{
    double v = 0;
    if (m->fleet > v)
        v = m->fleet;
    if (m->local > v)
        v = m->local;
    return v;
}

static double share_value(const struct node_measure *m)
{
    return m->fleet > 0 ? m->fleet : 0;
}

/*
 * How many households an IP stands for: 1, or for a shared address (a
 * carrier's CGNAT, a corporate proxy) its distinct devices over
 * th_household_devices. The per-IP thresholds were set for one household;
 * hundreds of phones behind one carrier address are hundreds of households,
 * and judging them as one is the classic false positive of IP rate limits.
 * What a bot cannot cheaply fake, and what is therefore asked of the
 * devices before they count:
 *   - they are many (th_shared_ip_devices): a household never has 20;
 *   - they come back (events per device at least
 *     th_shared_events_per_device): stamping a fresh id on every event
 *     shows exactly one event per device;
 *   - each keeps its user agent (distinct UAs per device at most
 *     th_shared_ua_per_device): a bot rotating user agents over few or no
 *     device ids has more UAs than devices.
 * Every figure is fleet-wide (max with local, like any count), so each node
 * reaches the same answer. A bot that keeps many stable device ids with
 * one user agent each behind one address looks like a carrier here; the
 * device-level signals (device_distinct_ip) are what judge it then.
 */
static double shared_households(const struct node_thresholds *th, const struct node_signals *s)
{
    if (!(th->th_shared_ip_devices > 0) || !(th->th_household_devices >= 1))
        return 1;
    double devices = count_value(&s->ip_distinct_device);
    if (!(devices >= th->th_shared_ip_devices))
        return 1;
    if (!(count_value(&s->ip_events) >= devices * th->th_shared_events_per_device))
        return 1;
    if (count_value(&s->ip_distinct_ua) > devices * th->th_shared_ua_per_device)
        return 1;
    double h = devices / th->th_household_devices;
    return h > 1 ? h : 1;
}

/*
 * A bounded string builder for the reasons. snprintf with %f costs hundreds
 * of nanoseconds, several times the rest of node_detect, and reasons are
 * written on the request path; these write the same text for the values a
 * reason holds and always NUL-terminate.
 */
struct text {
    char *p;
    size_t cap, n; /* cap includes the NUL */
};

static void text_str(struct text *t, const char *s)
{
    size_t len = strlen(s), room = t->cap - 1 - t->n;
    if (len > room)
        len = room;
    memcpy(t->p + t->n, s, len);
    t->n += len;
    t->p[t->n] = '\0';
}

static void text_uint(struct text *t, uint64_t v)
{
    char s[24];
    int k = (int)sizeof(s) - 1;
    s[k] = '\0';
    do {
        s[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    text_str(t, s + k);
}

/* Values shown in reasons are clamped here: past it the number says
 * nothing more, and the clamp keeps the integer conversion defined (NaN
 * and negatives show as 0). */
#define TEXT_MAX_VALUE 1e15

/* v rounded half up to `decimals` (0 or 1) places. */
static void text_fixed(struct text *t, double v, int decimals)
{
    if (!(v > 0))
        v = 0;
    if (v > TEXT_MAX_VALUE)
        v = TEXT_MAX_VALUE;
    uint64_t scaled = (uint64_t)(v * (decimals ? 10 : 1) + 0.5);
    text_uint(t, decimals ? scaled / 10 : scaled);
    if (decimals) {
        char frac[3] = {'.', (char)('0' + scaled % 10), '\0'};
        text_str(t, frac);
    }
}

static struct node_reason *reason_add(struct node_score *out, const char *signal, double local,
                                      double fleet, double threshold, uint8_t points)
{
    struct node_reason *r = &out->reasons[out->n_reasons++];
    struct text name = {r->signal, sizeof(r->signal), 0};
    text_str(&name, signal);
    r->local = local;
    r->fleet = fleet;
    r->threshold = threshold;
    r->points = points;
    return r;
}

static void sivt_detail(struct node_reason *r, const struct sivt_signal *sig,
                        const struct node_measure *m, double v, double t,
                        const struct node_signals *s)
{
    struct text d = {r->detail, sizeof(r->detail), 0};
    if (sig->kind == SIVT_SHARE) {
        text_fixed(&d, v * 100.0, 0);
        text_str(&d, "% of ");
        text_fixed(&d, count_value(&s->pub_requests), 0);
        text_str(&d, " requests from data centers");
    } else {
        text_fixed(&d, v / t, 1);
        /* A local value of -1 is one this node does not keep (a distinct
         * count others contributed to): then nothing is said of it. */
        text_str(&d, m->local < 0    ? "x threshold fleet-wide"
                     : m->local >= t ? "x threshold; over it locally too"
                                     : "x threshold fleet-wide; local alone is under it");
    }
    if (m->origins > 0) {
        text_str(&d, " (");
        text_uint(&d, m->origins);
        text_str(&d, " nodes)");
    }
}

/* The note that says why a busy IP's thresholds were raised. */
static void shared_note(struct node_score *out, const struct node_thresholds *th,
                        const struct node_signals *s, double households)
{
    const struct node_measure *d = &s->ip_distinct_device;
    double devices = count_value(d);
    struct node_reason *r =
        reason_add(out, "shared_ip", d->local, d->fleet, th->th_shared_ip_devices, 0);
    struct text t = {r->detail, sizeof(r->detail), 0};
    text_fixed(&t, devices, 0);
    text_str(&t, " devices, ");
    text_fixed(&t, count_value(&s->ip_events) / devices, 1);
    text_str(&t, " events each: IP thresholds x");
    text_fixed(&t, households, 1);
    if (d->origins > 0) {
        text_str(&t, " (");
        text_uint(&t, d->origins);
        text_str(&t, " nodes)");
    }
}

/* Stable: equal points keep table order (GIVT first), so reasons are
 * deterministic. */
static void reasons_sort(struct node_score *out)
{
    for (unsigned i = 1; i < out->n_reasons; i++) {
        struct node_reason r = out->reasons[i];
        unsigned j = i;
        while (j > 0 && out->reasons[j - 1].points < r.points) {
            out->reasons[j] = out->reasons[j - 1];
            j--;
        }
        out->reasons[j] = r;
    }
}

/* 100 * (1 - prod(1 - p_i/100)), rounded half up, in integers. */
static uint8_t combine(const struct node_score *out)
{
    uint64_t rem = 1, den = 1;
    for (unsigned i = 0; i < out->n_reasons; i++) {
        rem *= (uint64_t)(POINTS_FULL - out->reasons[i].points);
        den *= POINTS_FULL;
    }
    uint64_t num = (uint64_t)POINTS_FULL * (den - rem);
    return (uint8_t)((num + den / 2) / den);
}

void node_detect(struct node_score *out, const struct node_thresholds *th,
                 const struct node_signals *s)
{
    memset(out, 0, sizeof(*out));
    bool givt = false;
    double households = shared_households(th, s);
    if (s->crawler && th->points_crawler > 0) {
        struct node_reason *r = reason_add(out, "crawler_ua", 1, 1, 1, th->points_crawler);
        struct text d = {r->detail, sizeof(r->detail), 0};
        text_str(&d, s->crawler_pattern ? s->crawler_pattern : "");
        givt = true;
    }
    if (s->datacenter && th->points_datacenter > 0) {
        struct node_reason *r = reason_add(out, "datacenter_ip", 1, 1, 1, th->points_datacenter);
        struct text d = {r->detail, sizeof(r->detail), 0};
        text_str(&d, "AS");
        text_uint(&d, s->datacenter_asn);
        text_str(&d, " ");
        text_str(&d, s->datacenter_org ? s->datacenter_org : "");
        givt = true;
    }
    for (size_t i = 0; i < N_SIVT; i++) {
        const struct sivt_signal *sig = &SIVT_SIGNALS[i];
        const struct node_measure *m =
            (const struct node_measure *)((const char *)s + sig->measure);
        double t = *(const double *)((const char *)th + sig->threshold);
        if (sig->kind == SIVT_IP_COUNT)
            t *= households;
        double v;
        if (sig->kind == SIVT_SHARE) {
            /* A publisher with three requests, two from a cloud, is not
             * evidence of anything. */
            if (count_value(&s->pub_requests) < th->th_pub_min_requests)
                continue;
            v = share_value(m);
        } else {
            v = count_value(m);
        }
        uint8_t p = sivt_points(th, v, t);
        if (p == 0)
            continue;
        struct node_reason *r = reason_add(out, sig->name, m->local, m->fleet, t, p);
        sivt_detail(r, sig, m, v, t, s);
    }
    if (households > 1)
        shared_note(out, th, s, households);
    reasons_sort(out);
    out->score = combine(out);
    if (out->score >= th->bot_score)
        out->verdict = NODE_VERDICT_BOT;
    else if (out->score >= th->suspect_score)
        out->verdict = NODE_VERDICT_SUSPECT;
    else
        out->verdict = NODE_VERDICT_OK;
    /* GIVT first, as the MRC filters: a list hit names the class even when
     * statistics add to the score. No class for traffic judged ok. */
    if (out->verdict == NODE_VERDICT_OK)
        out->class_ = NODE_CLASS_NONE;
    else
        out->class_ = givt ? NODE_CLASS_GIVT : NODE_CLASS_SIVT;
}
