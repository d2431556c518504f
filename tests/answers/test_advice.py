"""The serving_advice answer: the GPUs, engine and model sizing it picks (from the estimator)."""

from __future__ import annotations

from gpu_insight.advise import Situation
from gpu_insight.answers.advice import AdviceAnswer, answer_advice, parse_advice_query
from gpu_insight.sources.fleet import Gathered
from tests.advise_builders import h100, process, situation


def advice(built: Situation, model: str | None = None) -> AdviceAnswer:
    return answer_advice(parse_advice_query({"model": model}), Gathered(built.snapshot))


def test_planned_72b_on_one_h100_through_the_estimator() -> None:
    s = situation([h100()])
    answer = advice(s, model="Qwen/Qwen2.5-72B-Instruct")
    assert answer.planned and answer.engine == "vllm"
    top = answer.advice.suggestions[0]
    assert top.id == "weights-do-not-fit"
    weights_gib = top.evidence["weights_bf16_gib"]
    assert isinstance(weights_gib, float) and weights_gib > 130  # 72.7 B parameters in 16 bits
    variables = answer.variables()
    assert isinstance(variables["critical_count"], int) and variables["critical_count"] >= 1
    top_suggestion = variables["top_suggestion"]
    assert isinstance(top_suggestion, str)
    assert top_suggestion.startswith("Qwen/Qwen2.5-72B-Instruct")


def test_unknown_model_is_noted_and_live_rules_still_run() -> None:
    s = situation([h100(xid_errors=1)])
    answer = advice(s, model="acme/unheard-of-13b")
    assert answer.notes[0].startswith("memory-fit rules skipped")
    assert [x.id for x in answer.advice.suggestions] == ["gpu-errors"]


def test_running_model_is_not_a_planned_deployment() -> None:
    gpu = h100()
    s = situation([gpu], [process(1, gpu, "sglang", model="Qwen/Qwen2.5-7B-Instruct")])
    answer = advice(s, model="qwen2.5-7b-instruct")
    assert (answer.planned, answer.engine) == (False, "sglang")


def test_nothing_to_say_is_said_plainly() -> None:
    answer = advice(situation([h100()]))
    assert answer.advice.suggestions == []
    assert answer.advice.text().startswith("No suggestions")
    assert answer.variables() == {
        "top_suggestion": "",
        "suggestion_count": 0,
        "critical_count": 0,
        "top_saving_per_month": 0.0,
    }
