"""Replay traces built from the wire models.

The small one, for machines without the recorded trace: two H100s on one host; GPU 0 serves a
vLLM model for the app `support-bot` (container `vllm-llama`), GPU 1 runs an unattributed
training script and is nearly idle. Values drift a little from line to line so history has a
shape. The eight-GPU one (`fleet_snapshot`) proves the dashboard's layouts for many GPUs and
many hosts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpu_insight.engines import fills_gpu_memory
from gpu_insight.schemas import Attribution, Engine, Gpu, GpuProcess, Snapshot
from tests.support.h100 import H100_TOTAL_MIB, h100_gpu

HOST = "gpu-node-1"
RESERVED_MIB = 512.0  # the driver's reserve
START_T = 1_760_000_000.0
VLLM_MIB = 71000.0
TRAINING_MIB = 9000.0


def synthetic_snapshot(step: int) -> Snapshot:
    t = START_T + step
    wobble = float(step % 5)
    vllm_gpu = h100_gpu(
        0,
        uuid="GPU-00000000-1111-2222-3333-000000000000",
        pci_bus_id="00000000:19:00.0",
        memory_used_mib=VLLM_MIB + RESERVED_MIB,
        memory_free_mib=H100_TOTAL_MIB - VLLM_MIB - RESERVED_MIB,
        memory_reserved_mib=RESERVED_MIB,
        utilization_percent=85.0 + wobble,
        memory_activity_percent=40.0,
        temperature_celsius=61.0,
        power_watts=520.0,
        sm_clock_mhz=1980.0,
    )
    training_gpu = h100_gpu(
        1,
        uuid="GPU-00000000-1111-2222-3333-000000000001",
        pci_bus_id="00000000:3B:00.0",
        memory_used_mib=TRAINING_MIB + RESERVED_MIB,
        memory_free_mib=H100_TOTAL_MIB - TRAINING_MIB - RESERVED_MIB,
        memory_reserved_mib=RESERVED_MIB,
        utilization_percent=3.0 + wobble,
        memory_activity_percent=1.0,
        temperature_celsius=35.0,
        power_watts=90.0,
        sm_clock_mhz=345.0,
    )
    vllm = GpuProcess(
        pid=4242,
        gpu_index=0,
        gpu_uuid=vllm_gpu.uuid,
        name="python3",
        cmdline="python3 -m vllm.entrypoints.openai.api_server --model "
        "meta-llama/Llama-3.1-8B-Instruct --port 8000",
        user="root",
        used_memory_mib=VLLM_MIB,
        sm_utilization_percent=80.0,
        attribution=Attribution(
            container_id="c0ffee" * 10 + "abcd",
            container_name="vllm-llama",
            container_runtime="docker",
            engine="vllm",
            model="meta-llama/Llama-3.1-8B-Instruct",
            port=8000,
            app="support-bot",
            team="platform",
        ),
    )
    training = GpuProcess(
        pid=5151,
        gpu_index=1,
        gpu_uuid=training_gpu.uuid,
        name="python",
        cmdline="python train.py --epochs 3",
        user="alice",
        used_memory_mib=TRAINING_MIB,
        sm_utilization_percent=2.0,
        attribution=Attribution(unattributed_reason="not in a container and no app rule matched"),
    )
    return Snapshot(
        host=HOST,
        source="replay",
        collected_at=t,
        driver_version="550.90.07",
        cuda_version="12.4",
        nvml_version="12.550.90.07",
        sample_duration_s=0.004,
        gpus=[vllm_gpu, training_gpu],
        processes=[vllm, training],
    )


def write_synthetic_trace(
    path: Path, steps: int = 30, frame: Callable[[int], Snapshot] = synthetic_snapshot
) -> Path:
    """Write `steps` frames, one JSON snapshot per line, and return the path."""
    path.write_text("".join(frame(i).model_dump_json() + "\n" for i in range(steps)))
    return path


# --- an eight-GPU host, for the layouts of many GPUs and many hosts ---------------------------

FLEET_GPUS = 8
FLEET_START_T = 1_760_000_000.0


@dataclass(frozen=True)
class _Tenant:
    """What runs on one GPU of the eight-GPU host."""

    engine: Engine
    model: str | None
    app: str | None
    team: str | None
    memory_mib: float
    utilization_percent: float
    temperature_celsius: float = 55.0


# GPUs 0-1 serve a 70B model with tensor parallel, 3 holds an idle vLLM server (idle but held),
# 6 runs an unattributed training job near its slowdown temperature, 7 is nearly free.
_TENANTS: tuple[_Tenant, ...] = (
    _Tenant("vllm", "meta-llama/Llama-3.1-70B-Instruct", "support-bot", "customer-care", 74000, 86),
    _Tenant("vllm", "meta-llama/Llama-3.1-70B-Instruct", "support-bot", "customer-care", 74000, 84),
    _Tenant("sglang", "Qwen/Qwen2.5-32B-Instruct", "search", "platform", 71000, 61),
    _Tenant("vllm", "Qwen/Qwen2.5-7B-Instruct", "legacy-chat", "customer-care", 70500, 2),
    _Tenant(
        "transformers", "mistralai/Mistral-7B-Instruct-v0.3", "nightly-eval", "research", 19000, 41
    ),
    _Tenant("ollama", "llama3.1:8b", "doc-qa", "docs", 9800, 9),
    _Tenant("unknown", None, None, None, 52000, 98, temperature_celsius=84.0),
    _Tenant("transformers", "BAAI/bge-m3", "doc-qa", "docs", 1500, 3),
)


def fleet_snapshot(step: int, host: str, processes_per_gpu: int = 1) -> Snapshot:
    """One moment of an eight-GPU H100 host: the tenants above, each GPU with
    `processes_per_gpu` processes (the tenant's server, then small workers of the same app)."""
    host_number = sum(host.encode()) % 4096
    wobble = float((step + 3 * host_number) % 7)  # hosts differ a little from each other
    gpus: list[Gpu] = []
    processes: list[GpuProcess] = []
    for index, tenant in enumerate(_TENANTS):
        uuid = f"GPU-{host_number:04x}{index:04x}-0000-4000-8000-000000000000"
        used = 512.0 + tenant.memory_mib
        busy = tenant.utilization_percent
        if busy > 5:  # the idle ones stay idle
            busy += wobble
        gpus.append(
            h100_gpu(
                index,
                uuid=uuid,
                pci_bus_id=f"00000000:{0x18 + index * 0x10:02X}:00.0",
                memory_used_mib=used,
                memory_free_mib=H100_TOTAL_MIB - used,
                memory_reserved_mib=512.0,
                utilization_percent=min(busy, 100.0),
                temperature_celsius=tenant.temperature_celsius,
                power_watts=120.0 + 5.5 * busy,
                clock_event_reasons=["sw_thermal_slowdown"] if index == 6 else [],
            )
        )
        for n in range(processes_per_gpu):
            server = n == 0
            processes.append(
                GpuProcess(
                    pid=10_000 + index * 1000 + n,
                    gpu_index=index,
                    gpu_uuid=uuid,
                    name="python3",
                    cmdline=f"python3 -m {tenant.engine} --model {tenant.model}"
                    if server
                    else "python3 worker.py",
                    user="svc",
                    used_memory_mib=tenant.memory_mib if server else 300.0,
                    sm_utilization_percent=min(busy, 100.0) if server else 0.0,
                    attribution=Attribution(
                        container_name=f"{tenant.app}-{index}" if tenant.app else None,
                        container_runtime="docker" if tenant.app else None,
                        engine=tenant.engine if server else "unknown",
                        model=tenant.model,
                        app=tenant.app,
                        team=tenant.team,
                        unattributed_reason=None if tenant.app else "no app rule matched",
                    ),
                    reserved_by_engine=server and fills_gpu_memory(tenant.engine),
                )
            )
    return Snapshot(
        host=host,
        source="replay",
        collected_at=FLEET_START_T + step,
        driver_version="580.159.04",
        cuda_version="13.0",
        gpus=gpus,
        processes=processes,
    )


def write_fleet_trace(path: Path, host: str, steps: int = 30) -> Path:
    """An eight-GPU trace of `steps` seconds for `host` (its GPU UUIDs are its own)."""
    path.write_text("".join(fleet_snapshot(i, host).model_dump_json() + "\n" for i in range(steps)))
    return path
