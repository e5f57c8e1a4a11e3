#!/bin/bash
# Three daemons form a cluster; kill -9 of one is seen dead by the others;
# restarted, it rejoins with a new generation.
. "$(dirname "$0")/lib.sh"

for i in 1 2 3; do start $i; done
for i in 1 2 3; do wait_until 20 "node $i sees 3 alive" is $i members.alive 3; done
pass "3 nodes form a cluster"

gen_before=$(field 2 generation)
kill -9 "$PID_2"
for i in 1 3; do wait_until 30 "node $i sees n2 dead" member_is $i n2 dead; done
pass "kill -9 of n2 is seen dead by n1 and n3"
grep -q 'level=warn msg="member state" name=n2 .* state=dead generation=1' "$T/n1.log" ||
    fail "n1 did not log n2's death"
pass "n1 logged n2's death (level=warn)"

start 2
gen_after=$(field 2 generation)
[ "$gen_after" -gt "$gen_before" ] || fail "generation $gen_after not above $gen_before"
for i in 1 2 3; do wait_until 30 "node $i sees 3 alive again" is $i members.alive 3; done
pass "n2 restarted with generation $gen_after (was $gen_before) and rejoined"
wait_until 10 "n3 logs n2 alive again" grep -q \
    "level=info msg=\"member state\" name=n2 .* state=alive generation=$gen_after" "$T/n3.log"
pass "n3 logged n2's return with its new generation"

kill -TERM "$PID_3"
wait "$PID_3" || fail "SIGTERM: exit code $? (want 0)"
for i in 1 2; do wait_until 20 "node $i sees n3 left" member_is $i n3 left; done
pass "SIGTERM: n3 left gracefully and exited 0"
