#!/usr/bin/env bash
# Everything on a GPU host in one call of at most 9.5 minutes: setup, tests/gpu, the replay
# trace (RECORD_S, default 160 s), the collector benchmark. Each step's limit comes from what
# is left of the budget; the benchmark runs --quick when too little is left for a full run.
#   bash bench/device/run_all.sh [OUT_DIR]   (default: $OUT, else bench/results/device)
# OUT_DIR receives run.log, tests-gpu.log, h100-trace.jsonl, trace-collector.log,
# trace-load.log, bench.log, collector-<date>-<gpu>.json.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
out=${1:-${OUT:-bench/results/device}}
budget_s=${RUN_BUDGET_S:-570}
deadline=$(($(date +%s) + budget_s))
left() { echo $((deadline - $(date +%s))); }
# shellcheck source=bench/device/steps.sh
source bench/device/steps.sh
start_run "$out" run.log || { echo "setup failed: nothing was run"; exit 1; }
failed=()

step_tests "$out" 150 || failed+=(tests/gpu)

trace_limit=$(($(left) - 170))  # keep ~170 s for at least a quick benchmark
[ "$trace_limit" -gt 300 ] && trace_limit=300
if [ "$trace_limit" -ge 220 ]; then
  RECORD_S=${RECORD_S:-160} step_trace "$out" "$trace_limit" || failed+=(trace)
else
  echo "== replay trace SKIPPED: only $(left) s left"; failed+=(trace)
fi

bench_limit=$(($(left) - 10))
if [ "$bench_limit" -ge 260 ]; then
  step_bench "$out" "$bench_limit" || failed+=(bench)
elif [ "$bench_limit" -ge 120 ]; then
  step_bench "$out" "$bench_limit" --quick || failed+=(bench)
else
  echo "== collector benchmark SKIPPED: only $(left) s left"; failed+=(bench)
fi
echo "== done with $(left) s of the budget left; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
