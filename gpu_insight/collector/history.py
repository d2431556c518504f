"""Recent per-GPU history in memory: a fine tier (1 s for 15 min) and a coarse tier (10 s for 24 h).

Each tier keeps, per GPU, a deque with a fixed `maxlen` of averaged buckets (retention divided by
resolution), so memory is bounded by construction: (fine + coarse capacity + 2 filling buckets)
rows per GPU, for at most `MAX_TRACKED_GPUS` GPUs.
Samples are averaged into the bucket of their timestamp; the bucket still filling is included in
answers, so the newest sample is visible at once. Persistent rollups live in accounting, not here.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from itertools import groupby

from pydantic_core import to_json

from gpu_insight.collector.config import HistoryConfig
from gpu_insight.schemas import Gpu, GpuHistory, History, HistoryPoint, Snapshot, Source

# More GPUs than one host can hold; beyond it the GPU seen longest ago is forgotten (a replay or a
# re-plugged device can bring new UUIDs, and history must not grow with them).
MAX_TRACKED_GPUS = 64

_FIELDS = (
    "utilization_percent",
    "memory_used_mib",
    "memory_total_mib",
    "temperature_celsius",
    "power_watts",
)


# A closed bucket as (t, *field means): plain tuples are a fraction of a model's size in memory.
_Row = tuple[float, *tuple[float | None, ...]]


class HistoryNotReadyError(LookupError):
    """No snapshot has been recorded yet, so there is no host or source to answer with."""


class UnknownGpuError(LookupError):
    """The GPU asked for by index or UUID has no history."""


@dataclass
class _Bucket:
    """Running sums of one time bucket; fields that were never known stay unknown."""

    index: int
    sums: list[float] = field(default_factory=lambda: [0.0] * len(_FIELDS))
    counts: list[int] = field(default_factory=lambda: [0] * len(_FIELDS))

    def add(self, gpu: Gpu) -> None:
        for i, name in enumerate(_FIELDS):
            value = getattr(gpu, name)
            if value is not None:
                self.sums[i] += value
                self.counts[i] += 1

    def row(self, resolution_s: float) -> _Row:
        means = (s / n if n else None for s, n in zip(self.sums, self.counts, strict=True))
        return (self.index * resolution_s, *means)


_POINT_KEYS = ("t", *_FIELDS)  # a HistoryPoint's fields, in its order


def _point(row: _Row) -> HistoryPoint:
    return HistoryPoint.model_validate(dict(zip(_POINT_KEYS, row, strict=True)))


class _Tier:
    """One resolution of one GPU: closed buckets in a bounded deque plus the bucket filling now."""

    def __init__(self, resolution_s: float, capacity: int) -> None:
        self.resolution_s = resolution_s
        self.closed: deque[_Row] = deque(maxlen=capacity)
        self.current: _Bucket | None = None

    def add(self, t: float, gpu: Gpu) -> None:
        index = math.floor(t / self.resolution_s)
        if self.current is not None and index < self.current.index:
            # The wall clock stepped back: restart rather than freeze until it catches up.
            self.closed.clear()
            self.current = None
        if self.current is not None and index > self.current.index:
            self.closed.append(self.current.row(self.resolution_s))
            self.current = None
        if self.current is None:
            self.current = _Bucket(index)
        self.current.add(gpu)

    def rows_since(self, from_t: float, step_s: float) -> list[_Row]:
        # Newest first, stopping at the window's start: a 1-minute query of a full day stays cheap.
        rows = [self.current.row(self.resolution_s)] if self.current is not None else []
        for row in reversed(self.closed):
            if row[0] < from_t:
                break
            rows.append(row)
        kept = [row for row in reversed(rows) if row[0] >= from_t]
        return _averaged(kept, step_s) if step_s > self.resolution_s else kept


def _averaged(rows: list[_Row], step_s: float) -> list[_Row]:
    """Rows (oldest first) averaged into steps of `step_s` from the epoch, each stamped with its
    step's start; a field unknown in every row of a step stays unknown."""
    averaged: list[_Row] = []
    for index, group in groupby(rows, key=lambda row: math.floor(row[0] / step_s)):
        columns = zip(*(row[1:] for row in group), strict=True)
        averaged.append((index * step_s, *(_mean(column) for column in columns)))
    return averaged


def _mean(values: tuple[float | None, ...]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


class _GpuSeries:
    def __init__(self, index: int, config: HistoryConfig) -> None:
        self.index = index
        self.fine = _Tier(
            config.fine_resolution_s, _capacity(config.fine_retention_s, config.fine_resolution_s)
        )
        self.coarse = _Tier(
            config.coarse_resolution_s,
            _capacity(config.coarse_retention_s, config.coarse_resolution_s),
        )


def _capacity(retention_s: float, resolution_s: float) -> int:
    return max(1, math.ceil(retention_s / resolution_s))


class HistoryBuffer:
    """Implements runtime.HistorySource; `add` runs in the sampler thread, `query_json` in
    requests (`query` gives the same answer as a model)."""

    def __init__(self, config: HistoryConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._series: OrderedDict[str, _GpuSeries] = OrderedDict()  # by UUID, least recent first
        self._host: str | None = None
        self._source: Source | None = None
        self._last_t: float | None = None
        self._revision = 0

    @property
    def revision(self) -> int:
        """Snapshots taken in so far: an answer stays true until this changes."""
        with self._lock:
            return self._revision

    @property
    def max_seconds(self) -> float:
        return max(self.config.fine_retention_s, self.config.coarse_retention_s)

    def add(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._revision += 1
            self._host, self._source = snapshot.host, snapshot.source
            self._last_t = snapshot.collected_at
            for gpu in snapshot.gpus:
                series = self._series.get(gpu.uuid)
                if series is None:
                    if len(self._series) >= MAX_TRACKED_GPUS:
                        self._series.popitem(last=False)
                    series = self._series[gpu.uuid] = _GpuSeries(gpu.index, self.config)
                else:
                    self._series.move_to_end(gpu.uuid)
                series.index = gpu.index
                series.fine.add(snapshot.collected_at, gpu)
                series.coarse.add(snapshot.collected_at, gpu)

    def query(
        self, *, seconds: float, gpu: str | None = None, step_s: float | None = None
    ) -> History:
        """The last `seconds` at the finest resolution that covers them, averaged into steps of
        `step_s` when asked (rounded up to a whole number of the tier's points; a step finer
        than the tier changes nothing), so that a chart gets no more points than it can show.

        `gpu` is an index ("0") or a UUID; a GPU never seen raises UnknownGpuError.
        """
        answer, rows = self._window(seconds, gpu, step_s)
        for history, points in zip(answer.gpus, rows, strict=True):
            history.points = [_point(row) for row in points]
        return answer

    def query_json(
        self, *, seconds: float, gpu: str | None = None, step_s: float | None = None
    ) -> str:
        """`query(...)`'s answer as JSON text, the same bytes without a model per point: a full
        window is thousands of points, and validating each held the GIL for milliseconds."""
        answer, rows = self._window(seconds, gpu, step_s)
        body = answer.model_dump(mode="json")
        for history, points in zip(body["gpus"], rows, strict=True):
            history["points"] = [dict(zip(_POINT_KEYS, row, strict=True)) for row in points]
        return to_json(body).decode()

    def _window(
        self, seconds: float, gpu: str | None, step_s: float | None
    ) -> tuple[History, list[list[_Row]]]:
        """The answer without its points, and each of its GPUs' rows in the window."""
        if not 0 < seconds <= self.max_seconds:
            raise ValueError(f"seconds must be in (0, {self.max_seconds:g}], got {seconds:g}")
        with self._lock:
            if self._host is None or self._source is None or self._last_t is None:
                raise HistoryNotReadyError("no snapshot recorded yet")
            use_fine = seconds <= self.config.fine_retention_s
            tier_s = self.config.fine_resolution_s if use_fine else self.config.coarse_resolution_s
            resolution_s = tier_s * max(1, math.ceil((step_s or tier_s) / tier_s))
            to_t = self._last_t
            from_t = to_t - seconds
            found = []
            for uuid, series in self._series.items():
                if gpu is not None and gpu not in (uuid, str(series.index)):
                    continue
                tier = series.fine if use_fine else series.coarse
                found.append((series.index, uuid, tier.rows_since(from_t, resolution_s)))
            if gpu is not None and not found:
                raise UnknownGpuError(gpu)
            found.sort(key=lambda item: item[0])
            answer = History(
                host=self._host,
                source=self._source,
                resolution_s=resolution_s,
                from_t=from_t,
                to_t=to_t,
                gpus=[GpuHistory(gpu_index=index, gpu_uuid=uuid) for index, uuid, _ in found],
            )
            return answer, [rows for _, _, rows in found]

    def sizes(self) -> dict[str, tuple[int, int]]:
        """Closed buckets held per GPU UUID as (fine, coarse): what bounds this buffer's memory."""
        with self._lock:
            return {
                uuid: (len(s.fine.closed), len(s.coarse.closed)) for uuid, s in self._series.items()
            }

    def capacities(self) -> tuple[int, int]:
        """The `maxlen` of each GPU's (fine, coarse) deque."""
        return (
            _capacity(self.config.fine_retention_s, self.config.fine_resolution_s),
            _capacity(self.config.coarse_retention_s, self.config.coarse_resolution_s),
        )
