"""The alert engine: advances every rule with each snapshot, pending → firing → resolved.

Time is the engine's clock, not the snapshot's timestamp, so the `samples_stale` rule can be
judged whenever someone asks, even when the sampler has stopped publishing. A pending alert
whose condition clears is dropped without a trace (as in Prometheus); a firing one resolves once
its condition has been false for the rule's `resolve_after_s`, and is kept in a bounded list.
Counter rules and `went_down` rules remember what they saw: counter windows and the parts (say,
NVLinks) seen up since the engine started.
Subscribers (the notifier) hear of every state change, after the engine's lock is released.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gpu_insight.collector.alert_rules import COUNTER_WINDOW_S, AlertRule, Reading, resolve_rules
from gpu_insight.collector.config import AlertsConfig
from gpu_insight.collector.reservations import Reservation, engine_reservations
from gpu_insight.schemas import Alert, Gpu, Snapshot

log = logging.getLogger(__name__)

RESOLVED_KEPT = 200

TrackKey = tuple[str, str | None]  # (rule id, GPU uuid; None for collector-wide rules)
ChangeListener = Callable[[Alert], None]


@dataclass
class _Track:
    alert: Alert
    false_since: float | None = None


class _CounterWindow:
    """Increases of one error counter over the last COUNTER_WINDOW_S seconds.

    The first value seen is the baseline; a counter that goes down was reset and counts its
    new value as the increase (PromQL's `increase()` does the same).
    """

    def __init__(self) -> None:
        self._last: int | None = None
        self._increases: deque[tuple[float, int]] = deque()

    def observe(self, value: int | None, now: float) -> int:
        if value is not None:
            if self._last is not None and value != self._last:
                delta = value - self._last if value > self._last else value
                if delta:
                    self._increases.append((now, delta))
            self._last = value
        while self._increases and self._increases[0][0] <= now - COUNTER_WINDOW_S:
            self._increases.popleft()
        return sum(delta for _, delta in self._increases)


class _SeenUp:
    """The parts of one GPU seen up since the engine started."""

    def __init__(self) -> None:
        self._up: set[int] = set()

    def observe(self, states: Mapping[int, bool] | None) -> list[int]:
        """Parts reported down now that were seen up before, in order."""
        if states is None:
            return []
        down = sorted(part for part, up in states.items() if not up and part in self._up)
        self._up.update(part for part, up in states.items() if up)
        return down


class AlertEngine:
    """Implements runtime.AlertSource. Thread-safe: the sampler evaluates, the API reads."""

    def __init__(self, config: AlertsConfig, clock: Callable[[], float] = time.time) -> None:
        self._rules = [rule for rule in resolve_rules(config) if rule.enabled]
        self._clock = clock
        self._lock = threading.Lock()
        self._tracks: dict[TrackKey, _Track] = {}
        self._resolved: deque[Alert] = deque(maxlen=RESOLVED_KEPT)
        self._counters: dict[TrackKey, dict[str, _CounterWindow]] = {}  # by series
        self._seen_up: dict[TrackKey, _SeenUp] = {}
        self._known_gpus: dict[str, int] = {}  # uuid → index, for GPUs that vanish
        self._host: str | None = None
        self._created_at = clock()
        self._last_collected_at: float | None = None
        self._listeners: list[ChangeListener] = []
        self._changes: list[Alert] = []  # state changes not told yet
        self._telling = threading.Lock()  # changes are told in the order they happened

    def subscribe(self, listener: ChangeListener) -> None:
        """`listener` gets a copy of every alert that went pending, firing or resolved, in the
        thread that advanced the engine; it must not block."""
        self._listeners.append(listener)

    def evaluate(self, snapshot: Snapshot) -> list[Alert]:
        """Advances every rule with this snapshot; returns the pending and firing alerts."""
        with self._lock:
            now = self._clock()
            self._host = snapshot.host
            present = {gpu.uuid for gpu in snapshot.gpus}
            reservations = engine_reservations(snapshot)
            for gpu in snapshot.gpus:
                self._known_gpus[gpu.uuid] = gpu.index
                reserved = reservations.get(gpu.uuid, [])
                for rule in self._rules:
                    if rule.kind != "stale":
                        reading = self._read(rule, gpu, reserved, now)
                        self._step(rule, gpu.uuid, gpu.index, reading, now)
            for uuid, index in self._known_gpus.items():
                if uuid in present:
                    continue
                for rule in self._rules:
                    if rule.kind == "lost":
                        gone = f"GPU {index} ({uuid}) is gone from the samples"
                        self._step(rule, uuid, index, Reading(None, None, gone), now)
                    elif rule.kind != "stale":
                        self._step(rule, uuid, index, None, now)
            self._last_collected_at = snapshot.collected_at
            self._check_stale(now)
            active = self._active()
        self._tell_changes()
        return active

    def alerts(self, *, include_resolved: bool = False) -> list[Alert]:
        """Pending and firing alerts (oldest first), then resolved ones (newest first) if asked.

        Re-judges `samples_stale` against the clock first, so a stalled sampler shows up here.
        """
        with self._lock:
            self._check_stale(self._clock())
            active = self._active()
            if include_resolved:
                active.extend(alert.model_copy() for alert in reversed(self._resolved))
        self._tell_changes()
        return active

    def _tell_changes(self) -> None:
        with self._telling:
            with self._lock:
                changes, self._changes = self._changes, []
            for alert in changes:
                for listener in self._listeners:
                    try:
                        listener(alert)
                    except Exception:  # a listener's failure must not stop the evaluation
                        log.exception("alert change listener %r failed", listener)

    def _read(
        self, rule: AlertRule, gpu: Gpu, reservations: list[Reservation], now: float
    ) -> Reading | None:
        if rule.kind == "counter":
            windows = self._counters.setdefault((rule.id, gpu.uuid), {})
            values = rule.counter_values(gpu)
            for series in values:
                windows.setdefault(series, _CounterWindow())
            # A series missing from this sample keeps its window, which still ages out.
            increase = sum(window.observe(values.get(s), now) for s, window in windows.items())
            threshold = rule.threshold or 0.0
            if increase <= threshold:
                return None
            return Reading(
                float(increase),
                threshold,
                f"GPU {gpu.index}: {increase} new {rule.counter_name} in the last "
                f"{COUNTER_WINDOW_S / 60:g} min",
            )
        if rule.kind == "went_down":
            assert rule.parts is not None
            seen = self._seen_up.setdefault((rule.id, gpu.uuid), _SeenUp())
            down = seen.observe(rule.parts(gpu))
            if not down:
                return None
            names = ", ".join(str(part) for part in down)
            return Reading(
                float(len(down)),
                None,
                f"GPU {gpu.index}: {rule.part_name} {names} down after being up",
            )
        assert rule.check is not None
        return rule.check(gpu, rule.threshold, reservations)

    def _check_stale(self, now: float) -> None:
        for rule in self._rules:
            if rule.kind != "stale" or rule.threshold is None:
                continue
            since = self._last_collected_at
            age = now - (self._created_at if since is None else since)
            reading = None
            if age > rule.threshold:
                what = "no sample yet" if since is None else "last sample"
                reading = Reading(
                    age, rule.threshold, f"{what} {age:.0f} s ago (limit {rule.threshold:g} s)"
                )
            self._step(rule, None, None, reading, now)

    def _step(
        self,
        rule: AlertRule,
        uuid: str | None,
        index: int | None,
        reading: Reading | None,
        now: float,
    ) -> None:
        key = (rule.id, uuid)
        track = self._tracks.get(key)
        if reading is not None:
            if track is None:
                track = _Track(
                    Alert(
                        rule=rule.id,
                        severity=rule.severity,
                        state="pending",
                        gpu_index=index,
                        gpu_uuid=uuid,
                        host=self._host,
                        message=reading.message,
                        value=reading.value,
                        threshold=reading.threshold,
                        started_at=now,
                    )
                )
                self._tracks[key] = track
                self._changes.append(track.alert.model_copy())
            else:
                track.alert.message = reading.message
                track.alert.value = reading.value
                track.alert.threshold = reading.threshold
                track.false_since = None
            if track.alert.state == "pending" and now - track.alert.started_at >= rule.for_s:
                track.alert.state = "firing"
                track.alert.fired_at = now
                self._changes.append(track.alert.model_copy())
            return
        if track is None:
            return
        if track.alert.state == "pending":
            del self._tracks[key]
            return
        if track.false_since is None:
            track.false_since = now
        if now - track.false_since >= rule.resolve_after_s:
            track.alert.state = "resolved"
            track.alert.resolved_at = now
            self._resolved.append(track.alert)
            self._changes.append(track.alert.model_copy())
            del self._tracks[key]

    def _active(self) -> list[Alert]:
        alerts = sorted(self._tracks.values(), key=lambda t: (t.alert.started_at, t.alert.rule))
        return [track.alert.model_copy() for track in alerts]
