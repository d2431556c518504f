"""Faults keep the collector running: each one reported as data, never a crash."""

from __future__ import annotations

import itertools
import threading

from gpu_insight.collector.backends.base import FastReading, SlowReading
from gpu_insight.collector.backends.nvml import NvmlBackend
from gpu_insight.collector.config import SamplingConfig
from gpu_insight.collector.runtime import SelfMetrics
from gpu_insight.schemas import Gpu, Source
from tests.collector.sampler_parts import FixedDescriber, make_sampler
from tests.fake_nvml import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    NVML_ERROR_TIMEOUT,
    NVML_ERROR_UNKNOWN,
    FakeGpu,
    FakeNvml,
    FakeProcess,
)


def two_gpus() -> FakeNvml:
    return FakeNvml([FakeGpu(uuid="GPU-0"), FakeGpu(uuid="GPU-1")])


def nvml_backend(fake: FakeNvml, metrics: SelfMetrics) -> NvmlBackend:
    return NvmlBackend(SamplingConfig(), metrics, nvml=fake)


def test_missing_library_starts_down_with_the_reason() -> None:
    fake = two_gpus()
    fake.init_errors = [NVML_ERROR_LIBRARY_NOT_FOUND]
    rig = make_sampler(nvml_backend(fake, SelfMetrics()))
    snapshot = rig.sampler.tick()
    assert snapshot.health == "down"
    assert snapshot.health_reason is not None
    assert "NVML Shared Library Not Found" in snapshot.health_reason
    assert snapshot.gpus == []
    assert rig.store.latest() is snapshot


def test_init_is_retried_with_doubling_backoff_then_recovers() -> None:
    fake = two_gpus()
    fake.init_errors = [NVML_ERROR_DRIVER_NOT_LOADED] * 3
    backend = nvml_backend(fake, SelfMetrics())
    attempts_at = []
    for second in range(0, 12):
        before = fake.calls[("nvmlInit", None)]
        reading = backend.sample_fast(float(second))
        if fake.calls[("nvmlInit", None)] > before:
            attempts_at.append(second)
    assert attempts_at == [0, 1, 3, 7]  # waits 1, 2, 4 s between tries
    assert reading.down_reason is None
    assert [gpu.uuid for gpu in reading.gpus] == ["GPU-0", "GPU-1"]


def test_backoff_stops_growing_at_60_seconds() -> None:
    fake = two_gpus()
    fake.init_errors = [NVML_ERROR_DRIVER_NOT_LOADED] * 10
    backend = nvml_backend(fake, SelfMetrics())
    attempts_at = []
    for second in range(0, 400):
        before = fake.calls[("nvmlInit", None)]
        backend.sample_fast(float(second))
        if fake.calls[("nvmlInit", None)] > before:
            attempts_at.append(second)
    gaps = [b - a for a, b in itertools.pairwise(attempts_at)]
    assert gaps[:7] == [1, 2, 4, 8, 16, 32, 60]
    assert max(gaps) == 60


def test_driver_unloaded_while_running_goes_down_then_reinitialises() -> None:
    fake = two_gpus()
    backend = nvml_backend(fake, SelfMetrics())
    assert backend.sample_fast(0.0).down_reason is None
    fake.fail("nvmlDeviceGetMemoryInfo", NVML_ERROR_DRIVER_NOT_LOADED)
    down = backend.sample_fast(1.0)
    assert down.down_reason is not None and "Driver Not Loaded" in down.down_reason
    fake.heal("nvmlDeviceGetMemoryInfo")
    assert backend.sample_fast(2.0).down_reason is None
    assert fake.calls[("nvmlInit", None)] == 2


def test_lost_gpu_is_marked_lost_while_the_others_keep_updating() -> None:
    fake = two_gpus()
    rig = make_sampler(nvml_backend(fake, SelfMetrics()))
    rig.sampler.tick()
    fake.gpus[1].lost = True
    fake.gpus[0].temperature_c = 71
    snapshot = rig.sampler.tick()
    gpu0, gpu1 = snapshot.gpus
    assert (gpu0.health, gpu0.temperature_celsius) == ("ok", 71)
    assert gpu1.health == "lost"
    assert gpu1.uuid == "GPU-1"  # identity read before it was lost is kept
    assert gpu1.memory_used_mib is None
    assert snapshot.health == "degraded"
    assert snapshot.health_reason == "GPU 1 lost"


def test_raising_call_is_counted_and_its_field_left_absent() -> None:
    fake = two_gpus()
    fake.fail("nvmlDeviceGetPowerUsage", NVML_ERROR_UNKNOWN, gpu=0)
    metrics = SelfMetrics()
    rig = make_sampler(nvml_backend(fake, metrics), metrics=metrics)
    rig.sampler.tick()
    snapshot = rig.sampler.tick()
    gpu0, gpu1 = snapshot.gpus
    assert gpu0.power_watts is None
    assert gpu0.memory_used_mib is not None
    assert gpu0.health == "degraded"
    assert gpu0.health_reason == "nvmlDeviceGetPowerUsage: Unknown Error"
    assert gpu1.power_watts == 70.0
    assert metrics.errors_by_call["nvmlDeviceGetPowerUsage"] == 2  # retried: not a capability
    assert snapshot.health == "degraded"


def test_failing_slow_tier_call_leaves_only_that_counter_absent() -> None:
    fake = two_gpus()
    fake.fail("nvmlDeviceGetTotalEnergyConsumption", NVML_ERROR_TIMEOUT)
    metrics = SelfMetrics()
    rig = make_sampler(nvml_backend(fake, metrics), metrics=metrics)
    snapshot = rig.sampler.tick()
    assert [gpu.energy_joules for gpu in snapshot.gpus] == [None, None]
    assert [gpu.ecc_uncorrected_volatile for gpu in snapshot.gpus] == [0, 0]
    assert metrics.errors_by_call["nvmlDeviceGetTotalEnergyConsumption"] == 2


def test_process_gone_before_its_proc_entry_was_read_is_skipped() -> None:
    fake = FakeNvml([FakeGpu(uuid="GPU-0", processes=[FakeProcess(10, 100), FakeProcess(11, 100)])])
    describer = FixedDescriber(gone={11})
    rig = make_sampler(nvml_backend(fake, SelfMetrics()), describer=describer)
    snapshot = rig.sampler.tick()
    assert [p.pid for p in snapshot.processes] == [10]
    assert describer.asked == [10, 11]


def test_process_whose_attribution_fails_is_kept_unattributed_and_counted() -> None:
    fake = FakeNvml([FakeGpu(uuid="GPU-0", processes=[FakeProcess(10, 100)])])
    metrics = SelfMetrics()
    rig = make_sampler(
        nvml_backend(fake, metrics), metrics=metrics, describer=FixedDescriber(failing={10})
    )
    (process,) = rig.sampler.tick().processes
    assert process.attribution.unattributed_reason is not None
    assert metrics.errors_by_call["attribution"] == 1


class _ExplodingBackend:
    """Raises on its first samples, then works: the sampler thread must outlive the failures."""

    source: Source = "nvml"
    attributes_processes = False

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.ok_samples = threading.Semaphore(0)

    def sample_fast(self, now: float) -> FastReading:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("unexpected")
        self.ok_samples.release()
        return FastReading(gpus=[Gpu(index=0, uuid="GPU-0", name="fake")])

    def sample_process_utilization(self, now: float) -> list:
        return []

    def sample_slow(self, now: float) -> SlowReading:
        return SlowReading()

    def close(self) -> None:
        return None


def test_sampler_thread_survives_an_exception_in_a_tick() -> None:
    backend = _ExplodingBackend(failures=2)
    metrics = SelfMetrics()
    rig = make_sampler(backend, metrics=metrics, sampling=SamplingConfig(fast_interval_s=0.01))
    rig.sampler.start()
    try:
        assert backend.ok_samples.acquire(timeout=5.0), "no sample after the failing ticks"
    finally:
        rig.sampler.stop()
    assert metrics.errors_by_call["sampler_tick"] == 2
    latest = rig.store.latest()
    assert latest is not None and latest.gpus[0].uuid == "GPU-0"
