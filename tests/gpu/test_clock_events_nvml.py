"""The collector's clock-event reasons are the driver's: the mask nvidia-smi shows as active,
named as nvidia-smi names each reason, in the snapshot and as `/metrics`' one series per GPU."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpu_insight.clock_events import REASON_BITS, reasons_of
from tests.gpu.live_collector import LiveCollector, nvidia_smi

pytestmark = pytest.mark.gpu

STEADY_ATTEMPTS = 5
# nvidia-smi has a query field for each reason but the display clock's
SMI_REASONS = tuple(name for name in REASON_BITS if name != "display_clock_setting")


def _smi_reasons() -> dict[int, tuple[int, frozenset[str]]]:
    """GPU index → (the active mask, the reasons nvidia-smi flags "Active"), under the fields'
    names of drivers since 535, else the older throttle names."""
    for prefix in ("clocks_event_reasons", "clocks_throttle_reasons"):
        fields = [f"{prefix}.active", *(f"{prefix}.{name}" for name in SMI_REASONS)]
        try:
            rows = nvidia_smi(f"--query-gpu=index,{','.join(fields)}")
        except subprocess.CalledProcessError:
            continue
        return {
            int(index): (
                int(mask, 16),
                frozenset(
                    n for n, flag in zip(SMI_REASONS, flags, strict=True) if flag == "Active"
                ),
            )
            for index, mask, *flags in rows
        }
    raise AssertionError(
        "nvidia-smi knows neither clocks_event_reasons nor clocks_throttle_reasons"
    )


def _steady[T](read: Callable[[], T]) -> tuple[dict[int, tuple[int, frozenset[str]]], T]:
    """nvidia-smi's reasons and what `read()` gave between two nvidia-smi readings that agree
    (a GPU's reasons change as it idles or works)."""
    for _ in range(STEADY_ATTEMPTS):
        before = _smi_reasons()
        answer = read()
        if _smi_reasons() == before:
            return before, answer
        time.sleep(0.5)
    raise AssertionError(f"the clock-event reasons kept changing over {STEADY_ATTEMPTS} readings")


def test_the_snapshot_names_the_reasons_nvidia_smi_shows_active(
    live_collector: LiveCollector,
) -> None:
    smi, snapshot = _steady(lambda: live_collector.snapshot_after(time.time()))
    for gpu in snapshot["gpus"]:
        mask, active = smi[gpu["index"]]
        assert gpu["clock_event_reasons"] == reasons_of(mask)
        assert set(gpu["clock_event_reasons"]).intersection(SMI_REASONS) == active


def test_metrics_carry_the_mask_nvidia_smi_shows(live_collector: LiveCollector) -> None:
    def exported_masks() -> dict[int, int]:
        live_collector.snapshot_after(time.time())
        text = live_collector.get_text("/metrics")
        return {
            int(sample.labels["gpu"]): int(sample.value)
            for family in text_string_to_metric_families(text)
            if family.name == "gpu_clock_event_reasons"
            for sample in family.samples
        }

    smi, masks = _steady(exported_masks)
    assert masks == {index: mask for index, (mask, _active) in smi.items()}
