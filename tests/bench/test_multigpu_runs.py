"""The multi-GPU device runs dry, as far as they go without a GPU: what each builds and starts,
how each reads what it measured, and what each decides from it (bench/device/multigpu)."""

from __future__ import annotations

import copy
import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fake_nvml import FakeGpu, FakeNvLink, FakeNvml
from tests.support.eight_gpu_trace import (
    HOST,
    INSTANCES,
    TP_MODEL,
    TP_SIZE,
    eight_gpu_snapshot,
    gpu_uuid,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "device" / "multigpu"))
sys.path.insert(0, str(ROOT / "bench" / "engines"))
sys.path.insert(0, str(ROOT / "bench"))
import collector_scaling  # noqa: E402
import nvlink_reading  # noqa: E402
import placement_run  # noqa: E402
import summarize  # noqa: E402
import trace_8gpu  # noqa: E402
from collector_bench import Sizes  # noqa: E402
from multicast_off import MULTICAST_OFF  # noqa: E402

TINY = Sizes(
    fast=3,
    process_utilization=1,
    slow=1,
    ticks=2,
    full_snapshots=1,
    smi=1,
    gpustat=1,
    nvitop=1,
    cpu_window_s=1,
    api_duration_s=1,
)


def nvlinked_host(gpus: int = 8, links: int = 18) -> FakeNvml:
    return FakeNvml(
        [
            FakeGpu(
                uuid=f"GPU-{i}",
                bus_id=f"00000000:{0x18 + i:02X}:00.0".encode(),
                nvlinks=[FakeNvLink() for _ in range(links)],
            )
            for i in range(gpus)
        ]
    )


# -- placement (§2, §3) ---------------------------------------------------------------------


PLACEMENT = {
    "gpu_indices": [1, 2],
    "flags": "--gpu-memory-utilization 0.90 --max-model-len 8192 --tensor-parallel-size 2",
}


def test_the_placement_gives_the_gpus_and_the_flags_vllm_starts_with() -> None:
    gpus, flags = placement_run.launch_from(PLACEMENT)
    assert gpus == [1, 2]
    assert flags[-2:] == ["--tensor-parallel-size", "2"]


def test_the_engines_gpus_are_those_where_its_processes_hold_memory() -> None:
    by_gpu = [{900: 70_000.0}, {301: 120_000.0}, {302: 120_000.0}, {}]
    assert placement_run.engine_gpus(by_gpu, {300, 301, 302}) == [1, 2]


def test_by_model_the_tensor_parallel_consumer_holds_its_four_gpus() -> None:
    gpus = placement_run.consumer_gpus(eight_gpu_snapshot(0), TP_MODEL)
    assert gpus == [f"{HOST}:{i}" for i in range(TP_SIZE)]
    assert placement_run.consumer_gpus(eight_gpu_snapshot(0), "no/such-model") is None


def verdicts(**changed: Any) -> dict[str, bool]:
    readings: dict[str, Any] = {
        "placed": [1, 2],
        "busy_gpu": 0,
        "on_gpus": [1, 2],
        "busy_gpu_pids_before": {900},
        "busy_gpu_pids_after": {900},
        "consumer": ["h:1", "h:2"],
        "host": "h",
    }
    return placement_run.checks(**(readings | changed))


def test_a_run_as_placed_passes_every_check() -> None:
    assert all(verdicts().values())


@pytest.mark.parametrize(
    ("changed", "failing"),
    [
        (
            {"placed": [0, 1], "on_gpus": [0, 1], "consumer": ["h:0", "h:1"]},
            "placement_avoids_the_busy_gpu",
        ),
        ({"on_gpus": [1, 2, 3]}, "engine_runs_on_exactly_the_placed_gpus"),
        ({"busy_gpu_pids_after": {900, 301}}, "nothing_new_on_the_busy_gpu"),
        ({"consumer": ["h:1"]}, "one_consumer_by_model_holds_the_placed_gpus"),
    ],
)
def test_each_departure_from_the_placement_fails_its_own_check(
    changed: dict[str, Any], failing: str
) -> None:
    assert [name for name, ok in verdicts(**changed).items() if not ok] == [failing]


def test_the_placement_run_refuses_to_start_with_multicast_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in MULTICAST_OFF:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit, match="NVLink multicast must be off"):
        placement_run.main(["--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_the_placement_run_refuses_a_model_without_a_published_config(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"is not in models\.json"):
        placement_run.main(["--out", str(tmp_path), "--model", "org/unknown"])


# -- the 8-GPU trace (§6) -------------------------------------------------------------------


def test_the_layout_uses_eight_gpus_each_once_and_leaves_one_idle() -> None:
    used = [gpu for placed in trace_8gpu.LAYOUT for gpu in placed.gpus]
    assert sorted(used + list(trace_8gpu.IDLE_GPUS)) == list(range(trace_8gpu.GPUS_NEEDED))
    assert [p.tensor_parallel for p in trace_8gpu.LAYOUT if p.tensor_parallel > 1] == [4]


def test_the_tensor_parallel_engine_starts_at_tp_4_and_the_others_without_the_flag() -> None:
    tp4, single = trace_8gpu.LAYOUT[0], trace_8gpu.LAYOUT[1]
    assert trace_8gpu.vllm_command(tp4, Path("/m"))[-2:] == ["--tensor-parallel-size", "4"]
    assert "--tensor-parallel-size" not in trace_8gpu.vllm_command(single, Path("/m"))


def test_every_load_runs_on_the_same_phases() -> None:
    commands = [trace_8gpu.load_command(p, 1_800_000_000.0, 250) for p in trace_8gpu.LAYOUT]
    phases = trace_8gpu.phases(1_800_000_000.0, 250)
    assert {tuple(command[-len(phases) :]) for command in commands} == {tuple(phases)}
    assert commands[0][1] == "bench/load/completions_load.py"
    assert commands[-1][1] == "bench/load/hf_generate.py"


def test_a_container_spec_names_the_engine_its_app_team_and_port() -> None:
    tp4, transformers = trace_8gpu.LAYOUT[0], trace_8gpu.LAYOUT[-1]
    assert trace_8gpu.container_spec(tp4, 41) == "41:vllm-qwen2.5-14b-tp4:assistant:platform:8000"
    assert trace_8gpu.container_spec(transformers, 42).count(":") == 3


def synthetic_layout() -> tuple[trace_8gpu.Placed, ...]:
    """The layout tests/support/eight_gpu_trace.py's host has (apps of every instance)."""
    return tuple(
        trace_8gpu.Placed(
            i.container or "script",
            i.model,
            tuple(p.gpu for p in i.gpu_holders if p.gpu is not None),
            i.app or "unattributed",
            i.team or "",
            i.port,
        )
        for i in INSTANCES
    )


def test_a_trace_that_shows_the_layout_has_no_problems() -> None:
    frames = [eight_gpu_snapshot(step) for step in range(3)]
    assert trace_8gpu.layout_problems(frames, synthetic_layout(), (7,)) == []


def test_a_trace_whose_tp_engine_spans_other_gpus_says_so() -> None:
    layout = synthetic_layout()
    moved = (dataclasses.replace(layout[0], gpus=(0, 1)), *layout[1:])
    problems = trace_8gpu.layout_problems([eight_gpu_snapshot(0)], moved, (7,))
    assert any(problem.startswith(TP_MODEL) for problem in problems)


def test_a_process_on_the_idle_gpu_is_a_problem() -> None:
    frame = eight_gpu_snapshot(0)
    stray = copy.deepcopy(frame.processes[-1])
    stray.gpu_index, stray.gpu_uuid = 7, gpu_uuid(7)
    frame.processes.append(stray)
    problems = trace_8gpu.layout_problems([frame], synthetic_layout(), (7,))
    assert "processes on the idle GPU(s) [7]" in problems


def test_the_trace_run_needs_at_least_150_recorded_seconds(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        trace_8gpu.main(["--out", str(tmp_path), "--record-s", "60"])


# -- the collector's cost by GPU count (§4) ------------------------------------------------


@pytest.mark.parametrize(("available", "counts"), [(8, [1, 2, 4, 8]), (6, [1, 2, 4, 6]), (1, [1])])
def test_the_gpu_counts_double_up_to_the_hosts(available: int, counts: list[int]) -> None:
    assert collector_scaling.gpu_counts(available) == counts


def test_the_collector_sees_only_the_first_gpus_and_each_is_timed(tmp_path: Path) -> None:
    fake = nvlinked_host()
    result = collector_scaling.point(fake, 2, TINY, tmp_path)
    assert result["gpus"] == 2
    assert result["fast_tier_per_gpu"]["n"] == TINY.fast
    assert fake.calls[("nvmlDeviceGetMemoryInfo", 2)] == 0  # the third GPU was never read


def scaling_point(gpus: int, per_gpu_us: float) -> dict[str, Any]:
    return {"gpus": gpus, "fast_tier_per_gpu": {"median_us": per_gpu_us}}


def test_cost_per_gpu_growing_past_a_quarter_is_not_linear() -> None:
    linear = collector_scaling.verdicts([scaling_point(1, 20.0), scaling_point(8, 22.0)])
    worse = collector_scaling.verdicts([scaling_point(1, 20.0), scaling_point(8, 30.0)])
    assert [v["met"] for v in linear] == [True, True]
    assert [v["met"] for v in worse] == [True, False]


# -- vLLM against vram_check (§1) -------------------------------------------------------------


HOST_FACTS = {
    "gpu": "NVIDIA H200",
    "memory_total_mib": 143771.0,
    "memory_reserved_by_driver_mib": 615.0,
    "gpu_count": 8,
}


def measured_case(scale: float = 1.0) -> dict[str, Any]:
    """A TP-4 case whose vLLM numbers are vram_check's own, times `scale`."""
    settings = {
        "name": "llama-3.1-70b-tp4",
        "model_id": "meta-llama/Llama-3.1-70B-Instruct",
        "max_model_len": 8192,
        "gpu_memory_utilization": 0.9,
        "tensor_parallel": 4,
        "pipeline_parallel": 1,
    }
    placement = summarize.vram_check(settings, HOST_FACTS)["placement"]
    held = placement["process_mib"] * scale
    worker = {"weights_gib": 32.9, "available_kv_cache_gib": 88.0, "cuda_graph_gib": 1.0}
    return {
        "case": settings,
        "status": "ok",
        "attempts": [
            {
                "status": "ok",
                "log": {"kv_cache_tokens": round(placement["kv_cache_tokens"] * scale)},
                "measured": {"engine_mib_by_gpu": [held, held - 10, held - 20, held - 30, 0, 0]},
                "worker_logs": {f"Worker_TP{rank}": worker for rank in range(4)},
            }
        ],
    }


def test_a_case_that_matches_vram_check_meets_both_targets() -> None:
    row = summarize.row(measured_case(), HOST_FACTS)
    assert row is not None and row.gpus == 4
    assert row.met


def test_five_percent_off_misses_the_targets() -> None:
    row = summarize.row(measured_case(scale=1.05), HOST_FACTS)
    assert row is not None and not row.met
    assert row.memory_error == pytest.approx(-1 / 21)  # estimate / measured − 1


def test_unexplained_memory_is_per_gpu_what_the_workers_lines_leave_over() -> None:
    case = measured_case()
    attempt = case["attempts"][0]
    held = attempt["measured"]["engine_mib_by_gpu"]
    assert summarize.unexplained_mib(attempt, 4) == [
        pytest.approx(held[rank] - (32.9 + 88.0 + 1.0) * 1024) for rank in range(4)
    ]


@pytest.mark.parametrize(
    ("name", "tp", "gpu"),
    [("Worker_TP3", 4, 3), ("Worker_PP1", 1, 1), ("Worker_PP1_TP1", 2, 3), ("EngineCore", 1, None)],
)
def test_a_workers_name_gives_its_gpu(name: str, tp: int, gpu: int | None) -> None:
    assert summarize.worker_gpu(name, tp) == gpu


def test_a_case_that_did_not_start_has_no_row() -> None:
    case = measured_case()
    case["attempts"][0]["status"] = "did not start"
    assert summarize.row(case, HOST_FACTS) is None


# -- NVLink and remapped rows against nvidia-smi (§5) ---------------------------------------


# In the layout nvidia-smi prints them (written for these tests, not recorded).
NVLINK_STATUS = """\
GPU 0: NVIDIA H200 (UUID: GPU-0)
\t Link 0: 26.562 GB/s
\t Link 1: <inactive>
GPU 1: NVIDIA H200 (UUID: GPU-1)
\t Link 0: 26.562 GB/s
\t Link 1: 26.562 GB/s
"""
REMAPPED_ROWS_CSV = """\
00000000:18:00.0, 0, 0, No, No
00000000:19:00.0, 2, 1, Yes, No
"""


def test_nvidia_smis_link_status_gives_the_active_links_per_gpu() -> None:
    assert nvlink_reading.active_links_by_gpu(NVLINK_STATUS) == {0: [0], 1: [0, 1]}


def test_nvidia_smis_remapped_rows_are_counts_and_flags() -> None:
    rows = nvlink_reading.remapped_rows(REMAPPED_ROWS_CSV)
    assert rows[1] == {
        "pci_bus_id": "00000000:19:00.0",
        "correctable": 2,
        "uncorrectable": 1,
        "pending": True,
        "failure": False,
    }


def two_gpu_host() -> FakeNvml:
    fake = nvlinked_host(gpus=2, links=2)
    fake.gpus[0].nvlinks[1].active = False
    fake.gpus[1].remapped_rows = (2, 1, 1, 0)
    return fake


def test_the_collectors_reading_agrees_with_nvidia_smi_on_the_same_host() -> None:
    reading = nvlink_reading.collector_reading(two_gpu_host())
    assert [gpu["active_links"] for gpu in reading["gpus"]] == [[0], [0, 1]]
    smi = (
        nvlink_reading.active_links_by_gpu(NVLINK_STATUS),
        nvlink_reading.remapped_rows(REMAPPED_ROWS_CSV),
    )
    assert all(nvlink_reading.verdicts(reading, *smi).values())


def test_a_link_the_collector_misses_fails_the_link_verdict() -> None:
    fake = two_gpu_host()
    fake.gpus[1].nvlinks[1].active = False
    reading = nvlink_reading.collector_reading(fake)
    smi = (
        nvlink_reading.active_links_by_gpu(NVLINK_STATUS),
        nvlink_reading.remapped_rows(REMAPPED_ROWS_CSV),
    )
    assert nvlink_reading.verdicts(reading, *smi) == {
        "active_links_match_nvidia_smi": False,
        "remapped_rows_match_nvidia_smi": True,
    }


def test_nothing_read_by_nvidia_smi_is_no_agreement() -> None:
    reading = nvlink_reading.collector_reading(two_gpu_host())
    assert not any(nvlink_reading.verdicts(reading, {}, []).values())


def test_the_scripts_need_no_gpu_to_show_their_usage() -> None:
    for module in (placement_run, trace_8gpu, collector_scaling, nvlink_reading):
        with pytest.raises(SystemExit) as exit_info:
            module.main(["--help"])
        assert exit_info.value.code == 0
    assert summarize.main([]) == 2
