"""What the series of one GPU host add up to, before hosts become one snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gpu_insight.schemas import Alert, EngineMetrics, Exporter, Gpu, GpuProcess, Source

MIB = 1024.0 * 1024.0


@dataclass
class HostSeries:
    """One host as its exporter's series show it."""

    host: str
    exporter: Exporter
    instance: str  # the target's `instance` label: how a missing host is named
    source: Source = "nvml"
    sampled_at: float | None = None  # when the data came from the GPUs (epoch seconds)
    up: bool = True  # the exporter says it has a current sample
    gpus: dict[str, Gpu] = field(default_factory=dict)  # by uuid
    processes: list[GpuProcess] = field(default_factory=list)
    engines: list[EngineMetrics] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def label(labels: Mapping[str, str], name: str) -> str:
    """An exporter's own label: Prometheus renames it `exported_<name>` when a target label of
    the same name exists (honor_labels: false), and then the target's is not the exporter's."""
    return labels.get(f"exported_{name}") or labels.get(name) or ""
