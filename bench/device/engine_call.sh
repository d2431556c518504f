#!/usr/bin/env bash
# One step of the real-engine runs on a GPU host without internet, which receives vLLM in parts
# (carried folder CARRY, default .devcarry; see bench/README.md) over several calls while the
# host stays up. Files outside the repository copy (/opt) live on between the calls.
#
#   bash bench/device/engine_call.sh stash   # part 0 of vLLM; llama.cpp's source: build starts
#   bash bench/device/engine_call.sh start   # part 1: checks, unpacks, starts the runs
#                                            # (ENGINE_RUNS, default bench/device/engine_runs.sh)
#   bash bench/device/engine_call.sh moe     # vLLM's MoE extension, wanted by the MoE cases
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
  cp "$carry"/vparts/vllm.tar.xz.part0 "$opt/vparts/" || return 1
  cp "$carry"/SHA256SUMS "$opt/vparts/" || return 1
  if [ -f "$carry/llama.cpp-src.tar.xz" ]; then
    cp "$carry"/llama.cpp-src.tar.xz "$carry"/gguf-*.whl "$opt/llama/"
    setsid nohup bash "$repo/bench/device/build_llamacpp.sh" "$opt/llama" \
      >"$opt/llama/build.log" 2>&1 </dev/null &
    echo "llama.cpp build started in the background (log $opt/llama/build.log)"
  fi
  host_facts
}

start() {
  cp "$carry"/vparts/vllm.tar.xz.part1 "$opt/vparts/" || return 1
  (cd "$opt/vparts" && sed -n 's#  vparts/#  #p' SHA256SUMS | sha256sum -c -) || return 1
  mkdir -p "$opt/v" "$results"
  cat "$opt"/vparts/vllm.tar.xz.part* | xz -dc | tar -x -C "$opt/v" || return 1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$opt/v/site" "$opt"/v/whl/*.whl || return 1
  echo "vLLM and its wheels unpacked into $opt/v/site in $(($(date +%s) - started)) s"
  setsid nohup bash "$repo/$runs" "$opt" >"$results/runs.log" 2>&1 </dev/null &
  echo "engine runs started (pid $!)"
}

moe() {
  (cd "$carry/moe" && sha256sum -c --ignore-missing <(sed -n 's#  moe/#  #p' ../SHA256SUMS)) \
    || return 1
  xz -dc "$carry/moe/vllm-moe.tar.xz" | tar -x -C "$opt/v/site" || return 1
  echo "vLLM's MoE extension unpacked"
}

case ${1:-} in
  stash) stash || { echo "stash failed"; exit 1; } ;;
  start) start || { echo "start failed"; exit 1; } ;;
  moe) moe || { echo "moe failed"; exit 1; } ;;
  poll) ;;
  *) echo "usage: $0 stash|start|moe|poll" >&2; exit 2 ;;
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
