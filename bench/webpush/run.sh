#!/usr/bin/env bash
# Web Push encryptions (+ VAPID JWT) per second per core: Vigía's sender
# (plugins/webpush, OpenSSL 3) against the npm web-push package's
# generateRequestDetails, same subscription, key pair and payloads, same run,
# one thread each, CPU time measured (so "per core" even on a busy machine).
#   bench/webpush/run.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SECS=${2:-3}
BIN="$BUILD/bench/webpush/webpush_bench"
[ -x "$BIN" ] || { echo "missing $BIN: cmake --build $BUILD --target webpush_bench"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
node bench/webpush/peer.mjs gen "$TMP/input.json"
VOUT=$("$BIN" "$TMP/input.json" "$SECS")
NOUT=$(node bench/webpush/peer.mjs run "$TMP/input.json" "$SECS")
printf '%s\n%s\n' "$VOUT" "$NOUT" | grep -v '^RESULT'
V=$(awk '/^RESULT vigia/ {print $3}' <<<"$VOUT")
N=$(awk '/^RESULT web-push/ {print $3}' <<<"$NOUT")
awk -v v="$V" -v n="$N" 'BEGIN { printf "ratio vigia / web-push (per core, encrypt+JWT per message): %.2f\n", v / n }'
echo "reproduce: bench/webpush/run.sh $BUILD $SECS"
