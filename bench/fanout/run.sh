#!/bin/sh
# Broadcast fan-out benchmark: vigia's broker against the Node socket.io 4.8
# peer (bench/peers/server.js), same load generator (fanout), side by side.
#   bench/fanout/run.sh BUILD_DIR [CLIENTS ...]     (default 1000 5000 10000)
# Environment: BROKER_EXTRA (more [broker] lines, e.g. "sender_threads = 2"),
# M (messages per phase, default 20), INTERVAL (ms between paced
# messages, default 250, so paced broadcasts do not overlap). Needs: cmake --build BUILD_DIR --target vigia broker
# busbridge reststub fanout; node_modules at the repo root (npm ci).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
[ $# -gt 0 ] && shift
SIZES=${*:-1000 5000 10000}
M=${M:-20}
INTERVAL=${INTERVAL:-250}
FANOUT=$BUILD/bench/fanout/fanout
OUT=$(mktemp -d /tmp/vgfanout.XXXXXX)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_health() {
  i=0
  until curl -fs "http://127.0.0.1:$1/api/health" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 600 ] && { echo "server on $1 did not start" >&2; return 1; }
    sleep 0.1
  done
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

for N in $SIZES; do
  # vigia: one civetweb worker per WebSocket, plus the reserve for short requests
  P=$(free_port)
  THREADS=$((N + 160))
  cat > "$OUT/vigia-$N.ini" <<INI
[server]
listen = 127.0.0.1:$P
database = $OUT/vigia-$N.db
plugin_dir = $BUILD/plugins-out
plugins = reststub, busbridge, broker
log_level = warn
log_file = $OUT/vigia-$N.log
threads = $THREADS
; the load generator is one address: lift the core's per-address cap
max_conns_per_ip = $((N + 600))
[reststub]
; stand-in notifications.* only (recent_notifications on connect), empty
notifications = 0
datasets = 0
provide = notifications
[busbridge]
; /test/publish only: keep no events
max_events = 0
[broker]
max_clients = $((N + 100))
thread_reserve = 64
; one load generator on one address, up to 256 handshakes in flight
max_unconnected = 512
max_unconnected_per_ip = 512
${BROKER_EXTRA:-}
INI
  "$BUILD/core/vigia" --config "$OUT/vigia-$N.ini" >/dev/null 2>&1 &
  VP=$!
  wait_health "$P"
  "$FANOUT" -p "$P" -n "$N" -m "$M" -i "$INTERVAL" -s "$VP" -l vigia > "$OUT/vigia-$N.json" || true
  stop_pid "$VP"

  P=$(free_port)
  node "$ROOT/bench/peers/server.js" "$P" >/dev/null 2>&1 &
  NP=$!
  wait_health "$P"
  "$FANOUT" -p "$P" -n "$N" -m "$M" -i "$INTERVAL" -s "$NP" -l node > "$OUT/node-$N.json" || true
  stop_pid "$NP"
done

python3 - "$OUT" $SIZES <<'PY'
import json, sys
out, sizes = sys.argv[1], sys.argv[2:]
rows = [("held clients", lambda r: r["held"]),
        ("connect time s", lambda r: r["connect_s"]),
        ("paced p50 ms", lambda r: r["paced"]["p50_ms"]),
        ("paced p99 ms", lambda r: r["paced"]["p99_ms"]),
        ("paced max ms", lambda r: r["paced"]["max_ms"]),
        ("burst deliveries/s", lambda r: r["burst"]["deliveries_per_s"]),
        ("burst p99 ms", lambda r: r["burst"]["p99_ms"]),
        ("delivered/expected", lambda r: f'{r["paced"]["delivered"]+r["burst"]["delivered"]}/{r["paced"]["expected"]+r["burst"]["expected"]}'),
        ("server RSS after, MB", lambda r: r["server"]["rss_after_kb"] / 1024),
        ("RSS delta per conn KiB", lambda r: r["server"]["rss_per_conn_kb"]),
        ("RSS total per conn KiB", lambda r: r["server"]["rss_total_per_conn_kb"]),
        ("server CPU % (1 core=100)", lambda r: r["server"]["cpu_pct"]),
        # robust on a shared machine: CPU time the server spent per delivery
        ("server CPU us/delivery", lambda r: 1e6 * r["server"]["cpu_s"] / max(1, r["paced"]["delivered"] + r["burst"]["delivered"])),
        ("generator CPU %", lambda r: r["generator"]["cpu_pct"])]
for n in sizes:
    try:
        v = json.load(open(f"{out}/vigia-{n}.json")); d = json.load(open(f"{out}/node-{n}.json"))
    except Exception as e:
        print(f"N={n}: missing result ({e})"); continue
    print(f"\n== {n} clients, {v['messages']} paced (every {v['paced']['interval_ms']} ms) + {v['messages']} burst broadcasts ==")
    print(f"{'':28}{'vigia':>14}{'node socket.io':>16}{'vigia/node':>12}")
    for name, f in rows:
        a, b = f(v), f(d)
        ratio = f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else ""
        fa = f"{a:.2f}" if isinstance(a, float) else str(a)
        fb = f"{b:.2f}" if isinstance(b, float) else str(b)
        print(f"{name:28}{fa:>14}{fb:>16}{ratio:>12}")
print(f"\nraw results: {out}")
print("load average at the end:", open("/proc/loadavg").read().split()[:3])
PY
