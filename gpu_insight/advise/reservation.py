"""Memory an engine reserves by design: vLLM takes `gpu_memory_utilization` × total at start
and SGLang `mem_fraction_static` × total, filling what the weights leave with a KV-cache pool;
TGI fills the memory left free with KV blocks. A 7B model holding 37 GB is that pool, not a
leak (xinference#3432, vllm#17891). One sentence says so, in `gpu_processes` and in advice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gpu_insight.advise.suggestion import gib
from gpu_insight.engines import fills_gpu_memory, find
from gpu_insight.schemas import EngineMetrics, Gpu, GpuProcess

RESERVED_SHARE = 0.8  # a reserving engine holding at least this share of a GPU gets the note


@dataclass(frozen=True)
class Reservation:
    engine_label: str
    used_mib: float
    total_mib: float
    fraction: float | None  # the share of total it reserves; None: all the memory left free
    fraction_known: bool  # read from the engine, not its default
    kv_usage_ratio: float | None
    kv_cache_size_tokens: int | None

    @property
    def reserved_mib(self) -> float | None:
        return None if self.fraction is None else self.fraction * self.total_mib

    def sentence(self) -> str:
        if self.fraction is None:
            how = "fills the memory left free with KV-cache blocks"
        else:
            default = "" if self.fraction_known else ", its default"
            how = (
                f"reserves {self.fraction:g}{default} × {gib(self.total_mib)} GiB = "
                f"{gib(self.reserved_mib or 0.0)} GiB up front"
            )
        pool = (
            f"; its KV pool is {round(self.kv_usage_ratio * 100)}% in use"
            if self.kv_usage_ratio is not None
            else ""
        )
        return f"not a leak: {self.engine_label} {how} by design{pool}"


def reservation(
    process: GpuProcess, gpu: Gpu, engines: Sequence[EngineMetrics]
) -> Reservation | None:
    """The reservation behind a process holding most of its GPU, or None for any other."""
    reserved = process.reserved_by_engine
    if reserved is None:  # an older collector: tell from the engine
        reserved = fills_gpu_memory(process.attribution.engine)
    served = find(process.attribution.engine)
    used, total = process.used_memory_mib, gpu.memory_total_mib
    if not reserved or served is None or not used or not total or used < RESERVED_SHARE * total:
        return None
    metrics = next((e for e in engines if process.pid in e.pids), None) or next(
        (e for e in engines if e.engine == served.name and gpu.uuid in e.gpu_uuids), None
    )
    known = metrics.gpu_memory_utilization if metrics is not None else None
    return Reservation(
        engine_label=served.label,
        used_mib=used,
        total_mib=total,
        fraction=known if known is not None else served.default_memory_fraction,
        fraction_known=known is not None,
        kv_usage_ratio=metrics.kv_cache_usage_ratio if metrics is not None else None,
        kv_cache_size_tokens=metrics.kv_cache_size_tokens if metrics is not None else None,
    )
