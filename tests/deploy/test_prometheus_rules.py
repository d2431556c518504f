"""deploy/prometheus/gpu-insight-rules.yaml: valid, proven by promtool unit tests, and the same
rules as the collector's alert engine, on metric names the collector exposes; beside it the
usage recording rules, which record the copies of the usage counters the plugin reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpu_insight.collector.alert_rules import DEFAULT_RULES
from gpu_insight.sources.prometheus import our_series
from tests.deploy.exposed_metrics import exposed_metric_names, metric_names_in

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = REPO_ROOT / "deploy" / "prometheus" / "gpu-insight-rules.yaml"
RULES_TEST = Path(__file__).with_name("rules_test.yaml")
USAGE_RULES_FILE = REPO_ROOT / "deploy" / "prometheus" / "gpu-insight-usage-rules.yaml"
USAGE_RULES_TEST = Path(__file__).with_name("usage_rules_test.yaml")
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not found (Debian package `prometheus`)"
)
DURATION = re.compile(r"^(?:(\d+)m)?(?:(\d+)s)?$")


def shipped_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def seconds(duration: str | None) -> float:
    if duration is None:
        return 0.0
    match = DURATION.match(duration)
    assert match is not None, f"unexpected duration {duration!r}"
    minutes, secs = match.groups()
    return 60.0 * int(minutes or 0) + int(secs or 0)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )


# each shipped rules file, how many rules it holds, and its promtool unit tests
SHIPPED = {
    "alerts": (RULES_FILE, len(DEFAULT_RULES), RULES_TEST),
    "usage": (USAGE_RULES_FILE, len(our_series.USAGE_COUNTERS), USAGE_RULES_TEST),
}


@needs_promtool
@pytest.mark.parametrize("shipped", SHIPPED)
def test_promtool_accepts_the_rules_file(shipped: str) -> None:
    rules, count, _ = SHIPPED[shipped]
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {count} rules found" in result.stdout


@needs_promtool
@pytest.mark.parametrize("shipped", SHIPPED)
def test_rules_do_what_the_promtool_unit_tests_expect(shipped: str) -> None:
    _, _, unit_tests = SHIPPED[shipped]
    result = promtool("test", "rules", str(unit_tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_usage_counter_is_recorded_under_the_name_the_plugin_reads() -> None:
    (group,) = yaml.safe_load(USAGE_RULES_FILE.read_text(encoding="utf-8"))["groups"]
    recorded = {rule["expr"]: rule["record"] for rule in group["rules"]}
    assert recorded == our_series.RECORDED_USAGE_COUNTERS
    assert set(recorded) == set(our_series.USAGE_COUNTERS)


def test_every_engine_rule_is_in_the_rules_file_once() -> None:
    ids = [rule["labels"]["rule"] for rule in shipped_rules()]
    assert sorted(ids) == sorted(rule.id for rule in DEFAULT_RULES)


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda rule: rule.id)
def test_rule_has_the_engines_severity_for_and_resolve_durations(rule: Any) -> None:
    [shipped] = [r for r in shipped_rules() if r["labels"]["rule"] == rule.id]
    assert shipped["labels"]["severity"] == rule.severity
    assert seconds(shipped.get("for")) == rule.for_s
    assert seconds(shipped.get("keep_firing_for")) == rule.resolve_after_s


def test_rules_use_only_metrics_the_collector_exposes() -> None:
    exposed = exposed_metric_names()
    for rule in shipped_rules():
        used = metric_names_in(rule["expr"])
        assert used, f"{rule['alert']} references no metric"
        assert used <= exposed, f"{rule['alert']} uses unknown {sorted(used - exposed)}"
