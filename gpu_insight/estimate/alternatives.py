"""What would fit: the smallest changes to a request that does not fit that make it fit, each
tried with the same placement on the same GPUs, in the order a user would make them: a
quantized KV cache, a quantized checkpoint, a shorter context, fewer sequences, tensor parallel
over more GPUs of the host, and last an empty board of a larger type."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gpu_insight.engines import engine
from gpu_insight.errors import InputError
from gpu_insight.estimate.kv_cache import QUANTIZED_KV_DTYPES
from gpu_insight.estimate.placement import (
    COMMON_GPUS,
    MAX_COMMON_GPUS,
    CommonGpu,
    empty_boards,
    tp_candidates,
)
from gpu_insight.estimate.plans.common import largest_fitting
from gpu_insight.estimate.result import Alternative, Placement
from gpu_insight.estimate.sizing import Sizing
from gpu_insight.estimate.weights import GGUF_BITS_PER_PARAM
from gpu_insight.schemas import Gpu

# Checkpoint formats to suggest on engines that read safetensors, mildest first.
QUANTIZED_CHECKPOINTS = ("fp8", "awq")
FORMAT_BITS = {"fp32": 32, "bf16": 16, "fp16": 16, "fp8": 8, "int8": 8, "mxfp4": 4.25}
FORMAT_TEXT = {"fp8": "an FP8 checkpoint", "awq": "an AWQ int4 checkpoint"}


def what_would_fit(
    sizing: Sizing, gpus: list[Gpu], board: CommonGpu | None = None
) -> list[Alternative]:
    """The changes that make the request fit on `gpus` (empty boards of `board` when it is
    planned), best first; each is the first of its kind that fits."""
    return [
        alternative
        for attempt in _attempts(sizing, gpus, board)
        if (alternative := attempt()) is not None
    ]


Attempt = Callable[[], Alternative | None]


def _attempts(sizing: Sizing, gpus: list[Gpu], board: CommonGpu | None) -> Iterator[Attempt]:
    request, served = sizing.request, engine(sizing.request.engine)
    base = sizing.base

    if request.kv_cache_dtype not in QUANTIZED_KV_DTYPES and served.kv_cache_dtypes:
        dtype = next(iter(served.kv_cache_dtypes))
        yield lambda: _try(sizing, gpus, f"a {dtype.upper()} KV cache", kv_cache_dtype=dtype)

    def quantized() -> Alternative | None:
        for fmt in _smaller_formats(base.quantization, served.reads_gguf):
            found = _try(sizing, gpus, _format_text(fmt), quantization=fmt)
            if found is not None:
                return found
        return None

    yield quantized

    def shorter() -> Alternative | None:
        context = largest_fitting(
            lambda c: _fits(sizing.changed(context_length=c), gpus) is not None,
            base.context_length - 1,
        )
        return _try(sizing, gpus, "a shorter context", context_length=context) if context else None

    def fewer() -> Alternative | None:
        sequences = largest_fitting(
            lambda n: _fits(sizing.changed(concurrency=n), gpus) is not None,
            base.concurrency - 1,
        )
        return _try(sizing, gpus, "fewer sequences", concurrency=sequences) if sequences else None

    yield shorter
    yield fewer

    if sizing.fixed_tp is not None:

        def wider() -> Alternative | None:
            for tp in tp_candidates(request.engine, None, sizing.model.spec, len(gpus)):
                if tp > sizing.fixed_tp:  # type: ignore[operator]
                    found = _try(
                        sizing, gpus, f"tensor parallel over {tp} GPUs", tensor_parallel=tp
                    )
                    if found is not None:
                        return found
            return None

        yield wider

    def larger_board() -> Alternative | None:
        current = (
            board.usable_mib if board else max((g.memory_total_mib or 0 for g in gpus), default=0)
        )
        fitting = []
        for other in COMMON_GPUS:
            if other.usable_mib <= current:
                continue
            boards = empty_boards(other, max(MAX_COMMON_GPUS, base.gpus))
            placement = _fits(sizing, boards)
            if placement is not None:
                fitting.append((len(placement.gpu_indices), other.usable_mib, other))
        if not fitting:
            return None
        other = min(fitting, key=lambda f: f[:2])[2]
        return _try(
            sizing,
            empty_boards(other, max(MAX_COMMON_GPUS, base.gpus)),
            f"an empty {other.name} host",
            gpu_type=other.keys[0],
        )

    yield larger_board


def _smaller_formats(current: str, gguf: bool) -> list[str]:
    if gguf:
        bits = GGUF_BITS_PER_PARAM.get(current, 16.0)
        return sorted(
            (f for f, b in GGUF_BITS_PER_PARAM.items() if b < bits),
            key=lambda f: -GGUF_BITS_PER_PARAM[f],
        )
    bits = FORMAT_BITS.get(current, 4.0)
    return [f for f in QUANTIZED_CHECKPOINTS if FORMAT_BITS.get(f, 4.0) < bits]


def _format_text(fmt: str) -> str:
    return FORMAT_TEXT.get(fmt, f"a {fmt.upper()} GGUF file")


def _fits(sizing: Sizing, gpus: list[Gpu]) -> Placement | None:
    try:
        placement = sizing.place(gpus)
    except InputError:  # the change is not valid for this model or engine
        return None
    return placement if placement is not None and placement.fits else None


def _try(sizing: Sizing, gpus: list[Gpu], what: str, **update: Any) -> Alternative | None:
    changed = sizing.changed(**update)
    placement = _fits(changed, gpus)
    if placement is None:
        return None
    planned = "gpu_type" in update
    where = _where(placement, planned)
    parameters = dict(update)
    settings = changed.base
    said = ", ".join(
        f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in parameters.items()
    )
    text = (
        f"{what} ({said}): serves {settings.concurrency} × {settings.context_length:,} "
        f"tokens on {where}, holding {placement.process_mib:,.0f} MiB per GPU with a KV cache "
        f"of {placement.kv_cache_tokens:,} tokens; flags: {placement.flags or 'none'}"
    )
    return Alternative(
        change=next(iter(update)),
        parameters=parameters,
        text=text,
        where=where,
        process_mib=placement.process_mib,
        kv_cache_tokens=placement.kv_cache_tokens,
        max_context_tokens=placement.max_context_tokens,
        max_concurrency=placement.max_concurrency,
        flags=placement.flags,
    )


def _where(placement: Placement, planned: bool) -> str:
    count = len(placement.gpu_indices)
    if planned:
        return f"{count} × {placement.gpu_names[0]}"
    gpus = ", ".join(f"GPU {i}" for i in placement.gpu_indices)
    return f"{gpus} of {placement.host}" if placement.host else gpus
