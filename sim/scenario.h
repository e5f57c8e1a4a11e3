/*
 * sim/scenario.h: a simulator scenario, parsed from a libconfig file.
 *
 * Parsing is strict: an unknown key, a value of the wrong type or out of
 * range is an error naming file:line, so a typo never silently runs a
 * different experiment. Every key is documented at the top of each file in
 * sim/scenarios/ and in docs/simulator.md.
 */
#ifndef IVT_SIM_SCENARIO_H
#define IVT_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "sim/workload.h"

/* The largest fleet and the longest run a scenario file or ivtsim's
 * --nodes and --duration may ask for: a typo must not ask for a million
 * nodes or a year of simulation. */
enum { SIM_MAX_NODES = 100000, SIM_MAX_DURATION_S = 7 * 24 * 3600 };

/* A set of nodes a fault applies to, resolved at the fault's time. */
enum sim_sel_kind {
    SIM_SEL_ALL = 0, /* "all" */
    SIM_SEL_COUNT,   /* "random:N": N distinct live nodes */
    SIM_SEL_PERCENT, /* "random:P%" */
    SIM_SEL_REGION,  /* "region:NAME" */
    SIM_SEL_RANGE,   /* "nodes:A-B" (inclusive) or "node:I" */
    SIM_SEL_REST,    /* "rest": every node not in the other side (partitions) */
    SIM_SEL_HALF,    /* "half": the first half of the node ids */
};

struct sim_sel {
    enum sim_sel_kind kind;
    uint32_t a, b;  /* COUNT: a; RANGE: a..b; REGION: a = region index */
    double percent; /* PERCENT */
};

enum sim_fault_kind {
    SIM_FAULT_CRASH = 0, /* stop; with restart_after_s: come back as a new generation */
    SIM_FAULT_PAUSE,     /* the event loop stalls for for_s, then runs what queued up */
    SIM_FAULT_PARTITION, /* side a and side b cannot talk for for_s (oneway: b -> a only) */
    SIM_FAULT_LEAVE,     /* graceful leave */
    SIM_FAULT_CHURN,     /* Poisson joins of new nodes and graceful leaves */
    SIM_FAULT_CLOCK,     /* wall-clock offset and drift */
    SIM_FAULT_LOSS,      /* change the network's iid loss for for_s */
    SIM_FAULT_KINDS
};

const char *sim_fault_kind_name(enum sim_fault_kind k);

struct sim_fault {
    enum sim_fault_kind kind;
    ivt_ms at;            /* simulated ms */
    ivt_ms duration;      /* pause / partition / loss: how long; crash: restart after (0 never) */
    struct sim_sel nodes; /* who (side a of a partition) */
    struct sim_sel other; /* partition: side b */
    bool oneway;          /* partition: only b -> a is cut */
    bool excused;         /* pause, partition: nodes hit may be declared dead (default true) */
    bool from_snapshot;   /* crash+restart: restore the snapshot taken at the crash */
    double offset_min_ms, offset_max_ms;  /* clock: uniform offset */
    double drift_min_ppm, drift_max_ppm;  /* clock: uniform drift */
    double joins_per_min, leaves_per_min; /* churn, until at + duration */
    double loss;                          /* loss: the new iid loss */
    int between[2]; /* loss: only the links between these regions (both ways); -1: all links */
};

struct sim_region {
    char name[SIM_NAME_MAX];
    double node_share; /* fraction of the nodes hosted there */
};

struct sim_gilbert {
    bool on;
    double p, r;                /* P(good -> bad), P(bad -> good) per packet */
    double loss_bad, loss_good; /* loss probability in each state */
};

/* One directed link between two regions (or inside one). */
struct sim_link_config {
    double latency_ms; /* one-way base delay */
    double jitter_ms;  /* uniform extra delay in [0, jitter_ms] */
    double loss;       /* iid loss per datagram */
    double duplicate;  /* probability a datagram is delivered twice */
    double reorder;    /* probability a datagram is held back */
    double reorder_ms; /* for [reorder_ms, 2 reorder_ms] (0: the link's latency) */
};

struct sim_network {
    uint32_t n_regions;
    struct sim_region regions[SIM_MAX_REGIONS];
    double latency_ms[SIM_MAX_REGIONS][SIM_MAX_REGIONS]; /* one-way base delay */
    /* network-wide jitter, loss, duplication, reordering (its latency_ms is
     * unused: the matrix above holds the latencies) */
    struct sim_link_config all;
    struct sim_gilbert gilbert;
    double bandwidth_kbps; /* egress per node (0: unlimited) */
    uint32_t packet_size;  /* datagrams larger than this are dropped */
    /* Every directed pair of regions, resolved: the network-wide values
     * above and the latency matrix, then the `links` overrides. What the
     * simulator runs. */
    struct sim_link_config links[SIM_MAX_REGIONS][SIM_MAX_REGIONS];
};

struct sim_node_settings {
    char profile[16]; /* "lan" | "wan" | "local" */
    ivt_ms epoch_ms;
    uint32_t window_epochs;
    uint32_t max_entities;
    uint32_t gossip_bytes_per_s;
    uint32_t th_ip_requests, th_ip_distinct_ua, th_device_distinct_ip;
    uint32_t th_shared_ip_devices, th_household_devices; /* shared addresses (detect.h) */
    uint8_t suspect_score, bot_score;
    bool admit_all; /* share every entity (node_config.admit_all): admission off */
    uint32_t member_feedback, app_feedback; /* gossip's Demers feedback; 0: off */
    uint8_t aead;                           /* cipher: an enum gossip_aead; 0: gossip's default */
    bool set_epoch_ms, set_window_epochs, set_max_entities, set_gossip_bytes_per_s;
    bool set_th_ip_requests, set_th_ip_distinct_ua, set_th_device_distinct_ip;
    bool set_th_shared_ip_devices, set_th_household_devices;
    bool set_suspect_score, set_bot_score;
};

struct sim_checks {
    bool has_false_dead;
    uint32_t false_dead_max;
    bool has_dead_everywhere;
    double dead_everywhere_s; /* every crashed node dead in every live view within */
    bool has_converged;
    double converged_s; /* identical views within this after the last fault heals */
    bool has_bytes;
    double bytes_per_node_per_s_max;
    bool has_recall, has_precision;
    double recall_min, precision_min;
    bool fleet_beats_isolated; /* recall > recall_isolated */
    /* recall >= recall_vs_oracle_min x recall_oracle: what gossip fails
     * to carry, against one node fed every event (needs sim.oracle) */
    bool has_recall_vs_oracle;
    double recall_vs_oracle_min;
    bool positive_suspect; /* a suspect verdict counts as flagged (default: bot only) */
    double score_after_s;  /* quality counts events after this time (evidence warm-up) */
};

struct sim_scenario {
    char path[512];
    char name[64];
    uint64_t seed;
    uint32_t nodes;
    ivt_ms duration;
    uint32_t isolated_nodes; /* shadow nodes that see their own traffic only */
    bool oracle;             /* a shadow node that sees all traffic */
    ivt_ms join_over;        /* nodes start one by one over this span */
    struct sim_network net;
    struct sim_node_settings node;
    struct sim_workload_config workload;
    bool workload_scale_with_nodes;
    uint32_t workload_nodes; /* the node count the rates were written for */
    size_t n_faults;
    struct sim_fault *faults;
    struct sim_checks checks;
};

/*
 * Reads and checks a scenario file. On failure err holds "file:line: what".
 * Returns 0, or IVT_ENOENT (unreadable), IVT_EPROTO (syntax), IVT_EINVAL (an
 * unknown key, a wrong type, a value out of range), IVT_ENOMEM.
 */
int sim_scenario_load(struct sim_scenario *out, const char *path, char *err, size_t errcap);
/* The same from text; name is used in messages. */
int sim_scenario_parse(struct sim_scenario *out, const char *text, const char *name, char *err,
                       size_t errcap);
void sim_scenario_destroy(struct sim_scenario *sc);

/* The latest time a fault is still acting (its heal time), 0 if none. */
ivt_ms sim_scenario_last_heal(const struct sim_scenario *sc);

#endif
