"""Prometheus text exposition → samples we can query by name, gauge, counter or histogram.

Parsing is prometheus_client's. Samples are looked up by sample name (`x_total`, `x_bucket`),
so counters with or without the `_total` suffix (Rust exporters omit it) read the same.
Series of tensor-parallel ranks other than 0 are ignored: every rank repeats the same request
counts, and summing them would multiply the numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


class ExpositionError(ValueError):
    """The text is not Prometheus exposition format."""


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts by upper bound (the last bound is +Inf), count and sum."""

    buckets: tuple[tuple[float, float], ...]
    count: float
    sum: float


class Exposition:
    def __init__(self, text: str) -> None:
        self._by_name: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        try:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.labels.get("tp_rank", "0") != "0":
                        continue
                    self._by_name[sample.name].append((dict(sample.labels), float(sample.value)))
        except (ValueError, TypeError, IndexError) as exc:
            raise ExpositionError(f"not Prometheus text format ({exc})") from exc

    def total(self, *names: str) -> float | None:
        """Sum over all series of the first name present (counters, counts)."""
        return self._reduce(names, math.fsum)

    def highest(self, *names: str) -> float | None:
        """Maximum over all series of the first name present (ratios such as KV-cache usage)."""
        return self._reduce(names, max)

    def label(self, name: str, key: str) -> str | None:
        series = self._by_name.get(name, [])
        return next((labels[key] for labels, _ in series if key in labels), None)

    def first_label(self, key: str, prefix: str) -> str | None:
        """The value of a label on any sample whose name starts with prefix (e.g. model_name)."""
        for name, series in self._by_name.items():
            if name.startswith(prefix):
                for labels, _ in series:
                    if labels.get(key):
                        return labels[key]
        return None

    def histogram(self, *names: str) -> Histogram | None:
        """The first histogram present, its series summed bucket by bucket."""
        for name in names:
            buckets = self._by_name.get(f"{name}_bucket")
            if not buckets:
                continue
            by_bound: dict[float, float] = defaultdict(float)
            for labels, value in buckets:
                by_bound[float(labels["le"])] += value
            return Histogram(
                buckets=tuple(sorted(by_bound.items())),
                count=self.total(f"{name}_count") or 0.0,
                sum=self.total(f"{name}_sum") or 0.0,
            )
        return None

    def _reduce(self, names: Iterable[str], reduce: Callable[[list[float]], float]) -> float | None:
        for name in names:
            values = [value for _, value in self._by_name.get(name, []) if not math.isnan(value)]
            if values:
                return reduce(values)
        return None
