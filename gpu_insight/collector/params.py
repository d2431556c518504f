"""Query parameters that need more than a type: the window of `/v1/usage`.

Instants are read by `gpu_insight.instants`, the parser the plugin uses too; errors are
`InputError`s that name the parameter.
"""

from __future__ import annotations

from gpu_insight.errors import InputError
from gpu_insight.instants import parse_instant

DEFAULT_USAGE_WINDOW_S = 86400.0


def usage_window(raw_from: str | None, raw_to: str | None, now: float) -> tuple[float, float]:
    """(from_t, to_t): `to` defaults to now, `from` to 24 h before `to`; `from` must be earlier.

    A parameter given blank is refused: on the wire, absent is how to ask for the default."""
    to_t = _given_instant(raw_to, "to")
    if to_t is None:
        to_t = now
    from_t = _given_instant(raw_from, "from")
    if from_t is None:
        from_t = to_t - DEFAULT_USAGE_WINDOW_S
    if from_t >= to_t:
        raise InputError("from: must be earlier than to (and than now when to is absent).", "from")
    return from_t, to_t


def _given_instant(raw: str | None, name: str) -> float | None:
    seconds = parse_instant(raw, name)
    if seconds is None and raw is not None:
        raise InputError(
            f"{name}: give an ISO-8601 time or epoch seconds, or leave the parameter out.", name
        )
    return seconds
