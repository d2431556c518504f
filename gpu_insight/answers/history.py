"""Recent per-GPU history from every configured collector, as one answer (endpoint GET /history).

The dashboard served through Dify reads its charts from here, so it needs nothing but the
endpoint URL.
"""

from __future__ import annotations

import math
from typing import Any

from gpu_insight.errors import InputError, quoted
from gpu_insight.schemas import History
from gpu_insight.sources.fleet import Gathered, missing_json

DEFAULT_HISTORY_SECONDS = 900
MAX_HISTORY_SECONDS = 86_400  # the collector's coarse tier keeps 24 h


def parse_history_seconds(value: str | None) -> int:
    """The `seconds` query parameter: a whole number of seconds, 1 to 86400 (default 900)."""
    return _whole_seconds(value, "seconds") or DEFAULT_HISTORY_SECONDS


def parse_history_step(value: str | None) -> int | None:
    """The `step_s` query parameter: the points averaged into steps of this many seconds, 1 to
    86400 (a chart's width in points); None when absent."""
    return _whole_seconds(value, "step_s")


def _whole_seconds(value: str | None, name: str) -> int | None:
    if value is None or not value.strip():
        return None
    accepted = f"a number of seconds from 1 to {MAX_HISTORY_SECONDS}"
    try:
        seconds = float(value)
    except ValueError:
        raise InputError(
            f"{name}: {quoted(value)} is not accepted; use {accepted}.", name
        ) from None
    if not math.isfinite(seconds) or not 1 <= seconds <= MAX_HISTORY_SECONDS:
        raise InputError(f"{name}: {seconds:g} is out of range; use {accepted}.", name)
    return math.ceil(seconds)


def history_json(gathered: Gathered[History]) -> dict[str, Any]:
    """The merged history, and the collectors whose GPUs it lacks."""
    return {
        **gathered.value.model_dump(mode="json"),
        "missing_collectors": missing_json(gathered.missing),
    }
