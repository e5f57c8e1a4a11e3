#!/bin/bash
# Every scenario in sim/scenarios/ at its (small) size with its checks on,
# and the determinism check (two runs compared event by event) on three of
# them: one region, crash and restart from a snapshot, and the latency
# matrix with every link fault. ivtsim exits 1 on a failed check and prints the replay command.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for cfg in sim/scenarios/*.cfg; do
    name=$(basename "$cfg" .cfg)
    echo "sim: $name"
    timeout 600 bin/ivtsim "$cfg" --quiet --out "$out/$name"
done
for name in smoke crash regions; do
    echo "sim: $name --check-determinism"
    timeout 600 bin/ivtsim "sim/scenarios/$name.cfg" --check-determinism --quiet --out "$out/det-$name"
done
# A failed check says what it missed and prints one command that replays
# the run, every option that changed it included: run as printed, it makes
# the same events (the same trace hash) and fails the same way.
echo "sim: a failed check's replay command"
# expect_fail NAME WHAT DETAIL COUNT ARGS...: ivtsim ARGS exits 1, prints
# DETAIL on COUNT lines of stderr (kept in $out/NAME.err), and no "nan".
expect_fail() {
    local name=$1 what=$2 detail=$3 count=$4 rc=0
    shift 4
    bin/ivtsim "$@" --quiet --out "$out/$name" 2> "$out/$name.err" || rc=$?
    if [ "$rc" != 1 ] || grep -q nan "$out/$name.err" ||
        [ "$(grep -cF "$detail" "$out/$name.err")" != "$count" ]; then
        echo "sim: $what: exit $rc, expected 1 and $count line(s) of: $detail"
        cat "$out/$name.err"
        exit 1
    fi
}
expect_fail failed "a run past its faults' end" \
    "FAIL converged: the last heal at 55.0 s is after the run's end at 20.0 s" 1 \
    sim/scenarios/smoke.cfg --duration 20 --membership-only
# A crash the run ends too soon after to see dead everywhere is named as such
# (it printed "p99 nan s"), and so are the checks that compare recalls when
# no bot event was scored (botnet.cfg scores after 120 s; they printed "nan").
expect_fail early "a run that ends 2 s after a crash" \
    "FAIL dead_everywhere: 1 crashes, none dead everywhere by the end at 32.0 s (limit 30.0 s)" 1 \
    sim/scenarios/smoke.cfg --duration 32
expect_fail unscored "a run that scores no bot event" \
    "no bot events scored after 120.0 s, so no recall to compare" 2 \
    sim/scenarios/botnet.cfg --duration 100
replay=$(sed -n 's/^replay: //p' "$out/failed.err")
rc=0
eval "$replay --quiet --out '$out/replayed'" 2> "$out/replayed.err" || rc=$?
trace() { /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["trace_hash"])' "$1/summary.json"; }
if [ "$rc" != 1 ] || [ "$(trace "$out/failed")" != "$(trace "$out/replayed")" ]; then
    echo "sim: the replay command ($replay) exited $rc or ran other events"
    exit 1
fi
# Every key of summary.json is described in docs/simulator.md ("Outputs"),
# where an analyst reads what a figure means.
/usr/bin/python3 - "$out/smoke/summary.json" docs/simulator.md <<'PY'
import json, re, sys
keys = json.load(open(sys.argv[1])).keys()
doc = open(sys.argv[2]).read()
named = set(re.findall(r"`([a-z0-9_]+)`", doc))
# "`dead_everywhere_p50_s` / `_p99_s`" names two keys
named |= {a[: a.rfind("_p50_s")] + b for a, b in re.findall(r"`([a-z0-9_]+_p50_s)` / `(_p99_s)`", doc)}
missing = sorted(k for k in keys if k not in named)
if missing:
    sys.exit("sim: summary.json keys not in docs/simulator.md: " + ", ".join(missing))
PY
echo "sim: all scenarios passed"
