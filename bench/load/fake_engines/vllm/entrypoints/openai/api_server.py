"""A load generator shaped like a vLLM OpenAI server. It is NOT vLLM and serves no model.

It exists so that the collector can be recorded and tested on a GPU host without vLLM:

    PYTHONPATH=bench/load/fake_engines:bench/load python3 -m vllm.entrypoints.openai.api_server \
        --model Qwen/Qwen2.5-1.5B-Instruct --port 8000 --gpu-memory-utilization 0.35 \
        --max-model-len 8192

- The command line is the one a real vLLM server has, so attribution sees engine, model, port.
- GPU memory is taken the way vLLM takes it: random bf16 "weights" of the model's parameter
  count, then one preallocated "KV cache" block so that the process holds
  `gpu_memory_utilization` × total GPU memory. Like vLLM it refuses to start when that budget
  is more than the free memory.
- Busy phases run bf16 matrix products on slices of the weights; idle phases sleep (see
  `load_schedule`).
- `/metrics` (127.0.0.1 by default) serves vLLM's metric names with simulated request traffic
  that follows the busy phases: running/waiting requests, KV-cache usage, preemptions, prompt
  and generation token counters, time-to-first-token and end-to-end latency histograms. Also
  `/health` and `/v1/models`, as vLLM has them.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch
from load_schedule import Schedule, add_schedule_arguments, schedule_from_arguments
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# Parameter counts from the models' published safetensors (bf16: 2 bytes each).
MODEL_PARAMETERS = {
    "Qwen/Qwen2.5-0.5B-Instruct": 494_032_768,
    "Qwen/Qwen2.5-1.5B-Instruct": 1_543_714_304,
    "Qwen/Qwen2.5-3B-Instruct": 3_085_938_688,
    "meta-llama/Llama-3.2-1B-Instruct": 1_235_814_400,
    "meta-llama/Llama-3.2-3B-Instruct": 3_212_749_824,
}
CUDA_CONTEXT_BYTES = 512 * 2**20  # what vLLM's profiling sees outside torch's allocator
MATMUL_DIM = 4096
MATMUL_ROWS = 8192
MATMULS_PER_CHECK = 100  # ~40 ms on an H100 between schedule checks
METRICS_TICK_S = 0.5
MAX_RUNNING_REQUESTS = 24

# vLLM's own bucket boundaries for these histograms.
TTFT_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)


def log(message: str) -> None:
    print(f"INFO {time.strftime('%m-%d %H:%M:%S')} [fake-vllm] {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--max-model-len", type=int, default=8192)
    parser.add_argument("--dtype", default="bfloat16", choices=["auto", "bfloat16"])
    parser.add_argument(
        "--params",
        type=int,
        default=None,
        help="parameter count for a model not in the built-in table",
    )
    add_schedule_arguments(parser)
    args = parser.parse_args(argv)
    if not 0 < args.gpu_memory_utilization <= 1:
        parser.error("--gpu-memory-utilization must be in (0, 1]")
    if args.params is None:
        if args.model not in MODEL_PARAMETERS:
            parser.error(
                f"unknown model {args.model!r}: pass --params "
                f"(known: {', '.join(sorted(MODEL_PARAMETERS))})"
            )
        args.params = MODEL_PARAMETERS[args.model]
    return args


class GpuWorkload:
    """Weights, workspace and KV cache held on the GPU, and the busy-phase matrix products."""

    def __init__(self, params: int, gpu_memory_utilization: float) -> None:
        free_bytes, total_bytes = torch.cuda.mem_get_info()
        budget_bytes = int(gpu_memory_utilization * total_bytes)
        if budget_bytes > free_bytes:
            raise SystemExit(
                f"ValueError: Free memory on device ({free_bytes / 2**30:.2f}/"
                f"{total_bytes / 2**30:.2f} GiB) on startup is less than desired GPU memory "
                f"utilization ({gpu_memory_utilization}, {budget_bytes / 2**30:.2f} GiB)."
            )
        self.weights = torch.empty(params, dtype=torch.bfloat16, device="cuda").normal_()
        self.matrix = self.weights[: MATMUL_DIM * MATMUL_DIM].view(MATMUL_DIM, MATMUL_DIM)
        self.activations = torch.randn(MATMUL_ROWS, MATMUL_DIM, dtype=torch.bfloat16, device="cuda")
        self.output = torch.empty_like(self.activations)
        torch.cuda.synchronize()
        kv_bytes = budget_bytes - torch.cuda.memory_reserved() - CUDA_CONTEXT_BYTES
        if kv_bytes <= 0:
            raise SystemExit(
                "ValueError: No available memory for the cache blocks. Try increasing "
                "`gpu_memory_utilization` when initializing the engine."
            )
        self.kv_cache = torch.empty(kv_bytes // 2, dtype=torch.bfloat16, device="cuda")
        log(
            f"model weights take {params * 2 / 2**30:.2f} GiB; KV cache "
            f"{kv_bytes / 2**30:.2f} GiB; budget {budget_bytes / 2**30:.2f} GiB "
            f"({gpu_memory_utilization} of {total_bytes / 2**30:.2f} GiB)"
        )

    def run_busy_slice(self) -> None:
        for _ in range(MATMULS_PER_CHECK):
            torch.matmul(self.activations, self.matrix, out=self.output)
        torch.cuda.synchronize()


class SimulatedTraffic:
    """vLLM's metric families, fed by request traffic that follows the busy phases."""

    def __init__(self, model: str, gpu_memory_utilization: float) -> None:
        disable_created_metrics()  # vLLM does the same
        self.registry = CollectorRegistry()
        labels = ["model_name", "engine"]
        self._label_values = {"model_name": model, "engine": "0"}
        self.running = Gauge(
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            labels,
            registry=self.registry,
        )
        self.waiting = Gauge(
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            labels,
            registry=self.registry,
        )
        self.kv_usage = Gauge(
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage.",
            labels,
            registry=self.registry,
        )
        self.preemptions = Counter(
            "vllm:num_preemptions",
            "Cumulative number of preemption from the engine.",
            labels,
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens",
            "Number of prefill tokens processed.",
            labels,
            registry=self.registry,
        )
        self.generation_tokens = Counter(
            "vllm:generation_tokens",
            "Number of generation tokens processed.",
            labels,
            registry=self.registry,
        )
        self.success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            [*labels, "finished_reason"],
            registry=self.registry,
        )
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            labels,
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        )
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            labels,
            buckets=E2E_BUCKETS,
            registry=self.registry,
        )
        cache_info = Gauge(
            "vllm:cache_config_info",
            "Information of the LLMEngine CacheConfig",
            ["block_size", "cache_dtype", "gpu_memory_utilization"],
            registry=self.registry,
        )
        cache_info.labels(
            block_size="16", cache_dtype="auto", gpu_memory_utilization=str(gpu_memory_utilization)
        ).set(1)
        for family in (
            self.running,
            self.waiting,
            self.kv_usage,
            self.preemptions,
            self.prompt_tokens,
            self.generation_tokens,
            self.ttft,
            self.e2e,
        ):
            family.labels(**self._label_values)  # exposed at 0 from the start, as in vLLM
        self._random = random.Random(0)
        self._running = 0.0

    def tick(self, busy: bool, dt_s: float) -> None:
        rnd = self._random
        if not busy:
            self._running = 0.0
            self._set_gauges(running=0, waiting=0, kv=0.0)
            return
        self._running = min(MAX_RUNNING_REQUESTS, max(1.0, self._running + rnd.uniform(-2, 3)))
        running = int(self._running)
        waiting = max(0, int(rnd.gauss(running / 6, 1.5)))
        kv = min(0.97, running / MAX_RUNNING_REQUESTS * 0.85 + rnd.uniform(0, 0.08))
        self._set_gauges(running=running, waiting=waiting, kv=kv)
        if kv > 0.9 and rnd.random() < 0.3:
            self.preemptions.labels(**self._label_values).inc()
        for _ in range(rnd.randint(0, max(1, round(running * dt_s / 1.5)))):
            prompt, generated = rnd.randint(150, 1500), rnd.randint(40, 500)
            ttft = 0.02 + prompt / 40_000 + waiting * 0.015 + rnd.expovariate(1 / 0.01)
            self.prompt_tokens.labels(**self._label_values).inc(prompt)
            self.generation_tokens.labels(**self._label_values).inc(generated)
            self.ttft.labels(**self._label_values).observe(ttft)
            self.e2e.labels(**self._label_values).observe(
                ttft + generated * rnd.uniform(0.008, 0.016)
            )
            reason = "stop" if rnd.random() < 0.85 else "length"
            self.success.labels(**self._label_values, finished_reason=reason).inc()

    def _set_gauges(self, *, running: int, waiting: int, kv: float) -> None:
        self.running.labels(**self._label_values).set(running)
        self.waiting.labels(**self._label_values).set(waiting)
        self.kv_usage.labels(**self._label_values).set(kv)


def make_handler(
    traffic: SimulatedTraffic, model: str, max_model_len: int
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, generate_latest(traffic.registry))
            elif self.path == "/health":
                self._reply(200, "application/json", b"")
            elif self.path == "/v1/models":
                body = {
                    "object": "list",
                    "data": [
                        {
                            "id": model,
                            "object": "model",
                            "owned_by": "vllm",
                            "root": model,
                            "max_model_len": max_model_len,
                        }
                    ],
                }
                self._reply(200, "application/json", json.dumps(body).encode())
            else:
                self._reply(404, "application/json", b'{"detail":"Not Found"}')

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would flood the log

    return Handler


def run(args: argparse.Namespace, schedule: Schedule) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log(f"vLLM-shaped load generator for model={args.model!r}")
    workload = GpuWorkload(args.params, args.gpu_memory_utilization)
    traffic = SimulatedTraffic(args.model, args.gpu_memory_utilization)
    server = ThreadingHTTPServer(
        (args.host, args.port), make_handler(traffic, args.model, args.max_model_len)
    )
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    log(f"Starting vLLM API server on http://{args.host}:{args.port}")
    log("Application startup complete.")
    last_tick = time.monotonic()
    busy_before = False
    while not stop.is_set() and not schedule.finished(time.time()):
        busy = schedule.is_busy(time.time())
        if busy != busy_before:
            log("busy phase" if busy else "idle phase")
            busy_before = busy
        if busy:
            workload.run_busy_slice()
        else:
            stop.wait(0.05)
        now = time.monotonic()
        if now - last_tick >= METRICS_TICK_S:
            traffic.tick(busy, now - last_tick)
            last_tick = now
    server.shutdown()
    log("shutting down")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not torch.cuda.is_available():
        raise SystemExit(
            "RuntimeError: no CUDA device is visible (this load generator needs one NVIDIA GPU)"
        )
    run(args, schedule_from_arguments(args))


if __name__ == "__main__":
    main()
