"""deploy/autoscaling: the KEDA ScaledObject and the HPA with prometheus-adapter that the
autoscale-replicas advice points to. Their PromQL runs in Prometheus's own engine (promtool's
PromQL unit tests) over the series the collector exposes, and gives the queue they scale on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpu_insight.advise.rules_tuning import AUTOSCALING_EXAMPLES, QUEUE_PER_REPLICA, QUEUE_SERIES
from tests.deploy.exposed_metrics import exposed_metric_names, metric_names_in

REPO_ROOT = Path(__file__).resolve().parents[2]
KEDA, HPA = (REPO_ROOT / path for path in AUTOSCALING_EXAMPLES)
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not found (Debian package `prometheus`)"
)
MODEL = "Qwen/Qwen2.5-7B-Instruct"
# Two replicas of the model for support-bot (12 and 10 waiting) and another app's engine.
SERIES = [
    (
        f'{QUEUE_SERIES}{{model="{MODEL}",app="support-bot",instance_url="http://a:8000/metrics"}}',
        12,
    ),
    (
        f'{QUEUE_SERIES}{{model="{MODEL}",app="support-bot",instance_url="http://b:8000/metrics"}}',
        10,
    ),
    (f'{QUEUE_SERIES}{{model="BAAI/bge-m3",app="search",instance_url="http://c:8000/metrics"}}', 7),
]


def keda_trigger() -> dict[str, Any]:
    scaled = yaml.safe_load(KEDA.read_text(encoding="utf-8"))
    assert (scaled["apiVersion"], scaled["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    return trigger["metadata"]


def hpa_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    adapter, hpa = yaml.safe_load_all(HPA.read_text(encoding="utf-8"))
    [rule] = yaml.safe_load(adapter["data"]["config.yaml"])["externalRules"]
    assert (hpa["apiVersion"], hpa["kind"]) == ("autoscaling/v2", "HorizontalPodAutoscaler")
    return rule, hpa


def adapter_query(rule: dict[str, Any], hpa: dict[str, Any]) -> str:
    """The PromQL prometheus-adapter sends for the HPA's metric: its template filled with the
    series, the HPA selector's labels as matchers, and those labels as the grouping."""
    [metric] = hpa["spec"]["metrics"]
    selector = metric["external"]["metric"]["selector"]["matchLabels"]
    return (
        rule["metricsQuery"]
        .replace("<<.Series>>", metric["external"]["metric"]["name"])
        .replace("<<.LabelMatchers>>", ",".join(f'{k}="{v}"' for k, v in selector.items()))
        .replace("<<.GroupBy>>", ",".join(selector))
    )


def promql_results(tmp_path: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess:
    """promtool's unit tests: each expression evaluated over SERIES at one minute."""
    suite = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": f"{v}x2"} for s, v in SERIES],
                "promql_expr_test": tests,
            }
        ],
    }
    path = tmp_path / "autoscaling_test.yaml"
    path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


def test_both_examples_scale_at_the_queue_per_replica_the_advice_names() -> None:
    assert keda_trigger()["threshold"] == str(QUEUE_PER_REPLICA)
    _, hpa = hpa_documents()
    [metric] = hpa["spec"]["metrics"]
    assert metric["external"]["target"] == {
        "type": "AverageValue",
        "averageValue": str(QUEUE_PER_REPLICA),
    }


def test_both_examples_read_only_series_the_collector_exposes() -> None:
    rule, hpa = hpa_documents()
    exposed = exposed_metric_names()
    for query in (keda_trigger()["query"], rule["seriesQuery"], adapter_query(rule, hpa)):
        assert metric_names_in(query) == {QUEUE_SERIES} <= exposed, query


def test_neither_example_scales_to_zero_where_no_engine_reports_a_queue() -> None:
    scaled = yaml.safe_load(KEDA.read_text(encoding="utf-8"))
    _, hpa = hpa_documents()
    assert scaled["spec"]["minReplicaCount"] >= 1 and hpa["spec"]["minReplicas"] >= 1


@needs_promtool
def test_the_keda_query_adds_up_the_models_queue_in_prometheus(tmp_path: Path) -> None:
    result = promql_results(
        tmp_path,
        [
            {
                "expr": keda_trigger()["query"],
                "eval_time": "1m",
                "exp_samples": [{"labels": "{}", "value": 22}],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_adapter_query_gives_the_hpa_its_apps_queue_in_prometheus(tmp_path: Path) -> None:
    rule, hpa = hpa_documents()
    result = promql_results(
        tmp_path,
        [
            {
                "expr": adapter_query(rule, hpa),
                "eval_time": "1m",
                "exp_samples": [{"labels": '{app="support-bot"}', "value": 22}],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_a_wrong_expectation_fails_so_the_checks_above_can_fail(tmp_path: Path) -> None:
    result = promql_results(
        tmp_path,
        [
            {
                "expr": keda_trigger()["query"],
                "eval_time": "1m",
                "exp_samples": [{"labels": "{}", "value": 29}],
            }
        ],
    )
    assert result.returncode != 0
