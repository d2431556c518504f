"""Alerts of every configured collector, as one answer (endpoint GET /alerts): what the
dashboard draws as intervals over its history charts."""

from __future__ import annotations

from typing import Any

from gpu_insight.answers.params import parse_choice
from gpu_insight.schemas import AlertList
from gpu_insight.sources.fleet import Gathered, missing_json


def parse_include_resolved(value: Any) -> bool:
    """The `include_resolved` query parameter: true or false (default false)."""
    return parse_choice(value, "include_resolved", ("true", "false"), "false") == "true"


def alerts_json(gathered: Gathered[AlertList]) -> dict[str, Any]:
    """The merged alerts, and the collectors whose alerts it lacks."""
    return {
        **gathered.value.model_dump(mode="json"),
        "missing_collectors": missing_json(gathered.missing),
    }
