#!/usr/bin/env bash
# One config idiom (issue 15): every plugin reads all its keys even after a
# bad one and fails once, so `vigia --check-config` names every mistake (file:line,
# [section] key, the limit) and exits 1. Before, notifications, probe and the
# broker's cross-field rules stopped at their first error.
# Usage: check_every_error.sh VIGIA_BIN PLUGIN_DIR
set -uo pipefail
bin=$1 plugin_dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/t.ini" <<EOF
[server]
plugin_dir = $plugin_dir
plugins = notifications, monitor, broker, rest, probe
database = $tmp/v.db

[notifications]
limit = 0
language = fr

[broker]
ping_interval = soon
sender_threads = 8
max_sender_threads = 2

[rest]
max_body = 1
stats_cache = forever

[probe]
enabled_for_tests = maybe
max_events = 0

[monitor]
concurrency = 0
history_days = -1
EOF
out=$("$bin" --check-config "$tmp/t.ini" 2>&1)
rc=$?
fail=0
[ "$rc" -eq 1 ] || { echo "FAIL: --check-config exited $rc, expected 1"; fail=1; }
while IFS= read -r want; do
    if grep -qF -- "t.ini:$want" <<< "$out"; then
        echo "OK: t.ini:$want"
    else
        echo "FAIL: not reported: t.ini:$want"
        fail=1
    fi
done <<'EOF'
7: [notifications] limit: expected an integer from 1 to 100000, found '0'
8: [notifications] language: expected one of es, en, found 'fr'
11: [broker] ping_interval: expected a duration from 50ms to 1h
13: [broker] max_sender_threads: must be at least sender_threads (8), found '2'
16: [rest] max_body: expected an integer from 64 to 67108864, found '1'
17: [rest] stats_cache: expected a duration from 0s to 1m
20: [probe] enabled_for_tests: expected
21: [probe] max_events: expected an integer from 1 to 1000000, found '0'
24: [monitor] concurrency: expected an integer from 1 to 1024, found '0'
25: [monitor] history_days: expected an integer from 1 to 3650, found '-1'
EOF
[ "$fail" -eq 0 ] || printf '%s\n' "$out"
exit $fail
