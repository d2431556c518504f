"""vram_check's loose parameters (Dify tool values or a JSON body): bad values are parameter
errors naming the parameter, never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gpu_insight.answers.vram import parse_vram_request
from gpu_insight.errors import InputError


@pytest.mark.parametrize("name", ["context_length", "concurrency", "tensor_parallel"])
@pytest.mark.parametrize("value", ["inf", "nan", float("inf"), float("nan")])
def test_a_non_finite_whole_number_is_rejected_naming_the_parameter(name: str, value: Any) -> None:
    with pytest.raises(InputError, match=rf"^{name} must be a whole number"):
        parse_vram_request({"model": "qwen2.5:7b", name: value})


@pytest.mark.parametrize("value", [[0.5], {"fraction": 0.5}])
def test_a_gpu_memory_utilization_that_is_not_a_number_is_rejected_naming_it(value: Any) -> None:
    with pytest.raises(InputError, match=r"^gpu_memory_utilization: "):
        parse_vram_request({"model": "qwen2.5:7b", "gpu_memory_utilization": value})


@pytest.mark.parametrize(
    ("pasted", "refusal"),
    [
        ("[" * 10_000 + "]" * 10_000, "model_config nests deeper than 32 levels"),
        ('{"num_hidden_layers": ' + "9" * 5000 + "}", "model_config holds a number of more"),
        (json.dumps({"model_type": "m" * 10_000_000}), "model_config is over 256 KiB"),
        ('{"model_type": "llama",', "model_config is not valid JSON"),
        ("[1, 2]", "model_config must be a JSON object"),
    ],
    ids=["10000-deep", "5000-digit-number", "10-MB", "cut-short", "a-list"],
)
def test_a_pasted_model_config_is_bounded_before_it_is_parsed(pasted: str, refusal: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_vram_request({"model_config": pasted})
    assert str(refused.value).startswith(refusal)
    assert len(str(refused.value)) < 200
    assert refused.value.parameter == "model_config"
