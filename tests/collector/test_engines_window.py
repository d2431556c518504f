"""Rates and percentiles over the window, from counter and histogram-bucket increases."""

from __future__ import annotations

import math

from gpu_insight.collector.engines.exposition import Histogram
from gpu_insight.collector.engines.readings import Reading
from gpu_insight.collector.engines.window import (
    ReadingWindow,
    counter_rate,
    histogram_quantile,
    latency_summary,
)

INF = math.inf


def test_counter_rate_is_increase_over_time() -> None:
    assert counter_rate(100.0, 160.0, 30.0) == 2.0


def test_counter_reset_counts_from_zero() -> None:
    assert counter_rate(1000.0, 50.0, 10.0) == 5.0


def test_unknown_counter_has_no_rate() -> None:
    assert counter_rate(None, 5.0, 10.0) is None


def test_quantile_interpolates_inside_the_bucket() -> None:
    buckets = [(0.1, 0.0), (0.5, 50.0), (1.0, 100.0), (INF, 100.0)]
    assert histogram_quantile(0.5, buckets) == 0.5
    assert math.isclose(histogram_quantile(0.9, buckets) or 0, 0.9)


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert histogram_quantile(0.99, [(1.0, 10.0), (10.0, 80.0), (INF, 100.0)]) == 10.0


def test_latency_uses_only_requests_inside_the_window() -> None:
    old = Histogram(((1.0, 1000.0), (2.0, 1000.0), (INF, 1000.0)), 1000.0, 500.0)
    new = Histogram(((1.0, 1000.0), (2.0, 1010.0), (INF, 1010.0)), 1010.0, 515.0)
    summary = latency_summary(old, new)
    assert summary is not None and summary.p50_s == 1.5  # all 10 new requests took 1–2 s


def test_no_request_in_window_means_no_latency() -> None:
    same = Histogram(((1.0, 5.0), (INF, 5.0)), 5.0, 2.0)
    assert latency_summary(same, same) is None


def test_window_needs_two_readings_and_drops_old_ones() -> None:
    window = ReadingWindow(window_s=60.0)
    window.add(0.0, Reading(requests_total=0.0))
    assert window.stats().requests_per_s is None
    window.add(30.0, Reading(requests_total=300.0))
    window.add(90.0, Reading(requests_total=600.0))
    window.add(120.0, Reading(requests_total=1200.0))
    # oldest kept: the last one at or before 120 − 60 s, i.e. t=30
    assert window.stats().requests_per_s == (1200.0 - 300.0) / 90.0


def test_prefix_cache_hit_ratio_is_hits_over_queries_in_the_window() -> None:
    window = ReadingWindow(300.0)
    window.add(0.0, Reading(prefix_cache_queries_total=2.0e6, prefix_cache_hits_total=1.0e5))
    window.add(60.0, Reading(prefix_cache_queries_total=2.5e6, prefix_cache_hits_total=1.2e5))
    assert window.stats().prefix_cache_hit_ratio == 0.04  # 20,000 of 500,000 prompt tokens


def test_queue_time_percentiles_come_from_the_window() -> None:
    before = Histogram(buckets=((1.0, 90.0), (5.0, 100.0), (INF, 100.0)), count=100.0, sum=50.0)
    after = Histogram(buckets=((1.0, 90.0), (5.0, 200.0), (INF, 200.0)), count=200.0, sum=450.0)
    window = ReadingWindow(300.0)
    window.add(0.0, Reading(queue_time=before))
    window.add(60.0, Reading(queue_time=after))
    queued = window.stats().queue_time
    assert queued is not None and queued.p50_s == 3.0  # all 100 new requests waited 1–5 s
