"""A real collector replaying a trace whose alert comes and goes every few seconds tells a real
loopback receiver of every change: signed, once, in order per alert; through an outage of the
receiver; and across a `kill -9` of the collector."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpu_insight.schemas import AlertDelivery
from tests.support.alert_trace import RULE, write_alert_trace, write_notify_config
from tests.support.collector_process import CollectorProcess
from tests.support.webhook_receiver import Received, WebhookReceiver
from tests.triggers.test_signature import documented_signature

SECRET = "collector-to-receiver-secret-0123"
ALL_STATES = ["pending", "firing", "resolved"]
FAST_BACKOFF = {"backoff_initial_s": 0.5, "backoff_max_s": 2.0}
OUTAGE_S = 20.0
WAIT_S = 30.0
FAILED_ATTEMPT = re.compile(
    r"^(\S+ \S+) WARNING .*failed \((.+), attempt (\d+)\); target retries in (\S+) s"
)


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_alert_trace(tmp_path_factory.mktemp("trace") / "alerts.jsonl")


def collector(
    trace: Path, folder: Path, url: str, **notify: float
) -> tuple[CollectorProcess, Path]:
    webhook = {"url": url, "secret": SECRET, "events": ALL_STATES, "min_severity": "info"}
    config, db_path = write_notify_config(folder, [webhook], **notify)
    return CollectorProcess(trace, extra_args=["--config", str(config)]), db_path


def verified(request: Received) -> AlertDelivery:
    """The delivery, after checking its signature by the documented formula."""
    timestamp = request.header("X-GPU-Insight-Timestamp") or ""
    assert request.header("X-GPU-Insight-Signature") == documented_signature(
        SECRET, timestamp, request.body
    )
    assert abs(request.at - int(timestamp)) <= 2
    delivery = AlertDelivery.model_validate_json(request.body)
    assert request.header("X-GPU-Insight-Delivery") == delivery.delivery_id
    return delivery


def states_by_alert(
    deliveries: list[AlertDelivery],
) -> dict[tuple[str, str | None, float], list[str]]:
    states: dict[tuple[str, str | None, float], list[str]] = defaultdict(list)
    for delivery in deliveries:
        states[(delivery.rule, delivery.gpu_uuid, delivery.started_at)].append(delivery.state)
    return dict(states)


def assert_once_and_in_order(deliveries: list[AlertDelivery]) -> None:
    repeated = [d for d, n in Counter(d.delivery_id for d in deliveries).items() if n > 1]
    assert not repeated, f"delivered more than once: {repeated}"
    for alert, states in states_by_alert(deliveries).items():
        assert states == ALL_STATES[: len(states)], f"{alert}: {states}"


def outbox_ids(db_path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)) as db:
        return {row[0] for row in db.execute("SELECT delivery_id FROM notify_outbox")}


def notify_metrics(process: CollectorProcess) -> dict[str, float]:
    request = urllib.request.Request(
        f"{process.url}/metrics", headers={"Authorization": f"Bearer {process.token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    totals: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("gpu_insight_notify_"):
                result = sample.labels.get("result")
                totals[sample.name + (f"/{result}" if result else "")] += sample.value
    return dict(totals)


def wait_for(done: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(0.2)


def clock_time(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


@contextlib.contextmanager
def running(process: CollectorProcess) -> Iterator[CollectorProcess]:
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_every_change_reaches_the_receiver_signed_once_and_in_order(
    trace: Path, tmp_path: Path
) -> None:
    with WebhookReceiver() as receiver:
        process, _ = collector(trace, tmp_path, receiver.url)
        with running(process):
            received = receiver.wait_for(
                lambda r: sum(b'"resolved"' in x.body for x in r) >= 1 and len(r) >= 4,
                WAIT_S,
                "one alert's pending, firing and resolved, and the next one's pending",
            )
            metrics = notify_metrics(process)
    deliveries = [verified(request) for request in received]
    assert_once_and_in_order(deliveries)
    first = deliveries[0]
    assert (first.rule, first.state, first.host, first.gpu_index) == (
        RULE,
        "pending",
        "gpu-node-1",
        0,
    )
    assert (first.gpu_name, first.value, first.threshold) == ("NVIDIA H100 80GB HBM3", 97.0, 90.0)
    assert first.dashboard_url == f"http://gpu-node-1:{process.port}/" and first.source == "replay"
    resolved = next(d for d in deliveries if d.state == "resolved")
    assert resolved.fired_at is not None and resolved.resolved_at is not None
    assert resolved.resolved_at - resolved.fired_at >= 1.0
    assert metrics["gpu_insight_notify_deliveries_total/delivered"] >= 4
    print("\n--- one delivery, as received ---")
    for name, value in received[1].headers.items():
        print(f"{name}: {value}")
    print(f"\n{received[1].body.decode()}")


def test_deliveries_wait_out_a_receiver_outage_and_then_arrive_once_and_in_order(
    trace: Path, tmp_path: Path
) -> None:
    receiver = WebhookReceiver()
    receiver.down()
    down_at = time.time()
    process, db_path = collector(trace, tmp_path, receiver.url, **FAST_BACKOFF)
    with running(process), receiver:
        time.sleep(OUTAGE_S)
        during = notify_metrics(process)
        pending = outbox_ids(db_path)
        receiver.up()
        up_at = time.time()
        receiver.wait_for(
            lambda r: pending <= {AlertDelivery.model_validate_json(x.body).delivery_id for x in r},
            WAIT_S,
            "every delivery pending during the outage",
        )
        wait_for(lambda: not outbox_ids(db_path), WAIT_S, "an empty outbox")
        output = process.output
    deliveries = [verified(request) for request in receiver.received]
    assert during["gpu_insight_notify_failed_attempts_total"] >= 5
    assert during["gpu_insight_notify_queue_depth"] == len(pending) >= 5
    assert_once_and_in_order(deliveries)
    first_after = receiver.received[0].at - up_at
    assert first_after <= FAST_BACKOFF["backoff_max_s"] + 1.0
    failures = [FAILED_ATTEMPT.match(line) for line in output.splitlines()]
    timeline = [m.groups() for m in failures if m]
    assert timeline and all(reason == "connection refused" for _, reason, _, _ in timeline)
    assert max(float(wait) for *_, wait in timeline) <= FAST_BACKOFF["backoff_max_s"]
    print(f"\n--- receiver down at {clock_time(down_at)} ---")
    for at, reason, attempt, wait in timeline:
        print(f"{at}  attempt {attempt} failed ({reason}); next in {wait} s")
    print(
        f"--- receiver up at {clock_time(up_at)}: "
        f"{len(pending)} pending, first delivered {first_after:.1f} s later ---"
    )
    for request, delivery in zip(receiver.received, deliveries[: len(pending)], strict=False):
        print(f"{clock_time(request.at)}  {delivery.state:8} {delivery.delivery_id}")


def test_deliveries_pending_at_a_kill_9_are_delivered_after_the_restart(
    trace: Path, tmp_path: Path
) -> None:
    receiver = WebhookReceiver()
    receiver.down()
    process, db_path = collector(
        trace, tmp_path, receiver.url, backoff_initial_s=60, backoff_max_s=60
    )
    process.start()
    try:
        wait_for(lambda: len(outbox_ids(db_path)) >= 3, WAIT_S, "three deliveries in the outbox")
    finally:
        process.kill()
        process.stop()
    pending = outbox_ids(db_path)
    receiver.up()
    with receiver:
        restarted, _ = collector(trace, tmp_path, receiver.url, **FAST_BACKOFF)
        with running(restarted):
            received = receiver.wait_for(
                lambda r: (
                    pending <= {AlertDelivery.model_validate_json(x.body).delivery_id for x in r}
                ),
                WAIT_S,
                "every delivery pending at the kill",
            )
    deliveries = [verified(request) for request in received]
    assert_once_and_in_order([d for d in deliveries if d.delivery_id in pending])
    assert Counter(d.delivery_id for d in deliveries if d.delivery_id in pending) == Counter(
        pending
    )
