"""Dividing one GPU interval between the processes that held the GPU."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpu_insight.collector.usage_split import UsageKey, split_interval
from tests.collector.synthetic import make_gpu, make_process


def test_busy_time_is_split_by_per_process_sm_utilization() -> None:
    gpu = make_gpu(utilization_percent=80.0, power_watts=300.0)
    a = make_process(1, gpu, memory_mib=4000.0, sm_percent=60.0, app="chat")
    b = make_process(2, gpu, memory_mib=12000.0, sm_percent=20.0, app="ocr")
    shares = split_interval(gpu, [a, b], 10.0)
    assert [(s.key.app, s.method) for s in shares] == [
        ("chat", "sm_utilization"),
        ("ocr", "sm_utilization"),
    ]
    assert [s.gpu_seconds for s in shares] == pytest.approx([6.0, 2.0])
    assert [s.energy_joules for s in shares] == pytest.approx([2250.0, 750.0])
    assert [s.memory_mib_seconds for s in shares] == pytest.approx([40000.0, 120000.0])


def test_without_sm_utilization_busy_time_is_split_by_memory() -> None:
    gpu = make_gpu(utilization_percent=50.0, power_watts=200.0)
    a = make_process(1, gpu, memory_mib=3000.0, app="chat")
    b = make_process(2, gpu, memory_mib=1000.0, app="ocr")
    shares = split_interval(gpu, [a, b], 4.0)
    assert {s.method for s in shares} == {"memory_share"}
    assert [s.gpu_seconds for s in shares] == pytest.approx([1.5, 0.5])
    assert [s.energy_joules for s in shares] == pytest.approx([600.0, 200.0])


def test_without_sm_or_memory_figures_busy_time_is_split_equally() -> None:
    gpu = make_gpu(utilization_percent=100.0)
    processes = [make_process(pid, gpu, memory_mib=None) for pid in (1, 2, 3, 4)]
    shares = split_interval(gpu, processes, 8.0)
    assert [s.gpu_seconds for s in shares] == pytest.approx([2.0] * 4)
    assert {s.method for s in shares} == {"memory_share"}


def test_process_without_sm_figure_gets_no_gpu_seconds_when_others_have_one() -> None:
    gpu = make_gpu(utilization_percent=100.0)
    a = make_process(1, gpu, memory_mib=1000.0, sm_percent=40.0, app="chat")
    newcomer = make_process(2, gpu, memory_mib=1000.0, sm_percent=None, app="new")
    shares = split_interval(gpu, [a, newcomer], 1.0)
    assert [s.gpu_seconds for s in shares] == pytest.approx([1.0, 0.0])


def test_idle_gpu_accrues_no_gpu_seconds_but_memory_and_idle_energy_by_memory() -> None:
    gpu = make_gpu(utilization_percent=0.0, power_watts=70.0)
    a = make_process(1, gpu, memory_mib=60000.0, sm_percent=0.0, app="chat")
    b = make_process(2, gpu, memory_mib=20000.0, app="ocr")
    shares = split_interval(gpu, [a, b], 10.0)
    assert {s.method for s in shares} == {"idle"}
    assert [s.gpu_seconds for s in shares] == [0.0, 0.0]
    assert [s.memory_mib_seconds for s in shares] == pytest.approx([600000.0, 200000.0])
    assert [s.energy_joules for s in shares] == pytest.approx([525.0, 175.0])


def test_a_gpu_at_most_five_percent_busy_is_idle_but_held_by_its_processes_by_memory() -> None:
    gpu = make_gpu(utilization_percent=5.0, power_watts=90.0)
    a = make_process(1, gpu, memory_mib=30000.0, sm_percent=4.0, app="chat")
    b = make_process(2, gpu, memory_mib=10000.0, sm_percent=1.0, app="ocr")
    shares = split_interval(gpu, [a, b], 10.0)
    assert [s.idle_held_gpu_seconds for s in shares] == pytest.approx([7.5, 2.5])
    assert [s.gpu_seconds for s in shares] == pytest.approx([0.4, 0.1])


def test_a_gpu_more_than_five_percent_busy_is_not_idle_but_held() -> None:
    gpu = make_gpu(utilization_percent=6.0)
    shares = split_interval(gpu, [make_process(1, gpu, memory_mib=30000.0, app="chat")], 10.0)
    assert [s.idle_held_gpu_seconds for s in shares] == [0.0]


def test_an_idle_gpu_without_processes_is_not_held_by_anyone() -> None:
    [share] = split_interval(make_gpu(utilization_percent=0.0), [], 10.0)
    assert share.idle_held_gpu_seconds == 0.0


def test_gpu_without_processes_goes_to_one_unattributed_share_without_a_method() -> None:
    gpu = make_gpu(utilization_percent=30.0, power_watts=100.0)
    [share] = split_interval(gpu, [], 10.0)
    assert share.key == UsageKey(gpu.uuid)
    assert share.method is None
    assert (share.gpu_seconds, share.memory_mib_seconds, share.energy_joules) == (3.0, 0.0, 1000.0)


def test_unknown_utilization_or_power_accrue_nothing_rather_than_a_guess() -> None:
    gpu = make_gpu(utilization_percent=None, power_watts=None)
    [share] = split_interval(gpu, [make_process(1, gpu, memory_mib=500.0)], 10.0)
    assert (share.gpu_seconds, share.energy_joules, share.memory_mib_seconds) == (0.0, 0.0, 5000.0)


def test_container_falls_back_to_the_short_container_id() -> None:
    gpu = make_gpu(utilization_percent=10.0)
    process = make_process(1, gpu, memory_mib=1.0)
    process.attribution.container_id = "0123456789abcdef0123"
    [share] = split_interval(gpu, [process], 1.0)
    assert share.key.container == "0123456789ab"


@given(
    utilization=st.floats(0, 100),
    power=st.floats(0, 1000),
    processes=st.lists(
        st.tuples(st.none() | st.floats(0, 80000), st.none() | st.floats(0, 100)), max_size=6
    ),
)
def test_shares_always_add_up_to_the_gpus_busy_time_and_energy(
    utilization: float, power: float, processes: list[tuple[float | None, float | None]]
) -> None:
    gpu = make_gpu(utilization_percent=utilization, power_watts=power)
    held = [
        make_process(pid, gpu, memory_mib=mib, sm_percent=sm)
        for pid, (mib, sm) in enumerate(processes)
    ]
    shares = split_interval(gpu, held, 2.0)
    assert sum(s.gpu_seconds for s in shares) == pytest.approx(utilization / 100 * 2.0)
    assert sum(s.energy_joules for s in shares) == pytest.approx(power * 2.0)
