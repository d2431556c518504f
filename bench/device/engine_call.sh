#!/usr/bin/env bash
# One step of the real-engine runs on a GPU host without internet, which receives vLLM in parts
# (carried folder CARRY, default .devcarry, made by bench/device/make_carry.sh; one part per
# call) over several calls while the host stays up. Files outside the repository copy (/opt)
# live on between the calls.
#
#   bash bench/device/engine_call.sh stash   # keeps the parts this call carried (vLLM's, its MoE
#                                            # extension); llama.cpp's source: its build starts
#   bash bench/device/engine_call.sh start   # keeps this call's parts, checks all, unpacks, starts
#                                            # the runs (ENGINE_RUNS, default
#                                            # bench/device/engine_runs.sh)
#   bash bench/device/engine_call.sh poll    # waits for the runs (POLL_S, default 540 s)
#
# Every step then waits up to POLL_S for the runs to finish and copies what they measured so far
# to $OUT (results.tar.xz, runs.log).
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
carry=${CARRY:-.devcarry}
opt=${ENGINE_OPT:-/opt}
results=$opt/results
poll_s=${POLL_S:-540}
runs=${ENGINE_RUNS:-bench/device/engine_runs.sh}
started=$(date +%s)

host_facts() {
  nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv
  echo "CPUs $(nproc), kernel $(uname -r), $(python3 --version)"
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "CUDA",
torch.version.cuda, "transformers", transformers.__version__)'
}

stash() {
  mkdir -p "$opt/vparts" "$opt/llama"
  cp "$carry"/SHA256SUMS "$opt/vparts/" || return 1
  for part in "$carry"/vparts/vllm.tar.xz.part* "$carry"/moe/vllm-moe.tar.xz; do
    [ -f "$part" ] && { cp "$part" "$opt/vparts/" || return 1; echo "kept $(basename "$part")"; }
  done
  if [ -f "$carry/llama.cpp-src.tar.xz" ] && [ ! -d "$opt/llama/llama.cpp" ]; then
    cp "$carry"/llama.cpp-src.tar.xz "$carry"/gguf-*.whl "$opt/llama/"
    setsid nohup bash "$repo/bench/device/build_llamacpp.sh" "$opt/llama" \
      >"$opt/llama/build.log" 2>&1 </dev/null &
    echo "llama.cpp build started in the background (log $opt/llama/build.log)"
  fi
  host_facts
}

start() {
  stash || return 1
  (cd "$opt/vparts" && sed -n 's#  \(vparts\|moe\)/#  #p' SHA256SUMS | sha256sum -c -) || return 1
  mkdir -p "$opt/v" "$results"
  cat "$opt"/vparts/vllm.tar.xz.part* | xz -dc | tar -x -C "$opt/v" || return 1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$opt/v/site" "$opt"/v/whl/*.whl || return 1
  # MoE models and some quantized paths need it; dense models only warn without it
  xz -dc "$opt/vparts/vllm-moe.tar.xz" | tar -x -C "$opt/v/site/vllm" || return 1
  echo "vLLM and its wheels unpacked into $opt/v/site in $(($(date +%s) - started)) s"
  setsid nohup bash "$repo/$runs" "$opt" >"$results/runs.log" 2>&1 </dev/null &
  echo "engine runs started (pid $!)"
}

case ${1:-} in
  stash) stash || { echo "stash failed"; exit 1; } ;;
  start) start || { echo "start failed"; exit 1; } ;;
  poll) ;;
  *) echo "usage: $0 stash|start|poll" >&2; exit 2 ;;
esac

if [ -d "$results" ]; then
  while [ ! -f "$results/done" ] && [ $(($(date +%s) - started)) -lt "$poll_s" ]; do sleep 5; done
  [ -f "$results/done" ] && echo "the engine runs are done"
  if [ -n "${OUT:-}" ]; then
    tar -cJf "$OUT/results.tar.xz" -C "$opt" --exclude=models results 2>/dev/null
    cp "$results/runs.log" "$OUT/" 2>/dev/null
    [ -f "$opt/llama/build.log" ] && tail -c 20000 "$opt/llama/build.log" >"$OUT/llama-build.log"
  fi
  tail -n 25 "$results/runs.log"
fi
