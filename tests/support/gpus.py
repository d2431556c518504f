"""GPUs as a collector reports them, for estimator and answer tests."""

from __future__ import annotations

from gpu_insight.schemas import Gpu

H100_NVML_TOTAL_MIB = 81_559.0
H100_DRIVER_RESERVE_MIB = 480.0


def h100(index: int = 0, free_mib: float = 49_878.6, host: str = "h100-bench") -> Gpu:
    """An H100 80GB: NVML total 81,559 MiB of which the driver reserves 480 MiB; by default
    as free as the replay trace's GPU."""
    return Gpu(
        index=index,
        uuid=f"GPU-{host}-{index}",
        name="NVIDIA H100 80GB HBM3",
        host=host,
        compute_capability="9.0",
        memory_total_mib=H100_NVML_TOTAL_MIB,
        memory_reserved_mib=H100_DRIVER_RESERVE_MIB,
        memory_free_mib=free_mib,
        memory_used_mib=H100_NVML_TOTAL_MIB - H100_DRIVER_RESERVE_MIB - free_mib,
    )
