"""Renderings kept for as long as the sample they were made from is the latest one.

Readers between two samples (scrapers, dashboards, a burst of API calls) then share one
rendering instead of each serialising the same snapshot again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable


class PerSampleCache[T]:
    def __init__(self, max_entries: int | None = None) -> None:
        """`max_entries` bounds the renderings kept per sample when keys come from requests."""
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._sample: object | None = None
        self._counters: tuple[int, ...] = ()
        self._entries: dict[Hashable, T] = {}

    def peek(
        self, sample: object | None, key: Hashable, counters: tuple[int, ...] = ()
    ) -> T | None:
        """The rendering kept for `key` of this sample, or None: for callers that render
        elsewhere (in a worker thread) only on a miss."""
        with self._lock:
            if sample is self._sample and counters == self._counters:
                return self._entries.get(key)
        return None

    def get(
        self,
        sample: object | None,
        key: Hashable,
        render: Callable[[], T],
        counters: tuple[int, ...] = (),
    ) -> T:
        """`sample` is compared by identity (snapshots are replaced, never mutated in place);
        `counters` are small values that change with it (e.g. samples taken)."""
        with self._lock:
            if sample is not self._sample or counters != self._counters:
                self._sample, self._counters, self._entries = sample, counters, {}
            elif key in self._entries:
                return self._entries[key]
        value = render()
        with self._lock:
            full = self._max_entries is not None and len(self._entries) >= self._max_entries
            if sample is self._sample and counters == self._counters and not full:
                self._entries[key] = value
        return value
