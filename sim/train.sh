#!/bin/bash
# sim/train.sh IVTSIM: the training runs of `make release`'s profile-guided
# build. IVTSIM is the instrumented simulator; each run adds to the .gcda
# profiles beside its objects, from which GCC learns which branches are
# taken and which calls are hot.
#
# The profile should be a fleet's work, not the benchmark's: every scenario
# at its own size (faults, loss, partitions, churn, the workloads' bots and
# traps), the node core at 300 nodes (evidence merged from hundreds of
# origins, HyperLogLog-promoted counters) and membership alone at 2,000
# (joins, member tables, push-pull). The benchmarks run other sizes
# (docs/benchmarks.md). About 17 s on the 2-vCPU VM, instrumented.
set -euo pipefail
sim=${1:?usage: sim/train.sh IVTSIM}
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for cfg in sim/scenarios/*.cfg; do
    "$sim" "$cfg" --quiet --out "$out/s"
done
"$sim" sim/scenarios/smoke.cfg --nodes 300 --duration 120 --quiet --out "$out/s"
# smoke.cfg's checks are sized for its 20 nodes: at 2,000 its 40 s
# convergence check may fail (exit 1), and the profile is written anyway.
"$sim" sim/scenarios/smoke.cfg --nodes 2000 --duration 60 --membership-only --quiet \
    --out "$out/s" || [ $? = 1 ]
