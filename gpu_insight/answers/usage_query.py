"""Parameters of a usage report (tool and `/usage.csv`): the time range, grouping and price.

`from`/`to` take precedence over `window`: `from` alone runs to now, `to` alone starts one
`window` earlier. Times are ISO-8601 (a time without a zone is UTC; a date alone is midnight UTC)
or epoch seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from gpu_insight.answers.params import parse_choice
from gpu_insight.errors import InputError, SettingsError, quoted
from gpu_insight.instants import parse_instant
from gpu_insight.schemas import MAX_USAGE_BUCKETS, GroupBy
from gpu_insight.sources.settings import parse_price_per_gpu_hour

WINDOWS_S: dict[str, float] = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}
DEFAULT_WINDOW = "24h"
GROUP_BYS: tuple[GroupBy, ...] = get_args(GroupBy)
DEFAULT_GROUP_BY: GroupBy = "app"
MINUTE_S = 60
MAX_BUCKET_S = 86400  # a day: the longest step a report is cut into


@dataclass(frozen=True)
class UsageQuery:
    from_t: float
    to_t: float
    group_by: GroupBy
    price_per_gpu_hour: float | None  # None: no price known, so no cost
    window: str | None  # the window used, or None for an explicit from/to
    bucket_s: int | None = None  # cut into steps of this length; None: one total only


def parse_time(value: Any, name: str) -> float | None:
    """Epoch seconds from ISO-8601 text or a number; None when empty (see `instants`)."""
    return parse_instant(value, name)


def parse_price(value: Any, name: str, default: float | None) -> float | None:
    """The price per GPU-hour: a number of 0 or more; empty falls back to `default`."""
    try:
        price = parse_price_per_gpu_hour(value)
    except SettingsError:
        raise InputError(
            f"{name}: {quoted(value)} is not accepted; use a number of 0 or more, e.g. 2.5, "
            "or leave it empty.",
            name,
        ) from None
    return default if price is None else price


def parse_bucket_s(value: Any, from_t: float, to_t: float) -> int | None:
    """The step length: whole minutes in seconds, up to a day, at most MAX_USAGE_BUCKETS steps
    in the window; empty means no steps."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    accepted = f"a whole number of minutes in seconds, {MINUTE_S} to {MAX_BUCKET_S}"
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdecimal() or len(text) > len(str(MAX_BUCKET_S)):
        raise InputError(f"bucket_s: {quoted(value)} is not accepted; use {accepted}.", "bucket_s")
    bucket_s = int(text)
    if bucket_s % MINUTE_S or not MINUTE_S <= bucket_s <= MAX_BUCKET_S:
        raise InputError(f"bucket_s: {bucket_s} is not accepted; use {accepted}.", "bucket_s")
    if (to_t - from_t) / bucket_s > MAX_USAGE_BUCKETS:
        raise InputError(
            f"bucket_s: {bucket_s} cuts the window into more than {MAX_USAGE_BUCKETS} steps; "
            "use a longer step or a shorter window.",
            "bucket_s",
        )
    return bucket_s


def parse_usage_query(
    params: Mapping[str, Any],
    *,
    default_price: float | None,
    price_name: str,
    now: float | None = None,
) -> UsageQuery:
    """Reads `window`, `from`, `to`, `group_by`, `bucket_s` and the price (`price_name`)."""
    now = time.time() if now is None else now
    window = parse_choice(params.get("window"), "window", tuple(WINDOWS_S), DEFAULT_WINDOW)
    group_by = parse_choice(params.get("group_by"), "group_by", GROUP_BYS, DEFAULT_GROUP_BY)
    price = parse_price(params.get(price_name), price_name, default_price)
    from_t, to_t = parse_time(params.get("from"), "from"), parse_time(params.get("to"), "to")
    if from_t is None and to_t is None:
        start = now - WINDOWS_S[window]
        bucket_s = parse_bucket_s(params.get("bucket_s"), start, now)
        return UsageQuery(start, now, group_by, price, window, bucket_s)
    if to_t is None:
        to_t = now
    if from_t is None:
        from_t = to_t - WINDOWS_S[window]
    if from_t >= to_t:
        raise InputError("from: must be earlier than to (and than now when to is empty).", "from")
    if from_t < 0:
        raise InputError(
            f"to: with window {window} the report would start before 1970; give a later to, "
            "or a from as well.",
            "to",
        )
    return UsageQuery(
        from_t, to_t, group_by, price, None, parse_bucket_s(params.get("bucket_s"), from_t, to_t)
    )
