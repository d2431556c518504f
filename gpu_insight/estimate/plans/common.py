"""What every engine's memory plan is made of: the resolved request, the GPU it is planned for,
the plan itself, and the arithmetic the plans share (breakdown lines, KV capacity, the one
search for the largest context that fits, the memory fraction that fits what is free)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gpu_insight.engines import Launch, engine
from gpu_insight.estimate.kv_cache import KvLayout, kv_layout
from gpu_insight.estimate.overheads import MIB, SAFETY_MARGIN_MIB
from gpu_insight.estimate.request import MAX_CONCURRENCY
from gpu_insight.estimate.result import BreakdownLine
from gpu_insight.estimate.spec import ModelSpec
from gpu_insight.schemas import KnownEngine


@dataclass(frozen=True)
class Settings:
    """A resolved request: the spec plus every engine knob as a number."""

    spec: ModelSpec
    engine: KnownEngine
    weight_bytes: int
    weight_text: str
    kv_element_bytes: float
    kv_dtype: str
    quantization: str
    context_length: int
    concurrency: int
    tensor_parallel: int
    pipeline_parallel: int
    gpu_memory_utilization: float | None
    enforce_eager: bool
    flash_attention: bool  # GGUF servers: with the flash-attention kernel

    @property
    def gpus(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel


@dataclass(frozen=True)
class GpuTarget:
    """One GPU type of a placement; `free_mib` None when it is not live."""

    name: str
    total_mib: float
    free_mib: float | None = None


@dataclass
class Plan:
    """One GPU's share of an engine start. The engine starts when `errors` is empty and
    `start_mib` is free; the requested work fits when it also serves `concurrency` sequences
    of `context_length` tokens (`max_concurrency` ≥ concurrency)."""

    lines: list[BreakdownLine]
    need_mib: float  # what the requested context × concurrency needs per GPU
    holds_mib: float  # what the engine process holds per GPU, as NVML reports it
    start_mib: float  # what must be free on each GPU for the engine to start
    max_context_tokens: int  # per sequence, at the requested concurrency
    max_concurrency: int  # sequences of the requested context served at once
    kv_cache_tokens: int  # tokens its KV cache holds (all layers at full length)
    flags: list[str]
    errors: list[str] = field(default_factory=list)  # predicted startup failures
    notes: list[str] = field(default_factory=list)

    def starts(self, free_mib: float | None) -> bool:
        return not self.errors and (free_mib is None or self.start_mib <= free_mib)

    def serves(self, concurrency: int, free_mib: float | None) -> bool:
        return self.starts(free_mib) and self.max_concurrency >= concurrency


Planner = Callable[[Settings, GpuTarget | None], Plan]


def line(name: str, num_bytes: float, formula: str) -> BreakdownLine:
    return BreakdownLine(name=name, mib=round(num_bytes / MIB, 1), formula=formula)


def kv_for(settings: Settings, honour_sliding: bool = True) -> KvLayout:
    return kv_layout(
        settings.spec,
        settings.kv_element_bytes,
        settings.tensor_parallel,
        settings.pipeline_parallel,
        honour_sliding,
        state_element_bytes=4.0 if settings.quantization == "fp32" else 2.0,
    )


def largest_fitting(fits: Callable[[int], bool], cap: int) -> int:
    """The largest n in 0..cap with `fits(n)`, for a `fits` that turns false once and stays."""
    lo, hi = 0, cap
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def largest_context(
    layout: KvLayout, budget_bytes: float, sequences: int, cap: int, slack: int = 0
) -> int:
    """Largest tokens-per-sequence whose KV for `sequences` fits `budget_bytes` (≤ cap)."""
    if layout.bytes_per_token_layer == 0:
        return cap
    return largest_fitting(
        lambda tokens: layout.sequence_bytes(tokens, slack) * sequences <= budget_bytes, cap
    )


def without_gpu(
    s: Settings,
    lines: list[BreakdownLine],
    need_mib: float,
    flags: list[str],
    notes: list[str] | None = None,
) -> Plan:
    """The plan for no GPU in particular: the engine holds what the requested load needs."""
    return Plan(
        lines=lines,
        need_mib=need_mib,
        holds_mib=need_mib,
        start_mib=need_mib,
        max_context_tokens=s.context_length,
        max_concurrency=s.concurrency,
        kv_cache_tokens=s.context_length * s.concurrency if s.spec.has_kv_cache else 0,
        flags=flags,
        notes=notes or [],
    )


def with_kv_pool(
    s: Settings,
    layout: KvLayout,
    pool_bytes: float,
    *,
    lines: list[BreakdownLine],
    need_mib: float,
    holds_mib: float,
    start_mib: float,
    flags: list[str],
    errors: list[str],
) -> Plan:
    """The plan of an engine whose KV pool of `pool_bytes` sets what it serves: the largest
    context at the requested concurrency, how many sequences of the requested context fit,
    and the tokens the pool holds. A model without a KV cache serves what it is sent once
    it starts."""
    pool = max(pool_bytes, 0.0)
    one = layout.sequence_bytes(s.context_length)
    return Plan(
        lines=lines,
        need_mib=need_mib,
        holds_mib=holds_mib,
        start_mib=start_mib,
        max_context_tokens=largest_context(
            layout, pool, s.concurrency, s.spec.max_position_embeddings
        ),
        max_concurrency=int(pool // one) if one else s.concurrency,
        kv_cache_tokens=layout.tokens_held(pool, s.concurrency),
        flags=flags,
        errors=errors,
    )


def largest_batch(fits: Callable[[int], bool]) -> int:
    """The most sequences (up to the request limit) for which `fits` holds."""
    return largest_fitting(fits, MAX_CONCURRENCY)


def weights_line(s: Settings) -> tuple[float, BreakdownLine]:
    per_gpu = s.weight_bytes / s.gpus
    split = f" ÷ {s.gpus} GPUs" if s.gpus > 1 else ""
    return per_gpu, line("weights", per_gpu, f"{s.weight_text}{split}")


def kv_line(
    layout: KvLayout,
    tokens: int,
    sequences: int,
    slack: int = 0,
    label: str = "kv_cache",
) -> tuple[float, BreakdownLine]:
    kv = layout.sequence_bytes(tokens, slack) * sequences
    window = (
        f"; {layout.sliding_layers} sliding layers hold ≤ {layout.window - slack} tokens"
        if layout.window
        else ""
    )
    chunk = (
        f"; {layout.chunked_layers} chunked layers hold ≤ {layout.chunk:,} tokens"
        if layout.chunk
        else ""
    )
    state = f"; + {sequences} × {layout.state_explanation}" if layout.state_bytes else ""
    return kv, line(
        label,
        kv,
        f"{sequences} × {tokens:,} tokens × {layout.layers} layers × {layout.explanation}"
        f"{window}{chunk}{state}",
    )


def fraction_that_fits(
    need_mib: float, gpu: GpuTarget, default: float, outside_mib: float = 0
) -> float:
    """The engine's default memory fraction when it fits in what is free now, else what is
    free (less a margin and what the engine holds outside its fraction)."""
    if gpu.free_mib is None:
        return default
    fits_free = (gpu.free_mib - SAFETY_MARGIN_MIB - outside_mib) / gpu.total_mib
    chosen = min(default, int(fits_free * 100) / 100)
    return max(chosen, 0.01) if chosen > 0 else max(round(need_mib / gpu.total_mib, 2), 0.01)


def engine_flags(s: Settings, memory_fraction: float | None = None) -> list[str]:
    """The command line the registry renders for these settings."""
    return engine(s.engine).command_flags(
        Launch(
            context_length=s.context_length,
            sequences=s.concurrency,
            memory_fraction=memory_fraction,
            tensor_parallel=s.tensor_parallel,
            pipeline_parallel=s.pipeline_parallel,
            quantization=s.quantization,
            checkpoint_quantization=s.spec.checkpoint_quantization,
            kv_cache_dtype=s.kv_dtype,
            enforce_eager=s.enforce_eager,
            flash_attention=s.flash_attention,
        )
    )
