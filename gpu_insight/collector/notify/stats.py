"""What `/metrics` shows of the notifier: results since start, and the backlog now."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from gpu_insight.collector.notify.outbox import Backlog

# delivered: a 2xx; rejected: an answer retrying cannot change; expired: given up after
# notify.give_up_after_s; target_removed: its target was deleted before it was delivered.
DeliveryResult = Literal["delivered", "rejected", "expired", "target_removed"]
DELIVERY_RESULTS: tuple[DeliveryResult, ...] = (
    "delivered",
    "rejected",
    "expired",
    "target_removed",
)


@dataclass(frozen=True)
class NotifyStats:
    deliveries: dict[tuple[str, DeliveryResult], int]  # (target id, result) → count
    failed_attempts: dict[str, int]  # target id → attempts that failed and will be retried
    queue_overflow_total: int  # alert changes dropped because the queue was full
    backlog: dict[str, Backlog]  # target id → deliveries not delivered yet
    version: int  # grows with every change of the above


@dataclass
class NotifyCounters:
    """The notifier's threads count here; `snapshot()` is what a scrape reads. Thread-safe."""

    _deliveries: Counter[tuple[str, DeliveryResult]] = field(default_factory=Counter)
    _failed_attempts: Counter[str] = field(default_factory=Counter)
    _overflow: int = 0
    _backlog: dict[str, Backlog] = field(default_factory=dict)
    _version: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, target_id: str, result: DeliveryResult, n: int = 1) -> None:
        with self._lock:
            self._deliveries[(target_id, result)] += n
            self._version += 1

    def count_failed_attempt(self, target_id: str) -> None:
        with self._lock:
            self._failed_attempts[target_id] += 1
            self._version += 1

    def count_overflow(self) -> int:
        with self._lock:
            self._overflow += 1
            self._version += 1
            return self._overflow

    def set_backlog(self, backlog: dict[str, Backlog]) -> None:
        with self._lock:
            self._backlog = backlog
            self._version += 1

    def snapshot(self) -> NotifyStats:
        with self._lock:
            return NotifyStats(
                deliveries=dict(self._deliveries),
                failed_attempts=dict(self._failed_attempts),
                queue_overflow_total=self._overflow,
                backlog=dict(self._backlog),
                version=self._version,
            )
