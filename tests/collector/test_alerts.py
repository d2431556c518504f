"""Alert rules: each fires after its `for` duration and not before, and resolves."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_insight.collector.alerts import RESOLVED_KEPT, AlertEngine
from gpu_insight.collector.config import AlertsConfig, ConfigError
from gpu_insight.schemas import Alert, EngineMetrics, Snapshot
from tests.collector.synthetic import FakeClock, make_gpu, make_process, make_snapshot
from tests.conftest import RECORDED_TRACE


def engine_with(clock: FakeClock, **config: Any) -> AlertEngine:
    return AlertEngine(AlertsConfig.model_validate(config), clock=clock)


def feed(engine: AlertEngine, clock: FakeClock, samples: int, **gpu: Any) -> list[Alert]:
    """Publishes `samples` snapshots one second apart (the first one second from now), the GPU
    in the given state throughout; returns the active alerts after the last one.

    A condition seen in N consecutive samples has held for N - 1 seconds.
    """
    alerts: list[Alert] = []
    for _ in range(samples):
        clock.advance(1.0)
        alerts = engine.evaluate(make_snapshot(clock.now, [make_gpu(**gpu)]))
    return alerts


def states(alerts: list[Alert], rule: str) -> list[str]:
    return [a.state for a in alerts if a.rule == rule]


def test_utilization_alert_is_pending_until_five_minutes_have_passed() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    start = clock.now + 1
    alerts = feed(engine, clock, 300, utilization_percent=97.0)
    assert states(alerts, "gpu_utilization_high") == ["pending"]
    assert alerts[0].started_at == start
    assert alerts[0].value == 97.0 and alerts[0].threshold == 90.0


def test_utilization_alert_fires_once_five_minutes_have_passed() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    start = clock.now + 1
    alerts = feed(engine, clock, 301, utilization_percent=97.0)
    assert states(alerts, "gpu_utilization_high") == ["firing"]
    assert alerts[0].fired_at == start + 300
    assert alerts[0].gpu_uuid == make_gpu().uuid and alerts[0].host == "gpu-host-1"


def test_firing_alert_resolves_after_condition_is_false_for_resolve_after_s() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 301, utilization_percent=97.0)
    cleared_at = clock.now + 1
    still = feed(engine, clock, 60, utilization_percent=20.0)
    assert states(still, "gpu_utilization_high") == ["firing"]
    assert feed(engine, clock, 1, utilization_percent=20.0) == []
    [resolved] = engine.alerts(include_resolved=True)
    assert resolved.state == "resolved"
    assert resolved.resolved_at == cleared_at + 60


def test_condition_returning_within_resolve_after_s_keeps_the_alert_firing() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 301, utilization_percent=97.0)
    fired_at = engine.alerts()[0].fired_at
    feed(engine, clock, 30, utilization_percent=20.0)
    alerts = feed(engine, clock, 45, utilization_percent=97.0)
    assert states(alerts, "gpu_utilization_high") == ["firing"]
    assert alerts[0].fired_at == fired_at


def test_pending_alert_whose_condition_clears_is_dropped_not_resolved() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 100, utilization_percent=97.0)
    assert feed(engine, clock, 1, utilization_percent=50.0) == []
    assert engine.alerts(include_resolved=True) == []


def test_memory_alert_fires_after_one_minute_above_ninety_percent() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    used = 0.95 * 81559.0
    assert states(feed(engine, clock, 60, memory_used_mib=used), "gpu_memory_high") == ["pending"]
    alerts = feed(engine, clock, 1, memory_used_mib=used)
    assert states(alerts, "gpu_memory_high") == ["firing"]
    assert alerts[0].value == pytest.approx(95.0)


def test_memory_at_exactly_ninety_percent_does_not_alert() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    assert feed(engine, clock, 120, memory_total_mib=1000.0, memory_used_mib=900.0) == []


def test_temperature_within_five_degrees_of_slowdown_fires_after_one_minute() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    hot = {"temperature_celsius": 83.0, "temperature_slowdown_celsius": 87.0}
    assert states(feed(engine, clock, 60, **hot), "gpu_temperature_near_slowdown") == ["pending"]
    alerts = feed(engine, clock, 1, **hot)
    assert states(alerts, "gpu_temperature_near_slowdown") == ["firing"]
    assert alerts[0].threshold == 82.0


def test_temperature_six_degrees_below_slowdown_does_not_alert() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    assert feed(engine, clock, 120, temperature_celsius=81.0) == []


@pytest.mark.parametrize(
    "reason",
    ["sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown", "hw_slowdown"],
)
def test_thermal_or_power_brake_throttling_fires_after_thirty_seconds(reason: str) -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    slowed = {"clock_event_reasons": ["sw_power_cap", reason]}
    assert states(feed(engine, clock, 30, **slowed), "gpu_throttling") == ["pending"]
    alerts = feed(engine, clock, 1, **slowed)
    assert states(alerts, "gpu_throttling") == ["firing"]
    assert reason in alerts[0].message and "sw_power_cap" not in alerts[0].message


def test_power_cap_alone_is_not_throttling() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    assert feed(engine, clock, 120, clock_event_reasons=["sw_power_cap", "gpu_idle"]) == []


@pytest.mark.parametrize(
    ("field", "rule"),
    [("xid_errors", "gpu_xid_errors"), ("ecc_uncorrected_volatile", "gpu_ecc_uncorrected_errors")],
)
def test_error_counter_increase_fires_at_once_and_resolves_ten_minutes_later(
    field: str, rule: str
) -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 10, **{field: 3})
    alerts = feed(engine, clock, 1, **{field: 5})
    increased_at = clock.now
    assert states(alerts, rule) == ["firing"]
    assert alerts[0].value == 2.0 and alerts[0].fired_at == increased_at
    assert states(feed(engine, clock, 599, **{field: 5}), rule) == ["firing"]
    assert feed(engine, clock, 1, **{field: 5}) == []
    [resolved] = engine.alerts(include_resolved=True)
    assert (resolved.rule, resolved.resolved_at) == (rule, increased_at + 600)


def test_error_count_already_present_at_start_is_a_baseline_not_an_alert() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    assert feed(engine, clock, 30, xid_errors=7, ecc_uncorrected_volatile=2) == []


def test_gpu_reported_lost_fires_at_once() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    alerts = feed(engine, clock, 1, health="lost", health_reason="GPU is lost (NVML)")
    assert states(alerts, "gpu_lost") == ["firing"]
    assert alerts[0].severity == "critical" and "GPU is lost (NVML)" in alerts[0].message


def test_gpu_gone_from_the_samples_counts_as_lost_and_resolves_when_back() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    feed(engine, clock, 5)
    clock.advance(1)
    alerts = engine.evaluate(make_snapshot(clock.now, []))
    assert states(alerts, "gpu_lost") == ["firing"]
    assert alerts[0].gpu_index == 0
    assert feed(engine, clock, 1) == []
    assert states(engine.alerts(include_resolved=True), "gpu_lost") == ["resolved"]


def test_samples_stale_fires_when_the_clock_moves_on_without_new_samples() -> None:
    clock = FakeClock()
    engine = engine_with(clock, stale_after_s=30)
    feed(engine, clock, 5)
    clock.advance(30)
    assert engine.alerts() == []
    clock.advance(1)
    [stale] = engine.alerts()
    assert (stale.rule, stale.state, stale.gpu_uuid) == ("samples_stale", "firing", None)
    assert stale.value == pytest.approx(31.0)


def test_samples_stale_resolves_with_the_next_fresh_sample() -> None:
    clock = FakeClock()
    engine = engine_with(clock, stale_after_s=30)
    feed(engine, clock, 5)
    clock.advance(60)
    assert states(engine.alerts(), "samples_stale") == ["firing"]
    assert feed(engine, clock, 1) == []
    assert states(engine.alerts(include_resolved=True), "samples_stale") == ["resolved"]


def test_snapshot_with_an_old_timestamp_is_stale() -> None:
    clock = FakeClock()
    engine = engine_with(clock, stale_after_s=30)
    alerts = engine.evaluate(make_snapshot(clock.now - 45, [make_gpu()]))
    assert states(alerts, "samples_stale") == ["firing"]


def test_no_sample_at_all_becomes_stale_after_stale_after_s() -> None:
    clock = FakeClock()
    engine = engine_with(clock, stale_after_s=30)
    clock.advance(31)
    [stale] = engine.alerts()
    assert stale.rule == "samples_stale" and "no sample yet" in stale.message


def test_threshold_and_for_overrides_replace_the_defaults() -> None:
    clock = FakeClock()
    engine = engine_with(clock, rules={"gpu_utilization_high": {"threshold": 50, "for_s": 10}})
    assert states(feed(engine, clock, 10, utilization_percent=60.0), "gpu_utilization_high") == [
        "pending"
    ]
    alerts = feed(engine, clock, 1, utilization_percent=60.0)
    assert states(alerts, "gpu_utilization_high") == ["firing"]
    assert alerts[0].threshold == 50.0


def test_resolve_after_override_resolves_sooner() -> None:
    clock = FakeClock()
    engine = engine_with(clock, rules={"gpu_memory_high": {"resolve_after_s": 0}})
    feed(engine, clock, 61, memory_used_mib=80000.0)
    assert feed(engine, clock, 1, memory_used_mib=1000.0) == []
    [resolved] = engine.alerts(include_resolved=True)
    assert (resolved.state, resolved.resolved_at) == ("resolved", clock.now)


def test_disabled_rule_never_fires() -> None:
    clock = FakeClock()
    engine = engine_with(clock, rules={"gpu_utilization_high": {"enabled": False}})
    assert feed(engine, clock, 600, utilization_percent=100.0) == []


def test_stale_threshold_override_takes_precedence_over_stale_after_s() -> None:
    clock = FakeClock()
    engine = engine_with(clock, stale_after_s=30, rules={"samples_stale": {"threshold": 120}})
    feed(engine, clock, 1)
    clock.advance(100)
    assert engine.alerts() == []


def test_unknown_rule_id_is_a_config_error_naming_it_and_the_known_rules() -> None:
    with pytest.raises(ConfigError, match=r"unknown rule id 'gpu_utilisation'.*gpu_lost"):
        engine_with(FakeClock(), rules={"gpu_utilisation": {"threshold": 80}})


def test_threshold_on_a_rule_without_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.rules\.gpu_throttling\.threshold"):
        engine_with(FakeClock(), rules={"gpu_throttling": {"threshold": 1}})


def test_alerts_are_tracked_per_gpu() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    alerts: list[Alert] = []
    for _ in range(61):
        clock.advance(1)
        gpus = [make_gpu(0, memory_used_mib=80000.0), make_gpu(1, memory_used_mib=1000.0)]
        alerts = engine.evaluate(make_snapshot(clock.now, gpus))
    assert [(a.rule, a.gpu_index, a.state) for a in alerts] == [("gpu_memory_high", 0, "firing")]


def test_resolved_alerts_are_kept_in_a_bounded_list_newest_first() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    for count in range(1, RESOLVED_KEPT + 6):
        feed(engine, clock, 1, health="lost")
        feed(engine, clock, 1, health="ok", xid_errors=0, health_reason=f"round {count}")
    resolved = engine.alerts(include_resolved=True)
    assert len(resolved) == RESOLVED_KEPT
    assert resolved[0].resolved_at == clock.now
    assert all(a.state == "resolved" for a in resolved)


def test_the_recorded_h100_trace_fires_and_resolves_utilization_alerts_with_its_phases() -> None:
    # The trace alternates ~35 s busy (100 %) and ~25 s idle phases: with `for_s` 20 the
    # utilization rule fires in each busy phase and resolves in the idle one after it.
    lines = RECORDED_TRACE.read_text(encoding="utf-8").splitlines()
    snapshots = [Snapshot.model_validate_json(line) for line in lines]
    clock = FakeClock(snapshots[0].collected_at)
    engine = engine_with(clock, rules={"gpu_utilization_high": {"for_s": 20, "resolve_after_s": 5}})
    fired = 0
    for snapshot in snapshots:
        clock.now = snapshot.collected_at
        active = engine.evaluate(snapshot)
        fired += any(a.fired_at == clock.now for a in active)
    resolved = [a for a in engine.alerts(include_resolved=True) if a.state == "resolved"]
    assert fired >= 2
    assert len(resolved) >= 1
    assert all(a.rule == "gpu_utilization_high" for a in resolved)
    assert all(a.fired_at is not None and a.fired_at - a.started_at >= 20 for a in resolved)


# A real vLLM 0.24 on an H200 at its default --gpu-memory-utilization 0.9 (2026-12-01): NVML
# showed its engine core holding 130,836 MiB of 143,771 and the device 130,845 MiB used.
H200_TOTAL_MIB = 143771.0
VLLM_PROCESS_MIB = 130836.0


def vllm_snapshot(
    at: float, *, kv_cache_usage_ratio: float, other_process_mib: float = 0.0
) -> Snapshot:
    gpu = make_gpu(
        memory_total_mib=H200_TOTAL_MIB,
        memory_used_mib=VLLM_PROCESS_MIB + other_process_mib + 8.8,
    )
    processes = [make_process(2721, gpu, memory_mib=VLLM_PROCESS_MIB)]
    if other_process_mib:
        processes.append(make_process(4242, gpu, memory_mib=other_process_mib))
    snapshot = make_snapshot(at, [gpu], processes)
    snapshot.engines = [
        EngineMetrics(
            engine="vllm",
            model="meta-llama/Llama-3.1-8B-Instruct",
            url="http://127.0.0.1:8000/metrics",
            pids=[2721],
            gpu_uuids=[gpu.uuid],
            up=True,
            gpu_memory_utilization=0.9,
            kv_cache_usage_ratio=kv_cache_usage_ratio,
        )
    ]
    return snapshot


def feed_vllm(engine: AlertEngine, clock: FakeClock, samples: int, **state: Any) -> list[Alert]:
    alerts: list[Alert] = []
    for _ in range(samples):
        clock.advance(1.0)
        alerts = engine.evaluate(vllm_snapshot(clock.now, **state))
    return alerts


def test_memory_alert_stays_quiet_on_a_gpu_that_is_a_vllm_reservation() -> None:
    clock = FakeClock()
    alerts = feed_vllm(engine_with(clock), clock, 120, kv_cache_usage_ratio=0.02)
    assert states(alerts, "gpu_memory_high") == []


def test_memory_alert_fires_when_the_reserving_engines_kv_cache_is_nearly_full() -> None:
    clock = FakeClock()
    alerts = feed_vllm(engine_with(clock), clock, 61, kv_cache_usage_ratio=0.95)
    alert = next(a for a in alerts if a.rule == "gpu_memory_high")
    assert alert.state == "firing"
    assert alert.value == pytest.approx(95.0)
    assert "reserves 130836 of 143771 MiB by design" in alert.message
    assert "KV cache 95 % full" in alert.message


def test_memory_alert_fires_when_memory_outside_the_reservation_runs_out() -> None:
    clock = FakeClock()
    # 12,935 MiB are left outside the reservation; another process takes 12,000 of them
    alerts = feed_vllm(
        engine_with(clock), clock, 61, kv_cache_usage_ratio=0.02, other_process_mib=12000.0
    )
    alert = next(a for a in alerts if a.rule == "gpu_memory_high")
    assert alert.state == "firing"
    assert alert.value == pytest.approx(
        100.0 * (12000.0 + 8.8) / (H200_TOTAL_MIB - VLLM_PROCESS_MIB)
    )
    assert "memory outside the reservation" in alert.message


def test_subscribers_hear_every_state_change_in_order() -> None:
    clock = FakeClock()
    engine = engine_with(clock, rules={"gpu_utilization_high": {"for_s": 2, "resolve_after_s": 1}})
    heard: list[Alert] = []
    engine.subscribe(heard.append)
    feed(engine, clock, 3, utilization_percent=97.0)
    feed(engine, clock, 2, utilization_percent=20.0)
    assert [(a.rule, a.state) for a in heard] == [
        ("gpu_utilization_high", "pending"),
        ("gpu_utilization_high", "firing"),
        ("gpu_utilization_high", "resolved"),
    ]
    assert heard[1].fired_at == heard[0].started_at + 2 and heard[2].resolved_at is not None


def test_a_pending_alert_that_clears_tells_nothing_more() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    heard: list[Alert] = []
    engine.subscribe(heard.append)
    feed(engine, clock, 10, utilization_percent=97.0)
    feed(engine, clock, 5, utilization_percent=20.0)
    assert [a.state for a in heard] == ["pending"]


def test_a_failing_subscriber_does_not_stop_the_evaluation() -> None:
    clock = FakeClock()
    engine = engine_with(clock)
    heard: list[Alert] = []

    def broken(_: Alert) -> None:
        raise RuntimeError("the notifier broke")

    engine.subscribe(broken)
    engine.subscribe(heard.append)
    alerts = feed(engine, clock, 1, health="lost")
    assert states(alerts, "gpu_lost") == ["firing"] and [a.state for a in heard] == [
        "pending",
        "firing",
    ]
