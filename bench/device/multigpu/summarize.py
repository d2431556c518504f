"""The multi-GPU vLLM cases of a device run held against vram_check (issue 18 §1).

    python3 bench/device/multigpu/summarize.py ENGINE_VALIDATION_JSON

For each case that started (bench/engine_validation.py's output; the one-GPU cases of the run
are the baseline): vLLM's KV-cache tokens and each GPU's engine memory (NVML), against the
placement `vram_check` answers when asked with the same model config, context, memory fraction
and parallel sizes on as many empty GPUs of the host's kind (its `kv_cache_tokens` and
`process_mib`). Targets: KV tokens within 3 %, per-GPU memory within 2 %. Beside them, per
GPU, the memory vLLM's own lines leave unexplained (process − weights − KV cache − CUDA
graphs): what a parallel run adds (NCCL, the custom all-reduce buffers) shows against a one-GPU
case of the same model. Prints markdown; exits 1 when a target is missed.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_insight.answers.vram import answer_vram, parse_vram_request
from gpu_insight.schemas import Gpu, Snapshot
from gpu_insight.sources.fleet import Gathered

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "engines"))
from dummy_model import published

KV_TOKENS_TOLERANCE = 0.03
MEMORY_TOLERANCE = 0.02
MIB_PER_GIB = 1024.0
_RANKS = re.compile(r"^Worker(?:_PP(?P<pp>\d+))?(?:_TP(?P<tp>\d+))?$")


@dataclass(frozen=True)
class Row:
    case: str
    gpus: int
    kv_tokens_measured: int | None
    kv_tokens_estimated: int | None
    per_gpu_mib_measured: float | None
    per_gpu_mib_estimated: float | None
    unexplained_mib_by_gpu: list[float]

    @property
    def kv_tokens_error(self) -> float | None:
        return _relative(self.kv_tokens_estimated, self.kv_tokens_measured)

    @property
    def memory_error(self) -> float | None:
        return _relative(self.per_gpu_mib_estimated, self.per_gpu_mib_measured)

    @property
    def met(self) -> bool:
        errors = (self.kv_tokens_error, self.memory_error)
        return all(e is not None for e in errors) and (
            abs(errors[0] or 0) <= KV_TOKENS_TOLERANCE and abs(errors[1] or 0) <= MEMORY_TOLERANCE
        )


def _relative(estimated: float | None, measured: float | None) -> float | None:
    if estimated is None or not measured:
        return None
    return (estimated - measured) / measured


def vram_check(settings: dict[str, Any], host: dict[str, Any]) -> dict[str, Any]:
    """vram_check's answer for a case's settings on `tensor × pipeline` empty GPUs."""
    tp, pp = settings.get("tensor_parallel", 1), settings.get("pipeline_parallel", 1)
    total = float(host["memory_total_mib"])
    reserved = float(host.get("memory_reserved_by_driver_mib") or 0.0)
    empty = [
        Gpu(
            index=index,
            uuid=f"GPU-{index}",
            name=host["gpu"],
            compute_capability="9.0",
            memory_total_mib=total,
            memory_reserved_mib=reserved,
            memory_used_mib=0.0,
            memory_free_mib=total - reserved,
        )
        for index in range(tp * pp)
    ]
    snapshot = Snapshot(host="device", source="replay", collected_at=0.0, gpus=empty)
    params = {
        "model_config": published(settings["model_id"])["config"],
        "engine": "vllm",
        "context_length": settings["max_model_len"],
        "gpu_memory_utilization": settings["gpu_memory_utilization"],
        "tensor_parallel": tp,
        "pipeline_parallel": pp,
    }
    return answer_vram(parse_vram_request(params), lambda: Gathered(snapshot)).as_json()


def worker_gpu(name: str, tensor_parallel: int) -> int | None:
    """The GPU a worker runs on: its rank, pipeline stage × TP size + TP rank."""
    match = _RANKS.match(name)
    if match is None:
        return None
    return int(match["pp"] or 0) * tensor_parallel + int(match["tp"] or 0)


def _explained_mib(log: dict[str, Any]) -> float | None:
    if log["weights_gib"] is None:
        return None
    parts = (log["weights_gib"], log["available_kv_cache_gib"], log["cuda_graph_gib"])
    return sum(part or 0.0 for part in parts) * MIB_PER_GIB


def unexplained_mib(attempt: dict[str, Any], tensor_parallel: int) -> list[float]:
    """Per GPU: engine memory (NVML) less the worker's weights, KV cache and CUDA graphs (on
    one GPU, the engine process's memory less what the server's lines say)."""
    measured = attempt["measured"]
    workers = attempt.get("worker_logs")
    if not workers:
        explained = _explained_mib(attempt["log"])
        held = measured.get("engine_process_mib")
        return [] if explained is None or held is None else [round(held - explained, 1)]
    by_gpu = measured.get("engine_mib_by_gpu") or []
    out: list[float] = []
    for name, log in sorted(workers.items()):
        gpu = worker_gpu(name, tensor_parallel)
        explained = _explained_mib(log)
        if gpu is not None and gpu < len(by_gpu) and explained is not None:
            out.append(round(by_gpu[gpu] - explained, 1))
    return out


def row(case: dict[str, Any], host: dict[str, Any]) -> Row | None:
    settings = case["case"]
    attempts = [a for a in case.get("attempts", []) if a.get("status") == "ok"]
    if not attempts:
        return None
    attempt = attempts[-1]
    tp = settings.get("tensor_parallel", 1)
    gpus = tp * settings.get("pipeline_parallel", 1)
    placement = vram_check(settings, host).get("placement") or {}
    measured = attempt["measured"]
    engine_by_gpu = measured.get("engine_mib_by_gpu") or [measured.get("engine_process_mib")]
    held = [mib for mib in engine_by_gpu[:gpus] if mib is not None]
    return Row(
        case=settings["name"],
        gpus=gpus,
        kv_tokens_measured=attempt["log"]["kv_cache_tokens"],
        kv_tokens_estimated=placement.get("kv_cache_tokens"),
        per_gpu_mib_measured=max(held) if held else None,
        per_gpu_mib_estimated=placement.get("process_mib"),
        unexplained_mib_by_gpu=unexplained_mib(attempt, tp),
    )


def rows(report: dict[str, Any]) -> list[Row]:
    found = (row(case, report["host"]) for case in report["cases"])
    return [r for r in found if r is not None]


def markdown(report: dict[str, Any], found: list[Row]) -> str:
    host = report["host"]
    lines = [
        f"## vLLM on {host.get('gpu_count')} × {host['gpu']} {report['date']}"
        f" (vLLM {host.get('vllm')}, driver {host.get('driver_version')})",
        "",
        "| case | GPUs | KV tokens vLLM / vram_check | per-GPU MiB NVML / vram_check "
        "| unexplained MiB per GPU | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in found:
        lines.append(
            f"| {r.case} | {r.gpus} | {r.kv_tokens_measured} / {r.kv_tokens_estimated} "
            f"({_percent(r.kv_tokens_error)}) | {r.per_gpu_mib_measured} / "
            f"{r.per_gpu_mib_estimated} ({_percent(r.memory_error)}) | "
            f"{', '.join(f'{m:.0f}' for m in r.unexplained_mib_by_gpu)} | "
            f"{'yes' if r.met else '**no**'} |"
        )
    lines += [
        "",
        f"Targets: KV tokens within {KV_TOKENS_TOLERANCE:.0%}, per-GPU memory "
        f"within {MEMORY_TOLERANCE:.0%}.",
    ]
    return "\n".join(lines)


def _percent(error: float | None) -> str:
    return "n/a" if error is None else f"{error:+.1%}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    report = json.loads(Path(args[0]).read_text())
    found = rows(report)
    print(markdown(report, found))
    return 0 if found and all(r.met for r in found) else 1


if __name__ == "__main__":
    sys.exit(main())
