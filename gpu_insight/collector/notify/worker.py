"""The notifier's two threads, between the alert engine and the receivers.

`alert_changed` is called by whoever advances the alert engine (the sampler, an API request
that re-judges staleness) and never blocks: it puts the change into a bounded queue, or counts
it as overflow. The recorder thread turns each change into one delivery per target that wants
it and commits them to the outbox. The sender thread sends the outbox, one attempt at a time
(at most `notify.timeout_s` each); a target whose attempt failed backs off exponentially, with
jitter, while the other targets go on. So a slow or dead receiver delays nobody but itself.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gpu_insight.collector.config import NotifyConfig
from gpu_insight.collector.notify.attempt import Outcome, attempt
from gpu_insight.collector.notify.delivery import (
    DeliveryContext,
    alert_key,
    delivery_body,
    request_headers,
)
from gpu_insight.collector.notify.outbox import Outbox, PendingDelivery
from gpu_insight.collector.notify.stats import NotifyCounters, NotifyStats
from gpu_insight.collector.notify.targets import WebhookRegistry, WebhookTarget
from gpu_insight.schemas import Alert, Snapshot, WebhookSpec
from gpu_insight.sources.bounded_http import deadline_session

log = logging.getLogger(__name__)

IDLE_WAIT_S = 1.0  # how often an idle sender looks for expired deliveries
STOP_TIMEOUT_S = 5.0
OVERFLOW_LOG_EVERY = 100  # overflow is logged at its first and every 100th change


def backoff_s(failures: int, initial_s: float, max_s: float, jitter: float) -> float:
    """The wait after `failures` failed attempts in a row: doubling from `initial_s` up to
    `max_s`, then between half and all of that (`jitter` in [0, 1)), so collectors whose
    receiver failed for all of them at once do not all come back at once."""
    step = min(max_s, initial_s * 2 ** min(failures - 1, 32))
    return step / 2 + jitter * step / 2


class Notifier:
    def __init__(
        self,
        config: NotifyConfig,
        db_path: str | Path,
        registry: WebhookRegistry,
        context: DeliveryContext,
        latest: Callable[[], Snapshot | None],
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._registry = registry
        self._context = context
        self._latest = latest
        self._clock = clock
        self._jitter = jitter
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=config.queue_size)
        self._outbox = Outbox(db_path)
        self._counters = NotifyCounters()
        self._session = deadline_session()
        self._failures: dict[str, int] = {}  # target id → failed attempts in a row
        self._retry_at: dict[str, float] = {}  # target id → monotonic time of its next attempt
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        for target_id, n in self._outbox.remove_targets_except(
            [t.id for t in registry.targets()]
        ).items():
            log.warning("dropped %d pending deliveries of removed target %s", n, target_id)
            self._counters.count(target_id, "target_removed", n)
        self._counters.set_backlog(self._outbox.backlog())

    # -- what the rest of the collector calls ------------------------------------------------

    def alert_changed(self, alert: Alert) -> None:
        """An alert went pending, firing or resolved. Never blocks."""
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            dropped = self._counters.count_overflow()
            if dropped == 1 or dropped % OVERFLOW_LOG_EVERY == 0:
                log.warning(
                    "alert notification queue full (%d): %d changes dropped so far",
                    self._config.queue_size,
                    dropped,
                )

    def stats(self) -> NotifyStats:
        return self._counters.snapshot()

    def webhooks(self) -> list[WebhookTarget]:
        return self._registry.targets()

    def add_webhook(self, spec: WebhookSpec) -> WebhookTarget:
        target = self._registry.add(spec)
        log.info("webhook target %s added", target.where)
        return target

    def remove_webhook(self, webhook_id: str) -> WebhookTarget:
        """Forgets the target and its undelivered deliveries."""
        target = self._registry.remove(webhook_id)
        dropped = self._outbox.remove_targets_except([t.id for t in self._registry.targets()])
        for target_id, n in dropped.items():
            self._counters.count(target_id, "target_removed", n)
        self._counters.set_backlog(self._outbox.backlog())
        log.info("webhook target %s removed", target.where)
        return target

    # -- threads ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._record_changes, name="gpu-insight-notify-record"),
            threading.Thread(target=self._send_deliveries, name="gpu-insight-notify-send"),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Records the changes still queued, then stops; undelivered ones stay in the outbox.
        An attempt in flight is not waited for longer than `timeout_s`."""
        self._stopping.set()
        self._wake.set()
        with contextlib.suppress(queue.Full):  # a full queue is drained, then seen as stopped
            self._queue.put_nowait(None)  # behind every change queued before it
        for thread in self._threads:
            thread.join(timeout_s)
        if any(thread.is_alive() for thread in self._threads):
            log.info("an attempt is still in flight; its delivery stays in the outbox")
            return  # the thread still holds the database
        self._threads = []
        self._outbox.close()
        self._registry.close()

    def _record_changes(self) -> None:
        while True:
            try:
                alert = self._queue.get(timeout=IDLE_WAIT_S)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            if alert is None:
                return  # every change queued before stop() is recorded
            try:
                self._record(alert)
            except Exception:
                log.exception("recording the %s change of alert %s failed", alert.state, alert.rule)

    def _record(self, alert: Alert) -> None:
        targets = [target for target in self._registry.targets() if target.wants(alert)]
        if not targets:
            return
        delivery = delivery_body(alert, self._context, self._latest())
        body = delivery.model_dump_json().encode()
        now = self._clock()
        for target in targets:
            self._outbox.add(target.id, delivery.delivery_id, alert_key(alert), body, now)
        self._counters.set_backlog(self._outbox.backlog())
        self._wake.set()

    def _send_deliveries(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                pending = self._next()
                if pending is not None:
                    self._deliver(pending)
                    continue
            except Exception:
                log.exception("the notifier's sender failed; it goes on")
            now = time.monotonic()
            waits = [at - now for at in self._retry_at.values() if at > now]
            self._wake.wait(min([IDLE_WAIT_S, *waits]))

    def _next(self) -> PendingDelivery | None:
        expired = self._outbox.remove_older_than(self._clock() - self._config.give_up_after_s)
        for target_id, n in expired.items():
            log.warning(
                "gave up %d deliveries to %s after %.0f s of failed attempts",
                n,
                target_id,
                self._config.give_up_after_s,
            )
            self._counters.count(target_id, "expired", n)
        if expired:
            self._counters.set_backlog(self._outbox.backlog())
        now = time.monotonic()
        return self._outbox.next_due([t for t, at in self._retry_at.items() if at > now])

    def _deliver(self, pending: PendingDelivery) -> None:
        target = self._registry.get(pending.target_id)
        if target is None:  # removed while its delivery waited
            self._outbox.remove(pending.row_id)
            self._counters.count(pending.target_id, "target_removed")
            return
        headers = request_headers(
            pending.delivery_id, pending.body, target.spec.secret, self._clock()
        )
        outcome = attempt(
            self._session, target.spec.url, pending.body, headers, self._config.timeout_s
        )
        if outcome.kind == "retry":
            self._retry_later(target, pending, outcome)
        else:
            self._outbox.remove(pending.row_id)
            self._failures.pop(target.id, None)
            self._retry_at.pop(target.id, None)
            self._counters.count(target.id, outcome.kind)
            if outcome.kind == "rejected":
                log.warning(
                    "delivery %s to %s refused (%s): not retried",
                    pending.delivery_id,
                    target.where,
                    outcome.reason,
                )
        self._counters.set_backlog(self._outbox.backlog())

    def _retry_later(
        self, target: WebhookTarget, pending: PendingDelivery, outcome: Outcome
    ) -> None:
        self._outbox.failed(pending.row_id, outcome.reason)
        failures = self._failures.get(target.id, 0) + 1
        self._failures[target.id] = failures
        config = self._config
        wait_s = backoff_s(failures, config.backoff_initial_s, config.backoff_max_s, self._jitter())
        if outcome.retry_after_s is not None:
            wait_s = max(wait_s, min(outcome.retry_after_s, config.backoff_max_s))
        self._retry_at[target.id] = time.monotonic() + wait_s
        self._counters.count_failed_attempt(target.id)
        log.warning(
            "delivery %s to %s failed (%s, attempt %d); target retries in %.1f s",
            pending.delivery_id,
            target.where,
            outcome.reason,
            pending.attempts + 1,
            wait_s,
        )
