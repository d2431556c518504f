"""vram_check's loose parameters (Dify tool values or a JSON body): bad values are parameter
errors naming the parameter, never another exception."""

from __future__ import annotations

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
