"""Small stand-ins for the parts around the sampler: engines, alerts, process describer, clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from gpu_insight.collector.attribution.attributor import ProcessIdentity
from gpu_insight.collector.backends.base import Backend
from gpu_insight.collector.config import SamplingConfig
from gpu_insight.collector.runtime import SelfMetrics
from gpu_insight.collector.sampler import ProcessDescriber, Sampler
from gpu_insight.collector.store import SnapshotStore
from gpu_insight.schemas import Alert, Attribution, EngineMetrics, GpuProcess, Snapshot


class FixedDescriber:
    """Describes every pid as a vLLM server, except the pids listed as gone."""

    def __init__(self, gone: set[int] | None = None, failing: set[int] | None = None) -> None:
        self.gone = gone or set()
        self.failing = failing or set()
        self.asked: list[int] = []

    def describe(self, pid: int) -> ProcessIdentity | None:
        self.asked.append(pid)
        if pid in self.failing:
            raise RuntimeError("cgroup file unreadable")
        if pid in self.gone:
            return None
        return ProcessIdentity(
            name="python3",
            cmdline=f"vllm serve model-{pid}",
            user="svc",
            attribution=Attribution(engine="vllm", model=f"model-{pid}", app="support-bot"),
        )


@dataclass
class RecordingEngines:
    observed: list[list[GpuProcess]] = field(default_factory=list)
    metrics: list[EngineMetrics] = field(default_factory=list)

    def observe(self, processes: list[GpuProcess]) -> None:
        self.observed.append(processes)

    def latest(self) -> list[EngineMetrics]:
        return self.metrics


@dataclass
class RecordingAlerts:
    evaluated: list[Snapshot] = field(default_factory=list)
    active: list[Alert] = field(default_factory=list)

    def evaluate(self, snapshot: Snapshot) -> list[Alert]:
        self.evaluated.append(snapshot)
        return self.active

    def alerts(self, *, include_resolved: bool = False) -> list[Alert]:
        return self.active


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class SamplerRig:
    sampler: Sampler
    store: SnapshotStore
    metrics: SelfMetrics
    engines: RecordingEngines
    alerts: RecordingAlerts
    clock: FakeClock


def make_sampler(
    backend: Backend,
    *,
    metrics: SelfMetrics | None = None,
    describer: ProcessDescriber | None = None,
    sampling: SamplingConfig | None = None,
) -> SamplerRig:
    metrics = metrics or SelfMetrics()
    store = SnapshotStore()
    engines = RecordingEngines()
    alerts = RecordingAlerts()
    clock = FakeClock()
    sampler = Sampler(
        sampling=sampling or SamplingConfig(),
        backend=backend,
        store=store,
        engines=engines,
        alerts=alerts,
        self_metrics=metrics,
        hostname="gpu-node-1",
        describer=describer or FixedDescriber(),
        clock=clock,
    )
    return SamplerRig(sampler, store, metrics, engines, alerts, clock)
