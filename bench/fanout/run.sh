#!/bin/sh
# Broadcast fan-out benchmark: vigia's broker on both transports (civetweb's,
# and transport = lws) against the Node socket.io 4.8 peer
# (bench/peers/server.js), same load generator (fanout), side by side.
#   bench/fanout/run.sh BUILD_DIR [CLIENTS ...]     (default 1000 5000 10000)
#   bench/fanout/run.sh --transport lws BUILD_DIR ...  (only lws and Node)
# Environment: TRANSPORTS (default "civetweb lws"), ADDRS (source addresses
# 127.0.0.1..127.0.0.N for the clients, default 8; civetweb is skipped above
# 16,000 clients: one thread per WebSocket, the kernel allows 16,384),
# BROKER_EXTRA (more [broker] lines, e.g. "sender_threads = 2"),
# M (messages per phase, default 20), INTERVAL (ms between paced
# messages, default 250, so paced broadcasts do not overlap). Needs: cmake --build BUILD_DIR --target vigia broker
# busbridge reststub fanout; node_modules at the repo root (npm ci).
# Sizes that do not fit the open-files limit (clients + 200) are skipped, saying so.
# permessage-deflate's cost on lws: node bench/fanout/deflate.mjs BUILD_DIR [CLIENTS] [MESSAGES].
set -eu
TRANSPORTS=${TRANSPORTS:-civetweb lws}
if [ "${1:-}" = "--transport" ]; then TRANSPORTS=$2; shift 2; fi
ADDRS=${ADDRS:-8}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
[ $# -gt 0 ] && shift
SIZES=${*:-1000 5000 10000}
M=${M:-20}
INTERVAL=${INTERVAL:-250}
FANOUT=$BUILD/bench/fanout/fanout
OUT=$(mktemp -d /tmp/vgfanout.XXXXXX)
# 50,000 clients need 50,000 descriptors on each side (root may raise the hard
# limit; a container without CAP_SYS_RESOURCE cannot: bigger sizes are skipped)
ulimit -Hn 131072 2>/dev/null || true
ulimit -n 131072 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_health() {
  i=0
  until curl -fs "http://127.0.0.1:$1/api/health" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 600 ] && { echo "server on $1 did not start" >&2; return 1; }
    sleep 0.1
  done
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

FDMAX=$(ulimit -n)
for N in $SIZES; do
 if [ $((N + 200)) -gt "$FDMAX" ]; then
   echo "skipped $N clients: open files limit $FDMAX (raise the hard limit: ulimit -Hn, LimitNOFILE)" >&2
   continue
 fi
 for T in $TRANSPORTS; do
  if [ "$T" = civetweb ] && [ "$N" -gt 16000 ]; then
    echo "civetweb: skipped at $N clients (one thread per WebSocket)" >&2; continue
  fi
  # civetweb: one worker per WebSocket, plus the reserve for short requests;
  # lws: /socket.io/ on its own port and event loops, civetweb keeps its default pool
  P=$(free_port)
  WP=
  THREADS=$((N + 160))
  LWS_INI=
  if [ "$T" = lws ]; then
    WP=$(free_port)
    while [ "$WP" = "$P" ]; do WP=$(free_port); done
    THREADS=64
    LWS_INI="transport = lws
lws_listen = 127.0.0.1:$WP
lws_max_per_ip = $N"
  fi
  cat > "$OUT/$T-$N.ini" <<INI
[server]
listen = 127.0.0.1:$P
database = $OUT/$T-$N.db
plugin_dir = $BUILD/plugins-out
plugins = reststub, busbridge, broker
log_level = warn
log_file = $OUT/$T-$N.log
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
thread_reserve = $((THREADS > 128 ? 64 : 16))
$LWS_INI
; one load generator on one address, up to 256 handshakes in flight
max_unconnected = 512
max_unconnected_per_ip = 512
${BROKER_EXTRA:-}
INI
  "$BUILD/core/vigia" --config "$OUT/$T-$N.ini" >/dev/null 2>&1 &
  VP=$!
  wait_health "$P"
  echo "+ $FANOUT -p $P ${WP:+-w $WP }-a $ADDRS -n $N -m $M -i $INTERVAL -s $VP -l $T" >&2
  "$FANOUT" -p "$P" ${WP:+-w "$WP"} -a "$ADDRS" -n "$N" -m "$M" -i "$INTERVAL" -s "$VP" -l "$T" \
    > "$OUT/$T-$N.json" || true
  stop_pid "$VP"
 done

  P=$(free_port)
  node "$ROOT/bench/peers/server.js" "$P" >/dev/null 2>&1 &
  NP=$!
  wait_health "$P"
  "$FANOUT" -p "$P" -a "$ADDRS" -n "$N" -m "$M" -i "$INTERVAL" -s "$NP" -l node > "$OUT/node-$N.json" || true
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
def load(name):
    try:
        return json.load(open(f"{out}/{name}.json"))
    except Exception:
        return None
def fmt(a):
    return f"{a:.2f}" if isinstance(a, float) else str(a)
cols = ["civetweb", "lws", "node"]
for n in sizes:
    res = {c: load(f"{c}-{n}") for c in cols}
    any_r = next((r for r in res.values() if r), None)
    if not any_r:
        print(f"N={n}: no results"); continue
    print(f"\n== {n} clients, {any_r['messages']} paced (every {any_r['paced']['interval_ms']} ms) + {any_r['messages']} burst broadcasts ==")
    print(f"{'':28}{'civetweb':>12}{'lws':>12}{'node':>12}{'lws/node':>10}{'lws/civet':>10}")
    for name, f in rows:
        vals = {}
        for c in cols:
            try:
                vals[c] = f(res[c]) if res[c] else "n/a"
            except Exception:
                vals[c] = "n/a"
        def ratio(a, b):
            return f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else ""
        print(f"{name:28}{fmt(vals['civetweb']):>12}{fmt(vals['lws']):>12}{fmt(vals['node']):>12}"
              f"{ratio(vals['lws'], vals['node']):>10}{ratio(vals['lws'], vals['civetweb']):>10}")
print(f"\nraw results: {out}")
print("load average at the end:", open("/proc/loadavg").read().split()[:3])
PY
