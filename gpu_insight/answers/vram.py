"""What `vram_check` answers, shared by the tool and `POST /vram-check`.

Parameters arrive as loose JSON (strings from Dify forms, numbers from HTTP bodies); live GPUs
come from a snapshot callable so that a missing collector only removes the live part.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gpu_insight.answers.answer import Variable
from gpu_insight.answers.models import resolve_model
from gpu_insight.answers.params import parse_optional_text
from gpu_insight.errors import InputError, SettingsError, quoted
from gpu_insight.estimate import VramEstimate, check_fit, estimate
from gpu_insight.estimate.placement import PLACEMENT_GPU_FIELDS
from gpu_insight.estimate.request import (
    VramRequest,
    request_error_parameter,
    request_error_text,
)
from gpu_insight.estimate.result import Placement
from gpu_insight.schemas import Snapshot
from gpu_insight.sources.client import CollectorError
from gpu_insight.sources.fleet import Gathered
from gpu_insight.sources.source import GpuSource

PARAMETERS = (
    "model",
    "model_config",
    "engine",
    "quantization",
    "context_length",
    "concurrency",
    "tensor_parallel",
    "pipeline_parallel",
    "kv_cache_dtype",
    "gpu_memory_utilization",
    "enforce_eager",
    "flash_attention",
    "gpu_type",
)


def parse_vram_request(params: Mapping[str, Any]) -> VramRequest:
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        shown = ", ".join(quoted(name, 40) for name in unknown[:5])
        raise InputError(
            f"unknown parameter(s): {shown}; accepted: {', '.join(PARAMETERS)}", unknown[0]
        )
    values: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, str):
            value = value.strip()
            if name != "model_config":  # a pasted config is long; the body bound covers it
                value = parse_optional_text(value, name)
        if name == "model_config":
            values["model_config_json"] = value
        # A tuple, not a set: a list or object value must reach validation, not fail to hash.
        elif name == "gpu_memory_utilization" and value in ("auto", 0):
            continue
        elif (name == "tensor_parallel" and value != "auto") or name in {
            "context_length",
            "concurrency",
            "pipeline_parallel",
        }:
            values[name] = _whole(value, name)
        else:
            values[name] = value
    try:
        return VramRequest(**values)
    except ValidationError as exc:
        raise InputError(request_error_text(exc), request_error_parameter(exc)) from None


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool):  # JSON true is not the number 1
        raise InputError(f"{name} must be a whole number, got {value!r}", name)
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name} must be a whole number, got {quoted(value)}", name) from None
    if not math.isfinite(number) or number != int(number):
        raise InputError(f"{name} must be a whole number, got {quoted(value)}", name)
    return int(number)


@dataclass(frozen=True)
class VramAnswer:
    estimate: VramEstimate

    def as_json(self) -> dict[str, Any]:
        return self.estimate.model_dump(mode="json")

    def text(self) -> str:
        return _summary_text(self.estimate)

    def variables(self) -> dict[str, Variable]:
        return _variables(self.estimate)


def live_gpus(source: GpuSource) -> Gathered[Snapshot]:
    """The GPUs now, with what a placement reads of them."""
    return source.snapshot(with_processes=False, gpu_fields=PLACEMENT_GPU_FIELDS)


def answer_vram(
    request: VramRequest,
    snapshot: Callable[[], Gathered[Snapshot]] | None,
    settings: Mapping[str, Any] | None = None,
) -> VramAnswer:
    """Resolve the model (pasted, catalog, or the Hub named in `settings`), estimate, and
    place on live GPUs when a snapshot can be had; a request that names a `gpu_type` is
    planned on empty boards of it and reads no collector."""
    model = resolve_model(request, settings or {})
    if snapshot is None or request.gpu_type:
        return VramAnswer(estimate(request, model))
    try:
        live = snapshot()
    except (CollectorError, SettingsError) as exc:
        answer = estimate(request, model)
        answer.notes.insert(0, f"live GPU data missing: {exc}")
        return VramAnswer(answer)
    answer = check_fit(request, live.value.gpus, model)
    answer.notes[:0] = [f"live GPU data missing for a collector: {m.reason}" for m in live.missing]
    if live.value.prometheus_url is not None:
        answer.notes.insert(0, _read_through(live.value))
    return VramAnswer(answer)


def _read_through(snapshot: Snapshot) -> str:
    """Which exporters' series the live GPUs came from, read through which Prometheus."""
    counts = Counter(g.exporter for g in snapshot.gpus if g.exporter is not None)
    parts = ", ".join(f"{n} from {exporter}" for exporter, n in sorted(counts.items()))
    return f"live GPU data read through Prometheus at {snapshot.prometheus_url}: {parts}"


def _summary_text(answer: VramEstimate) -> str:
    """One line that says what fits: never "fits" for a request the engine cannot serve."""
    work = f"{answer.context_length:,} tokens × {answer.concurrency}"
    p = answer.placement
    need_tp = answer.need_tensor_parallel
    per_gpu = (
        "per GPU"
        if p is None or p.tensor_parallel == need_tp
        else ("on one GPU" if need_tp == 1 else f"per GPU at tensor parallel {need_tp}")
    )
    need = (
        f"{answer.model} on {answer.engine} ({answer.quantization}, {work}) needs "
        f"{answer.need_mib_per_gpu:,.0f} MiB {per_gpu}"
    )
    if p is not None and answer.fits:
        serves = (
            f"a KV cache of {p.kv_cache_tokens:,} tokens, serves up to {p.max_concurrency} × "
            f"{answer.context_length:,} tokens"
            if answer.kv_per_token_kib
            else "no KV cache (batches keep none between requests)"
        )
        return (
            f"{need}; fits {_where(answer, p)}: holds {p.process_mib:,.0f} MiB per GPU with "
            f"{serves}, headroom {p.headroom_mib:,.0f} MiB. Flags: {p.flags}"
        )
    would_fit = f" Would fit: {answer.alternatives[0].text}." if answer.alternatives else ""
    if p is not None:
        served = p.max_concurrency
        return (
            f"{need}; starts {_where(answer, p)}, but holds {p.max_context_tokens:,} tokens × "
            f"{answer.concurrency}, not {work}; at {answer.context_length:,} tokens it serves "
            f"{served} sequence{'' if served == 1 else 's'}.{would_fit}"
        )
    if answer.live_data or answer.gpu_type:
        where = f"an empty {answer.gpu_type}" if answer.gpu_type else "any GPU now"
        error = (answer.errors or [""])[0].removeprefix("does not start: ").rstrip(".")
        why = f": {error}" if error else ""
        return f"{need}; it does not start on {where}{why}.{would_fit}"
    boards = [c.name for c in answer.common_gpus if c.gpus_needed == 1]
    return (
        f"{need}; no live GPU data. Fits one empty "
        f"{', '.join(boards[:4]) if boards else 'common GPU: none'}."
    )


def _where(answer: VramEstimate, p: Placement) -> str:
    if answer.gpu_type:
        count = len(p.gpu_indices)
        return f"on {count} empty {answer.gpu_type}{' boards' if count > 1 else ''} (planned)"
    gpus = ", ".join(f"GPU {i}" for i in p.gpu_indices)
    return f"now on {gpus}{f' on {p.host}' if p.host else ''}"


def _variables(answer: VramEstimate) -> dict[str, Variable]:
    placement = answer.placement
    best = ""
    if placement is not None:
        host = f"{placement.host}:" if placement.host else ""
        best = host + ",".join(str(i) for i in placement.gpu_indices)
    return {
        "fits": bool(answer.fits),
        "starts": bool(answer.starts),
        "required_mib": answer.required_mib,
        "best_gpu": best,
        "headroom_mib": placement.headroom_mib if placement else 0.0,
        "max_context_tokens": placement.max_context_tokens if placement else 0,
        "max_concurrency": placement.max_concurrency if placement else 0,
        "kv_cache_tokens": placement.kv_cache_tokens if placement else 0,
        "alternative": answer.alternatives[0].text if answer.alternatives else "",
    }
