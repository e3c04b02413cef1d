#!/bin/sh
# Issue 14, item 5: --check-config on hostile files ends fast with a clear
# error. Before: /dev/zero never ended, a directory and /dev/null passed as
# "configuration OK", and 100,000 keys took 15-26 s (quadratic duplicate scan).
# Usage: check_config_input.sh VIGIA_BIN
bin=${1:?vigia binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

refuse() { # file, expected message
    out=$(timeout 10 "$bin" --check-config "$1" 2>&1)
    rc=$?
    if [ "$rc" -ne 1 ] || ! printf '%s' "$out" | grep -qF -- "$2"; then
        echo "FAIL: --check-config $1: expected exit 1 and '$2', got exit $rc:"
        printf '%s\n' "$out" | head -5
        fail=1
    else
        echo "OK: $1 refused: $(printf '%s\n' "$out" | grep -F -- "$2" | head -1 | sed 's/^.*\] //')"
    fi
}

refuse /dev/zero "not a regular file"
refuse /dev/null "not a regular file"
refuse "$tmp" "a directory"
: > "$tmp/empty.ini"
refuse "$tmp/empty.ini" "no [server] section"
printf '[monitor]\ninterval = 5m\n' > "$tmp/other.ini"
refuse "$tmp/other.ini" "no [server] section"
printf '[server]\nplugins =\nlisten = 127.0.0.1:1\0garbage\n' > "$tmp/nul.ini"
refuse "$tmp/nul.ini" "nul.ini:3: NUL byte"

# 100,000 keys: linear, well under 5 s (and every unknown key still named).
awk 'BEGIN { print "[server]"; print "plugins ="; for (i = 0; i < 100000; i++) print "k" i " = v" }' \
    > "$tmp/big.ini"
start=$(date +%s%N)
out=$(timeout 60 "$bin" --check-config "$tmp/big.ini" 2>&1)
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
unknown=$(printf '%s\n' "$out" | grep -c "unknown key")
echo "100,000 keys: exit $rc in $ms ms, $unknown unknown keys named"
if [ "$rc" -ne 0 ] || [ "$ms" -gt 5000 ] || [ "$unknown" -ne 100000 ]; then
    echo "FAIL: 100,000 keys must pass in under 5 s with each unknown key named"
    fail=1
fi
printf '[server]\nplugins =\na = 1\nb = 2\na = 3\n' > "$tmp/dup.ini"
refuse "$tmp/dup.ini" "dup.ini:5: [server] a: duplicate key (first set at line 3)"
exit $fail
