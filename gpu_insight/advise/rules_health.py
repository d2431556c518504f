"""Hardware rules: throttling, heat and errors."""

from __future__ import annotations

from collections.abc import Iterator

from gpu_insight.advise.suggestion import Situation, Suggestion

_HOT_REASONS = (
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "hw_slowdown",
)
_SLOWDOWN_MARGIN_CELSIUS = 5.0


def throttling(s: Situation) -> Iterator[Suggestion]:
    for gpu in s.gpus:
        reasons = [r for r in gpu.clock_event_reasons if r in _HOT_REASONS]
        temperature, slowdown = gpu.temperature_celsius, gpu.temperature_slowdown_celsius
        near = (
            temperature is not None
            and slowdown is not None
            and temperature >= slowdown - _SLOWDOWN_MARGIN_CELSIUS
        )
        if not reasons and not near:
            continue
        evidence: dict[str, float | int | str] = {
            "clock_event_reasons": ", ".join(reasons) or "none"
        }
        if temperature is not None:
            evidence["temperature_celsius"] = temperature
        if slowdown is not None:
            evidence["slowdown_celsius"] = slowdown
        if gpu.sm_clock_mhz is not None and gpu.sm_clock_max_mhz:
            evidence["sm_clock_share"] = round(gpu.sm_clock_mhz / gpu.sm_clock_max_mhz, 2)
        yield Suggestion(
            id="thermal-or-power-throttling",
            severity="critical",
            title=f"GPU {gpu.index} is slowed by "
            + (", ".join(reasons) if reasons else f"heat ({temperature:.0f} °C)"),
            change=(
                f"check airflow, fans and power delivery of GPU {gpu.index}; meanwhile lower "
                f"its power limit (`nvidia-smi -i {gpu.index} -pl <watts>`) or the batch size"
            ),
            evidence=evidence,
            expected_effect="clocks return to normal; thermal slowdown costs far more than a "
            "power cap (a software power cap under dense math is normal on H100)",
            source="NVML clock event reasons; temperature thresholds",
            scope=f"gpu {gpu.index}",
            focus=("throughput", "latency"),
            gain=0.8,
        )


def hardware_errors(s: Situation) -> Iterator[Suggestion]:
    for gpu in s.gpus:
        xid, ecc = gpu.xid_errors or 0, gpu.ecc_uncorrected_volatile or 0
        if xid == 0 and ecc == 0 and gpu.health == "ok":
            continue
        yield Suggestion(
            id="gpu-errors",
            severity="critical",
            title=f"GPU {gpu.index} reports "
            + ", ".join(
                part
                for part in (
                    f"{xid} XID error(s)" if xid else "",
                    f"{ecc} uncorrected ECC error(s)" if ecc else "",
                    f"health {gpu.health}" if gpu.health != "ok" else "",
                )
                if part
            ),
            change=(
                f"drain GPU {gpu.index}; read `dmesg | grep -i xid` and "
                f"`nvidia-smi -q -d ECC,ROW_REMAPPER -i {gpu.index}`; reset it when idle "
                f"(`nvidia-smi -r -i {gpu.index}`) or replace it if errors return"
            ),
            evidence={
                "xid_errors": xid,
                "ecc_uncorrected_volatile": ecc,
                "health": gpu.health,
                "health_reason": gpu.health_reason or "",
            },
            expected_effect="no silent data corruption or crashed engines on a failing GPU",
            source="NVIDIA XID and ECC documentation",
            scope=f"gpu {gpu.index}",
            focus=("throughput", "latency", "memory", "cost"),
            gain=1.0,
        )
