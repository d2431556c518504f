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
from gpu_insight.answers.params import parse_optional_text
from gpu_insight.errors import InputError, SettingsError, quoted
from gpu_insight.estimate import VramEstimate, check_fit, estimate
from gpu_insight.estimate.request import VramRequest, request_error_text
from gpu_insight.schemas import Snapshot
from gpu_insight.sources.client import CollectorError
from gpu_insight.sources.fleet import Gathered

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
        raise InputError(request_error_text(exc)) from None


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


def answer_vram(
    request: VramRequest, snapshot: Callable[[], Gathered[Snapshot]] | None
) -> VramAnswer:
    """Estimate, and place on live GPUs when a snapshot can be had."""
    if snapshot is None:
        return VramAnswer(estimate(request))
    try:
        live = snapshot()
    except (CollectorError, SettingsError) as exc:
        answer = estimate(request)
        answer.notes.insert(0, f"live GPU data missing: {exc}")
        return VramAnswer(answer)
    answer = check_fit(request, live.value.gpus)
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


def _variables(answer: VramEstimate) -> dict[str, Variable]:
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
