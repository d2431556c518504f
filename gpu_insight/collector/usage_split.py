"""How one GPU's sample interval is divided between the processes that held it.

For an interval of `dt_s` seconds ending at a sample:

- GPU-seconds: the GPU's busy time, `utilization_percent / 100 × dt_s`, split between its
  processes by their SM utilization (`sm_utilization`). When no process reports SM utilization
  (NVML samples it every few seconds and reports nothing for idle processes), by their memory
  (`memory_share`; equal parts when no process reports its memory either). A process without an
  SM figure while others have one gets no GPU-seconds for that interval.
- An idle GPU (utilization 0) accrues no GPU-seconds: GPU-seconds measure work done, not
  allocation. Processes that keep memory on it still accrue memory MiB-seconds and their share
  (by memory) of the idle power's energy, marked `idle`. Reservation shows in MiB-seconds.
- Memory MiB-seconds: each process's own `used_memory_mib × dt_s` (not split).
- Idle-held GPU-seconds: when the GPU was at most `IDLE_UTILIZATION_PERCENT` busy, the whole
  `dt_s` split between its processes by their memory: the GPU time they kept from others while
  doing (almost) nothing with it.
- Energy joules: `power_watts × dt_s`, split the same way as GPU-seconds.
- A GPU with no processes: its busy time and energy go to an unattributed recipient with no
  share method (nothing was split). A GPU that reports no utilization accrues no GPU-seconds;
  one that reports no power, no energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gpu_insight.schemas import IDLE_UTILIZATION_PERCENT, Gpu, GpuProcess, ShareMethod


@dataclass(frozen=True)
class UsageKey:
    """Who used a GPU: the accounting dimensions (None = not known)."""

    gpu_uuid: str
    app: str | None = None
    team: str | None = None
    container: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Share:
    """One recipient's part of one GPU interval."""

    key: UsageKey
    method: ShareMethod | None
    gpu_seconds: float
    memory_mib_seconds: float
    energy_joules: float
    idle_held_gpu_seconds: float = 0.0


def usage_key(process: GpuProcess) -> UsageKey:
    who = process.attribution
    container = who.container_name or (who.container_id[:12] if who.container_id else None)
    return UsageKey(process.gpu_uuid, who.app, who.team, container, who.model)


def _weights(values: Sequence[float]) -> list[float]:
    total = sum(values)
    if total > 0:
        return [value / total for value in values]
    return [1.0 / len(values)] * len(values)


def split_interval(gpu: Gpu, processes: Sequence[GpuProcess], dt_s: float) -> list[Share]:
    """Divides `dt_s` seconds of `gpu` (values from the sample ending the interval) between
    `processes` (those on this GPU). The GPU-seconds and energy of the shares add up to the
    GPU's busy time and energy."""
    busy_s = 0.0 if gpu.utilization_percent is None else gpu.utilization_percent / 100 * dt_s
    energy_j = 0.0 if gpu.power_watts is None else gpu.power_watts * dt_s
    if not processes:
        return [Share(UsageKey(gpu.uuid), None, busy_s, 0.0, energy_j)]
    memory = [max(p.used_memory_mib or 0.0, 0.0) for p in processes]
    sm = [max(p.sm_utilization_percent or 0.0, 0.0) for p in processes]
    method: ShareMethod
    if gpu.utilization_percent == 0:
        method, weights = "idle", _weights(memory)
    elif sum(sm) > 0:
        method, weights = "sm_utilization", _weights(sm)
    else:
        method, weights = "memory_share", _weights(memory)
    idle = (
        gpu.utilization_percent is not None and gpu.utilization_percent <= IDLE_UTILIZATION_PERCENT
    )
    held = [dt_s * weight for weight in _weights(memory)] if idle else [0.0] * len(processes)
    return [
        Share(usage_key(process), method, busy_s * weight, mib * dt_s, energy_j * weight, held_s)
        for process, weight, mib, held_s in zip(processes, weights, memory, held, strict=True)
    ]
