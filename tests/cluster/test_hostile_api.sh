#!/bin/bash
# Malformed and hostile API input gets an error reply or a closed
# connection, never a crash, and nothing already stored is lost.
. "$(dirname "$0")/lib.sh"

SEEDS="" config 1
sed -i "s|^api = .*|api = { listen = [\"127.0.0.1:$((PORT + 1))\"]; max_connections = 64; };|" "$T/n1.cfg"
start 1
ev='{"ip":"203.0.113.9","ua":"stored-before","pub":"p","kind":"request"}'
api 1 observe "[[${ev}, ${ev}, ${ev}]]" >/dev/null
requests() { api 1 lookup '["ip", "203.0.113.9"]' | $PY -c 'import json,sys
print(int([m for m in json.load(sys.stdin)["metrics"] if m["name"]=="requests"][0]["fleet"]))'; }
[ "$(requests)" = 3 ] || fail "setup: 3 requests expected, got $(requests)"

$PY "$ROOT/tests/cluster/hostile.py" "127.0.0.1:$((PORT + 1))" || fail "hostile input not handled"
kill -0 "$PID_1" || fail "the daemon died"
ctl 1 status >/dev/null || fail "the control socket stopped answering"
[ "$(requests)" = 3 ] || fail "stored evidence changed: $(requests) requests"
metrics=$(curl -sf "http://127.0.0.1:$((PORT + 2))/metrics")
grep -q 'ivtd_rpc_rejected_total{iface="api",reason="too_big"} [1-9]' <<<"$metrics" ||
    fail "oversize frames not counted"
for k in api control tick pushpull gossip snapshot; do
    grep -q "ivtd_event_loop_slow_callbacks_total{kind=\"$k\"} [0-9]" <<<"$metrics" ||
        fail "no slow-callback counter for $k"
done
# Gossip's own health counters (docs/operations.md, "Metrics"): exported, and
# nothing dropped for want of memory on this idle host.
grep -q '^ivtd_gossip_syncs_after_growth_total [0-9]' <<<"$metrics" ||
    fail "no ivtd_gossip_syncs_after_growth_total"
grep -q '^ivtd_gossip_nomem_total 0$' <<<"$metrics" || fail "ivtd_gossip_nomem_total missing or not 0"
pass "hostile input: error replies or closed connections, daemon alive, evidence intact"

# Every family the daemon writes is in the operators' reference.
for fam in $(sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' <<<"$metrics"); do
    grep -q "^| \`$fam\` |" "$ROOT/docs/operations.md" ||
        fail "metric $fam is not in docs/operations.md (\"Every metric\")"
done
pass "every metric family is documented"

# Hostile metrics requests too.
for req in 'GET /x HTTP/1.1\r\n\r\n' 'BREW /metrics HTTP/1.1\r\n\r\n' '\x00\x01\r\n\r\n'; do
    printf "$req" | timeout 5 $PY -c 'import socket,sys
s=socket.create_connection(("127.0.0.1",'$((PORT + 2))')); s.sendall(sys.stdin.buffer.read()); print(s.recv(100)[:12])' >/dev/null || true
done
kill -0 "$PID_1" || fail "the daemon died on a metrics request"
curl -sf "http://127.0.0.1:$((PORT + 2))/metrics" >/dev/null || fail "metrics stopped answering"
pass "hostile metrics requests answered"
