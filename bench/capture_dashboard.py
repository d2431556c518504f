"""Captures what a live collector's dashboard asks for, so a GPU host without a browser can be
pictured later (`scripts/dashboard_screenshot.py --capture DIR`).

    python3 bench/capture_dashboard.py URL TOKEN DIR

Writes DIR/live-snapshot.json, live-history.json, live-usage.json, live-advice.json and
live-alerts.json: the answers to the first requests the page makes (the last 15 minutes of
history, the last 24 h of usage by app in hours, advice, alerts with the resolved ones).
Standard library only: it runs on the GPU host.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

HISTORY_S = 900
USAGE_WINDOW_S = 86_400
USAGE_BUCKET_S = 3_600
TIMEOUT_S = 10.0


def requests(now_s: float) -> dict[str, str]:
    """File name -> the collector's route with the query the page sends first."""
    usage = {"from": round(now_s - USAGE_WINDOW_S), "to": round(now_s) + 1, "group_by": "app"}
    return {
        "live-snapshot.json": "/v1/snapshot",
        "live-history.json": f"/v1/history?{urlencode({'seconds': HISTORY_S})}",
        "live-usage.json": f"/v1/usage?{urlencode({**usage, 'bucket_s': USAGE_BUCKET_S})}",
        "live-advice.json": "/v1/advice",
        "live-alerts.json": "/v1/alerts?include_resolved=true",
    }


def capture(base_url: str, token: str, folder: Path) -> list[str]:
    """Fetches each answer into the folder; returns one line per file for the log."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, route in requests(time.time()).items():
        request = urllib.request.Request(
            base_url.rstrip("/") + route, headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            body = response.read()
        json.loads(body)  # a capture holds JSON answers only
        (folder / name).write_bytes(body)
        lines.append(f"{name}: {len(body):,} B from {route}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    for line in capture(argv[0], argv[1], Path(argv[2])):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
