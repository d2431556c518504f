"""Tests against a real NVIDIA GPU, run on a GPU host. Skipped, with the reason, everywhere else.

`live_collector` is the collector reading NVML (no replay) as a subprocess on loopback; the
tests compare it with `nvidia_smi`, the driver's own tool.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gpu.live_collector import LiveCollector, nvidia_smi


def _gpu_missing_reason() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA driver on this host (nvidia-smi not found)"
    try:
        rows = nvidia_smi("--query-gpu=index")
    except (OSError, subprocess.SubprocessError) as exc:
        return f"nvidia-smi finds no usable GPU: {exc}"
    return None if rows else "nvidia-smi lists no GPU"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    reason = None
    checked = False
    for item in items:
        if here not in item.path.parents:
            continue
        if not checked:
            reason, checked = _gpu_missing_reason(), True
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def live_collector() -> Iterator[LiveCollector]:
    with LiveCollector() as collector:
        yield collector
