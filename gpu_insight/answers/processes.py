"""What `gpu_processes` answers: who holds GPU memory, by process, container, model or app."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from gpu_insight.advise.reservation import reservation
from gpu_insight.answers.answer import Variable, mib, missing_note, where
from gpu_insight.answers.params import GpuSelector, parse_choice, parse_gpu_selector, select_gpus
from gpu_insight.schemas import GpuProcess, Snapshot
from gpu_insight.sources.fleet import Gathered, MissingCollector, missing_json

ProcessGrouping = Literal["process", "container", "model", "app"]
PROCESS_GROUPINGS: tuple[ProcessGrouping, ...] = get_args(ProcessGrouping)
UNATTRIBUTED = "unattributed"


@dataclass(frozen=True)
class ConsumerRow:
    """One consumer: a process, or a group of processes sharing a container, model or app."""

    consumer: str
    used_memory_mib: float
    process_count: int
    gpus: list[str]  # "host:index"
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "consumer": self.consumer,
            "used_memory_mib": round(self.used_memory_mib, 1),
            "process_count": self.process_count,
            "gpus": self.gpus,
        }
        row.update({k: v for k, v in self.details.items() if v is not None})
        return row


@dataclass(frozen=True)
class ProcessQuery:
    selector: GpuSelector
    group_by: ProcessGrouping


def parse_process_query(params: Mapping[str, Any]) -> ProcessQuery:
    return ProcessQuery(
        selector=parse_gpu_selector(params.get("gpu")),
        group_by=parse_choice(params.get("group_by"), "group_by", PROCESS_GROUPINGS, "process"),
    )


@dataclass(frozen=True)
class ProcessAnswer:
    snapshot: Snapshot
    group_by: ProcessGrouping
    rows: list[ConsumerRow]  # largest memory first
    unattributed_mib: float  # held by processes with neither app nor team
    missing: tuple[MissingCollector, ...] = ()

    @property
    def top(self) -> ConsumerRow | None:
        return self.rows[0] if self.rows else None

    def text(self) -> str:
        snapshot = self.snapshot
        origin = where(snapshot.host, snapshot.source, snapshot.prometheus_url)
        gaps = missing_note(self.missing)
        top = self.top
        if top is None:
            return f"{origin}: no processes hold GPU memory on the selected GPUs.{gaps}"
        return (
            f"{origin}: top consumer by {self.group_by} is {top.consumer} with "
            f"{mib(top.used_memory_mib)} on {', '.join(top.gpus)}; {len(self.rows)} "
            f"consumer(s); {mib(self.unattributed_mib)} held by processes not attributed to an "
            f"app or team.{gaps}"
        )

    def variables(self) -> dict[str, Variable]:
        top = self.top
        return {
            "top_consumer": top.consumer if top else "",
            "top_consumer_mib": round(top.used_memory_mib, 1) if top else 0.0,
            "unattributed_mib": round(self.unattributed_mib, 1),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.snapshot.source,
            "prometheus_url": self.snapshot.prometheus_url,
            "host": self.snapshot.host,
            "collected_at": self.snapshot.collected_at,
            "group_by": self.group_by,
            "summary": self.variables(),
            "consumers": [r.as_json() for r in self.rows],
            "missing_collectors": missing_json(self.missing),
        }


def answer_processes(query: ProcessQuery, gathered: Gathered[Snapshot]) -> ProcessAnswer:
    snapshot, group_by = gathered.value, query.group_by
    gpus = select_gpus(snapshot, query.selector)
    selected = {(g.host, g.uuid) for g in gpus}
    processes = [p for p in snapshot.processes if (p.host, p.gpu_uuid) in selected]
    several_hosts = len({g.host for g in gpus}) > 1
    rows = (
        _process_rows(processes, several_hosts, _memory_notes(snapshot))
        if group_by == "process"
        else _group_rows(processes, _GROUP_KEYS[group_by])
    )
    rows.sort(key=lambda r: (-r.used_memory_mib, r.consumer))
    unattributed = sum(_memory(p) for p in processes if _is_unattributed(p))
    return ProcessAnswer(snapshot, group_by, rows, unattributed, gathered.missing)


def _identity(process: GpuProcess) -> tuple[str | None, int | str]:
    """A process by host and pid; read through Prometheus (pid 0, not known), the processes of
    one container (or pod), app and model."""
    if process.pid:
        return (process.host, process.pid)
    who = process.attribution
    return (process.host, f"{who.container_name}|{who.app}|{who.team}|{who.model}|{who.engine}")


def _memory_notes(snapshot: Snapshot) -> dict[tuple[str | None, int | None, str], str]:
    """Per (host, pid, GPU): the "not a leak" sentence of a process whose engine reserved most
    of that GPU on purpose."""
    gpus = {(g.host, g.uuid): g for g in snapshot.gpus}
    notes: dict[tuple[str | None, int | None, str], str] = {}
    for process in snapshot.processes:
        gpu = gpus.get((process.host, process.gpu_uuid))
        held = reservation(process, gpu, snapshot.engines) if gpu is not None else None
        if held is not None:
            notes[(process.host, process.pid or None, process.gpu_uuid)] = held.sentence()
    return notes


def _process_rows(
    processes: Sequence[GpuProcess],
    several_hosts: bool,
    notes: Mapping[tuple[str | None, int | None, str], str],
) -> list[ConsumerRow]:
    by_process: dict[tuple[str | None, int | str], list[GpuProcess]] = {}
    for process in processes:
        by_process.setdefault(_identity(process), []).append(process)
    rows = []
    for (host, _), entries in by_process.items():
        first = entries[0]
        attribution = first.attribution
        pid = first.pid or None
        if pid is None:
            who = attribution.container_name or attribution.model or attribution.app
            label = f"{who or UNATTRIBUTED} (pid not known)"
        else:
            label = f"{first.name or 'process'} (pid {pid})"
        rows.append(
            ConsumerRow(
                consumer=f"{host}: {label}" if several_hosts else label,
                used_memory_mib=sum(_memory(p) for p in entries),
                process_count=1,
                gpus=_gpu_labels(entries),
                details={
                    "pid": pid,
                    "user": first.user,
                    "cmdline": first.cmdline,
                    "container": attribution.container_name,
                    "engine": None if attribution.engine == "unknown" else attribution.engine,
                    "model": attribution.model,
                    "app": attribution.app,
                    "team": attribution.team,
                    "unattributed_reason": attribution.unattributed_reason,
                    "reserved_by_engine": first.reserved_by_engine,
                    "memory_note": "; ".join(
                        notes[key] for p in entries if (key := (host, pid, p.gpu_uuid)) in notes
                    )
                    or None,
                },
            )
        )
    return rows


def _group_rows(
    processes: Sequence[GpuProcess], key: Callable[[GpuProcess], str | None]
) -> list[ConsumerRow]:
    groups: dict[str, list[GpuProcess]] = {}
    for process in processes:
        groups.setdefault(key(process) or UNATTRIBUTED, []).append(process)
    return [
        ConsumerRow(
            consumer=name,
            used_memory_mib=sum(_memory(p) for p in members),
            process_count=len({_identity(p) for p in members}),
            gpus=_gpu_labels(members),
            details={"pids": sorted({p.pid for p in members if p.pid}) or None},
        )
        for name, members in groups.items()
    ]


_GROUP_KEYS: dict[ProcessGrouping, Callable[[GpuProcess], str | None]] = {
    "container": lambda p: p.attribution.container_name or p.attribution.container_id,
    "model": lambda p: p.attribution.model,
    "app": lambda p: p.attribution.app,
}


def _gpu_labels(processes: Sequence[GpuProcess]) -> list[str]:
    return sorted({f"{p.host}:{p.gpu_index}" for p in processes})


def _memory(process: GpuProcess) -> float:
    # None means NVML could not tell (e.g. under MIG or without permissions): counts as 0 here.
    return process.used_memory_mib or 0.0


def _is_unattributed(process: GpuProcess) -> bool:
    return process.attribution.app is None and process.attribution.team is None
