"""Query parameters that need more than a type: the window of `/v1/usage`.

Instants are read by `gpu_insight.instants`, the parser the plugin uses too; errors are
`InputError`s that name the parameter.
"""

from __future__ import annotations

from gpu_insight.errors import InputError
from gpu_insight.instants import parse_instant

DEFAULT_USAGE_WINDOW_S = 86400.0


def usage_window(raw_from: str | None, raw_to: str | None, now: float) -> tuple[float, float]:
    """(from_t, to_t): `to` defaults to now, `from` to 24 h before `to`; `from` must be earlier."""
    to_t = parse_instant(raw_to, "to")
    if to_t is None:
        to_t = now
    from_t = parse_instant(raw_from, "from")
    if from_t is None:
        from_t = to_t - DEFAULT_USAGE_WINDOW_S
    if from_t >= to_t:
        raise InputError("from: must be earlier than to (and than now when to is absent).", "from")
    return from_t, to_t
