"""The NVML backend against the fake NVML: what it reads and how it reads it."""

from __future__ import annotations

import pytest

from gpu_insight.collector.backends.nvml import NvmlBackend
from gpu_insight.collector.config import SamplingConfig
from gpu_insight.collector.runtime import SelfMetrics
from tests.fake_nvml import (
    MIB,
    NVML_ERROR_FUNCTION_NOT_FOUND,
    NVML_ERROR_NOT_SUPPORTED,
    FakeGpu,
    FakeNvml,
    FakeProcess,
    UtilizationSample,
)


def backend_for(
    fake: FakeNvml, *, pcie: bool = False, metrics: SelfMetrics | None = None
) -> NvmlBackend:
    return NvmlBackend(SamplingConfig(pcie_throughput=pcie), metrics or SelfMetrics(), nvml=fake)


@pytest.fixture
def gpu() -> FakeGpu:
    return FakeGpu(uuid="GPU-0", used_bytes=10_000 * MIB, reserved_bytes=480 * MIB)


def test_memory_comes_from_v2_so_the_driver_reserve_is_not_counted_as_used(gpu: FakeGpu) -> None:
    reading = backend_for(FakeNvml([gpu])).sample_fast(0.0)
    (state,) = reading.gpus
    assert state.memory_used_mib == 10_000
    assert state.memory_reserved_mib == 480
    assert state.memory_total_mib == 81559
    assert state.memory_free_mib == 81559 - 10_000 - 480


def test_device_identity_and_state_are_read_with_units_converted(gpu: FakeGpu) -> None:
    gpu.power_mw, gpu.power_limit_mw, gpu.gpu_util = 350_500, 700_000, 87
    (state,) = backend_for(FakeNvml([gpu])).sample_fast(0.0).gpus
    assert (state.index, state.uuid, state.name) == (0, "GPU-0", "NVIDIA H100 80GB HBM3")
    assert state.pci_bus_id == "00000000:01:00.0"
    assert state.compute_capability == "9.0"
    assert state.power_watts == 350.5
    assert state.power_limit_watts == 700.0
    assert state.utilization_percent == 87
    assert (state.temperature_slowdown_celsius, state.temperature_shutdown_celsius) == (87, 92)
    assert (state.sm_clock_max_mhz, state.memory_clock_max_mhz) == (1980, 2619)
    assert state.health == "ok"


def test_static_identity_is_read_once_while_nvml_stays_up(gpu: FakeGpu) -> None:
    fake = FakeNvml([gpu])
    backend = backend_for(fake)
    for second in range(3):
        backend.sample_fast(float(second))
    assert fake.calls[("nvmlDeviceGetUUID", 0)] == 1
    assert fake.calls[("nvmlDeviceGetMemoryInfo", 0)] == 3


def test_process_with_unknown_memory_keeps_none_not_zero(gpu: FakeGpu) -> None:
    gpu.processes = [FakeProcess(pid=41, used_bytes=None)]
    (process,) = backend_for(FakeNvml([gpu])).sample_fast(0.0).processes
    assert process.pid == 41
    assert process.used_memory_mib is None


def test_compute_and_graphics_lists_merge_into_one_entry_per_pid(gpu: FakeGpu) -> None:
    gpu.processes = [
        FakeProcess(pid=1, used_bytes=2048 * MIB),
        FakeProcess(pid=2, used_bytes=512 * MIB, compute=True, graphics=True),
        FakeProcess(pid=3, used_bytes=64 * MIB, compute=False, graphics=True),
    ]
    processes = backend_for(FakeNvml([gpu])).sample_fast(0.0).processes
    kinds = {p.pid: (p.kind, p.used_memory_mib) for p in processes}
    assert kinds == {1: ("compute", 2048), 2: ("compute+graphics", 512), 3: ("graphics", 64)}
    assert all(p.gpu_uuid == "GPU-0" and p.gpu_index == 0 for p in processes)


def test_not_supported_is_remembered_per_gpu_and_not_asked_again() -> None:
    fake = FakeNvml([FakeGpu(uuid="GPU-0"), FakeGpu(uuid="GPU-1")])
    fake.fail("nvmlDeviceGetPowerUsage", NVML_ERROR_NOT_SUPPORTED, gpu=0)
    metrics = SelfMetrics()
    backend = backend_for(fake, metrics=metrics)
    for second in range(3):
        reading = backend.sample_fast(float(second))
    assert fake.calls[("nvmlDeviceGetPowerUsage", 0)] == 1
    assert fake.calls[("nvmlDeviceGetPowerUsage", 1)] == 3
    assert reading.gpus[0].power_watts is None
    assert reading.gpus[0].health == "ok"  # a capability, not a fault
    assert reading.gpus[1].power_watts == 70.0
    assert metrics.errors_by_call["nvmlDeviceGetPowerUsage"] == 0


def test_not_supported_for_one_clock_does_not_hide_the_other(gpu: FakeGpu) -> None:
    fake = FakeNvml([gpu])
    fake.fail("nvmlDeviceGetClockInfo", NVML_ERROR_NOT_SUPPORTED, arg=FakeNvml.NVML_CLOCK_MEM)
    fake.fail("nvmlDeviceGetMaxClockInfo", NVML_ERROR_NOT_SUPPORTED, arg=FakeNvml.NVML_CLOCK_MEM)
    backend = backend_for(fake)
    backend.sample_fast(0.0)
    (state,) = backend.sample_fast(1.0).gpus
    assert (state.sm_clock_mhz, state.memory_clock_mhz) == (345, None)
    assert (state.sm_clock_max_mhz, state.memory_clock_max_mhz) == (1980, None)
    assert fake.calls[("nvmlDeviceGetClockInfo", 0)] == 3  # SM twice, memory once


def test_temperature_falls_back_to_the_old_call_when_the_new_one_is_missing(gpu: FakeGpu) -> None:
    fake = FakeNvml([gpu])
    fake.fail("nvmlDeviceGetTemperatureV", NVML_ERROR_FUNCTION_NOT_FOUND)
    gpu.temperature_c = 64
    backend = backend_for(fake)
    backend.sample_fast(0.0)
    (state,) = backend.sample_fast(1.0).gpus
    assert state.temperature_celsius == 64
    assert fake.calls[("nvmlDeviceGetTemperatureV", 0)] == 1
    assert fake.calls[("nvmlDeviceGetTemperature", 0)] == 2


def test_clock_events_fall_back_to_throttle_reasons_on_an_older_binding(gpu: FakeGpu) -> None:
    fake = FakeNvml([gpu])
    fake.remove("nvmlDeviceGetCurrentClocksEventReasons")
    gpu.clock_event_mask = 0x4 | 0x40
    (state,) = backend_for(fake).sample_fast(0.0).gpus
    assert state.clock_event_reasons == ["sw_power_cap", "hw_thermal_slowdown"]


def test_process_utilization_idle_gpu_gives_no_samples_and_no_error(gpu: FakeGpu) -> None:
    metrics = SelfMetrics()
    backend = backend_for(FakeNvml([gpu]), metrics=metrics)
    backend.sample_fast(0.0)
    assert backend.sample_process_utilization(0.0) == []
    assert sum(metrics.errors_by_call.values()) == 0


def test_process_utilization_discards_values_outside_0_to_100(gpu: FakeGpu) -> None:
    gpu.utilization_samples = [
        UtilizationSample(pid=7, timeStamp=2_000_000, smUtil=150, memUtil=30),
        UtilizationSample(pid=8, timeStamp=2_000_000, smUtil=4294967295, memUtil=4294967295),
    ]
    backend = backend_for(FakeNvml([gpu]))
    backend.sample_fast(0.0)
    (reading,) = backend.sample_process_utilization(0.0)
    assert reading.pid == 7
    assert reading.sm_utilization_percent is None
    assert reading.memory_utilization_percent == 30


def test_process_utilization_keeps_the_newest_sample_and_asks_only_for_newer_ones(
    gpu: FakeGpu,
) -> None:
    gpu.utilization_samples = [
        UtilizationSample(pid=7, timeStamp=1_000_000, smUtil=10, memUtil=1),
        UtilizationSample(pid=7, timeStamp=3_000_000, smUtil=90, memUtil=40),
    ]
    backend = backend_for(FakeNvml([gpu]))
    backend.sample_fast(0.0)
    (reading,) = backend.sample_process_utilization(0.0)
    assert (reading.sm_utilization_percent, reading.seen_at) == (90, 3.0)
    assert reading.gpu_uuid == "GPU-0"
    assert backend.sample_process_utilization(5.0) == []  # nothing newer than 3 s


def test_slow_tier_reads_energy_ecc_and_versions(gpu: FakeGpu) -> None:
    gpu.energy_mj, gpu.ecc_uncorrected = 5_000_500, 2
    fake = FakeNvml([gpu])
    backend = backend_for(fake)
    backend.sample_fast(0.0)
    slow = backend.sample_slow(0.0)
    assert slow.gpus["GPU-0"].energy_joules == 5000.5
    assert slow.gpus["GPU-0"].ecc_uncorrected_volatile == 2
    assert (slow.driver_version, slow.cuda_version) == ("580.159.04", "13.0")
    assert slow.nvml_version == "13.580.159.04"


def test_pcie_throughput_is_read_only_when_enabled(gpu: FakeGpu) -> None:
    fake = FakeNvml([gpu])
    backend = backend_for(fake, pcie=False)
    backend.sample_fast(0.0)
    assert backend.sample_slow(0.0).gpus["GPU-0"].pcie_tx_bytes_per_s is None
    assert fake.calls[("nvmlDeviceGetPcieThroughput", 0)] == 0

    enabled = backend_for(FakeNvml([gpu]), pcie=True)
    enabled.sample_fast(0.0)
    slow = enabled.sample_slow(0.0).gpus["GPU-0"]
    assert (slow.pcie_tx_bytes_per_s, slow.pcie_rx_bytes_per_s) == (1000 * 1024, 2000 * 1024)


def test_nvml_is_initialised_once_and_shut_down_on_close(gpu: FakeGpu) -> None:
    fake = FakeNvml([gpu])
    backend = backend_for(fake)
    for second in range(3):
        backend.sample_fast(float(second))
    backend.close()
    assert fake.calls[("nvmlInit", None)] == 1
    assert fake.calls[("nvmlShutdown", None)] == 1
    assert not fake.initialized
