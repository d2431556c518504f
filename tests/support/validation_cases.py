"""The measured engine cases a validation test is parametrized over (bench/*_validation.py
results: each case's settings under `case`, its name under `case.name`), a known miss marked
as a strict xfail with its reason, and the empty GPU the measuring host had."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_insight.schemas import Gpu


def case_id(case: dict[str, Any]) -> str:
    return str(case["case"]["name"])


def with_known_misses(cases: list[dict[str, Any]], misses: dict[str, str]) -> list[Any]:
    return [
        pytest.param(
            case,
            id=case_id(case),
            marks=[pytest.mark.xfail(reason=misses[case_id(case)], strict=True)]
            if case_id(case) in misses
            else [],
        )
        for case in cases
    ]


def empty_gpu(host: dict[str, Any]) -> Gpu:
    """The measuring host's GPU as NVML reported it before the engine started."""
    total = host["memory_total_mib"]
    reserved = host.get("memory_reserved_by_driver_mib", 0.0)
    return Gpu(
        index=0,
        uuid="GPU-measured",
        name=host["gpu"],
        memory_total_mib=total,
        memory_reserved_mib=reserved,
        memory_used_mib=0.0,
        memory_free_mib=total - reserved,
    )
