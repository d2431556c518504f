"""The fleet asks every collector at once; the ones that fail are named, the rest answer."""

from __future__ import annotations

import time

import pytest

from gpu_insight.schemas import Snapshot
from gpu_insight.sources.client import CollectorClient, CollectorTimeoutError
from gpu_insight.sources.fleet import CollectorFleet, NoCollectorAnsweredError
from tests.support.synthetic_trace import synthetic_snapshot


class CannedClient(CollectorClient):
    """Answers `snapshot()` with a synthetic host after `delay_s`, or fails with a timeout."""

    def __init__(self, host: str, *, fails: bool = False, delay_s: float = 0.0) -> None:
        super().__init__(f"http://127.0.0.1:{9470 + ord(host) - ord('a')}")  # never dialled
        self.host, self.fails, self.delay_s = host, fails, delay_s

    def snapshot(self) -> Snapshot:
        time.sleep(self.delay_s)
        if self.fails:
            raise CollectorTimeoutError(
                f"{self.base_url} did not answer within 5 s.", self.base_url
            )
        return synthetic_snapshot(0).model_copy(update={"host": self.host})


def test_a_failing_collector_is_named_and_the_others_answer() -> None:
    fleet = CollectorFleet([CannedClient("a"), CannedClient("b", fails=True), CannedClient("c")])
    gathered = fleet.snapshot()
    assert gathered.value.host == "a,c"
    assert {g.host for g in gathered.value.gpus} == {"a", "c"}
    [missing] = gathered.missing
    assert missing.url == "http://127.0.0.1:9471"
    assert "did not answer within 5 s" in missing.reason


def test_one_collector_failing_alone_raises_its_own_error() -> None:
    with pytest.raises(CollectorTimeoutError, match=r"^http://127\.0\.0\.1:9470 did not answer"):
        CollectorFleet([CannedClient("a", fails=True)]).snapshot()


def test_every_collector_failing_is_one_error_giving_each_reason() -> None:
    fleet = CollectorFleet([CannedClient("a", fails=True), CannedClient("b", fails=True)])
    with pytest.raises(NoCollectorAnsweredError) as raised:
        fleet.snapshot()
    assert str(raised.value).startswith(
        "No GPU Insight collector answered: (1) http://127.0.0.1:9470"
    )
    assert "(2) http://127.0.0.1:9471" in str(raised.value)


def test_collectors_are_asked_at_the_same_time() -> None:
    clients = [CannedClient(host, delay_s=0.3) for host in "abcd"]
    started = time.monotonic()
    CollectorFleet(clients).snapshot()
    assert time.monotonic() - started < 0.3 * 2  # four one after another would take 1.2 s


def test_answers_merge_in_settings_order_whatever_order_they_arrive_in() -> None:
    slow_first = [CannedClient("a", delay_s=0.2), CannedClient("b")]
    assert CollectorFleet(slow_first).snapshot().value.host == "a,b"
