"""The estimator against real measurements on an H100 (bench/vram_validation.py's output).

Weights and KV within 1 %; the transformers total (peak allocated + the process's non-torch
memory) within 5 % at every measured point, sliding-window ones included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gpu_insight.estimate import VramRequest
from gpu_insight.estimate.plans import Plan, plan
from gpu_insight.estimate.resolve import settings_for
from gpu_insight.estimate.spec import ModelSpec, from_hf_config
from gpu_insight.estimate.weights import weight_bytes

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
FILES = sorted(RESULTS.glob("vram_validation-*-h100.json"))
MIB = 2**20

if not FILES:
    pytest.skip(
        "no H100 measurements committed yet (run bench/vram_validation.py on an H100)",
        allow_module_level=True,
    )
REPORT: dict[str, Any] = json.loads(FILES[-1].read_text())
POINTS = [
    (m, p)
    for m in REPORT["models"]
    if m["status"] == "ok"
    for p in m["points"]
    if p["status"] == "ok"
]


def point_id(item: tuple[dict[str, Any], dict[str, Any]]) -> str:
    model, point = item
    return f"{model['model_id'].split('/')[-1]}-{point['batch']}x{point['seq_len']}"


def transformers_plan(model: dict[str, Any], point: dict[str, Any]) -> tuple[ModelSpec, Plan]:
    spec = from_hf_config(model["config"], model["model_id"])
    request = VramRequest(
        model_config_json=model["config"],
        engine="transformers",
        quantization="bf16",
        context_length=point["seq_len"],
        concurrency=point["batch"],
    )
    return spec, plan(settings_for(request, spec, 1), None)


def test_the_measurements_cover_the_required_shapes() -> None:
    ids = {m["model_id"] for m in REPORT["models"]}
    assert {
        "meta-llama/Llama-3.2-1B-Instruct",
        "Qwen/Qwen2.5-7B-Instruct",
        "mistralai/Mistral-7B-v0.1",
        "microsoft/Phi-3-mini-4k-instruct",
    } <= ids
    assert len(POINTS) >= 20


@pytest.mark.parametrize(
    "model",
    [m for m in REPORT["models"] if m["status"] == "ok"],
    ids=lambda m: m["model_id"].split("/")[-1],
)
def test_weights_within_one_percent(model: dict[str, Any]) -> None:
    spec = from_hf_config(model["config"], model["model_id"])
    assert weight_bytes(spec, "bf16").total_bytes == pytest.approx(
        model["parameter_bytes"], rel=0.01
    )


@pytest.mark.parametrize("item", POINTS, ids=point_id)
def test_kv_cache_within_one_percent(item: tuple[dict[str, Any], dict[str, Any]]) -> None:
    model, point = item
    _, result = transformers_plan(model, point)
    kv = next(line.mib for line in result.lines if line.name == "kv_cache") * MIB
    assert kv == pytest.approx(point["kv_bytes"], rel=0.01)


@pytest.mark.parametrize("item", POINTS, ids=point_id)
def test_transformers_total_within_five_percent(
    item: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    model, point = item
    _, result = transformers_plan(model, point)
    measured = point["peak_allocated_bytes"] + point["non_torch_bytes"]
    assert result.need_mib * MIB == pytest.approx(measured, rel=0.05)


def test_the_measurements_include_sliding_points_where_sdpa_needs_a_mask() -> None:
    """The sliding-window transients are only validated if some points build the mask."""
    masked = [
        (model, point)
        for model, point in POINTS
        if model["config"].get("sliding_window")
        and point["seq_len"] >= model["config"]["sliding_window"]
    ]
    assert {model["model_id"] for model, _ in masked} >= {
        "mistralai/Mistral-7B-v0.1",
        "microsoft/Phi-3-mini-4k-instruct",
        "google/gemma-3-1b-it",
    }
