"""The measured engine cases a validation test is parametrized over (bench/*_validation.py
results: each case's settings under `case`, its name under `case.name`), a known miss marked
as a strict xfail with its reason."""

from __future__ import annotations

from typing import Any

import pytest


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
