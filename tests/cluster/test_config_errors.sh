#!/bin/bash
# Configuration mistakes give one clear line (file, line, key, expected,
# found) and exit 2; a node without a key refuses to start and says how to
# make one. No daemon needs to run for this.
. "$(dirname "$0")/lib.sh"

# check TEXT WANT: ivtd --check on TEXT exits 2 and prints WANT (a fixed string).
check() {
    printf '%b' "$1" > "$T/bad.cfg"
    set +e
    out=$("$IVTD" --check -c "$T/bad.cfg" 2>&1)
    rc=$?
    set -e
    [ $rc -eq 2 ] || fail "exit $rc (want 2) for: $1"
    case "$out" in *"$2"*) ;; *) fail "for: $1
   got:  $out
   want: $2" ;; esac
}

k="encrypt = \"$KEY\";"
check "cluster = {\n  $k\n  bind = 7946;\n};\n" \
    "bad.cfg:3: key 'cluster.bind': expected a string \"ip:port\" (IPv4 or [IPv6]), found an integer"
check "cluster = { $k\n  seed = [\"10.0.0.1:7946\"]; };\n" \
    "bad.cfg:2: unknown key 'cluster.seed' (did you mean 'cluster.seeds'?)"
check "cluster = { $k };\nnode = { snapshot_interval = 60; };\n" \
    "bad.cfg:2: key 'node.snapshot_interval': expected a duration string like \"60s\" (at least 1s), found an integer"
check "cluster = { $k profile = \"fast\"; };\n" \
    "key 'cluster.profile': expected one of \"lan\", \"wan\", \"local\", found \"fast\""
check "cluster = { $k };\ngossip = { cipher = \"aes-128-gcm\"; };\n" \
    "bad.cfg:2: key 'gossip.cipher': expected one of \"xchacha20-poly1305\", \"aes-256-gcm\", found \"aes-128-gcm\""
check "cluster = { encrypt = \"not-a-key\"; };\n" \
    "key 'cluster.encrypt': expected a base64 string of a 32-byte key (ivtctl keys generate), found a string of 9 characters"
check "cluster = { $k\n" "bad.cfg:2: syntax error"
check "node = { state_dir = \"$T/nokey\"; };\ncluster = { bind = \"127.0.0.1:7946\"; };\n" \
    'no gossip key: gossip is always encrypted. Make a key with `ivtctl keys generate`'
pass "config mistakes are named by file, line, key, expected and found"

set +e
out=$("$IVTD" -c "$T/does-not-exist.cfg" 2>&1); rc=$?
set -e
[ $rc -eq 2 ] && [[ "$out" == *"does-not-exist.cfg: cannot read the configuration file"* ]] ||
    fail "missing file: exit $rc: $out"
printf 'cluster = { %s };\nnode = { state_dir = "%s/ok"; };\n' "$k" "$T" > "$T/good.cfg"
out=$("$IVTD" --check -c "$T/good.cfg") || fail "a good file fails --check: $out"
pass "a missing file is named; a good file passes --check"

# The same errors stop a real start, with exit 2, before anything binds.
printf 'cluster = { %s bind = "127.0.0.1:%s"; bnd = 1; };\n' "$k" "$PORT" > "$T/start.cfg"
set +e
out=$("$IVTD" -c "$T/start.cfg" 2>&1); rc=$?
set -e
[ $rc -eq 2 ] && [[ "$out" == *"unknown key 'cluster.bnd' (did you mean 'cluster.bind'?)"* ]] ||
    fail "start with a bad file: exit $rc: $out"
pass "a bad file stops ivtd -c with exit 2"
