"""The endpoint's /history: its `seconds` parameter and how several collectors' answers merge."""

from __future__ import annotations

import pytest

from gpu_insight.answers.history import (
    DEFAULT_HISTORY_SECONDS,
    parse_history_seconds,
    parse_history_step,
)
from gpu_insight.errors import InputError
from gpu_insight.schemas import GpuHistory, History, HistoryPoint, Source
from gpu_insight.sources.merge import merge_histories


def history(host: str, uuid: str, *, to_t: float, source: Source = "nvml") -> History:
    return History(
        host=host,
        source=source,
        resolution_s=1.0,
        from_t=to_t - 900,
        to_t=to_t,
        gpus=[GpuHistory(gpu_index=0, gpu_uuid=uuid, points=[HistoryPoint(t=to_t)])],
    )


@pytest.mark.parametrize("value", [None, "", "  "])
def test_seconds_defaults_to_fifteen_minutes(value: str | None) -> None:
    assert parse_history_seconds(value) == DEFAULT_HISTORY_SECONDS == 900


@pytest.mark.parametrize(("value", "seconds"), [("1", 1), ("60", 60), ("7.2", 8), ("86400", 86400)])
def test_seconds_accepts_whole_and_fractional_numbers_rounded_up(value: str, seconds: int) -> None:
    assert parse_history_seconds(value) == seconds


@pytest.mark.parametrize("value", ["0", "-5", "86401", "nan", "inf", "abc", "1e9"])
def test_seconds_out_of_range_names_the_parameter_and_the_range(value: str) -> None:
    with pytest.raises(InputError, match=r"^seconds: .* from 1 to 86400"):
        parse_history_seconds(value)


@pytest.mark.parametrize(("value", "step"), [(None, None), ("", None), ("288", 288), ("2.5", 3)])
def test_step_is_absent_or_whole_seconds_rounded_up(value: str | None, step: int | None) -> None:
    assert parse_history_step(value) == step


def test_step_out_of_range_names_its_parameter() -> None:
    with pytest.raises(InputError, match=r"^step_s: 0 is out of range; use a number of seconds"):
        parse_history_step("0")


def test_one_collector_history_is_passed_on_unchanged() -> None:
    only = history("a", "GPU-a", to_t=1000.0)
    assert merge_histories([only]) == only


def test_several_collectors_keep_every_gpu_and_end_at_the_oldest_sample() -> None:
    merged = merge_histories(
        [history("a", "GPU-a", to_t=1000.0), history("b", "GPU-b", to_t=998.0)]
    )
    assert merged.host == "a,b"
    assert [g.gpu_uuid for g in merged.gpus] == ["GPU-a", "GPU-b"]
    assert merged.to_t == 998.0
    assert merged.from_t == 98.0


def test_merged_history_is_replay_when_any_collector_replays() -> None:
    merged = merge_histories(
        [history("a", "GPU-a", to_t=1.0), history("b", "GPU-b", to_t=1.0, source="replay")]
    )
    assert merged.source == "replay"


def test_merging_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing to merge"):
        merge_histories([])
