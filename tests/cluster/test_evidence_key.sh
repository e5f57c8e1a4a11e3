#!/bin/bash
# cluster.evidence_key keeps evidence shared across a gossip key rotation: a
# node installed after the rotation, with only the new gossip key, hashes
# evidence like the others. A node whose saved hash key differs from the
# configured one refuses to start and says how to adopt the new key.
. "$(dirname "$0")/lib.sh"

EK=$(head -c 32 /dev/urandom | base64)
for i in 1 2; do CLUSTER_EXTRA="evidence_key = \"$EK\";" config $i; done
for i in 1 2; do start $i; done
for i in 1 2; do wait_until 20 "node $i sees 2 alive" is $i members.alive 2; done

# Rotate the gossip key from n1; the cluster ends with only NEW.
NEW=$(head -c 32 /dev/urandom | base64)
ctl 1 keys.install "[\"$NEW\"]" >/dev/null || fail "keys.install"
has_keys() { [ "$(ctl "$1" keys.list | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$2" ]; }
wait_until 15 "n2 has both keys" has_keys 2 2
ctl 1 keys.use "[\"$NEW\"]" >/dev/null || fail "keys.use"
sleep 1 # let the switch reach n2 before the old key goes
ctl 1 keys.remove "[\"$KEY\"]" >/dev/null || fail "keys.remove"
wait_until 15 "n2 keeps only the new key" has_keys 2 1
pass "the gossip key is rotated"

# n3 arrives after the rotation: it knows only the new gossip key.
KEY=$NEW CLUSTER_EXTRA="evidence_key = \"$EK\";" config 3
start 3
for i in 1 2 3; do wait_until 20 "node $i sees 3 alive" is $i members.alive 3; done
ev() { printf '{"ip":"%s","ua":"%s","pub":"pub-1","kind":"request"}' "$1" "$2"; }
score_at() {
    api "$1" score "[$(ev "$2" probe), {\"observe\": false}]" | $PY -c 'import json,sys; print(json.load(sys.stdin)["score"])'
}
before=$(score_at 3 198.51.100.91)
batch=$(for k in $(seq 1 40); do ev 198.51.100.91 "agent-$k"; printf ,; done | sed 's/,$//')
api 1 observe "[[$batch]]" >/dev/null || fail "observe at n1"
above() { [ "$(score_at 3 198.51.100.91)" -gt "$before" ]; }
wait_until 15 "evidence from n1 raises the score at n3 from $before" above
pass "a node added after the rotation shares evidence ($before -> $(score_at 3 198.51.100.91))"

# Another evidence key on a node with saved state: a clear refusal.
kill -TERM "$PID_3"; wait "$PID_3" || true
OTHER=$(head -c 32 /dev/urandom | base64)
KEY=$NEW CLUSTER_EXTRA="evidence_key = \"$OTHER\";" config 3
if timeout 20 "$IVTD" -c "$T/n3.cfg" 2>"$T/refused.log"; then fail "n3 started with another evidence key"; fi
grep -q 'hash-key in .* was made from another key than cluster.evidence_key' "$T/refused.log" ||
    fail "no clear error: $(cat "$T/refused.log")"
pass "a changed evidence key is refused with a clear error"
