#!/usr/bin/env bash
# The steps of a GPU-host run, shared by run_all.sh, run_part1.sh and run_part2.sh (sourced).
# Each step takes the output folder and a time limit in seconds, logs to a file there, prints
# a one-line verdict and returns non-zero on failure.

step_tests() {  # OUT_DIR LIMIT_S
  local out=$1 limit=$2 rc=0
  echo "== tests/gpu (limit ${limit} s)"
  timeout -k 10 "$limit" python3 -m pytest tests/gpu -v -rs -p no:cacheprovider \
    --confcutdir tests/gpu >"$out/tests-gpu.log" 2>&1 || rc=$?
  tail -n 25 "$out/tests-gpu.log"
  [ "$rc" -eq 124 ] && echo "tests/gpu: TIMED OUT after ${limit} s"
  echo "tests/gpu: exit $rc"
  return "$rc"
}

step_trace() {  # OUT_DIR LIMIT_S (RECORD_S: seconds recorded)
  local out=$1 limit=$2 rc=0
  echo "== replay trace: ${RECORD_S:-170} s recorded (limit ${limit} s)"
  timeout -k 15 "$limit" bench/device/record_trace.sh "$out" || rc=$?
  [ "$rc" -eq 124 ] && echo "record_trace: TIMED OUT after ${limit} s"
  echo "record_trace: exit $rc"
  return "$rc"
}

step_bench() {  # OUT_DIR LIMIT_S [--quick]
  local out=$1 limit=$2 rc=0 marker result
  shift 2
  echo "== collector benchmark $* (limit ${limit} s)"
  marker=$(mktemp /tmp/gpu-insight-bench-start.XXXXXX)
  timeout -k 15 "$limit" python3 bench/collector_bench.py "$@" >"$out/bench.log" 2>&1 || rc=$?
  tail -n 45 "$out/bench.log"
  result=$(find bench/results -name 'collector-*.json' -newer "$marker" | head -n 1)
  rm -f "$marker"
  if [ -n "$result" ]; then cp "$result" "$out/"; else echo "collector_bench: no result file"; fi
  [ "$rc" -eq 124 ] && echo "collector_bench: TIMED OUT after ${limit} s"
  echo "collector_bench: exit $rc"
  return "$rc"
}

# Sets up the host and sends this script's output to OUT_DIR/$2 as well; returns non-zero
# when setup fails.
start_run() {  # OUT_DIR LOG_NAME
  mkdir -p "$1" || return 1
  exec > >(tee -a "$1/$2") 2>&1
  echo "== setup ($(date -u +%FT%TZ))"
  # shellcheck source=bench/device/setup.sh
  source bench/device/setup.sh
}
