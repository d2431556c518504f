"""GET /status and GET /metrics, sent as raw HTTP requests through the SDK's stdio runtime."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from tests.support.canned_http import SilentServer
from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime

API_KEY = "endpoint-key-0123456789abcdef"


@pytest.fixture(scope="module")
def settings(replay_collector: CollectorProcess) -> dict[str, Any]:
    return {
        "collector_url": replay_collector.url,
        "collector_token": replay_collector.token,
        "api_key": API_KEY,
    }


@pytest.mark.parametrize("path", ["/status", "/metrics"])
def test_a_request_without_a_key_gets_401_json(
    plugin_runtime: PluginRuntime, settings: dict[str, Any], path: str
) -> None:
    response = plugin_runtime.invoke_endpoint("GET", path, settings=settings)
    assert response.status == 401
    assert response.json()["error"] == "api_key_missing"
    assert "X-Api-Key" in response.json()["message"]


@pytest.mark.parametrize("path", ["/status", "/metrics"])
def test_a_request_with_a_wrong_key_gets_403_json(
    plugin_runtime: PluginRuntime, settings: dict[str, Any], path: str
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET", path, headers={"X-Api-Key": "wrong-key"}, settings=settings
    )
    assert response.status == 403
    assert response.json() == {
        "error": "api_key_invalid",
        "message": "The API key is not valid for this endpoint.",
    }


def test_status_with_the_key_in_a_header_returns_the_snapshot(
    plugin_runtime: PluginRuntime, settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET", "/status", headers={"X-Api-Key": API_KEY}, settings=settings
    )
    assert response.status == 200
    assert response.header("Content-Type") == "application/json"
    snapshot = response.json()
    assert snapshot["service"] == "gpu-insight-collector"
    assert snapshot["source"] == "replay"
    assert snapshot["gpus"] and all(g["host"] == snapshot["host"] for g in snapshot["gpus"])


def test_status_with_the_key_in_the_query_returns_the_snapshot(
    plugin_runtime: PluginRuntime, settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint("GET", f"/status?key={API_KEY}", settings=settings)
    assert response.status == 200
    assert response.json()["gpus"]


def test_metrics_passes_the_collectors_exposition_and_content_type_through(
    plugin_runtime: PluginRuntime, settings: dict[str, Any], replay_collector: CollectorProcess
) -> None:
    direct = urllib.request.Request(
        f"{replay_collector.url}/metrics",
        headers={"Authorization": f"Bearer {replay_collector.token}"},
    )
    with urllib.request.urlopen(direct, timeout=5) as answer:
        collector_type = answer.headers["Content-Type"]
    response = plugin_runtime.invoke_endpoint(
        "GET", "/metrics", headers={"X-Api-Key": API_KEY}, settings=settings
    )
    assert response.status == 200
    assert response.header("Content-Type") == collector_type
    assert b"# TYPE " in response.body


def test_metrics_rejects_a_collector_position_outside_the_list(
    plugin_runtime: PluginRuntime, settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET", f"/metrics?key={API_KEY}&collector=3", settings=settings
    )
    assert response.status == 400
    assert response.json()["message"] == (
        "collector: '3' is not accepted; use a position from 0 to 0 in the endpoint's "
        "collector_url list."
    )


@pytest.mark.parametrize("path", ["/status", "/metrics"])
def test_a_down_collector_gives_502_json_naming_it(
    plugin_runtime: PluginRuntime, collector_down_url: str, path: str
) -> None:
    settings = {
        "collector_url": collector_down_url,
        "collector_token": "tok-secret-99",
        "api_key": API_KEY,
    }
    response = plugin_runtime.invoke_endpoint(
        "GET", path, headers={"X-Api-Key": API_KEY}, settings=settings
    )
    assert response.status == 502
    body = response.json()
    assert body["error"] == "collector_error"
    assert collector_down_url in body["message"]
    assert b"tok-secret-99" not in response.body and b"Traceback" not in response.body


def test_a_collector_that_never_answers_gives_504_json(plugin_runtime: PluginRuntime) -> None:
    with SilentServer() as silent:
        response = plugin_runtime.invoke_endpoint(
            "GET",
            "/status",
            headers={"X-Api-Key": API_KEY},
            settings={"collector_url": silent.url, "api_key": API_KEY},
            timeout_s=20,
        )
    assert response.status == 504
    assert response.json()["error"] == "collector_timeout"


def test_a_wrong_collector_token_gives_502_without_echoing_it(
    plugin_runtime: PluginRuntime, replay_collector: CollectorProcess
) -> None:
    settings = {
        "collector_url": replay_collector.url,
        "collector_token": "stale-token-1234",
        "api_key": API_KEY,
    }
    response = plugin_runtime.invoke_endpoint(
        "GET", "/status", headers={"X-Api-Key": API_KEY}, settings=settings
    )
    assert response.status == 502
    assert "refused the token" in response.json()["message"]
    assert b"stale-token-1234" not in response.body
