"""The dashboard through the Dify endpoint, driven over the SDK's stdio protocol.

The page and its assets are public (they carry no data); the history it charts needs the key.
"""

from __future__ import annotations

from typing import Any

import pytest

from gpu_insight import web
from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime
from tests.web.collector_http import get_json

API_KEY = "dashboard-test-key-5a7e"


@pytest.fixture(scope="module")
def endpoint_settings(replay_collector: CollectorProcess) -> dict[str, Any]:
    return {
        "collector_url": replay_collector.url,
        "collector_token": replay_collector.token,
        "api_key": API_KEY,
    }


def test_dashboard_returns_the_page_without_a_key(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint("GET", "/dashboard", settings=endpoint_settings)
    assert response.status == 200
    assert response.header("Content-Type") == "text/html; charset=utf-8"
    assert response.body.decode() == web.page_html()


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("dashboard.js", "text/javascript; charset=utf-8"),
        ("dashboard.css", "text/css; charset=utf-8"),
        ("echarts.min.js", "text/javascript; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_dashboard_assets_come_with_their_content_type(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any], name: str, content_type: str
) -> None:
    response = plugin_runtime.invoke_endpoint("GET", f"/static/{name}", settings=endpoint_settings)
    expected = web.static_asset(name)
    assert expected is not None
    assert response.status == 200
    assert response.header("Content-Type") == content_type
    assert response.body == expected[0]


@pytest.mark.parametrize("name", ["index.html", "__init__.py", "nothing.js"])
def test_unknown_asset_names_are_404_json(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any], name: str
) -> None:
    response = plugin_runtime.invoke_endpoint("GET", f"/static/{name}", settings=endpoint_settings)
    assert response.status == 404
    assert response.json() == {
        "error": "not_found",
        "message": "No dashboard asset has that name.",
    }


def test_a_path_climbing_out_of_static_serves_no_file(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET", "/static/..%2F..%2Fmain.py", settings=endpoint_settings
    )
    assert response.status == 404
    assert b"import" not in response.body


def test_history_returns_the_collectors_recent_history(
    plugin_runtime: PluginRuntime,
    endpoint_settings: dict[str, Any],
    replay_collector: CollectorProcess,
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET", "/history?seconds=60", headers={"X-Api-Key": API_KEY}, settings=endpoint_settings
    )
    assert response.status == 200
    answer = response.json()
    assert answer["source"] == "replay"
    assert answer["to_t"] - answer["from_t"] == pytest.approx(60)
    snapshot = get_json(replay_collector, "/v1/snapshot")
    assert {g["gpu_uuid"] for g in answer["gpus"]} == {g["uuid"] for g in snapshot["gpus"]}
    assert all(g["points"] for g in answer["gpus"])


def test_history_in_steps_passes_the_step_to_the_collectors(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    path, headers = "/history?seconds=3600&step_s=120", {"X-Api-Key": API_KEY}
    answer = plugin_runtime.invoke_endpoint(
        "GET", path, headers=headers, settings=endpoint_settings
    )
    assert answer.json()["resolution_s"] == 120


def test_history_without_the_key_is_refused(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint("GET", "/history", settings=endpoint_settings)
    assert response.status == 401
    assert response.json()["error"] == "api_key_missing"


def test_history_with_seconds_out_of_range_is_a_400_naming_the_parameter(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET", "/history?seconds=0", headers={"X-Api-Key": API_KEY}, settings=endpoint_settings
    )
    assert response.status == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "seconds: 0 is out of range; use a number of seconds from 1 to 86400.",
    }


# --- the data routes the dashboard's panels read ---------------------------------------------


def test_usage_answers_the_collectors_report_in_steps(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET",
        "/usage?window=24h&bucket_s=3600&group_by=team",
        headers={"X-Api-Key": API_KEY},
        settings=endpoint_settings,
    )
    assert response.status == 200
    report = response.json()
    assert (report["group_by"], report["source"]) == ("team", "replay")
    assert len(report["buckets"]) in (24, 25)  # minute-aligned ends may add one step
    assert all(b["to_t"] - b["from_t"] <= 3600 for b in report["buckets"])
    assert report["price_per_gpu_hour"] is None
    assert report["missing_collectors"] == []


def test_usage_is_priced_by_the_endpoints_price_setting(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET",
        "/usage",
        headers={"X-Api-Key": API_KEY},
        settings={**endpoint_settings, "price_per_gpu_hour": "2.5"},
    )
    assert response.json()["price_per_gpu_hour"] == 2.5


def test_usage_with_a_bad_step_is_a_400_naming_it(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET", "/usage?bucket_s=90", headers={"X-Api-Key": API_KEY}, settings=endpoint_settings
    )
    assert response.status == 400
    assert response.json()["message"].startswith("bucket_s: 90 is not accepted")


def test_advice_answers_what_serving_advice_answers(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET", "/advice?focus=cost", headers={"X-Api-Key": API_KEY}, settings=endpoint_settings
    )
    assert response.status == 200
    answer = response.json()
    assert (answer["source"], answer["focus"]) == ("replay", "cost")
    assert answer["suggestion_count"] == len(answer["suggestions"])
    assert all({"severity", "title", "change", "evidence"} <= set(s) for s in answer["suggestions"])


def test_advice_without_the_key_is_refused(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint("GET", "/advice", settings=endpoint_settings)
    assert response.status == 401


def test_alerts_answer_the_collectors_alerts_labelled_with_its_host(
    plugin_runtime: PluginRuntime,
    endpoint_settings: dict[str, Any],
    replay_collector: CollectorProcess,
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET",
        "/alerts?include_resolved=true",
        headers={"X-Api-Key": API_KEY},
        settings=endpoint_settings,
    )
    assert response.status == 200
    answer = response.json()
    assert answer["host"] == get_json(replay_collector, "/v1/alerts")["host"]
    assert all(a["host"] == answer["host"] for a in answer["alerts"])
    assert answer["missing_collectors"] == []


def test_alerts_with_include_resolved_of_another_word_is_a_400(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET",
        "/alerts?include_resolved=maybe",
        headers={"X-Api-Key": API_KEY},
        settings=endpoint_settings,
    )
    assert response.status == 400
    assert response.json()["message"].startswith("include_resolved: 'maybe' is not accepted")
