#!/usr/bin/env bash
# Runs one libFuzzer target for FUZZ_SECONDS (default 15) from its seed corpus
# and prints what it reached. A crash, leak, UB, timeout or failed check makes
# it fail, with the input saved and the command that replays it.
# Usage: run.sh <fuzzer binary> <seed corpus dir> <work dir>
# New inputs go to <work dir>/corpus; the seeds in the repository stay untouched.
# FUZZ_FORK=1 (long runs): keep fuzzing past a crash (libFuzzer -fork=1 -ignore_crashes=1),
# save every crashing input, and fail at the end if there was any.
set -uo pipefail
fuzzer=$1 seeds=$2 work=$3
secs=${FUZZ_SECONDS:-15}
name=$(basename "$fuzzer")
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/last.log
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:handle_abort=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cmd=("$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
     -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds")
[ "${FUZZ_FORK:-0}" = 1 ] && cmd+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
echo "fuzz: ${cmd[*]}"
start=$SECONDS
nice "${cmd[@]}" >"$log" 2>&1
rc=$?
took=$((SECONDS - start))
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
if [ -z "$runs" ]; then # fork mode: "#N: cov: C ft: F corp: K exec/s: E oom/timeout/crash: a/b/c"
    runs=$(sed -n 's/^#\([0-9]*\):.*/\1/p' <<<"$last")
    [ -n "$runs" ] && eps=$((runs / secs)) # the average; the line's exec/s is the last job's
    crashes=$(sed -n 's/.*oom\/timeout\/crash: \([0-9/]*\).*/\1/p' <<<"$last")
    [ -n "$crashes" ] && echo "fuzz: $name: oom/timeout/crash $crashes"
    [ -n "$(ls "$work/artifacts")" ] && rc=1
fi
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
echo "fuzz: $name: ${runs:-?} runs in ${took}s of ${secs}s, ${eps:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}," \
     "corpus ${corp:-?} (seeds $(ls "$seeds" | wc -l))"
if [ $rc -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ +0x' "$log" | head -40
    art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "fuzz: $name FAILED (exit $rc); full log: $log"
    [ -n "$art" ] && echo "fuzz: input saved: $art; replay: $fuzzer $art"
    exit 1
fi
