"""serving_advice through the SDK's stdio runtime, against a collector replaying a trace."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime


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
