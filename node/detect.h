/*
 * node/detect.h: the scoring function. Signals in, a score, a verdict, a
 * class and the reasons out.
 *
 * SANS-IO and pure: node_detect reads only its arguments, keeps no state and
 * gives equal outputs for equal inputs on every node, which is why verdicts
 * need no replication (design.md: every node computes them from the same
 * converged evidence). The model is documented in docs/detection.md.
 */
#ifndef IVT_NODE_DETECT_H
#define IVT_NODE_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include "node/node.h"

/*
 * What the detector holds each signal against, and how many points a crossing
 * is worth. Counts are per window (one hour by default); a threshold of 0
 * turns its signal off. node_thresholds_defaults fills the defaults named
 * beside each field.
 */
struct node_thresholds {
    /* SIVT, compared with the fleet-wide value over the window */
    double th_ip_requests;          /* requests per IP: 3600 (60 a minute) */
    double th_ip_distinct_ua;       /* distinct user agents per IP: 10 */
    double th_device_distinct_ip;   /* distinct IPs per device: 5 */
    double th_prefix_requests;      /* requests per /24 (v4) or /48 (v6): 36000 */
    double th_pub_datacenter_share; /* share of a publisher's requests from data centers: 0.5 */
    double th_pub_min_requests;     /* below this many requests the share says nothing: 500 */

    /* Shared addresses (CGNAT, corporate proxies): an IP whose fleet-wide
     * traffic comes from at least th_shared_ip_devices distinct device ids
     * that return (events per device at least th_shared_events_per_device)
     * and do not rotate user agents (distinct UAs per device at most
     * th_shared_ua_per_device) stands for devices / th_household_devices
     * households: its per-IP thresholds (ip_requests, ip_distinct_ua) are
     * multiplied by that. th_shared_ip_devices of 0 turns this off. */
    double th_shared_ip_devices;        /* 20 */
    double th_household_devices;        /* 4 */
    double th_shared_events_per_device; /* 1.1 */
    double th_shared_ua_per_device;     /* 2 */

    /* Admission (node/core.c, docs/evidence.md): the local signals that
     * share an IP or device with the fleet. Prefixes, user agents and
     * publishers are always shared, and so is an IP or device with a GIVT
     * hit (crawler user agent, data-center address) or a manual decision.
     * The detector itself reads none of these. */
    /* this node's events of the entity in the window: 60 (one a minute for
     * the hour); lowered at run time to ceil(th_ip_requests / alive
     * members), so an IP that crosses th_ip_requests fleet-wide is always
     * admitted somewhere (the pigeonhole principle); 0: off */
    double admit_events;
    double admit_ip_distinct_ua;     /* distinct user agents of an IP seen here: 2; 0: off */
    double admit_device_distinct_ip; /* distinct IPs of a device seen here: 2; 0: off */
    /* One of this node's admit_top_k heaviest IPs and devices of the epoch
     * (Space-Saving summary, crdt/hh.h) with a guaranteed count of at least
     * admit_top_min: 32 and 3; admit_top_k 0: off (at most 4096) */
    uint32_t admit_top_k;
    uint32_t admit_top_min;

    /* points */
    uint8_t points_crawler;      /* a known crawler user agent: 100 */
    uint8_t points_datacenter;   /* a data-center address: 85 */
    uint8_t points_at_threshold; /* an SIVT signal exactly at its threshold: 50 */
    uint8_t points_per_doubling; /* and for each doubling past it: 15 */
    uint8_t points_max;          /* the most one SIVT signal can give: 95 */

    /* verdict bands */
    uint8_t suspect_score; /* at or above: suspect: 50 */
    uint8_t bot_score;     /* at or above: bot: 80 */
};

void node_thresholds_defaults(struct node_thresholds *th);
/* Returns 0, or IVT_EINVAL: a negative or non-finite threshold (or admission
 * threshold), admit_top_k over CRDT_HH_K_MAX, a share
 * threshold over 1, points over 100, suspect_score of 0, or bot_score below
 * suspect_score or over 100. */
int node_thresholds_check(const struct node_thresholds *th);

/*
 * One SIVT measurement of one entity over the window: this node's own view
 * and the merged fleet-wide view (which includes this node's).
 */
struct node_measure {
    double local;
    double fleet;
    uint32_t origins; /* nodes that contributed to fleet; 0 = unknown (explanations only) */
};

/*
 * What the node core measured for one event. Zero-initialise, then fill:
 * the GIVT part from node_rules_givt (node/rules.h), the SIVT part from the
 * evidence store, entity by entity. An entity the event lacks (no device)
 * leaves its measures at zero.
 */
struct node_signals {
    /* GIVT: list lookups, deterministic and local */
    bool crawler;                /* the user agent matches a crawler pattern */
    const char *crawler_pattern; /* which (NUL-terminated), or NULL */
    bool datacenter;             /* the address is in a hosting network */
    uint32_t datacenter_asn;
    const char *datacenter_org; /* NUL-terminated, or NULL */

    /* SIVT: counts per entity over the window, local and fleet-wide */
    struct node_measure ip_requests;        /* requests from this IP */
    struct node_measure ip_distinct_ua;     /* distinct user agents from this IP */
    struct node_measure ip_distinct_device; /* distinct device ids from this IP (shared address) */
    struct node_measure ip_events;          /* events of every kind from this IP (shared address) */
    struct node_measure device_distinct_ip; /* distinct IPs this device used */
    struct node_measure prefix_requests;    /* requests from this IP's prefix */
    struct node_measure pub_requests;       /* requests on this publisher */
    /* fraction (0..1) of this publisher's requests that came from data-center
     * addresses: datacenter requests / requests, computed locally and fleet-wide */
    struct node_measure pub_datacenter_share;
};

/*
 * Scores one event: fills out (score 0-100, verdict, class, reasons ordered
 * by points, most first; decided false). Pure and deterministic. A shared
 * address (see th_shared_ip_devices) adds a reason "shared_ip" of 0 points
 * that says by how much the IP's thresholds were raised.
 */
void node_detect(struct node_score *out, const struct node_thresholds *th,
                 const struct node_signals *s);

#endif
