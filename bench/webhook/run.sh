#!/usr/bin/env bash
# Webhook deliveries per second to loopback receivers with 1, 10 and 100
# endpoints, next to a Node peer (standardwebhooks signing + node:http
# keep-alive) on the same load; prints both and the ratio.
#
#   bench/webhook/run.sh [BUILD_DIR]        env: N=4000 THREADS=4 ENDPOINTS=1,10,100 REPEAT=2
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
for f in "$BUILD/core/vigia" "$BUILD/plugins-out/webhook.so" "$BUILD/plugins-out/busbridge.so"; do
    [ -e "$f" ] || { echo "missing $f: cmake --build $BUILD --target vigia webhook busbridge" >&2; exit 1; }
done
[ -d node_modules/standardwebhooks ] || { echo "node_modules/standardwebhooks missing (npm ci)" >&2; exit 1; }
export VIGIA_BIN=$PWD/$BUILD/core/vigia VIGIA_PLUGIN_DIR=$PWD/$BUILD/plugins-out BUILD
exec node bench/webhook/bench.mjs
