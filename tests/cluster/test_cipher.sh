#!/bin/bash
# A fleet half way through changing cipher (docs/operations.md, "Changing
# the gossip cipher"): n1 and n2 seal with the default XChaCha20-Poly1305,
# n3 with AES-256-GCM. Every node opens both, so the three form one
# cluster, evidence observed at n3 raises a score at n1, and no node drops
# a packet it cannot open. Skipped on a CPU without AES-NI, where ivtd
# refuses the setting (test_config_errors.sh checks the refusal's wording
# for an unknown cipher).
. "$(dirname "$0")/lib.sh"

if ! grep -qw aes /proc/cpuinfo || ! grep -qw pclmulqdq /proc/cpuinfo; then
    pass "skipped: this CPU lacks AES-NI or PCLMUL"
    exit 0
fi

config 3 'gossip = { cipher = "aes-256-gcm"; };'
for i in 1 2 3; do start $i; done
grep -q 'msg=started .*cipher=xchacha20-poly1305' "$T/n1.log" || fail "n1 does not log its cipher"
grep -q 'msg=started .*cipher=aes-256-gcm' "$T/n3.log" || fail "n3 does not log aes-256-gcm"
for i in 1 2 3; do wait_until 20 "node $i sees 3 alive" is $i members.alive 3; done
pass "two XChaCha20-Poly1305 nodes and one AES-256-GCM node form one cluster"

spread 3 1 198.51.100.77
pass "evidence sealed with AES-256-GCM at n3 reaches n1 ($SPREAD)"

for i in 1 2 3; do
    m=$(curl -sf "http://127.0.0.$i:$((PORT + 2))/metrics") || fail "metrics of n$i"
    for r in version auth key; do
        grep -q "^ivtd_gossip_packets_dropped_total{reason=\"$r\"} 0$" <<<"$m" ||
            fail "n$i dropped packets as $r: $(grep "reason=\"$r\"" <<<"$m")"
    done
done
pass "no node dropped a packet as a version, a forgery or an unknown key"

m=$(curl -sf "http://127.0.0.1:$((PORT + 2))/metrics")
for c in xchacha20-poly1305 aes-256-gcm; do
    grep -q "^ivtd_gossip_opened_total{cipher=\"$c\"} [1-9]" <<<"$m" ||
        fail "n1 counts no packet opened as $c: $(grep opened_total <<<"$m")"
done
pass "n1 counts what it opened under each cipher (ivtd_gossip_opened_total)"

# The cipher is read at start: a SIGHUP with another one says so, and n1
# goes on sealing with the one it started with.
config 1 'gossip = { cipher = "aes-256-gcm"; };'
kill -HUP "$PID_1"
wait_until 10 "n1 warns that gossip.* needs a restart" \
    grep -q 'msg="some changed keys need a restart" keys=gossip\.\*' "$T/n1.log"
pass "a changed gossip.cipher on SIGHUP is named as needing a restart"
