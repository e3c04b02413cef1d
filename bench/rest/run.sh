#!/usr/bin/env bash
# REST API throughput next to the same server's static-file ceiling.
#
#   bench/rest/run.sh [BUILD_DIR] [DURATION_S] [CONNECTIONS]
#
# Starts the real `vigia` with the reststub test plugin loaded with 100
# notifications and 10,000 datasets, then runs wrk (2 threads) against
#   GET /api/notifications?limit=20
#   GET /api/stats                      (5 datasets.list + 4 other bus calls per request)
#   GET /api/datasets?limit=50
#   GET /static.json                    a static file with the same bytes as the first answer
# and prints req/s, p99 latency and the ratio to the static file. wrk comes from Debian (`wrk`).
# STATS_CACHE=0 measures /api/stats without its 250 ms cache; REPEAT=n runs each target n times
# and keeps the best (default 2: the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
DUR=${2:-10}
CONN=${3:-32}
REPEAT=${REPEAT:-2}
BIN=$BUILD/core/vigia
PLUGINS=$BUILD/plugins-out
for f in "$BIN" "$PLUGINS/rest.so" "$PLUGINS/reststub.so"; do
    [ -e "$f" ] || { echo "missing $f: cmake --build $BUILD --target vigia rest reststub" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/vigia-bench-rest.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DIR/web"
cat > "$DIR/vigia.ini" <<INI
[server]
listen = 127.0.0.1:$PORT
database = $DIR/vigia.db
plugin_dir = $PLUGINS
web_root = $DIR/web
plugins = reststub, rest
log_level = warn
log_file = $DIR/vigia.log
threads = 16
; wrk's connections all come from 127.0.0.1: lift the per-address cap (32)
max_conns_per_ip = 1024

[reststub]
notifications = 100
datasets = 10000

[rest]
stats_cache = ${STATS_CACHE:-250ms}
INI
"$BIN" --config "$DIR/vigia.ini" >"$DIR/stderr.txt" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.1; done
BASE="http://127.0.0.1:$PORT"
if grep -qi "unknown key\|error" "$DIR/vigia.log" "$DIR/stderr.txt" 2>/dev/null; then
    echo "configuration problem:" >&2; cat "$DIR/vigia.log" "$DIR/stderr.txt" >&2; exit 1
fi
TOTAL=$(curl -sf "$BASE/api/datasets?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
[ "$TOTAL" = 10000 ] || { echo "expected 10000 datasets, got $TOTAL" >&2; exit 1; }
curl -sf "$BASE/api/notifications?limit=20" > "$DIR/web/static.json"

run() { # name path [header] -> "rps p99_ms" of the best of $REPEAT runs (the machine is shared)
    local best_rps=0 best_p99=0 r
    for r in $(seq "$REPEAT"); do
        read -r rps p99 < <(run_once "$@")
        if [ "$(echo "$rps > $best_rps" | bc -l)" = 1 ]; then best_rps=$rps; best_p99=$p99; fi
    done
    echo "$best_rps $best_p99"
}

run_once() {
    local out rps p99
    if [ -n "${3:-}" ]; then
        out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency -H "$3" "$BASE$2")
    else
        out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency "$BASE$2")
    fi
    if [ "$1" != revalidate ] && echo "$out" | grep -q "Non-2xx"; then
        echo "$1: non-2xx answers" >&2; echo "$out" >&2; exit 1
    fi
    rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}')
    echo "$rps $p99"
}

echo "vigia REST bench: 100 notifications, 10000 datasets, wrk -t2 -c$CONN -d${DUR}s, best of $REPEAT, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "reproduce: bench/rest/run.sh $BUILD $DUR $CONN"
read -r S_RPS S_P99 < <(run static /static.json)
printf "%-34s %10s %10s %8s\n" "target" "req/s" "p99 ms" "ratio"
printf "%-34s %10.0f %10.2f %8s\n" "GET /static.json (ceiling, $(stat -c %s "$DIR/web/static.json") B)" "$S_RPS" "$S_P99" "1.00"
for path in "/api/notifications?limit=20" "/api/stats" "/api/datasets?limit=50"; do
    read -r RPS P99 < <(run api "$path")
    printf "%-34s %10.0f %10.2f %8.2f\n" "GET $path" "$RPS" "$P99" "$(echo "$RPS / $S_RPS" | bc -l)"
done
# Revalidation: the client already has the answer; 304 without a body.
TAG=$(curl -sfI "$BASE/api/notifications?limit=20" | awk 'tolower($1)=="etag:" {print $2}' | tr -d '\r')
read -r RPS P99 < <(run revalidate "/api/notifications?limit=20" "If-None-Match: $TAG")
printf "%-34s %10.0f %10.2f %8.2f\n" "  same, If-None-Match -> 304" "$RPS" "$P99" "$(echo "$RPS / $S_RPS" | bc -l)"

# The same route over the real notifications plugin (SQLite + memory ring), 100 notifications.
if [ -e "$PLUGINS/notifications.so" ]; then
    kill "$PID"; wait "$PID" 2>/dev/null || true
    rm -f "$DIR"/vigia.db*
    sed -i -e 's/^plugins = .*/plugins = notifications, rest/' -e '/^\[reststub\]/,$d' "$DIR/vigia.ini"
    "$BIN" --config "$DIR/vigia.ini" >"$DIR/stderr.txt" 2>&1 &
    PID=$!
    for _ in $(seq 100); do curl -sf "$BASE/api/health" >/dev/null && break; sleep 0.1; done
    for i in $(seq 100); do
        curl -sf -X POST -H 'Content-Type: application/json' \
            -d "{\"title\":\"Bench $i\",\"message\":\"Dataset ds-$i changed state\",\"type\":\"warning\"}" \
            "$BASE/api/notifications/test" >/dev/null
    done
    read -r RPS P99 < <(run api "/api/notifications?limit=20")
    printf "%-34s %10.0f %10.2f %8.2f\n" "  same, real notifications plugin" "$RPS" "$P99" "$(echo "$RPS / $S_RPS" | bc -l)"
fi
