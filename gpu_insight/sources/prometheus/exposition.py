"""The GPU series Prometheus holds now, as Prometheus text exposition (the `/metrics` proxy).

Rendered from an instant query rather than `/federate`, which Thanos and Mimir do not serve.
Under an app scope, the collectors' app-labelled series of other apps are left out and
dcgm-exporter's series lose the pod labels of other apps' pods (each GPU's totals stay).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gpu_insight.sources.prometheus.client import Sample
from gpu_insight.sources.prometheus.dcgm_series import WORKLOAD_LABELS
from gpu_insight.sources.prometheus.hosts import label
from gpu_insight.sources.prometheus.settings import AppRule

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_WORKLOAD = frozenset({*WORKLOAD_LABELS, *(f"exported_{n}" for n in WORKLOAD_LABELS)})


def scoped_labels(
    labels: Mapping[str, str], apps: frozenset[str] | None, rules: Sequence[AppRule]
) -> Mapping[str, str] | None:
    """The labels an app scope lets through, or None when the series is another app's."""
    if apps is None:
        return labels
    if "app" in labels and not labels["__name__"].startswith("DCGM_"):
        return labels if labels["app"] in apps else None
    if not label(labels, "pod"):
        return labels
    seen = {**labels, **{n: label(labels, n) for n in WORKLOAD_LABELS}}
    app = next((m[0] for m in (r.match(seen) for r in rules) if m is not None), None)
    return labels if app in apps else {k: v for k, v in labels.items() if k not in _WORKLOAD}


def exposition_text(
    samples: Iterable[Sample], apps: frozenset[str] | None, rules: Sequence[AppRule]
) -> str:
    lines: dict[str, str] = {}  # one line per label set: stripped pod labels may repeat one
    for sample in sorted(samples, key=lambda s: s.labels.get("__name__", "")):
        labels = scoped_labels(sample.labels, apps, rules)
        if labels is None:
            continue
        name = labels.get("__name__", "")
        pairs = ",".join(
            f'{k}="{_escaped(v)}"' for k, v in sorted(labels.items()) if k != "__name__"
        )
        series = f"{name}{{{pairs}}}"
        lines.setdefault(series, f"{series} {_value(sample.value)}")
    return "".join(line + "\n" for line in lines.values())


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
