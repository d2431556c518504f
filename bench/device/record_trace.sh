#!/usr/bin/env bash
# Records the replay trace on a GPU host: starts the load generators, then the collector with
# --record, records RECORD_S seconds (default 170) of idle and busy phases with both load
# processes on the GPU, stops everything it started, and checks and thins the trace.
#
#   bench/device/record_trace.sh OUT_DIR      -> OUT_DIR/<TRACE_GPU>-trace.jsonl (+ .log files)
#
# TRACE_GPU (default h100) names the GPU in the host name and the file. LOAD_ENGINE=vllm runs
# the real vLLM (see bench/load/run_load.sh); then bench/engine_collector_check.py holds the
# collector's engine rates to vLLM's own counters meanwhile (OUT_DIR/collector-check/).
# Ship the result as gpu_insight/collector/traces/<TRACE_GPU>-replay.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
out_dir=$1
record_s=${RECORD_S:-170}
port=${COLLECTOR_PORT:-9470}
gpu_label=${TRACE_GPU:-h100}
engine=${LOAD_ENGINE:-fake}
ready_s=150
[ "$engine" = vllm ] && ready_s=420  # a real server starts in ~1-2 min, then the others
mkdir -p "$out_dir"
work=$(mktemp -d /tmp/gpu-insight-trace.XXXXXX)

if ! python3 -c 'import fastapi, pynvml, gpu_insight.collector' 2>/dev/null; then
  # shellcheck source=bench/device/setup.sh
  source bench/device/setup.sh || { echo "record_trace: setup failed" >&2; exit 1; }
fi

load_pid=""
collector_pid=""
containers_pid=""
check_pid=""
cleanup() {
  if [ -n "$check_pid" ]; then kill -TERM "$check_pid" 2>/dev/null || true; fi
  if [ -n "$collector_pid" ]; then kill -TERM "$collector_pid" 2>/dev/null || true; fi
  if [ -n "$load_pid" ]; then kill -TERM "$load_pid" 2>/dev/null || true; fi
  if [ -n "$containers_pid" ]; then kill -TERM "$containers_pid" 2>/dev/null || true; fi
  for pid in $check_pid $collector_pid $load_pid $containers_pid; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap 'cleanup; rm -rf "$work"' EXIT
trap 'exit 143' TERM INT

fail() {
  echo "record_trace: $1" >&2
  for log in "$work"/*.log; do
    [ -f "$log" ] || continue
    echo "--- $(basename "$log") (tail)" >&2
    tail -n 25 "$log" >&2
  done
  exit 1
}

export LOAD_DIR="$work/load"
load_s=$((record_s + ready_s + 60))  # start-up and margin: the load outlives the recording
LOAD_ENGINE=$engine bench/load/run_load.sh "$load_s" phases >"$work/load.log" 2>&1 &
load_pid=$!
echo "record_trace: load starting (pid $load_pid, $engine vLLM)"
for _ in $(seq "$ready_s"); do
  [ -f "$LOAD_DIR/ready" ] && break
  kill -0 "$load_pid" 2>/dev/null || fail "the load generators failed to start"
  sleep 1
done
[ -f "$LOAD_DIR/ready" ] || fail "the load generators were not ready within $ready_s s"
cp "$LOAD_DIR"/*.log "$work/" 2>/dev/null || true
echo "record_trace: $(tail -n 1 "$work/load.log")"

# No Docker engine on the recording host: place the two load processes in Docker-style cgroup
# scopes and answer the Docker API for them, so the trace carries containers, apps and teams.
docker_socket="$work/docker.sock"
python3 bench/load/container_stand_in.py "$docker_socket" \
  "$(cat "$LOAD_DIR/vllm.pid"):vllm-qwen2.5-1.5b:support-bot:customer-care:8000" \
  "$(cat "$LOAD_DIR/hf.pid"):hf-eval-tinyllama:nightly-eval:research" >"$work/containers.log" 2>&1 &
containers_pid=$!
for _ in $(seq 50); do [ -S "$docker_socket" ] && break; sleep 0.1; done
[ -S "$docker_socket" ] || fail "the container stand-in did not start"
echo "record_trace: $(head -n 2 "$work/containers.log" | tr '\n' ' ')"

token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
cat >"$work/collector.yaml" <<YAML
hostname: $gpu_label-bench
attribution:
  docker_socket: $docker_socket
accounting:
  db_path: $work/usage.sqlite3
YAML
if [ "$engine" = vllm ]; then
  # Rates over 20 s: a window fits inside one 35 s busy phase, where the check compares them.
  printf 'engines:\n  interval_s: 1\n  window_s: 20\n' >>"$work/collector.yaml"
fi
raw="$work/raw-trace.jsonl"
python3 -m gpu_insight.collector --config "$work/collector.yaml" --record "$raw" \
  --port "$port" --token "$token" >"$work/collector.log" 2>&1 &
collector_pid=$!
healthy=0
for _ in $(seq 60); do
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "http://127.0.0.1:$port/healthz" 2>/dev/null; then
    healthy=1
    break
  fi
  kill -0 "$collector_pid" 2>/dev/null || fail "the collector exited during start-up"
  sleep 0.5
done
[ "$healthy" -eq 1 ] || fail "the collector's /healthz did not answer 200 within 30 s"
echo "record_trace: collector up (pid $collector_pid); recording $record_s s"
if [ "$engine" = vllm ]; then
  python3 bench/engine_collector_check.py --collector "http://127.0.0.1:$port" --token "$token" \
    --engine "http://127.0.0.1:${LOAD_VLLM_PORT:-8000}" --epoch "$(cat "$LOAD_DIR/epoch")" \
    --cycle-s 60 --busy-s 35 --window-s 20 --duration-s $((record_s - 10)) \
    --out "$out_dir/collector-check" >"$work/check.log" 2>&1 &
  check_pid=$!
fi

started=$(date +%s)
while [ $(($(date +%s) - started)) -lt "$record_s" ]; do
  kill -0 "$collector_pid" 2>/dev/null || fail "the collector died while recording"
  kill -0 "$load_pid" 2>/dev/null || fail "the load ended while recording"
  sleep 2
done

if [ -n "$check_pid" ]; then
  wait "$check_pid" || echo "record_trace: the collector check failed (see check.log)"
  check_pid=""
  tail -n 3 "$work/check.log"
  cp "$work/check.log" "$out_dir/collector-check/" 2>/dev/null || true
fi
echo "record_trace: last snapshot's processes:"
python3 - "http://127.0.0.1:$port/v1/snapshot" "$token" <<'PY' || true
import json
import sys
import urllib.request

request = urllib.request.Request(sys.argv[1], headers={"Authorization": f"Bearer {sys.argv[2]}"})
with urllib.request.urlopen(request, timeout=5) as response:
    snapshot = json.load(response)
for gpu in snapshot["gpus"]:
    print(f"  GPU {gpu['index']} {gpu['name']}: {gpu.get('memory_used_mib')} MiB used, "
          f"{gpu.get('utilization_percent')} %")
for process in snapshot["processes"]:
    attribution = process.get("attribution", {})
    print(f"  pid {process['pid']} {process.get('used_memory_mib')} MiB "
          f"engine={attribution.get('engine')} model={attribution.get('model')} "
          f"container={attribution.get('container_name')} app={attribution.get('app')} "
          f"team={attribution.get('team')}")
for engine in snapshot.get("engines", []):
    print(f"  engine {engine['engine']} {engine.get('model')} up={engine.get('up')} "
          f"running={engine.get('requests_running')}")
PY
python3 bench/capture_dashboard.py "http://127.0.0.1:$port" "$token" "$out_dir/capture" \
  || echo "record_trace: the dashboard capture failed"

cleanup
collector_pid=""
load_pid=""
containers_pid=""
cp "$LOAD_DIR"/*.log "$work/" 2>/dev/null || true
cp "$work"/collector.log "$out_dir/trace-collector.log"
cat "$work"/vllm.log "$work"/hf.log "$work"/client.log "$work"/load.log \
  >"$out_dir/trace-load.log" 2>/dev/null || true
[ -s "$raw" ] || fail "the collector recorded nothing"
trace="$out_dir/$gpu_label-trace.jsonl"
python3 bench/prepare_trace.py "$raw" "$trace" --max-bytes 3000000 \
  || fail "the recorded trace does not meet the replay's needs (see above)"
echo "record_trace: wrote $trace"
