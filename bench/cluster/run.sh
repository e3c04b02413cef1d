#!/bin/sh
# Cluster benchmark: the same total clients on 1, 2 and 3 Vigía nodes joined
# by the cluster plugin through one redis-server, against Node socket.io 4.8
# with @socket.io/redis-adapter on the same Redis, 1, 2 and 3 processes
# (bench/peers/cluster_server.js). One load generator (bench/fanout) spreads
# the clients over the nodes round-robin and triggers every broadcast on the
# first node: deliveries per second (burst), p50/p99 latency (paced), and the
# paced latency of clients on the publishing node ("local") against clients
# on the other nodes ("remote", one Redis hop more).
#   bench/cluster/run.sh BUILD_DIR [CLIENTS] [NODES ...]   (default 3000, 1 2 3)
# Environment: M (messages per phase, default 20), INTERVAL (ms between paced
# messages, default 250), REPLAY ([cluster] replay_max, default 10000: the
# replay log for recovery across nodes, which also routes the publishing node's
# own deliveries through Redis; 0: no log, the publishing node delivers at once),
# TRANSPORT (the nodes' [broker] transport, civetweb or lws, default civetweb:
# lws gives each node a Socket.IO port of its own and event loops instead of a
# thread per client, which one node needs to hold 12,000).
# Needs: cmake --build BUILD_DIR --target vigia broker busbridge reststub
# cluster fanout; redis-server; node_modules (npm ci).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
[ $# -gt 0 ] && shift
N=${1:-3000}
[ $# -gt 0 ] && shift
NODES=${*:-1 2 3}
M=${M:-20}
INTERVAL=${INTERVAL:-250}
export TRANSPORT="${TRANSPORT:-civetweb}" # the summary below prints it
case $TRANSPORT in civetweb | lws) ;; *) echo "TRANSPORT: civetweb or lws, not $TRANSPORT" >&2; exit 2 ;; esac
FANOUT=$BUILD/bench/fanout/fanout
OUT=$(mktemp -d /tmp/vgcluster.XXXXXX)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
[ -f "$BUILD/plugins-out/cluster.so" ] || { echo "cluster plugin not built (libhiredis-dev)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_health() { # PORT [PID LOG]: a server that exits says why at once
  i=0
  until curl -fs "http://127.0.0.1:$1/api/health" >/dev/null 2>&1; do
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
      echo "server on $1 exited:" >&2; tail -3 "$3" >&2; return 1
    fi
    i=$((i + 1)); [ $i -gt 600 ] && { echo "server on $1 did not start" >&2; return 1; }
    sleep 0.1
  done
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

RP=$(free_port)
redis-server --port "$RP" --bind 127.0.0.1 --dir "$OUT" --save "" --appendonly no \
  --daemonize no --logfile "$OUT/redis.log" &
RPID=$!
trap 'stop_pid $RPID' EXIT INT TERM
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$RP),1)" 2>/dev/null; do sleep 0.1; done

for K in $NODES; do
  PER=$(( (N + K - 1) / K ))
  # Vigía: K nodes, each a broker holding its share, joined through Redis.
  PORTS=""; PIDS=""; WPORTS=""
  for i in $(seq 1 "$K"); do
    P=$(free_port)
    LWS_INI=""; THREADS=$((PER + 160)) # civetweb: a worker per client
    if [ "$TRANSPORT" = lws ]; then
      WP=$(free_port)
      WPORTS="$WPORTS${WPORTS:+,}$WP"
      LWS_INI="transport = lws
lws_listen = 127.0.0.1:$WP
lws_max_per_ip = $((PER + 100))"
      THREADS=128 # the REST side only (thread_reserve below is 64)
    fi
    cat > "$OUT/vigia-$K-$i.ini" <<INI
[server]
listen = 127.0.0.1:$P
database = $OUT/vigia-$K-$i.db
plugin_dir = $BUILD/plugins-out
plugins = reststub, busbridge, broker, cluster
log_level = warn
log_file = $OUT/vigia-$K-$i.log
threads = $THREADS
max_conns_per_ip = $((PER + 600))
[reststub]
notifications = 0
datasets = 0
provide = notifications
[busbridge]
max_events = 0
[broker]
max_clients = $((PER + 100))
thread_reserve = 64
max_unconnected = 512
max_unconnected_per_ip = 512
$LWS_INI
[cluster]
redis_url = redis://127.0.0.1:$RP
node_id = n$i
name = bench$K
events = notification.
replay_max = ${REPLAY:-10000}
INI
    "$BUILD/core/vigia" --config "$OUT/vigia-$K-$i.ini" >/dev/null 2>&1 &
    PIDS="$PIDS $!"
    wait_health "$P" "$!" "$OUT/vigia-$K-$i.log"
    PORTS="$PORTS${PORTS:+,}$P"
  done
  sleep 2 # every node has joined (link up, subscribed)
  FIRST=${PORTS%%,*}
  if [ -n "$WPORTS" ]; then # clients on the Socket.IO ports, broadcasts over HTTP on node 1
    set -- -p "$WPORTS" -P "$FIRST" -L "${WPORTS%%,*}"
  else
    set -- -p "$PORTS" -P "$FIRST"
  fi
  echo "+ $FANOUT $* -n $N -m $M -i $INTERVAL -l vigia-$K ($TRANSPORT)" >&2
  "$FANOUT" "$@" -n "$N" -m "$M" -i "$INTERVAL" -l "vigia-$K" > "$OUT/vigia-$K.json" || true
  for p in $PIDS; do stop_pid "$p"; done

  # socket.io + Redis adapter: K processes on the same Redis.
  PORTS=""; PIDS=""
  for i in $(seq 1 "$K"); do
    P=$(free_port)
    node "$ROOT/bench/peers/cluster_server.js" "$P" "redis://127.0.0.1:$RP" >/dev/null 2>&1 &
    PIDS="$PIDS $!"
    wait_health "$P"
    PORTS="$PORTS${PORTS:+,}$P"
  done
  FIRST=${PORTS%%,*}
  "$FANOUT" -p "$PORTS" -P "$FIRST" -n "$N" -m "$M" -i "$INTERVAL" -l "node-$K" \
    > "$OUT/node-$K.json" || true
  for p in $PIDS; do stop_pid "$p"; done
done

python3 - "$OUT" "$N" $NODES <<'PY'
import json, sys
out, n, nodes = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = [("held clients", lambda r: r["held"]),
        ("burst deliveries/s", lambda r: r["burst"]["deliveries_per_s"]),
        ("burst p99 ms", lambda r: r["burst"]["p99_ms"]),
        ("paced p50 ms", lambda r: r["paced"]["p50_ms"]),
        ("paced p99 ms", lambda r: r["paced"]["p99_ms"]),
        ("paced local p50 ms", lambda r: r["paced_local"]["p50_ms"]),
        ("paced remote p50 ms", lambda r: r["paced_remote"]["p50_ms"] if r["paced_remote"]["n"] else ""),
        ("remote - local p50 ms", lambda r: r["paced_remote"]["p50_ms"] - r["paced_local"]["p50_ms"] if r["paced_remote"]["n"] else ""),
        ("hop: 1st remote - 1st local p50 ms", lambda r: r["hop_first"]["p50_ms"] if r["paced_remote"]["n"] else ""),
        ("hop max ms", lambda r: r["hop_first"]["max_ms"] if r["paced_remote"]["n"] else ""),
        ("paced remote p99 ms", lambda r: r["paced_remote"]["p99_ms"] if r["paced_remote"]["n"] else ""),
        ("delivered/expected", lambda r: f'{r["paced"]["delivered"]+r["burst"]["delivered"]}/{r["paced"]["expected"]+r["burst"]["expected"]}')]
for k in nodes:
    try:
        v = json.load(open(f"{out}/vigia-{k}.json")); d = json.load(open(f"{out}/node-{k}.json"))
    except Exception as e:
        print(f"{k} nodes: missing result ({e})"); continue
    print(f"\n== {n} clients on {k} node(s), {v['messages']} paced (every {v['paced']['interval_ms']} ms) + {v['messages']} burst broadcasts, published on node 1 ==")
    print(f"{'':36}{'vigia+cluster':>14}{'socket.io+redis':>17}{'vigia/node':>12}")
    for name, f in rows:
        a, b = f(v), f(d)
        ratio = f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else ""
        fa = f"{a:.2f}" if isinstance(a, float) else str(a)
        fb = f"{b:.2f}" if isinstance(b, float) else str(b)
        print(f"{name:36}{fa:>14}{fb:>17}{ratio:>12}")
print(f"\nraw results: {out}")
print("nodes' transport:", __import__("os").environ["TRANSPORT"])
print("load average at the end:", open("/proc/loadavg").read().split()[:3])
PY
