"""Every form of instant that callers give as text, accepted or refused, with what it means.

The collector (over HTTP) and the plugin's usage parameters are both checked against this one
table, so they cannot drift apart again.
"""

from __future__ import annotations

JUNE_1_2025 = 1748736000.0

# (text, epoch seconds)
ACCEPTED: list[tuple[str, float]] = [
    ("1748736000", JUNE_1_2025),  # epoch seconds
    ("1748736000.25", JUNE_1_2025 + 0.25),  # with a fraction
    ("1.748736e9", JUNE_1_2025),  # in exponent notation
    ("0", 0.0),  # the epoch itself
    ("2025-06-01T00:00:00Z", JUNE_1_2025),  # ISO-8601 in UTC
    ("2025-06-01t00:00:00z", JUNE_1_2025),  # lower-case separators
    ("2025-06-01T02:00:00+02:00", JUNE_1_2025),  # with an offset
    ("2025-06-01T00:00:00", JUNE_1_2025),  # no zone: UTC
    ("2025-06-01", JUNE_1_2025),  # a date alone: midnight UTC
    ("9999-12-31T23:59:59Z", 253402300799.0),  # the last instant accepted
]

# (text, what the refusal says after the quoted value)
REFUSED: list[tuple[str, str]] = [
    ("1748736000000", "is out of range (epoch milliseconds? give epoch seconds)"),
    ("-5", "is out of range (before 1970-01-01)"),
    ("1969-12-31T23:59:59Z", "is out of range (before 1970-01-01)"),
    ("9999-12-31T23:59:59-01:00", "is out of range (after 9999-12-31)"),
    ("9300000000000000000", "is out of range (after 9999-12-31)"),  # past SQLite's integers
    ("9" * 400, "is out of range (after 9999-12-31)"),  # past float's range
    ("nan", "is not an ISO-8601 time or epoch seconds"),
    ("inf", "is not an ISO-8601 time or epoch seconds"),
    ("true", "is not an ISO-8601 time or epoch seconds"),
    ("1_000", "is not an ISO-8601 time or epoch seconds"),
    ("yesterday", "is not an ISO-8601 time or epoch seconds"),
    ("2025-13-01", "is not an ISO-8601 time or epoch seconds"),
]

EXAMPLE_TAIL = "; use e.g. 2025-06-01T00:00:00Z or 1748736000."
MAX_MESSAGE_CHARS = 200  # a refusal quotes at most 80 characters of the value
