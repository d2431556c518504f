"""Small builders for advice scenarios: GPUs, processes, engines, model sizings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gpu_insight.advise import Focus, ModelFit, Situation, Suggestion, advise
from gpu_insight.advise.costs import Prices
from gpu_insight.collector.engines.readings import parse_ollama_ps, parse_ollama_show
from gpu_insight.schemas import (
    MEMORY_ALERT_RULE,
    Alert,
    Attribution,
    Engine,
    EngineMetrics,
    Gpu,
    GpuProcess,
    GpuUsage,
    HolderUsage,
    LatencySummary,
    LoadedModel,
    Snapshot,
    UsageReport,
)
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
    alerts: list[Alert] | None = None,
    **fields: Any,
) -> Situation:
    snapshot = Snapshot(
        host="gpu-host",
        source="nvml",
        collected_at=1_700_000_000.0,
        gpus=gpus,
        processes=processes or [],
        engines=engines or [],
        alerts=alerts or [],
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


# --- engines as their own answers show them -----------------------------------------------

FIXTURES = Path(__file__).parent / "collector" / "engine_fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def ollama_models(name: str = "ollama_ps_offload.json") -> list[LoadedModel]:
    """The models of a recorded-format `/api/ps` answer, shaped by the `/api/show` fixture
    (Qwen2.5-32B's numbers) where the name matches."""
    shape = parse_ollama_show(fixture_text("ollama_show.json"))
    reading = parse_ollama_ps(fixture_text(name))
    assert reading.loaded_models is not None
    return [
        m.model_copy(update={"architecture": shape if m.name == "qwen2.5:32b" else None})
        for m in reading.loaded_models
    ]


def ollama(gpu: Gpu, models: list[LoadedModel], port: int = 11434, **fields: Any) -> EngineMetrics:
    return EngineMetrics(
        engine="ollama",
        url=f"http://127.0.0.1:{port}/api/ps",
        up=True,
        gpu_uuids=[gpu.uuid],
        loaded_models=models,
        **fields,
    )


def memory_alert(gpu: Gpu) -> Alert:
    return Alert(
        rule=MEMORY_ALERT_RULE,
        severity="warning",
        state="firing",
        gpu_index=gpu.index,
        gpu_uuid=gpu.uuid,
        message="GPU memory used above the threshold",
        started_at=1_700_000_000.0,
    )


def latency(p90_s: float) -> LatencySummary:
    return LatencySummary(p50_s=p90_s / 2, p90_s=p90_s, p99_s=p90_s * 1.5)


# --- usage books --------------------------------------------------------------------------

HOUR_S = 3600.0


def holder(
    app: str, model: str, engine: Engine, peak_gib: float, busy_s: float = 0.0, idle_s: float = 0.0
) -> HolderUsage:
    return HolderUsage(
        app=app,
        team=f"{app}-team",
        container=f"{app}-container",
        model=model,
        engine=engine,
        peak_memory_mib=peak_gib * 1024,
        gpu_seconds=busy_s,
        idle_held_gpu_seconds=idle_s,
    )


def gpu_books(
    gpu: Gpu, holders: list[HolderUsage], watched_s: float = HOUR_S, peak_percent: float = 60.0
) -> GpuUsage:
    return GpuUsage(
        gpu_uuid=gpu.uuid,
        name=gpu.name,
        memory_total_mib=gpu.memory_total_mib,
        observed_seconds=watched_s,
        busy_gpu_seconds=sum(h.gpu_seconds for h in holders),
        idle_held_gpu_seconds=sum(h.idle_held_gpu_seconds for h in holders),
        peak_memory_used_mib=sum(h.peak_memory_mib for h in holders),
        peak_utilization_percent=peak_percent,
        holders=holders,
    )


def books(gpus: list[GpuUsage], hours: float = 1.0) -> UsageReport:
    to_t = 1_700_000_040.0
    return UsageReport(
        host="gpu-host",
        source="nvml",
        from_t=to_t - hours * HOUR_S,
        to_t=to_t,
        group_by="gpu",
        gpus=gpus,
    )


PRICES = Prices(per_gpu_hour=2.0, by_gpu_type={"H100": 2.5, "L40S": 1.1, "L4": 0.6})


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> set[float]:
    return {float(n.replace(",", "")) for n in _NUMBER.findall(text)}


def unexplained_numbers(suggestion: Suggestion) -> set[float]:
    """Numbers in the suggestion's title that no evidence value holds (a number, or a number
    inside a text value): what its evidence fails to name."""
    named: set[float] = set()
    for value in suggestion.evidence.values():
        named |= {float(value)} if isinstance(value, int | float) else _numbers(str(value))
    return _numbers(suggestion.title) - named


def fired(s: Situation, rule_id: str, focus: Focus | None = None) -> list[Suggestion]:
    """The rule's suggestions in the advice, each checked to name in its evidence every number
    of its title."""
    found = [x for x in advise(s, focus=focus).suggestions if x.id == rule_id]
    for suggestion in found:
        assert unexplained_numbers(suggestion) == set(), suggestion.title
    return found
