"""`/metrics` counters of GPU usage, from the usage books' running totals.

Per GPU × app × team × container × model, in base units: GPU-seconds (busy time, split as the
books split it), memory byte-seconds (allocation × time) and energy joules, each `_total`. The
labels are those of the per-app gauges without `gpu` and `engine` (the books keep neither):
unknown app or team is "unattributed", unknown container or model "". With a project token,
only its apps' counters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily

from gpu_insight.collector.scope import Apps
from gpu_insight.collector.usage_totals import UsageTotal

BYTES_PER_MIB = 1024 * 1024
UNATTRIBUTED = "unattributed"
USAGE_LABELS = ("uuid", "app", "team", "app_container", "model")
GPU_SECONDS = "gpu_app_gpu_seconds_total"
MEMORY_BYTE_SECONDS = "gpu_app_memory_byte_seconds_total"
ENERGY_JOULES = "gpu_app_energy_joules_total"


def usage_families() -> tuple[CounterMetricFamily, CounterMetricFamily, CounterMetricFamily]:
    labels = list(USAGE_LABELS)
    return (
        CounterMetricFamily(
            GPU_SECONDS, "Busy GPU time of one app and container since start.", labels=labels
        ),
        CounterMetricFamily(
            MEMORY_BYTE_SECONDS,
            "GPU memory held by one app and container, integrated over time, since start.",
            labels=labels,
        ),
        CounterMetricFamily(
            ENERGY_JOULES, "GPU energy of one app and container since start.", labels=labels
        ),
    )


def usage_metrics(totals: Sequence[UsageTotal], apps: Apps = None) -> Iterator[CounterMetricFamily]:
    gpu_seconds, memory, energy = usage_families()
    for total in sorted(totals, key=lambda t: _labels(t)):
        if apps is not None and total.key.app not in apps:
            continue
        labels = _labels(total)
        gpu_seconds.add_metric(labels, total.gpu_seconds)
        memory.add_metric(labels, total.memory_mib_seconds * BYTES_PER_MIB)
        energy.add_metric(labels, total.energy_joules)
    yield from (gpu_seconds, memory, energy)


def _labels(total: UsageTotal) -> list[str]:
    key = total.key
    return [
        key.gpu_uuid,
        key.app or UNATTRIBUTED,
        key.team or UNATTRIBUTED,
        key.container or "",
        key.model or "",
    ]
