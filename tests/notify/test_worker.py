"""The notifier against a real loopback receiver: delivered once and signed, retried on what
may pass, never on what will not, in order per alert, bounded in time and in memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gpu_insight.collector.alert_rules import DEFAULT_RULES
from gpu_insight.collector.config import NotifyConfig
from gpu_insight.collector.notify.delivery import DeliveryContext
from gpu_insight.collector.notify.targets import WebhookRegistry
from gpu_insight.collector.notify.worker import Notifier, backoff_s
from gpu_insight.schemas import Alert, AlertDelivery, WebhookSpec
from tests.support.synthetic_trace import synthetic_snapshot
from tests.support.webhook_receiver import Received, Reply, WebhookReceiver
from tests.triggers.test_signature import documented_signature

SECRET = "webhook-secret-0123456789"
RULES = [rule.id for rule in DEFAULT_RULES]
FAST = {"backoff_initial_s": 0.1, "backoff_max_s": 0.2}
WAIT_S = 10.0
SNAPSHOT = synthetic_snapshot(0)


def alert(state: str = "firing", gpu: int = 0, **fields: Any) -> Alert:
    gpu_uuid = SNAPSHOT.gpus[gpu].uuid
    values = {
        "rule": "gpu_utilization_high",
        "severity": "warning",
        "state": state,
        "gpu_index": gpu,
        "gpu_uuid": gpu_uuid,
        "message": f"GPU {gpu} utilization 97 % > 90 %",
        "value": 97.0,
        "threshold": 90.0,
        "started_at": 1_760_000_000.0,
        "fired_at": 1_760_000_001.0 if state != "pending" else None,
    }
    return Alert.model_validate({**values, **fields})


def target(url: str, **fields: Any) -> dict[str, Any]:
    return {"url": url, "secret": SECRET, "events": ["pending", "firing", "resolved"], **fields}


@pytest.fixture
def make_notifier(tmp_path: Path) -> Iterator[Callable[..., Notifier]]:
    started: list[Notifier] = []

    def make(*targets: dict[str, Any], start: bool = True, **notify: Any) -> Notifier:
        config = NotifyConfig.model_validate({"webhooks": list(targets), **FAST, **notify})
        db_path = tmp_path / "usage.sqlite3"
        notifier = Notifier(
            config,
            db_path,
            WebhookRegistry(config, db_path, RULES),
            DeliveryContext("gpu-node-1", "replay", "http://gpu-node-1:9470/"),
            latest=lambda: SNAPSHOT,
        )
        if start:
            notifier.start()
            started.append(notifier)
        return notifier

    yield make
    for notifier in started:
        notifier.stop()


def wait_until(done: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(0.02)


def results(notifier: Notifier) -> dict[str, int]:
    return {result: n for (_, result), n in notifier.stats().deliveries.items()}


def scripted(*statuses: int, headers: dict[str, str] | None = None) -> Callable[[Received], Reply]:
    """Answers the given statuses in turn, then 200."""
    left = list(statuses)
    lock = threading.Lock()

    def answer(_: Received) -> Reply:
        with lock:
            status = left.pop(0) if left else 200
        return Reply(status, headers=headers or {} if status != 200 else {})

    return answer


def test_a_change_is_delivered_once_signed_and_leaves_the_outbox(
    make_notifier: Callable[..., Notifier],
) -> None:
    with WebhookReceiver() as receiver:
        notifier = make_notifier(target(receiver.url))
        notifier.alert_changed(alert())
        [request] = receiver.wait_for(lambda r: len(r) == 1, WAIT_S, "the delivery")
        wait_until(lambda: results(notifier) == {"delivered": 1}, "delivered counted")
    timestamp = request.header("X-GPU-Insight-Timestamp") or ""
    assert request.header("X-GPU-Insight-Signature") == documented_signature(
        SECRET, timestamp, request.body
    )
    assert abs(time.time() - int(timestamp)) < 60
    body = AlertDelivery.model_validate_json(request.body)
    assert request.header("X-GPU-Insight-Delivery") == body.delivery_id
    assert (body.host, body.gpu_name, body.source) == (
        "gpu-node-1",
        "NVIDIA H100 80GB HBM3",
        "replay",
    )
    assert body.dashboard_url == "http://gpu-node-1:9470/"
    assert notifier.stats().backlog == {}


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_a_retryable_answer_is_retried_with_the_same_body_until_delivered(
    make_notifier: Callable[..., Notifier], status: int
) -> None:
    with WebhookReceiver(scripted(status, status)) as receiver:
        notifier = make_notifier(target(receiver.url))
        notifier.alert_changed(alert())
        requests = receiver.wait_for(lambda r: len(r) == 3, WAIT_S, "two retries")
        wait_until(lambda: results(notifier) == {"delivered": 1}, "delivered counted")
    assert len({r.body for r in requests}) == 1
    for request in requests:
        timestamp = request.header("X-GPU-Insight-Timestamp") or ""
        assert request.header("X-GPU-Insight-Signature") == documented_signature(
            SECRET, timestamp, request.body
        )
    [(_, failed)] = notifier.stats().failed_attempts.items()
    assert failed == 2


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_any_other_4xx_is_given_up_at_once(
    make_notifier: Callable[..., Notifier], status: int
) -> None:
    with WebhookReceiver(scripted(status)) as receiver:
        notifier = make_notifier(target(receiver.url))
        notifier.alert_changed(alert())
        wait_until(lambda: results(notifier) == {"rejected": 1}, "rejected counted")
        time.sleep(4 * FAST["backoff_max_s"])  # time for a retry that must not come
        assert len(receiver.received) == 1
    assert notifier.stats().backlog == {}


def test_retry_after_holds_the_next_attempt_back(make_notifier: Callable[..., Notifier]) -> None:
    with WebhookReceiver(scripted(429, headers={"Retry-After": "1"})) as receiver:
        notifier = make_notifier(target(receiver.url), backoff_max_s=5)
        notifier.alert_changed(alert())
        first, second = receiver.wait_for(lambda r: len(r) == 2, WAIT_S, "the retry")
    assert second.at - first.at >= 1.0


def test_one_alerts_deliveries_keep_their_order_when_the_first_fails(
    make_notifier: Callable[..., Notifier],
) -> None:
    with WebhookReceiver(scripted(503)) as receiver:
        notifier = make_notifier(target(receiver.url), start=False)
        notifier.alert_changed(alert("pending"))
        notifier.alert_changed(alert("firing"))
        notifier.alert_changed(alert("resolved", resolved_at=1_760_000_009.0))
        notifier.start()
        try:
            requests = receiver.wait_for(lambda r: len(r) == 4, WAIT_S, "every delivery")
        finally:
            notifier.stop()
    states = [AlertDelivery.model_validate_json(r.body).state for r in requests]
    assert states == ["pending", "pending", "firing", "resolved"]


def test_a_slow_receiver_is_cut_at_the_attempt_timeout_and_delays_no_caller(
    make_notifier: Callable[..., Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    def slow(_: Received) -> Reply:
        time.sleep(3)
        return Reply()

    with WebhookReceiver(slow) as stuck, WebhookReceiver() as fine:
        notifier = make_notifier(
            target(stuck.url), target(fine.url, events=["resolved"]), timeout_s=1
        )
        notifier.alert_changed(alert("firing"))
        stuck.wait_for(lambda r: len(r) == 1, WAIT_S, "the slow attempt")
        started = time.perf_counter()
        for _ in range(100):
            notifier.alert_changed(alert("resolved", resolved_at=1_760_000_009.0))
        assert time.perf_counter() - started < 0.5  # while the sender waits on the slow one
        fine.wait_for(lambda r: len(r) >= 1, WAIT_S, "the other target's delivery")
        wait_until(lambda: sum(notifier.stats().failed_attempts.values()) >= 1, "the timeout")
    assert "(no answer within 1 s, attempt 1)" in caplog.text


def test_a_full_queue_drops_and_counts_the_changes_beyond_it(
    make_notifier: Callable[..., Notifier],
) -> None:
    notifier = make_notifier(target("http://127.0.0.1:9/hook"), start=False, queue_size=2)
    started = time.perf_counter()
    for state in ("pending", "firing", "resolved"):
        notifier.alert_changed(alert(state))
    assert time.perf_counter() - started < 0.1
    assert notifier.stats().queue_overflow_total == 1


def test_a_delivery_that_never_gets_through_is_given_up_and_counted(
    make_notifier: Callable[..., Notifier],
) -> None:
    receiver = WebhookReceiver()
    receiver.down()
    notifier = make_notifier(target(receiver.url), give_up_after_s=1)
    notifier.alert_changed(alert())
    wait_until(lambda: results(notifier) == {"expired": 1}, "given up")
    assert notifier.stats().backlog == {}


def test_removing_a_target_drops_its_undelivered_deliveries(
    make_notifier: Callable[..., Notifier],
) -> None:
    receiver = WebhookReceiver()
    receiver.down()
    notifier = make_notifier(backoff_initial_s=60, backoff_max_s=60)
    added = notifier.add_webhook(WebhookSpec.model_validate(target(receiver.url)))
    notifier.alert_changed(alert())
    wait_until(lambda: bool(notifier.stats().backlog), "the delivery in the outbox")
    notifier.remove_webhook(added.id)
    assert results(notifier) == {"target_removed": 1}
    assert notifier.stats().backlog == {}


def test_what_one_notifier_left_in_the_outbox_the_next_one_delivers(
    make_notifier: Callable[..., Notifier],
) -> None:
    receiver = WebhookReceiver()
    receiver.down()
    first = make_notifier(target(receiver.url), start=False)
    first.start()
    first.alert_changed(alert())
    wait_until(lambda: bool(first.stats().backlog), "the delivery in the outbox")
    first.stop()
    receiver.up()
    with receiver:
        second = make_notifier(target(receiver.url))
        [request] = receiver.wait_for(lambda r: len(r) == 1, WAIT_S, "the left-over delivery")
        wait_until(lambda: results(second) == {"delivered": 1}, "delivered counted")
    assert AlertDelivery.model_validate_json(request.body).state == "firing"


def test_backoff_doubles_up_to_its_maximum_with_jitter_between_half_and_all() -> None:
    assert [backoff_s(n, 1.0, 300.0, jitter=1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_s(20, 1.0, 300.0, jitter=1.0) == 300.0
    assert backoff_s(3, 1.0, 300.0, jitter=0.0) == 2.0
    assert backoff_s(10_000, 1.0, 300.0, jitter=0.5) == 225.0
