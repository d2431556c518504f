"""Prices per GPU-hour from the settings, and what a GPU of a given name costs.

A price table entry names a GPU type by the words its name holds: `H100` is the price of
"NVIDIA H100 80GB HBM3", `A100 40GB` only of the 40 GB A100. When several entries match, the
one with the most words wins (the most specific); a GPU no entry matches costs the default
price per GPU-hour. Money has no currency here: it is the settings' own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

HOURS_PER_MONTH = 730.0  # 365 × 24 / 12
HOURS_PER_DAY = 24.0
PRICE_SETTING = "price_per_gpu_hour"
TABLE_SETTING = "gpu_prices"
_WORD = re.compile(r"[A-Za-z0-9.]+")


@dataclass(frozen=True)
class Price:
    per_gpu_hour: float
    source: str  # which setting and entry it came from: "gpu_prices H100"

    def per_month(self) -> float:
        return self.per_gpu_hour * HOURS_PER_MONTH


@dataclass(frozen=True)
class Prices:
    per_gpu_hour: float | None = None
    by_gpu_type: Mapping[str, float] = field(default_factory=dict)

    def of(self, gpu_name: str | None) -> Price | None:
        """The price of one GPU-hour of this GPU, or None when no setting gives one."""
        words = _words(gpu_name or "")
        matches = [(len(_words(t)), t) for t in self.by_gpu_type if _words(t) <= words]
        if matches:
            _, best = max(matches)
            return Price(self.by_gpu_type[best], f"{TABLE_SETTING} {best}")
        if self.per_gpu_hour is not None:
            return Price(self.per_gpu_hour, PRICE_SETTING)
        return None

    def table(self) -> list[tuple[str, float]]:
        """The price table's entries, cheapest first."""
        return sorted(self.by_gpu_type.items(), key=lambda item: (item[1], item[0]))


def matches(gpu_type: str, gpu_name: str) -> bool:
    """Whether the table's `gpu_type` names this GPU (all its words are in the name)."""
    return _words(gpu_type) <= _words(gpu_name)


def money(amount: float) -> float:
    return round(amount, 2)


def needs_a_price(what: str) -> str:
    """What a cost rule says instead of a cost when the settings give no price."""
    return (
        f"set {PRICE_SETTING} (and {TABLE_SETTING} per GPU type, e.g. H100=2.5, L4=0.6) in "
        f"the plugin's settings to see {what}"
    )


def _words(text: str) -> frozenset[str]:
    return frozenset(w.upper() for w in _WORD.findall(text))
