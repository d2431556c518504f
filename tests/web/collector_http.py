"""Reading the replay collector over HTTP, as the dashboard does."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.support.collector_process import CollectorProcess


def get_json(collector: CollectorProcess, path: str) -> Any:
    request = urllib.request.Request(
        f"{collector.url}{path}", headers={"Authorization": f"Bearer {collector.token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)
