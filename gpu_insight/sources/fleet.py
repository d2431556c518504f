"""The collectors named in the settings (one per GPU host), asked together.

Every fan-out goes through `CollectorFleet.gather`: all collectors at once, so an answer waits
for the slowest collector's own bounded timeout, never for the sum of them. A collector that
fails is named in the answer's `missing` list and the others answer; only when none answers is
the call an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gpu_insight.errors import InputError, quoted
from gpu_insight.schemas import AlertList, GroupBy, History, Snapshot, UsageReport
from gpu_insight.sources.client import CollectorClient, CollectorError, MetricsText
from gpu_insight.sources.merge import (
    merge_alert_lists,
    merge_histories,
    merge_snapshots,
    merge_usage,
)
from gpu_insight.sources.settings import CollectorSettings, collector_settings

MAX_PARALLEL_REQUESTS = 16
COLLECTOR_QUERY = "collector"  # the endpoint's query parameter that picks one collector


@dataclass(frozen=True)
class MissingCollector:
    """A collector that gave no usable answer, and the sentence saying why."""

    url: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"url": self.url, "reason": self.reason}


@dataclass(frozen=True)
class Gathered[ValueT]:
    """A merged answer and the collectors it lacks."""

    value: ValueT
    missing: tuple[MissingCollector, ...] = ()


def missing_json(missing: Sequence[MissingCollector]) -> list[dict[str, str]]:
    """How every answer lists the collectors it lacks (`missing_collectors`)."""
    return [m.as_json() for m in missing]


class NoCollectorAnsweredError(CollectorError):
    """Every collector failed; the text gives each one's reason."""


class CollectorFleet:
    def __init__(self, clients: Sequence[CollectorClient]) -> None:
        if not clients:
            raise ValueError("a fleet needs at least one collector")
        self.clients = tuple(clients)

    @classmethod
    def from_settings(cls, settings: CollectorSettings) -> CollectorFleet:
        return cls([CollectorClient(url, settings.token) for url in settings.urls])

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> CollectorFleet:
        """From tool credentials or endpoint settings as Dify passes them."""
        return cls.from_settings(collector_settings(values))

    def check(self) -> None:
        """What the settings page runs: `/healthz`, then an authenticated `/v1/snapshot`, on
        every collector; here any failure is the answer, since the settings name them all."""

        def check_one(client: CollectorClient) -> None:
            client.healthz()
            client.snapshot()

        for outcome in self._each(check_one):
            if isinstance(outcome, CollectorError):
                raise outcome

    def snapshot(
        self, with_processes: bool = True, gpu_fields: frozenset[str] | None = None
    ) -> Gathered[Snapshot]:
        """A collector's snapshot always holds its processes and every field: leaving some
        out saves nothing."""
        return self.gather(lambda client: client.snapshot(), merge_snapshots)

    def history(self, seconds: int, step_s: int | None = None) -> Gathered[History]:
        return self.gather(lambda client: client.history(seconds, step_s=step_s), merge_histories)

    def alerts(self, include_resolved: bool) -> Gathered[AlertList]:
        return self.gather(lambda client: client.alerts(include_resolved), merge_alert_lists)

    def usage(
        self, from_t: float, to_t: float, group_by: GroupBy, bucket_s: int | None = None
    ) -> Gathered[UsageReport]:
        return self.gather(
            lambda client: client.usage(from_t, to_t, group_by, bucket_s), merge_usage
        )

    def metrics_text(self, position: str | None = None) -> MetricsText:
        """One collector's exposition: texts of several cannot simply be concatenated (metric
        families would repeat), so `position` (0-based, in settings order) picks one and
        Prometheus scrapes one target per collector."""
        return self.pick(position).metrics_text()

    def pick(self, position: str | None) -> CollectorClient:
        if position is None or not position.strip():
            return self.clients[0]
        last = len(self.clients) - 1
        text = position.strip()
        if not text.isdecimal() or len(text) > 4 or int(text) > last:  # isdigit() passes "²"
            raise InputError(
                f"{COLLECTOR_QUERY}: {quoted(text, 24)} is not accepted; use a position from 0 "
                f"to {last} in the endpoint's collector_url list.",
                COLLECTOR_QUERY,
            )
        return self.clients[int(text)]

    def gather[PartT, ValueT](
        self,
        call: Callable[[CollectorClient], PartT],
        merge: Callable[[Sequence[PartT]], ValueT],
    ) -> Gathered[ValueT]:
        """`call` on every collector at once, the answers merged in settings order."""
        outcomes = self._each(call)
        parts = [o for o in outcomes if not isinstance(o, CollectorError)]
        failures = [o for o in outcomes if isinstance(o, CollectorError)]
        if not parts:
            if len(failures) == 1:
                raise failures[0]
            raise NoCollectorAnsweredError(
                "No GPU Insight collector answered: "
                + " ".join(f"({n}) {f}" for n, f in enumerate(failures, start=1)),
                failures[0].url,
            )
        missing = tuple(MissingCollector(f.url, str(f)) for f in failures)
        return Gathered(merge(parts), missing)

    def _each[PartT](
        self, call: Callable[[CollectorClient], PartT]
    ) -> list[PartT | CollectorError]:
        def guarded(client: CollectorClient) -> PartT | CollectorError:
            try:
                return call(client)
            except CollectorError as error:
                return error

        if len(self.clients) == 1:
            return [guarded(self.clients[0])]
        workers = min(MAX_PARALLEL_REQUESTS, len(self.clients))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(guarded, self.clients))
