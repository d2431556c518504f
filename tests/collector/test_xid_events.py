"""XID errors: NVML events drained on every fast tick and counted per GPU."""

from __future__ import annotations

from gpu_insight.collector.alerts import AlertEngine
from gpu_insight.collector.backends.nvml import MAX_XID_EVENTS_PER_TICK, NvmlBackend
from gpu_insight.collector.config import AlertsConfig, SamplingConfig
from gpu_insight.collector.runtime import SelfMetrics
from gpu_insight.collector.sampler import Sampler
from gpu_insight.collector.store import SnapshotStore
from gpu_insight.schemas import Gpu
from tests.collector.sampler_parts import FakeClock, FixedDescriber, RecordingEngines
from tests.fake_nvml import (
    EVENT_TYPE_XID_CRITICAL_ERROR,
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_UNKNOWN,
    FakeGpu,
    FakeNvml,
)

NO_XID_SUPPORT = 0xFF9F & ~EVENT_TYPE_XID_CRITICAL_ERROR


def two_gpus() -> FakeNvml:
    return FakeNvml([FakeGpu(uuid="GPU-0"), FakeGpu(uuid="GPU-1")])


def backend_for(fake: FakeNvml, metrics: SelfMetrics | None = None) -> NvmlBackend:
    return NvmlBackend(SamplingConfig(), metrics or SelfMetrics(), nvml=fake)


def sample(backend: NvmlBackend, now: float = 0.0) -> list[Gpu]:
    return backend.sample_fast(now).gpus


def xid_counts(backend: NvmlBackend, now: float = 0.0) -> list[int | None]:
    return [gpu.xid_errors for gpu in sample(backend, now)]


def test_xid_events_are_counted_per_gpu_with_the_newest_code() -> None:
    fake = two_gpus()
    backend = backend_for(fake)
    assert xid_counts(backend) == [0, 0]
    fake.inject_xid(1, 48)
    fake.inject_xid(1, 79)
    gpu0, gpu1 = sample(backend)
    assert (gpu0.xid_errors, gpu0.xid_last) == (0, None)
    assert (gpu1.xid_errors, gpu1.xid_last) == (2, 79)


def test_gpu_without_xid_event_support_reports_unknown_not_zero() -> None:
    fake = two_gpus()
    fake.gpus[1].supported_event_types = NO_XID_SUPPORT
    backend = backend_for(fake)
    gpu0, gpu1 = sample(backend)
    assert gpu0.xid_errors == 0
    assert (gpu1.xid_errors, gpu1.xid_last) == (None, None)
    assert fake.calls[("nvmlDeviceRegisterEvents", 1)] == 0


def test_empty_event_queue_leaves_counts_unchanged_and_is_not_an_error() -> None:
    fake = two_gpus()
    metrics = SelfMetrics()
    backend = backend_for(fake, metrics)
    sample(backend, 0.0)
    fake.inject_xid(0, 31)
    assert xid_counts(backend, 1.0) == [1, 0]
    assert xid_counts(backend, 2.0) == [1, 0]
    assert fake.calls[("nvmlEventSetWait", None)] == 4  # a timeout ends every tick's drain
    assert metrics.errors_by_call == {}


def test_events_beyond_the_per_tick_bound_are_counted_on_the_next_tick() -> None:
    fake = two_gpus()
    backend = backend_for(fake)
    sample(backend)
    for _ in range(MAX_XID_EVENTS_PER_TICK + 6):
        fake.inject_xid(0, 13)
    assert xid_counts(backend, 1.0) == [MAX_XID_EVENTS_PER_TICK, 0]
    assert xid_counts(backend, 2.0) == [MAX_XID_EVENTS_PER_TICK + 6, 0]


def test_failing_event_wait_is_counted_and_the_tick_goes_on() -> None:
    fake = two_gpus()
    metrics = SelfMetrics()
    backend = backend_for(fake, metrics)
    sample(backend)
    fake.inject_xid(0, 79)
    fake.fail("nvmlEventSetWait", NVML_ERROR_UNKNOWN)
    reading = backend.sample_fast(1.0)
    assert reading.down_reason is None
    assert [gpu.memory_used_mib is not None for gpu in reading.gpus] == [True, True]
    assert [gpu.xid_errors for gpu in reading.gpus] == [0, 0]
    assert metrics.errors_by_call["nvmlEventSetWait"] == 1
    fake.heal("nvmlEventSetWait")
    assert xid_counts(backend, 2.0) == [1, 0]


def test_event_set_that_cannot_be_created_leaves_xid_unknown_and_is_counted() -> None:
    fake = two_gpus()
    fake.fail("nvmlEventSetCreate", NVML_ERROR_UNKNOWN)
    metrics = SelfMetrics()
    backend = backend_for(fake, metrics)
    reading = backend.sample_fast(0.0)
    assert reading.down_reason is None
    assert [gpu.xid_errors for gpu in reading.gpus] == [None, None]
    assert metrics.errors_by_call["nvmlEventSetCreate"] == 1


def test_failing_registration_leaves_only_that_gpu_unknown_and_is_counted() -> None:
    fake = two_gpus()
    fake.fail("nvmlDeviceRegisterEvents", NVML_ERROR_UNKNOWN, gpu=1)
    metrics = SelfMetrics()
    backend = backend_for(fake, metrics)
    assert xid_counts(backend) == [0, None]
    assert metrics.errors_by_call["nvmlDeviceRegisterEvents"] == 1


def test_reinitialisation_frees_the_old_event_set_and_registers_on_a_new_one() -> None:
    fake = two_gpus()
    backend = backend_for(fake)
    sample(backend, 0.0)
    fake.inject_xid(1, 79)
    assert xid_counts(backend, 0.5) == [0, 1]
    fake.fail("nvmlDeviceGetMemoryInfo", NVML_ERROR_DRIVER_NOT_LOADED)
    assert backend.sample_fast(1.0).down_reason is not None
    fake.heal("nvmlDeviceGetMemoryInfo")
    assert xid_counts(backend, 2.0) == [0, 1]  # counts are since the collector started
    old, new = fake.event_sets
    assert old.freed and not new.freed
    assert new.registered == {0: EVENT_TYPE_XID_CRITICAL_ERROR, 1: EVENT_TYPE_XID_CRITICAL_ERROR}
    fake.inject_xid(1, 94)
    gpu1 = sample(backend, 3.0)[1]
    assert (gpu1.xid_errors, gpu1.xid_last) == (2, 94)


def test_close_frees_the_event_set_before_shutting_nvml_down() -> None:
    fake = two_gpus()
    backend = backend_for(fake)
    sample(backend)
    backend.close()
    [event_set] = fake.event_sets
    assert event_set.freed
    assert fake.calls[("nvmlShutdown", None)] == 1


def test_xid_event_constant_matches_the_real_binding() -> None:
    import pynvml

    assert pynvml.nvmlEventTypeXidCriticalError == FakeNvml.nvmlEventTypeXidCriticalError


def test_injected_xid_fires_the_xid_alert_through_the_sampler() -> None:
    fake = two_gpus()
    metrics = SelfMetrics()
    clock = FakeClock()
    sampler = Sampler(
        sampling=SamplingConfig(),
        backend=backend_for(fake, metrics),
        store=SnapshotStore(),
        engines=RecordingEngines(),
        alerts=AlertEngine(AlertsConfig(), clock=clock),
        self_metrics=metrics,
        hostname="gpu-node-1",
        describer=FixedDescriber(),
        clock=clock,
    )
    assert sampler.tick().alerts == []
    clock.advance(1.0)
    fake.inject_xid(1, 79)
    alerts = sampler.tick().alerts
    assert [(a.rule, a.state, a.gpu_uuid, a.value) for a in alerts] == [
        ("gpu_xid_errors", "firing", "GPU-1", 1.0)
    ]
