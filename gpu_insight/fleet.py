"""Several collectors (one per GPU host) read together and merged into one view."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from gpu_insight.client import CollectorClient
from gpu_insight.schemas import Health, HealthStatus, Snapshot, Source
from gpu_insight.settings import CollectorSettings

ResultT = TypeVar("ResultT")
_HEALTH_RANK: dict[HealthStatus, int] = {"ok": 0, "degraded": 1, "down": 2}


class CollectorFleet:
    """The collectors named in the settings, asked in parallel; the first failure (in URL
    order) is raised, so a message always names one URL."""

    def __init__(self, clients: Sequence[CollectorClient]) -> None:
        if not clients:
            raise ValueError("a fleet needs at least one collector")
        self.clients = tuple(clients)

    @classmethod
    def from_settings(cls, settings: CollectorSettings) -> CollectorFleet:
        return cls([CollectorClient(url, settings.token) for url in settings.urls])

    def check(self) -> list[Health]:
        """What the settings page runs: `/healthz`, then an authenticated `/v1/snapshot`."""

        def check_one(client: CollectorClient) -> Health:
            health = client.healthz()
            client.snapshot()
            return health

        return self._each(check_one)

    def snapshot(self) -> Snapshot:
        return merge_snapshots(self._each(CollectorClient.snapshot))

    def _each(self, call: Callable[[CollectorClient], ResultT]) -> list[ResultT]:
        if len(self.clients) == 1:
            return [call(self.clients[0])]
        with ThreadPoolExecutor(max_workers=min(8, len(self.clients))) as pool:
            futures = [pool.submit(call, client) for client in self.clients]
            return [future.result() for future in futures]


def merge_snapshots(snapshots: Sequence[Snapshot]) -> Snapshot:
    """One snapshot for several hosts: every GPU, process, engine and alert carries its host;
    health is the worst, the time the oldest, and the source `replay` if any host replays."""
    if not snapshots:
        raise ValueError("nothing to merge")
    labelled = [_label_with_host(s) for s in snapshots]
    if len(labelled) == 1:
        return labelled[0]
    worst = max(labelled, key=lambda s: _HEALTH_RANK[s.health])
    source: Source = "replay" if any(s.source == "replay" for s in labelled) else "nvml"
    reasons = [f"{s.host}: {s.health_reason}" for s in labelled if s.health_reason]
    return Snapshot(
        host=",".join(s.host for s in labelled),
        source=source,
        collected_at=min(s.collected_at for s in labelled),
        health=worst.health,
        health_reason="; ".join(reasons) or None,
        gpus=[g for s in labelled for g in s.gpus],
        processes=[p for s in labelled for p in s.processes],
        engines=[e for s in labelled for e in s.engines],
        alerts=[a for s in labelled for a in s.alerts],
    )


def _label_with_host(snapshot: Snapshot) -> Snapshot:
    host = snapshot.host
    return snapshot.model_copy(
        update={
            "gpus": [g.model_copy(update={"host": g.host or host}) for g in snapshot.gpus],
            "processes": [
                p.model_copy(update={"host": p.host or host}) for p in snapshot.processes
            ],
            "engines": [e.model_copy(update={"host": e.host or host}) for e in snapshot.engines],
            "alerts": [a.model_copy(update={"host": a.host or host}) for a in snapshot.alerts],
        }
    )
