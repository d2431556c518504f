"""Every PromQL query the plugin sends: a fixed number per answer, whatever the fleet's size.

Each query selects series by name for all GPUs at once (never one query per GPU or host) and
carries the settings' selector; app-labelled series also carry the app scope. Series are picked
with one `__name__` regex per query rather than joined with `or`: on a 1,000-GPU fleet `or`
over tens of thousands of series costs Prometheus several times the selection itself. Where a
query has parts, FIELD_LABEL tells them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gpu_insight.schemas import GroupBy
from gpu_insight.sources.prometheus import dcgm_series, our_series
from gpu_insight.sources.prometheus.promql import Matcher, field_label, names, one_of, selector
from gpu_insight.sources.prometheus.settings import PrometheusSettings

_FIRST_GPU = Matcher("gpu", "=", '"0"')
_FIRST_GPU_OR_NONE = Matcher("gpu", "=~", '"0|"')
_NOT_OK = Matcher("state", "!=", '"ok"')
# What a reading keeps of its labels: its name and its GPU's UUID (`exported_uuid` where a
# target label took the name: see `hosts.label`).
READING_LABELS = ("__name__", "uuid", "exported_uuid")
_BY_READING = ", ".join(READING_LABELS)
# Device series per readings query: on 1,000 GPUs 3,000 series a query, so that Prometheus
# evaluates several at once on its cores, and the plugin reads the first while it does.
READINGS_PER_QUERY = 3
# How far back a target that is down now still counts as a GPU host that should answer.
DOWN_LOOKBACK = "1h"
DOWN = "down"  # FIELD_LABEL of the targets that are down
HOST = "host"  # FIELD_LABEL of the host names of targets that are not up
# How far back from a window's start the recording rules' copy of the usage counters must have
# a sample for a report to read it: two of its 5-minute intervals.
RECORDED_USAGE_LOOKBACK = "10m"
USAGE_HOSTS = "hosts"
USAGE_SOURCES = "sources"


@dataclass(frozen=True)
class Queries:
    """The queries of one set of settings."""

    settings: PrometheusSettings

    @property
    def _scope(self) -> tuple[Matcher, ...]:
        return self.settings.selector

    @property
    def _apps(self) -> tuple[Matcher, ...]:
        apps = self.settings.apps
        return () if apps is None else (one_of("app", apps),)

    def _of(self, metric_names: Sequence[str], *extra: Sequence[Matcher]) -> str:
        return selector([names(metric_names)], self._scope, *extra)

    def _one(self, metric_name: str) -> str:
        return metric_name + selector(self._scope)

    def our_devices(self, gpu_fields: frozenset[str] | None = None) -> list[str]:
        """Every GPU's identity (`gpu_info`, with its target's labels), and the readings of
        the `Gpu` fields an answer reads (None: all that a snapshot holds) by name and GPU
        UUID alone: the readings are most of a fleet's series, and their target labels a
        third of the answer's bytes (1.06 instead of 1.55 MB on 1,000 GPUs)."""
        names = our_series.reading_names(gpu_fields)
        return [self._one(our_series.INFO)] + [
            f"max by ({_BY_READING}) ({self._of(names[at : at + READINGS_PER_QUERY])})"
            for at in range(0, len(names), READINGS_PER_QUERY)
        ]

    def our_flags(self) -> str:
        """The GPUs whose health state is not ok (the others are ok), by GPU UUID."""
        unhealthy = self._of((our_series.HEALTH,), [_NOT_OK])
        return f"max by ({_BY_READING}, state) ({unhealthy} == 1)"

    def our_apps(self) -> str:
        """Per-app memory and SM shares, and the serving engines (app-scoped)."""
        return self._of(our_series.APP_NAMES, self._apps)

    def our_collectors(self) -> str:
        """Each collector's own state (up, sample time) and its pending and firing alerts."""
        return self._of(our_series.COLLECTOR_NAMES)

    def dcgm_devices(self, gpu_fields: frozenset[str] | None = None) -> str:
        """dcgm-exporter's device series of the `Gpu` fields an answer reads."""
        return self._of(dcgm_series.device_names(gpu_fields))

    def dcgm_scraped(self) -> str:
        """When each dcgm-exporter GPU was last scraped."""
        return f"timestamp({self._one(dcgm_series.FREE)})"

    def down_targets(self) -> str:
        """Targets with `up == 0` in a job that had GPU series lately, and the host names of
        targets that are not up."""
        # one series per target is enough: the collector's own up, an exporter's GPU 0
        markers = self._of((our_series.COLLECTOR_UP, dcgm_series.FREE), [_FIRST_GPU_OR_NONE])
        named = self._of((our_series.INFO, dcgm_series.FREE), [_FIRST_GPU])
        gpu_jobs = f"group by (job) (last_over_time({markers}[{DOWN_LOOKBACK}]))"
        hosts = (
            "group by (job, instance, host, exported_host, Hostname, hostname) "
            f"(last_over_time({named}[{DOWN_LOOKBACK}]))"
        )
        up = self._one("up")
        not_up = f"({hosts} unless on(job, instance) ({up} == 1))"
        return (
            f"({field_label(f'{up} == 0', DOWN)} and on(job) {gpu_jobs})"
            f" or {field_label(not_up, HOST)}"
        )

    def history(self) -> str:
        """The series the history charts draw, of both exporters (a range query)."""
        return self._of((*our_series.HISTORY_NAMES, *dcgm_series.HISTORY_NAMES))

    def usage(self, window_ms: int, group_by: GroupBy, recorded: bool = False) -> list[str]:
        """What each counter of the collectors' books rose by over the window, per group: one
        query per counter, so that Prometheus reads the three at once (on a 1,000-GPU fleet
        each reads 2,880 samples of 1,000 series for a day; `recorded`: of the recording
        rules' copy, 288)."""
        by = our_series.USAGE_GROUP_LABELS.get(group_by, group_by)
        window = f"{max(1, window_ms)}ms"
        return [
            field_label(
                f"sum by ({by}) (increase({self._of((name,), self._apps)}[{window}]))", field
            )
            for name, field in self._usage_names(recorded)
        ]

    def recorded_usage(self) -> str:
        """How many series of the recording rules' copy of the usage counters have a sample
        in the RECORDED_USAGE_LOOKBACK before the time it is evaluated at (a window's start):
        none when the rules are not loaded, or were loaded after that time."""
        name, _field = self._usage_names(True)[0]  # one copy stands for all three
        return f"count(last_over_time({self._of((name,), self._apps)}[{RECORDED_USAGE_LOOKBACK}]))"

    @staticmethod
    def _usage_names(recorded: bool) -> list[tuple[str, str]]:
        """(series name, UsageRow field) of each usage counter, or of its recorded copy."""
        return [
            (our_series.RECORDED_USAGE_COUNTERS[counter] if recorded else counter, field)
            for counter, (field, _factor) in our_series.USAGE_COUNTERS.items()
        ]

    def usage_hosts(self) -> str:
        """The collectors' hosts and whether any of them replays a recorded trace."""
        hosts = f"group by (host) ({self._one(our_series.INFO)})"
        sources = f"group by (source) ({self._one(our_series.COLLECTOR_UP)})"
        return f"{field_label(hosts, USAGE_HOSTS)} or {field_label(sources, USAGE_SOURCES)}"

    def gpu_count(self, scoped: bool = True) -> str:
        """How many GPUs either exporter reports (under the selector, or anywhere)."""
        gpus = (our_series.INFO, dcgm_series.FREE)
        return f"count({self._of(gpus) if scoped else selector([names(gpus)])})"

    def exposition(self) -> str:
        """Every GPU series of both exporters, for the `/metrics` endpoint."""
        return selector([Matcher("__name__", "=~", '"gpu_.+|DCGM_.+"')], self._scope)
