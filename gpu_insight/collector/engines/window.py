"""Rates and latency percentiles over a sliding window of readings of one engine.

Rates: the change of a cumulative counter between the oldest and the newest reading in the
window, divided by the time between them. A counter that went down (engine restart) is
measured from the restart. Percentiles: Prometheus's histogram_quantile over the bucket
increases in the window (linear interpolation inside the bucket), so they describe the
requests of the last minutes, not of the engine's whole life.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gpu_insight.collector.engines.exposition import Histogram
from gpu_insight.collector.engines.readings import Reading
from gpu_insight.schemas import LatencySummary


@dataclass(frozen=True)
class WindowStats:
    requests_per_s: float | None
    preemptions_per_s: float | None
    prompt_tokens_per_s: float | None
    generation_tokens_per_s: float | None
    time_to_first_token: LatencySummary | None
    e2e_latency: LatencySummary | None
    queue_time: LatencySummary | None = None
    prefix_cache_hit_ratio: float | None = None  # hits ÷ queries over the window


class ReadingWindow:
    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._readings: deque[tuple[float, Reading]] = deque()

    def add(self, at: float, reading: Reading) -> None:
        self._readings.append((at, reading))
        while len(self._readings) > 2 and self._readings[1][0] <= at - self._window_s:
            self._readings.popleft()

    def stats(self) -> WindowStats:
        if len(self._readings) < 2:
            return WindowStats(None, None, None, None, None, None)
        (t0, old), (t1, new) = self._readings[0], self._readings[-1]
        elapsed = t1 - t0

        def rate(field: Callable[[Reading], float | None]) -> float | None:
            return counter_rate(field(old), field(new), elapsed)

        return WindowStats(
            requests_per_s=rate(lambda r: r.requests_total),
            preemptions_per_s=rate(lambda r: r.preemptions_total),
            prompt_tokens_per_s=rate(lambda r: r.prompt_tokens_total),
            generation_tokens_per_s=rate(lambda r: r.generation_tokens_total),
            time_to_first_token=latency_summary(old.ttft, new.ttft),
            e2e_latency=latency_summary(old.e2e, new.e2e),
            queue_time=latency_summary(old.queue_time, new.queue_time),
            prefix_cache_hit_ratio=_ratio(
                counter_increase(old.prefix_cache_hits_total, new.prefix_cache_hits_total),
                counter_increase(old.prefix_cache_queries_total, new.prefix_cache_queries_total),
            ),
        )


def _ratio(part: float | None, whole: float | None) -> float | None:
    """part ÷ whole of two increases over the window; None when nothing was counted."""
    if part is None or whole is None or whole <= 0:
        return None
    return min(part / whole, 1.0)


def counter_rate(old: float | None, new: float | None, elapsed_s: float) -> float | None:
    increase = counter_increase(old, new)
    if increase is None or elapsed_s <= 0:
        return None
    return increase / elapsed_s


def counter_increase(old: float | None, new: float | None) -> float | None:
    if old is None or new is None:
        return None
    return new - old if new >= old else new  # reset: the counter started again from 0


def latency_summary(old: Histogram | None, new: Histogram | None) -> LatencySummary | None:
    if new is None:
        return None
    increases = bucket_increases(old, new)
    if not increases or increases[-1][1] <= 0:
        return None  # no request finished in the window
    return LatencySummary(
        p50_s=histogram_quantile(0.5, increases),
        p90_s=histogram_quantile(0.9, increases),
        p99_s=histogram_quantile(0.99, increases),
    )


def bucket_increases(old: Histogram | None, new: Histogram) -> list[tuple[float, float]]:
    previous = dict(old.buckets) if old is not None else {}
    if any(count < previous.get(bound, 0.0) for bound, count in new.buckets):
        previous = {}  # reset
    return [(bound, count - previous.get(bound, 0.0)) for bound, count in new.buckets]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's estimate: linear inside the bucket holding rank q·total."""
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound  # the highest finite bound is all we know
            if count == lower_count:
                return bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound
