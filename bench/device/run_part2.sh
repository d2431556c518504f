#!/usr/bin/env bash
# Part 2 of a GPU-host run (~4-5 min, within 9): setup, the collector benchmark.
#   bash bench/device/run_part2.sh [OUT_DIR]   (default: $OUT, else bench/results/device)
# OUT_DIR receives part2.log, bench.log, collector-<date>-<gpu>.json.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
out=${1:-${OUT:-bench/results/device}}
# shellcheck source=bench/device/steps.sh
source bench/device/steps.sh
start_run "$out" part2.log || { echo "setup failed: nothing was run"; exit 1; }
step_bench "$out" 500
