/*
 * sim/world.h: N node cores on the virtual network, under a scenario.
 *
 * The world hosts real node cores (node/node.h: the gossip, evidence and
 * detector code the daemon runs) on sim/net, starts them, injects the
 * scenario's faults, routes the workload's events to nodes the way a load
 * balancer does (by region), scores them, and measures: failure detection
 * and dissemination from each view, bytes, convergence, evidence
 * divergence, recall and precision against the ground truth (and against
 * isolated and oracle shadow nodes).
 */
#ifndef IVT_SIM_WORLD_H
#define IVT_SIM_WORLD_H

#include <stdbool.h>
#include <stddef.h>

#include "base/clock.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/workload.h"

struct sim_world;
struct node_rules;
struct sim_core_ops;

/*
 * Process-wide settings for a program that hosts worlds (ivtsim, the
 * benchmarks), called once before the first world: glibc's mmap
 * threshold is fixed at SIM_MMAP_THRESHOLD, so every member table of a
 * large fleet gets its own mapping and grows by mremap, without a copy
 * and without leaving its old pages in the heap. glibc's own threshold
 * rises as large chunks are freed (up to 32 MB), and then the tables grew
 * in the heap, each doubling leaving a hole that stays resident: 1.4 GB
 * of a 10,000-node run's 15.6 (docs/benchmarks.md, "Session 14"). Does
 * nothing with other C libraries.
 */
void sim_process_setup(void);

/*
 * Builds the world at simulated time 0: nodes are scheduled to start over
 * the scenario's join span. core is what each node runs (sim/internal.h:
 * the node core, or bare gossip for membership-only runs). sc, data and rules must outlive the
 * world; rules may be NULL (no GIVT rules). With record set, every processed event is also kept
 * (sim_world_records) for the determinism check. On failure err says why. Returns 0, or IVT_ENOMEM,
 * IVT_EINVAL (a scenario the world cannot run), or what node_new returned.
 */
int sim_world_new(struct sim_world **out, const struct sim_scenario *sc,
                  const struct sim_core_ops *core, const struct sim_data *data,
                  const struct node_rules *rules, bool record, char *err, size_t errcap);
void sim_world_delete(struct sim_world *w);

/* Runs the simulation up to simulated time t (capped at the scenario's
 * end). Returns 0, or IVT_ENOMEM. */
int sim_world_run_until(struct sim_world *w, ivt_ms t);
ivt_ms sim_world_now(const struct sim_world *w);
ivt_ms sim_world_end(const struct sim_world *w);
/* Events processed so far (network deliveries, ticks, ad events, faults). */
uint64_t sim_world_events(const struct sim_world *w);

/* The records kept since the last sim_world_clear_records (record mode). */
const struct sim_trace_rec *sim_world_records(const struct sim_world *w, size_t *n);
void sim_world_clear_records(struct sim_world *w);
/* A one-line description of a record, for the determinism report. */
void sim_world_describe(const struct sim_trace_rec *r, char *buf, size_t cap);

/*
 * Ends the run: fills the summary (figures, models, checks) and hands out
 * the timeline (owned by the world). Call once, after the last run_until.
 */
void sim_world_finish(struct sim_world *w, struct sim_summary *out,
                      const struct sim_timeline **timeline);

#endif
