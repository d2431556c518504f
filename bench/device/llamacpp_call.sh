#!/usr/bin/env bash
# One call of the llama.cpp runs on a GPU host that `bench/device/engine_call.sh stash` prepared
# (llama.cpp's source and the gguf wheel in OPT/llama, its build started there). The first call
# starts bench/device/llamacpp_runs.sh in the background; every call then waits up to POLL_S
# (default 540 s) for it to finish and copies what it has so far to $OUT: llamacpp.tar.xz (OPT/
# results/llamacpp, or the GGUF preparation's records before measuring), llamacpp-runs.log and
# llama-build.log.
#
#   bash bench/device/llamacpp_call.sh
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
opt=${ENGINE_OPT:-/opt}
llama=$opt/llama
out_dir=$opt/results/llamacpp
log=$llama/llamacpp-runs.log
poll_s=${POLL_S:-540}
started=$(date +%s)

[ -d "$llama" ] || { echo "no $llama: run bench/device/engine_call.sh stash first"; exit 1; }
if [ ! -e "$llama/runs-started" ]; then
  touch "$llama/runs-started"
  setsid nohup bash "$repo/bench/device/llamacpp_runs.sh" "$opt" >"$log" 2>&1 </dev/null &
  echo "llama.cpp runs started (pid $!, log $log)"
fi

while [ ! -f "$out_dir/done" ] && [ $(($(date +%s) - started)) -lt "$poll_s" ]; do sleep 5; done
[ -f "$out_dir/done" ] && echo "the llama.cpp runs are done: $(cat "$out_dir/done")"

if [ -n "${OUT:-}" ]; then
  (cd "$opt" && tar -cJf "$OUT/llamacpp.tar.xz" --ignore-failed-read $(
    ls -d results/llamacpp gguf/*.json gguf/*.log 2>/dev/null)) 2>/dev/null
  cp "$log" "$OUT/llamacpp-runs.log" 2>/dev/null
  [ -f "$llama/build.log" ] && tail -c 20000 "$llama/build.log" >"$OUT/llama-build.log"
fi
tail -n 30 "$log"
