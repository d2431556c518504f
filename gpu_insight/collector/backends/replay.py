"""Plays a recorded trace (JSON lines, one Snapshot per line) as if it were happening now.

The trace loops at its recorded pace; timestamps are shifted to now and the energy counter
keeps rising across loops, so consumers see a live host. Processes keep their recorded
attribution (their pids do not exist here) and the recorded engine metrics are served as the
engine source. Every snapshot says `source: replay`.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from gpu_insight.collector.backends.base import (
    FastReading,
    ProcessUtilization,
    SlowReading,
)
from gpu_insight.schemas import EngineMetrics, GpuProcess, Snapshot, Source


class TraceError(Exception):
    """The trace file is missing, empty or holds a line that is not a snapshot."""


def load_trace(path: str | Path) -> list[Snapshot]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"cannot read replay trace {path}: {exc.strerror}") from exc
    frames = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            frames.append(Snapshot.model_validate_json(line))
        except ValidationError as exc:
            raise TraceError(f"replay trace {path}, line {number}: not a snapshot: {exc}") from exc
    if not frames:
        raise TraceError(f"replay trace {path} holds no snapshots")
    frames.sort(key=lambda frame: frame.collected_at)
    return frames


class ReplayBackend:
    source: Source = "replay"
    attributes_processes = True

    def __init__(self, frames: list[Snapshot]) -> None:
        if not frames:
            raise ValueError("frames must hold at least one snapshot")
        self._frames = frames
        first = frames[0].collected_at
        self._offsets = [frame.collected_at - first for frame in frames]
        steps = [b - a for a, b in zip(self._offsets, self._offsets[1:], strict=False)]
        # The last frame is shown for one typical step before the loop starts over.
        self._period_s = self._offsets[-1] + (statistics.median(steps) if steps else 1.0)
        self._energy_per_loop = _energy_gain_per_loop(frames)
        self._started_at: float | None = None
        self._current = frames[0]
        self._shift_s = 0.0

    @property
    def recorded_host(self) -> str:
        return self._frames[0].host

    def _advance(self, now: float) -> int:
        """Moves to the frame recorded at this point of the loop; returns the loop count."""
        if self._started_at is None:
            self._started_at = now
        elapsed = now - self._started_at
        loops, into_loop = divmod(elapsed, self._period_s)
        index = bisect.bisect_right(self._offsets, into_loop) - 1
        self._current = self._frames[max(index, 0)]
        self._shift_s = now - self._current.collected_at
        return int(loops)

    def sample_fast(self, now: float) -> FastReading:
        loops = self._advance(now)
        frame = self._current.model_copy(deep=True)
        for gpu in frame.gpus:
            if gpu.energy_joules is not None:
                gpu.energy_joules += loops * self._energy_per_loop.get(gpu.uuid, 0.0)
        return FastReading(
            gpus=frame.gpus,
            processes=[self._shifted(process) for process in frame.processes],
            down_reason=frame.health_reason if frame.health == "down" else None,
        )

    def played_before(self, now: float, seconds: float, step_s: float) -> Iterator[Snapshot]:
        """The trace as if it had been playing for `seconds` before `now`, one frame every
        `step_s`, oldest first: for filling history at start. The loop runs on into the live
        replay that starts at `now`; the live position is not moved."""
        count = math.floor(seconds / step_s)
        for n in range(count, 0, -1):
            t = now - n * step_s
            into_loop = (t - now) % self._period_s
            frame = self._frames[max(bisect.bisect_right(self._offsets, into_loop) - 1, 0)]
            yield frame.model_copy(update={"collected_at": t})

    def _shifted(self, process: GpuProcess) -> GpuProcess:
        if process.utilization_seen_at is not None:
            process.utilization_seen_at += self._shift_s
        return process

    def sample_process_utilization(self, now: float) -> list[ProcessUtilization]:
        return []  # recorded processes already carry their utilization

    def sample_slow(self, now: float) -> SlowReading:
        frame = self._current
        return SlowReading(
            driver_version=frame.driver_version,
            cuda_version=frame.cuda_version,
            nvml_version=frame.nvml_version,
        )

    def close(self) -> None:
        return None

    # -- engine source: the recorded engine metrics of the current frame ---------------------

    def observe(self, processes: list[GpuProcess]) -> None:
        return None  # nothing to discover: the engines were scraped when recording

    def latest(self) -> list[EngineMetrics]:
        engines = [engine.model_copy(deep=True) for engine in self._current.engines]
        for engine in engines:
            if engine.scraped_at is not None:
                engine.scraped_at += self._shift_s
        return engines


def _energy_gain_per_loop(frames: list[Snapshot]) -> dict[str, float]:
    """Energy each GPU used over the trace, so the counter keeps rising when the loop restarts."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for frame in frames:
        for gpu in frame.gpus:
            if gpu.energy_joules is not None:
                first.setdefault(gpu.uuid, gpu.energy_joules)
                last[gpu.uuid] = gpu.energy_joules
    return {uuid: max(last[uuid] - first[uuid], 0.0) for uuid in last}
