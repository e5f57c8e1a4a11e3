#!/usr/bin/env bash
# make demo: a three-node ivt cluster on loopback with a traffic mix, shown with ivtctl.
#
# Starts three ivtd on 127.0.0.1 (ports from a random base), replays humans plus a botnet spread
# thin across the three nodes, shows how the fleet-wide view catches what no single node sees,
# bans one address fleet-wide, and stops everything cleanly (also on Ctrl-C or failure).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin
DIR=$(mktemp -d /tmp/ivt-demo.XXXXXX)
# Below the kernel's ephemeral range, where a port may already be some
# connection's local end.
EPHEMERAL_LO=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$EPHEMERAL_LO" -gt 11000 ] || EPHEMERAL_LO=32768
BASE=$((10000 + RANDOM % (EPHEMERAL_LO - 10000 - 40)))
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$DIR"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { local n=$1; shift; "$BIN/ivtctl" -s "$DIR/n$n/ctl.sock" "$@"; }

KEY=$("$BIN/ivtctl" keys generate)
say "three nodes on loopback, one cluster key (ivtctl keys generate)"
for i in 1 2 3; do
    mkdir -p "$DIR/n$i"
    cat >"$DIR/n$i.cfg" <<CFG
node = { name = "dc$i-host"; state_dir = "$DIR/n$i"; };
cluster = { bind = "127.0.0.1:$((BASE + i))"; seeds = ["127.0.0.1:$((BASE + 1))"];
            encrypt = "$KEY"; profile = "local"; };
api = { listen = ["127.0.0.1:$((BASE + 10 + i))"]; };
control = { socket = "$DIR/n$i/ctl.sock"; };
metrics = { listen = "127.0.0.1:$((BASE + 20 + i))"; };
detect = { crawler_file = "node/data/crawler-user-agents.json";
           hosting_file = "node/data/hosting-asn-ipv4.csv";
           ip_requests = 300; };
log = { level = "warn"; };
CFG
    "$BIN/ivtd" -c "$DIR/n$i.cfg" >"$DIR/n$i.log" 2>&1 &
    pids+=($!)
done
for _ in $(seq 100); do
    [ "$(ctl 1 -o json members 2>/dev/null | python3 -c 'import json,sys; print(sum(m["status"]=="alive" for m in json.load(sys.stdin)))' 2>/dev/null)" = 3 ] && break
    sleep 0.1
done
ctl 1 members

say "traffic: humans everywhere, and a botnet spread thin: 150 requests per bot IP at each node"
echo "(the threshold is 300 requests per IP per hour: no single node sees enough)"
for i in 1 2 3; do
    python3 - "$i" <<'PY' | ctl "$i" observe
import json, random, sys, time
node = int(sys.argv[1])
rnd = random.Random(node)
now = int(time.time() * 1000)
humans = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/145.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.6.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/145.0.0.0 Safari/537.36",
]
events = []
for j in range(1500):  # humans: many addresses, a few requests each
    events.append({"ip": "81.2.%d.%d" % (node * 20 + j % 20, j % 250 + 1), "ua": rnd.choice(humans),
                   "device": "dev-%d-%d" % (node, j % 400), "pub": "news-site", "kind": "request"})
for b in range(12):  # the botnet: 12 addresses, 150 requests each at every node
    for _ in range(150):
        events.append({"ip": "198.51.100.%d" % (10 + b), "ua": humans[b % 3],
                       "pub": "cheap-clicks", "kind": "request"})
for _ in range(40):  # a known crawler and a data-center scraper
    events.append({"ip": "66.249.66.%d" % node, "ua": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                   "pub": "news-site", "kind": "request"})
    events.append({"ip": "1.44.96.%d" % (7 + node), "ua": humans[0], "pub": "cheap-clicks", "kind": "request"})
rnd.shuffle(events)
for e in events:
    e["ts"] = now
    print(json.dumps(e))
PY
done

say "node 3 on one bot address: local 150, fleet 450 (evidence gossiped from the other nodes)"
fleet() {
    ctl 3 -o json explain ip 198.51.100.10 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(int(next((m["fleet"] for m in r.get("metrics", []) if m["name"] == "requests"), 0)))' 2>/dev/null || echo 0
}
for _ in $(seq 300); do [ "$(fleet)" -ge 450 ] && break; sleep 0.1; done
ctl 3 explain ip 198.51.100.10
say "what the ad server gets for that address at node 3 (ivtctl score, without observing)"
ctl 3 score 198.51.100.10 --ua "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/145.0.0.0 Safari/537.36" --pub cheap-clicks
say "and for a human"
ctl 3 score 81.2.60.5 --ua "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X)" --pub news-site
say "the worst entities fleet-wide, as node 2 sees them"
ctl 2 top -n 10
say "an operator bans an address at node 1; node 3 enforces it"
ctl 1 ban ip 203.0.113.66 --ttl 1h --reason "abuse report #4711"
# Usually there within a gossip round; a lost broadcast is resent after 2 s.
for _ in $(seq 1 50); do
    ctl 3 -o json decisions 2>/dev/null | grep -q '"203.0.113.66"' && break
    sleep 0.2
done
ctl 3 decisions
ctl 3 score 203.0.113.66 --pub news-site
say "node 2's status"
ctl 2 status
say "stopping: SIGTERM makes each node leave the cluster and save its state"
