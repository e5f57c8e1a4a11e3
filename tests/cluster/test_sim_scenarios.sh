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
echo "sim: all scenarios passed"
