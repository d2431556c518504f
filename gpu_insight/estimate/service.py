"""The `vram_check` question end to end, shared by the tool and `POST /vram-check`.

Parameters arrive as loose JSON (strings from Dify forms, numbers from HTTP bodies); live GPUs
come from a snapshot callable so that a missing collector only removes the live part.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from gpu_insight.client import CollectorError
from gpu_insight.estimate import EstimateError, VramEstimate, check_fit, estimate
from gpu_insight.estimate.request import VramRequest, request_error_text
from gpu_insight.schemas import Snapshot
from gpu_insight.settings import SettingsError

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
)


class VramCheckError(ValueError):
    """Bad parameters; the message names them and the accepted values."""


def request_from_params(params: Mapping[str, Any]) -> VramRequest:
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise VramCheckError(
            f"unknown parameter(s): {', '.join(unknown)}; accepted: {', '.join(PARAMETERS)}"
        )
    values: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, str):
            value = value.strip()
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
        raise VramCheckError(request_error_text(exc)) from exc


def _whole(value: Any, name: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise VramCheckError(f"{name} must be a whole number, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise VramCheckError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def vram_check(params: Mapping[str, Any], snapshot: Callable[[], Snapshot] | None) -> VramEstimate:
    """Estimate, and place on live GPUs when a snapshot can be had."""
    request = request_from_params(params)
    try:
        if snapshot is None:
            return estimate(request)
        try:
            live = snapshot()
        except (CollectorError, SettingsError) as exc:
            answer = estimate(request)
            answer.notes.insert(0, f"live GPU data missing: {exc}")
            return answer
        return check_fit(request, live.gpus)
    except EstimateError as exc:
        raise VramCheckError(str(exc)) from exc


def summary_text(answer: VramEstimate) -> str:
    need = (
        f"{answer.model} on {answer.engine} ({answer.quantization}, "
        f"{answer.context_length:,} tokens × {answer.concurrency}) needs "
        f"{answer.need_mib_per_gpu:,.0f} MiB per GPU"
    )
    if answer.placement is not None:
        p = answer.placement
        where = ", ".join(f"GPU {i}" for i in p.gpu_indices)
        host = f" on {p.host}" if p.host else ""
        return (
            f"{need}; fits now on {where}{host}: holds {answer.required_mib:,.0f} MiB, "
            f"headroom {p.headroom_mib:,.0f} MiB, up to {p.max_context_tokens:,} tokens of "
            f"context. Flags: {p.flags}"
        )
    if answer.live_data:
        return f"{need}; it does not fit on any GPU now. {(answer.errors or [''])[0]}".strip()
    boards = [c.name for c in answer.common_gpus if c.gpus_needed == 1]
    return (
        f"{need}; no live GPU data. Fits one empty "
        f"{', '.join(boards[:4]) if boards else 'common GPU: none'}."
    )


def variables(answer: VramEstimate) -> dict[str, Any]:
    placement = answer.placement
    best = ""
    if placement is not None:
        host = f"{placement.host}:" if placement.host else ""
        best = host + ",".join(str(i) for i in placement.gpu_indices)
    return {
        "fits": bool(answer.fits),
        "required_mib": answer.required_mib,
        "best_gpu": best,
        "headroom_mib": placement.headroom_mib if placement else 0.0,
        "max_context_tokens": placement.max_context_tokens if placement else 0,
    }
