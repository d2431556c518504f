"""The latest snapshot, shared between the sampler thread and every reader.

Requests and scrapes read from here and never call NVML. Listeners (history, accounting,
recording) are called in the sampler thread after each publish; one failing listener is
logged and does not stop the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gpu_insight.schemas import Snapshot

log = logging.getLogger(__name__)

Listener = Callable[[Snapshot], None]


class SnapshotStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: Snapshot | None = None
        self._listeners: list[Listener] = []
        self.listener_errors_total = 0

    def latest(self) -> Snapshot | None:
        with self._lock:
            return self._latest

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._latest = snapshot
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(snapshot)
            except Exception:
                self.listener_errors_total += 1
                log.exception("snapshot listener %r failed", listener)
