"""Points in time as callers give them: ISO-8601 text or epoch seconds.

The one parser of instants: the collector's `/v1/usage` and the plugin's usage parameters both
read `from`/`to` here, so a value means the same everywhere or is refused with the same
sentence. ISO-8601 without a zone is UTC and a date alone is midnight UTC. Refused, naming the
parameter: booleans, negative or non-finite numbers, anything after 9999-12-31 (which also
catches epoch milliseconds of any date after 1977).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from gpu_insight.errors import InputError, quoted

INSTANT_EXAMPLE = "2025-06-01T00:00:00Z or 1748736000"
LATEST_INSTANT_S = 253_402_300_799.0  # 9999-12-31T23:59:59Z: the last instant a date can print
MS_PER_S = 1000
# The text accepted, as one regular expression that the API's schema publishes too: a plain
# decimal (float() would also take '1_000', 'inf' and non-ASCII digits), or an ISO-8601 date
# with an optional time and zone (fromisoformat() would also take week dates and more); up to
# nine fraction digits, as Go writes them (Ollama), of which Python keeps six.
_DECIMAL_TEXT = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_ISO_8601_TEXT = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)
SPACE = " \t\r\n"  # stripped around a value
INSTANT_PATTERN = rf"^[ \t\r\n]*(?:{_DECIMAL_TEXT}|{_ISO_8601_TEXT})[ \t\r\n]*$"
_DECIMAL = re.compile(_DECIMAL_TEXT)
_ISO_8601 = re.compile(_ISO_8601_TEXT)


def parse_instant(value: object, name: str) -> float | None:
    """Epoch seconds from ISO-8601 text or epoch seconds (text or a number); None when `value`
    is None or blank text. Raises `InputError(parameter=name)` for anything else."""
    if value is None or (isinstance(value, str) and not value.strip(SPACE)):
        return None
    number = _number(value)
    if number is not None:
        seconds = number
    elif isinstance(value, str) and (moment := _iso_moment(value)) is not None:
        seconds = moment.timestamp()
    else:
        raise _refused(value, name, "is not an ISO-8601 time or epoch seconds")
    if math.isnan(seconds):
        raise _refused(value, name, "is out of range (not a number)")
    if seconds < 0:
        raise _refused(value, name, "is out of range (before 1970-01-01)")
    if seconds > LATEST_INSTANT_S:
        looks_like_ms = number is not None and number / MS_PER_S <= LATEST_INSTANT_S
        reason = "epoch milliseconds? give epoch seconds" if looks_like_ms else "after 9999-12-31"
        raise _refused(value, name, f"is out of range ({reason})")
    return seconds


def upstream_instant(value: object) -> float | None:
    """An instant another service wrote (an RFC 3339 time from Ollama or Alertmanager), or
    None where it wrote none we can read: Go's zero time, nothing, or nonsense."""
    try:
        return parse_instant(value, "instant")
    except InputError:
        return None


def _number(value: object) -> float | None:
    """`value` as a number of seconds when it is one (a number, or decimal text), else None."""
    if isinstance(value, bool):  # a bool is an int to Python, never a time to a caller
        return None
    if isinstance(value, int):
        if abs(value) < 10**300:
            return float(value)
        return math.inf if value > 0 else -math.inf  # past float's range
    if isinstance(value, float):
        return value
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip(SPACE)):
        return float(value)  # an over-long numeral is infinite, refused as out of range
    return None


def _iso_moment(text: str) -> datetime | None:
    text = text.strip(SPACE)
    if not _ISO_8601.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:  # no such day or time, e.g. 2025-13-01
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _refused(value: object, name: str, problem: str) -> InputError:
    return InputError(f"{name}: {quoted(value)} {problem}; use e.g. {INSTANT_EXAMPLE}.", name)
