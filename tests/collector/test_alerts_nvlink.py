"""Alert rules on NVLink and remapped rows: a link down that was up, NVLink error counters
rising, rows remapped after uncorrectable errors, a remap pending or failed."""

from __future__ import annotations

import pytest

from gpu_insight.schemas import NvLink
from tests.collector.synthetic import FakeClock
from tests.collector.test_alerts import engine_with, feed, states


def links(*active: bool, replay: int = 0, crc_flit: int = 0) -> list[NvLink]:
    return [
        NvLink(link=i, active=up, replay_errors=replay, crc_flit_errors=crc_flit)
        for i, up in enumerate(active)
    ]


def test_a_link_that_was_up_and_went_down_fires_after_a_minute() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 5, nvlinks=links(True, True, True))
    pending = feed(engine, clock, 60, nvlinks=links(True, False, False))
    assert states(pending, "gpu_nvlink_down") == ["pending"]
    [alert] = feed(engine, clock, 1, nvlinks=links(True, False, False))
    assert (alert.rule, alert.state, alert.severity) == ("gpu_nvlink_down", "firing", "critical")
    assert alert.value == 2.0
    assert alert.message == "GPU 0: NVLink 1, 2 down after being up"


def test_a_link_never_seen_up_is_not_an_alert() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    assert feed(engine, clock, 120, nvlinks=links(True, False)) == []


def test_a_link_down_resolves_when_it_is_back_up() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 1, nvlinks=links(True))
    feed(engine, clock, 62, nvlinks=links(False))
    assert feed(engine, clock, 1, nvlinks=links(True)) == []
    assert states(engine.alerts(include_resolved=True), "gpu_nvlink_down") == ["resolved"]


def test_links_not_read_in_a_sample_are_no_judgement() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 1, nvlinks=links(True, True))
    assert feed(engine, clock, 120, nvlinks=None) == []


def test_rising_nvlink_errors_fire_at_once_summed_over_links() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 10, nvlinks=links(True, True, replay=4, crc_flit=1))
    [alert] = feed(engine, clock, 1, nvlinks=links(True, True, replay=5, crc_flit=3))
    assert (alert.rule, alert.state, alert.severity) == ("gpu_nvlink_errors", "firing", "warning")
    assert alert.value == 6.0  # (1 replay + 2 CRC) on each of two links
    assert "6 new NVLink errors in the last 10 min" in alert.message


def test_nvlink_errors_already_counted_at_start_are_a_baseline() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    assert feed(engine, clock, 30, nvlinks=links(True, True, replay=40, crc_flit=9)) == []


def test_a_link_missing_from_one_reading_is_not_taken_for_a_counter_reset() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    both = links(True, True, replay=100)
    feed(engine, clock, 5, nvlinks=both)
    feed(engine, clock, 1, nvlinks=both[1:])  # link 0's state read failed this time
    assert feed(engine, clock, 5, nvlinks=both) == []


def test_nvlink_errors_resolve_ten_minutes_after_the_last_increase() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 1, nvlinks=links(True, replay=0))
    feed(engine, clock, 1, nvlinks=links(True, replay=1))
    alerts = feed(engine, clock, 599, nvlinks=links(True, replay=1))
    assert states(alerts, "gpu_nvlink_errors") == ["firing"]
    assert feed(engine, clock, 1, nvlinks=links(True, replay=1)) == []


def test_a_new_row_remapped_after_an_uncorrectable_error_fires_at_once() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 10, remapped_rows_uncorrectable=2, remapped_rows_correctable=5)
    [alert] = feed(engine, clock, 1, remapped_rows_uncorrectable=3, remapped_rows_correctable=5)
    assert (alert.rule, alert.state, alert.value) == (
        "gpu_remapped_rows_uncorrectable",
        "firing",
        1.0,
    )


def test_rows_remapped_after_correctable_errors_are_not_an_alert() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 10, remapped_rows_correctable=5, remapped_rows_uncorrectable=0)
    assert feed(engine, clock, 10, remapped_rows_correctable=9, remapped_rows_uncorrectable=0) == []


@pytest.mark.parametrize(
    ("flag", "rule", "severity", "says"),
    [
        ("remapped_rows_pending", "gpu_row_remap_pending", "warning", "reset it"),
        ("remapped_rows_failure", "gpu_row_remap_failure", "critical", "needs service"),
    ],
)
def test_a_pending_or_failed_remap_fires_at_once_and_resolves_when_cleared(
    flag: str, rule: str, severity: str, says: str
) -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    [alert] = feed(engine, clock, 1, **{flag: True})
    assert (alert.rule, alert.state, alert.severity) == (rule, "firing", severity)
    assert says in alert.message
    assert feed(engine, clock, 1, **{flag: False}) == []


def test_unknown_remap_state_is_no_alert() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    assert feed(engine, clock, 10, remapped_rows_pending=None, remapped_rows_failure=None) == []
