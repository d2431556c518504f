"""The collector's per-GPU memory is the number nvidia-smi shows (NVML memory v2)."""

from __future__ import annotations

import time

import pytest

from tests.gpu.live_collector import LiveCollector, nvidia_smi

pytestmark = pytest.mark.gpu

TOLERANCE_MIB = 1.0
STEADY_ATTEMPTS = 5


def _smi_memory_mib() -> dict[int, tuple[float, float]]:
    """GPU index → (used, total) in MiB, as nvidia-smi reports them."""
    rows = nvidia_smi("--query-gpu=index,memory.used,memory.total")
    return {int(index): (float(used), float(total)) for index, used, total in rows}


def _steady_readings(collector: LiveCollector) -> tuple[dict[int, tuple[float, float]], list]:
    """nvidia-smi's numbers and a snapshot taken between two nvidia-smi readings that agree.

    Memory can still be moving (a process of an earlier test releasing its memory); a reading
    only counts when nvidia-smi saw the same before and after the collector's sample.
    """
    for _ in range(STEADY_ATTEMPTS):
        before = _smi_memory_mib()
        gpus = collector.snapshot_after(time.time())["gpus"]
        if _smi_memory_mib() == before:
            return before, gpus
    raise AssertionError(f"GPU memory kept changing over {STEADY_ATTEMPTS} readings")


def test_collector_reports_healthy_gpus(live_collector: LiveCollector) -> None:
    health = live_collector.get("/healthz")
    assert (health["status"], health.get("reason")) == ("ok", None)
    assert health["gpu_count"] == len(_smi_memory_mib())


def test_memory_total_matches_nvidia_smi(live_collector: LiveCollector) -> None:
    smi, gpus = _steady_readings(live_collector)
    assert sorted(g["index"] for g in gpus) == sorted(smi)
    for gpu in gpus:
        assert gpu["memory_total_mib"] == pytest.approx(smi[gpu["index"]][1], abs=TOLERANCE_MIB)


def test_memory_used_matches_nvidia_smi(live_collector: LiveCollector) -> None:
    smi, gpus = _steady_readings(live_collector)
    for gpu in gpus:
        assert gpu["memory_used_mib"] == pytest.approx(smi[gpu["index"]][0], abs=TOLERANCE_MIB)
