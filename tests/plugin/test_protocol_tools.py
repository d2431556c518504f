"""The gpu_status and gpu_processes tools, invoked through the SDK's stdio runtime against a
collector replaying a recorded trace."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.collector_process import CollectorProcess
from tests.support.plugin_declarations import variable_problems
from tests.support.plugin_runtime import PluginRuntime, ToolResult


@pytest.fixture(scope="module")
def credentials(replay_collector: CollectorProcess) -> dict[str, Any]:
    return {"collector_url": replay_collector.url, "collector_token": replay_collector.token}


def succeeded(result: ToolResult) -> ToolResult:
    assert result.error is None, result.error
    return result


def test_gpu_status_yields_one_json_one_line_and_the_declared_variables(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = succeeded(plugin_runtime.invoke_tool("gpu_status", {"gpu": "all"}, credentials))
    assert len(result.jsons) == 1
    assert len(result.texts) == 1 and "\n" not in result.texts[0]
    assert set(result.variables) == set(plugin_runtime.declared_variables("gpu_status"))


def test_gpu_status_variables_agree_with_its_json(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = succeeded(plugin_runtime.invoke_tool("gpu_status", {}, credentials))
    answer = result.jsons[0]
    gpus = answer["gpus"]
    assert answer["summary"] == result.variables
    assert result.variables["gpu_count"] == len(gpus) > 0
    free = [g["memory_free_mib"] for g in gpus]
    assert result.variables["total_free_mib"] == pytest.approx(sum(free), abs=0.1 * len(gpus))
    assert result.variables["max_free_mib"] == max(free)
    assert result.variables["alerts_count"] == len(answer["alerts"])
    assert isinstance(result.variables["healthy"], bool)


def test_gpu_status_labels_every_gpu_with_its_host_and_marks_replayed_data(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = succeeded(plugin_runtime.invoke_tool("gpu_status", {}, credentials))
    answer = result.jsons[0]
    assert answer["source"] == "replay"
    assert all(g["host"] == answer["host"] for g in answer["gpus"])
    assert "(replayed data)" in result.texts[0]


def test_gpu_status_for_one_index_reports_only_that_gpu(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = succeeded(plugin_runtime.invoke_tool("gpu_status", {"gpu": "0"}, credentials))
    assert result.variables["gpu_count"] == 1
    assert [g["index"] for g in result.jsons[0]["gpus"]] == [0]


def test_gpu_status_accepts_a_uuid_and_a_host(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    everything = succeeded(plugin_runtime.invoke_tool("gpu_status", {}, credentials)).jsons[0]
    first = everything["gpus"][0]
    result = succeeded(
        plugin_runtime.invoke_tool(
            "gpu_status", {"gpu": first["uuid"], "host": first["host"]}, credentials
        )
    )
    assert [g["uuid"] for g in result.jsons[0]["gpus"]] == [first["uuid"]]


def test_gpu_status_rejects_an_unknown_index_naming_the_parameter(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = plugin_runtime.invoke_tool("gpu_status", {"gpu": "99"}, credentials)
    assert result.error is not None
    assert result.error.startswith("gpu: no GPU with index 99; this view has GPU indices 0")
    assert result.jsons == [] and result.variables == {}


def test_gpu_status_rejects_a_malformed_gpu_naming_what_is_accepted(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = plugin_runtime.invoke_tool("gpu_status", {"gpu": "the big one"}, credentials)
    assert result.error == (
        "gpu: 'the big one' is not accepted; use 'all', a GPU index such as 0, or a GPU UUID "
        "such as GPU-5f1c…."
    )


def test_gpu_status_rejects_an_unknown_host_listing_the_known_ones(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = plugin_runtime.invoke_tool("gpu_status", {"host": "nowhere"}, credentials)
    assert result.error is not None
    assert result.error.startswith("host: 'nowhere' is not a known host; use one of ")


def test_gpu_status_fails_with_one_sentence_when_the_collector_is_down(
    plugin_runtime: PluginRuntime, collector_down_url: str
) -> None:
    result = plugin_runtime.invoke_tool("gpu_status", {}, {"collector_url": collector_down_url})
    assert result.error == (
        f"Cannot connect to the GPU Insight collector at {collector_down_url} (connection "
        "refused); check that the collector is running and that this URL is reachable from "
        "the Dify plugin daemon."
    )


def test_gpu_status_fails_without_echoing_a_refused_token(
    plugin_runtime: PluginRuntime, replay_collector: CollectorProcess
) -> None:
    wrong_token = "wrong-token-7e57c0de"
    result = plugin_runtime.invoke_tool(
        "gpu_status", {}, {"collector_url": replay_collector.url, "collector_token": wrong_token}
    )
    assert result.error is not None and "refused the token (HTTP 403)" in result.error
    assert all(wrong_token not in str(m) for m in result.messages)
    assert wrong_token not in result.error


@pytest.mark.parametrize("group_by", ["process", "container", "model", "app"])
def test_gpu_processes_top_consumer_is_the_largest_row(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any], group_by: str
) -> None:
    result = succeeded(
        plugin_runtime.invoke_tool(
            "gpu_processes", {"gpu": "all", "group_by": group_by}, credentials
        )
    )
    assert len(result.jsons) == 1 and len(result.texts) == 1
    assert set(result.variables) == set(plugin_runtime.declared_variables("gpu_processes"))
    answer = result.jsons[0]
    assert answer["group_by"] == group_by
    consumers = answer["consumers"]
    sizes = [c["used_memory_mib"] for c in consumers]
    assert sizes == sorted(sizes, reverse=True)
    if consumers:
        assert result.variables["top_consumer"] == consumers[0]["consumer"]
        assert result.variables["top_consumer_mib"] == consumers[0]["used_memory_mib"]
    else:
        assert result.variables["top_consumer"] == ""


def test_gpu_processes_unattributed_memory_is_held_by_processes_without_app_or_team(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = succeeded(
        plugin_runtime.invoke_tool("gpu_processes", {"group_by": "process"}, credentials)
    )
    consumers = result.jsons[0]["consumers"]
    unattributed = [c for c in consumers if "app" not in c and "team" not in c]
    assert result.variables["unattributed_mib"] == pytest.approx(
        sum(c["used_memory_mib"] for c in unattributed), abs=0.1 * len(consumers) + 0.1
    )


def test_gpu_processes_for_one_gpu_lists_only_its_processes(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = succeeded(plugin_runtime.invoke_tool("gpu_processes", {"gpu": 0}, credentials))
    for consumer in result.jsons[0]["consumers"]:
        assert all(label.endswith(":0") for label in consumer["gpus"])


def test_gpu_processes_rejects_an_unknown_grouping_naming_the_choices(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = plugin_runtime.invoke_tool("gpu_processes", {"group_by": "user"}, credentials)
    assert result.error == (
        "group_by: 'user' is not accepted; use one of process, container, model, app."
    )


def test_the_output_schema_check_names_undeclared_mistyped_and_missing_variables() -> None:
    declared = {"gpu_count": "integer", "healthy": "boolean", "max_free_mib": "number"}
    emitted = {"gpu_count": True, "healthy": "yes", "max_free_mib": 80.5, "extra": 1}
    assert variable_problems(emitted, declared, complete=False) == [
        "gpu_count = True is not of the declared type integer",
        "healthy = 'yes' is not of the declared type boolean",
        "extra is not declared in the output_schema",
    ]
    assert variable_problems({"gpu_count": 2}, declared, complete=True) == [
        "healthy is declared but not emitted",
        "max_free_mib is declared but not emitted",
    ]
    assert (
        variable_problems({"gpu_count": 2, "healthy": False, "max_free_mib": 3}, declared, True)
        == []
    )
