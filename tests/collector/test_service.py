"""The assembled collector on the fake NVML: sampler → store → listeners → API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gpu_insight.collector.api import build_app
from gpu_insight.collector.backends.replay import ReplayBackend, load_trace
from gpu_insight.collector.config import CollectorConfig, build_config
from gpu_insight.collector.history import HistoryBuffer
from gpu_insight.collector.service import CollectorService, build_service
from gpu_insight.schemas import Snapshot
from tests.fake_nvml import MIB, NVML_ERROR_LIBRARY_NOT_FOUND, FakeGpu, FakeNvml, FakeProcess
from tests.support.synthetic_trace import write_synthetic_trace

TOKEN = "test-token-0123456789"


def config_in(tmp_path: Path, **overrides: object) -> CollectorConfig:
    file_data = {
        "accounting": {"db_path": str(tmp_path / "usage.sqlite3")},
        "engines": {"enabled": False},
    }
    return build_config(file_data, {"token": TOKEN, **overrides})


@pytest.fixture
def nvml_service(tmp_path: Path) -> Iterator[CollectorService]:
    fake = FakeNvml([FakeGpu(uuid="GPU-0", processes=[FakeProcess(pid=999_999, used_bytes=MIB)])])
    config = config_in(tmp_path)
    service = build_service(config, nvml=fake)
    yield service
    service.stop()


def test_a_tick_on_nvml_reaches_the_store_history_and_api(nvml_service: CollectorService) -> None:
    snapshot = nvml_service.sampler.tick()
    assert nvml_service.runtime.store.latest() is snapshot
    assert snapshot.source == "nvml"
    assert [gpu.uuid for gpu in snapshot.gpus] == ["GPU-0"]
    client = TestClient(build_app(nvml_service.runtime))
    answer = client.get("/v1/snapshot", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert Snapshot.model_validate(answer.json()).gpus[0].uuid == "GPU-0"


def test_nvml_process_that_does_not_exist_here_is_skipped(nvml_service: CollectorService) -> None:
    # pid 999999 is not running on this machine: gone between NVML's list and /proc
    assert nvml_service.sampler.tick().processes == []


def test_collector_without_nvml_library_serves_health_down(tmp_path: Path) -> None:
    fake = FakeNvml()
    fake.init_errors = [NVML_ERROR_LIBRARY_NOT_FOUND]
    config = config_in(tmp_path)
    service = build_service(config, nvml=fake)
    try:
        service.sampler.tick()
        health = TestClient(build_app(service.runtime)).get("/healthz").json()
    finally:
        service.stop()
    assert health["status"] == "down"
    assert "NVML Shared Library Not Found" in health["reason"]


def test_replay_service_serves_recorded_attribution_and_says_replay(tmp_path: Path) -> None:
    trace = write_synthetic_trace(tmp_path / "trace.jsonl")
    service = build_service(config_in(tmp_path, replay=str(trace)))
    try:
        assert isinstance(service.backend, ReplayBackend)
        assert service.scraper is None
        snapshot = service.sampler.tick()
    finally:
        service.stop()
    recorded = load_trace(trace)[0]
    assert snapshot.source == "replay"
    assert service.runtime.hostname == recorded.host
    assert [p.attribution for p in snapshot.processes] == [
        p.attribution for p in recorded.processes
    ]


def test_replay_can_start_with_a_full_history(tmp_path: Path) -> None:
    trace = write_synthetic_trace(tmp_path / "trace.jsonl")
    config = config_in(tmp_path, replay=str(trace))
    assert config.replay_fills_history  # the default
    service = build_service(config, clock=lambda: 1_800_000_000.0)
    try:
        history = service.runtime.history
        assert isinstance(history, HistoryBuffer)
        assert set(history.sizes().values()) == {history.capacities()}
        assert history.query(seconds=900).to_t == 1_800_000_000.0 - 1
    finally:
        service.stop()


FILLED_AT = 1_800_000_000.0


def filled_usage(config: CollectorConfig) -> dict[str, float]:
    """GPU-hours per app of the last day, as a replay that fills its books at start has them."""
    service = build_service(config, clock=lambda: FILLED_AT)
    try:
        report = service.runtime.usage.report(
            from_t=FILLED_AT - 86400, to_t=FILLED_AT, group_by="app"
        )
    finally:
        service.stop()
    return {row.group: row.gpu_hours for row in report.rows}


def test_replay_starts_with_a_day_of_usage_in_its_books(tmp_path: Path) -> None:
    config = config_in(tmp_path, replay=str(write_synthetic_trace(tmp_path / "trace.jsonl")))
    booked = filled_usage(config)
    # the synthetic trace's vLLM GPU is 85-89 % busy for the whole day
    assert booked["support-bot"] == pytest.approx(0.87 * 24, rel=0.03)


def test_a_replay_started_again_does_not_book_the_same_day_twice(tmp_path: Path) -> None:
    config = config_in(tmp_path, replay=str(write_synthetic_trace(tmp_path / "trace.jsonl")))
    first = filled_usage(config)
    assert filled_usage(config) == pytest.approx(first, rel=1e-6)


def test_recording_appends_every_published_snapshot(tmp_path: Path) -> None:
    trace = write_synthetic_trace(tmp_path / "trace.jsonl")
    record = tmp_path / "recorded.jsonl"
    service = build_service(config_in(tmp_path, replay=str(trace), record=str(record)))
    try:
        published = [service.sampler.tick() for _ in range(3)]
    finally:
        service.stop()
    assert [s.collected_at for s in load_trace(record)] == [s.collected_at for s in published]
