"""The metric names the collector's /metrics exposes, read from a real scrape of its registry."""

from __future__ import annotations

import re

from prometheus_client import generate_latest

from gpu_insight.collector.metrics import metrics_registry
from tests.collector.api_support import make_runtime, publish, sample_snapshot

# Our metrics all start with `gpu_`; the bare label `gpu` does not match. Quoted label values
# (`reason!="gpu_idle"`) are removed first.
METRIC_NAME = re.compile(r"\bgpu_[a-z0-9_]+\b")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def exposed_metric_names() -> set[str]:
    runtime = make_runtime()
    publish(runtime, sample_snapshot())
    text = generate_latest(metrics_registry(runtime)).decode()
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def metric_names_in(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(QUOTED.sub("", expr)))
