"""The plugin's settings (tool credentials and endpoint settings), parsed and checked.

The settings page and the endpoint settings share the same names: `collector_url` (one URL or
several separated by commas), `collector_token`, `hf_endpoint` and `hf_token` (where models
that are not in the catalog are read), and for tools `price_per_gpu_hour` and `gpu_prices` (a
price per GPU-hour for each GPU type, `H100=2.5, L40S=1.1, L4=0.6`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gpu_insight.errors import SettingsError, quoted

URL_EXAMPLE = "http://gpu-host:9470"
PUBLIC_HUB = "https://huggingface.co"
MIRROR_EXAMPLE = "https://hf-mirror.com"
GPU_PRICES_EXAMPLE = "H100=2.5, L40S=1.1, L4=0.6"
MAX_GPU_PRICES = 64
PRICE_SETTING = "price_per_gpu_hour"
_URL_SEPARATORS = re.compile(r"[,\s]+")
_GPU_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}")


@dataclass(frozen=True)
class CollectorSettings:
    urls: tuple[str, ...]
    token: str | None
    price_per_gpu_hour: float | None = None
    gpu_prices: dict[str, float] = field(default_factory=dict)  # GPU type → price per GPU-hour


@dataclass(frozen=True)
class HubSettings:
    """Where model repositories are read: the public Hub or a mirror, and an optional token."""

    endpoint: str
    token: str | None


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
        url = _base_url(
            part,
            "collector_url",
            "collector_token",
            URL_EXAMPLE,
            f"enter e.g. {URL_EXAMPLE}, several separated by commas.",
        )
        if url not in urls:
            urls.append(url)
    return tuple(urls)


def _base_url(part: str, name: str, token_name: str, example: str, advice: str) -> str:
    """One http(s) base URL without user, query or fragment, and without a trailing slash."""
    # Checked before parsing and said without echoing the value, which holds a secret:
    # "admin:secret@host" without a scheme has no user name for urlsplit to find.
    if "@" in part:
        raise SettingsError(
            f"{name} must not contain a user name or password; put the token in "
            f"{token_name} instead.",
            name,
        )
    try:
        split = urlsplit(part)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise _not_an_http_url(part, name, advice) from None
    if split.scheme not in ("http", "https") or not split.hostname:
        raise _not_an_http_url(part, name, advice)
    url = f"{split.scheme}://{split.netloc}{split.path}".rstrip("/")
    if split.query or split.fragment:
        # Only the base is echoed: a query may carry a token.
        raise SettingsError(
            f"{name} {quoted(url)} must not have a query or fragment; enter the base "
            f"URL, e.g. {example}.",
            name,
        )
    return url


def _not_an_http_url(part: str, name: str, advice: str) -> SettingsError:
    return SettingsError(f"{name} {quoted(part)} is not an http(s) URL; {advice}", name)


def hub_settings(values: Mapping[str, Any]) -> HubSettings:
    """`hf_endpoint` (empty: the public Hub) and `hf_token` from tool credentials or endpoint
    settings."""
    endpoint = values.get("hf_endpoint")
    if endpoint is not None and not isinstance(endpoint, str):
        raise SettingsError(f"hf_endpoint must be text, e.g. {PUBLIC_HUB}.", "hf_endpoint")
    text = (endpoint or "").strip()
    return HubSettings(
        endpoint=_base_url(
            text,
            "hf_endpoint",
            "hf_token",
            MIRROR_EXAMPLE,
            f"enter e.g. {MIRROR_EXAMPLE}, or leave it empty for the public Hub.",
        )
        if text
        else PUBLIC_HUB,
        token=parse_token(values.get("hf_token"), "hf_token"),
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


def parse_gpu_prices(value: Any) -> dict[str, float]:
    """`H100=2.5, L40S=1.1`: a price per GPU-hour per GPU type, in the order given; empty
    means none. A type is the word the GPU's name holds (`H100` for "NVIDIA H100 80GB HBM3");
    several words narrow it (`A100 40GB`)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if not isinstance(value, str):
        raise _bad_gpu_prices("must be text")
    prices: dict[str, float] = {}
    for entry in (part.strip() for part in value.replace(";", ",").split(",")):
        if not entry:
            continue
        name, equals, price_text = entry.partition("=")
        name = " ".join(name.split())
        if not equals or not _GPU_TYPE.fullmatch(name):
            raise _bad_gpu_prices(f"has {quoted(entry)}, not TYPE=PRICE")
        try:
            price = parse_price_per_gpu_hour(price_text)
        except SettingsError:
            price = None
        if price is None:
            raise _bad_gpu_prices(f"gives {quoted(name)} no price of 0 or more")
        if name.casefold() in (known.casefold() for known in prices):
            raise _bad_gpu_prices(f"names {quoted(name)} twice")
        prices[name] = price
    if len(prices) > MAX_GPU_PRICES:
        raise _bad_gpu_prices(f"has more than {MAX_GPU_PRICES} GPU types")
    return prices


def _bad_gpu_prices(problem: str) -> SettingsError:
    return SettingsError(
        f"gpu_prices {problem}; enter a price per GPU-hour for each GPU type, e.g. "
        f"{GPU_PRICES_EXAMPLE}, or leave it empty.",
        "gpu_prices",
    )


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
        gpu_prices=parse_gpu_prices(values.get("gpu_prices")),
    )
