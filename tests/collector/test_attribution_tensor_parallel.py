"""A tensor-parallel vLLM on a host of 8 GPUs, through NVML, /proc and the attributor as the
collector runs them: its per-GPU workers are one model instance, one app, one consumer.

The /proc tree is vLLM's (tests/support/eight_gpu_trace.py): API server → `VLLM::EngineCore` →
one `VLLM::Worker_TP<rank>` per GPU, titles padded with NULs; NVML lists only the workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_insight.answers.processes import ConsumerRow, answer_processes, parse_process_query
from gpu_insight.collector.attribution import Attributor
from gpu_insight.collector.backends.nvml import NvmlBackend
from gpu_insight.collector.config import AttributionConfig, AttributionRule, SamplingConfig
from gpu_insight.collector.engines.targets import targets_from_processes
from gpu_insight.collector.runtime import SelfMetrics
from gpu_insight.schemas import Snapshot
from gpu_insight.sources.fleet import Gathered
from gpu_insight.sources.merge import merge_snapshots
from tests.collector.fake_proc import FakeProc
from tests.collector.sampler_parts import make_sampler
from tests.fake_nvml import MIB, FakeGpu, FakeNvml, FakeProcess
from tests.support.eight_gpu_trace import (
    GPU_COUNT,
    HOST,
    HOST_TREE,
    INSTANCES,
    TENSOR_PARALLEL,
    TP_ENGINE_CORE_PID,
    TP_MODEL,
    TP_SIZE,
    TP_WORKER_MIB,
    gpu_uuid,
)

# What a site's config would say: apps by the model each instance serves.
APP_RULES = [
    AttributionRule(match_model=instance.model, app=instance.app, team=instance.team)
    for instance in INSTANCES
    if instance.app is not None
]


def host_proc(root: Path) -> FakeProc:
    proc = FakeProc(root)
    for process in HOST_TREE:
        proc.add(process.pid, list(process.argv), comm=process.comm, ppid=process.ppid)
        (proc.root / str(process.pid) / "cmdline").write_bytes(process.cmdline_bytes)
    return proc


def host_nvml() -> FakeNvml:
    gpus = [FakeGpu(uuid=gpu_uuid(i), used_bytes=0) for i in range(GPU_COUNT)]
    for process in HOST_TREE:
        if process.gpu is not None:
            used = int(process.used_memory_mib * MIB)
            gpus[process.gpu].processes.append(FakeProcess(process.pid, used))
            gpus[process.gpu].used_bytes += used
    return FakeNvml(gpus)


@pytest.fixture
def attributor(tmp_path: Path) -> Attributor:
    config = AttributionConfig(proc_root=str(host_proc(tmp_path / "proc").root), rules=APP_RULES)
    return Attributor(config)


@pytest.fixture
def sampled(attributor: Attributor) -> Snapshot:
    metrics = SelfMetrics()
    backend = NvmlBackend(SamplingConfig(), metrics, nvml=host_nvml())
    snapshot = make_sampler(backend, metrics=metrics, describer=attributor).sampler.tick()
    return merge_snapshots([snapshot.model_copy(update={"host": HOST})])


def consumer(snapshot: Snapshot, group_by: str, name: str) -> ConsumerRow:
    answer = answer_processes(parse_process_query({"group_by": group_by}), Gathered(snapshot))
    [row] = [row for row in answer.rows if row.consumer == name]
    return row


def test_each_worker_is_a_child_of_the_engine_core_and_holds_its_own_gpu() -> None:
    workers = TENSOR_PARALLEL.gpu_holders
    assert [w.argv for w in workers] == [(f"VLLM::Worker_TP{r}",) for r in range(TP_SIZE)]
    assert {w.ppid for w in workers} == {TP_ENGINE_CORE_PID}
    assert [w.gpu for w in workers] == list(range(TP_SIZE))


def test_every_tensor_parallel_worker_is_the_api_servers_model_on_its_port(
    attributor: Attributor,
) -> None:
    for worker in TENSOR_PARALLEL.gpu_holders:
        identity = attributor.describe(worker.pid)
        assert identity is not None
        who = identity.attribution
        assert (who.engine, who.model, who.port, who.app) == ("vllm", TP_MODEL, 8000, "assistant")
        assert identity.cmdline == worker.argv[0]  # the title, without its padding


def test_every_gpu_process_is_attributed_as_the_eight_gpu_trace_says(
    attributor: Attributor,
) -> None:
    for instance in INSTANCES:
        expected = instance.attribution()
        for process in instance.gpu_holders:
            identity = attributor.describe(process.pid)
            assert identity is not None
            got = identity.attribution
            assert (got.engine, got.model, got.port, got.app, got.team) == (
                expected.engine,
                expected.model,
                expected.port,
                expected.app,
                expected.team,
            ), process.argv


def test_by_model_the_tensor_parallel_engine_is_one_consumer_holding_four_gpus(
    sampled: Snapshot,
) -> None:
    row = consumer(sampled, "model", TP_MODEL)
    assert row.gpus == [f"{HOST}:{i}" for i in range(TP_SIZE)]
    assert row.process_count == TP_SIZE
    assert row.used_memory_mib == pytest.approx(TP_SIZE * TP_WORKER_MIB)


def test_by_app_the_tensor_parallel_engine_is_one_app_holding_four_gpus(
    sampled: Snapshot,
) -> None:
    row = consumer(sampled, "app", "assistant")
    assert row.gpus == [f"{HOST}:{i}" for i in range(TP_SIZE)]
    assert row.details["pids"] == [w.pid for w in TENSOR_PARALLEL.gpu_holders]


def test_the_engine_scraper_sees_one_instance_on_four_gpus(sampled: Snapshot) -> None:
    [target] = [t for t in targets_from_processes(sampled.processes) if t.model == TP_MODEL]
    assert target.url == "http://127.0.0.1:8000/metrics"
    assert target.gpu_uuids == tuple(sorted(gpu_uuid(i) for i in range(TP_SIZE)))
    assert target.pids == tuple(w.pid for w in TENSOR_PARALLEL.gpu_holders)
