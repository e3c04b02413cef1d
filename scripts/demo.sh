#!/usr/bin/env bash
# Offline demo: the CKAN fixture portal with a lively scenario on 127.0.0.1:8081,
# then Vigía with config/demo.ini. Ctrl-C stops both (the fixture by its pid).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FIXTURE=$BUILD/tests/fixtures/ckan-fixture/ckan-fixture
VIGIA=$BUILD/core/vigia
for bin in "$FIXTURE" "$VIGIA"; do
    [ -x "$bin" ] || { echo "demo: $bin is missing; run 'make build' first" >&2; exit 1; }
done

"$FIXTURE" --port 8081 --datasets 400 --orgs 12 --resources-per-dataset 2 --seed 7 \
    --hosts 4 --scenario lively --flip-interval 4000 --slow-ms 2500 --hang-ms 6000 \
    > "$BUILD/demo-fixture.log" 2>&1 &
fixture_pid=$!
cleanup() { kill "$fixture_pid" 2>/dev/null || true; wait "$fixture_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# wait until the fixture answers (up to 5 s)
for _ in $(seq 1 50); do
    if curl -fsS -o /dev/null http://127.0.0.1:8081/_stats 2>/dev/null; then break; fi
    kill -0 "$fixture_pid" 2>/dev/null || { cat "$BUILD/demo-fixture.log" >&2; exit 1; }
    sleep 0.1
done
echo "demo: CKAN fixture portal on http://127.0.0.1:8081 (log: $BUILD/demo-fixture.log)"
echo "demo: Vigía on http://127.0.0.1:8080 — Ctrl-C to stop"
"$VIGIA" --config config/demo.ini
