#!/usr/bin/env bash
# `make run`: the collector with its dashboard. Real NVML when a driver answers, otherwise the
# recorded H200 trace (a real vLLM and a transformers process), which every answer labels "replay".
set -u
cd "$(dirname "$0")/.."
PY=.venv/bin/python
state=.gpu-insight
mkdir -p "$state"
chmod 700 "$state"
token_file="$state/token"
if [ ! -s "$token_file" ]; then
  (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(24))' > "$token_file")
fi
token=$(cat "$token_file")
host=${GPU_INSIGHT_HOST:-127.0.0.1}
port=${GPU_INSIGHT_PORT:-9470}
trace=gpu_insight/collector/traces/h200-replay.jsonl

args=(--host "$host" --port "$port")
if "$PY" -c 'import pynvml; pynvml.nvmlInit()' >/dev/null 2>&1; then
  mode="live NVML"
else
  mode="REPLAY of a recorded H200 trace (no NVIDIA driver on this host)"
  args+=(--replay "$trace")
fi

cat <<MSG

GPU Insight collector — $mode
  API        http://$host:$port/v1/snapshot   (header: Authorization: Bearer <token>)
  Dashboard  http://$host:$port/#token=$token
  Metrics    http://$host:$port/metrics
  Token      $token   (kept in $token_file)

Point the Dify plugin at it: Tools → GPU Insight → settings page,
  Collector URL   = http://<this host's address>:$port
  Collector token = the token above
(A collector that Dify reaches over the network must bind a non-loopback address:
 GPU_INSIGHT_HOST=0.0.0.0 make run — it refuses to do so without a token.)
Stop with Ctrl-C.

MSG
export GPU_INSIGHT_TOKEN="$token"
exec "$PY" -m gpu_insight.collector "${args[@]}"
