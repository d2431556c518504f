"""The synthetic 8-GPU trace replayed by the collector and merged by the fleet: a
tensor-parallel engine over four GPUs, single-GPU engines, one idle GPU."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from gpu_insight.answers.processes import answer_processes, parse_process_query
from gpu_insight.collector.metrics import metrics_registry
from gpu_insight.collector.service import build_service
from gpu_insight.schemas import Snapshot
from gpu_insight.sources.fleet import Gathered
from gpu_insight.sources.merge import merge_snapshots
from tests.collector.api_support import make_runtime, publish
from tests.collector.test_metrics import samples_of
from tests.collector.test_service import config_in
from tests.support.eight_gpu_trace import (
    GPU_COUNT,
    HOST,
    IDLE_GPU,
    INSTANCES,
    NVLINKS_PER_GPU,
    TP_MODEL,
    TP_SIZE,
    eight_gpu_snapshot,
)
from tests.support.synthetic_trace import write_synthetic_trace


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The first sample of a collector replaying the trace, wired as the daemon wires it."""
    folder = tmp_path_factory.mktemp("eight-gpus")
    trace = write_synthetic_trace(folder / "trace.jsonl", frame=eight_gpu_snapshot)
    service = build_service(config_in(folder, replay=str(trace)))
    try:
        return service.sampler.tick()
    finally:
        service.stop()


def by_model(snapshot: Snapshot) -> dict[str, list[str]]:
    answer = answer_processes(parse_process_query({"group_by": "model"}), Gathered(snapshot))
    return {row.consumer: row.gpus for row in answer.rows}


def test_the_replayed_host_has_eight_gpus_and_one_of_them_idle(replayed: Snapshot) -> None:
    assert [gpu.index for gpu in replayed.gpus] == list(range(GPU_COUNT))
    busy = {process.gpu_index for process in replayed.processes}
    assert busy == set(range(GPU_COUNT)) - {IDLE_GPU}
    idle = replayed.gpus[IDLE_GPU]
    assert (idle.memory_used_mib, idle.utilization_percent) == (0.0, 0.0)


def test_by_model_each_instance_is_one_consumer_and_the_tp_one_holds_four_gpus(
    replayed: Snapshot,
) -> None:
    consumers = by_model(merge_snapshots([replayed]))
    assert set(consumers) == {instance.model for instance in INSTANCES}
    assert consumers[TP_MODEL] == [f"{HOST}:{i}" for i in range(TP_SIZE)]
    assert all(len(gpus) == 1 for model, gpus in consumers.items() if model != TP_MODEL)


def test_the_tp_engines_metrics_name_its_four_workers_and_gpus(replayed: Snapshot) -> None:
    [engine] = [e for e in replayed.engines if e.model == TP_MODEL]
    assert len(engine.pids) == len(engine.gpu_uuids) == TP_SIZE


def test_metrics_show_every_link_of_every_gpu_active(replayed: Snapshot) -> None:
    runtime = make_runtime()
    publish(runtime, replayed)
    samples = samples_of(generate_latest(metrics_registry(runtime)).decode())
    links = [v for (name, _), v in samples.items() if name == "gpu_nvlink_active"]
    assert links == [1.0] * (GPU_COUNT * NVLINKS_PER_GPU)


def test_merged_with_a_second_such_host_the_tp_model_holds_eight_gpus_on_two_hosts() -> None:
    hosts = [eight_gpu_snapshot(0).model_copy(update={"host": h}) for h in ("node-a", "node-b")]
    merged = merge_snapshots(hosts)
    assert len(merged.gpus) == 2 * GPU_COUNT
    expected = [f"{h}:{i}" for h in ("node-a", "node-b") for i in range(TP_SIZE)]
    assert by_model(merged)[TP_MODEL] == expected
