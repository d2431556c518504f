"""Points in time given as text: epoch seconds or ISO-8601 (UTC when no zone is given)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

INSTANT_EXAMPLE = "2025-06-01T00:00:00Z or 1748736000"


class InstantError(ValueError):
    """Not a time we accept; `out_of_range` tells a negative or infinite number from gibberish."""

    def __init__(self, out_of_range: bool) -> None:
        super().__init__("out of range" if out_of_range else "not a time")
        self.out_of_range = out_of_range


def parse_instant(text: str) -> float:
    """Epoch seconds from epoch seconds or ISO-8601 text."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise InstantError(out_of_range=False) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    if not math.isfinite(seconds) or seconds < 0:
        raise InstantError(out_of_range=True)
    return seconds
