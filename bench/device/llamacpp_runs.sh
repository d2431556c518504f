#!/usr/bin/env bash
# llama.cpp measured on a GPU host prepared by engine_call.sh stash (which carried llama.cpp's
# source and the gguf wheel to OPT/llama and started the build there). Started in the background
# by bench/device/llamacpp_call.sh; OPT/results/llamacpp/done marks the end.
#
#   bash bench/device/llamacpp_runs.sh OPT
#
# 1. waits (BUILD_WAIT_S, default 1500 s) for OPT/llama/built (or the build's failure in its
#    log), installs the gguf wheel
# 2. bench/llamacpp_validation.py prepare (niced: vLLM runs meanwhile): F16 GGUFs in OPT/gguf,
#    quantized, each F16 deleted once its quantized file is there
# 3. waits (GPU_WAIT_S, default 1200 s) for the GPU: for OPT/results/done where
#    engine_call.sh start began the vLLM runs (OPT/results/runs.log), else for no compute
#    process on it; past the wait it measures only if no compute process is on the GPU
# 4. bench/llamacpp_validation.py measure -> OPT/results/llamacpp (LLAMA_CASES: default all)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
opt=$1
llama=$opt/llama
out=$opt/results/llamacpp
read -ra cases <<<"${LLAMA_CASES:-}"
export PYTHONPATH="$llama/site:$opt/v/site:$PWD"  # the gguf wheel; vLLM's site has pydantic
export PYTHONUNBUFFERED=1
stamp() { echo "== $(date -u +%T) $*"; }
finish() { mkdir -p "$out"; echo "$1" >"$out/done"; stamp "done: $1"; exit 0; }

wait_until() {  # TIMEOUT_S COMMAND...: 0 once COMMAND succeeds, 1 at the timeout
  local waited=0 limit=$1
  shift
  until "$@"; do
    [ "$waited" -ge "$limit" ] && return 1
    sleep 5
    waited=$((waited + 5))
  done
}
gpu_free() { [ -z "$(nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null)" ]; }
gpu_ready() {  # the vLLM runs are over, or none were started here and the GPU is idle
  [ -f "$opt/results/done" ] || { [ ! -e "$opt/results/runs.log" ] && gpu_free; }
}

build_over() { [ -e "$llama/built" ] || grep -qs -e "^FAILED:" -e "CMake Error" "$llama/build.log"; }

stamp "waiting for the llama.cpp build"
if ! wait_until "${BUILD_WAIT_S:-1500}" build_over || [ ! -e "$llama/built" ]; then
  tail -n 20 "$llama/build.log" 2>/dev/null
  finish "no llama.cpp build"
fi
tail -n 2 "$llama/build.log"
python3 -m pip install -q --no-index --no-deps --no-compile --target "$llama/site" \
  "$llama"/gguf-*.whl || finish "the gguf wheel did not install"

stamp "GGUFs"
nice -n 19 python3 bench/llamacpp_validation.py prepare --gguf-dir "$opt/gguf" \
  --bin "$llama/build/bin" ${cases[@]:+--cases "${cases[@]}"}
echo "prepare: exit $?"
df -h "$opt" | tail -n 1

stamp "waiting for the GPU (the vLLM runs, if any, must have left it)"
if ! wait_until "${GPU_WAIT_S:-1200}" gpu_ready && ! gpu_free; then
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader
  finish "the GPU is still in use: not measured"
fi

stamp "llama-server cases"
python3 bench/llamacpp_validation.py measure --gguf-dir "$opt/gguf" --bin "$llama/build/bin" \
  --out "$out" ${cases[@]:+--cases "${cases[@]}"}
echo "measure: exit $?"
cp "$opt"/gguf/*.json "$opt"/gguf/*.log "$out/" 2>/dev/null
finish "measured"
