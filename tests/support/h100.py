"""The GPU the tests are built on: an H100 80GB HBM3's fixed facts, once, and a `Gpu` of it.

The facts are what NVML reports on one (the fake NVML reads them too); what changes from
sample to sample (memory used, utilization, temperature, power) is each test's to set.
"""

from __future__ import annotations

from typing import Any

from gpu_insight.schemas import Gpu

H100_NAME = "NVIDIA H100 80GB HBM3"
H100_COMPUTE_CAPABILITY = (9, 0)
H100_TOTAL_MIB = 81559
H100_SLOWDOWN_CELSIUS = 87
H100_SHUTDOWN_CELSIUS = 92
H100_POWER_LIMIT_WATTS = 700
H100_SM_CLOCK_MAX_MHZ = 1980
H100_MEMORY_CLOCK_MAX_MHZ = 2619


def h100_gpu(index: int = 0, **fields: Any) -> Gpu:
    """An H100 with the facts above, uuid `GPU-<index>` and the given `Gpu` fields over them."""
    major, minor = H100_COMPUTE_CAPABILITY
    values: dict[str, Any] = {
        "index": index,
        "uuid": f"GPU-{index}",
        "name": H100_NAME,
        "compute_capability": f"{major}.{minor}",
        "memory_total_mib": H100_TOTAL_MIB,
        "temperature_slowdown_celsius": H100_SLOWDOWN_CELSIUS,
        "temperature_shutdown_celsius": H100_SHUTDOWN_CELSIUS,
        "power_limit_watts": H100_POWER_LIMIT_WATTS,
        "sm_clock_max_mhz": H100_SM_CLOCK_MAX_MHZ,
        "memory_clock_max_mhz": H100_MEMORY_CLOCK_MAX_MHZ,
    }
    return Gpu(**(values | fields))
