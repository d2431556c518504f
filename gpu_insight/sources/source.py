"""Where the plugin's answers come from, chosen by the settings.

With `prometheus_url` set, from PromQL (`PrometheusSource`: our collectors' series or
dcgm-exporter's, across every host Prometheus scrapes); without it, from the collectors listed
in `collector_url` (`CollectorFleet`). Both answer the same questions with the same wire models,
so tools, endpoints and answers never ask which one they have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from gpu_insight.errors import SettingsError
from gpu_insight.schemas import AlertList, GroupBy, History, Snapshot, UsageReport
from gpu_insight.sources.client import MetricsText
from gpu_insight.sources.fleet import CollectorFleet, Gathered
from gpu_insight.sources.prometheus.settings import URL_SETTING, prometheus_url_of
from gpu_insight.sources.prometheus.source import PrometheusSource
from gpu_insight.sources.settings import URL_EXAMPLE


class GpuSource(Protocol):
    def check(self) -> None:
        """What the settings page runs; raises a `CollectorError` saying what is wrong."""
        ...

    def snapshot(
        self, with_processes: bool = True, gpu_fields: frozenset[str] | None = None
    ) -> Gathered[Snapshot]:
        """Every host's GPUs, alerts and, unless `with_processes` is False (for answers that
        read neither), its processes and serving engines. `gpu_fields` names the `Gpu` fields
        an answer reads besides each GPU's identity and health; a source may leave the others
        unset (None: every field)."""
        ...

    def history(self, seconds: int, step_s: int | None = None) -> Gathered[History]:
        """The last `seconds` of every GPU, in steps of at least `step_s` when asked."""
        ...

    def alerts(self, include_resolved: bool) -> Gathered[AlertList]: ...

    def usage(
        self, from_t: float, to_t: float, group_by: GroupBy, bucket_s: int | None = None
    ) -> Gathered[UsageReport]:
        """Usage per group over the window; with `bucket_s`, also in steps of it."""
        ...

    def metrics_text(self, position: str | None = None) -> MetricsText:
        """Prometheus exposition of the GPUs; `position` picks one of several collectors."""
        ...


def source_from(values: Mapping[str, Any]) -> GpuSource:
    """The source that tool credentials or endpoint settings (as Dify passes them) name."""
    if prometheus_url_of(values) is not None:
        return PrometheusSource.from_values(values)
    collector_url = values.get("collector_url")
    if collector_url is None or (isinstance(collector_url, str) and not collector_url.strip()):
        raise SettingsError(
            f"Neither collector_url nor {URL_SETTING} is set; enter the collector's URL, e.g. "
            f"{URL_EXAMPLE} (several separated by commas), or your Prometheus' URL for a fleet.",
            "collector_url",
        )
    return CollectorFleet.from_values(values)
