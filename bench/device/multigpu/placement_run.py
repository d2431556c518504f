"""Placement and attribution across GPUs, for real (issue 18 §2 and §3), on a host of 3+ GPUs.

    python3 bench/device/multigpu/placement_run.py --out DIR [--model ID] [--models-dir DIR]

With GPU 0 half full (a torch process), `vram_check`, reading the live collector through the
plugin's own client, places the model (Llama-3.1-70B by default: two H200s at least). Its
answer's GPU indices become CUDA_VISIBLE_DEVICES (in NVML's PCI order) and its flags
(`--tensor-parallel-size` …) start vLLM on dummy weights. Then NVML must show the engine's
workers on exactly those GPUs and nothing new on GPU 0, the collector must attribute every
worker to the one served model, and `gpu_processes` by model must show one consumer holding
those GPUs. DIR receives placement.json (every reading and a verdict per check) and the logs.
NVLink multicast stays off in every process it starts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from gpu_insight.answers.processes import answer_processes, parse_process_query
from gpu_insight.answers.vram import answer_vram, parse_vram_request
from gpu_insight.schemas import Snapshot
from gpu_insight.sources.fleet import CollectorFleet, Gathered
from gpu_insight.sources.merge import merge_snapshots

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "engines"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dummy_model import published, write_model
from engine_validation import Nvml, complete, software_versions
from host import Child, Collector, gpu_env, holder_command, run_recorded, wait_for
from multicast_off import require
from vllm_server import VllmServer, descendants, server_command

BUSY_GPU = 0
BUSY_FRACTION = 0.5
CONTEXT_LENGTH = 8192
PORT = 8000
HOLDER_TIMEOUT_S = 120.0
START_TIMEOUT_S = 900.0
ATTRIBUTION_TIMEOUT_S = 60.0
MIB = 2**20


def launch_from(placement: dict[str, Any]) -> tuple[list[int], list[str]]:
    """The GPUs (NVML indices) and vLLM flags of vram_check's placement."""
    return list(placement["gpu_indices"]), shlex.split(placement["flags"])


def engine_gpus(by_gpu: list[dict[int, float]], family: set[int]) -> list[int]:
    """The GPUs on which a process of the engine's family holds memory."""
    return [index for index, processes in enumerate(by_gpu) if set(processes) & family]


def consumer_gpus(snapshot: Snapshot, model: str) -> list[str] | None:
    """`gpu_processes` by model: the GPUs ("host:index") of that model's consumer, if any."""
    answer = answer_processes(
        parse_process_query({"group_by": "model"}), Gathered(merge_snapshots([snapshot]))
    )
    rows = [row for row in answer.rows if row.consumer == model]
    return rows[0].gpus if rows else None


def checks(
    *,
    placed: list[int],
    busy_gpu: int,
    on_gpus: list[int],
    busy_gpu_pids_before: set[int],
    busy_gpu_pids_after: set[int],
    consumer: list[str] | None,
    host: str,
) -> dict[str, bool]:
    """The verdicts of the run, one per claim."""
    return {
        "placement_avoids_the_busy_gpu": busy_gpu not in placed,
        "engine_runs_on_exactly_the_placed_gpus": sorted(on_gpus) == sorted(placed),
        "nothing_new_on_the_busy_gpu": busy_gpu_pids_after <= busy_gpu_pids_before,
        "one_consumer_by_model_holds_the_placed_gpus": consumer
        == sorted(f"{host}:{index}" for index in placed),
    }


def attributed(collector: Collector, pids: set[int], model: str) -> Snapshot:
    """The first snapshot in which every one of `pids` is attributed to vLLM serving `model`."""
    found: list[Snapshot] = []

    def every_worker_attributed() -> bool:
        snapshot = collector.snapshot()
        seen = {
            p.pid
            for p in snapshot.processes
            if p.attribution.engine == "vllm" and p.attribution.model == model
        }
        found[:] = [snapshot]
        return pids <= seen

    with contextlib.suppress(TimeoutError):  # the last snapshot is the evidence either way
        wait_for(every_worker_attributed, ATTRIBUTION_TIMEOUT_S, "every worker attributed")
    return found[-1]


def run(args: argparse.Namespace, nvml: Nvml, out: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "host": {**nvml.host(), **software_versions()},
        "model": args.model,
        "busy_gpu": BUSY_GPU,
        "status": "failed",
    }
    if nvml.count < 3:
        result["status"] = f"skipped: needs 3 GPUs or more, the host has {nvml.count}"
        return result
    holder = Child(
        holder_command(BUSY_FRACTION), out / "holder.log", gpu_env(os.environ, [BUSY_GPU])
    )
    collector: Collector | None = None
    server: VllmServer | None = None
    try:
        holder.wait_said("holding", HOLDER_TIMEOUT_S)
        result["holder"] = {"pid": holder.pid, "said": holder.output().strip()[-200:]}
        collector = Collector(out / "collector", {})
        live = CollectorFleet([collector.client])
        wait_for(
            lambda: holder.pid in {p.pid for p in live.snapshot().value.processes},
            ATTRIBUTION_TIMEOUT_S,
            "the holder in the collector's snapshot",
        )
        config = published(args.model)["config"]
        request = parse_vram_request(
            {"model_config": config, "engine": "vllm", "context_length": CONTEXT_LENGTH}
        )
        answer = answer_vram(request, live.snapshot).as_json()
        result["vram_check"] = answer
        placement = answer.get("placement")
        if placement is None:
            result["status"] = "vram_check placed nothing: " + "; ".join(answer["errors"])
            return result
        gpus, flags = launch_from(placement)
        busy_before = set(nvml.processes_by_gpu()[BUSY_GPU])
        model_dir = write_model(args.model, args.models_dir / args.model.split("/")[-1])
        command = server_command(model_dir, args.model, PORT, None, None, tuple(flags))
        env = gpu_env({}, gpus)
        result["launch"] = {"command": command, "env": env}
        server = VllmServer(command, out / "vllm.log", env)
        server.start()
        if not server.wait_ready(START_TIMEOUT_S):
            result["status"] = "vLLM did not start"
            return result
        result["ready_s"] = server.ready_s
        result["completion_usage"] = complete(server, args.model, 1)["usage"]
        time.sleep(1.0)
        by_gpu = nvml.processes_by_gpu()
        family = {server.pid, *descendants(server.pid)}
        on_gpus = engine_gpus(by_gpu, family)
        workers = {pid for processes in by_gpu for pid in processes if pid in family}
        snapshot = attributed(collector, workers, args.model)
        consumer = consumer_gpus(snapshot, args.model)
        result["measured"] = {
            "engine_gpus_nvml": on_gpus,
            "engine_mib_by_gpu": [
                sum(mib for pid, mib in gpu.items() if pid in family) for gpu in by_gpu
            ],
            "busy_gpu_pids": sorted(by_gpu[BUSY_GPU]),
            "consumer_by_model_gpus": consumer,
            "collector_processes": [p.model_dump(mode="json") for p in snapshot.processes],
            "collector_engines": [e.model_dump(mode="json") for e in snapshot.engines],
        }
        result["checks"] = checks(
            placed=gpus,
            busy_gpu=BUSY_GPU,
            on_gpus=on_gpus,
            busy_gpu_pids_before=busy_before,
            busy_gpu_pids_after=set(by_gpu[BUSY_GPU]),
            consumer=consumer,
            host=snapshot.host,
        )
        result["status"] = "ok" if all(result["checks"].values()) else "checks failed"
        return result
    finally:
        if server is not None:
            result["vllm_exit_status"] = server.stop()
        if collector is not None:
            collector.stop()
        holder.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="meta-llama/Llama-3.1-70B-Instruct")
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/gpu-insight-models"))
    args = parser.parse_args(argv)
    published(args.model)  # an unknown model stops here, before any GPU work
    require()
    args.out.mkdir(parents=True, exist_ok=True)
    result = run_recorded(lambda: run(args, Nvml(), args.out), args.out / "placement.json")
    print(f"placement_run: {result['status']}; checks {result.get('checks')}", flush=True)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
