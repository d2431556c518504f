"""Query parameters that need more than a type: instants and windows for `/v1/usage`.

Errors are `ValueError`s whose text names the parameter and what it accepts.
"""

from __future__ import annotations

from typing import get_args

from gpu_insight import instants
from gpu_insight.schemas import GroupBy, choice_of

DEFAULT_USAGE_WINDOW_S = 86400.0
GROUP_BY_VALUES: tuple[GroupBy, ...] = get_args(GroupBy)


def parse_instant(raw: str, name: str) -> float:
    """Epoch seconds from `raw`: a number of epoch seconds, or ISO-8601 (UTC when no offset)."""
    try:
        return instants.parse_instant(raw)
    except instants.InstantError as exc:
        if exc.out_of_range:
            raise ValueError(f"{name} must be non-negative epoch seconds, got {raw!r}") from None
        raise ValueError(
            f"{name} must be epoch seconds or an ISO-8601 time such as "
            f"2025-01-31T12:00:00Z, got {raw!r}"
        ) from None


def usage_window(raw_from: str | None, raw_to: str | None, now: float) -> tuple[float, float]:
    """(from_t, to_t): `to` defaults to now, `from` to 24 h before `to`; `from` must be earlier."""
    to_t = now if raw_to is None else parse_instant(raw_to, "to")
    from_t = to_t - DEFAULT_USAGE_WINDOW_S if raw_from is None else parse_instant(raw_from, "from")
    if from_t >= to_t:
        raise ValueError("from must be earlier than to")
    return from_t, to_t


def parse_group_by(raw: str) -> GroupBy:
    group_by = choice_of(raw, GROUP_BY_VALUES)
    if group_by is None:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY_VALUES)}, got {raw!r}")
    return group_by
