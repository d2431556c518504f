#!/usr/bin/env bash
# The multi-GPU runs (issue 18), one after another, on a host of several GPUs. NVLink multicast
# is turned off in this shell before anything starts, so every process inherits it (vLLM's
# servers and the other children also set it themselves).
#
#   bash bench/device/multigpu/runs.sh OPT
#
# OPT is where bench/device/engine_call.sh unpacked vLLM (OPT/v/site); started there in the
# background with ENGINE_RUNS=bench/device/multigpu/runs.sh, or in the foreground for the steps
# that need no vLLM. Results go to OPT/results/multigpu/; OPT/results/done marks the end.
# STEPS (default all, in this order) picks steps:
#   nvlink     NVLink state and counters and remapped rows as the collector reads them (§5)
#   vllm       the tensor/pipeline-parallel vLLM cases (§1; VLLM_CASES overrides the list)
#   placement  vram_check's placement around a half-full GPU, started for real, attributed (§2, §3)
#   trace      the 8-GPU replay trace (§6; 8 GPUs)
#   bench      bench/collector_bench.py on every GPU of the host, beside nvidia-smi and nvitop (§4)
#   scaling    the collector's cost by GPU count (§4)
set -uo pipefail
cd "$(dirname "$0")/../../.." || exit 1
[ $# -eq 1 ] || { echo "usage: $0 OPT" >&2; exit 2; }
opt=$1
results=$opt/results/multigpu
mkdir -p "$results"
rm -f "$opt/results/done"  # a marker left by an earlier run would end the polling at once
exports=$(python3 bench/engines/multicast_off.py) || { echo "runs: no settings" >&2; exit 1; }
eval "$exports"
if [ -d "$opt/v/site" ]; then export PYTHONPATH="$opt/v/site:$PWD"; else export PYTHONPATH="$PWD"; fi
export PYTHONUNBUFFERED=1
if ! python3 -c 'import fastapi, uvicorn, pydantic, pynvml, gpu_insight.collector' 2>/dev/null; then
  # shellcheck source=bench/device/setup.sh
  source bench/device/setup.sh || { echo "runs: setup failed" >&2; exit 1; }
fi
read -ra steps <<<"${STEPS:-nvlink vllm placement trace bench scaling}"
read -ra cases <<<"${VLLM_CASES:-llama-3.1-8b llama-3.1-8b-tp2 llama-3.1-70b-tp2 \
llama-3.1-70b-tp4 qwen2.5-72b-tp4 llama-3.1-70b-pp2 llama-3.1-70b-tp8}"
stamp() { echo "== $(date -u +%T) $*"; }

stamp "host: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | sort | uniq -c)"
nvidia-smi topo -m >"$results/topology.txt" 2>&1
step() {  # NAME: one step; its exit status is the main command's
  case $1 in
    nvlink)
      stamp "NVLink and remapped rows"
      timeout -k 10 120 python3 bench/device/multigpu/nvlink_reading.py --out "$results/nvlink"
      ;;
    vllm)
      stamp "vLLM cases: ${cases[*]}"
      python3 bench/engine_validation.py --out "$results/vllm" --models-dir "$opt/models" \
        --cases "${cases[@]}" || return
      python3 bench/device/multigpu/summarize.py "$results/vllm/engine_validation.json" \
        | tee "$results/vllm/summary.md"
      ;;
    placement)
      stamp "placement around a half-full GPU"
      timeout -k 15 1500 python3 bench/device/multigpu/placement_run.py \
        --out "$results/placement" --models-dir "$opt/models"
      ;;
    trace)
      stamp "8-GPU trace"
      timeout -k 15 1800 python3 bench/device/multigpu/trace_8gpu.py --out "$results/trace" \
        --models-dir "$opt/models"
      ;;
    bench)
      stamp "collector benchmark on every GPU"
      timeout -k 15 480 python3 bench/collector_bench.py --out "$results/collector-bench.json" \
        >"$results/collector-bench.log" 2>&1
      local rc=$?
      tail -n 40 "$results/collector-bench.log"
      return "$rc"
      ;;
    scaling)
      stamp "collector cost by GPU count"
      timeout -k 15 420 python3 bench/device/multigpu/collector_scaling.py \
        --out "$results/collector-scaling.json"
      ;;
    *) echo "runs: unknown step '$1'" >&2; return 2 ;;
  esac
}

for name in "${steps[@]}"; do
  step "$name"
  echo "$name: exit $?"
done
stamp "done"
touch "$opt/results/done"
