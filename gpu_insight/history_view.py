"""Recent per-GPU history from every configured collector, as one answer (endpoint GET /history).

The dashboard served through Dify reads its charts from here, so it needs nothing but the
endpoint URL. GPU UUIDs are unique across hosts, so the GPUs of several collectors sit side by
side without relabelling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gpu_insight.client import CollectorClient
from gpu_insight.schemas import History, Source
from gpu_insight.tool_params import ParameterError

DEFAULT_HISTORY_SECONDS = 900
MAX_HISTORY_SECONDS = 86_400  # the collector's coarse tier keeps 24 h


def parse_history_seconds(value: str | None) -> int:
    """The `seconds` query parameter: a whole number of seconds, 1 to 86400 (default 900)."""
    if value is None or not value.strip():
        return DEFAULT_HISTORY_SECONDS
    accepted = f"a number of seconds from 1 to {MAX_HISTORY_SECONDS}"
    try:
        seconds = float(value)
    except ValueError:
        raise ParameterError(f"seconds: {value[:32]!r} is not accepted; use {accepted}.") from None
    if not math.isfinite(seconds) or not 1 <= seconds <= MAX_HISTORY_SECONDS:
        raise ParameterError(f"seconds: {seconds:g} is out of range; use {accepted}.")
    return math.ceil(seconds)


def merge_histories(histories: Sequence[History]) -> History:
    """One history for several hosts: every GPU's points; the window common to all answers
    ends at the oldest host's newest sample, and the source is `replay` if any host replays."""
    if not histories:
        raise ValueError("nothing to merge")
    if len(histories) == 1:
        return histories[0]
    source: Source = "replay" if any(h.source == "replay" for h in histories) else "nvml"
    return History(
        host=",".join(h.host for h in histories),
        source=source,
        resolution_s=max(h.resolution_s for h in histories),
        from_t=min(h.from_t for h in histories),
        to_t=min(h.to_t for h in histories),
        gpus=[gpu for h in histories for gpu in h.gpus],
    )


def fleet_history(clients: Sequence[CollectorClient], seconds: int) -> History:
    """Each collector's last `seconds` of history, merged; the first failure is raised."""
    return merge_histories([client.history(seconds) for client in clients])
