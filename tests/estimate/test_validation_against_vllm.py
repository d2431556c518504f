"""`vram_check` (engine vllm, on an empty H200) against a real vLLM 0.24.0 on an H200.

The measurements are bench/engine_validation.py's output (dummy weights over each model's
published config.json; vLLM's own log lines, its cache_config_info metric, and NVML).
Targets: weights within 0.5 % (or the log's 0.01 GiB rounding, where that is more), KV-cache
tokens within 1 %, the engine process's NVML memory within 1 %. The test reads only the public
answer of `vram_check`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gpu_insight.answers.vram import answer_vram, parse_vram_request
from gpu_insight.schemas import Gpu, Snapshot
from gpu_insight.sources.fleet import Gathered

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "bench" / "results").glob("engine_validation-*-h200.json"))
MODELS = json.loads((ROOT / "bench" / "engines" / "models.json").read_text())["models"]
MIB_PER_GIB = 1024.0
LOG_RESOLUTION_GIB = 0.005  # vLLM prints GiB rounded to two decimals

if not FILES:
    pytest.skip(
        "no H200 vLLM measurements committed yet (run bench/engine_validation.py on an H200)",
        allow_module_level=True,
    )
REPORT: dict[str, Any] = json.loads(FILES[-1].read_text())
H200_TOTAL_MIB = REPORT["host"]["memory_total_mib"]
NO_FIELD_YET = "vram_check's answer has no {} field yet (issue 11 §1)"
# vLLM's "Model loading took" counts buffers beyond the parameters, likely the rotary cos/sin
# cache (max positions × head_dim × 4 B): ~44 MiB for Llama-3.1-8B, inside 0.5 % of bf16 but
# not of fp8 weights. Not modelled yet.
WEIGHT_MISSES = {
    "qwen2.5-0.5b-32k": "~10 MiB beyond the parameters (a 32k rotary cache is 8 MiB): 1 %",
    "llama-3.1-8b-fp8": "~48 MiB beyond the parameters, as in bf16, is 0.56 % of fp8 weights",
}


def measured_cases(*, nvml: bool = False) -> list[dict[str, Any]]:
    """Cases whose start vLLM logged (and, with `nvml`, that were read by NVML running)."""
    cases = []
    for case in REPORT["cases"]:
        attempt = case["attempts"][-1] if case.get("attempts") else None
        if attempt is None or attempt["log"]["kv_cache_tokens"] is None:
            continue
        if nvml and not (attempt.get("measured") or {}).get("engine_process_mib"):
            continue
        cases.append(case)
    return cases


def case_id(case: dict[str, Any]) -> str:
    return case["case"]["name"]


def answer(case: dict[str, Any]) -> dict[str, Any]:
    settings = case["case"]
    extra = settings["extra_args"]
    params: dict[str, Any] = {
        "model_config": MODELS[settings["model_id"]]["config"],
        "engine": "vllm",
        "context_length": settings["max_model_len"],
        "gpu_memory_utilization": settings["gpu_memory_utilization"],
        "enforce_eager": "--enforce-eager" in extra,
    }
    if "--kv-cache-dtype" in extra:
        params["kv_cache_dtype"] = extra[extra.index("--kv-cache-dtype") + 1]
    if "--quantization" in extra:
        params["quantization"] = extra[extra.index("--quantization") + 1]
    empty_h200 = Gpu(
        index=0,
        uuid="GPU-h200",
        name=REPORT["host"]["gpu"],
        memory_total_mib=H200_TOTAL_MIB,
        memory_used_mib=0.0,
        memory_free_mib=H200_TOTAL_MIB,
    )
    snapshot = Snapshot(host="h200", source="replay", collected_at=0.0, gpus=[empty_h200])
    return answer_vram(parse_vram_request(params), lambda: Gathered(snapshot)).as_json()


def log_facts(case: dict[str, Any]) -> dict[str, Any]:
    return case["attempts"][-1]["log"]


def with_known_misses(cases: list[dict[str, Any]], misses: dict[str, str]) -> list[Any]:
    return [
        pytest.param(
            case,
            id=case_id(case),
            marks=[pytest.mark.xfail(reason=misses[case_id(case)], strict=False)]
            if case_id(case) in misses
            else [],
        )
        for case in cases
    ]


def test_the_measurements_cover_the_required_shapes() -> None:
    names = {case_id(case) for case in measured_cases()}
    assert {
        "llama-3.1-8b",
        "qwen3-8b",
        "mistral-7b-v0.1",
        "gemma-3-12b",
        "qwen3-30b-a3b",
        "qwen2.5-0.5b-32k",
        "llama-3.1-8b-eager",
        "llama-3.1-8b-kv-fp8",
        "llama-3.1-8b-fp8",
    } <= names


@pytest.mark.parametrize("case", with_known_misses(measured_cases(), WEIGHT_MISSES))
def test_weights_within_half_a_percent(case: dict[str, Any]) -> None:
    measured_mib = log_facts(case)["weights_gib"] * MIB_PER_GIB
    tolerance_mib = max(0.005 * measured_mib, LOG_RESOLUTION_GIB * MIB_PER_GIB)
    assert answer(case)["weights_mib"] == pytest.approx(measured_mib, abs=tolerance_mib)


@pytest.mark.xfail(reason=NO_FIELD_YET.format("kv_cache_tokens"), strict=False)
@pytest.mark.parametrize("case", measured_cases(), ids=case_id)
def test_kv_cache_tokens_within_one_percent(case: dict[str, Any]) -> None:
    measured = log_facts(case)["kv_cache_tokens"]
    assert answer(case)["kv_cache_tokens"] == pytest.approx(measured, rel=0.01)


@pytest.mark.xfail(reason=NO_FIELD_YET.format("process_mib"), strict=False)
@pytest.mark.parametrize("case", measured_cases(nvml=True), ids=case_id)
def test_engine_process_memory_within_one_percent(case: dict[str, Any]) -> None:
    measured = case["attempts"][-1]["measured"]["engine_process_mib"]
    assert answer(case)["process_mib"] == pytest.approx(measured, rel=0.01)
