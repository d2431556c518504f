"""The interface between the sampler and whatever reads the GPUs (NVML, a recorded trace).

A backend answers three tiers of questions at the sampler's cadence; it never raises for a
failing GPU or a missing driver: it reports them as data (`down_reason`, `Gpu.health`).
Another vendor (e.g. AMD through amdsmi) fits behind the same three calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gpu_insight.schemas import Gpu, GpuProcess, NvLink, Source


@dataclass(frozen=True)
class FastReading:
    """The fast tier: every GPU's state and the processes on it.

    Processes carry pid, GPU, kind and memory; the sampler adds who they are unless the
    backend already knows (`Backend.attributes_processes`).
    """

    gpus: list[Gpu] = field(default_factory=list)
    processes: list[GpuProcess] = field(default_factory=list)
    down_reason: str | None = None  # set when the backend cannot read any GPU at all


@dataclass(frozen=True)
class ProcessUtilization:
    """One process's share of a GPU over the last sampling window."""

    gpu_uuid: str
    pid: int
    sm_utilization_percent: float | None
    memory_utilization_percent: float | None
    seen_at: float  # epoch seconds of the newest sample


@dataclass(frozen=True)
class GpuSlowReading:
    """Counters that are expensive to read, refreshed every slow tick."""

    energy_joules: float | None = None
    ecc_uncorrected_volatile: int | None = None
    pcie_tx_bytes_per_s: float | None = None
    pcie_rx_bytes_per_s: float | None = None
    nvlinks: list[NvLink] | None = None  # None: no link NVML can tell about
    remapped_rows_correctable: int | None = None
    remapped_rows_uncorrectable: int | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None


@dataclass(frozen=True)
class SlowReading:
    gpus: dict[str, GpuSlowReading] = field(default_factory=dict)  # by GPU UUID
    driver_version: str | None = None
    cuda_version: str | None = None
    nvml_version: str | None = None


class Backend(Protocol):
    source: Source
    attributes_processes: bool  # True when processes already carry name and attribution

    def sample_fast(self, now: float) -> FastReading: ...

    def sample_process_utilization(self, now: float) -> list[ProcessUtilization]: ...

    def sample_slow(self, now: float) -> SlowReading: ...

    def close(self) -> None: ...
