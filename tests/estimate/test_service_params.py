"""vram_check's loose parameters (Dify tool values or a JSON body): bad values are parameter
errors naming the parameter, never another exception."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_insight.estimate.service import VramCheckError, request_from_params


@pytest.mark.parametrize("name", ["context_length", "concurrency", "tensor_parallel"])
@pytest.mark.parametrize("value", ["inf", "nan", float("inf"), float("nan")])
def test_a_non_finite_whole_number_is_rejected_naming_the_parameter(name: str, value: Any) -> None:
    with pytest.raises(VramCheckError, match=rf"^{name} must be a whole number"):
        request_from_params({"model": "qwen2.5:7b", name: value})


@pytest.mark.parametrize("value", [[0.5], {"fraction": 0.5}])
def test_a_gpu_memory_utilization_that_is_not_a_number_is_rejected_naming_it(value: Any) -> None:
    with pytest.raises(VramCheckError, match=r"^gpu_memory_utilization: "):
        request_from_params({"model": "qwen2.5:7b", "gpu_memory_utilization": value})
