"""Several collectors through the plugin runtime: one stopped and one frozen (SIGSTOP) are named
in the answer, the one that answers fills it, and the wait is one timeout, not three."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpu_insight.sources.client import CONNECT_TIMEOUT_S, READ_TIMEOUT_S
from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime

ONE_TIMEOUT_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S


@pytest.fixture(scope="module")
def three_hosts(replay_trace: Path) -> Iterator[list[CollectorProcess]]:
    token = secrets.token_urlsafe(24)
    collectors = [
        CollectorProcess(replay_trace, token=token, hostname=f"gpu-node-{n}") for n in (1, 2, 3)
    ]
    try:
        for collector in collectors:
            collector.start()
        collectors[1].stop()
        collectors[2].pause()
        yield collectors
    finally:
        for collector in collectors:
            collector.stop()


@pytest.fixture(scope="module")
def credentials(three_hosts: list[CollectorProcess]) -> dict[str, Any]:
    return {
        "collector_url": ",".join(c.url for c in three_hosts),
        "collector_token": three_hosts[0].token,
    }


def timed_tool(
    runtime: PluginRuntime, tool: str, params: dict[str, Any], credentials: dict[str, Any]
) -> tuple[Any, float]:
    started = time.monotonic()
    result = runtime.invoke_tool(tool, params, credentials)
    return result, time.monotonic() - started


def test_gpu_status_answers_from_the_live_host_and_names_the_two_missing(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any], three_hosts: list[CollectorProcess]
) -> None:
    result, elapsed = timed_tool(plugin_runtime, "gpu_status", {}, credentials)
    assert result.error is None, result.error
    answer = result.jsons[0]
    assert {g["host"] for g in answer["gpus"]} == {"gpu-node-1"}
    missing = {m["url"]: m["reason"] for m in answer["missing_collectors"]}
    assert set(missing) == {three_hosts[1].url, three_hosts[2].url}
    assert "Cannot connect" in missing[three_hosts[1].url]
    assert f"did not answer within {READ_TIMEOUT_S:g} s" in missing[three_hosts[2].url]
    assert result.variables["healthy"] is False
    assert f"Missing: Cannot connect to the GPU Insight collector at {three_hosts[1].url}" in (
        result.text
    )
    assert elapsed < ONE_TIMEOUT_S + 2.0  # asked one after another it would be ≥ 2 timeouts


@pytest.mark.parametrize(
    ("tool", "params"),
    [
        ("gpu_processes", {"group_by": "app"}),
        ("serving_advice", {}),
        ("vram_check", {"model": "Qwen/Qwen2.5-7B-Instruct"}),
        ("gpu_usage_report", {"window": "1h"}),
    ],
)
def test_every_tool_answers_with_one_host_live_and_names_the_missing(
    plugin_runtime: PluginRuntime,
    credentials: dict[str, Any],
    tool: str,
    params: dict[str, Any],
) -> None:
    result, elapsed = timed_tool(plugin_runtime, tool, params, credentials)
    assert result.error is None, result.error
    answer = result.jsons[0]
    named = answer.get("missing_collectors") or [
        note for note in answer.get("notes", []) if "live GPU data missing" in note
    ]
    assert len(named) == 2, answer
    assert elapsed < ONE_TIMEOUT_S + 2.0


def test_the_dashboard_history_answers_from_the_live_host(
    plugin_runtime: PluginRuntime, three_hosts: list[CollectorProcess]
) -> None:
    settings = {
        "collector_url": ",".join(c.url for c in three_hosts),
        "collector_token": three_hosts[0].token,
        "api_key": "k",
    }
    started = time.monotonic()
    response = plugin_runtime.invoke_endpoint(
        "GET", "/history", headers={"X-Api-Key": "k"}, settings=settings
    )
    assert time.monotonic() - started < ONE_TIMEOUT_S + 2.0
    assert response.status == 200
    body = response.json()
    assert len(body["missing_collectors"]) == 2
    assert body["host"] == "gpu-node-1"
