#!/bin/bash
# tests/release_check.sh RELEASE_IVTSIM: the release build (make release:
# -O3, LTO, profile-guided) runs the same events as the default build, to
# the byte. The simulator's traces are deterministic by design; a release
# binary whose trace differed would show undefined behaviour, or
# floating-point arithmetic that the optimiser rearranged, in code the
# daemon runs too.
set -euo pipefail
shopt -s inherit_errexit
rel=$(realpath "${1:?usage: tests/release_check.sh RELEASE_IVTSIM}")
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
trace() { # trace BINARY ARGS...: the run's trace_hash
    local b=$1
    shift
    rm -rf "$out/run"
    timeout 600 "$b" "$@" --quiet --out "$out/run" >/dev/null
    /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["trace_hash"])' \
        "$out/run/summary.json"
}
runs=("smoke" "crash" "botnet" "regions" "partition" "smoke --membership-only")
for run in "${runs[@]}"; do
    read -r name args <<<"$run"
    what=$name${args:+ $args}
    # shellcheck disable=SC2086
    a=$(trace bin/ivtsim "sim/scenarios/$name.cfg" $args)
    # shellcheck disable=SC2086
    b=$(trace "$rel" "sim/scenarios/$name.cfg" $args)
    if [ "$a" != "$b" ]; then
        echo "release: $what: trace $b, the default build's $a"
        echo "  replay: bin/ivtsim sim/scenarios/$name.cfg${args:+ $args} --out A;" \
            "$rel sim/scenarios/$name.cfg${args:+ $args} --out B"
        exit 1
    fi
    echo "release: $what: trace $a in both builds"
done
