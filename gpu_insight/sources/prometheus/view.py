"""The hosts that answer, the ones named missing, and the snapshot they make together.

A host answers when its data is current: a target Prometheus reports down (`up == 0`), a
collector without a current sample of its own, or a host whose newest sample is older than the
staleness limit is named in `missing` instead, with the sentence saying why. Where both a GPU
Insight collector and dcgm-exporter report a host (by host name, or by GPU UUID), the
collector's series win and dcgm-exporter's are left out: nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gpu_insight.schemas import HealthStatus, Snapshot
from gpu_insight.sources.fleet import MissingCollector
from gpu_insight.sources.prometheus.client import PrometheusError, Sample
from gpu_insight.sources.prometheus.hosts import HostSeries
from gpu_insight.sources.prometheus.promql import FIELD_LABEL
from gpu_insight.sources.prometheus.queries import DOWN, HOST

STALE_AFTER_S = 120.0  # a sample older than this is not "now": four 30 s scrapes missed
MAX_NAMED_HOSTS = 8  # more hosts than this are counted in an answer's host field, not listed


class NoGpuSeriesError(PrometheusError):
    """Prometheus answers, but holds no GPU series under the selector."""


class NoHostAnsweredError(PrometheusError):
    """Every GPU host is down or stale; the text gives each one's reason."""


@dataclass(frozen=True)
class FleetView:
    hosts: tuple[HostSeries, ...]  # the hosts that answer
    missing: tuple[MissingCollector, ...]


def fleet_view(
    ours: Sequence[HostSeries],
    theirs: Sequence[HostSeries],
    down: Iterable[Sample],
    now: float,
    stale_after_s: float = STALE_AFTER_S,
) -> FleetView:
    missing = down_targets(down)
    answering: list[HostSeries] = []
    for host in ours:
        reason = _why_not_current(host, now, stale_after_s)
        if reason is None:
            answering.append(host)
        else:
            missing.append(MissingCollector(host.instance, reason))
    our_names = {host_key(h.host) for h in answering}
    our_uuids = {uuid for h in answering for uuid in h.gpus}
    for host in theirs:
        if host_key(host.host) in our_names or our_uuids.intersection(host.gpus):
            continue
        reason = _why_not_current(host, now, stale_after_s)
        if reason is None:
            answering.append(host)
        else:
            missing.append(MissingCollector(host.instance, reason))
    return FleetView(tuple(answering), tuple(missing))


def down_targets(samples: Iterable[Sample]) -> list[MissingCollector]:
    """The targets of the down query (`queries.down_targets`) as missing entries."""
    samples = list(samples)
    names: dict[tuple[str, str], str] = {}
    for sample in samples:
        if sample.labels.get(FIELD_LABEL) == HOST:
            labels = sample.labels
            name = (
                labels.get("exported_host")
                or labels.get("host")
                or labels.get("Hostname")
                or labels.get("hostname")
            )
            if name:
                names[(labels.get("job", ""), labels.get("instance", ""))] = name
    missing = []
    for sample in samples:
        if sample.labels.get(FIELD_LABEL) != DOWN:
            continue
        job, instance = sample.labels.get("job", ""), sample.labels.get("instance", "")
        host = names.get((job, instance))
        which = f"{instance} (job {job}{f', host {host}' if host else ''})"
        missing.append(
            MissingCollector(
                instance,
                f"Prometheus reports the target {which} down: its last scrape failed "
                "(up == 0); check that the exporter runs and that Prometheus can reach it.",
            )
        )
    return sorted(missing, key=lambda m: m.url)


def no_host_answered(url: str, missing: Sequence[MissingCollector]) -> PrometheusError:
    if not missing:
        return NoGpuSeriesError(
            f"Prometheus at {url} holds no current GPU series under the settings' selector; "
            "check that it scrapes GPU Insight collectors or dcgm-exporter, and "
            "prometheus_selector.",
            url,
        )
    return NoHostAnsweredError(
        f"No GPU host answered through Prometheus at {url}: "
        + " ".join(f"({n}) {m.reason}" for n, m in enumerate(missing, start=1)),
        url,
    )


def fleet_name(hosts: Iterable[str]) -> str:
    """How an answer names its hosts: listed when few, counted when many."""
    names = sorted(set(hosts))
    return ",".join(names) if len(names) <= MAX_NAMED_HOSTS else f"{len(names)} hosts"


def snapshot_of(view: FleetView, url: str, now: float) -> Snapshot:
    hosts = view.hosts
    gpus = sorted(
        (gpu for host in hosts for gpu in host.gpus.values()), key=lambda g: (g.host, g.index)
    )
    troubled = [g for g in gpus if g.health != "ok"]
    health: HealthStatus = "degraded" if troubled else "ok"
    sampled = [h.sampled_at for h in hosts if h.sampled_at is not None]
    return Snapshot(
        host=fleet_name(h.host for h in hosts),
        source="replay" if any(h.source == "replay" for h in hosts) else "nvml",
        collected_at=min(sampled, default=now),
        health=health,
        health_reason="; ".join(f"{g.host}:{g.index} is {g.health}" for g in troubled) or None,
        prometheus_url=url,
        gpus=gpus,
        processes=[p for host in hosts for p in host.processes],
        engines=[e for host in hosts for e in host.engines],
        alerts=[a for host in hosts for a in host.alerts],
    )


def _why_not_current(host: HostSeries, now: float, stale_after_s: float) -> str | None:
    which = f"{host.host} ({host.instance})" if host.instance != host.host else host.host
    if not host.up:
        return (
            f"The GPU Insight collector on {which} has no current sample from its GPUs "
            "(gpu_insight_up is 0); check the collector's /healthz and its log."
        )
    if host.sampled_at is None:
        return (
            f"Prometheus holds no sample time for {which}; check that it scrapes the whole "
            "/metrics of that exporter."
        )
    age_s = now - host.sampled_at
    if age_s > stale_after_s:
        return (
            f"The newest sample of {which} in Prometheus is {age_s:.0f} s old, past the "
            f"staleness limit of {stale_after_s:.0f} s; check that Prometheus still scrapes it."
        )
    return None


def host_key(host: str) -> str:
    """A host name without its domain, in lower case: how two exporters' names are compared."""
    return host.split(".", 1)[0].lower()
