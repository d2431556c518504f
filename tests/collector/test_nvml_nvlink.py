"""The NVML backend's slow tier for NVLink (state and error counters per link) and remapped
rows, against the fake NVML: what it reads, what it stops asking, and how errors show."""

from __future__ import annotations

import pytest

from gpu_insight.collector.backends.nvml import NVLINK_ERROR_COUNTERS, NvmlBackend
from gpu_insight.collector.config import SamplingConfig
from gpu_insight.collector.runtime import SelfMetrics
from gpu_insight.schemas import NvLink
from tests.collector.sampler_parts import make_sampler
from tests.fake_nvml import (
    NVML_ERROR_NOT_SUPPORTED,
    NVML_ERROR_UNKNOWN,
    FakeGpu,
    FakeNvLink,
    FakeNvml,
)

LINKS = 18  # an H100 SXM's NVLinks


def backend_for(fake: FakeNvml, metrics: SelfMetrics | None = None) -> NvmlBackend:
    backend = NvmlBackend(SamplingConfig(), metrics or SelfMetrics(), nvml=fake)
    backend.sample_fast(0.0)
    return backend


def nvlinked(uuid: str = "GPU-0", links: int = LINKS) -> FakeGpu:
    return FakeGpu(uuid=uuid, nvlinks=[FakeNvLink() for _ in range(links)])


def test_every_link_is_read_with_its_state_and_error_counters() -> None:
    gpu = nvlinked()
    gpu.nvlinks[3] = FakeNvLink(active=False, replay=7, recovery=1, crc_flit=40, crc_data=2)
    slow = backend_for(FakeNvml([gpu])).sample_slow(0.0).gpus["GPU-0"]
    assert slow.nvlinks is not None
    assert [link.link for link in slow.nvlinks] == list(range(LINKS))
    assert slow.nvlinks[3] == NvLink(
        link=3,
        active=False,
        replay_errors=7,
        recovery_errors=1,
        crc_flit_errors=40,
        crc_data_errors=2,
    )
    assert all(link.active for i, link in enumerate(slow.nvlinks) if i != 3)


def test_a_gpu_without_nvlink_has_none_and_is_not_asked_again() -> None:
    fake = FakeNvml([FakeGpu(uuid="GPU-0")])
    metrics = SelfMetrics()
    backend = backend_for(fake, metrics)
    assert backend.sample_slow(0.0).gpus["GPU-0"].nvlinks is None
    asked = fake.calls[("nvmlDeviceGetNvLinkState", 0)]
    assert asked == FakeNvml.NVML_NVLINK_MAX_LINKS
    backend.sample_slow(30.0)
    assert fake.calls[("nvmlDeviceGetNvLinkState", 0)] == asked
    assert fake.calls[("nvmlDeviceGetNvLinkErrorCounter", 0)] == 0
    assert sum(metrics.errors_by_call.values()) == 0


def test_links_past_the_last_are_asked_once_and_are_no_error() -> None:
    fake = FakeNvml([nvlinked(links=4)])
    metrics = SelfMetrics()
    backend = backend_for(fake, metrics)
    first = backend.sample_slow(0.0).gpus["GPU-0"].nvlinks
    backend.sample_slow(30.0)
    assert first is not None and [link.link for link in first] == [0, 1, 2, 3]
    # 18 asked the first time, only the 4 that exist the second
    assert fake.calls[("nvmlDeviceGetNvLinkState", 0)] == FakeNvml.NVML_NVLINK_MAX_LINKS + 4
    assert sum(metrics.errors_by_call.values()) == 0


def test_a_counter_one_link_cannot_tell_is_none_there_and_read_on_the_others() -> None:
    fake = FakeNvml([nvlinked(links=2)])
    fake.fail("nvmlDeviceGetNvLinkErrorCounter", NVML_ERROR_NOT_SUPPORTED, gpu=0, arg=1)
    backend = backend_for(fake)
    links = backend.sample_slow(0.0).gpus["GPU-0"].nvlinks
    assert links is not None
    assert links[0].replay_errors == 0
    assert (links[1].active, links[1].replay_errors, links[1].crc_data_errors) == (True, None, None)
    asked = fake.calls[("nvmlDeviceGetNvLinkErrorCounter", 0)]
    backend.sample_slow(30.0)
    # link 1's counters are not asked again; link 0's four are
    assert fake.calls[("nvmlDeviceGetNvLinkErrorCounter", 0)] == asked + len(NVLINK_ERROR_COUNTERS)


def test_a_failing_state_read_is_counted_leaves_the_link_out_and_is_retried() -> None:
    fake = FakeNvml([nvlinked(links=2)])
    fake.fail("nvmlDeviceGetNvLinkState", NVML_ERROR_UNKNOWN, gpu=0, arg=0)
    metrics = SelfMetrics()
    backend = backend_for(fake, metrics)
    links = backend.sample_slow(0.0).gpus["GPU-0"].nvlinks
    assert links is not None and [link.link for link in links] == [1]
    assert metrics.errors_by_call["nvmlDeviceGetNvLinkState"] == 1
    fake.heal("nvmlDeviceGetNvLinkState", gpu=0, arg=0)
    again = backend.sample_slow(30.0).gpus["GPU-0"].nvlinks
    assert again is not None and [link.link for link in again] == [0, 1]


def test_an_older_binding_without_the_nvlink_calls_reads_no_links() -> None:
    fake = FakeNvml([nvlinked()])
    fake.remove("nvmlDeviceGetNvLinkState")
    slow = backend_for(fake).sample_slow(0.0).gpus["GPU-0"]
    assert slow.nvlinks is None
    assert slow.energy_joules is not None


def test_a_gpu_lost_while_its_links_are_read_drops_out_of_the_slow_reading() -> None:
    fake = FakeNvml([nvlinked("GPU-0"), nvlinked("GPU-1")])
    backend = backend_for(fake)
    fake.gpus[0].lost = True
    slow = backend.sample_slow(0.0)
    assert set(slow.gpus) == {"GPU-1"}


def test_remapped_rows_are_read_as_counts_and_flags() -> None:
    gpu = FakeGpu(uuid="GPU-0", remapped_rows=(3, 1, 1, 0))
    slow = backend_for(FakeNvml([gpu])).sample_slow(0.0).gpus["GPU-0"]
    assert (slow.remapped_rows_correctable, slow.remapped_rows_uncorrectable) == (3, 1)
    assert (slow.remapped_rows_pending, slow.remapped_rows_failure) == (True, False)


def test_a_gpu_without_row_remapping_has_none_of_its_fields_and_is_not_asked_again() -> None:
    fake = FakeNvml([FakeGpu(uuid="GPU-0")])
    fake.fail("nvmlDeviceGetRemappedRows", NVML_ERROR_NOT_SUPPORTED)
    backend = backend_for(fake)
    slow = backend.sample_slow(0.0).gpus["GPU-0"]
    backend.sample_slow(30.0)
    assert slow.remapped_rows_correctable is None
    assert slow.remapped_rows_pending is None
    assert fake.calls[("nvmlDeviceGetRemappedRows", 0)] == 1


def test_the_snapshot_carries_links_and_rows_and_says_whether_a_link_is_active() -> None:
    down = nvlinked("GPU-1", links=2)
    for link in down.nvlinks:
        link.active = False
    fake = FakeNvml([nvlinked("GPU-0", links=2), down, FakeGpu(uuid="GPU-2")])
    fake.gpus[0].remapped_rows = (2, 0, 0, 0)
    metrics = SelfMetrics()
    backend = NvmlBackend(SamplingConfig(), metrics, nvml=fake)
    snapshot = make_sampler(backend, metrics=metrics).sampler.tick()
    gpu0, gpu1, gpu2 = snapshot.gpus
    assert [gpu.nvlink_active for gpu in snapshot.gpus] == [True, False, None]
    assert gpu0.nvlinks is not None and len(gpu0.nvlinks) == 2
    assert gpu0.remapped_rows_correctable == 2
    assert gpu1.nvlinks is not None and not any(link.active for link in gpu1.nvlinks)
    assert gpu2.nvlinks is None


@pytest.mark.parametrize("constant", [constant for _, constant in NVLINK_ERROR_COUNTERS])
def test_nvlink_counters_exist_in_the_real_binding_with_the_fakes_values(constant: str) -> None:
    import pynvml

    assert getattr(pynvml, constant) == getattr(FakeNvml, constant)
    assert pynvml.NVML_NVLINK_MAX_LINKS >= FakeNvml.NVML_NVLINK_MAX_LINKS
