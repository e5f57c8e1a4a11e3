#!/bin/bash
# tests/bench_daemon.sh: the daemon figures of docs/benchmarks.md.
#   bash tests/bench_daemon.sh [RATES...]     (default: 10000 50000 100000)
# Three ivtd (lan profile) gossip on loopback; bin/ivt-loadgen drives node 1:
# score latency open loop at each rate (over loopback TCP, then over a unix
# socket: names ending _unix; and the same for bin/ivt-floor, a server that
# does nothing: names ending _floor, _floor_unix), observe throughput in batches, and
# the RSS of a node holding 1 million entities, then score at 1,000/s for
# 40 s with that million (push-pulls of a large store land in it: the
# lan profile's 30 s interval), and a synchronous client's rate (one
# request in flight: ivt-loadgen sync). Prints BENCH lines; after each score rate
# and observe batch size also the CPU node 1's loop spent per request or
# event (the scheduler's on-CPU nanoseconds in /proc/PID/schedstat, where
# utime/stime count 10 ms clock ticks: what the daemon costs, whatever the
# shared host does to its latency), the CPU nodes 2 and 3 spent meanwhile,
# and the time node 1 was ready to run but waited for a core (run_delay,
# the second field of schedstat: a tail the host caused, not ivtd).
# Two host figures frame them: host_wake_* (before the daemons start, how
# late this host wakes a thread sleeping 100 us: on a VM, an idle vCPU runs
# again when the hypervisor says) and daemon_host_steal_* (per score row, the
# time the hypervisor gave this VM's vCPUs to others).
# SCORE_SECONDS=N measures each score rate for N s (default 5). Node 1
# takes part in a push-pull about every 15 s (lan profile, 3 nodes), so a
# 5 s window holds one or none; a longer one says more about the tail.
# NO_FLOOR=1 leaves out the floor rows (with long SCORE_SECONDS they take
# half the run).
# PIN=1 runs node 1 (and bin/ivt-floor) on CPU 0, and the load generator
# and nodes 2 and 3 on CPU 1 (taskset), as a host that gives ivtd a core of
# its own does; unpinned, the scheduler sometimes puts the generator beside
# node 1's loop and both wait (docs/benchmarks.md, session 7).
# NICE=N runs node 1 (and bin/ivt-floor) at nice N and LG_NICE=N the load
# generator (default: NICE; both default 0). Session 9 measured -10 for both
# against 0: node 1's run-queue wait fell, the p99 did not (docs/benchmarks.md).
# Raising the priority needs root; elsewhere nice says so and runs the command.
# LOADGEN_THREADS=N (read by ivt-loadgen) sends the score rows from N threads,
# each with its own connections, as an ad server's request threads do.
# TIMELINE_DIR=DIR keeps, per score row, ivt-loadgen's LOADGEN_TIMELINE (10 ms
# rows: requests due, how many took over 1 ms, the worst) as DIR/score_RATE_tcp.csv
# and _unix.csv, and the three nodes' logs at debug level (push-pulls,
# snapshots, with millisecond timestamps) as DIR/nI.log: when the slow
# requests came and what the node was doing then.
# COALESCE_US=N sets api.coalesce_us on the nodes and the same window on
# bin/ivt-floor (default: ivtd's own default); COALESCE_US=0 measures the
# server that reads each request as it comes.
. "$(dirname "$0")/cluster/lib.sh"
RATES=${*:-10000 50000 100000}
SECS=${SCORE_SECONDS:-5}
if [ -n "${PIN:-}" ]; then LG_WRAP="taskset -c 1"; fi
NICE=${NICE:-0}
LG_NICE=${LG_NICE:-$NICE}
pin() { if [ -n "${PIN:-}" ]; then echo "taskset -c $1"; fi; } # pin CPU: its wrapper, if PIN
lg() { nice -n "$LG_NICE" ${LG_WRAP:-} "$ROOT/bin/ivt-loadgen" "$@"; }
tl() { # tl NAME: where a score row's timeline goes ("": nowhere)
    if [ -n "${TIMELINE_DIR:-}" ]; then echo "$TIMELINE_DIR/$1.csv"; fi
}
if [ -n "${TIMELINE_DIR:-}" ]; then
    mkdir -p "$TIMELINE_DIR"
    keep_logs() { cp "$T"/n*.log "$TIMELINE_DIR/"; }
    trap 'rc=$?; keep_logs; (exit $rc); cleanup' EXIT
fi
# The host's own floor, before any daemon runs: how late it wakes a thread
# that sleeps 100 us (on a VM, when the hypervisor runs an idle vCPU again).
lg wake 5
for i in 1 2 3; do
    config $i 'evidence = { max_entities = 1100000; };'
    sed -i 's/snapshot_interval = "1s"/snapshot_interval = "60s"/' "$T/n$i.cfg"
    sed -i 's/profile = "local"/profile = "lan"/' "$T/n$i.cfg"
    # Node 1 also listens on a unix socket, as for an ad server on its host.
    [ $i = 1 ] && sed -i "s|api = { listen = \[|api = { listen = [\"unix:$T/api1.sock\", |" "$T/n$i.cfg"
    [ -n "${TIMELINE_DIR:-}" ] && echo 'log = { level = "debug"; };' >> "$T/n$i.cfg"
    [ -n "${COALESCE_US:-}" ] && sed -i "s|api = { |api = { coalesce_us = $COALESCE_US; |" "$T/n$i.cfg"
    IVTD_WRAP="$([ $i = 1 ] && echo "nice -n $NICE") $(pin $([ $i = 1 ] && echo 0 || echo 1))" start $i
done
for i in 1 2 3; do wait_until 30 "node $i sees 3 alive" is $i members.alive 3; done
A="127.0.0.1:$((PORT + 1))"
# The priority node 1 got (NICE, above): nice fails without root and says so.
echo "BENCH daemon_node1_nice $(awk '{print $19}' "/proc/$PID_1/stat") nice"
cpu_ns() { awk '{print $1}' "/proc/$PID_1/schedstat"; }
wait_ns() { awk '{print $2}' "/proc/$PID_1/schedstat"; }
# Time the hypervisor ran something else on this VM's vCPUs (/proc/stat's
# steal, in USER_HZ ticks of 10 ms, both CPUs).
steal_ms() { awk '/^cpu / {print $9 * 10}' /proc/stat; }
peers_ns() { cat "/proc/$PID_2/schedstat" "/proc/$PID_3/schedstat" | awk '{s += $1} END {print s}'; }
# The floor: bin/ivt-floor answers every request with nil (no work of its
# own) through the same libuv batching; its CPU per request is what the
# kernel, libuv and the wake-ups cost on this host, under ivtd's figures.
floor() { # floor ADDR RATE TAG
    nice -n "$NICE" $(pin 0) "$ROOT/bin/ivt-floor" "$1" ${COALESCE_US:-} & local fp=$!
    PIDS+=("$fp")
    sleep 0.3
    local f0 f1
    f0=$(awk '{print $1}' "/proc/$fp/schedstat")
    lg score "$1" "$2" "$SECS" 2 "$3"
    f1=$(awk '{print $1}' "/proc/$fp/schedstat")
    echo "BENCH daemon_cpu_per_score_at_${2}_per_s_$3 $(( (f1 - f0) / ($2 * SECS) )) ns"
    kill "$fp"
}
# Node 1 first observes the score traffic's 100,000 addresses once: the
# rates below measure a node that has met its traffic, as one that has run
# a while has. (A filling store's first touches of its memory, 2 MiB huge
# pages cleared as records arrive, are the 1 M fill's part below; before
# this warm-up they landed in the first rate's TCP row alone.)
lg fill "$A" pool > /dev/null
for r in $RATES; do
    if [ -z "${NO_FLOOR:-}" ]; then
        floor "127.0.0.1:$((PORT + 9))" "$r" floor
        floor "unix:$T/floor.sock" "$r" floor_unix
    fi
    c0=$(cpu_ns) p0=$(peers_ns) w0=$(wait_ns) s0=$(steal_ms)
    LOADGEN_TIMELINE=$(tl "score_${r}_tcp") lg score "$A" "$r" "$SECS" 2
    c1=$(cpu_ns) p1=$(peers_ns) w1=$(wait_ns) s1=$(steal_ms)
    echo "BENCH daemon_cpu_per_score_at_${r}_per_s $(( (c1 - c0) / (r * SECS) )) ns"
    # Time node 1 was ready to run but had no core (schedstat's run_delay):
    # latency the host's other processes, not ivtd's work, put in the tail.
    echo "BENCH daemon_runqueue_wait_at_${r}_per_s $(( (w1 - w0) / (SECS * 1000000) )) ms_per_s"
    echo "BENCH daemon_host_steal_at_${r}_per_s $(( (s1 - s0) / SECS )) ms_per_s"
    # Nodes 2 and 3 merge what node 1 gossips, on the same two cores.
    echo "BENCH daemon_peers_cpu_at_${r}_per_s $(( (p1 - p0) / (SECS * 10000000) )) %"
    c0=$(cpu_ns) w0=$(wait_ns) s0=$(steal_ms)
    LOADGEN_TIMELINE=$(tl "score_${r}_unix") lg score "unix:$T/api1.sock" "$r" "$SECS" 2 unix
    c1=$(cpu_ns) w1=$(wait_ns) s1=$(steal_ms)
    echo "BENCH daemon_cpu_per_score_at_${r}_per_s_unix $(( (c1 - c0) / (r * SECS) )) ns"
    echo "BENCH daemon_runqueue_wait_at_${r}_per_s_unix $(( (w1 - w0) / (SECS * 1000000) )) ms_per_s"
    echo "BENCH daemon_host_steal_at_${r}_per_s_unix $(( (s1 - s0) / SECS )) ms_per_s"
done
# A synchronous client (one request in flight) over the unix socket, on
# the floor and on ivtd: read coalescing must not slow it down.
nice -n "$NICE" $(pin 0) "$ROOT/bin/ivt-floor" "unix:$T/floor.sock" ${COALESCE_US:-} & fp=$!
PIDS+=("$fp")
sleep 0.3
lg sync "unix:$T/floor.sock" 3 floor_unix
kill "$fp"
lg sync "unix:$T/api1.sock" 3 unix
[ -n "${SCORE_ONLY:-}" ] && exit 0
for b in 1000 100; do
    c0=$(cpu_ns) e0=$(field 1 events_observed)
    lg observe "$A" "$b" 5 2
    c1=$(cpu_ns) e1=$(field 1 events_observed)
    echo "BENCH daemon_cpu_per_observed_event_batch_$b $(( (c1 - c0) / (e1 - e0) )) ns"
done
# The loop thread's own CPU (task PID's schedstat, not the pool threads
# that fault the store's next memory in ahead of it) per new entity.
l0=$(awk '{print $1}' "/proc/$PID_1/task/$PID_1/schedstat")
lg fill "$A" 1000000
l1=$(awk '{print $1}' "/proc/$PID_1/task/$PID_1/schedstat")
echo "BENCH daemon_loop_cpu_per_filled_entity $(( (l1 - l0) / 1000000 )) ns"
sleep 2
echo "BENCH daemon_entities $(field 1 entities) entities"
echo "BENCH daemon_rss_after_1m_entities $(awk '/VmRSS/ {print $2 / 1024}' /proc/$PID_1/status) MiB"
# How much of it the kernel gave as huge pages: the store is read at random,
# and where THP could not be had (fragmented memory) every lookup also
# walks page tables; observe's figure moved by a quarter between runs.
echo "BENCH daemon_huge_pages_after_1m_entities $(awk '/AnonHugePages/ {print $2 / 1024}' /proc/$PID_1/smaps_rollup) MiB"
echo "BENCH daemon_evidence_bytes $(( $(field 1 evidence_bytes) / 1048576 )) MiB"
lg score "$A" 1000 40 2 1m_entities
M="127.0.0.1:$((PORT + 2))"
echo "BENCH daemon_loop_lag_max_whole_run $(curl -s "http://$M/metrics" |
    awk '/^ivtd_event_loop_lag_max_seconds/ {print $2 * 1000}') ms"
