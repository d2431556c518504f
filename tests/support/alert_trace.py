"""A replay trace whose alerts come and go within seconds, and a collector config to play it.

GPU 0 is busy (97 %) for BUSY_S seconds, then idle (5 %) for IDLE_S, over and over; GPU 1 stays
idle. With the utilization rule at 90 % for 1 s and resolving after 1 s, each busy phase makes
one alert go pending, fire a second later and resolve a second after the phase ends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.synthetic_trace import synthetic_snapshot

BUSY_S = 4
IDLE_S = 4
BUSY_PERCENT = 97.0
IDLE_PERCENT = 5.0
RULE = "gpu_utilization_high"
FAST_RULES = {RULE: {"threshold": 90.0, "for_s": 1.0, "resolve_after_s": 1.0}}


def write_alert_trace(path: Path) -> Path:
    lines = []
    for step in range(BUSY_S + IDLE_S):
        snapshot = synthetic_snapshot(step)
        snapshot.gpus[0].utilization_percent = BUSY_PERCENT if step < BUSY_S else IDLE_PERCENT
        lines.append(snapshot.model_dump_json() + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def write_notify_config(
    folder: Path, webhooks: list[dict[str, Any]], **notify: Any
) -> tuple[Path, Path]:
    """A collector config with the fast rule, these webhook targets and notify settings, its
    books (and outbox) in `folder`; returns (config path, database path)."""
    db_path = folder / "usage.sqlite3"
    settings = {
        "accounting": {"db_path": str(db_path)},
        "alerts": {"rules": FAST_RULES},
        "notify": {"webhooks": webhooks, **notify},
    }
    config = folder / "collector.yaml"
    config.write_text(json.dumps(settings), encoding="utf-8")
    return config, db_path
