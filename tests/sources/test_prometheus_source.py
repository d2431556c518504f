"""The Prometheus source over canned query answers: who answers, who is named missing and why,
and how many queries an answer costs (the same for any fleet size)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from gpu_insight.schemas import GroupBy
from gpu_insight.sources.prometheus import dcgm_series, our_series
from gpu_insight.sources.prometheus.client import PrometheusClient, RangeSeries, Sample
from gpu_insight.sources.prometheus.exposition import exposition_text
from gpu_insight.sources.prometheus.promql import FIELD_LABEL
from gpu_insight.sources.prometheus.queries import DOWN, HOST
from gpu_insight.sources.prometheus.settings import parse_app_rules, prometheus_settings
from gpu_insight.sources.prometheus.source import NoUsageCountersError, PrometheusSource
from gpu_insight.sources.prometheus.view import NoGpuSeriesError, NoHostAnsweredError
from tests.sources.prometheus_answers import EVALUATED_AT, scraped
from tests.support.dcgm_exporter import DcgmGpu, exposition

SETTINGS = prometheus_settings({"prometheus_url": "http://prom:9090"})
UP = "up"


def our_host(
    name: str, instance: str, uuid: str, *, sampled_at: float = EVALUATED_AT - 1
) -> list[Sample]:
    target = {"instance": instance, "job": "gpu-insight"}
    gpu = {"uuid": uuid, "gpu": "0", **target}
    return [
        Sample(
            {"__name__": "gpu_info", "name": "NVIDIA H100 80GB HBM3", "host": name, **gpu},
            EVALUATED_AT,
            1,
        ),
        Sample({"__name__": "gpu_memory_free_bytes", **gpu}, EVALUATED_AT, 40 * 2**30),
        Sample({"__name__": "gpu_memory_total_bytes", **gpu}, EVALUATED_AT, 80 * 2**30),
        Sample({"__name__": our_series.COLLECTOR_UP, "source": "nvml", **target}, EVALUATED_AT, 1),
        Sample({"__name__": our_series.LAST_SAMPLE, **target}, EVALUATED_AT, sampled_at),
    ]


class CannedPrometheus(PrometheusClient):
    """Answers each query by the part of the fleet it asks for; counts the queries."""

    def __init__(
        self, series: Sequence[Sample], down: Sequence[Sample] = (), dcgm: Sequence[Sample] = ()
    ) -> None:
        super().__init__(SETTINGS)
        self.series, self.down, self.dcgm = list(series), list(down), list(dcgm)
        self.queries: list[str] = []

    def instant(
        self, promql: str, at: float | None = None, deadline_s: float | None = None
    ) -> list[Sample]:
        self.queries.append(promql)
        if promql.startswith("(label_replace(up"):
            return self.down
        if promql.startswith("timestamp(DCGM"):
            return [s for s in self.dcgm if s.labels.get(FIELD_LABEL) == "scraped_at"]
        if "DCGM_FI_DEV_FB_RESERVED" in promql:
            return [s for s in self.dcgm if FIELD_LABEL not in s.labels]
        fields: set[str | None]
        counted = {f for c, (f, _) in our_series.USAGE_COUNTERS.items() if c in promql}
        if counted:
            fields = set(counted)
        elif "group by (host)" in promql:
            fields = {"hosts", "sources"}
        else:
            fields = {None}
        return [s for s in self.series if s.labels.get(FIELD_LABEL) in fields]

    def range(
        self, promql: str, start: float, end: float, step_s: float, deadline_s: float | None = None
    ) -> list[RangeSeries]:
        self.queries.append(promql)
        return [RangeSeries(s.labels, ((end, s.value),)) for s in self.series]


def source(client: CannedPrometheus, **kwargs: Any) -> PrometheusSource:
    return PrometheusSource(SETTINGS, client, clock=lambda: EVALUATED_AT, **kwargs)


def down_target(instance: str, host: str | None = None) -> list[Sample]:
    labels = {"instance": instance, "job": "gpu-insight"}
    rows = [Sample({"__name__": UP, FIELD_LABEL: DOWN, **labels}, EVALUATED_AT, 0)]
    if host:
        rows.append(Sample({FIELD_LABEL: HOST, "host": host, **labels}, EVALUATED_AT, 1))
    return rows


def test_a_target_prometheus_reports_down_is_named_with_its_host_and_the_rest_answer() -> None:
    client = CannedPrometheus(
        our_host("a", "10.0.0.1:9470", "GPU-a"), down_target("10.0.0.2:9470", "b")
    )
    gathered = source(client).snapshot()
    assert [g.host for g in gathered.value.gpus] == ["a"]
    [missing] = gathered.missing
    assert missing.url == "10.0.0.2:9470"
    assert missing.reason.startswith(
        "Prometheus reports the target 10.0.0.2:9470 (job gpu-insight, host b) down"
    )


def test_a_host_whose_newest_sample_is_past_the_staleness_limit_is_named_not_reported() -> None:
    stale = our_host("b", "10.0.0.2:9470", "GPU-b", sampled_at=EVALUATED_AT - 300)
    client = CannedPrometheus(our_host("a", "10.0.0.1:9470", "GPU-a") + stale)
    gathered = source(client, stale_after_s=120).snapshot()
    assert [g.host for g in gathered.value.gpus] == ["a"]
    [missing] = gathered.missing
    assert missing.reason == (
        "The newest sample of b (10.0.0.2:9470) in Prometheus is 300 s old, past the staleness "
        "limit of 120 s; check that Prometheus still scrapes it."
    )
    assert gathered.value.collected_at == EVALUATED_AT - 1  # only current data in the answer


def test_a_collector_without_a_current_sample_of_its_own_is_named() -> None:
    series = our_host("a", "10.0.0.1:9470", "GPU-a") + [
        s if s.labels["__name__"] != our_series.COLLECTOR_UP else Sample(s.labels, s.t, 0)
        for s in our_host("b", "10.0.0.2:9470", "GPU-b")
    ]
    gathered = source(CannedPrometheus(series)).snapshot()
    assert "gpu_insight_up is 0" in gathered.missing[0].reason


def test_when_every_host_is_down_the_error_gives_each_reason() -> None:
    client = CannedPrometheus([], down_target("10.0.0.1:9470") + down_target("10.0.0.2:9470"))
    with pytest.raises(
        NoHostAnsweredError,
        match=r"^No GPU host answered through Prometheus at http://prom:9090: \(1\) Prometheus",
    ):
        source(client).snapshot()


def test_no_gpu_series_and_nothing_down_is_one_sentence() -> None:
    with pytest.raises(
        NoGpuSeriesError, match=r"^Prometheus at http://prom:9090 holds no current GPU series"
    ):
        source(CannedPrometheus([])).snapshot()


def dcgm_host(hostname: str, uuid: str) -> list[Sample]:
    series = scraped(
        exposition(hostname, (DcgmGpu(0, uuid, 1000.0, 10.0),)),
        {"instance": f"{hostname}:9400", "job": "dcgm"},
    )
    stamp = [
        Sample(
            {**{k: v for k, v in s.labels.items() if k != "__name__"}, FIELD_LABEL: "scraped_at"},
            s.t,
            EVALUATED_AT - 2,
        )
        for s in series
        if s.labels["__name__"] == "DCGM_FI_DEV_FB_FREE"
    ]
    return series + stamp


def test_a_host_both_exporters_report_is_answered_by_the_collector_only() -> None:
    client = CannedPrometheus(
        our_host("gpu-node-1", "10.0.0.1:9470", "GPU-a"),
        dcgm=dcgm_host("GPU-NODE-1.example.com", "GPU-other") + dcgm_host("dcgm-only", "GPU-d"),
    )
    gpus = source(client).snapshot().value.gpus
    assert [(g.host, g.exporter) for g in gpus] == [
        ("dcgm-only", "dcgm-exporter"),
        ("gpu-node-1", "gpu-insight"),
    ]


def test_a_gpu_both_exporters_report_under_different_host_names_counts_once() -> None:
    client = CannedPrometheus(
        our_host("gpu-node-1", "10.0.0.1:9470", "GPU-a"), dcgm=dcgm_host("10.0.0.1", "GPU-a")
    )
    assert [g.exporter for g in source(client).snapshot().value.gpus] == ["gpu-insight"]


def test_a_gpu_is_ok_unless_prometheus_holds_a_troubled_state_for_it() -> None:
    sick = our_host("b", "10.0.0.2:9470", "GPU-b")
    gpu_labels = {k: v for k, v in sick[1].labels.items() if k != "__name__"}
    sick.append(Sample({"__name__": "gpu_health", "state": "lost", **gpu_labels}, EVALUATED_AT, 1))
    client = CannedPrometheus(our_host("a", "10.0.0.1:9470", "GPU-a") + sick)
    gpus = source(client).snapshot().value.gpus
    assert [(g.host, g.health) for g in gpus] == [("a", "ok"), ("b", "lost")]


def series_asked_for(queries: Sequence[str]) -> set[str]:
    """The GPU series of either exporter that the queries name."""
    names = {*our_series.GPU_FIELDS, our_series.CLOCK_EVENT_MASK, *dcgm_series.GPU_FIELDS}
    return names.intersection(re.findall(r"[A-Za-z_]+", " ".join(queries)))


def test_an_answer_that_shows_few_gpu_fields_asks_prometheus_for_their_series_only() -> None:
    client = CannedPrometheus(our_host("a", "10.0.0.1:9470", "GPU-a"))
    fields = frozenset({"memory_free_mib", "power_watts"})
    source(client).snapshot(with_processes=False, gpu_fields=fields)
    assert series_asked_for(client.queries) == {
        "gpu_memory_free_bytes",
        "gpu_power_usage_watts",
        "DCGM_FI_DEV_POWER_USAGE",
        *dcgm_series.MEMORY_NAMES,  # dcgm-exporter's total is the sum of its three
    }


def test_clock_event_reasons_are_asked_for_only_by_answers_that_show_them() -> None:
    def clock_events_asked(fields: frozenset[str] | None) -> bool:
        client = CannedPrometheus(our_host("a", "10.0.0.1:9470", "GPU-a"))
        source(client).snapshot(gpu_fields=fields)
        return our_series.CLOCK_EVENT_MASK in series_asked_for(client.queries)

    assert clock_events_asked(None) and clock_events_asked(frozenset({"clock_event_reasons"}))
    assert not clock_events_asked(frozenset({"memory_free_mib"}))


def test_an_answer_that_shows_no_gpu_field_asks_for_no_readings() -> None:
    client = CannedPrometheus(our_host("a", "10.0.0.1:9470", "GPU-a"))
    source(client).alerts(include_resolved=False)
    ours = set(our_series.reading_names(None))
    assert not ours.intersection(series_asked_for(client.queries))
    assert not any('__name__=~""' in q for q in client.queries)  # an empty selector is refused


def test_a_gpu_that_two_targets_report_gets_its_readings_in_both() -> None:
    """Readings come by GPU UUID alone, once (see `Queries.our_devices`): a collector that two
    jobs scrape shows its GPU twice, each with the GPU's readings."""
    first = our_host("a", "10.0.0.1:9470", "GPU-a")
    readings = set(our_series.reading_names(None))
    again = [
        Sample({**s.labels, "job": "again"}, s.t, s.value)
        for s in first
        if s.labels["__name__"] not in readings
    ]
    gpus = source(CannedPrometheus(first + again)).snapshot().value.gpus
    assert [g.memory_free_mib for g in gpus] == [40 * 1024, 40 * 1024]


# what the usage answer's host query finds: one collector's host, replaying
HOSTS_ROWS = [
    Sample({FIELD_LABEL: "hosts", "host": "a"}, EVALUATED_AT, 1),
    Sample({FIELD_LABEL: "sources", "source": "replay"}, EVALUATED_AT, 1),
]


def many_hosts(count: int) -> list[Sample]:
    return [
        s
        for n in range(count)
        for s in our_host(f"h{n}", f"10.0.{n // 250}.{n % 250}:9470", f"GPU-{n}")
    ]


@pytest.mark.parametrize("call", ["snapshot", "history", "usage", "metrics_text"])
def test_an_answer_costs_the_same_queries_for_one_host_as_for_a_thousand(call: str) -> None:
    def queries(hosts: int) -> list[str]:
        client = CannedPrometheus(many_hosts(hosts) + HOSTS_ROWS)
        answer = getattr(source(client), call)
        answer(
            *{"history": (900,), "usage": (EVALUATED_AT - 3600, EVALUATED_AT, "app")}.get(call, ())
        )
        return sorted(client.queries)  # sent at once: in any order

    assert queries(1) == queries(1000)


def usage_rows(group_by: GroupBy) -> list[Sample]:
    rows = []
    for field, app, value in (
        ("gpu_seconds", "bot", 7200.0),
        ("energy_joules", "bot", 3.6e6),
        ("gpu_seconds", "unattributed", 360.0),
        ("memory_mib_seconds", "bot", 2**20 * 3600.0),
    ):
        rows.append(
            Sample(
                {FIELD_LABEL: field, our_series.USAGE_GROUP_LABELS.get(group_by, group_by): app},
                EVALUATED_AT,
                value,
            )
        )
    return rows


def test_usage_rows_are_the_counters_rise_per_group_in_the_reports_units() -> None:
    client = CannedPrometheus(usage_rows("app") + HOSTS_ROWS)
    gathered = source(client).usage(EVALUATED_AT - 86400, EVALUATED_AT, "app")
    report = gathered.value
    assert [(r.group, r.gpu_hours) for r in report.rows] == [("bot", 2.0), ("unattributed", 0.1)]
    bot = report.rows[0]
    assert (bot.energy_joules, bot.memory_mib_seconds) == (3.6e6, 3600.0)
    assert (report.host, report.source, report.prometheus_url) == (
        "a",
        "replay",
        "http://prom:9090",
    )
    assert report.total_gpu_hours == pytest.approx(2.1)


class SteppedUsage(CannedPrometheus):
    """A fleet whose busy GPU-seconds rose by `rises[t]` in the step that ends at t."""

    def __init__(self, rises: dict[float, float]) -> None:
        super().__init__(HOSTS_ROWS)
        self.rises = rises

    def _rise(self, t: float) -> Sample:
        return Sample({FIELD_LABEL: "gpu_seconds", "app": "bot"}, t, self.rises[t])

    def instant(
        self, promql: str, at: float | None = None, deadline_s: float | None = None
    ) -> list[Sample]:
        if "gpu_app_gpu_seconds_total" not in promql or at is None:
            return super().instant(promql, at, deadline_s)
        self.queries.append(promql)
        return [self._rise(at)]

    def range(
        self, promql: str, start: float, end: float, step_s: float, deadline_s: float | None = None
    ) -> list[RangeSeries]:
        self.queries.append(promql)
        if "gpu_app_gpu_seconds_total" not in promql:
            return []
        rises = [self._rise(t) for t in self.rises if start <= t <= end]
        return [RangeSeries(rises[0].labels, tuple((r.t, r.value) for r in rises))]


def test_usage_in_steps_gives_each_steps_rise_and_totals_that_add_them_up() -> None:
    start = EVALUATED_AT - 9000  # two whole hours and half of one
    client = SteppedUsage({start + 3600: 3600.0, start + 7200: 1800.0, EVALUATED_AT: 900.0})
    report = source(client).usage(start, EVALUATED_AT, "app", bucket_s=3600).value
    assert [(b.from_t - start, b.to_t - start) for b in report.buckets] == [
        (0, 3600),
        (3600, 7200),
        (7200, 9000),
    ]
    assert [[(r.group, r.gpu_hours) for r in b.rows] for b in report.buckets] == [
        [("bot", 1.0)],
        [("bot", 0.5)],
        [("bot", 0.25)],
    ]
    assert [(r.group, r.gpu_hours) for r in report.rows] == [("bot", 1.75)]
    assert any("[3600000ms]" in q for q in client.queries)  # a step's rise, not the window's


class RecordedUsage(CannedPrometheus):
    """A Prometheus whose usage recording rules have kept their copy of the counters since
    `since`; the copy's sums are the counters' (`usage_rows`)."""

    def __init__(self, since: float) -> None:
        super().__init__(usage_rows("app") + HOSTS_ROWS)
        self.since = since
        self.copy_asked_at: list[float | None] = []

    def instant(
        self, promql: str, at: float | None = None, deadline_s: float | None = None
    ) -> list[Sample]:
        if promql.startswith("count(last_over_time("):
            self.queries.append(promql)
            self.copy_asked_at.append(at)
            kept = at is not None and at >= self.since
            return [Sample({}, at or EVALUATED_AT, 3.0)] if kept else []
        as_counters = promql
        for counter, copy in our_series.RECORDED_USAGE_COUNTERS.items():
            as_counters = as_counters.replace(copy, counter)
        answer = super().instant(as_counters, at, deadline_s)
        self.queries[-1] = promql  # as sent
        return answer


def usage_queries(client: CannedPrometheus) -> list[str]:
    return [q for q in client.queries if "increase(" in q]


def test_a_day_reads_the_recording_rules_copy_where_it_reaches_back_to_the_start() -> None:
    client = RecordedUsage(since=EVALUATED_AT - 2 * 86400)
    report = source(client).usage(EVALUATED_AT - 86400, EVALUATED_AT, "app").value
    assert report.usage_series == "recording_rules"
    assert [(r.group, r.gpu_hours) for r in report.rows] == [("bot", 2.0), ("unattributed", 0.1)]
    assert client.copy_asked_at == [EVALUATED_AT - 86400]
    copies = our_series.RECORDED_USAGE_COUNTERS.values()
    assert sorted(c for q in usage_queries(client) for c in copies if c in q) == sorted(copies)


def test_a_day_that_began_before_the_recording_rules_did_reads_the_counters() -> None:
    client = RecordedUsage(since=EVALUATED_AT - 3600)
    report = source(client).usage(EVALUATED_AT - 86400, EVALUATED_AT, "app").value
    assert report.usage_series == "counters"
    assert all(":5m" not in q for q in usage_queries(client))
    assert [(r.group, r.gpu_hours) for r in report.rows] == [("bot", 2.0), ("unattributed", 0.1)]


def test_steps_shorter_than_an_hour_read_the_counters_without_asking_for_the_copy() -> None:
    client = RecordedUsage(since=EVALUATED_AT - 2 * 86400)
    report = source(client).usage(EVALUATED_AT - 6 * 3600, EVALUATED_AT, "app", bucket_s=600)
    assert report.value.usage_series == "counters"
    assert client.copy_asked_at == []


def test_alerts_are_those_the_hosts_latest_samples_carry_and_no_resolved_ones() -> None:
    client = CannedPrometheus(our_host("a", "a:9470", "GPU-a0") + our_host("b", "b:9470", "GPU-b0"))
    listed = source(client).alerts(include_resolved=True)
    snapshot = source(client).snapshot(with_processes=False).value
    assert (listed.value.host, listed.value.alerts) == (snapshot.host, snapshot.alerts)
    assert all(a.state != "resolved" for a in listed.value.alerts)


def test_usage_without_steps_has_none() -> None:
    client = CannedPrometheus(usage_rows("app") + HOSTS_ROWS)
    assert source(client).usage(EVALUATED_AT - 3600, EVALUATED_AT, "app").value.buckets == []


def test_usage_without_any_collector_series_says_that_dcgm_exporter_does_not_count_usage() -> None:
    with pytest.raises(NoUsageCountersError, match="which dcgm-exporter does not have"):
        source(CannedPrometheus([])).usage(EVALUATED_AT - 60, EVALUATED_AT, "team")


def test_the_history_of_each_gpu_is_charted_by_host() -> None:
    client = CannedPrometheus(many_hosts(2))
    history = source(client).history(900).value
    assert [(g.host, g.gpu_uuid) for g in history.gpus] == [("h0", "GPU-0"), ("h1", "GPU-1")]
    assert history.resolution_s == 4.0  # 900 s in at most 240 points


def test_history_in_coarser_steps_asks_prometheus_for_them() -> None:
    history = source(CannedPrometheus(many_hosts(2))).history(900, step_s=60).value
    assert history.resolution_s == 60.0


def test_the_exposition_under_an_app_scope_hides_other_apps_and_their_pods() -> None:
    rules = parse_app_rules("namespace=llm:bot")
    ours = [
        Sample(
            {"__name__": "gpu_app_memory_used_bytes", "app": app, "uuid": "G"}, EVALUATED_AT, 1.0
        )
        for app in ("bot", "other")
    ]
    theirs = [
        Sample(
            {"__name__": "DCGM_FI_DEV_FB_USED", "UUID": "D", "namespace": ns, "pod": f"{ns}-0"},
            EVALUATED_AT,
            5.0,
        )
        for ns in ("llm", "research")
    ]
    text = exposition_text(ours + theirs, frozenset({"bot"}), rules)
    assert text.splitlines() == [
        'DCGM_FI_DEV_FB_USED{UUID="D",namespace="llm",pod="llm-0"} 5.0',
        'DCGM_FI_DEV_FB_USED{UUID="D"} 5.0',
        'gpu_app_memory_used_bytes{app="bot",uuid="G"} 1.0',
    ]
