"""deploy/grafana/gpu-insight-dashboard.json: a well-formed dashboard on the collector's metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.exposed_metrics import exposed_metric_names, metric_names_in

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_FILE = REPO_ROOT / "deploy" / "grafana" / "gpu-insight-dashboard.json"
VARIABLE = re.compile(r"\$\{?(\w+)")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))


def data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def all_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for panel in data_panels(dashboard) for t in panel["targets"]]
    exprs += [
        variable["definition"]
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]
    return exprs


def test_dashboard_has_identity_and_a_schema_version(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "gpu-insight"
    assert dashboard["title"] == "GPU Insight"
    assert isinstance(dashboard["schemaVersion"], int)


def test_datasource_is_a_prometheus_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_queries_through_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    for panel in data_panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_panel_has_targets_with_distinct_ref_ids(dashboard: dict[str, Any]) -> None:
    for panel in data_panels(dashboard):
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids, f"panel {panel['title']!r} has no targets"
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_panel_ids_are_unique_and_panels_fit_the_grid(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_every_metric_in_an_expression_is_exposed_by_the_collector(
    dashboard: dict[str, Any],
) -> None:
    exposed = exposed_metric_names()
    for expr in all_exprs(dashboard):
        used = metric_names_in(expr)
        assert used, f"no metric in {expr!r}"
        assert used <= exposed, f"unknown {sorted(used - exposed)} in {expr!r}"


def test_every_variable_used_is_defined(dashboard: dict[str, Any]) -> None:
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    used = {name for expr in all_exprs(dashboard) for name in VARIABLE.findall(expr)}
    assert used <= defined


@pytest.mark.parametrize(
    "metric",
    [
        "gpu_utilization_ratio",
        "gpu_memory_used_bytes",
        "gpu_memory_free_bytes",
        "gpu_temperature_celsius",
        "gpu_temperature_slowdown_threshold_celsius",
        "gpu_power_usage_watts",
        "gpu_app_memory_used_bytes",
        "gpu_insight_engine_kv_cache_usage_ratio",
        "gpu_insight_engine_requests_waiting",
        "gpu_insight_alerts",
    ],
)
def test_dashboard_shows(dashboard: dict[str, Any], metric: str) -> None:
    assert any(metric in metric_names_in(expr) for expr in all_exprs(dashboard))
