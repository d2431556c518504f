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

from gpu_insight.errors import SettingsError, quoted

URL_EXAMPLE = "http://gpu-host:9470"
PRICE_SETTING = "price_per_gpu_hour"
_URL_SEPARATORS = re.compile(r"[,\s]+")


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
            "separated by commas.",
            "collector_url",
        )
    urls: list[str] = []
    for part in parts:
        # Checked before parsing and said without echoing the value, which holds a secret:
        # "admin:secret@host" without a scheme has no user name for urlsplit to find.
        if "@" in part:
            raise SettingsError(
                "collector_url must not contain a user name or password; put the token in "
                "collector_token instead.",
                "collector_url",
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
                f"collector_url {quoted(url)} must not have a query or fragment; enter the base "
                f"URL, e.g. {URL_EXAMPLE}.",
                "collector_url",
            )
        if url not in urls:
            urls.append(url)
    return tuple(urls)


def _not_an_http_url(part: str) -> SettingsError:
    return SettingsError(
        f"collector_url {quoted(part)} is not an http(s) URL; enter e.g. {URL_EXAMPLE}, "
        "several separated by commas.",
        "collector_url",
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
            f"price_per_gpu_hour {quoted(value)} is not accepted; enter a number of 0 or more, "
            "e.g. 2.5, or leave it empty.",
            "price_per_gpu_hour",
        )
    return price


def parse_token(value: Any, name: str) -> str | None:
    """A bearer token: printable ASCII (HTTP headers carry nothing else), or empty for none.
    The message never quotes it."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SettingsError(f"{name} must be text; paste the token as it was issued.", name)
    token = value.strip()
    if token and not (token.isascii() and token.isprintable() and " " not in token):
        raise SettingsError(
            f"{name} holds a character that cannot be sent in an HTTP header (a space, a "
            "non-ASCII or an invisible character, often pasted along); paste the token again "
            "as plain text.",
            name,
        )
    return token or None


def collector_settings(values: Mapping[str, Any]) -> CollectorSettings:
    """Read tool credentials or endpoint settings into `CollectorSettings`."""
    url = values.get("collector_url")
    if url is not None and not isinstance(url, str):
        raise SettingsError(
            f"collector_url must be text, e.g. {URL_EXAMPLE}, several separated by commas.",
            "collector_url",
        )
    return CollectorSettings(
        urls=parse_collector_urls(url),
        token=parse_token(values.get("collector_token"), "collector_token"),
        price_per_gpu_hour=parse_price_per_gpu_hour(values.get("price_per_gpu_hour")),
    )
