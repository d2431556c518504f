"""gpu_usage_report, GET /usage.csv and the alert engine, end to end: a replaying collector
with its own books, read through the SDK's stdio runtime."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpu_insight.sources.client import CollectorClient
from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime, ToolResult
from tests.support.synthetic_trace import write_synthetic_trace

API_KEY = "usage-endpoint-key-0123456789"
BOOKS_TIMEOUT_S = 20.0


def start_collector(tmp: Path, trace: Path, config: dict[str, Any]) -> CollectorProcess:
    config_file = tmp / "collector.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    return CollectorProcess(trace, extra_args=["--config", str(config_file)]).start()


@pytest.fixture(scope="module")
def accounting_collector(
    tmp_path_factory: pytest.TempPathFactory, replay_trace: Path
) -> Iterator[CollectorProcess]:
    """The replay trace with fresh books; returns once the books hold some GPU time."""
    tmp = tmp_path_factory.mktemp("usage")
    collector = start_collector(
        tmp, replay_trace, {"accounting": {"db_path": str(tmp / "usage.sqlite3")}}
    )
    try:
        client = CollectorClient(collector.url, collector.token)
        deadline = time.monotonic() + BOOKS_TIMEOUT_S
        while client.usage(0, time.time() + 60, "app").total_gpu_hours <= 0:
            assert time.monotonic() < deadline, "the collector accounted no GPU time"
            time.sleep(0.5)
        yield collector
    finally:
        collector.stop()


@pytest.fixture(scope="module")
def credentials(accounting_collector: CollectorProcess) -> dict[str, Any]:
    return {
        "collector_url": accounting_collector.url,
        "collector_token": accounting_collector.token,
        "price_per_gpu_hour": "2.5",
    }


@pytest.fixture(scope="module")
def endpoint_settings(accounting_collector: CollectorProcess) -> dict[str, Any]:
    return {
        "collector_url": accounting_collector.url,
        "collector_token": accounting_collector.token,
        "api_key": API_KEY,
    }


def succeeded(result: ToolResult) -> ToolResult:
    assert result.error is None, result.error
    return result


def test_usage_report_yields_one_json_one_line_and_the_declared_variables(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = succeeded(plugin_runtime.invoke_tool("gpu_usage_report", {}, credentials))
    assert len(result.jsons) == 1
    assert len(result.texts) == 1 and "\n" not in result.texts[0]
    assert set(result.variables) == set(plugin_runtime.declared_variables("gpu_usage_report"))


def test_usage_report_variables_agree_with_its_table(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = succeeded(
        plugin_runtime.invoke_tool("gpu_usage_report", {"window": "1h"}, credentials)
    )
    table = result.jsons[0]
    assert table["window"] == "1h" and table["group_by"] == "app"
    assert result.variables["total_gpu_hours"] == table["total_gpu_hours"] > 0
    assert result.variables["top_group"] == table["rows"][0]["group"] != ""
    assert sum(r["gpu_hours"] for r in table["rows"]) == pytest.approx(
        table["total_gpu_hours"], abs=1e-3
    )


def test_usage_report_prices_with_the_settings_price_unless_given_one(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    default = succeeded(plugin_runtime.invoke_tool("gpu_usage_report", {}, credentials))
    assert default.jsons[0]["price_per_gpu_hour"] == 2.5
    assert default.variables["total_cost"] == pytest.approx(
        default.variables["total_gpu_hours"] * 2.5, abs=1e-3
    )
    given = succeeded(
        plugin_runtime.invoke_tool("gpu_usage_report", {"price_per_gpu_hour": 10}, credentials)
    )
    assert given.jsons[0]["price_per_gpu_hour"] == 10


def test_usage_report_by_gpu_has_one_row_per_gpu_uuid(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = succeeded(
        plugin_runtime.invoke_tool("gpu_usage_report", {"group_by": "gpu"}, credentials)
    )
    groups = [r["group"] for r in result.jsons[0]["rows"]]
    assert groups and all(g.startswith(("GPU-", "MIG-")) for g in groups)
    assert len(set(groups)) == len(groups)


def test_usage_report_rejects_an_unknown_window_naming_the_choices(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = plugin_runtime.invoke_tool("gpu_usage_report", {"window": "2w"}, credentials)
    assert result.error is not None
    assert "window" in result.error and "1h, 24h, 7d, 30d" in result.error


def test_usage_report_fails_with_one_sentence_when_the_collector_is_down(
    plugin_runtime: PluginRuntime, collector_down_url: str
) -> None:
    result = plugin_runtime.invoke_tool(
        "gpu_usage_report", {}, {"collector_url": collector_down_url}
    )
    assert result.error is not None
    assert f"Cannot connect to the GPU Insight collector at {collector_down_url}" in result.error


def test_usage_csv_without_a_key_gets_401(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint("GET", "/usage.csv", settings=endpoint_settings)
    assert response.status == 401
    assert response.json()["error"] == "api_key_missing"


def test_usage_csv_returns_a_spreadsheet_with_a_header_and_priced_rows(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET",
        f"/usage.csv?key={API_KEY}&window=1h&group_by=team&price=2",
        settings=endpoint_settings,
    )
    assert response.status == 200, response.body
    assert (response.header("Content-Type") or "").startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.body.decode("utf-8"))))
    assert lines and list(lines[0])[:2] == ["team", "gpu_hours"]
    for line in lines:
        assert float(line["cost"]) == pytest.approx(float(line["gpu_hours"]) * 2, abs=1e-3)


def test_usage_csv_rejects_a_bad_group_by_with_a_400_naming_it(
    plugin_runtime: PluginRuntime, endpoint_settings: dict[str, Any]
) -> None:
    key = {"X-Api-Key": API_KEY}
    response = plugin_runtime.invoke_endpoint(
        "GET", "/usage.csv?group_by=user", headers=key, settings=endpoint_settings
    )
    assert response.status == 400
    assert "group_by" in response.json()["message"]


def test_an_alert_rule_overridden_in_config_fires_and_shows_in_gpu_status(
    plugin_runtime: PluginRuntime, tmp_path: Path
) -> None:
    trace = write_synthetic_trace(tmp_path / "trace.jsonl")  # GPU 0 busy at 85 % or more
    config = {
        "accounting": {"db_path": str(tmp_path / "usage.sqlite3")},
        "alerts": {"rules": {"gpu_utilization_high": {"threshold": 50, "for_s": 0}}},
    }
    collector = start_collector(tmp_path, trace, config)
    try:
        client = CollectorClient(collector.url, collector.token)
        deadline = time.monotonic() + BOOKS_TIMEOUT_S
        while not client.snapshot().alerts:
            assert time.monotonic() < deadline, "no alert fired"
            time.sleep(0.2)
        [alert] = client.alerts().alerts
        assert (alert.rule, alert.state, alert.gpu_index) == ("gpu_utilization_high", "firing", 0)
        result = succeeded(
            plugin_runtime.invoke_tool(
                "gpu_status",
                {},
                {"collector_url": collector.url, "collector_token": collector.token},
            )
        )
    finally:
        collector.stop()
    assert result.variables["alerts_count"] == 1
    assert [a["rule"] for a in result.jsons[0]["alerts"]] == ["gpu_utilization_high"]
