"""Small builders for advice scenarios: GPUs, processes, engines, model sizings."""

from __future__ import annotations

from typing import Any

from gpu_insight.advise import ModelFit, Situation
from gpu_insight.schemas import Attribution, Engine, EngineMetrics, Gpu, GpuProcess, Snapshot
from tests.support.h100 import H100_TOTAL_MIB, h100_gpu


def h100(index: int = 0, **fields: Any) -> Gpu:
    """A busy H100 with 1000 MiB in use."""
    state: dict[str, Any] = {
        "memory_used_mib": 1000.0,
        "memory_free_mib": H100_TOTAL_MIB - 1000.0,
        "utilization_percent": 50.0,
        "temperature_celsius": 60.0,
    }
    return h100_gpu(index, **(state | fields))


def process(
    pid: int, gpu: Gpu, engine: Engine = "vllm", used_mib: float = 20000.0, **attribution: Any
) -> GpuProcess:
    return GpuProcess(
        pid=pid,
        gpu_index=gpu.index,
        gpu_uuid=gpu.uuid,
        used_memory_mib=used_mib,
        attribution=Attribution(engine=engine, **attribution),
    )


def engine(gpu: Gpu, kind: Engine = "vllm", port: int = 8000, **fields: Any) -> EngineMetrics:
    return EngineMetrics(
        engine=kind,
        url=f"http://127.0.0.1:{port}/metrics",
        up=True,
        gpu_uuids=[gpu.uuid],
        model=fields.pop("model", "Qwen/Qwen2.5-7B-Instruct"),
        **fields,
    )


def situation(
    gpus: list[Gpu],
    processes: list[GpuProcess] | None = None,
    engines: list[EngineMetrics] | None = None,
    **fields: Any,
) -> Situation:
    snapshot = Snapshot(
        host="gpu-host",
        source="nvml",
        collected_at=1_700_000_000.0,
        gpus=gpus,
        processes=processes or [],
        engines=engines or [],
    )
    return Situation(snapshot=snapshot, gpus=gpus, **fields)


def fit_72b() -> ModelFit:
    """Qwen2.5-72B-like sizing (weights and KV per token from its config)."""
    return ModelFit(
        model="Qwen/Qwen2.5-72B-Instruct",
        weights_mib={"bf16": 138676.0, "fp8": 71742.0, "int4": 39544.0},
        kv_mib_per_token=0.3125,
        overhead_mib=3488.0,
        num_attention_heads=64,
        num_kv_heads=8,
        max_model_len=32768,
    )


def fit_8b(max_model_len: int = 131072) -> ModelFit:
    """Llama-3.1-8B-like sizing."""
    return ModelFit(
        model="meta-llama/Llama-3.1-8B-Instruct",
        weights_mib={"bf16": 15317.0, "fp8": 8500.0, "int4": 5400.0},
        kv_mib_per_token=0.125,
        overhead_mib=3488.0,
        num_attention_heads=32,
        num_kv_heads=8,
        max_model_len=max_model_len,
    )
