"""Ranking, de-duplication, focus and the tool's answer (sizing from the estimator)."""

from __future__ import annotations

from gpu_insight.advise import advise
from gpu_insight.advise.answer import serving_advice
from gpu_insight.tool_params import GpuSelector
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


def test_planned_72b_on_one_h100_through_the_estimator() -> None:
    s = situation([h100()])
    answer = serving_advice(s.snapshot, selector=GpuSelector(), model="Qwen/Qwen2.5-72B-Instruct")
    assert answer.planned and answer.engine == "vllm"
    top = answer.advice.suggestions[0]
    assert top.id == "weights-do-not-fit"
    assert top.evidence["weights_bf16_gib"] > 130  # 72.7 B parameters in 16 bits
    assert answer.as_variables()["critical_count"] >= 1
    assert answer.as_variables()["top_suggestion"].startswith("Qwen/Qwen2.5-72B-Instruct")


def test_unknown_model_is_noted_and_live_rules_still_run() -> None:
    s = situation([h100(xid_errors=1)])
    answer = serving_advice(s.snapshot, selector=GpuSelector(), model="acme/unheard-of-13b")
    assert answer.notes[0].startswith("memory-fit rules skipped")
    assert [x.id for x in answer.advice.suggestions] == ["gpu-errors"]


def test_running_model_is_not_a_planned_deployment() -> None:
    gpu = h100()
    s = situation([gpu], [process(1, gpu, "sglang", model="Qwen/Qwen2.5-7B-Instruct")])
    answer = serving_advice(s.snapshot, selector=GpuSelector(), model="qwen2.5-7b-instruct")
    assert (answer.planned, answer.engine) == (False, "sglang")


def test_nothing_to_say_is_said_plainly() -> None:
    answer = serving_advice(situation([h100()]).snapshot, selector=GpuSelector())
    assert answer.advice.suggestions == []
    assert answer.advice.text().startswith("No suggestions")
    assert answer.as_variables() == {
        "top_suggestion": "",
        "suggestion_count": 0,
        "critical_count": 0,
    }
