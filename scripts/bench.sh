#!/usr/bin/env bash
# Every benchmark, one after the other (each prints its own figures and the
# command that reproduces it). Run on a quiet machine: they measure time.
#   scripts/bench.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
run() { echo; echo "==== $*"; "$@" || echo "(benchmark failed: $*)"; }
run bench/core/startup.sh "$BUILD" 20
run "$BUILD/bench/notifications/notifications_bench" 20000
run bench/monitor/run.sh "$BUILD"
run bench/rest/run.sh "$BUILD" 10 32
run bench/fanout/run.sh "$BUILD" 1000 5000 10000
run bench/webpush/run.sh "$BUILD" 3
