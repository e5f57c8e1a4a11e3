#!/bin/bash
# Evidence observed only at node A changes the score at node C within
# seconds; a node's saved evidence survives kill -9.
. "$(dirname "$0")/lib.sh"

for i in 1 2 3; do start $i; done
for i in 1 2 3; do wait_until 20 "node $i sees 3 alive" is $i members.alive 3; done

spread 1 3 198.51.100.77
pass "40 user agents on one IP observed at n1 raise its score at n3 ($SPREAD)"

# Persistence: a lone node saves its evidence every second; after kill -9
# and a restart it still knows the entity, with nobody to give it back.
kill -9 "$PID_1" "$PID_2" "$PID_3"
SEEDS="" config 4
start 4
api 4 observe "[[$(for k in $(seq 1 30); do ev 203.0.113.44 "ua-$k"; printf ,; done | sed 's/,$//')]]" >/dev/null
known() { [[ $(api 4 lookup '["ip", "203.0.113.44"]') == *'"known": true'* ]]; }
known || fail "n4 does not know what it just observed"
sleep 2.5 # two snapshot intervals
kill -9 "$PID_4"
# The state-dir lock goes with the process: reap it before the restart.
wait "$PID_4" 2>/dev/null || true
start 4
known || fail "after kill -9 and restart, n4 lost its saved evidence"
grep -q 'msg="restored evidence"' "$T/n4.log" || fail "no restore logged"
pass "saved evidence survives kill -9 and a restart"
