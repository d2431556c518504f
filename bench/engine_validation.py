"""Measure what a real vLLM server holds on an NVIDIA GPU, for real model shapes on dummy weights.

For each case, starts vLLM's OpenAI server (`--load-format dummy` over the model's published
config.json, `bench/engines/models.json`), sends two short completions, then records what vLLM
says about itself (weights, available KV-cache memory, KV-cache tokens, maximum concurrency,
CUDA-graph memory; its `cache_config_info` metric) and what NVML sees at that steady state (the
engine process's and the device's used MiB). It stops the server by its PID and checks that the
device's memory comes back. `tests/estimate/test_validation_against_vllm.py` compares the
estimator with the result. Cases with tensor or pipeline parallelism run on the host's first
GPUs (vLLM's default) and record every GPU's memory and every worker's log lines; they are
skipped on a host with fewer GPUs. vLLM keeps NVLink multicast off (`multicast_off.py`).

Run on a GPU host with vLLM installed, from the repository root:

    python3 bench/engine_validation.py --out DIR [--cases NAME ...] [--models-dir DIR]

DIR receives engine_validation.json (rewritten after every case), logs/<case>.log and, for the
cases marked `fixtures`, fixtures/ (the real /metrics text, /version answer and process tree).
A case that does not start is recorded with its log's errors, never fatal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pynvml  # nvidia-ml-py

from gpu_insight.engines.facts import Setting
from gpu_insight.engines.vllm import VLLM

sys.path.insert(0, str(Path(__file__).resolve().parent / "engines"))
from dummy_model import prompt_ids, write_model
from vllm_server import (
    VllmServer,
    descendants,
    http_get,
    http_post_json,
    parse_log,
    process_facts,
    server_command,
    worker_logs,
)

START_TIMEOUT_S = 420.0
MOE_EXTENSION_WAIT_S = 600.0
RELEASE_TIMEOUT_S = 30.0
IDLE_DEVICE_MIB = 64.0  # what NVML may still count on an idle H200 after a server exits
PORT = 8000
MIB = 2**20


@dataclass(frozen=True)
class Case:
    name: str
    model_id: str
    max_model_len: int = 8192
    gpu_memory_utilization: float = 0.9
    extra_args: tuple[str, ...] = ()
    # tried when the first start fails (a multimodal model whose processor will not build)
    fallback_args: tuple[str, ...] | None = None
    fixtures: bool = False
    needs_moe_extension: bool = False  # carried apart from the rest of vLLM: wait for it
    why: str = ""
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    start_timeout_s: float = START_TIMEOUT_S

    @property
    def gpus(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel

    def parallel_args(self) -> tuple[str, ...]:
        """vLLM's flags for the case's parallelism, as the engine registry spells them."""
        sizes: tuple[tuple[Setting, int], ...] = (
            ("tensor_parallel", self.tensor_parallel),
            ("pipeline_parallel", self.pipeline_parallel),
        )
        flags = [VLLM.flag(setting, size) for setting, size in sizes if size > 1]
        return tuple(word for flag in flags if flag for word in flag.split())


LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
LARGE_START_TIMEOUT_S = 900.0  # 70B-class shapes: random weights, compile and graphs per worker
# Priority order: the shapes first, then the Llama-3.1-8B settings, then the shapes that may
# not start on this build.
CASES: tuple[Case, ...] = (
    Case("llama-3.1-8b", LLAMA, fixtures=True, why="dense GQA 32:8; defaults (CUDA graphs)"),
    Case("qwen2.5-14b", "Qwen/Qwen2.5-14B-Instruct", why="dense GQA 40:8, qkv bias"),
    Case("qwen3-8b", "Qwen/Qwen3-8B", why="dense GQA 32:8, Model Runner V2"),
    Case(
        "mistral-7b-v0.1",
        "mistralai/Mistral-7B-v0.1",
        max_model_len=16384,
        why="sliding window 4096 on every layer, context past the window",
    ),
    Case(
        "gemma-3-12b",
        "google/gemma-3-12b-it",
        fallback_args=("--language-model-only",),
        why="5 local (1024) : 1 global layers, head_dim 256, SigLIP vision tower",
    ),
    Case(
        "qwen3-30b-a3b",
        "Qwen/Qwen3-30B-A3B",
        needs_moe_extension=True,
        why="MoE 128 experts, 8 active",
    ),
    Case(
        "qwen2.5-0.5b-32k",
        "Qwen/Qwen2.5-0.5B-Instruct",
        max_model_len=32768,
        why="small tied model at a long context",
    ),
    Case("llama-3.1-8b-eager", LLAMA, extra_args=("--enforce-eager",), why="no CUDA graphs"),
    Case("llama-3.1-8b-kv-fp8", LLAMA, extra_args=("--kv-cache-dtype", "fp8"), why="fp8 KV cache"),
    Case(
        "llama-3.1-8b-fp8",
        LLAMA,
        extra_args=("--quantization", "fp8"),
        why="weights quantized to fp8 at load",
    ),
    Case("llama-3.1-8b-gmu0.7", LLAMA, gpu_memory_utilization=0.7, why="smaller budget"),
    Case("llama-3.1-8b-32k", LLAMA, max_model_len=32768, why="second max-model-len"),
    Case(
        "deepseek-v2-lite",
        "deepseek-ai/DeepSeek-V2-Lite-Chat",
        needs_moe_extension=True,
        why="MLA + MoE",
    ),
    # Several GPUs of one host (bench/device/multigpu/): what tensor and pipeline parallelism
    # add per GPU (NCCL, the custom all-reduce buffers) against the one-GPU cases above.
    Case(
        "llama-3.1-8b-tp2",
        LLAMA,
        tensor_parallel=2,
        why="the llama-3.1-8b case at TP 2: what TP adds, against its one-GPU measurement",
    ),
    Case(
        "llama-3.1-70b-tp2",
        LLAMA_70B,
        tensor_parallel=2,
        start_timeout_s=LARGE_START_TIMEOUT_S,
        why="70B shapes at the smallest TP that holds them",
    ),
    Case(
        "llama-3.1-70b-tp4",
        LLAMA_70B,
        tensor_parallel=4,
        start_timeout_s=LARGE_START_TIMEOUT_S,
        fixtures=True,
        why="TP 4; the real worker process tree and /metrics of a TP engine",
    ),
    Case(
        "llama-3.1-70b-tp8",
        LLAMA_70B,
        tensor_parallel=8,
        start_timeout_s=LARGE_START_TIMEOUT_S,
        why="TP 8: one KV head per GPU",
    ),
    Case(
        "qwen2.5-72b-tp4",
        "Qwen/Qwen2.5-72B-Instruct",
        tensor_parallel=4,
        start_timeout_s=LARGE_START_TIMEOUT_S,
        why="another 80-layer shape at TP 4 (qkv bias, larger vocabulary)",
    ),
    Case(
        "llama-3.1-70b-pp2",
        LLAMA_70B,
        pipeline_parallel=2,
        start_timeout_s=LARGE_START_TIMEOUT_S,
        why="pipeline parallel: 40 layers per GPU, no all-reduce",
    ),
)


class Nvml:
    """Every GPU of the host: the device figures are sums over them, and per GPU as well."""

    def __init__(self) -> None:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(index) for index in range(count)]

    @property
    def count(self) -> int:
        return len(self.handles)

    def used_by_gpu_mib(self) -> list[float]:
        return [
            pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2).used / MIB
            for handle in self.handles
        ]

    def device_used_mib(self) -> float:
        return sum(self.used_by_gpu_mib())

    def processes_by_gpu(self) -> list[dict[int, float]]:
        """Per GPU, the MiB each compute process holds there."""
        return [
            {
                p.pid: (p.usedGpuMemory or 0) / MIB
                for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
            }
            for handle in self.handles
        ]

    def host(self) -> dict[str, Any]:
        def text(value: Any) -> str:
            return value.decode() if isinstance(value, bytes) else str(value)

        first = self.handles[0]  # the host's GPUs are of one kind
        info = pynvml.nvmlDeviceGetMemoryInfo(first, version=pynvml.nvmlMemory_v2)
        return {
            "gpu": text(pynvml.nvmlDeviceGetName(first)),
            "driver_version": text(pynvml.nvmlSystemGetDriverVersion()),
            "memory_total_mib": info.total / MIB,
            "memory_reserved_by_driver_mib": info.reserved / MIB,
            "gpu_count": self.count,
        }

    def wait_released(self, baseline_mib: float) -> tuple[float, float]:
        """(device used MiB, seconds waited) once back near the baseline, or at the timeout."""
        started = time.monotonic()
        used = self.device_used_mib()
        while used > baseline_mib + IDLE_DEVICE_MIB:
            if time.monotonic() - started > RELEASE_TIMEOUT_S:
                break
            time.sleep(0.25)
            used = self.device_used_mib()
        return used, time.monotonic() - started


def cache_config_info(metrics_text: str) -> dict[str, str]:
    """The labels of vLLM's `vllm:cache_config_info` gauge."""
    match = re.search(r"^vllm:cache_config_info\{([^}]*)\}", metrics_text, re.MULTILINE)
    if not match:
        return {}
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1)))


def software_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("vllm", "torch", "transformers", "triton", "xgrammar", "nvidia-ml-py"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def complete(server: VllmServer, served_name: str, seed: int) -> dict[str, Any]:
    return http_post_json(
        f"{server.base_url}/v1/completions",
        {
            "model": served_name,
            "prompt": prompt_ids(64, seed),
            "max_tokens": 16,
            "ignore_eos": True,
            "temperature": 0,
        },
    )


def measure_running(
    server: VllmServer, case: Case, nvml: Nvml, fixtures_dir: Path | None
) -> dict[str, Any]:
    usage = [complete(server, case.model_id, seed)["usage"] for seed in (1, 2)]
    time.sleep(1.0)
    by_gpu = nvml.processes_by_gpu()
    processes: dict[int, float] = {}
    for gpu in by_gpu:
        for pid, mib in gpu.items():
            processes[pid] = processes.get(pid, 0.0) + mib
    family = {server.pid, *descendants(server.pid)}
    engine = {pid: mib for pid, mib in processes.items() if pid in family}
    measured: dict[str, Any] = {
        "completion_usage": usage,
        "nvml_device_used_mib": nvml.device_used_mib(),
        "nvml_processes_mib": {str(pid): mib for pid, mib in processes.items()},
        "engine_process_mib": sum(engine.values()) if engine else None,
        "engine_gpu_pids": sorted(engine),
        "api_server_pid": server.pid,
    }
    if case.gpus > 1:
        measured["nvml_device_used_by_gpu_mib"] = nvml.used_by_gpu_mib()
        measured["engine_mib_by_gpu"] = [
            sum(mib for pid, mib in gpu.items() if pid in family) for gpu in by_gpu
        ]
        measured["engine_pids_by_gpu"] = [sorted(set(gpu) & family) for gpu in by_gpu]
    metrics = http_get(f"{server.base_url}/metrics")
    measured["cache_config_info"] = cache_config_info(metrics)
    version = http_get(f"{server.base_url}/version")
    measured["version_answer"] = json.loads(version)
    models = http_get(f"{server.base_url}/v1/models")
    measured["max_model_len_served"] = json.loads(models)["data"][0].get("max_model_len")
    tree = [process_facts(pid) for pid in sorted(family) if Path(f"/proc/{pid}").exists()]
    measured["process_tree"] = [
        {k: v for k, v in facts.items() if k != "cmdline_raw"} for facts in tree
    ]
    if fixtures_dir is not None:
        fixtures_dir.mkdir(parents=True, exist_ok=True)
        (fixtures_dir / "metrics.txt").write_text(metrics)
        (fixtures_dir / "version.json").write_text(version)
        (fixtures_dir / "models.json").write_text(models)
        (fixtures_dir / "process_tree.json").write_text(
            json.dumps({"gpu_pids": sorted(engine), "processes": tree}, indent=1)
        )
    return measured


def moe_extension_present(wait_s: float) -> bool:
    """vLLM's MoE kernels (`_moe_C`), waited for up to `wait_s` while they are still on the way."""
    spec = importlib.util.find_spec("vllm")
    if spec is None or spec.origin is None:
        return False
    library = Path(spec.origin).parent / "_moe_C_stable_libtorch.abi3.so"
    deadline = time.monotonic() + wait_s
    while not library.exists() and time.monotonic() < deadline:
        time.sleep(2)
    return library.exists()


def run_case(case: Case, nvml: Nvml, models_dir: Path, out: Path) -> dict[str, Any]:
    if case.gpus > nvml.count:
        return {
            "case": asdict(case),
            "status": f"skipped: needs {case.gpus} GPUs, the host has {nvml.count}",
        }
    if case.needs_moe_extension and not moe_extension_present(MOE_EXTENSION_WAIT_S):
        return {"case": asdict(case), "status": "skipped: vLLM's MoE extension is absent"}
    model_dir = write_model(case.model_id, models_dir / case.model_id.split("/")[-1])
    attempts = [case.extra_args]
    if case.fallback_args is not None:
        attempts.append(case.extra_args + case.fallback_args)
    result: dict[str, Any] = {"case": asdict(case), "status": "failed", "attempts": []}
    for extra in attempts:
        baseline = nvml.device_used_mib()
        command = server_command(
            model_dir,
            case.model_id,
            PORT,
            case.max_model_len,
            case.gpu_memory_utilization,
            (*extra, *case.parallel_args()),
        )
        log_path = out / "logs" / f"{case.name}{'-fallback' if extra != attempts[0] else ''}.log"
        server = VllmServer(command, log_path)
        attempt: dict[str, Any] = {"args": list(extra), "nvml_baseline_mib": baseline}
        server.start()
        print(f"[{case.name}] starting ({' '.join(extra) or 'defaults'})", flush=True)
        try:
            if server.wait_ready(case.start_timeout_s):
                attempt["ready_s"] = server.ready_s
                attempt["measured"] = measure_running(
                    server, case, nvml, out / "fixtures" if case.fixtures else None
                )
                attempt["status"] = "ok"
            else:
                attempt["status"] = "did not start"
        except Exception as exc:  # a failed case is recorded, never fatal
            attempt["status"] = f"error: {type(exc).__name__}: {exc}"[:400]
        finally:
            attempt["exit_status"] = server.stop()
            used, waited = nvml.wait_released(baseline)
            attempt["nvml_after_stop_mib"] = used
            attempt["release_s"] = waited
        log_text = server.log_text()
        attempt["log"] = asdict(parse_log(log_text))
        if case.gpus > 1:
            attempt["worker_logs"] = {
                name: asdict(parse_log(lines)) for name, lines in worker_logs(log_text).items()
            }
        result["attempts"].append(attempt)
        print(f"[{case.name}] {attempt['status']} {summary(attempt)}", flush=True)
        if attempt["status"] == "ok":
            result["status"] = "ok"
            break
    return result


def summary(attempt: dict[str, Any]) -> str:
    log, measured = attempt["log"], attempt.get("measured") or {}
    return (
        f"ready {attempt.get('ready_s') or 0:.0f} s; weights {log['weights_gib']} GiB, "
        f"KV {log['available_kv_cache_gib']} GiB = {log['kv_cache_tokens']} tokens, "
        f"x{log['max_concurrency']}, graphs {log['cuda_graph_gib']} GiB; "
        f"process {measured.get('engine_process_mib')} MiB, "
        f"device {measured.get('nvml_device_used_mib')} MiB; "
        f"after stop {attempt['nvml_after_stop_mib']:.0f} MiB in {attempt['release_s']:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/gpu-insight-models"))
    parser.add_argument("--cases", nargs="*", help="case names (default: all, in order)")
    args = parser.parse_args()
    by_name = {case.name: case for case in CASES}
    unknown = sorted(set(args.cases or ()) - set(by_name))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {list(by_name)}")
    cases = [by_name[name] for name in args.cases] if args.cases else list(CASES)
    nvml = Nvml()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "host": {**nvml.host(), **software_versions()},
        "note": "dummy weights (--load-format dummy) over each model's published config.json; "
        "vLLM's GiB figures are rounded to 0.01 GiB in its log",
        "cases": [],
    }
    result_file = args.out / "engine_validation.json"
    if result_file.exists():  # a later run on the same host adds its cases
        report["cases"] = json.loads(result_file.read_text())["cases"]
    for case in cases:
        report["cases"].append(run_case(case, nvml, args.models_dir, args.out))
        result_file.write_text(json.dumps(report, indent=1))
    ok = sum(1 for case in report["cases"] if case["status"] == "ok")
    print(f"engine_validation: {ok}/{len(report['cases'])} cases ok -> {result_file}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
