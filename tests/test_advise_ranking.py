"""Ranking, de-duplication and focus."""

from __future__ import annotations

from gpu_insight.advise import advise
from tests.advise_builders import engine, h100, process, situation


def test_critical_comes_before_warning_and_info() -> None:
    hot = h100(0, xid_errors=1, utilization_percent=10.0)
    metrics = engine(hot, requests_waiting=5.0, kv_cache_usage_ratio=0.2)
    severities = [s.severity for s in advise(situation([hot], engines=[metrics])).suggestions]
    assert severities == sorted(severities, key=["critical", "warning", "info"].index)
    assert severities[0] == "critical"


def test_one_suggestion_per_rule_and_scope() -> None:
    gpu = h100()
    processes = [
        process(1, gpu, "transformers", 9000.0, model="m"),
        process(2, gpu, "transformers", 9000.0, model="m"),
    ]
    found = [
        s for s in advise(situation([gpu], processes)).suggestions if s.id == "serve-with-an-engine"
    ]
    assert len(found) == 1


def test_focus_keeps_critical_and_drops_other_topics() -> None:
    gpu = h100(utilization_percent=0.0, memory_used_mib=60000.0, xid_errors=1)
    idle = situation([gpu])
    assert {s.id for s in advise(idle).suggestions} == {"gpu-errors", "idle-gpu-holding-memory"}
    assert {s.id for s in advise(idle, focus="latency").suggestions} == {"gpu-errors"}
