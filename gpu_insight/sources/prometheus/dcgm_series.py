"""NVIDIA dcgm-exporter's series, read into the wire models.

Fields and units are those of dcgm-exporter's default counters (`etc/default-counters.csv`:
memory in MiB, utilization in %, power in W, energy in mJ, XID as the last code seen). Labels
follow its GPU template (`internal/pkg/rendermetrics/render_metrics.go`): `gpu`, `UUID`
(`uuid` with 1.x names), `pci_bus_id`, `device`, `modelName`, `Hostname` (renamed `hostname`
after 4.5.3-4.8.2), MIG's `GPU_I_PROFILE`/`GPU_I_ID`, and with its Kubernetes mapping on the
`pod`, `namespace` and `container` holding the GPU (`exported_…` when Prometheus kept the
target's own labels of those names). DCGM reports a field it cannot read as a huge "blank"
value; those are unknown here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from gpu_insight.schemas import Attribution, Gpu, GpuProcess
from gpu_insight.sources.prometheus.client import Sample
from gpu_insight.sources.prometheus.hosts import HostSeries, label
from gpu_insight.sources.prometheus.settings import AppRule

FREE = "DCGM_FI_DEV_FB_FREE"
USED = "DCGM_FI_DEV_FB_USED"
RESERVED = "DCGM_FI_DEV_FB_RESERVED"
UTIL = "DCGM_FI_DEV_GPU_UTIL"
# series name → (Gpu field, factor from the series' unit to the field's)
GPU_FIELDS: dict[str, tuple[str, float]] = {
    FREE: ("memory_free_mib", 1.0),
    USED: ("memory_used_mib", 1.0),
    RESERVED: ("memory_reserved_mib", 1.0),
    UTIL: ("utilization_percent", 1.0),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("memory_activity_percent", 1.0),
    "DCGM_FI_DEV_GPU_TEMP": ("temperature_celsius", 1.0),
    "DCGM_FI_DEV_POWER_USAGE": ("power_watts", 1.0),
    "DCGM_FI_DEV_SM_CLOCK": ("sm_clock_mhz", 1.0),
    "DCGM_FI_DEV_MEM_CLOCK": ("memory_clock_mhz", 1.0),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": ("energy_joules", 1e-3),
    "DCGM_FI_DEV_XID_ERRORS": ("xid_last", 1.0),
}
MEMORY_NAMES = (FREE, USED, RESERVED)  # always read: a GPU's total is their sum
HISTORY_NAMES = (UTIL, USED, FREE, RESERVED, "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE")
# DCGM's blank values: int32 0x7ffffff0 and above, FP64 2^47 and int64 near 2^63. Energy in mJ
# passes 2^31 within an hour at full power, so only FP64's and int64's blanks apply to it.
_INT32_BLANK = 2147483632.0
_LARGE_BLANK = 140737488355328.0
_SMALL_BLANK_FIELDS = frozenset(GPU_FIELDS) - {"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"}
WORKLOAD_LABELS = ("namespace", "pod", "container")


def device_names(gpu_fields: frozenset[str] | None) -> tuple[str, ...]:
    """The memory series and those of the `Gpu` fields asked for (None: every field)."""
    return tuple(
        n
        for n, (a, _) in GPU_FIELDS.items()
        if gpu_fields is None or n in MEMORY_NAMES or a in gpu_fields
    )


def read_hosts(
    samples: Iterable[Sample],
    scraped: Iterable[Sample],
    rules: Sequence[AppRule],
    apps: frozenset[str] | None,
) -> list[HostSeries]:
    """One `HostSeries` per dcgm-exporter host, from the device series (`samples`) and when
    each GPU was scraped (`scraped`: the timestamps of its free memory). Pods holding a GPU
    become its processes, with app and team from `rules` (the first that applies), kept only
    if their app is in `apps`."""
    hosts: dict[str, HostSeries] = {}
    for stamp in scraped:
        host = _host_of(hosts, stamp.labels)
        at = stamp.value
        host.sampled_at = at if host.sampled_at is None else min(host.sampled_at, at)
    workloads: dict[tuple[str, str, tuple[str, ...]], GpuProcess] = {}
    for sample in samples:
        labels = sample.labels
        host = _host_of(hosts, labels)
        gpu = _gpu_of(host, labels)
        name = labels.get("__name__", "")
        value = _known(name, sample.value)
        if name not in GPU_FIELDS or value is None:
            continue
        attribute, factor = GPU_FIELDS[name]
        if attribute == "xid_last":
            if value > 0:
                gpu.xid_last = round(value)
            continue
        # several series of one GPU (one per pod sharing it): the device value is the largest
        present = getattr(gpu, attribute)
        setattr(gpu, attribute, value * factor if present is None else max(present, value * factor))
        workload = tuple(label(labels, n) for n in WORKLOAD_LABELS)
        if workload[1] and name in (USED, UTIL):
            key = (host.host, gpu.uuid, workload)
            process = workloads.get(key)
            if process is None:
                process = workloads[key] = _pod_process(host, gpu, labels, workload, rules)
                if apps is None or process.attribution.app in apps:
                    host.processes.append(process)
            if name == USED:
                process.used_memory_mib = value
            else:
                process.sm_utilization_percent = value
    for host in hosts.values():
        for gpu in host.gpus.values():
            parts = (gpu.memory_free_mib, gpu.memory_used_mib)
            if None not in parts:
                gpu.memory_total_mib = sum(p or 0.0 for p in parts) + (gpu.memory_reserved_mib or 0)
    return list(hosts.values())


def host_name(labels: Mapping[str, str]) -> str:
    """The host label of either spelling, else the target's address without its port."""
    named = labels.get("Hostname") or labels.get("hostname")
    return named or labels.get("instance", "").rsplit(":", 1)[0]


def _host_of(hosts: dict[str, HostSeries], labels: Mapping[str, str]) -> HostSeries:
    name = host_name(labels)
    host = hosts.get(name)
    if host is None:
        host = hosts[name] = HostSeries(
            host=name, exporter="dcgm-exporter", instance=labels.get("instance", name)
        )
    return host


def _gpu_of(host: HostSeries, labels: Mapping[str, str]) -> Gpu:
    uuid = labels.get("UUID") or labels.get("uuid") or ""
    instance_id, profile = labels.get("GPU_I_ID"), labels.get("GPU_I_PROFILE")
    if instance_id:  # a MIG instance: one GPU of its own on the parent's UUID
        uuid = f"{uuid}/{instance_id}"
    gpu = host.gpus.get(uuid)
    if gpu is None:
        index = labels.get("gpu", "")
        model = labels.get("modelName") or labels.get("model_name") or "unknown GPU"
        gpu = host.gpus[uuid] = Gpu(
            index=int(index) if index.isdecimal() else 0,
            uuid=uuid,
            name=f"{model} MIG {profile}" if instance_id and profile else model,
            host=host.host,
            exporter="dcgm-exporter",
            pci_bus_id=labels.get("pci_bus_id") or None,
        )
    return gpu


def _pod_process(
    host: HostSeries,
    gpu: Gpu,
    labels: Mapping[str, str],
    workload: tuple[str, ...],
    rules: Sequence[AppRule],
) -> GpuProcess:
    namespace, pod, container = workload
    seen = {**labels, **dict(zip(WORKLOAD_LABELS, workload, strict=True))}
    app, team = next((m for m in (r.match(seen) for r in rules) if m is not None), (None, None))
    return GpuProcess(
        pid=0,
        gpu_index=gpu.index,
        gpu_uuid=gpu.uuid,
        host=host.host,
        attribution=Attribution(
            container_name="/".join(p for p in (namespace, pod, container) if p),
            container_runtime="kubernetes",
            app=app,
            team=team,
            unattributed_reason=None
            if app or team
            else "no prometheus_app_mapping rule matches this pod's labels",
        ),
    )


def _known(name: str, value: float) -> float | None:
    if not math.isfinite(value) or value >= _LARGE_BLANK:
        return None
    if name in _SMALL_BLANK_FIELDS and value >= _INT32_BLANK:
        return None
    return value
