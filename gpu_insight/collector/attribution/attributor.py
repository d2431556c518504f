"""Host PID → process identity: process → container → model instance → app/team."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gpu_insight.collector.attribution.cgroups import ContainerRef, container_from_cgroup
from gpu_insight.collector.attribution.commandline import (
    EngineGuess,
    default_port,
    detect_engine,
    display_cmdline,
)
from gpu_insight.collector.attribution.docker_api import ContainerLookup, DockerClient
from gpu_insight.collector.attribution.ownership import OwnershipResolver
from gpu_insight.collector.attribution.procfs import (
    ProcessFacts,
    ProcessGoneError,
    ProcReader,
    user_name,
)
from gpu_insight.collector.config import AttributionConfig
from gpu_insight.schemas import Attribution

PID_NOT_VISIBLE = (
    "pid not visible: the collector is not in the host PID namespace "
    "(run it with --pid=host, or hostPID: true in Kubernetes)"
)
_ANCESTOR_DEPTH = 4  # engine servers start their GPU workers as children or grandchildren
_IDENTITY_TTL_S = 60.0  # re-read now and then: labels may have been unreadable at first
_CACHE_PRUNE_AT = 2048


@dataclass(frozen=True)
class ProcessIdentity:
    name: str | None
    cmdline: str | None
    user: str | None
    attribution: Attribution


class Attributor:
    def __init__(
        self,
        config: AttributionConfig,
        docker: DockerClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._proc = ProcReader(config.proc_root)
        self._docker = docker or DockerClient(config.docker_socket, config.docker_timeout_s)
        self._owners = OwnershipResolver(config)
        self._clock = clock
        self._host_pid_namespace: bool | None = None
        # pid → (start ticks, expiry, identity); start ticks tell a reused pid apart
        self._cache: dict[int, tuple[int | None, float, ProcessIdentity]] = {}

    def describe(self, pid: int) -> ProcessIdentity | None:
        """Who a host PID belongs to; None when the process is gone."""
        if not self._proc.exists(pid):
            if self._in_host_pid_namespace():
                return None
            return _unattributed(PID_NOT_VISIBLE)
        now = self._clock()
        try:
            start_ticks = self._proc.start_ticks(pid)
            cached = self._cache.get(pid)
            if cached is not None and cached[0] == start_ticks and cached[1] > now:
                return cached[2]
            facts = self._proc.read(pid)
        except ProcessGoneError:
            self._cache.pop(pid, None)
            return None
        except OSError as exc:
            return _unattributed(f"cannot read the process's /proc entry: {exc.strerror or exc}")
        identity = self._identify(facts)
        if len(self._cache) >= _CACHE_PRUNE_AT:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
        self._cache[pid] = (facts.start_ticks, now + _IDENTITY_TTL_S, identity)
        return identity

    def _in_host_pid_namespace(self) -> bool:
        if self._host_pid_namespace is None:
            self._host_pid_namespace = self._proc.host_pid_namespace()
        return self._host_pid_namespace

    def _identify(self, facts: ProcessFacts) -> ProcessIdentity:
        guess = self._engine_of(facts)
        container = container_from_cgroup(facts.cgroup_lines)
        lookup = (
            self._docker.lookup(container.container_id)
            if container is not None and container.container_id
            else ContainerLookup(None, None)
        )
        info = lookup.info
        port = guess.port or default_port(guess.engine, in_container=container is not None)
        if info is not None and port is not None:
            port = info.published_ports.get(port, port)  # reachable from the host
        cmdline = display_cmdline(facts.argv)
        container_name = info.name if info is not None else None
        owner = self._owners.resolve(
            info.labels if info is not None else {}, container_name, guess.model, cmdline
        )
        attribution = Attribution(
            container_id=container.container_id if container else None,
            container_name=container_name,
            container_runtime=container.runtime if container else None,
            pod_uid=container.pod_uid if container else None,
            engine=guess.engine,
            model=guess.model,
            model_path=guess.model_path,
            port=port,
            app=owner.app,
            team=owner.team,
            unattributed_reason=(
                None if owner.app is not None else self._why_no_app(container, lookup)
            ),
        )
        return ProcessIdentity(
            name=facts.comm,
            cmdline=cmdline or None,
            user=user_name(facts.uid),
            attribution=attribution,
        )

    def _engine_of(self, facts: ProcessFacts) -> EngineGuess:
        """The process's engine; workers and helpers take model and port from their server."""
        guess = detect_engine(facts.argv)
        if guess.engine != "unknown" and not guess.is_worker:
            return guess
        ppid = facts.ppid
        for _ in range(_ANCESTOR_DEPTH):
            if ppid is None or ppid <= 1:
                break
            try:
                parent = self._proc.read(ppid)
            except OSError:  # includes ProcessGoneError
                break
            server = detect_engine(parent.argv)
            same_engine = guess.engine in ("unknown", server.engine)
            if server.engine != "unknown" and not server.is_worker and same_engine:
                return server
            ppid = parent.ppid
        return guess

    def _why_no_app(self, container: ContainerRef | None, lookup: ContainerLookup) -> str:
        if container is None:
            return "no container and no matching rule"
        shown = (
            lookup.info.name
            if lookup.info is not None
            else (container.container_id or "")[:12] or f"pod {container.pod_uid}"
        )
        if lookup.error is not None:
            return f"container {shown}: {lookup.error}, and no matching rule"
        label = self._owners.app_label_key
        if label is None:
            return f"container {shown} matches no rule"
        return f"container {shown} has no {label} label and no matching rule"


def _unattributed(reason: str) -> ProcessIdentity:
    return ProcessIdentity(None, None, None, Attribution(unattributed_reason=reason))
