"""A small replay trace built from the wire models, for machines without the recorded one.

Two H100s on one host: GPU 0 serves a vLLM model for the app `support-bot` (container
`vllm-llama`), GPU 1 runs an unattributed training script and is nearly idle. Values drift a
little from line to line so history has a shape.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gpu_insight.schemas import Attribution, GpuProcess, Snapshot
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
