"""Prometheus as the plugin's source: the same answers as the collectors give, from PromQL.

Each answer sends a fixed set of queries (`queries.Queries`), all at once, and reads them into
the wire models; hosts that are down or stale are named in `missing`, the rest answer. An
answer takes at most ANSWER_DEADLINE_S, each query at most the client's query timeout.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gpu_insight.errors import quoted
from gpu_insight.schemas import AlertList, GroupBy, History, Snapshot, UsageReport
from gpu_insight.sources.client import MetricsText
from gpu_insight.sources.fleet import Gathered
from gpu_insight.sources.prometheus import dcgm_series, our_series
from gpu_insight.sources.prometheus.client import PrometheusClient, PrometheusError, Sample
from gpu_insight.sources.prometheus.exposition import CONTENT_TYPE, exposition_text
from gpu_insight.sources.prometheus.history import history_of, step_for
from gpu_insight.sources.prometheus.queries import Queries
from gpu_insight.sources.prometheus.settings import (
    SELECTOR_SETTING,
    PrometheusSettings,
    prometheus_settings,
)
from gpu_insight.sources.prometheus.usage import (
    MS_PER_S,
    Span,
    UsageStep,
    by_step_end,
    usage_of,
    usage_spans,
)
from gpu_insight.sources.prometheus.view import (
    STALE_AFTER_S,
    NoGpuSeriesError,
    down_targets,
    fleet_view,
    no_host_answered,
    snapshot_of,
)

ANSWER_DEADLINE_S = 15.0
# A window or step shorter than this reads the counters even where the recording rules' copy
# is there: at one sample per 5 minutes, the copy's edges are too coarse for it.
RECORDED_USAGE_MIN_SPAN_S = 3600.0


class NoUsageCountersError(PrometheusError):
    """No GPU Insight collector's series under the selector: nothing counts usage."""


class PrometheusSource:
    def __init__(
        self,
        settings: PrometheusSettings,
        client: PrometheusClient | None = None,
        *,
        stale_after_s: float = STALE_AFTER_S,
        answer_deadline_s: float = ANSWER_DEADLINE_S,
        recorded_usage_min_span_s: float = RECORDED_USAGE_MIN_SPAN_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client = client or PrometheusClient(settings)
        self.queries = Queries(settings)
        self._stale_after_s = stale_after_s
        self._answer_deadline_s = answer_deadline_s
        self._recorded_usage_min_span_s = recorded_usage_min_span_s
        self._clock = clock

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> PrometheusSource:
        return cls(prometheus_settings(values))

    @property
    def url(self) -> str:
        return self.settings.url

    def check(self) -> None:
        """What the settings page runs: the build info, then proof that GPU series exist under
        the selector; each failure is one sentence."""
        deadline = self._deadline()
        self.client.buildinfo(deadline())
        if self._count(self.queries.gpu_count(), deadline()) > 0:
            return
        if self.settings.selector and self._count(self.queries.gpu_count(False), deadline()):
            shown = ",".join(str(m) for m in self.settings.selector)
            raise NoGpuSeriesError(
                f"Prometheus at {self.url} holds GPU series, but none under "
                f"{SELECTOR_SETTING} {quoted(shown)}; check its label names and values.",
                self.url,
            )
        raise NoGpuSeriesError(
            f"Prometheus at {self.url} holds no GPU series (neither GPU Insight's gpu_info nor "
            "dcgm-exporter's DCGM_FI_DEV_FB_FREE); check that it scrapes the collectors or "
            "dcgm-exporter (see the scrape example in the README).",
            self.url,
        )

    def snapshot(
        self, with_processes: bool = True, gpu_fields: frozenset[str] | None = None
    ) -> Gathered[Snapshot]:
        """Every query at once (see `queries`): the GPUs and their readings, the collectors,
        dcgm-exporter's series and the targets that are down; the per-app and engine series,
        a third of a fleet's series, only `with_processes`. With `gpu_fields`, only the device
        series of those fields are read: the answers' cost is the series they send."""
        q = self.queries
        apps = [q.our_apps()] if with_processes else []
        ours, attribution, dcgm, scraped, down = self._instant_groups(
            [
                [*q.our_devices(gpu_fields), q.our_flags()],
                [q.our_collectors(), *apps],
                [q.dcgm_devices(gpu_fields)],
                [q.dcgm_scraped()],
                [q.down_targets()],
            ]
        )
        now = max(
            (s.t for part in (ours, attribution, dcgm, scraped, down) for s in part), default=0
        )
        settings = self.settings
        view = fleet_view(
            our_series.read_hosts(ours, attribution),
            dcgm_series.read_hosts(dcgm, scraped, settings.app_rules, settings.apps),
            down,
            now or self._clock(),
            self._stale_after_s,
        )
        if not view.hosts:
            raise no_host_answered(self.url, view.missing)
        return Gathered(snapshot_of(view, self.url, now or self._clock()), view.missing)

    def history(self, seconds: int, step_s: int | None = None) -> Gathered[History]:
        """One range query in steps of at most MAX_POINTS per series, or coarser (`step_s`)."""
        end = self._clock()
        start, step = end - seconds, max(step_for(seconds), float(step_s or 0))
        deadline = self._deadline()

        def charts() -> Any:
            return self.client.range(self.queries.history(), start, end, step, deadline())

        def down() -> Any:
            return self.client.instant(self.queries.down_targets(), deadline_s=deadline())

        series, down_samples = _all([charts, down])
        history = history_of(series, start=start, end=end, step_s=step, url=self.url)
        missing = tuple(down_targets(down_samples))
        if not history.gpus:
            raise no_host_answered(self.url, missing)
        return Gathered(history, missing)

    def alerts(self, include_resolved: bool) -> Gathered[AlertList]:
        """The alerts in the series now; Prometheus keeps no resolved ones, so
        `include_resolved` adds none."""
        gathered = self.snapshot(with_processes=False, gpu_fields=frozenset())
        snapshot = gathered.value
        found = AlertList(host=snapshot.host, source=snapshot.source, alerts=snapshot.alerts)
        return Gathered(found, gathered.missing)

    def usage(
        self, from_t: float, to_t: float, group_by: GroupBy, bucket_s: int | None = None
    ) -> Gathered[UsageReport]:
        """What the counters rose by over the window, per group; with `bucket_s`, also in
        steps of that length from `from_t` (the last one cut at `to_t`), which the totals then
        add up. A step counts what its samples show: one shorter than two scrape intervals
        counts less than was used. Windows and steps of an hour or more read the recording
        rules' copy of the counters where it reaches back to `from_t` (10 times fewer samples
        at a 30 s scrape; its edges are those of its 5-minute steps)."""
        q = self.queries
        deadline = self._deadline()
        recorded = self._reads_recorded_usage(from_t, to_t, bucket_s, deadline)
        spans = usage_spans(from_t, to_t, bucket_s)
        whole = [s for s in spans if bucket_s is not None and s[1] - s[0] == bucket_s * MS_PER_S]
        cut = [s for s in spans if s not in whole]  # the window, or a shorter last step

        def at_end(promql: str) -> Callable[[], Any]:
            return lambda: self.client.instant(promql, at=to_t, deadline_s=deadline())

        def ending(span: Span, promql: str) -> Callable[[], dict[int, list[Sample]]]:
            at = span[1] / MS_PER_S
            return lambda: {span[1]: self.client.instant(promql, at=at, deadline_s=deadline())}

        def stepped(promql: str, step_s: int) -> Callable[[], dict[int, list[Sample]]]:
            first, last = whole[0][1] / MS_PER_S, whole[-1][1] / MS_PER_S
            return lambda: by_step_end(self.client.range(promql, first, last, step_s, deadline()))

        sums: list[Callable[[], dict[int, list[Sample]]]] = [
            ending(span, promql)
            for span in cut
            for promql in q.usage(span[1] - span[0], group_by, recorded)
        ]
        if bucket_s is not None and whole:
            step_ms = bucket_s * MS_PER_S
            sums += [stepped(promql, bucket_s) for promql in q.usage(step_ms, group_by, recorded)]
        *parts, hosts, down = _all([*sums, at_end(q.usage_hosts()), at_end(q.down_targets())])
        if not hosts:
            raise NoUsageCountersError(
                f"Prometheus at {self.url} holds no GPU Insight collector series under the "
                "settings' selector; usage reports add up the collectors' usage counters, "
                "which dcgm-exporter does not have.",
                self.url,
            )
        found: dict[int, list[Sample]] = defaultdict(list)
        for part in parts:
            for end_ms, samples in part.items():
                found[end_ms].extend(samples)
        steps = [UsageStep(span, found.get(span[1], [])) for span in spans]
        report = usage_of(
            steps,
            hosts,
            from_t=from_t,
            to_t=to_t,
            group_by=group_by,
            url=self.url,
            bucketed=bucket_s is not None,
            series="recording_rules" if recorded else "counters",
        )
        return Gathered(report, tuple(down_targets(down)))

    def _reads_recorded_usage(
        self, from_t: float, to_t: float, bucket_s: int | None, deadline: Callable[[], float]
    ) -> bool:
        """Whether a report of this window reads the recording rules' copy: long enough, and
        the copy was kept at its start (a query at `from_t` that only shorter ones skip)."""
        shortest_s = to_t - from_t if bucket_s is None else min(to_t - from_t, bucket_s)
        if shortest_s < self._recorded_usage_min_span_s:
            return False
        found = self.client.instant(self.queries.recorded_usage(), at=from_t, deadline_s=deadline())
        return any(sample.value > 0 for sample in found)

    def metrics_text(self, position: str | None = None) -> MetricsText:
        """Every GPU series under the selector and app scope (`position` picks a collector in
        direct mode; Prometheus has them all in one)."""
        (samples,) = self._instant_all([self.queries.exposition()])
        settings = self.settings
        return MetricsText(
            exposition_text(samples, settings.apps, settings.app_rules), CONTENT_TYPE
        )

    def _instant_groups(self, groups: Sequence[Sequence[str]]) -> list[list[Sample]]:
        """Every query of every group at once; each group's samples together."""
        answers = iter(self._instant_all([promql for group in groups for promql in group]))
        return [[s for _ in group for s in next(answers)] for group in groups]

    def _instant_all(self, promql: Sequence[str]) -> list[Any]:
        deadline = self._deadline()

        def one(text: str) -> Callable[[], Any]:
            return lambda: self.client.instant(text, deadline_s=deadline())

        return _all([one(text) for text in promql])

    def _count(self, promql: str, deadline_s: float) -> float:
        result = self.client.instant(promql, deadline_s=deadline_s)
        return sum(s.value for s in result)

    def _deadline(self) -> Callable[[], float]:
        """The seconds left of one answer's budget, each time it is asked."""
        ends = time.monotonic() + self._answer_deadline_s
        return lambda: ends - time.monotonic()


def _all(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Every call at once; the first failure (in the calls' order) is raised."""
    if len(calls) == 1:
        return [calls[0]()]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]
