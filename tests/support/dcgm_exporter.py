"""A static stand-in for NVIDIA's dcgm-exporter: its default counters and labels, fixed values.

Built from dcgm-exporter's own files at NVIDIA/dcgm-exporter@d5e5f510 (release 4.5.3-4.8.2):
the field list, types and help texts of `etc/default-counters.csv` (every field that file does
not comment out, `DCGM_FI_DRIVER_VERSION` as a label as the file declares it), and the label
set of the GPU template in `internal/pkg/rendermetrics/render_metrics.go` (`gpu`, `UUID`,
`pci_bus_id`, `device`, `modelName`, the host label, which that release spells `Hostname`, then
the attributes; with its Kubernetes mapping on, `container`, `namespace` and `pod` of the pod
that holds the GPU, empty when none does). `DCGM_FI_DEV_MEMORY_TEMP` carries the "blank" value
the project's README shows for a field the GPU cannot report.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.canned_http import CannedReply, CannedServer

# (field, Prometheus type, help) as in etc/default-counters.csv, in its order
DEFAULT_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "counter",
        "Total energy consumption since boot (in mJ).",
    ),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "counter",
        "Total number of NVLink bandwidth counters for all lanes.",
    ),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status"),
    (
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for uncorrectable errors",
    ),
    (
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for correctable errors",
    ),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
)
BLANK_INT64 = 9223372036854775794  # what DCGM reports for a field the GPU cannot read
DRIVER_VERSION = "580.159.04"
H100_FB_MIB = 81559.0


@dataclass(frozen=True)
class DcgmGpu:
    """One GPU as the stand-in reports it; `pod` empty when no pod holds it."""

    index: int
    uuid: str
    used_mib: float
    utilization_percent: float
    reserved_mib: float = 480.0
    model_name: str = "NVIDIA H100 80GB HBM3"
    temperature_celsius: float = 45.0
    power_watts: float = 250.0
    xid_last: int = 0
    namespace: str = ""
    pod: str = ""
    container: str = ""

    @property
    def free_mib(self) -> float:
        return H100_FB_MIB - self.used_mib - self.reserved_mib

    def value(self, field: str) -> float:
        return {
            "DCGM_FI_DEV_SM_CLOCK": 1980.0,
            "DCGM_FI_DEV_MEM_CLOCK": 2619.0,
            "DCGM_FI_DEV_GPU_TEMP": self.temperature_celsius,
            "DCGM_FI_DEV_POWER_USAGE": self.power_watts,
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": 8_123_456_789.0,
            "DCGM_FI_DEV_GPU_UTIL": self.utilization_percent,
            "DCGM_FI_DEV_MEM_COPY_UTIL": self.utilization_percent / 2,
            "DCGM_FI_DEV_XID_ERRORS": float(self.xid_last),
            "DCGM_FI_DEV_FB_FREE": self.free_mib,
            "DCGM_FI_DEV_FB_USED": self.used_mib,
            "DCGM_FI_DEV_FB_RESERVED": self.reserved_mib,
        }.get(field, 0.0)


def exposition(hostname: str, gpus: tuple[DcgmGpu, ...]) -> str:
    """The text dcgm-exporter would serve for these GPUs."""
    lines = []
    for field, kind, help_text in DEFAULT_COUNTERS:
        lines.append(f"# HELP {field} {help_text}")
        lines.append(f"# TYPE {field} {kind}")
        for gpu in gpus:
            labels = (
                f'gpu="{gpu.index}",UUID="{gpu.uuid}",'
                f'pci_bus_id="00000000:{gpu.index + 17:02X}:00.0",'
                f'device="nvidia{gpu.index}",modelName="{gpu.model_name}",Hostname="{hostname}",'
                f'DCGM_FI_DRIVER_VERSION="{DRIVER_VERSION}",container="{gpu.container}",'
                f'namespace="{gpu.namespace}",pod="{gpu.pod}"'
            )
            value = gpu.value(field)
            shown = (
                str(BLANK_INT64)
                if field == "DCGM_FI_DEV_MEMORY_TEMP"
                else (f"{value:.0f}" if value.is_integer() else repr(value))
            )
            lines.append(f"{field}{{{labels}}} {shown}")
    return "\n".join(lines) + "\n"


def dcgm_exporter(hostname: str, gpus: tuple[DcgmGpu, ...]) -> CannedServer:
    """A server on 127.0.0.1 that answers /metrics as dcgm-exporter would for these GPUs."""
    text = exposition(hostname, gpus).encode()
    return CannedServer({"/metrics": CannedReply(200, text, "text/plain; version=0.0.4")})
