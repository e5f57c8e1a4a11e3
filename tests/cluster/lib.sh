# tests/cluster/lib.sh: helpers for the cluster tests (sourced, bash).
#
# Each test starts real ivtd processes on 127.0.0.x with ports picked from
# its pid, in a fresh directory under /tmp; the trap stops every daemon it
# started (by pid) and removes the directory, on success and on failure.
# Waits are bounded: "within T seconds", never forever.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IVTD=${IVTD:-$ROOT/bin/ivtd}
PY=/usr/bin/python3 # Debian's, with python3-msgpack (.ci/deps)
RPC="$PY $ROOT/tests/cluster/rpc.py"
T=$(mktemp -d /tmp/ivt-cluster-XXXXXX)
# The gossip port; the API is +1, metrics +2 (a test uses at most 10). It
# comes from the pid, below the kernel's ephemeral range: a block inside it
# could already be some connection's local port ("address already in use"
# once in a CI run whose block was 39290).
EPHEMERAL_LO=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$EPHEMERAL_LO" -gt 11000 ] || EPHEMERAL_LO=32768
PORT=$((10000 + ($$ % ((EPHEMERAL_LO - 10000) / 10 - 1)) * 10))
KEY=$(head -c 32 /dev/urandom | base64)
PIDS=()

[ -x "$IVTD" ] || { echo "FAIL: $IVTD is not built"; exit 1; }
$PY -c 'import msgpack' || { echo "FAIL: python3-msgpack is missing (make deps)"; exit 1; }

cleanup() {
    local rc=$?
    # SIGTERM first: a daemon still running leaves and saves (and, under
    # make cluster-asan, LeakSanitizer checks it on the way out); one that
    # has not exited within 5 s is killed.
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    # Reaped here, so bash does not report each as "Killed" on the way out.
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ $rc -ne 0 ]; then
        echo "--- logs of the failed test ($T)"
        for f in "$T"/n*.log; do [ -f "$f" ] && { echo "== $f"; tail -20 "$f"; }; done
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "ok: $*"; }

# config I [extra libconfig text]: writes $T/nI.cfg for node I (127.0.0.I).
# SEEDS (a libconfig list body) overrides the seed list, "" for none;
# CLUSTER_EXTRA adds settings inside the cluster group.
config() {
    local i=$1 extra=${2:-} seeds=${SEEDS-"\"127.0.0.1:$PORT\""}
    cat > "$T/n$i.cfg" <<CFG
node = { name = "n$i"; state_dir = "$T/s$i"; snapshot_interval = "1s"; };
cluster = { bind = "127.0.0.$i:$PORT"; seeds = [$seeds]; encrypt = "$KEY";
            profile = "local"; ${CLUSTER_EXTRA:-} };
api = { listen = ["127.0.0.$i:$((PORT + 1))"]; };
control = { socket = "$T/c$i.sock"; };
metrics = { listen = "127.0.0.$i:$((PORT + 2))"; };
detect = { crawler_file = "$ROOT/node/data/crawler-user-agents.json";
           hosting_file = "$ROOT/node/data/hosting-asn-ipv4.csv"; };
$extra
CFG
}

# start I: runs node I in the background (its pid in PID_I, log in nI.log)
# and waits until its control socket answers.
start() {
    local i=$1
    [ -f "$T/n$i.cfg" ] || config "$i"
    # IVTD_WRAP: a command the daemon runs under (a benchmark's taskset).
    ${IVTD_WRAP:-} "$IVTD" -c "$T/n$i.cfg" 2>>"$T/n$i.log" &
    local pid=$!
    PIDS+=("$pid")
    eval "PID_$i=$pid"
    wait_until 30 "node $i answers" ctl "$i" status
}

ctl() { local i=$1; shift; $RPC "unix:$T/c$i.sock" "$@"; }
api() { local i=$1; shift; $RPC "127.0.0.$i:$((PORT + 1))" "$@"; }

# field I PATH: a value from node I's status, e.g. field 1 members.alive
field() {
    ctl "$1" status | $PY -c "import json,sys; v=json.load(sys.stdin)
for k in '$2'.split('.'): v=v[k]
print(v)"
}

# member_state I NAME: NAME's status in node I's member list ("none" if absent)
member_state() {
    ctl "$1" members | $PY -c "import json,sys
m=[x['status'] for x in json.load(sys.stdin) if x['name']=='$2']
print(m[0] if m else 'none')"
}

# poll_until SECONDS COMMAND...: retries COMMAND until it succeeds; returns
# 1 when SECONDS pass first.
poll_until() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    return 1
}

# wait_until SECONDS WHAT COMMAND...: retries COMMAND until it succeeds.
wait_until() {
    local secs=$1 what=$2; shift 2
    poll_until "$secs" "$@" || fail "not within ${secs}s: $what"
}

# ev IP UA: one ad request event as the API takes it
ev() { printf '{"ip":"%s","ua":"%s","pub":"pub-1","kind":"request"}' "$1" "$2"; }

# score_at I IP: the score node I gives IP, without observing it
score_at() {
    api "$1" score "[$(ev "$2" probe), {\"observe\": false}]" | $PY -c 'import json,sys; print(json.load(sys.stdin)["score"])'
}

# spread FROM TO IP: observes 40 user agents on IP at node FROM (all
# accepted), waits until node TO's score for IP rises, and sets SPREAD to
# "BEFORE -> AFTER" (a variable, not output: fail must reach the script).
spread() {
    local from=$1 to=$2 ip=$3 before batch out
    before=$(score_at "$to" "$ip")
    batch=$(for k in $(seq 1 40); do ev "$ip" "agent-$k"; printf ,; done | sed 's/,$//')
    out=$(api "$from" observe "[[$batch]]")
    [[ $out == *'"accepted": 40'* ]] || fail "observe at n$from: $out"
    above() { [ "$(score_at "$to" "$ip")" -gt "$before" ]; }
    wait_until 15 "evidence from n$from raises the score of $ip at n$to from $before" above
    SPREAD="$before -> $(score_at "$to" "$ip")"
}

# is I PATH VALUE: node I's status PATH equals VALUE
is() { [ "$(field "$1" "$2")" = "$3" ]; }
member_is() { [ "$(member_state "$1" "$2")" = "$3" ]; }
