"""The sampler: one snapshot per fast tick, slower tiers on their own cadence."""

from __future__ import annotations

from gpu_insight.collector.backends.base import (
    FastReading,
    GpuSlowReading,
    ProcessUtilization,
    SlowReading,
)
from gpu_insight.collector.config import SamplingConfig
from gpu_insight.schemas import Alert, EngineMetrics, Gpu, GpuProcess, Source
from tests.collector.sampler_parts import FixedDescriber, make_sampler


class ScriptedBackend:
    """Returns fixed readings and logs which tier was asked when."""

    source: Source = "nvml"
    attributes_processes = False

    def __init__(self) -> None:
        self.asked: list[tuple[str, float]] = []
        self.utilization: list[ProcessUtilization] = []
        self.down_reason: str | None = None  # set: the fast tier reports the backend down
        self.slow = SlowReading(
            gpus={"GPU-0": GpuSlowReading(energy_joules=1234.5, ecc_uncorrected_volatile=0)},
            driver_version="580.159.04",
            cuda_version="13.0",
        )

    def sample_fast(self, now: float) -> FastReading:
        self.asked.append(("fast", now))
        if self.down_reason is not None:
            return FastReading(down_reason=self.down_reason)
        return FastReading(
            gpus=[Gpu(index=0, uuid="GPU-0", name="H100", memory_used_mib=100.0)],
            processes=[
                GpuProcess(pid=10, gpu_index=0, gpu_uuid="GPU-0", used_memory_mib=50.0),
                GpuProcess(pid=11, gpu_index=0, gpu_uuid="GPU-0", used_memory_mib=None),
            ],
        )

    def sample_process_utilization(self, now: float) -> list[ProcessUtilization]:
        self.asked.append(("process_utilization", now))
        return self.utilization

    def sample_slow(self, now: float) -> SlowReading:
        self.asked.append(("slow", now))
        return self.slow

    def close(self) -> None:
        return None


def tiers_asked(backend: ScriptedBackend, tier: str) -> list[float]:
    return [now for name, now in backend.asked if name == tier]


def test_each_tick_publishes_a_snapshot_of_this_host_and_source() -> None:
    rig = make_sampler(ScriptedBackend())
    snapshot = rig.sampler.tick()
    assert rig.store.latest() is snapshot
    assert (snapshot.host, snapshot.source, snapshot.health) == ("gpu-node-1", "nvml", "ok")
    assert snapshot.collected_at == rig.clock.now
    assert snapshot.sample_duration_s is not None and snapshot.sample_duration_s >= 0
    assert rig.metrics.samples_total == 1
    assert rig.metrics.last_sample_at == rig.clock.now


def test_processes_are_described_by_the_attributor() -> None:
    rig = make_sampler(ScriptedBackend(), describer=FixedDescriber())
    first, second = rig.sampler.tick().processes
    assert (first.pid, first.cmdline, first.user) == (10, "vllm serve model-10", "svc")
    assert first.attribution.engine == "vllm"
    assert first.attribution.app == "support-bot"
    assert second.used_memory_mib is None


def test_memory_of_an_engine_that_fills_the_gpu_is_marked_reserved_by_it() -> None:
    rig = make_sampler(ScriptedBackend(), describer=FixedDescriber())
    assert [p.reserved_by_engine for p in rig.sampler.tick().processes] == [True, True]


def test_memory_of_an_unknown_program_is_not_marked_reserved() -> None:
    backend = ScriptedBackend()
    backend.attributes_processes = True  # its processes come as they are: engine unknown
    rig = make_sampler(backend)
    assert [p.reserved_by_engine for p in rig.sampler.tick().processes] == [False, False]


def test_engines_observe_the_processes_and_alerts_see_the_snapshot() -> None:
    rig = make_sampler(ScriptedBackend())
    rig.engines.metrics = [EngineMetrics(engine="vllm", url="http://127.0.0.1:8000/metrics")]
    rig.alerts.active = [
        Alert(rule="gpu_lost", severity="critical", state="firing", message="m", started_at=1.0)
    ]
    snapshot = rig.sampler.tick()
    assert [p.pid for p in rig.engines.observed[0]] == [10, 11]
    assert snapshot.engines == rig.engines.metrics
    assert rig.alerts.evaluated == [snapshot]
    assert snapshot.alerts == rig.alerts.active


def test_tiers_run_at_their_own_intervals() -> None:
    backend = ScriptedBackend()
    sampling = SamplingConfig(
        fast_interval_s=1, process_utilization_interval_s=5, slow_interval_s=30
    )
    rig = make_sampler(backend, sampling=sampling)
    start = rig.clock.now
    for _ in range(61):
        rig.sampler.tick()
        rig.clock.advance(1.0)
    offsets = {
        tier: [t - start for t in tiers_asked(backend, tier)]
        for tier in ("fast", "process_utilization", "slow")
    }
    assert len(offsets["fast"]) == 61
    assert offsets["process_utilization"] == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60]
    assert offsets["slow"] == [0, 30, 60]


def test_slow_tier_values_are_carried_into_every_snapshot() -> None:
    rig = make_sampler(ScriptedBackend())
    rig.sampler.tick()
    rig.clock.advance(1.0)
    snapshot = rig.sampler.tick()
    assert snapshot.gpus[0].energy_joules == 1234.5
    assert snapshot.gpus[0].ecc_uncorrected_volatile == 0
    assert (snapshot.driver_version, snapshot.cuda_version) == ("580.159.04", "13.0")


def test_process_utilization_is_attached_by_gpu_and_pid() -> None:
    backend = ScriptedBackend()
    backend.utilization = [ProcessUtilization("GPU-0", 10, 75.0, 20.0, seen_at=999.5)]
    rig = make_sampler(backend)
    busy, idle = rig.sampler.tick().processes
    assert (busy.sm_utilization_percent, busy.memory_utilization_percent) == (75.0, 20.0)
    assert busy.utilization_seen_at == 999.5
    assert idle.sm_utilization_percent is None


def test_process_without_samples_in_the_next_window_loses_its_old_utilization() -> None:
    backend = ScriptedBackend()
    backend.utilization = [ProcessUtilization("GPU-0", 10, 75.0, 20.0, seen_at=999.5)]
    rig = make_sampler(backend, sampling=SamplingConfig(process_utilization_interval_s=5))
    rig.sampler.tick()
    backend.utilization = []
    rig.clock.advance(5.0)
    busy, _ = rig.sampler.tick().processes
    assert busy.sm_utilization_percent is None


def test_slower_tiers_wait_while_the_backend_is_down() -> None:
    backend = ScriptedBackend()
    backend.down_reason = "NVML unavailable: Driver Not Loaded"
    rig = make_sampler(backend)
    snapshot = rig.sampler.tick()
    assert (snapshot.health, snapshot.health_reason) == ("down", backend.down_reason)
    assert tiers_asked(backend, "slow") == []
    assert tiers_asked(backend, "process_utilization") == []
