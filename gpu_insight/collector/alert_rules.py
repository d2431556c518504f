"""The alert rules: what each one watches, its defaults, and the config overrides on top.

A rule fires when its condition has held for `for_s` seconds and resolves once the condition has
been false for `resolve_after_s` seconds (Prometheus' `for` and `keep_firing_for`). The same rules
ship as `deploy/prometheus/gpu-insight-rules.yaml`; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from gpu_insight.collector.config import AlertsConfig, ConfigError
from gpu_insight.collector.reservations import Reservation
from gpu_insight.schemas import MEMORY_ALERT_RULE, Gpu, Severity

# Clock-event reasons that mean the GPU slowed itself down to protect itself. `sw_power_cap`
# is left out on purpose: a GPU at full load sits at its power cap by design.
THROTTLE_REASONS = (
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "hw_slowdown",
)

# Error counters are alerted on while they increased within this window, like PromQL's
# `increase(x[10m]) > 0`; the alert resolves by itself once the window holds no new errors.
COUNTER_WINDOW_S = 600.0

RuleKind = Literal["gpu", "counter", "went_down", "lost", "stale"]


@dataclass(frozen=True)
class Reading:
    """A rule's condition holds: the value seen, the limit it crossed, and a sentence for people."""

    value: float | None
    threshold: float | None
    message: str


# (GPU, threshold, the engines' memory reservations on that GPU) → reading when it holds
GpuCheck = Callable[[Gpu, float | None, Sequence[Reservation]], Reading | None]
CounterRead = Callable[[Gpu], int | None]
# Several counters of one GPU by series (e.g. per NVLink and error type): each has its own
# window, and the rule sees their increases summed (PromQL's `sum(increase(...))`).
CountersRead = Callable[[Gpu], Mapping[str, int | None]]
# Parts of one GPU (e.g. its NVLinks) → up or down; None: not known this sample.
PartsRead = Callable[[Gpu], Mapping[int, bool] | None]


@dataclass(frozen=True)
class AlertRule:
    id: str
    kind: RuleKind
    severity: Severity
    summary: str
    threshold: float | None  # None: the rule has no threshold to tune
    for_s: float
    resolve_after_s: float
    enabled: bool = True
    check: GpuCheck | None = None  # kind "gpu"
    counter: CounterRead | None = None  # kind "counter": one counter…
    counters: CountersRead | None = None  # …or several
    counter_name: str = ""
    parts: PartsRead | None = None  # kind "went_down": alerts on parts seen up that are down
    part_name: str = ""

    def counter_values(self, gpu: Gpu) -> Mapping[str, int | None]:
        if self.counters is not None:
            return self.counters(gpu)
        assert self.counter is not None
        return {"": self.counter(gpu)}


def _utilization_high(
    gpu: Gpu, threshold: float | None, _reservations: Sequence[Reservation]
) -> Reading | None:
    value = gpu.utilization_percent
    if value is None or threshold is None or value <= threshold:
        return None
    return Reading(value, threshold, f"GPU {gpu.index} utilization {value:.0f} % > {threshold:g} %")


def _memory_high(
    gpu: Gpu, threshold: float | None, reservations: Sequence[Reservation]
) -> Reading | None:
    used, total = gpu.memory_used_mib, gpu.memory_total_mib
    if used is None or not total or threshold is None:
        return None
    if reservations:
        return _reserved_memory_high(gpu, used, total, threshold, reservations)
    percent = 100.0 * used / total
    if percent <= threshold:
        return None
    return Reading(
        percent,
        threshold,
        f"GPU {gpu.index} memory {percent:.1f} % used ({used:.0f} of {total:.0f} MiB) "
        f"> {threshold:g} %",
    )


def _reserved_memory_high(
    gpu: Gpu, used: float, total: float, threshold: float, reservations: Sequence[Reservation]
) -> Reading | None:
    """A GPU whose memory is mostly an engine's reservation, judged by what can still fill up:
    the engine's KV cache, and the memory the reservation leaves to everything else."""
    reserved = min(sum(r.reserved_mib for r in reservations), total)
    outside_used, outside_total = max(used - reserved, 0.0), total - reserved
    outside_percent = 100.0 * outside_used / outside_total if outside_total > 0 else 0.0
    kv_ratios = [r.kv_cache_usage_ratio for r in reservations if r.kv_cache_usage_ratio is not None]
    kv_percent = 100.0 * max(kv_ratios) if kv_ratios else None
    value = max(outside_percent, kv_percent or 0.0)
    if value <= threshold:
        return None
    owners = ", ".join(r.label for r in reservations)
    kv_text = f"KV cache {kv_percent:.0f} % full, " if kv_percent is not None else ""
    return Reading(
        value,
        threshold,
        f"GPU {gpu.index}: {owners} reserves {reserved:.0f} of {total:.0f} MiB by design, so "
        f"it is judged by the KV cache and the memory outside the reservation: {kv_text}"
        f"{outside_used:.0f} of {outside_total:.0f} MiB outside it used "
        f"({outside_percent:.1f} %); > {threshold:g} %",
    )


def _temperature_near_slowdown(
    gpu: Gpu, margin_celsius: float | None, _reservations: Sequence[Reservation]
) -> Reading | None:
    temperature, slowdown = gpu.temperature_celsius, gpu.temperature_slowdown_celsius
    if temperature is None or slowdown is None or margin_celsius is None:
        return None
    limit = slowdown - margin_celsius
    if temperature < limit:
        return None
    return Reading(
        temperature,
        limit,
        f"GPU {gpu.index} at {temperature:.0f} °C, within {margin_celsius:g} °C of its "
        f"slowdown temperature {slowdown:.0f} °C",
    )


def _throttling(
    gpu: Gpu, _threshold: float | None, _reservations: Sequence[Reservation]
) -> Reading | None:
    reasons = [r for r in gpu.clock_event_reasons if r in THROTTLE_REASONS]
    if not reasons:
        return None
    return Reading(None, None, f"GPU {gpu.index} clocks slowed down: {', '.join(reasons)}")


def _nvlink_states(gpu: Gpu) -> Mapping[int, bool] | None:
    if gpu.nvlinks is None:
        return None
    return {link.link: link.active for link in gpu.nvlinks}


def _nvlink_errors(gpu: Gpu) -> Mapping[str, int | None]:
    return {
        f"{link.link}/{error_type}": count
        for link in gpu.nvlinks or []
        for error_type, count in link.error_counts().items()
    }


def _while_set(flag: str, says: str) -> GpuCheck:
    """A check that holds while the GPU's boolean field `flag` is true (None: unknown)."""

    def check(
        gpu: Gpu, _threshold: float | None, _reservations: Sequence[Reservation]
    ) -> Reading | None:
        if not getattr(gpu, flag):
            return None
        return Reading(None, None, f"GPU {gpu.index}: {says}")

    return check


def _lost(
    gpu: Gpu, _threshold: float | None, _reservations: Sequence[Reservation]
) -> Reading | None:
    if gpu.health != "lost":
        return None
    reason = f": {gpu.health_reason}" if gpu.health_reason else ""
    return Reading(None, None, f"GPU {gpu.index} is lost{reason}")


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        id="gpu_utilization_high",
        kind="gpu",
        severity="warning",
        summary="GPU utilization above the threshold (percent)",
        threshold=90.0,
        for_s=300.0,
        resolve_after_s=60.0,
        check=_utilization_high,
    ),
    AlertRule(
        id=MEMORY_ALERT_RULE,
        kind="gpu",
        severity="warning",
        summary="GPU memory used above the threshold (percent of total; on a GPU an engine "
        "reserves, its KV-cache usage and the memory outside the reservation)",
        threshold=90.0,
        for_s=60.0,
        resolve_after_s=60.0,
        check=_memory_high,
    ),
    AlertRule(
        id="gpu_temperature_near_slowdown",
        kind="gpu",
        severity="warning",
        summary="GPU temperature within the threshold (°C) of its slowdown temperature",
        threshold=5.0,
        for_s=60.0,
        resolve_after_s=60.0,
        check=_temperature_near_slowdown,
    ),
    AlertRule(
        id="gpu_throttling",
        kind="gpu",
        severity="warning",
        summary="Clocks slowed by thermal, power-brake or hardware slowdown",
        threshold=None,
        for_s=30.0,
        resolve_after_s=60.0,
        check=_throttling,
    ),
    AlertRule(
        id="gpu_xid_errors",
        kind="counter",
        severity="critical",
        summary="XID errors: more than the threshold new errors within 10 minutes",
        threshold=0.0,
        for_s=0.0,
        resolve_after_s=0.0,
        counter=lambda gpu: gpu.xid_errors,
        counter_name="XID errors",
    ),
    AlertRule(
        id="gpu_ecc_uncorrected_errors",
        kind="counter",
        severity="critical",
        summary="Uncorrected ECC errors: more than the threshold new errors within 10 minutes",
        threshold=0.0,
        for_s=0.0,
        resolve_after_s=0.0,
        counter=lambda gpu: gpu.ecc_uncorrected_volatile,
        counter_name="uncorrected ECC errors",
    ),
    AlertRule(
        id="gpu_nvlink_down",
        kind="went_down",
        severity="critical",
        summary="An NVLink seen active since the collector started is down",
        threshold=None,
        for_s=60.0,
        resolve_after_s=0.0,
        parts=_nvlink_states,
        part_name="NVLink",
    ),
    AlertRule(
        id="gpu_nvlink_errors",
        kind="counter",
        severity="warning",
        summary="NVLink errors (replay, recovery, CRC): more than the threshold new errors "
        "within 10 minutes, summed over the GPU's links",
        threshold=0.0,
        for_s=0.0,
        resolve_after_s=0.0,
        counters=_nvlink_errors,
        counter_name="NVLink errors",
    ),
    AlertRule(
        id="gpu_remapped_rows_uncorrectable",
        kind="counter",
        severity="warning",
        summary="Memory rows remapped after uncorrectable errors: more than the threshold new "
        "ones within 10 minutes",
        threshold=0.0,
        for_s=0.0,
        resolve_after_s=0.0,
        counter=lambda gpu: gpu.remapped_rows_uncorrectable,
        counter_name="rows remapped after uncorrectable errors",
    ),
    AlertRule(
        id="gpu_row_remap_pending",
        kind="gpu",
        severity="warning",
        summary="A memory row remap waits for a GPU reset",
        threshold=None,
        for_s=0.0,
        resolve_after_s=0.0,
        check=_while_set(
            "remapped_rows_pending",
            "a memory row remap waits for a GPU reset; reset it once its work is drained",
        ),
    ),
    AlertRule(
        id="gpu_row_remap_failure",
        kind="gpu",
        severity="critical",
        summary="A memory row could not be remapped: the GPU needs service",
        threshold=None,
        for_s=0.0,
        resolve_after_s=0.0,
        check=_while_set(
            "remapped_rows_failure",
            "a memory row could not be remapped (no spare row left); the GPU needs service",
        ),
    ),
    AlertRule(
        id="gpu_lost",
        kind="lost",
        severity="critical",
        summary="GPU lost (reported lost, or gone from the samples after being seen)",
        threshold=None,
        for_s=0.0,
        resolve_after_s=0.0,
        check=_lost,
    ),
    AlertRule(
        id="samples_stale",
        kind="stale",
        severity="critical",
        summary="No fresh sample for longer than the threshold (seconds; alerts.stale_after_s)",
        threshold=None,  # alerts.stale_after_s unless overridden here
        for_s=0.0,
        resolve_after_s=0.0,
    ),
)


def resolve_rules(config: AlertsConfig) -> list[AlertRule]:
    """The default rules with `config.rules` applied; raises ConfigError naming a bad key."""
    defaults = {rule.id: rule for rule in DEFAULT_RULES}
    unknown = sorted(set(config.rules) - set(defaults))
    if unknown:
        raise ConfigError(
            f"alerts.rules: unknown rule id {', '.join(repr(u) for u in unknown)}; "
            f"known rules: {', '.join(defaults)}"
        )
    rules: list[AlertRule] = []
    for rule in DEFAULT_RULES:
        if rule.kind == "stale":
            rule = replace(rule, threshold=config.stale_after_s)
        override = config.rules.get(rule.id)
        if override is not None:
            if override.threshold is not None and rule.threshold is None:
                raise ConfigError(f"alerts.rules.{rule.id}.threshold: this rule has no threshold")
            rule = replace(
                rule,
                enabled=rule.enabled if override.enabled is None else override.enabled,
                threshold=rule.threshold if override.threshold is None else override.threshold,
                for_s=rule.for_s if override.for_s is None else override.for_s,
                resolve_after_s=(
                    rule.resolve_after_s
                    if override.resolve_after_s is None
                    else override.resolve_after_s
                ),
            )
        rules.append(rule)
    return rules
