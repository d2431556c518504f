#!/usr/bin/env bash
# Part 1 of a GPU-host run (~5 min, within 9): setup, tests/gpu, the replay trace.
#   bash bench/device/run_part1.sh [OUT_DIR]   (default: $OUT, else bench/results/device)
# OUT_DIR receives part1.log, tests-gpu.log, h100-trace.jsonl, trace-collector.log,
# trace-load.log.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
out=${1:-${OUT:-bench/results/device}}
# shellcheck source=bench/device/steps.sh
source bench/device/steps.sh
start_run "$out" part1.log || { echo "setup failed: nothing was run"; exit 1; }
failed=()
step_tests "$out" 180 || failed+=(tests/gpu)
RECORD_S=${RECORD_S:-170} step_trace "$out" 330 || failed+=(trace)
echo "== part 1 done; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
