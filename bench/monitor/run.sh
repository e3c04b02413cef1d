#!/usr/bin/env bash
# Monitor benchmark: one sweep of N datasets / N*R resources served by the CKAN
# fixture, checked by the real vigia (monitor plugin) at a given concurrency.
# Prints wall time, checks/s, vigia's peak RSS (VmHWM) and CPU seconds, the
# REST latency (p50/p99) while the sweep runs, and the fixture's own capacity
# (wrk against one resource URL) with the ratio checks/s / capacity.
#
#   bench/monitor/run.sh [BUILD_DIR]     (env: DATASETS=10000 RPD=3 CONC=64 HOSTS=16 PER_HOST=4
#                                          PER_HOST_INTERVAL=0ms CONTENT=on FILE_BYTES=16384)
# Then, in the same run against the same fixture, the same first sweep by a fresh vigia with
# the body pass on (schema sampling and hashing of every resource; CONTENT=off skips it): its
# time, body bytes, RSS and CPU, and the ratio to the plain sweep.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-${BUILD:-build}}
DATASETS=${DATASETS:-10000}
RPD=${RPD:-3}
CONC=${CONC:-64}
HOSTS=${HOSTS:-16}
PER_HOST=${PER_HOST:-4}
# every file a CSV of this size, so the body pass reads and hashes real bytes
FILE_BYTES=${FILE_BYTES:-16384}
# The fixture's loopback hosts are ours: no pause between starts on a host
# (real portals get the polite defaults, 2 in flight and 250 ms apart).
PER_HOST_INTERVAL=${PER_HOST_INTERVAL:-0ms}
FIXTURE=$BUILD/tests/fixtures/ckan-fixture/ckan-fixture
VIGIA=$BUILD/core/vigia
PROBE=$BUILD/bench/monitor/monitor_latency_probe
for b in "$FIXTURE" "$VIGIA" "$PROBE" "$BUILD/plugins-out/monitor.so"; do
    [ -e "$b" ] || { echo "bench: $b missing: cmake --build $BUILD" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench: wrk missing (apt-get install wrk)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FPORT=$(free_port)
VPORT=$(free_port)
TMP=$(mktemp -d /tmp/vigia-bench-monitor.XXXXXX)
fixture_pid=""; vigia_pid=""; probe_pid=""
cleanup() {
    for p in $probe_pid $vigia_pid $fixture_pid; do kill "$p" 2>/dev/null || true; done
    for p in $probe_pid $vigia_pid $fixture_pid; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

"$FIXTURE" --port "$FPORT" --datasets "$DATASETS" --resources-per-dataset "$RPD" --orgs 50 \
    --hosts "$HOSTS" --threads 256 --file-bytes "$FILE_BYTES" > "$TMP/fixture.log" 2>&1 &
fixture_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$FPORT/_stats" 2>/dev/null && break; sleep 0.1; done

# One first sweep by a fresh vigia (fresh database); $1 = plain | content: the body pass
# (schema sampling and hashing, issue 13) off or on. Sets ms, resources, hwm_kb, cpu, line,
# body (the body pass's log line), probe (REST latency text).
run_sweep() {
    local mode=$1 port body_keys
    port=$(free_port)
    if [ "$mode" = content ]; then
        # every resource sampled and hashed in this first sweep (the defaults spread it over a
        # day); the loopback hosts get the checks' own pace, as for the checks above
        body_keys="schema_drift = true
hashing = true
content_concurrency = $CONC
content_per_host = $PER_HOST
content_per_host_interval = $PER_HOST_INTERVAL
content_max_per_sweep = 0
hash_recheck_delay = 1s"
    else
        body_keys="schema_drift = false
hashing = false"
    fi
    rm -f "$TMP/vigia.db" "$TMP/vigia.db-wal" "$TMP/vigia.db-shm" "$TMP/vigia.log"
    cat > "$TMP/vigia.ini" <<INI
[server]
listen = 127.0.0.1:$port
database = $TMP/vigia.db
plugin_dir = $BUILD/plugins-out
web_root = web
plugins = monitor, rest?
log_level = info
log_file = $TMP/vigia.log
threads = 64

[monitor]
concurrency = $CONC
api_delay = 0
timeout = 10s
connect_timeout = 5s
contact_url = https://example.invalid/bench

[monitor:bench]
base_url = http://127.0.0.1:$FPORT
interval = 1h
rows = 1000
per_host = $PER_HOST
per_host_interval = $PER_HOST_INTERVAL
$body_keys
INI
    "$VIGIA" --config "$TMP/vigia.ini" > "$TMP/vigia.out" 2>&1 &
    vigia_pid=$!
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/api/health" 2>/dev/null && break; sleep 0.05; done
    "$PROBE" "http://127.0.0.1:$port/api/health" "http://127.0.0.1:$port/api/datasets?limit=20" \
        > "$TMP/probe.txt" 2>&1 &
    probe_pid=$!
    # wait for the first sweep to finish (at most 300 s)
    for _ in $(seq 1 3000); do
        grep -q "sweep 1 of portal bench \(finished\|incomplete\)" "$TMP/vigia.log" 2>/dev/null && break
        sleep 0.1
    done
    kill -TERM "$probe_pid"; wait "$probe_pid" 2>/dev/null || true; probe_pid=""
    line=$(grep "sweep 1 of portal bench" "$TMP/vigia.log" | grep -v started || true)
    [ -n "$line" ] || { echo "bench: the sweep did not finish"; tail -20 "$TMP/vigia.log"; exit 1; }
    body=$(grep "body pass" "$TMP/vigia.log" | head -1 | sed 's/.*body pass: //' || true)
    ms=$(sed -n 's/.* in \([0-9]*\) ms:.*/\1/p' <<<"$line")
    resources=$(sed -n 's/.* \([0-9]*\) resources.*/\1/p' <<<"$line")
    hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$vigia_pid/status")
    read -r utime stime < <(awk '{print $14, $15}' "/proc/$vigia_pid/stat")
    tck=$(getconf CLK_TCK)
    cpu=$(awk -v u="$utime" -v s="$stime" -v t="$tck" 'BEGIN {printf "%.2f", (u + s) / t}')
    probe=$(sed 's/^/  /' "$TMP/probe.txt")
    kill -TERM "$vigia_pid"; wait "$vigia_pid" 2>/dev/null || true; vigia_pid=""
}

run_sweep plain
p_ms=$ms; p_hwm=$hwm_kb; p_cpu=$cpu; p_line=$line; p_probe=$probe
checks_per_s=$(awk -v n="$resources" -v ms="$ms" 'BEGIN {printf "%.0f", n * 1000 / ms}')
stats=$(curl -fsS "http://127.0.0.1:$FPORT/_stats")
c_ms=""
if [ "${CONTENT:-on}" = on ]; then
    run_sweep content
    c_ms=$ms; c_hwm=$hwm_kb; c_cpu=$cpu; c_line=$line; c_probe=$probe; c_body=$body
fi
ms=$p_ms; hwm_kb=$p_hwm; cpu=$p_cpu; line=$p_line

# the fixture's own capacity for the same kind of request, vigia idle
url=$(curl -fsS "http://127.0.0.1:$FPORT/api/3/action/package_search?rows=1" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["results"][0]["resources"][0]["url"])')
# (GET: wrk cannot do HEAD, it waits for a body that never comes)
wrk_out=$(wrk -t2 -c"$CONC" -d5s "$url")
capacity=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$wrk_out")
ratio=$(awk -v a="$checks_per_s" -v b="$capacity" 'BEGIN {printf "%.2f", a / b}')

echo "== monitor sweep benchmark ($(nproc) cores) =="
echo "command: DATASETS=$DATASETS RPD=$RPD CONC=$CONC HOSTS=$HOSTS PER_HOST=$PER_HOST PER_HOST_INTERVAL=$PER_HOST_INTERVAL CONTENT=${CONTENT:-on} FILE_BYTES=$FILE_BYTES bench/monitor/run.sh $BUILD"
echo "sweep: $line"
echo "wall time: ${ms} ms for $resources resource checks ($DATASETS datasets, listing included)"
echo "checks/s: $checks_per_s"
echo "vigia peak RSS (VmHWM): $((hwm_kb / 1024)) MB ($hwm_kb kB)"
echo "vigia CPU: ${cpu} s (user+system, whole process life)"
echo "fixture observed: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("max_concurrent=%d max_per_host=%d resource_requests=%d" % (d["max_concurrent"], d["max_concurrent_per_host"], d["resource_requests"]))' "$stats")"
echo "fixture capacity (wrk GET, -t2 -c$CONC, 5 s, one resource URL): $capacity req/s"
echo "ratio checks/s / fixture capacity: $ratio"
echo "REST while sweeping:"
echo "$p_probe"
if [ -n "$c_ms" ]; then
    echo "== the same sweep with the body pass on (schema sampling + SHA-256 of every file) =="
    echo "sweep: $c_line"
    echo "body pass: $c_body"
    echo "wall time: ${c_ms} ms (plain ${p_ms} ms), ratio $(awk -v a="$c_ms" -v b="$p_ms" 'BEGIN {printf "%.2f", a / b}')"
    echo "vigia peak RSS (VmHWM): $((c_hwm / 1024)) MB (plain $((p_hwm / 1024)) MB; target < 96 MB)"
    echo "vigia CPU: ${c_cpu} s (plain ${p_cpu} s)"
    echo "REST while sweeping with the body pass:"
    echo "$c_probe"
fi
