#!/bin/bash
# Gossip over UDP and push-pull over TCP work on IPv6: three daemons bound to
# [::1] (one address, three ports) form a cluster, evidence and a ban made at
# one node reach the others, and kill -9 of one is seen dead. The API listens
# on [::1] too, so an ad server on an IPv6-only host can call it.
. "$(dirname "$0")/lib.sh"

ip -6 addr show lo 2>/dev/null | grep -q '::1/128' || { echo "skip: no IPv6 loopback on this host"; exit 0; }

# Three ports per node: gossip, API, metrics.
gp() { echo $((PORT + 3 * ($1 - 1))); }
for i in 1 2 3; do
    cat > "$T/n$i.cfg" <<CFG
node = { name = "n$i"; state_dir = "$T/s$i"; };
cluster = { bind = "[::1]:$(gp $i)"; seeds = ["[::1]:$(gp 1)"]; encrypt = "$KEY"; profile = "local"; };
api = { listen = ["[::1]:$(($(gp $i) + 1))"]; };
control = { socket = "$T/c$i.sock"; };
metrics = { listen = "[::1]:$(($(gp $i) + 2))"; };
detect = { crawler_file = "$ROOT/node/data/crawler-user-agents.json";
           hosting_file = "$ROOT/node/data/hosting-asn-ipv4.csv"; };
CFG
done
api6() { local i=$1; shift; $RPC "[::1]:$(($(gp $i) + 1))" "$@"; }

for i in 1 2 3; do start $i; done
for i in 1 2 3; do wait_until 20 "node $i sees 3 alive over IPv6" is $i members.alive 3; done
addr=$(ctl 2 members | $PY -c "import json,sys; print([m['addr'] for m in json.load(sys.stdin) if m['name']=='n1'][0])")
[[ $addr == *'::1'* ]] || fail "n1's address at n2 is '$addr', not an IPv6 one"
pass "3 nodes on [::1] form a cluster (n1 is $addr at n2)"

# Evidence over IPv6 gossip, and an IPv6 client address as the entity.
ev() { printf '{"ip":"%s","ua":"%s","pub":"pub-1","kind":"request"}' "$1" "$2"; }
score_at() {
    api6 "$1" score "[$(ev "$2" probe), {\"observe\": false}]" | $PY -c 'import json,sys; print(json.load(sys.stdin)["score"])'
}
before=$(score_at 3 2001:db8::77)
batch=$(for k in $(seq 1 40); do ev 2001:db8::77 "agent-$k"; printf ,; done | sed 's/,$//')
out=$(api6 1 observe "[[$batch]]")
[[ $out == *'"accepted": 40'* ]] || fail "observe at n1: $out"
above() { [ "$(score_at 3 2001:db8::77)" -gt "$before" ]; }
wait_until 15 "the score of 2001:db8::77 at n3 rises from $before" above
pass "evidence observed at n1 raises the score at n3 over IPv6 ($before -> $(score_at 3 2001:db8::77))"

ctl 1 decide '["ban", "ip", "2001:db8::66", 600000, "ipv6 test"]' >/dev/null || fail "ban at n1"
banned() {
    api6 3 lookup '["ip", "2001:db8::66"]' | $PY -c 'import json,sys
d=json.load(sys.stdin)["decision"]
sys.exit(0 if d and d["action"]=="ban" else 1)'
}
wait_until 15 "the ban made at n1 is known at n3" banned
pass "a ban made at n1 is enforced at n3 over IPv6"

kill -9 "$PID_2"
for i in 1 3; do wait_until 30 "node $i sees n2 dead" member_is $i n2 dead; done
pass "kill -9 of n2 is seen dead over IPv6"
