/*
 * sim/main.c: ivtsim, the command line of the fleet simulator.
 *
 *   ivtsim SCENARIO.cfg [--seed N] [--nodes N] [--out DIR] [--duration S]
 *          [--check-determinism] [--membership-only] [--quiet] [--root DIR]
 *   ivtsim SCENARIO.cfg --emit-events N [--seed N]
 *
 * Runs the scenario, writes DIR/summary.json, DIR/timeline.csv and
 * DIR/timeline.svg, prints the figures and the checks, and exits 1 when a
 * check fails, printing the one command that replays the run. Progress
 * (simulated time, events per second, ETA) goes to stderr once a run takes
 * more than a couple of seconds.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "base/checkout.h"
#include "base/err.h"
#include "gossip/envelope.h"
#include "sim/args.h"
#include "sim/files.h"
#include "sim/internal.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/workload.h"
#include "sim/world.h"
#include "node/rules.h"

enum {
    EXIT_OK = 0,
    EXIT_CHECKS = 1, /* a declared check failed, or the determinism check did */
    EXIT_USAGE = 2,
    EXIT_ERROR = 3,       /* the scenario, the data or the run itself failed */
    SLICE_MS = 1000,      /* the run advances a simulated second at a time */
    PROGRESS_EVERY_S = 2, /* stderr progress once a run is this long */
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *default_root(const char *argv0, char *buf, size_t cap)
{
    const char *env = getenv("IVT_ROOT");
    if (env && *env)
        return env;
    /* The checkout the binary is in (base/checkout.h); else the directory
     * above it, which the error about a missing file then names. */
    const char *slash = strrchr(argv0, '/');
    if (!slash)
        return ".";
    size_t dir = (size_t)(slash - argv0);
    if (!ivt_checkout_root(buf, cap, argv0, dir, "sim/data"))
        snprintf(buf, cap, "%.*s/..", (int)dir, argv0);
    return buf;
}

static int emit_events(const struct sim_scenario *sc, const struct sim_data *data, long long n)
{
    struct sim_workload *wl;
    int rc = sim_workload_new(&wl, &sc->workload, data);
    if (rc) {
        fprintf(stderr, "ivtsim: %s: the workload cannot be built: %s\n", sc->path,
                ivt_strerror(rc));
        return EXIT_ERROR;
    }
    /* Any event fits: a line cut or skipped would be a silent gap. */
    char line[SIM_EVENT_JSON_MAX];
    int status = EXIT_OK;
    for (long long i = 0; i < n && sim_workload_peek(wl) != IVT_MS_NEVER; i++) {
        struct sim_event ev;
        sim_workload_next(wl, &ev);
        int len = sim_event_json(line, sizeof(line), &ev);
        if (len < 0 || fwrite(line, 1, (size_t)len, stdout) != (size_t)len) {
            status = EXIT_ERROR;
            break;
        }
    }
    sim_workload_delete(wl);
    return fflush(stdout) ? EXIT_ERROR : status;
}

static void replay_hint(const struct sim_args *o, const struct sim_scenario *sc)
{
    char cmd[3 * PATH_MAX];
    if (sim_replay_command(cmd, sizeof(cmd), o, sc->seed, sc->nodes) < 0)
        fprintf(stderr, "replay (the command is too long to print whole): %s...\n", cmd);
    else
        fprintf(stderr, "replay: %s\n", cmd);
}

/* Runs two worlds side by side, a simulated second at a time, and compares
 * what they did event by event. Returns 0 when they agree to the end. */
static int lockstep(struct sim_world *a, struct sim_world *b)
{
    for (ivt_ms t = 0;; t += SLICE_MS) {
        if (t > sim_world_end(a))
            t = sim_world_end(a);
        int ra = sim_world_run_until(a, t), rb = sim_world_run_until(b, t);
        if (ra || rb)
            return ra ? ra : rb;
        size_t na, nb;
        const struct sim_trace_rec *x = sim_world_records(a, &na), *y = sim_world_records(b, &nb);
        size_t n = na < nb ? na : nb;
        for (size_t i = 0; i <= n; i++) {
            bool same = i < n ? memcmp(&x[i], &y[i], sizeof(x[i])) == 0 && x[i].t == y[i].t &&
                                    x[i].seq == y[i].seq
                              : na == nb;
            if (same)
                continue;
            char da[160] = "(none)", db[160] = "(none)";
            if (i < na)
                sim_world_describe(&x[i], da, sizeof(da));
            if (i < nb)
                sim_world_describe(&y[i], db, sizeof(db));
            fprintf(stderr,
                    "determinism: FAIL: the runs differ at event %zu of second %.0f:\n"
                    "  first run:  %s\n  second run: %s\n",
                    i, (double)t / IVT_MS_PER_S, da, db);
            return IVT_EPROTO;
        }
        sim_world_clear_records(a);
        sim_world_clear_records(b);
        if (t == sim_world_end(a))
            return 0;
    }
}

static int mkdirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

static int write_outputs(const char *dir, const struct sim_summary *s,
                         const struct sim_timeline *tl)
{
    char path[1200];
    if (mkdirs(dir)) {
        fprintf(stderr, "ivtsim: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    if (sim_summary_write_json(s, path)) {
        fprintf(stderr, "ivtsim: cannot write %s\n", path);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/timeline.csv", dir);
    FILE *f = fopen(path, "w");
    int rc = f ? sim_timeline_write_csv(tl, f) : -1;
    if (f && fclose(f))
        rc = -1;
    if (rc) {
        fprintf(stderr, "ivtsim: cannot write %s\n", path);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/timeline.svg", dir);
    f = fopen(path, "w");
    char title[256];
    snprintf(title, sizeof(title), "ivtsim %s: %u nodes, seed %llu, trace %.12s", s->scenario,
             s->nodes, (unsigned long long)s->seed, s->trace_hash);
    rc = f ? sim_timeline_write_svg(tl, f, title) : -1;
    if (f && fclose(f))
        rc = -1;
    if (rc) {
        fprintf(stderr, "ivtsim: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static void print_summary(const struct sim_summary *s, const char *dir, const char *core)
{
    printf("scenario %s: %u nodes (%s), %.0f simulated s in %.2f wall s, seed %llu\n", s->scenario,
           s->nodes, core, s->sim_seconds, s->wall_seconds, (unsigned long long)s->seed);
    printf("trace_hash %s (%llu events)\n", s->trace_hash, (unsigned long long)s->trace_events);
    if (s->crashes)
        printf("failure detection: %u crashes, first detect %.2f s (model %.2f s), dead "
               "everywhere p50 %.2f s p99 %.2f s, dissemination p99 %.2f s (model %.2f s)\n",
               s->crashes, s->first_detect_s, s->first_detect_model_s, s->dead_everywhere_p50_s,
               s->dead_everywhere_p99_s, s->dissemination_p99_s, s->dissemination_model_p99_s);
    printf("false dead %u, bytes per node per second %.0f (busiest node %.0f), converged %s",
           s->false_dead, s->bytes_per_node_per_s, s->bytes_per_node_per_s_max_node,
           s->converged ? "yes" : "no");
    if (isfinite(s->converged_after_s))
        printf(" (%.1f s after the last heal)", s->converged_after_s);
    printf("\n");
    if (s->scored)
        printf("detection: recall %.3f precision %.3f | isolated recall %.3f | oracle recall "
               "%.3f (%llu events scored)\n",
               s->recall, s->precision, s->recall_isolated, s->recall_oracle,
               (unsigned long long)s->scored);
    for (size_t i = 0; i < s->n_checks; i++)
        printf("check %-22s %s  %s\n", s->checks[i].name, s->checks[i].ok ? "ok  " : "FAIL",
               s->checks[i].detail);
    printf("outputs: %s/summary.json %s/timeline.csv %s/timeline.svg\n", dir, dir, dir);
}

int main(int argc, char **argv)
{
    struct sim_args o;
    char msg[SIM_ARGS_MSG_MAX];
    if (sim_args_parse(&o, argc, argv, msg, sizeof(msg))) {
        fprintf(stderr, "ivtsim: %s\n", msg);
        sim_usage(stderr);
        return EXIT_USAGE;
    }
    if (o.help) {
        sim_usage(stdout);
        return EXIT_OK;
    }
    if (sodium_init() < 0)
        return EXIT_ERROR;
    sim_process_setup();
    struct sim_scenario sc;
    char err[1024] = "";
    if (sim_scenario_load(&sc, o.scenario, err, sizeof(err))) {
        fprintf(stderr, "ivtsim: %s\n", err);
        return EXIT_ERROR;
    }
    if (o.has_seed)
        sc.seed = sc.workload.seed = o.seed;
    if (o.nodes)
        sc.nodes = o.nodes;
    if (o.duration_s > 0)
        sc.duration = (ivt_ms)(o.duration_s * IVT_MS_PER_S);
    if (o.aead)
        sc.node.aead = o.aead;
    if (sc.node.aead && !gossip_aead_available((enum gossip_aead)sc.node.aead)) {
        fprintf(stderr, "ivtsim: cipher %s: this CPU cannot run it (it lacks AES-NI or PCLMUL)\n",
                gossip_aead_name((enum gossip_aead)sc.node.aead));
        sim_scenario_destroy(&sc);
        return EXIT_ERROR;
    }
    char rootbuf[1024];
    const char *root = o.root ? o.root : default_root(argv[0], rootbuf, sizeof(rootbuf));
    struct sim_data *data = NULL;
    int rc = sim_data_load(&data, root, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "ivtsim: %s (use --root or IVT_ROOT to point at the repository)\n", err);
        sim_scenario_destroy(&sc);
        return EXIT_ERROR;
    }
    if (o.emit >= 0) {
        rc = emit_events(&sc, data, o.emit);
        sim_data_delete(data);
        sim_scenario_destroy(&sc);
        return rc;
    }

    const struct sim_core_ops *core = &sim_core_gossip;
    const struct node_rules *rules = NULL;
    struct node_rules *own_rules = NULL;
    if (!o.membership_only) {
        rc = sim_rules_load(&own_rules, root, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "ivtsim: GIVT rules: %s\n", err[0] ? err : ivt_strerror(rc));
            sim_data_delete(data);
            sim_scenario_destroy(&sc);
            return EXIT_ERROR;
        }
        rules = own_rules;
        core = &sim_core_node;
    }

    double t0 = wall_now();
    struct sim_world *w = NULL, *twin = NULL;
    err[0] = 0;
    rc = sim_world_new(&w, &sc, core, data, rules, o.determinism, err, sizeof(err));
    if (!rc && o.determinism)
        rc = sim_world_new(&twin, &sc, core, data, rules, true, err, sizeof(err));
    int status = EXIT_OK;
    if (rc) {
        fprintf(stderr, "ivtsim: %s\n", err[0] ? err : ivt_strerror(rc));
        status = EXIT_ERROR;
        goto out;
    }
    if (o.determinism) {
        rc = lockstep(w, twin);
        if (rc == IVT_EPROTO) {
            replay_hint(&o, &sc);
            status = EXIT_CHECKS;
            goto out;
        }
        if (!o.quiet && !rc)
            fprintf(stderr, "determinism: ok, two runs agree on every event\n");
    } else {
        double last = t0;
        for (ivt_ms t = SLICE_MS; !rc; t += SLICE_MS) {
            rc = sim_world_run_until(w, t);
            double now = wall_now();
            if (!o.quiet && now - last >= PROGRESS_EVERY_S) {
                double done = (double)sim_world_now(w) / (double)sim_world_end(w);
                fprintf(stderr, "ivtsim: %.0f/%.0f simulated s, %.2fM events/s, ETA %.0f s\n",
                        (double)sim_world_now(w) / IVT_MS_PER_S,
                        (double)sim_world_end(w) / IVT_MS_PER_S,
                        (double)sim_world_events(w) / (now - t0) / 1e6,
                        done > 0 ? (now - t0) * (1 - done) / done : 0);
                last = now;
            }
            if (t >= sim_world_end(w))
                break;
        }
    }
    if (rc) {
        fprintf(stderr, "ivtsim: the run failed: %s\n", ivt_strerror(rc));
        status = EXIT_ERROR;
        goto out;
    }
    struct sim_summary s;
    const struct sim_timeline *tl;
    sim_world_finish(w, &s, &tl);
    s.wall_seconds = wall_now() - t0;
    char dir[1024];
    if (o.out)
        snprintf(dir, sizeof(dir), "%s", o.out);
    else
        snprintf(dir, sizeof(dir), "out/sim-%s", s.scenario);
    if (write_outputs(dir, &s, tl)) {
        status = EXIT_ERROR;
        goto out;
    }
    if (!o.quiet)
        print_summary(&s, dir, core->name);
    if (s.gossip_nomem)
        fprintf(stderr,
                "ivtsim: warning: the cores dropped gossip state %llu times for want of memory "
                "(a process limit?): the figures are not the protocol's alone\n",
                (unsigned long long)s.gossip_nomem);
    if (!s.passed) {
        for (size_t i = 0; i < s.n_checks; i++)
            if (!s.checks[i].ok)
                fprintf(stderr, "FAIL %s: %s\n", s.checks[i].name, s.checks[i].detail);
        replay_hint(&o, &sc);
        status = EXIT_CHECKS;
    }
out:
    sim_world_delete(w);
    sim_world_delete(twin);
    node_rules_delete(own_rules);
    sim_data_delete(data);
    sim_scenario_destroy(&sc);
    return status;
}
