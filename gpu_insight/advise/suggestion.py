"""What advice is made of: the situation it looks at, and the suggestions it gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gpu_insight.advise.costs import Prices
from gpu_insight.engines.vllm import DEFAULT_MEMORY_FRACTION
from gpu_insight.schemas import (
    MEMORY_ALERT_RULE,
    Engine,
    EngineMetrics,
    Gpu,
    GpuProcess,
    Severity,
    Snapshot,
    UsageReport,
)

Focus = Literal["memory", "throughput", "latency", "cost"]
FOCUSES: tuple[Focus, ...] = ("memory", "throughput", "latency", "cost")
SEVERITY_RANK: dict[Severity, int] = {"critical": 3, "warning": 2, "info": 1}
MIB_PER_GIB = 1024.0


@dataclass(frozen=True)
class ModelFit:
    """Sizing of one model, from the estimator: what the memory rules compare with free VRAM."""

    model: str
    weights_mib: dict[str, float]  # by weight format: "bf16", "fp8", "int4"
    kv_mib_per_token: float  # KV cache per token of context, all layers, 16-bit, one GPU
    overhead_mib: float  # per GPU: CUDA context, activations, CUDA graphs
    num_attention_heads: int
    num_kv_heads: int
    max_model_len: int  # the model's context length (what the engine uses by default)
    num_experts: int = 0  # MoE: routed experts per layer (0: a dense model)
    vision: bool = False  # takes images (a vision tower in its config)


@dataclass(frozen=True)
class Situation:
    """Everything the rules may look at. `gpus` are the GPUs in scope; `engine` is the engine
    whose flags suggestions use; `only_engine` limits the processes and engines looked at;
    `planned` is true when the model is not running yet (a deployment being prepared);
    `usage` holds the usage books the cost rules read (asked for with focus cost) and
    `prices` the prices per GPU-hour from the settings."""

    snapshot: Snapshot
    gpus: list[Gpu]
    engine: Engine | None = None
    only_engine: Engine | None = None
    model: str | None = None
    fit: ModelFit | None = None
    planned: bool = False
    # vLLM's default: the rules size a planned deployment by it on every engine
    planned_gpu_memory_utilization: float = DEFAULT_MEMORY_FRACTION
    usage: UsageReport | None = None
    prices: Prices = field(default_factory=Prices)

    def processes_on(self, gpu: Gpu) -> list[GpuProcess]:
        return [
            p
            for p in self.snapshot.processes
            if p.gpu_uuid == gpu.uuid
            and (self.only_engine is None or p.attribution.engine == self.only_engine)
        ]

    def engines_on(self, gpu: Gpu) -> list[EngineMetrics]:
        return [e for e in self.engines() if gpu.uuid in e.gpu_uuids]

    def memory_alert_on(self, gpu: Gpu) -> bool:
        """Whether the GPU's memory alert fires now."""
        return any(
            a.rule == MEMORY_ALERT_RULE and a.state == "firing" and a.gpu_uuid == gpu.uuid
            for a in self.snapshot.alerts
        )

    def gpu(self, uuid: str) -> Gpu | None:
        """The GPU in scope with that uuid."""
        return next((g for g in self.gpus if g.uuid == uuid), None)

    def engines(self) -> list[EngineMetrics]:
        uuids = {g.uuid for g in self.gpus}
        return [
            e
            for e in self.snapshot.engines
            if e.up
            and (self.only_engine is None or e.engine == self.only_engine)
            and (not e.gpu_uuids or uuids.intersection(e.gpu_uuids))
        ]


@dataclass(frozen=True)
class Suggestion:
    id: str  # the rule's id
    severity: Severity
    title: str  # one short line
    change: str  # the exact setting or command
    evidence: dict[str, float | int | str]  # the numbers that triggered it
    expected_effect: str
    source: str
    scope: str  # what it is about: a GPU, an engine instance, a model
    focus: tuple[Focus, ...]
    gain: float = 0.5  # 0–1: how much it is expected to help, for ranking within a severity
    saving_per_month: float | None = None  # in the settings' currency; ranks before gain

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "change": self.change,
            "evidence": self.evidence,
            "expected_effect": self.expected_effect,
            "source": self.source,
            "scope": self.scope,
            "focus": list(self.focus),
            "saving_per_month": self.saving_per_month,
        }


def gib(mib: float) -> float:
    return round(mib / MIB_PER_GIB, 1)


def gpu_label(gpu: Gpu) -> str:
    """How a suggestion names a GPU: its host (when several), index and name."""
    where = f"{gpu.host}:" if gpu.host else ""
    return f"{where}{gpu.index} {gpu.name}"


def compute_capability(gpu: Gpu) -> tuple[int, int]:
    """(major, minor), or (0, 0) when not known."""
    try:
        major, minor = (gpu.compute_capability or "0.0").split(".")
        return int(major), int(minor)
    except ValueError:
        return 0, 0
