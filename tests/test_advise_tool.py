"""serving_advice through the SDK's stdio runtime, against a collector replaying a trace."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gpu_insight.advise.rules_cost import MIN_OBSERVED_S
from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime

BOOKS_TIMEOUT_S = MIN_OBSERVED_S + 60.0
PRICES = {"price_per_gpu_hour": "2.0", "gpu_prices": "H100=2.5, L40S=1.1, L4=0.6"}


@pytest.fixture(scope="module")
def credentials(replay_collector: CollectorProcess) -> dict[str, Any]:
    return {"collector_url": replay_collector.url, "collector_token": replay_collector.token}


def test_live_advice_yields_json_text_and_the_declared_variables(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = plugin_runtime.invoke_tool("serving_advice", {}, credentials)
    assert result.error is None, result.error
    [answer] = result.jsons
    assert set(result.variables) == set(plugin_runtime.declared_variables("serving_advice"))
    assert result.variables["suggestion_count"] == len(answer["suggestions"])
    assert answer["source"] == "replay"
    assert result.text  # one short text: the top suggestions or "No suggestions"


def test_planned_72b_model_gets_quantization_numbers(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    params = {"model": "Qwen/Qwen2.5-72B-Instruct", "gpu": "0", "focus": "memory"}
    result = plugin_runtime.invoke_tool("serving_advice", params, credentials)
    assert result.error is None, result.error
    [answer] = result.jsons
    assert answer["planned"] is True
    ids = [s["id"] for s in answer["suggestions"]]
    assert "weights-do-not-fit" in ids
    weights = next(s for s in answer["suggestions"] if s["id"] == "weights-do-not-fit")
    assert weights["evidence"]["weights_bf16_gib"] > 130
    assert result.variables["critical_count"] >= 1
    assert "1. [critical]" in result.text


def test_bad_focus_names_the_parameter(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = plugin_runtime.invoke_tool("serving_advice", {"focus": "speed"}, credentials)
    assert result.error is not None
    assert result.error.startswith("focus: 'speed' is not accepted")


def wait_for_a_minute_of_books(collector: CollectorProcess) -> None:
    """The cost rules price no GPU watched for less than a minute: wait until the replaying
    collector's books hold one."""
    deadline = time.monotonic() + BOOKS_TIMEOUT_S
    while time.monotonic() < deadline:
        gpus = collector.get(f"/v1/usage?from={time.time() - 3600:.0f}&group_by=gpu")["gpus"]
        if gpus and min(g["observed_seconds"] for g in gpus) >= MIN_OBSERVED_S:
            return
        time.sleep(2.0)
    raise AssertionError(f"the collector's books hold no {MIN_OBSERVED_S:.0f} s of a GPU")


def test_focus_cost_finds_idle_held_and_right_size_savings_in_the_replayed_books(
    plugin_runtime: PluginRuntime,
    credentials: dict[str, Any],
    replay_collector: CollectorProcess,
) -> None:
    wait_for_a_minute_of_books(replay_collector)
    priced = {**credentials, **PRICES}
    plain = plugin_runtime.invoke_tool("serving_advice", {}, priced)
    cost = plugin_runtime.invoke_tool("serving_advice", {"focus": "cost"}, priced)
    assert plain.error is None and cost.error is None, (plain.error, cost.error)
    [without], [answer] = plain.jsons, cost.jsons
    found = {s["id"]: s for s in answer["suggestions"]}
    assert {s["id"] for s in without["suggestions"]} != set(found)
    idle, right = found["idle-but-held-cost"], found["right-size-gpu"]
    assert idle["evidence"]["app"] == "support-bot"
    assert idle["evidence"]["price_from"] == "gpu_prices H100"
    assert idle["saving_per_month"] > 0
    assert right["evidence"]["smaller_gpu"] == "NVIDIA L4 24GB"
    assert right["saving_per_month"] == 1387.0  # (2.5 − 0.6) per GPU-hour × 730 h
    assert all("cost" in s["focus"] or s["severity"] == "critical" for s in answer["suggestions"])
    assert cost.variables["top_saving_per_month"] == 1387.0


def test_focus_cost_without_a_price_names_the_settings_it_needs(
    plugin_runtime: PluginRuntime,
    credentials: dict[str, Any],
    replay_collector: CollectorProcess,
) -> None:
    wait_for_a_minute_of_books(replay_collector)
    result = plugin_runtime.invoke_tool("serving_advice", {"focus": "cost"}, credentials)
    assert result.error is None, result.error
    [answer] = result.jsons
    idle = next(s for s in answer["suggestions"] if s["id"] == "idle-but-held-cost")
    assert idle["saving_per_month"] is None
    assert "set price_per_gpu_hour" in idle["change"]
    assert result.variables["top_saving_per_month"] == 0.0
