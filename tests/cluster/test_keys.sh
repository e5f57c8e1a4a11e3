#!/bin/bash
# Key rotation as an operator runs it: each step is seen to reach every
# member from one node (keyring fingerprints in member tags), a key held by
# one node alone shows as keyring=different. cluster.evidence_key keeps
# evidence shared across the rotation: a node installed after it, with only
# the new gossip key, hashes evidence like the others. A node whose saved
# hash key differs from the configured one refuses to start and says how to
# adopt the new key.
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
# The operator's check from one node: every alive member has its keyring.
agree() { is 1 keyring.same 2 && is 1 keyring.different 0; }
wait_until 15 "n1 sees n2's keyring agree" agree
ctl 1 keys.use "[\"$NEW\"]" >/dev/null || fail "keys.use"
wait_until 15 "n1 sees n2 switch primary" agree
ctl 1 keys.remove "[\"$KEY\"]" >/dev/null || fail "keys.remove"
wait_until 15 "n2 keeps only the new key" has_keys 2 1
pass "the gossip key is rotated, and n1 saw each step reach n2"

# A key only n2 holds (its keyring file plus SIGHUP does this) shows at n1.
SOLO=$(head -c 32 /dev/urandom | base64)
printf '%s\n%s\n' "$NEW" "$SOLO" > "$T/s2/keyring"
kill -HUP "$PID_2"
differ() { is 1 keyring.different 1; }
wait_until 15 "n1 sees n2's keyring differ" differ
[ "$(ctl 1 members | $PY -c "import json,sys; print([m['tags']['keyring'] for m in json.load(sys.stdin) if m['name']=='n2'][0])")" = different ] ||
    fail "members at n1 does not tag n2 keyring=different"
ctl 2 keys.remove "[\"$SOLO\"]" >/dev/null || fail "keys.remove of the solo key"
wait_until 15 "n1 sees n2 agree again" agree
pass "a key held by n2 alone shows as keyring=different at n1"

# n3 arrives after the rotation: it knows only the new gossip key.
KEY=$NEW CLUSTER_EXTRA="evidence_key = \"$EK\";" config 3
start 3
for i in 1 2 3; do wait_until 20 "node $i sees 3 alive" is $i members.alive 3; done
spread 1 3 198.51.100.91
pass "a node added after the rotation shares evidence ($SPREAD)"

# Another evidence key on a node with saved state: a clear refusal.
kill -TERM "$PID_3"; wait "$PID_3" || true
OTHER=$(head -c 32 /dev/urandom | base64)
KEY=$NEW CLUSTER_EXTRA="evidence_key = \"$OTHER\";" config 3
if timeout 20 "$IVTD" -c "$T/n3.cfg" 2>"$T/refused.log"; then fail "n3 started with another evidence key"; fi
grep -q 'hash-key in .* was made from another key than cluster.evidence_key' "$T/refused.log" ||
    fail "no clear error: $(cat "$T/refused.log")"
pass "a changed evidence key is refused with a clear error"
