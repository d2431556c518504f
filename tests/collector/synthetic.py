"""Small builders for synthetic snapshots and a clock the tests move by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpu_insight.schemas import Attribution, Gpu, GpuProcess, Snapshot
from tests.support.h100 import h100_gpu


@dataclass
class FakeClock:
    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def make_gpu(index: int = 0, **fields: Any) -> Gpu:
    """An idle, healthy H100 with 1000 MiB in use."""
    state: dict[str, Any] = {
        "uuid": f"GPU-{index:08d}-test",
        "memory_used_mib": 1000.0,
        "utilization_percent": 0.0,
        "temperature_celsius": 40.0,
        "power_watts": 70.0,
        "xid_errors": 0,
        "ecc_uncorrected_volatile": 0,
    }
    return h100_gpu(index, **(state | fields))


def make_process(
    pid: int,
    gpu: Gpu,
    *,
    memory_mib: float | None,
    sm_percent: float | None = None,
    app: str | None = None,
    team: str | None = None,
    container: str | None = None,
    model: str | None = None,
) -> GpuProcess:
    return GpuProcess(
        pid=pid,
        gpu_index=gpu.index,
        gpu_uuid=gpu.uuid,
        used_memory_mib=memory_mib,
        sm_utilization_percent=sm_percent,
        attribution=Attribution(app=app, team=team, container_name=container, model=model),
    )


def make_snapshot(
    collected_at: float,
    gpus: list[Gpu],
    processes: list[GpuProcess] | None = None,
    host: str = "gpu-host-1",
) -> Snapshot:
    return Snapshot(
        host=host,
        source="replay",
        collected_at=collected_at,
        gpus=gpus,
        processes=processes or [],
    )


def shared_gpu_snapshot(collected_at: float) -> Snapshot:
    """One H100 at 80 % utilization and 300 W shared by two apps: SM 60 % vs 20 %, 4000 and
    2000 MiB. Per second: chat 0.6 GPU-s, 225 J; ocr 0.2 GPU-s, 75 J."""
    gpu = make_gpu(0, utilization_percent=80.0, power_watts=300.0)
    processes = [
        make_process(
            101,
            gpu,
            memory_mib=4000.0,
            sm_percent=60.0,
            app="chat",
            team="support",
            container="vllm-llama",
            model="meta-llama/Llama-3.1-8B-Instruct",
        ),
        make_process(
            202,
            gpu,
            memory_mib=2000.0,
            sm_percent=20.0,
            app="ocr",
            team="docs",
            container="ocr-worker",
            model="PaddleOCR",
        ),
    ]
    return make_snapshot(collected_at, [gpu], processes)
