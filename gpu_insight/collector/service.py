"""Assembles the collector's parts from a configuration; `__main__` only adds the HTTP server."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpu_insight.collector.accounting import UsageLedger
from gpu_insight.collector.alert_rules import DEFAULT_RULES
from gpu_insight.collector.alerts import AlertEngine
from gpu_insight.collector.attribution import Attributor
from gpu_insight.collector.backends.base import Backend
from gpu_insight.collector.backends.nvml import NvmlBackend
from gpu_insight.collector.backends.replay import ReplayBackend, load_trace
from gpu_insight.collector.config import CollectorConfig
from gpu_insight.collector.engines import EngineScraper
from gpu_insight.collector.history import HistoryBuffer
from gpu_insight.collector.notify.delivery import DeliveryContext
from gpu_insight.collector.notify.targets import WebhookRegistry
from gpu_insight.collector.notify.worker import Notifier
from gpu_insight.collector.recorder import SnapshotRecorder
from gpu_insight.collector.runtime import CollectorRuntime, EngineSource, SelfMetrics
from gpu_insight.collector.sampler import Sampler
from gpu_insight.collector.store import SnapshotStore

log = logging.getLogger(__name__)


@dataclass
class CollectorService:
    runtime: CollectorRuntime
    sampler: Sampler
    backend: Backend
    usage: UsageLedger
    scraper: EngineScraper | None  # None when replaying: the trace holds the engine metrics
    recorder: SnapshotRecorder | None
    notifier: Notifier

    def start(self) -> None:
        self.notifier.start()
        if self.scraper is not None:
            self.scraper.start()
        self.sampler.start()

    def stop(self) -> None:
        """Stops sampling first, so that nothing is published into closed parts."""
        self.sampler.stop()
        if self.scraper is not None:
            self.scraper.stop()
        self.notifier.stop()
        self.usage.close()
        if self.recorder is not None:
            self.recorder.close()
        self.backend.close()
        log.info("collector stopped")


def build_service(
    config: CollectorConfig,
    *,
    nvml: Any = None,
    clock: Callable[[], float] = time.time,
) -> CollectorService:
    """Wires backend, sampler, store and its listeners from the configuration.

    `nvml` replaces the pynvml module (tests pass a fake). Raises TraceError for an unreadable
    replay trace, OSError for a recording file that cannot be opened and ConfigError for a
    webhook target the notifier refuses.
    """
    self_metrics = SelfMetrics()
    backend: Backend
    replay: ReplayBackend | None = None
    if config.replay is not None:
        replay = ReplayBackend(load_trace(config.replay))
        backend = replay
    else:
        backend = NvmlBackend(config.sampling, self_metrics, nvml=nvml)

    hostname = config.hostname or (replay.recorded_host if replay else socket.gethostname())
    store = SnapshotStore()
    history = HistoryBuffer(config.history)
    alerts = AlertEngine(config.alerts, clock=clock)
    usage = UsageLedger(config.accounting, clock=clock)
    scraper: EngineScraper | None = None
    engines: EngineSource
    if replay is not None:
        engines = replay
    else:
        scraper = EngineScraper(config.engines)
        engines = scraper
    recorder = SnapshotRecorder(config.record) if config.record else None

    if replay is not None and config.replay_fills_history:
        span = config.history
        now = clock()
        # One coarse bucket more than kept: the newest bucket is still filling, not yet kept.
        seconds = history.max_seconds + span.coarse_resolution_s
        for played in replay.played_before(now, seconds, span.fine_resolution_s):
            history.add(played)
        # The usage books too, in coarse steps, for the part of that span they lack: what an
        # earlier start booked is not counted twice.
        booked = usage.booked_until()
        for played in replay.played_before(now, seconds, span.coarse_resolution_s):
            if booked is None or played.collected_at > booked:
                usage.add(played)

    registry = WebhookRegistry(
        config.notify, config.accounting.db_path, [rule.id for rule in DEFAULT_RULES], clock
    )
    dashboard_url = config.notify.dashboard_url or f"http://{hostname}:{config.port}/"
    notifier = Notifier(
        config.notify,
        config.accounting.db_path,
        registry,
        DeliveryContext(hostname, backend.source, dashboard_url),
        store.latest,
        clock,
    )
    alerts.subscribe(notifier.alert_changed)

    store.subscribe(history.add)
    store.subscribe(usage.add)
    if recorder is not None:
        store.subscribe(recorder)

    runtime = CollectorRuntime(
        config=config,
        hostname=hostname,
        source=backend.source,
        store=store,
        history=history,
        alerts=alerts,
        usage=usage,
        engines=engines,
        self_metrics=self_metrics,
        started_at=clock(),
        notifier=notifier,
    )
    sampler = Sampler(
        sampling=config.sampling,
        backend=backend,
        store=store,
        engines=engines,
        alerts=alerts,
        self_metrics=self_metrics,
        hostname=hostname,
        describer=None if backend.attributes_processes else Attributor(config.attribution),
        clock=clock,
    )
    return CollectorService(
        runtime=runtime,
        sampler=sampler,
        backend=backend,
        usage=usage,
        scraper=scraper,
        recorder=recorder,
        notifier=notifier,
    )
