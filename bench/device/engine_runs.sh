#!/usr/bin/env bash
# The real-engine runs, one after another, on a GPU host prepared by engine_call.sh (vLLM in
# OPT/v/site). Started in the background there; OPT/results/done marks the end.
#
#   bash bench/device/engine_runs.sh OPT
#
# 1. bench/engine_validation.py: the vLLM cases (the MoE ones wait for the MoE extension)
# 2. bench/device/record_trace.sh with the real vLLM: the H200 replay trace, and the collector
#    held to vLLM's own counters meanwhile
# 3. the later cases (another budget, a second max-model-len, MLA, which may not start here)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
opt=$1
results=$opt/results
export PYTHONPATH="$opt/v/site:$PWD"
export PYTHONUNBUFFERED=1
stamp() { echo "== $(date -u +%T) $*"; }

# Each vLLM start takes ~100 s on this host: the lists say which cases run before the trace
# and which after it (a lease may end before them).
read -ra first <<<"${FIRST_CASES-llama-3.1-8b qwen2.5-14b qwen3-8b mistral-7b-v0.1 gemma-3-12b \
qwen3-30b-a3b qwen2.5-0.5b-32k llama-3.1-8b-eager llama-3.1-8b-kv-fp8 llama-3.1-8b-fp8}"
read -ra late <<<"${LATE_CASES-llama-3.1-8b-gmu0.7 llama-3.1-8b-32k deepseek-v2-lite}"

if [ ${#first[@]} -gt 0 ]; then
  stamp "vLLM cases"
  python3 bench/engine_validation.py --out "$results/vllm" --models-dir "$opt/models" \
    --cases "${first[@]}"
fi

stamp "replay trace with the real vLLM"
TRACE_GPU=h200 LOAD_ENGINE=vllm RECORD_S=${RECORD_S:-160} LOAD_WARMUP_S=15 timeout -k 15 720 \
  bench/device/record_trace.sh "$results/trace"
echo "record_trace: exit $?"

if [ ${#late[@]} -gt 0 ]; then
  stamp "later vLLM cases"
  python3 bench/engine_validation.py --out "$results/vllm" --models-dir "$opt/models" \
    --cases "${late[@]}"
fi

stamp "done"
touch "$results/done"
