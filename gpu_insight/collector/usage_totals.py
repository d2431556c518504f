"""Running usage totals since the collector started: what its books hold, as counters.

The ledger adds every interval's shares to its minute books and to these totals at once, so in
PromQL `increase(gpu_app_gpu_seconds_total[24h])` counts the same intervals as `/v1/usage` does
for those 24 h (to within the sample and scrape intervals at the window's edges).

A key that has accrued nothing for IDLE_EXPIRY_S is dropped: its series ends, and `increase()`
over a window that saw it still counts what it added. If the key accrues again it starts from
0, which PromQL reads as a counter reset. So the counters stay bounded however many containers
come and go.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from gpu_insight.collector.usage_split import Share, UsageKey

IDLE_EXPIRY_S = 3600.0


@dataclass(frozen=True)
class UsageTotal:
    key: UsageKey
    gpu_seconds: float
    memory_mib_seconds: float
    energy_joules: float


@dataclass
class _Running:
    gpu_seconds: float = 0.0
    memory_mib_seconds: float = 0.0
    energy_joules: float = 0.0
    accrued_at: float = 0.0


class UsageTotals:
    """Thread-safe: the sampler thread adds, scrapes read."""

    def __init__(self, idle_expiry_s: float = IDLE_EXPIRY_S) -> None:
        self._idle_expiry_s = idle_expiry_s
        self._lock = threading.Lock()
        self._running: dict[UsageKey, _Running] = {}

    def add(self, shares: Iterable[Share], at: float) -> None:
        """Adds one interval's shares (ending at `at`, epoch seconds)."""
        with self._lock:
            for share in shares:
                if (
                    share.gpu_seconds <= 0
                    and share.memory_mib_seconds <= 0
                    and (share.energy_joules <= 0)
                ):
                    continue
                running = self._running.setdefault(share.key, _Running())
                running.gpu_seconds += share.gpu_seconds
                running.memory_mib_seconds += share.memory_mib_seconds
                running.energy_joules += share.energy_joules
                running.accrued_at = at
            expired = [
                k for k, r in self._running.items() if at - r.accrued_at > self._idle_expiry_s
            ]
            for key in expired:
                del self._running[key]

    def totals(self) -> list[UsageTotal]:
        with self._lock:
            return [
                UsageTotal(key, r.gpu_seconds, r.memory_mib_seconds, r.energy_joules)
                for key, r in self._running.items()
            ]
