"""Replay: a recorded trace played as if it happened now, looped at its recorded pace."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_insight.collector.backends.replay import ReplayBackend, TraceError, load_trace
from gpu_insight.collector.recorder import SnapshotRecorder, downsample_trace
from gpu_insight.collector.recorder import main as recorder_main
from gpu_insight.schemas import Attribution, EngineMetrics, GpuProcess, Snapshot
from tests.collector.sampler_parts import FixedDescriber, make_sampler
from tests.support.h100 import h100_gpu

RECORDED_AT = 1_700_000_000.0
NOW = 1_800_000_000.0


def frame(second: int, *, utilization: float, energy: float) -> Snapshot:
    """A recorded snapshot `second` seconds into the trace, on a host that is not this one."""
    t = RECORDED_AT + second
    return Snapshot(
        host="h100-recorder",
        source="nvml",
        collected_at=t,
        driver_version="580.159.04",
        gpus=[h100_gpu(0, uuid="GPU-rec", utilization_percent=utilization, energy_joules=energy)],
        processes=[
            GpuProcess(
                pid=4242,
                gpu_index=0,
                gpu_uuid="GPU-rec",
                used_memory_mib=70_000.0,
                sm_utilization_percent=utilization,
                utilization_seen_at=t - 0.5,
                attribution=Attribution(engine="vllm", model="m", app="support-bot"),
            )
        ],
        engines=[
            EngineMetrics(engine="vllm", url="http://127.0.0.1:8000/metrics", scraped_at=t, up=True)
        ],
    )


@pytest.fixture
def frames() -> list[Snapshot]:
    # 0 s idle, 1 s busy, 2 s busy: a 3 s loop
    return [
        frame(0, utilization=0.0, energy=1000.0),
        frame(1, utilization=90.0, energy=1500.0),
        frame(2, utilization=95.0, energy=2100.0),
    ]


def test_replay_says_replay_and_shifts_timestamps_to_now(frames: list[Snapshot]) -> None:
    rig = make_sampler(ReplayBackend(frames))
    rig.clock.now = NOW
    snapshot = rig.sampler.tick()
    assert snapshot.source == "replay"
    assert snapshot.collected_at == NOW
    assert snapshot.processes[0].utilization_seen_at == NOW - 0.5


def test_replay_serves_the_recorded_engine_metrics_as_of_now(frames: list[Snapshot]) -> None:
    backend = ReplayBackend(frames)
    backend.sample_fast(NOW + 1)
    (engine,) = backend.latest()
    assert (engine.engine, engine.up, engine.scraped_at) == ("vllm", True, NOW + 1)


def test_replay_plays_at_the_recorded_pace(frames: list[Snapshot]) -> None:
    backend = ReplayBackend(frames)
    seen = [backend.sample_fast(NOW + t).gpus[0].utilization_percent for t in (0, 0.5, 1, 2.9)]
    assert seen == [0.0, 0.0, 90.0, 95.0]


def test_replay_loops_and_the_energy_counter_keeps_rising(frames: list[Snapshot]) -> None:
    backend = ReplayBackend(frames)
    first_loop = backend.sample_fast(NOW).gpus[0]
    second_loop = backend.sample_fast(NOW + 3).gpus[0]
    assert second_loop.utilization_percent == first_loop.utilization_percent == 0.0
    assert second_loop.energy_joules == 1000.0 + (2100.0 - 1000.0)


def test_played_before_runs_the_loop_on_into_the_live_replay(frames: list[Snapshot]) -> None:
    backend = ReplayBackend(frames)
    past = list(backend.played_before(NOW, seconds=6, step_s=1))
    assert [s.collected_at for s in past] == [NOW - 6, NOW - 5, NOW - 4, NOW - 3, NOW - 2, NOW - 1]
    assert [s.gpus[0].utilization_percent for s in past] == [0.0, 90.0, 95.0] * 2
    assert backend.sample_fast(NOW).gpus[0].utilization_percent == 0.0  # the loop's start


def test_replayed_processes_keep_their_recorded_attribution(frames: list[Snapshot]) -> None:
    describer = FixedDescriber()
    rig = make_sampler(ReplayBackend(frames), describer=describer)
    (process,) = rig.sampler.tick().processes
    assert process.pid == 4242  # not running here, yet kept
    assert process.attribution.app == "support-bot"
    assert describer.asked == []


def test_replay_reports_recorded_versions_and_host(frames: list[Snapshot]) -> None:
    backend = ReplayBackend(frames)
    assert backend.recorded_host == "h100-recorder"
    rig = make_sampler(backend)
    assert rig.sampler.tick().driver_version == "580.159.04"


def test_recorded_trace_loads_back_for_replay(tmp_path: Path, frames: list[Snapshot]) -> None:
    path = tmp_path / "trace.jsonl"
    recorder = SnapshotRecorder(path)
    for snapshot in frames:
        recorder(snapshot)
    recorder.close()
    assert load_trace(path) == frames


def test_recorder_appends_to_an_existing_trace(tmp_path: Path, frames: list[Snapshot]) -> None:
    path = tmp_path / "trace.jsonl"
    for snapshot in frames[:2]:
        recorder = SnapshotRecorder(path)
        recorder(snapshot)
        recorder.close()
    assert [s.collected_at for s in load_trace(path)] == [f.collected_at for f in frames[:2]]


def test_downsampling_keeps_one_snapshot_per_interval(tmp_path: Path) -> None:
    source, target = tmp_path / "long.jsonl", tmp_path / "short.jsonl"
    recorder = SnapshotRecorder(source)
    for second in range(10):
        recorder(frame(second, utilization=1.0, energy=float(second)))
    recorder.close()
    assert downsample_trace(source, target, every_s=3) == (10, 4)
    kept = [s.collected_at - RECORDED_AT for s in load_trace(target)]
    assert kept == [0, 3, 6, 9]


def test_missing_trace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read replay trace"):
        load_trace(tmp_path / "absent.jsonl")


def test_trace_with_a_bad_line_names_the_line(tmp_path: Path, frames: list[Snapshot]) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text(frames[0].model_dump_json() + "\n" + '{"host": 1}\n')
    with pytest.raises(TraceError, match="line 2: not a snapshot"):
        load_trace(path)


def test_empty_trace_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text("\n")
    with pytest.raises(TraceError, match="holds no snapshots"):
        load_trace(path)


def test_downsample_command_rejects_a_non_positive_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "long.jsonl"
    source.write_text(frame(0, utilization=1.0, energy=0.0).model_dump_json() + "\n")
    code = recorder_main(["downsample", str(source), str(tmp_path / "out.jsonl"), "--every-s", "0"])
    assert code == 2
    assert "every_s must be greater than 0" in capsys.readouterr().err


H200_TRACE = Path(__file__).resolve().parents[2] / "gpu_insight/collector/traces/h200-replay.jsonl"


def test_h200_trace_carries_a_real_vllm_and_a_transformers_process_in_containers() -> None:
    frames = load_trace(H200_TRACE)
    assert {gpu.name for frame in frames for gpu in frame.gpus} == {"NVIDIA H200"}
    attributed = {
        (p.attribution.engine, p.attribution.model, p.attribution.container_name)
        for frame in frames
        for p in frame.processes
    }
    assert attributed == {
        ("vllm", "Qwen/Qwen2.5-1.5B-Instruct", "vllm-qwen2.5-1.5b"),
        ("transformers", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "hf-eval-tinyllama"),
    }


def test_h200_trace_has_real_vllm_metrics_in_busy_and_idle_phases() -> None:
    engines = [e for frame in load_trace(H200_TRACE) for e in frame.engines if e.up]
    assert any((e.requests_running or 0) > 0 for e in engines)
    assert any(e.requests_running == 0 for e in engines)
    assert max(e.generation_tokens_per_s or 0 for e in engines) > 1000
