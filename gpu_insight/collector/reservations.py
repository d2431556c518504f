"""GPU memory an engine reserves by design: vLLM takes `gpu_memory_utilization` of the card at
start (0.9 by default) whether or not requests come, and fills it with its KV cache.

On such a GPU "memory used" says nothing about pressure; what does is how full the engine's KV
cache is and how much of the memory outside the reservation is in use. An engine reserves when
its scrape reports `gpu_memory_utilization`; the reservation is what NVML shows its processes
holding on that GPU (the CUDA context and graphs come on top of the fraction), or the fraction
of the card when none of its processes is visible.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from gpu_insight.schemas import Snapshot


@dataclass(frozen=True)
class Reservation:
    engine: str
    model: str | None
    reserved_mib: float
    kv_cache_usage_ratio: float | None

    @property
    def label(self) -> str:
        return f"{self.engine} {self.model}" if self.model else self.engine


def engine_reservations(snapshot: Snapshot) -> dict[str, list[Reservation]]:
    """GPU uuid → the reservations of the engines that report one, from one snapshot."""
    totals = {gpu.uuid: gpu.memory_total_mib for gpu in snapshot.gpus}
    held: dict[tuple[int, str], float] = defaultdict(float)
    for process in snapshot.processes:
        if process.used_memory_mib is not None:
            held[(process.pid, process.gpu_uuid)] += process.used_memory_mib
    found: dict[str, list[Reservation]] = defaultdict(list)
    for engine in snapshot.engines:
        fraction = engine.gpu_memory_utilization
        if not engine.up or fraction is None:
            continue
        for uuid in engine.gpu_uuids:
            seen = [held[(pid, uuid)] for pid in engine.pids if (pid, uuid) in held]
            total = totals.get(uuid)
            if seen:
                reserved = sum(seen)
            elif total:
                reserved = fraction * total
            else:
                continue
            found[uuid].append(
                Reservation(engine.engine, engine.model, reserved, engine.kv_cache_usage_ratio)
            )
    return dict(found)
