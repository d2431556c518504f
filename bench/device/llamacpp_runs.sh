#!/usr/bin/env bash
# llama.cpp measured on a GPU host prepared by engine_call.sh stash (which carried llama.cpp's
# source and the gguf wheel to OPT/llama and started the build there). Started in the background
# by bench/device/llamacpp_call.sh; OPT/results/llamacpp/done marks the end.
#
#   bash bench/device/llamacpp_runs.sh OPT
#
# 1. waits (BUILD_WAIT_S, default 1500 s) for OPT/llama/built, installs the gguf wheel
# 2. bench/llamacpp_validation.py prepare (niced: vLLM runs meanwhile): F16 GGUFs in OPT/gguf,
#    quantized, each F16 deleted once its quantized file is there
# 3. waits (GPU_WAIT_S, default 1200 s) for OPT/results/done: the vLLM runs must have left the
#    GPU; past the wait it measures only if no compute process is on the GPU
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

wait_for() {  # FILE TIMEOUT_S: 0 once FILE exists, 1 at the timeout
  local waited=0
  while [ ! -e "$1" ]; do
    [ "$waited" -ge "$2" ] && return 1
    sleep 5
    waited=$((waited + 5))
  done
}

stamp "waiting for the llama.cpp build"
if ! wait_for "$llama/built" "${BUILD_WAIT_S:-1500}"; then
  tail -n 20 "$llama/build.log" 2>/dev/null
  finish "no llama.cpp build"
fi
tail -n 2 "$llama/build.log"
python3 -m pip install -q --no-index --no-deps --no-compile --target "$llama/site" \
  "$llama"/gguf-*.whl || finish "the gguf wheel did not install"

stamp "GGUFs"
nice -n 19 python3 bench/llamacpp_validation.py prepare --gguf-dir "$opt/gguf" --bin "$llama/build/bin" \
  ${cases[@]:+--cases "${cases[@]}"}
echo "prepare: exit $?"
df -h "$opt" | tail -n 1

stamp "waiting for the vLLM runs to leave the GPU"
if ! wait_for "$opt/results/done" "${GPU_WAIT_S:-1200}"; then
  busy=$(nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader)
  [ -n "$busy" ] && { echo "$busy"; finish "the GPU is still in use: not measured"; }
fi

stamp "llama-server cases"
python3 bench/llamacpp_validation.py measure --gguf-dir "$opt/gguf" --bin "$llama/build/bin" \
  --out "$out" ${cases[@]:+--cases "${cases[@]}"}
echo "measure: exit $?"
cp "$opt"/gguf/*.json "$opt"/gguf/*.log "$out/" 2>/dev/null
finish "measured"
