/*
 * sim/report.h: what a simulated run leaves behind.
 *
 *   - the trace hash: BLAKE2b over every processed event, in order, so two
 *     runs of the same scenario and seed can be compared with one string;
 *   - the timeline: one row per simulated second (views, bytes, evidence
 *     divergence, detections), written as CSV and drawn as an SVG;
 *   - summary.json: the figures of the run beside their analytical models,
 *     and the verdict of every check the scenario declared.
 */
#ifndef IVT_SIM_REPORT_H
#define IVT_SIM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sodium.h>

#include "sim/workload.h"

/* ---- trace ------------------------------------------------------------- */

/* One processed event, as hashed. Fields are fixed-width so the hash does
 * not depend on padding or pointers. */
struct sim_trace_rec {
    int64_t t;     /* simulated ms */
    uint64_t seq;  /* the event's sequence number */
    uint32_t kind; /* what happened (the world's event kinds) */
    uint32_t node; /* where */
    uint64_t a, b; /* kind-specific: peer, length, a digest of the bytes */
};

struct sim_trace {
    crypto_generichash_state st;
    uint64_t n;
};

enum { SIM_TRACE_HEX = 33 }; /* 16-byte digest in hex, NUL included */

void sim_trace_init(struct sim_trace *tr);
void sim_trace_add(struct sim_trace *tr, const struct sim_trace_rec *rec);
/* Writes the hex digest of everything added so far (the state is kept). */
void sim_trace_hex(const struct sim_trace *tr, char out[SIM_TRACE_HEX]);
/* A 64-bit digest of bytes, for the a/b fields. */
uint64_t sim_digest64(const void *p, size_t n);

/* ---- timeline ---------------------------------------------------------- */

struct sim_timeline_row {
    double t_s;
    uint32_t live;               /* nodes actually running */
    double alive, suspect, dead; /* mean over live views of members in each state */
    double views_agree;          /* fraction of live views that match the truth */
    uint64_t bytes;              /* bytes sent this second, all nodes */
    double bytes_per_node;       /* bytes / live */
    double divergence;           /* evidence divergence between nodes, 0 = identical */
    uint64_t events, bot_events;
    uint64_t flagged, flagged_bots; /* events scored positive (and of those, bots) */
};

struct sim_timeline {
    struct sim_timeline_row *rows;
    size_t n, cap;
};

/* Returns 0 or IVT_ENOMEM. */
int sim_timeline_add(struct sim_timeline *tl, const struct sim_timeline_row *row);
void sim_timeline_destroy(struct sim_timeline *tl);
/* Returns 0, or IVT_ENOSPC when the stream fails. */
int sim_timeline_write_csv(const struct sim_timeline *tl, FILE *f);
int sim_timeline_write_svg(const struct sim_timeline *tl, FILE *f, const char *title);

/* ---- figures and models ------------------------------------------------ */

/* The p-th percentile (0..100) by nearest rank; sorts v. NAN when n == 0. */
double sim_percentile(double *v, size_t n, double p);

/* SWIM (Das et al. 2002): a failed member is first probed within
 * T' / (1 - e^-1) = e / (e - 1) probe periods on average. */
double sim_model_first_detect_s(double probe_interval_s);

/* Infection-style dissemination (the logistic epidemic): with each informed
 * node telling `fanout` others every `interval_s`, the time until a fraction
 * `frac` of n nodes knows, plus `latency_s` per hop is ignored. */
double sim_model_dissemination_s(double n, double fanout, double interval_s, double frac);

/* ---- summary ----------------------------------------------------------- */

enum { SIM_MAX_CHECKS = 16 };

struct sim_check_result {
    char name[40];
    bool ok;
    double measured, limit;
    char detail[160];
};

/* What the fleet decided on one actor group's events (after score_after_s):
 * shows which traps cost precision and which bots escape. */
struct sim_actor_result {
    char name[SIM_NAME_MAX];
    bool bot;
    uint64_t events, flagged;
};

/* Where the bytes of bytes_per_node_per_s go (per node per second, from
 * the cores' own gossip counters), and what became of application
 * payloads (evidence deltas, decisions) fleet-wide. */
struct sim_traffic {
    double membership; /* piggybacked membership updates */
    double payload;    /* piggybacked application payloads, retransmissions included */
    double probe;      /* pings, acks, nacks, indirect probes */
    double pushpull;   /* push-pull streams (digests, repairs, member state) */
    double overhead;   /* datagram envelope and headers */
    uint64_t payloads_published, payloads_delivered, payloads_dropped;
    uint64_t payload_datagrams; /* datagrams that delivered any (a node core merges them as one) */
    /* lazy push (gossip app_eager): payloads asked for after an
     * announcement, asks answered or not, announcements not followed up */
    uint64_t asks_sent, asks_answered, asks_unanswered, asks_overflow;
};

struct sim_summary {
    char scenario[64];
    char scenario_path[512];
    uint32_t nodes;
    double sim_seconds, wall_seconds;
    uint64_t seed;
    char trace_hash[SIM_TRACE_HEX];
    uint64_t trace_events;

    /* failure detection; NAN when nothing crashed */
    uint32_t crashes;
    double first_detect_s, first_detect_model_s;
    double first_dead_s;
    double dead_everywhere_p50_s, dead_everywhere_p99_s;
    uint32_t dead_everywhere_missing; /* crashes never dead everywhere by the end */
    uint32_t false_dead;
    uint32_t false_suspect_views; /* views that suspected a healthy node, summed */
    double dissemination_p99_s, dissemination_model_p99_s;

    /* load */
    double bytes_per_node_per_s, bytes_per_node_per_s_max_node;
    uint64_t packets_sent, packets_dropped_net, packets_oversize;
    uint64_t packets_policed; /* of packets_dropped_net: over bandwidth_kbps */
    /* State the gossip cores dropped for want of memory: a run with any is
     * the allocator's, not the protocol's (a process limit, say). */
    uint64_t gossip_nomem;
    /* Host ticks the network ran; and the gossip cores' join-storm
     * counters summed (docs/gossip.md, "Join storms"): members new to a
     * node sent fewer times, push-pulls after the view grew, and pulls
     * repeated because the last one brought members. */
    uint64_t ticks, storm_updates, syncs_after_growth, pulls_again;
    /* Suspects that talked to a node and were shown their accusation, and
     * suspicions shown to the suspect at the shortest timeout
     * (docs/gossip.md, "Failure detection"), summed. */
    uint64_t suspects_heard, suspects_shown;
    struct sim_traffic traffic;

    /* convergence */
    bool converged;
    double converged_after_s; /* after the last fault healed; NAN if never */
    double divergence_final;

    /* detection quality, over events after checks.score_after_s */
    uint64_t scored, scored_bots;
    double recall, precision, recall_isolated, precision_isolated, recall_oracle, precision_oracle;
    uint64_t tp, fp, fn;
    size_t n_actors;
    struct sim_actor_result actors[SIM_MAX_ACTORS];

    size_t n_checks;
    struct sim_check_result checks[SIM_MAX_CHECKS];
    bool passed;
};

/* Writes summary.json (jansson, keys sorted for stable output). NAN figures
 * are written as null. Returns 0, or IVT_ENOENT (cannot write), IVT_ENOMEM. */
int sim_summary_write_json(const struct sim_summary *s, const char *path);

#endif
