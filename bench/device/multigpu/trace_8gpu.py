"""The 8-GPU replay trace (issue 18 §6): several engines on different GPUs, recorded by the
collector's own `record`, then checked and thinned for the dashboard and fleet tests.

    python3 bench/device/multigpu/trace_8gpu.py --out DIR [--record-s 170] [--models-dir DIR]

Layout (`LAYOUT`): one real vLLM at tensor parallel 4 (Qwen2.5-14B on GPUs 0-3), two
single-GPU vLLMs (Llama-3.1-8B on GPU 4, Qwen2.5-1.5B on GPU 5), a plain transformers
generate() loop on GPU 6, GPU 7 idle; every engine on dummy weights, in a Docker-style
container with its app and team (bench/load/container_stand_in.py), loaded in the shared
busy/idle phases of bench/load/load_schedule.py. DIR receives h200x8-trace.jsonl (ship it as
gpu_insight/collector/traces/h200x8-replay.jsonl), trace-summary.json (bench/prepare_trace.py's
checks and this layout's: each model one consumer on its GPUs, the idle GPU empty) and logs.
NVLink multicast stays off in every process it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_insight.answers.processes import answer_processes, parse_process_query
from gpu_insight.engines.vllm import VLLM
from gpu_insight.schemas import Snapshot
from gpu_insight.sources.fleet import Gathered
from gpu_insight.sources.merge import merge_snapshots

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "engines"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dummy_model import published, write_model
from engine_validation import LLAMA, Nvml
from host import ROOT, Child, Collector, gpu_env, run_recorded, wait_for
from multicast_off import require
from prepare_trace import read_snapshots
from vllm_server import VllmServer, server_command

TRACE_HOST = "h200x8-bench"
MAX_MODEL_LEN = 8192
START_TIMEOUT_S = 900.0
HF_READY_TIMEOUT_S = 180.0
WARMUP_S = 20.0  # between the last engine ready and the shared epoch of the phases
CYCLE_S, BUSY_S = 60, 35  # as the one-GPU trace: busy 0-35 s, idle 35-60 s
MAX_TRACE_BYTES = 3_000_000


@dataclass(frozen=True)
class Placed:
    """One engine of the layout: where it runs, what it serves, whose it is."""

    container: str
    model_id: str
    gpus: tuple[int, ...]
    app: str
    team: str
    port: int | None = None  # None: the transformers loop, which serves nothing
    gpu_memory_utilization: float = 0.9

    @property
    def tensor_parallel(self) -> int:
        return len(self.gpus)


TRANSFORMERS_MODEL = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
LAYOUT: tuple[Placed, ...] = (
    Placed(
        "vllm-qwen2.5-14b-tp4",
        "Qwen/Qwen2.5-14B-Instruct",
        (0, 1, 2, 3),
        "assistant",
        "platform",
        8000,
    ),
    Placed("vllm-llama-3.1-8b", LLAMA, (4,), "support-bot", "customer-care", 8001),
    Placed(
        "vllm-qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct", (5,), "search", "research", 8002, 0.35
    ),
    Placed("hf-eval-tinyllama", TRANSFORMERS_MODEL, (6,), "nightly-eval", "research"),
)
IDLE_GPUS = (7,)
GPUS_NEEDED = 8


def vllm_command(placed: Placed, model_dir: Path) -> list[str]:
    assert placed.port is not None
    parallel = VLLM.flag("tensor_parallel", placed.tensor_parallel)
    return server_command(
        model_dir,
        placed.model_id,
        placed.port,
        MAX_MODEL_LEN,
        placed.gpu_memory_utilization,
        tuple(parallel.split()) if parallel and placed.tensor_parallel > 1 else (),
    )


def phases(epoch: float, duration_s: float) -> list[str]:
    """bench/load/load_schedule.py's arguments: every load on the same cycle."""
    return [
        *("--epoch", f"{epoch:.0f}", "--cycle-s", str(CYCLE_S), "--busy-s", str(BUSY_S)),
        *("--duration-s", f"{duration_s:.0f}"),
    ]


def load_command(placed: Placed, epoch: float, duration_s: float) -> list[str]:
    """The load for one engine: completions for a server, generate() for the transformers one."""
    if placed.port is None:
        script = ["bench/load/hf_generate.py", "--model", placed.model_id]
    else:
        script = [
            "bench/load/completions_load.py",
            *("--url", f"http://127.0.0.1:{placed.port}", "--model", placed.model_id),
            *("--concurrency", "8"),
        ]
    return [sys.executable, *script, *phases(epoch, duration_s)]


def container_spec(placed: Placed, pid: int) -> str:
    """container_stand_in.py's PID:NAME:APP:TEAM[:PORT] for the engine's top process."""
    port = f":{placed.port}" if placed.port is not None else ""
    return f"{pid}:{placed.container}:{placed.app}:{placed.team}{port}"


def layout_problems(
    snapshots: list[Snapshot], layout: tuple[Placed, ...], idle: tuple[int, ...]
) -> list[str]:
    """What the recorded trace fails to show of the layout, in the words of `gpu_processes`:
    each model one consumer on exactly its GPUs and of its app, the idle GPUs empty throughout."""
    problems: list[str] = []
    if not snapshots:
        return ["the trace is empty"]
    gpu_count = max(i for placed in layout for i in placed.gpus + idle) + 1
    if any(len(s.gpus) < gpu_count for s in snapshots):
        problems.append(f"a snapshot with fewer than {gpu_count} GPUs")
    busy_idle = sorted({p.gpu_index for s in snapshots for p in s.processes if p.gpu_index in idle})
    if busy_idle:
        problems.append(f"processes on the idle GPU(s) {busy_idle}")
    last = merge_snapshots([snapshots[-1]])
    host = last.gpus[0].host if last.gpus else None
    by_model = {
        row.consumer: row.gpus
        for row in answer_processes(parse_process_query({"group_by": "model"}), Gathered(last)).rows
    }
    by_app = {
        row.consumer: row.gpus
        for row in answer_processes(parse_process_query({"group_by": "app"}), Gathered(last)).rows
    }
    for placed in layout:
        expected = [f"{host}:{gpu}" for gpu in placed.gpus]
        if by_model.get(placed.model_id) != expected:
            problems.append(
                f"{placed.model_id}: by model on {by_model.get(placed.model_id)}, not {expected}"
            )
        if by_app.get(placed.app) != expected:
            problems.append(f"app {placed.app}: on {by_app.get(placed.app)}, not {expected}")
    return problems


def record(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    count = Nvml().count
    if count < GPUS_NEEDED:
        return {"status": f"skipped: needs {GPUS_NEEDED} GPUs, the host has {count}"}
    work = out / "work"
    servers: list[tuple[Placed, VllmServer]] = []
    children: list[Child] = []
    collector: Collector | None = None
    try:
        for placed in LAYOUT:
            if placed.port is None:
                continue
            model_dir = write_model(placed.model_id, args.models_dir / placed.container)
            server = VllmServer(
                vllm_command(placed, model_dir),
                work / f"{placed.container}.log",
                gpu_env({}, placed.gpus),
            )
            server.start()  # all at once: they profile different GPUs
            servers.append((placed, server))
        for placed, server in servers:
            if not server.wait_ready(START_TIMEOUT_S):
                return {"status": f"{placed.container} did not start", "log": str(server.log_path)}
        load_env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'bench' / 'load'}:{os.environ.get('PYTHONPATH', '')}",
        }
        epoch = time.time() + WARMUP_S
        bound_s = WARMUP_S + args.record_s + 60
        tops: dict[str, int] = {placed.container: server.pid for placed, server in servers}
        for placed in LAYOUT:
            child = Child(
                load_command(placed, epoch, bound_s),
                work / f"load-{placed.container}.log",
                gpu_env(load_env, placed.gpus if placed.port is None else None),
            )
            children.append(child)
            if placed.port is None:
                tops[placed.container] = child.pid
                child.wait_said("generate loop ready", HF_READY_TIMEOUT_S)
        socket_path = work / "docker.sock"
        stand_in = Child(
            [
                sys.executable,
                "bench/load/container_stand_in.py",
                str(socket_path),
                *(container_spec(placed, tops[placed.container]) for placed in LAYOUT),
            ],
            work / "containers.log",
            gpu_env(os.environ),
        )
        children.append(stand_in)
        wait_for(socket_path.exists, 10, "the Docker API stand-in")
        raw = work / "raw-trace.jsonl"
        collector = Collector(
            work / "collector",
            {
                "hostname": TRACE_HOST,
                "record": str(raw),
                "attribution": {"docker_socket": str(socket_path)},
                "engines": {"interval_s": 1, "window_s": 20},
            },
        )
        started = time.monotonic()
        while time.monotonic() - started < args.record_s:
            gone = [c.log.name for c in children if not c.alive()]
            gone += [p.container for p, s in servers if s.process and s.process.poll() is not None]
            if gone:
                return {"status": f"stopped while recording: {', '.join(gone)}"}
            time.sleep(2)
        collector.stop()
        collector = None
        return summarize(raw, out)
    finally:
        if collector is not None:
            collector.stop()
        for child in reversed(children):
            child.stop()
        for _, server in servers:
            server.stop()


def summarize(raw: Path, out: Path) -> dict[str, Any]:
    trace = out / "h200x8-trace.jsonl"
    prepared = subprocess.run(
        [
            sys.executable,
            "bench/prepare_trace.py",
            str(raw),
            str(trace),
            "--max-bytes",
            str(MAX_TRACE_BYTES),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    problems = layout_problems(read_snapshots(trace), LAYOUT, IDLE_GPUS)
    ok = prepared.returncode == 0 and not problems
    return {
        "status": "ok" if ok else "the trace misses what the replay needs",
        "prepare_trace": {
            "exit": prepared.returncode,
            "summary": json.loads(prepared.stdout) if prepared.stdout.strip() else None,
            "stderr": prepared.stderr[-2000:],
        },
        "layout_problems": problems,
        "trace": trace.name,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--record-s", type=float, default=170.0)
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/gpu-insight-models"))
    args = parser.parse_args(argv)
    if args.record_s < 150:
        parser.error(f"--record-s must be at least 150 (the replay needs it), got {args.record_s}")
    for placed in LAYOUT:
        if placed.port is not None:
            published(placed.model_id)  # an unknown model stops here, before any GPU work
    require()
    args.out.mkdir(parents=True, exist_ok=True)
    result = run_recorded(lambda: record(args, args.out), args.out / "trace-summary.json")
    print(f"trace_8gpu: {result['status']}", flush=True)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
