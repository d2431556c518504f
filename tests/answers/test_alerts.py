"""Alerts of several collectors as one answer (GET /alerts)."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_insight.answers.alerts import alerts_json, parse_include_resolved
from gpu_insight.errors import InputError
from gpu_insight.schemas import Alert, AlertList
from gpu_insight.sources.fleet import Gathered, MissingCollector
from gpu_insight.sources.merge import merge_alert_lists


def alert(rule: str, host: str | None = None) -> Alert:
    return Alert(
        rule=rule, severity="warning", state="firing", message=rule, started_at=1.0, host=host
    )


@pytest.mark.parametrize(("value", "wanted"), [("true", True), ("false", False), (None, False)])
def test_include_resolved_is_true_or_false(value: Any, wanted: bool) -> None:
    assert parse_include_resolved(value) is wanted


def test_include_resolved_of_another_word_names_the_parameter() -> None:
    with pytest.raises(InputError, match=r"^include_resolved: 'yes' .* use one of true, false"):
        parse_include_resolved("yes")


def test_alerts_of_several_hosts_keep_their_host() -> None:
    merged = merge_alert_lists(
        [
            AlertList(host="a", source="nvml", alerts=[alert("memory_high")]),
            AlertList(host="b", source="replay", alerts=[alert("gpu_lost", host="b")]),
        ]
    )
    assert [(a.rule, a.host) for a in merged.alerts] == [("memory_high", "a"), ("gpu_lost", "b")]
    assert (merged.host, merged.source) == ("a,b", "replay")


def test_one_hosts_alerts_are_labelled_with_it_too() -> None:
    merged = merge_alert_lists([AlertList(host="a", source="nvml", alerts=[alert("gpu_lost")])])
    assert [a.host for a in merged.alerts] == ["a"]


def test_the_answer_names_the_collectors_that_did_not_answer() -> None:
    listed = AlertList(host="a", source="nvml", alerts=[alert("memory_high")])
    answer = alerts_json(Gathered(listed, (MissingCollector("http://b:9470", "b is down"),)))
    assert [a["rule"] for a in answer["alerts"]] == ["memory_high"]
    assert answer["missing_collectors"] == [{"url": "http://b:9470", "reason": "b is down"}]
