"""What a project token may see: pure filters over the wire models.

A project token sees every GPU (device state is not secret within a host) and the alerts about
them, but only the processes, containers and engines of its own apps. `apps=None` means the
admin view: everything, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpu_insight.schemas import EngineMetrics, GpuProcess, Snapshot

Apps = frozenset[str] | None


def visible_processes(processes: Iterable[GpuProcess], apps: Apps) -> list[GpuProcess]:
    if apps is None:
        return list(processes)
    return [p for p in processes if p.attribution.app in apps]


def visible_engines(engines: Iterable[EngineMetrics], apps: Apps) -> list[EngineMetrics]:
    if apps is None:
        return list(engines)
    return [e for e in engines if e.app in apps]


def scope_snapshot(snapshot: Snapshot, apps: Apps) -> Snapshot:
    """The snapshot as `apps` may see it; the stored snapshot itself is never modified."""
    if apps is None:
        return snapshot
    return snapshot.model_copy(
        update={
            "processes": visible_processes(snapshot.processes, apps),
            "engines": visible_engines(snapshot.engines, apps),
        }
    )
