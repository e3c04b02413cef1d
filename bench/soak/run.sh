#!/usr/bin/env bash
# Soak: the lively CKAN fixture portal and Vigía pointed at it (as `make demo`), under 500
# Socket.IO clients, REST readers and writers and abusive clients for an hour, sampling the
# server's RSS, fds and threads and timing /api/health (bench/soak/soak.mjs). Prints the
# figures and the command that reproduces them; exits 1 when a resource grows after warm-up,
# the health p99 reaches P99_MS, or (ASan build) the sanitizers report anything.
#   bench/soak/run.sh                      # 60 minutes, build/
#   SOAK_MINUTES=5 bench/soak/run.sh       # the short version
#   SOAK_BUILD=build-asan bench/soak/run.sh  # the same against the ASan + UBSan build
# Environment: SOAK_MINUTES (60), SOAK_BUILD (build), CLIENTS (500), P99_MS (50),
# SAMPLE_S (5), WARMUP_S (a sixth of the run, at least 60), ABUSE (1; 0 = no abusive clients).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
MIN=${SOAK_MINUTES:-60}
BUILD=${SOAK_BUILD:-build}
CLIENTS=${CLIENTS:-500}
DUR=${SOAK_SECONDS:-$((MIN * 60))}
WARM=${WARMUP_S:-$((DUR / 6 > 60 ? DUR / 6 : 60))}
FIXTURE=build/tests/fixtures/ckan-fixture/ckan-fixture
[ -x "$FIXTURE" ] || FIXTURE=$BUILD/tests/fixtures/ckan-fixture/ckan-fixture
VIGIA=$BUILD/core/vigia
for bin in "$FIXTURE" "$VIGIA"; do
    [ -x "$bin" ] || { echo "soak: $bin is missing; build first (make build)" >&2; exit 1; }
done
OUT=$(mktemp -d /tmp/vigia-soak.XXXXXX)
ulimit -n 16384 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FPORT=$(free_port)
VPORT=$(free_port)
TOKEN=soak-$RANDOM$RANDOM
fixture_pid= vigia_pid=
cleanup() {
    for p in $vigia_pid $fixture_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

"$FIXTURE" --port "$FPORT" --datasets 400 --orgs 12 --resources-per-dataset 2 --seed 7 \
    --hosts 4 --scenario lively --flip-interval 4000 --slow-ms 2500 --hang-ms 6000 \
    >"$OUT/fixture.log" 2>&1 &
fixture_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$FPORT/_stats" 2>/dev/null && break; sleep 0.1; done

# WebSockets and waiting long-polls each pin a civetweb worker: size threads for the clients.
cat >"$OUT/soak.ini" <<INI
[server]
listen = 127.0.0.1:$VPORT
web_root = web
database = $OUT/soak.db
plugin_dir = $BUILD/plugins-out
plugins = notifications, monitor, broker, rest
log_level = warn
admin_token = $TOKEN
threads = $((CLIENTS + 160))
; every client of the soak is 127.0.0.1: lift the core's per-address cap (32)
max_conns_per_ip = $((CLIENTS + 300))

[monitor]
api_delay = 0
concurrency = 32
timeout = 3s
connect_timeout = 2s
slow_ms = 2000
announce_initial = false

[monitor:soak]
base_url = http://127.0.0.1:$FPORT
interval = 10s
rows = 100
per_host = 4
fail_threshold = 2
recover_threshold = 1

[broker]
max_clients = $((CLIENTS + 100))
; the clients share one address: they stand for many, so no per-address handshake cap
max_unconnected = $((CLIENTS + 100))
max_unconnected_per_ip = $((CLIENTS + 100))
INI
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
"$VIGIA" --config "$OUT/soak.ini" >"$OUT/vigia.log" 2>&1 &
vigia_pid=$!
for _ in $(seq 1 300); do curl -fsS -o /dev/null "http://127.0.0.1:$VPORT/api/health" 2>/dev/null && break; sleep 0.1; done
ids=$(curl -fsS "http://127.0.0.1:$FPORT/api/3/action/package_search?rows=30" |
      python3 -c 'import json,sys; print(",".join(d["id"] for d in json.load(sys.stdin)["result"]["results"]))')

echo "soak: reproduce with: SOAK_MINUTES=$MIN SOAK_BUILD=$BUILD CLIENTS=$CLIENTS ABUSE=${ABUSE:-1}" \
     "bench/soak/run.sh"
echo "soak: server $VIGIA (pid $vigia_pid) on 127.0.0.1:$VPORT, fixture on 127.0.0.1:$FPORT, files in $OUT"
# Under ASan, RSS holds the allocator's quarantine and shadow memory: printed, not judged.
rss_check=1
ldd "$VIGIA" | grep -q libasan && rss_check=0
rc=0
BASE=http://127.0.0.1:$VPORT SERVER_PID=$vigia_pid DURATION_S=$DUR WARMUP_S=$WARM CLIENTS=$CLIENTS \
    ADMIN_TOKEN=$TOKEN DATASET_IDS=$ids SAMPLES_OUT=$OUT/samples.json ABUSE=${ABUSE:-1} RSS_CHECK=$rss_check \
    node bench/soak/soak.mjs || rc=1

# Stop the server the normal way: the sanitizers report leaks at exit.
kill -TERM "$vigia_pid" 2>/dev/null || true
for _ in $(seq 1 600); do kill -0 "$vigia_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$vigia_pid" 2>/dev/null; then
    echo "soak: the server did not stop within 60 s of SIGTERM"
    rc=1
fi
wait "$vigia_pid" 2>/dev/null && code=0 || code=$?
vigia_pid=
echo "soak: server exit status $code"
[ "$code" -eq 0 ] || rc=1
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$OUT/vigia.log"; then
    echo "soak: sanitizer report in $OUT/vigia.log:"
    grep -E -A12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$OUT/vigia.log" | head -60
    rc=1
else
    echo "soak: no ASan/LSan/UBSan report in the server log"
fi
echo "soak: server log warnings/errors: $(grep -cE ' (WARN|ERROR) ' "$OUT/vigia.log" || true)" \
     "(log: $OUT/vigia.log)"
echo "soak: $([ $rc -eq 0 ] && echo PASSED || echo FAILED)"
exit $rc
