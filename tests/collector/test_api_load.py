"""The API under load: history rendered once per sample and query, excess requests refused at
once with 503 + Retry-After, and /healthz answered all the while."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from gpu_insight.collector.config import ServerConfig
from gpu_insight.collector.history import HistoryBuffer
from gpu_insight.schemas import History, UsageReport
from tests.collector.api_support import NOW, ServedApi, TabledUsage, make_runtime, publish
from tests.collector.api_support import sample_snapshot as snapshot

WAIT_S = 5.0


class CountedHistory(HistoryBuffer):
    """The real buffer, counting the queries it answers."""

    queries = 0

    def query_json(
        self, *, seconds: float, gpu: str | None = None, step_s: float | None = None
    ) -> str:
        self.queries += 1
        return super().query_json(seconds=seconds, gpu=gpu, step_s=step_s)


class HeldUsage(TabledUsage):
    """Usage reports that wait for `release`; `entered` counts the reports being made."""

    def __init__(self) -> None:
        super().__init__({"support-bot": 1.0})
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def report(self, **kwargs: object) -> UsageReport:
        self.entered.release()
        assert self.release.wait(WAIT_S), "the test never released the held reports"
        return super().report(**kwargs)  # type: ignore[arg-type]


@pytest.fixture
def counted() -> Iterator[ServedApi]:
    runtime = make_runtime()
    runtime.history = CountedHistory(runtime.config.history)
    with ServedApi(runtime) as served:
        publish(runtime, snapshot())
        yield served


def queries(api: ServedApi) -> int:
    history = api.runtime.history
    assert isinstance(history, CountedHistory)
    return history.queries


def test_history_is_rendered_once_per_sample_and_query(counted: ServedApi) -> None:
    first = counted.get("/v1/history")
    again = counted.get("/v1/history")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert queries(counted) == 1


def test_another_window_or_gpu_is_rendered_on_its_own(counted: ServedApi) -> None:
    for path in ("/v1/history", "/v1/history?seconds=60", "/v1/history?gpu=1"):
        assert counted.get(path).status_code == 200
    assert queries(counted) == 3


def test_a_new_sample_renders_history_anew(counted: ServedApi) -> None:
    before = History.model_validate(counted.get("/v1/history").json())
    publish(counted.runtime, snapshot(collected_at=NOW + 0.5))
    after = History.model_validate(counted.get("/v1/history").json())
    assert queries(counted) == 2
    assert after.to_t == before.to_t + 1


@pytest.fixture
def held() -> Iterator[tuple[ServedApi, HeldUsage]]:
    runtime = make_runtime()
    runtime.config = runtime.config.model_copy(
        update={"server": ServerConfig(max_in_flight_requests=2)}
    )
    usage = runtime.usage = HeldUsage()
    with ServedApi(runtime) as served:
        publish(runtime, snapshot())
        yield served, usage
        usage.release.set()


def test_past_the_in_flight_bound_requests_are_refused_at_once_and_healthz_answers(
    held: tuple[ServedApi, HeldUsage],
) -> None:
    api, usage = held
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = [pool.submit(api.get, "/v1/usage") for _ in range(2)]
        for _ in slow:
            assert usage.entered.acquire(timeout=WAIT_S)
        refused = api.get("/v1/snapshot")
        health = api.get("/healthz", token=None)
        usage.release.set()
        answered = [future.result(timeout=WAIT_S) for future in slow]
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == "overloaded"
    assert health.status_code == 200
    assert [response.status_code for response in answered] == [200, 200]


def test_below_the_bound_nothing_is_refused(held: tuple[ServedApi, HeldUsage]) -> None:
    api, usage = held
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(api.get, "/v1/usage")
        assert usage.entered.acquire(timeout=WAIT_S)
        beside = api.get("/v1/snapshot")
        usage.release.set()
        assert slow.result(timeout=WAIT_S).status_code == 200
    assert beside.status_code == 200
