#!/usr/bin/env bash
# Runs the two GPU load generators for DURATION seconds, then stops them (and only them).
#
#   bench/load/run_load.sh DURATION [phases|busy]
#
# - a vLLM server for Qwen/Qwen2.5-1.5B-Instruct on 127.0.0.1:8000 with 0.35 of the GPU's
#   memory: with LOAD_ENGINE=vllm the real vLLM (dummy weights, bench/engines/) driven by
#   bench/load/completions_load.py; by default (LOAD_ENGINE=fake) the vLLM-shaped stand-in in
#   bench/load/fake_engines, which makes its own load
# - a plain transformers generate() loop (TinyLlama-1.1B's architecture, random weights, ~3 GiB)
# phases (default): both idle while loading and until the shared epoch, then 60 s cycles in
#   which the server is busy 0-35 s, the transformers loop 5-30 s, and both idle 35-60 s.
# busy: both busy all the time after the epoch.
# Logs, PIDs and a `ready` marker go to $LOAD_DIR (default /tmp/gpu-insight-load).
set -euo pipefail

usage() { echo "usage: $0 DURATION_S [phases|busy]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
duration=$1
mode=${2:-phases}
if ! [[ $duration =~ ^[0-9]+$ ]] || [ "$duration" -lt 30 ] || [ "$duration" -gt 3600 ]; then
  echo "run_load: DURATION_S must be an integer in 30..3600, got '$duration'" >&2
  exit 2
fi
case $mode in
  phases) vllm_busy=35; hf_busy=25; hf_offset=5 ;;
  busy) vllm_busy=60; hf_busy=60; hf_offset=0 ;;
  *) usage ;;
esac

cd "$(dirname "$0")/../.."
engine=${LOAD_ENGINE:-fake}
case $engine in fake|vllm) ;; *) echo "run_load: LOAD_ENGINE must be fake or vllm" >&2; exit 2 ;; esac
load_dir=${LOAD_DIR:-/tmp/gpu-insight-load}
vllm_port=${LOAD_VLLM_PORT:-8000}
warmup_s=${LOAD_WARMUP_S:-30}  # loading both takes ~10-20 s; the epoch waits for it
mkdir -p "$load_dir"
rm -f "$load_dir/ready" "$load_dir"/*.pid

pids=()
stop_load() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -f "$load_dir/ready"
}
trap stop_load EXIT
trap 'exit 143' TERM INT

started=$(date +%s)
bound=$((duration + 10))  # each generator also stops by itself, should this script be killed

http_ok() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" \
    2>/dev/null
}

start_transformers() {  # EPOCH
  PYTHONPATH="bench/load${PYTHONPATH:+:$PYTHONPATH}" \
    python3 bench/load/hf_generate.py --model TinyLlama/TinyLlama-1.1B-Chat-v1.0 \
      --epoch "$1" --cycle-s 60 --busy-s "$hf_busy" --offset-s "$hf_offset" \
      --duration-s "$bound" \
      >"$load_dir/hf.log" 2>&1 &
  pids+=($!)
  echo "$!" >"$load_dir/hf.pid"
}

if [ "$engine" = fake ]; then
  epoch=$((started + warmup_s))
  PYTHONPATH="bench/load/fake_engines:bench/load${PYTHONPATH:+:$PYTHONPATH}" \
    python3 -m vllm.entrypoints.openai.api_server \
      --model Qwen/Qwen2.5-1.5B-Instruct --port "$vllm_port" --gpu-memory-utilization 0.35 \
      --max-model-len 8192 \
      --epoch "$epoch" --cycle-s 60 --busy-s "$vllm_busy" --duration-s "$bound" \
      >"$load_dir/vllm.log" 2>&1 &
  pids+=($!)
  echo "$!" >"$load_dir/vllm.pid"
  start_transformers "$epoch"
else
  # The real server profiles the GPU's free memory while it starts: the transformers process
  # starts only once the server is up, so that nothing else moves memory under it.
  python3 bench/engines/vllm_server.py Qwen/Qwen2.5-1.5B-Instruct "$load_dir/model" \
    "$vllm_port" 8192 0.35 >"$load_dir/vllm.log" 2>&1 &
  pids+=($!)
  echo "$!" >"$load_dir/vllm.pid"
  server_deadline=$((started + 300))
  until http_ok "http://127.0.0.1:$vllm_port/health"; do
    if ! kill -0 "${pids[0]}" 2>/dev/null; then
      echo "run_load: the vLLM server exited during start-up" >&2
      tail -n 30 "$load_dir/vllm.log" >&2
      exit 1
    fi
    if [ "$(date +%s)" -ge "$server_deadline" ]; then
      echo "run_load: the vLLM server did not serve within 300 s" >&2
      exit 1
    fi
    sleep 1
  done
  epoch=$(($(date +%s) + warmup_s))
  start_transformers "$epoch"
  PYTHONPATH="bench/load${PYTHONPATH:+:$PYTHONPATH}" \
    python3 bench/load/completions_load.py --url "http://127.0.0.1:$vllm_port" \
      --model Qwen/Qwen2.5-1.5B-Instruct --concurrency 8 \
      --epoch "$epoch" --cycle-s 60 --busy-s "$vllm_busy" --duration-s "$bound" \
      >"$load_dir/client.log" 2>&1 &
  pids+=($!)
  echo "$!" >"$load_dir/client.pid"
fi

fail() {
  echo "run_load: $1" >&2
  for log in vllm hf client; do
    [ -f "$load_dir/$log.log" ] || continue
    echo "--- $log.log (tail)" >&2
    tail -n 20 "$load_dir/$log.log" >&2
  done
  exit 1
}
check_alive() {
  kill -0 "${pids[0]}" 2>/dev/null || fail "the vLLM server (pid ${pids[0]}) exited"
  kill -0 "${pids[1]}" 2>/dev/null || fail "the transformers loop (pid ${pids[1]}) exited"
  if [ ${#pids[@]} -gt 2 ]; then
    kill -0 "${pids[2]}" 2>/dev/null || fail "the completions load (pid ${pids[2]}) exited"
  fi
}

ready_deadline=$(($(date +%s) + 120))
hf_ready() { grep -q "generate loop ready" "$load_dir/hf.log"; }
until http_ok "http://127.0.0.1:$vllm_port/health" && hf_ready; do
  check_alive
  [ "$(date +%s)" -lt "$ready_deadline" ] || fail "load generators not ready within 120 s"
  sleep 1
done
touch "$load_dir/ready"
echo "run_load: ready after $(($(date +%s) - started)) s: $engine vLLM pid ${pids[0]}" \
  "(port $vllm_port), transformers pid ${pids[1]}; mode $mode, phases from epoch $epoch"
echo "$epoch" >"$load_dir/epoch"

end=$((started + duration))
while [ "$(date +%s)" -lt "$end" ]; do
  check_alive
  sleep 1
done
echo "run_load: $duration s done; stopping the load generators"
