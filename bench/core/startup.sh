#!/usr/bin/env bash
# Start-up time (exec -> first 200 from /api/health) and RSS of vigia with the
# hello plugin loaded, over N runs. Reproduce with:
#     bench/core/startup.sh [build-dir] [runs]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
RUNS=${2:-20}
BIN=$BUILD/core/vigia
HELLO=$BUILD/tests/integration/hello-build
if [ ! -f "$HELLO/hello.so" ]; then
    cmake --install "$BUILD" --component sdk --prefix "$BUILD/bench-sdk" >/dev/null
    cmake -S examples/hello-plugin -B "$HELLO" -DCMAKE_PREFIX_PATH="$PWD/$BUILD/bench-sdk" >/dev/null
    cmake --build "$HELLO" >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/b.ini" <<INI
[server]
listen = 127.0.0.1:$port
database = $tmp/b.db
plugin_dir = $HELLO
plugins = hello
threads = 64
log_level = warn
INI
times=(); rss=()
for _ in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    "$BIN" --config "$tmp/b.ini" 2>/dev/null &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/api/health" >/dev/null; do sleep 0.001; done
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
    rss+=($(awk '/VmRSS/{print $2}' /proc/$pid/status))
    kill -TERM $pid; wait $pid || true
done
printf '%s\n' "${times[@]}" | sort -n > "$tmp/t"
printf '%s\n' "${rss[@]}" | sort -n > "$tmp/r"
med() { sed -n "$(( ($(wc -l < "$1") + 1) / 2 ))p" "$1"; }
echo "vigia start-up with the hello plugin, threads=64, $RUNS runs"
echo "  exec -> /api/health 200: median $(awk '{printf "%.1f", $1/1000}' <<< "$(med "$tmp/t")") ms, max $(awk '{printf "%.1f", $1/1000}' <<< "$(tail -1 "$tmp/t")") ms"
echo "  RSS after start:         median $(med "$tmp/r") KiB, max $(tail -1 "$tmp/r") KiB"
echo "reproduce: bench/core/startup.sh $BUILD $RUNS"
