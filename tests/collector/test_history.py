"""History ring buffers: resolution chosen by window, retention, averaging, bounded memory."""

from __future__ import annotations

import threading

import pytest

from gpu_insight.collector.config import HistoryConfig
from gpu_insight.collector.history import (
    MAX_TRACKED_GPUS,
    HistoryBuffer,
    HistoryNotReadyError,
    UnknownGpuError,
)
from gpu_insight.schemas import Gpu, Snapshot
from tests.support.h100 import h100_gpu

T0 = 1_760_000_000.0  # a multiple of 10, so 10 s buckets start on it


def gpu(
    index: int = 0, utilization: float | None = 50.0, memory_used: float | None = 1000.0
) -> Gpu:
    return h100_gpu(index, utilization_percent=utilization, memory_used_mib=memory_used)


def snapshot(t: float, *gpus: Gpu) -> Snapshot:
    return Snapshot(host="node", source="replay", collected_at=t, gpus=list(gpus or [gpu()]))


def test_query_before_any_snapshot_says_not_ready() -> None:
    with pytest.raises(HistoryNotReadyError):
        HistoryBuffer(HistoryConfig()).query(seconds=60)


def test_short_window_uses_one_second_points_of_each_sample() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    for i in range(5):
        buffer.add(snapshot(T0 + i, gpu(utilization=float(i))))
    history = buffer.query(seconds=60)
    assert history.resolution_s == 1.0
    assert history.to_t == T0 + 4
    assert history.from_t == T0 + 4 - 60
    points = history.gpus[0].points
    assert [p.t for p in points] == [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4]
    assert [p.utilization_percent for p in points] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_window_longer_than_fine_retention_uses_ten_second_averages() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    for i in range(20):
        buffer.add(snapshot(T0 + i, gpu(utilization=float(i))))
    history = buffer.query(seconds=3600)
    assert history.resolution_s == 10.0
    points = history.gpus[0].points
    assert [p.t for p in points] == [T0, T0 + 10]
    assert [p.utilization_percent for p in points] == [4.5, 14.5]  # means of 0..9 and 10..19


def test_a_step_averages_the_points_into_steps_from_the_epoch() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    for i in range(10):
        buffer.add(snapshot(T0 + 2 + i, gpu(utilization=float(i), memory_used=None)))
    history = buffer.query(seconds=60, step_s=4)
    assert history.resolution_s == 4.0
    points = history.gpus[0].points
    assert [p.t for p in points] == [T0, T0 + 4, T0 + 8]
    assert [p.utilization_percent for p in points] == [0.5, 3.5, 7.5]  # 0..1, 2..5, 6..9
    assert [p.memory_used_mib for p in points] == [None, None, None]


def test_a_step_is_a_whole_number_of_the_tiers_points() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    for i in range(40):
        buffer.add(snapshot(T0 + i, gpu(utilization=float(i))))
    history = buffer.query(seconds=3600, step_s=15)
    assert history.resolution_s == 20.0
    assert [p.utilization_percent for p in history.gpus[0].points] == [9.5, 29.5]


def test_a_step_finer_than_the_tier_changes_nothing() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    for i in range(20):
        buffer.add(snapshot(T0 + i))
    assert buffer.query(seconds=3600, step_s=3) == buffer.query(seconds=3600)


def test_window_covers_only_points_inside_it() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    for i in range(100):
        buffer.add(snapshot(T0 + i))
    points = buffer.query(seconds=10).gpus[0].points
    assert [p.t for p in points] == [T0 + i for i in range(89, 100)]


def test_samples_within_one_second_are_averaged_into_one_point() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    buffer.add(snapshot(T0 + 0.1, gpu(utilization=10.0)))
    buffer.add(snapshot(T0 + 0.6, gpu(utilization=30.0)))
    points = buffer.query(seconds=5).gpus[0].points
    assert len(points) == 1
    assert points[0].utilization_percent == 20.0


def test_unknown_values_stay_unknown_and_do_not_drag_averages_to_zero() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    buffer.add(snapshot(T0, gpu(utilization=None)))
    buffer.add(snapshot(T0 + 1, gpu(utilization=None)))
    buffer.add(snapshot(T0 + 2, gpu(utilization=60.0)))
    buffer.add(snapshot(T0 + 2.5, gpu(utilization=None)))
    points = buffer.query(seconds=5).gpus[0].points
    assert [p.utilization_percent for p in points] == [None, None, 60.0]
    assert points[0].temperature_celsius is None


def test_fine_points_older_than_fine_retention_are_dropped() -> None:
    config = HistoryConfig(fine_retention_s=60, coarse_retention_s=600)
    buffer = HistoryBuffer(config)
    for i in range(200):
        buffer.add(snapshot(T0 + i))
    points = buffer.query(seconds=60).gpus[0].points
    assert [p.t for p in points] == [T0 + 139 + i for i in range(61)]
    assert buffer.sizes()["GPU-0"][0] == 60  # closed buckets; the one filling now is extra


def test_coarse_points_older_than_coarse_retention_are_dropped() -> None:
    config = HistoryConfig(fine_retention_s=60, coarse_retention_s=600)
    buffer = HistoryBuffer(config)
    for i in range(0, 3000, 5):
        buffer.add(snapshot(T0 + i))
    points = buffer.query(seconds=600).gpus[0].points
    assert [p.t for p in points] == [T0 + 2400 + 10 * i for i in range(60)]
    assert buffer.sizes()["GPU-0"][1] == 60


def test_lengths_stay_at_maxlen_after_many_more_samples_than_capacity() -> None:
    config = HistoryConfig(
        fine_resolution_s=1, fine_retention_s=30, coarse_resolution_s=10, coarse_retention_s=120
    )
    buffer = HistoryBuffer(config)
    assert buffer.capacities() == (30, 12)
    for i in range(10_000):
        buffer.add(snapshot(T0 + i, gpu(0), gpu(1, utilization=None)))
    assert buffer.sizes() == {"GPU-0": (30, 12), "GPU-1": (30, 12)}


def test_default_capacities_are_fifteen_minutes_of_seconds_and_a_day_of_ten_seconds() -> None:
    assert HistoryBuffer(HistoryConfig()).capacities() == (900, 8640)


def test_number_of_tracked_gpus_is_bounded() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    for i in range(MAX_TRACKED_GPUS + 10):
        buffer.add(snapshot(T0 + i, gpu(index=i)))
    sizes = buffer.sizes()
    assert len(sizes) == MAX_TRACKED_GPUS
    assert "GPU-0" not in sizes  # the GPU seen longest ago is forgotten first
    assert f"GPU-{MAX_TRACKED_GPUS + 9}" in sizes


def test_gpu_filter_accepts_index_or_uuid() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    buffer.add(snapshot(T0, gpu(0), gpu(1)))
    assert [g.gpu_uuid for g in buffer.query(seconds=60, gpu="1").gpus] == ["GPU-1"]
    assert [g.gpu_index for g in buffer.query(seconds=60, gpu="GPU-0").gpus] == [0]


def test_a_gpu_without_history_is_an_unknown_gpu() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    buffer.add(snapshot(T0, gpu(0)))
    with pytest.raises(UnknownGpuError):
        buffer.query_json(seconds=60, gpu="7")


def test_the_json_answer_is_the_models_json_byte_for_byte() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    for i in range(1200):  # past the fine tier's 15 minutes, into closed coarse buckets
        buffer.add(snapshot(T0 + i, gpu(0), gpu(1, utilization=None)))
    asked = ((60, None, None), (900, "1", None), (3600, None, 60.0), (86_400, "GPU-0", None))
    for seconds, gpu_asked, step_s in asked:
        model = buffer.query(seconds=seconds, gpu=gpu_asked, step_s=step_s)
        text = buffer.query_json(seconds=seconds, gpu=gpu_asked, step_s=step_s)
        assert text == model.model_dump_json()


def test_answer_names_host_and_source_of_the_samples() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    buffer.add(snapshot(T0))
    history = buffer.query(seconds=60)
    assert (history.host, history.source) == ("node", "replay")


@pytest.mark.parametrize("seconds", [0, -5, 86400 + 1])
def test_window_outside_retention_is_refused_naming_the_parameter(seconds: float) -> None:
    buffer = HistoryBuffer(HistoryConfig())
    buffer.add(snapshot(T0))
    with pytest.raises(ValueError, match=r"seconds must be in \(0, 86400\]"):
        buffer.query(seconds=seconds)


def test_clock_stepping_back_restarts_the_series_instead_of_freezing_it() -> None:
    buffer = HistoryBuffer(HistoryConfig())
    for i in range(10):
        buffer.add(snapshot(T0 + i))
    buffer.add(snapshot(T0 - 3600, gpu(utilization=99.0)))
    points = buffer.query(seconds=60).gpus[0].points
    assert [(p.t, p.utilization_percent) for p in points] == [(T0 - 3600, 99.0)]


def test_concurrent_adds_and_queries_keep_the_buffer_consistent() -> None:
    config = HistoryConfig(fine_retention_s=50, coarse_retention_s=500)
    buffer = HistoryBuffer(config)
    buffer.add(snapshot(T0))
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(300):
                for g in buffer.query(seconds=50).gpus:
                    times = [p.t for p in g.points]
                    assert times == sorted(times)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    for i in range(1, 3000):
        buffer.add(snapshot(T0 + i, gpu(0), gpu(1, utilization=None)))
    for thread in readers:
        thread.join(timeout=30)
    assert errors == []
    assert buffer.sizes()["GPU-1"] == (50, 50)
