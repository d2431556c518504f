"""Exposition text turned into what Prometheus would answer the plugin's queries with.

A stand-in for the query engine, good for the shapes `queries.Queries` sends for a snapshot:
series picked by name, readings kept by name and UUID, `== 1` filters, and the timestamp of
dcgm-exporter's free memory. The real engine is in the protocol tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from gpu_insight.sources.prometheus import dcgm_series, our_series
from gpu_insight.sources.prometheus.client import Sample
from gpu_insight.sources.prometheus.queries import READING_LABELS

EVALUATED_AT = 1_800_000_000.0
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scraped(text: str, target: Mapping[str, str], at: float = EVALUATED_AT) -> list[Sample]:
    """Every sample of a text exposition as Prometheus stores it: named as the text names it
    (a counter without `_total` keeps its name), with the target's labels."""
    samples = []
    for line in text.splitlines():
        found = _LINE.match(line)
        if found is None:  # comments and blank lines
            continue
        name, labels, value = found.groups()
        pairs = {
            k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(labels or "")
        }
        samples.append(Sample({**pairs, **target, "__name__": name}, at, float(value)))
    return samples


def named(samples: Iterable[Sample], names: Iterable[str]) -> list[Sample]:
    wanted = set(names)
    return [s for s in samples if s.labels["__name__"] in wanted]


def our_devices(samples: list[Sample]) -> list[Sample]:
    """The answers to `our_devices` and `our_flags` together, as the source reads them:
    `gpu_info` as scraped, the readings and the states other than ok by name and UUID."""
    health = [s for s in named(samples, (our_series.HEALTH,)) if s.value == 1]
    readings = named(samples, our_series.reading_names(None))
    return (
        named(samples, (our_series.INFO,))
        + [Sample(_kept(s.labels, READING_LABELS), s.t, s.value) for s in readings]
        + [
            Sample(_kept(s.labels, (*READING_LABELS, "state")), s.t, s.value)
            for s in health
            if s.labels.get("state") != "ok"
        ]
    )


def _kept(labels: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """What `max by (names)` keeps of a series' labels."""
    return {n: labels[n] for n in names if n in labels}


def our_attribution(samples: list[Sample]) -> list[Sample]:
    """The answers to `our_apps` and `our_collectors` together."""
    return named(samples, (*our_series.APP_NAMES, *our_series.COLLECTOR_NAMES))


def dcgm_scraped(samples: list[Sample], scraped_at: float = EVALUATED_AT) -> list[Sample]:
    """`timestamp(DCGM_FI_DEV_FB_FREE)`: the labels without the name, the scrape time."""
    return [
        Sample({k: v for k, v in s.labels.items() if k != "__name__"}, s.t, scraped_at)
        for s in named(samples, (dcgm_series.FREE,))
    ]


def dcgm_devices(samples: list[Sample]) -> list[Sample]:
    return named(samples, dcgm_series.GPU_FIELDS)
