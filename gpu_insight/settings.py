"""The plugin's settings (tool credentials and endpoint settings), parsed and checked.

The settings page and the endpoint settings share the same names: `collector_url` (one URL or
several separated by commas), `collector_token`, and for tools `price_per_gpu_hour`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

URL_EXAMPLE = "http://gpu-host:9470"
_URL_SEPARATORS = re.compile(r"[,\s]+")


class SettingsError(ValueError):
    """A setting is missing or malformed; the text names the setting and what is accepted."""


@dataclass(frozen=True)
class CollectorSettings:
    urls: tuple[str, ...]
    token: str | None
    price_per_gpu_hour: float | None = None


def parse_collector_urls(text: str | None) -> tuple[str, ...]:
    """Split `collector_url` into normalised base URLs (no trailing slash), keeping order."""
    parts = [p for p in _URL_SEPARATORS.split(text or "") if p]
    if not parts:
        raise SettingsError(
            f"collector_url is empty; enter the collector's URL, e.g. {URL_EXAMPLE}, or several "
            "separated by commas."
        )
    urls: list[str] = []
    for part in parts:
        # Checked before parsing and said without echoing the value, which holds a secret:
        # "admin:secret@host" without a scheme has no user name for urlsplit to find.
        if "@" in part:
            raise SettingsError(
                "collector_url must not contain a user name or password; put the token in "
                "collector_token instead."
            )
        try:
            split = urlsplit(part)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            raise _not_an_http_url(part) from None
        if split.scheme not in ("http", "https") or not split.hostname:
            raise _not_an_http_url(part)
        url = f"{split.scheme}://{split.netloc}{split.path}".rstrip("/")
        if split.query or split.fragment:
            # Only the base is echoed: a query may carry a token.
            raise SettingsError(
                f"collector_url {url!r} must not have a query or fragment; enter the base URL, "
                f"e.g. {URL_EXAMPLE}."
            )
        if url not in urls:
            urls.append(url)
    return tuple(urls)


def _not_an_http_url(part: str) -> SettingsError:
    return SettingsError(
        f"collector_url {part!r} is not an http(s) URL; enter e.g. {URL_EXAMPLE}, "
        "several separated by commas."
    )


def parse_price_per_gpu_hour(value: Any) -> float | None:
    """Optional non-negative price; empty means "not set"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        price = float(str(value).strip())
    except ValueError:
        price = math.nan
    if not math.isfinite(price) or price < 0:
        raise SettingsError(
            f"price_per_gpu_hour {value!r} is not accepted; enter a number of 0 or more, "
            "e.g. 2.5, or leave it empty."
        )
    return price


def collector_settings(values: Mapping[str, Any]) -> CollectorSettings:
    """Read tool credentials or endpoint settings into `CollectorSettings`."""
    token = values.get("collector_token")
    return CollectorSettings(
        urls=parse_collector_urls(values.get("collector_url")),
        token=str(token).strip() if token else None,
        price_per_gpu_hour=parse_price_per_gpu_hour(values.get("price_per_gpu_hour")),
    )
