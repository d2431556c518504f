"""The wire format shared by the collector and the plugin (`/v1/...`).

Every numeric field carries its unit in its name. A field may be added; it is never silently
repurposed. `None` always means "unknown or not supported", never zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

API_VERSION = "v1"
SCHEMA_VERSION = 1
SERVICE_NAME = "gpu-insight-collector"

Source = Literal["nvml", "replay"]
# Whose Prometheus series a GPU was read from, when an answer was read through Prometheus.
Exporter = Literal["gpu-insight", "dcgm-exporter"]
HealthStatus = Literal["ok", "degraded", "down"]
GpuHealth = Literal["ok", "degraded", "lost"]
# The serving engines GPU Insight knows (`gpu_insight.engines` has one entry each); a process it
# cannot attribute to one of them is "unknown".
KnownEngine = Literal["vllm", "sglang", "transformers", "tgi", "ollama", "llama.cpp"]
Engine = Literal[KnownEngine, "unknown"]
AlertState = Literal["pending", "firing", "resolved"]
# The alert rule (`Alert.rule`) that fires when a GPU's memory is nearly full; the advice
# explains it when an engine's own reservation is what fills the GPU.
MEMORY_ALERT_RULE = "gpu_memory_high"
Severity = Literal["info", "warning", "critical"]
GroupBy = Literal["app", "team", "model", "container", "gpu"]
# What a usage report through Prometheus added up: the collectors' usage counters, or the copy
# of them that the shipped recording rules keep (deploy/prometheus/gpu-insight-usage-rules.yaml).
UsageSeries = Literal["counters", "recording_rules"]
ShareMethod = Literal["sm_utilization", "memory_share", "idle"]
WebhookOrigin = Literal["config", "api"]  # the collector's notify config, or POST /v1/webhooks
ProcessKind = Literal["compute", "graphics", "compute+graphics"]


def choice_of[ChoiceT: str](value: str, choices: Iterable[ChoiceT]) -> ChoiceT | None:
    """`value` as one of `choices` (a Literal's values, typed as such), or None if it is none."""
    for choice in choices:
        if value == choice:
            return choice
    return None


# A GPU at most this busy counts as idle: memory held on it then is idle-but-held
# (`UsageRow.idle_held_gpu_seconds`), and the advice rules call it idle.
IDLE_UTILIZATION_PERCENT = 5.0

# NVML's clock-event (throttle) reasons by their names on the wire (`Gpu.clock_event_reasons`),
# in NVML's bit order; a reason NVML adds later arrives as its hex bit.
CLOCK_EVENT_REASONS: tuple[str, ...] = (
    "gpu_idle",
    "applications_clocks_setting",
    "sw_power_cap",
    "hw_slowdown",
    "sync_boost",
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "display_clock_setting",
)


class WireModel(BaseModel):
    """Base for wire models: unknown fields from a newer collector are kept, not rejected."""

    model_config = ConfigDict(extra="allow", frozen=False)


class NvLink(WireModel):
    """One NVLink of a GPU, as the slow tier last read it. The error counters count since the
    driver loaded (or the counters were reset); None: NVML cannot tell them for this link."""

    link: int  # NVML's link index on this GPU
    active: bool
    replay_errors: int | None = None  # data-link replays: a packet sent again
    recovery_errors: int | None = None  # link recoveries: the link was retrained
    crc_flit_errors: int | None = None  # flits received with a bad CRC
    crc_data_errors: int | None = None  # data received with a bad CRC

    def error_counts(self) -> dict[str, int | None]:
        """The error counters by type: `replay`, `recovery`, `crc_flit`, `crc_data`."""
        return {
            name.removesuffix("_errors"): getattr(self, name)
            for name in type(self).model_fields
            if name.endswith("_errors")
        }


class Gpu(WireModel):
    index: int
    uuid: str
    name: str
    host: str | None = None  # set when several collectors are merged into one view
    exporter: Exporter | None = None  # set when read through Prometheus
    pci_bus_id: str | None = None
    compute_capability: str | None = None  # "9.0"
    health: GpuHealth = "ok"
    health_reason: str | None = None
    memory_total_mib: float | None = None
    memory_used_mib: float | None = None
    memory_free_mib: float | None = None
    memory_reserved_mib: float | None = None  # driver/firmware reserve (NVML memory v2)
    utilization_percent: float | None = None  # share of time a kernel ran
    memory_activity_percent: float | None = None  # share of time memory was read or written
    temperature_celsius: float | None = None
    temperature_slowdown_celsius: float | None = None
    temperature_shutdown_celsius: float | None = None
    power_watts: float | None = None
    power_limit_watts: float | None = None
    sm_clock_mhz: float | None = None
    sm_clock_max_mhz: float | None = None
    memory_clock_mhz: float | None = None
    memory_clock_max_mhz: float | None = None
    clock_event_reasons: list[str] = Field(default_factory=list)  # decoded names, e.g. sw_power_cap
    ecc_uncorrected_volatile: int | None = None
    xid_errors: int | None = None  # XID events seen since the collector started
    xid_last: int | None = None  # XID code of the newest of those events
    energy_joules: float | None = None  # since driver load (slow tier)
    pcie_tx_bytes_per_s: float | None = None  # only when enabled in config
    pcie_rx_bytes_per_s: float | None = None
    nvlink_active: bool | None = None  # one of its NVLinks is active (None: no NVLink known)
    nvlinks: list[NvLink] | None = None  # per link (slow tier); None: no NVLink, or not read yet
    # Rows of memory remapped to spares after errors (Ampere and newer; slow tier). The counts
    # persist across reboots; `pending`: a remap waits for a GPU reset, `failure`: none was
    # left to remap to.
    remapped_rows_correctable: int | None = None
    remapped_rows_uncorrectable: int | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None


class Attribution(WireModel):
    """Who a GPU process belongs to: process → container → model instance → app/team."""

    container_id: str | None = None
    container_name: str | None = None
    container_runtime: str | None = None  # docker, containerd, podman, kubernetes
    pod_uid: str | None = None
    engine: Engine = "unknown"
    model: str | None = None  # the served name: the same as the engine's own metrics show
    model_path: str | None = None  # where the engine loads it from, when that differs
    port: int | None = None
    app: str | None = None
    team: str | None = None
    unattributed_reason: str | None = None  # set when app/team could not be determined


class GpuProcess(WireModel):
    # 0: not known. Read through Prometheus (whose series carry no pid), one entry stands for
    # the processes of one app and container (or one pod) on one GPU.
    pid: int
    gpu_index: int
    gpu_uuid: str
    host: str | None = None
    kind: ProcessKind = "compute"
    name: str | None = None  # executable name
    cmdline: str | None = None  # joined, truncated
    user: str | None = None
    used_memory_mib: float | None = None  # None: NVML could not tell
    sm_utilization_percent: float | None = None
    memory_utilization_percent: float | None = None
    utilization_seen_at: float | None = None  # epoch seconds of NVML's last sample for it
    attribution: Attribution = Field(default_factory=Attribution)
    # Its engine reserves most of the GPU up front on purpose (vLLM, SGLang, TGI: a KV-cache
    # pool), so its memory is held by design, not leaked. None: not known (an older collector).
    reserved_by_engine: bool | None = None


class LatencySummary(WireModel):
    p50_s: float | None = None
    p90_s: float | None = None
    p99_s: float | None = None


class GgufArchitecture(WireModel):
    """A GGUF model's shape, from Ollama's `/api/show` `model_info` (`<arch>.block_count`, …):
    what sizing its KV cache and weights needs."""

    architecture: str
    parameter_count: int | None = None
    block_count: int | None = None
    embedding_length: int | None = None
    feed_forward_length: int | None = None
    head_count: int | None = None
    head_count_kv: int | None = None
    key_length: int | None = None  # per head; embedding_length / head_count when absent
    value_length: int | None = None
    expert_count: int | None = None  # MoE models only
    context_length: int | None = None  # the longest context it was trained for
    vocab_size: int | None = None


class LoadedModel(WireModel):
    """One model a multi-model server (Ollama) holds now (`/api/ps`), and its loads and unloads
    in the last hour as the collector saw them."""

    name: str
    digest: str | None = None
    size_mib: float  # all it holds: weights, KV cache, compute buffers
    vram_mib: float  # the part on GPUs; size_mib − vram_mib runs from CPU memory
    context_length: int | None = None  # the context it was loaded with (newer Ollama)
    expires_at: float | None = None  # epoch seconds: unloaded then unless a request comes
    family: str | None = None
    parameter_size: str | None = None  # as Ollama writes it: "8.0B"
    quantization_level: str | None = None  # the GGUF type: "Q4_K_M"
    architecture: GgufArchitecture | None = None
    loaded_at: float | None = None  # when the collector saw it appear; None: before it started
    loads_last_hour: int = 0
    unloads_last_hour: int = 0


class ModelEvent(WireModel):
    """A model appearing in (load) or leaving (unload) a multi-model server."""

    t: float
    model: str
    event: Literal["load", "unload"]


class EngineMetrics(WireModel):
    """A serving engine's own metrics, scraped from its /metrics (or Ollama /api/ps)."""

    engine: Engine
    model: str | None = None
    url: str
    host: str | None = None
    pids: list[int] = Field(default_factory=list)
    gpu_uuids: list[str] = Field(default_factory=list)
    app: str | None = None
    team: str | None = None
    scraped_at: float | None = None
    up: bool = False
    error: str | None = None
    requests_running: float | None = None
    requests_waiting: float | None = None
    kv_cache_usage_ratio: float | None = None
    preemptions_total: float | None = None
    preemptions_per_s: float | None = None
    prompt_tokens_total: float | None = None
    generation_tokens_total: float | None = None
    requests_per_s: float | None = None
    prompt_tokens_per_s: float | None = None
    generation_tokens_per_s: float | None = None
    time_to_first_token: LatencySummary | None = None
    e2e_latency: LatencySummary | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    kv_cache_size_tokens: int | None = None  # the KV pool the engine allocated, in tokens
    engine_version: str | None = None  # from the engine's /version (vLLM)
    loaded_models_vram_mib: dict[str, float] | None = None  # Ollama /api/ps
    loaded_models: list[LoadedModel] | None = None  # Ollama /api/ps, with /api/show shapes
    model_events: list[ModelEvent] = Field(default_factory=list)  # the last hour, oldest first
    queue_time: LatencySummary | None = None  # time requests waited before they ran
    prefix_caching_enabled: bool | None = None
    prefix_cache_hit_ratio: float | None = None  # share of prompt tokens served from the cache
    requests_swapped: float | None = None  # swapped out to CPU memory (vLLM before V1)


class Alert(WireModel):
    rule: str
    severity: Severity
    state: AlertState
    gpu_index: int | None = None
    gpu_uuid: str | None = None
    host: str | None = None
    message: str
    value: float | None = None
    threshold: float | None = None
    started_at: float  # condition first true (pending)
    fired_at: float | None = None
    resolved_at: float | None = None


class AlertDelivery(Alert):
    """One alert state change as the collector POSTs it to a webhook target: the alert as
    `/v1/alerts` shows it, plus what a receiver needs without calling back. The body is the
    same for every attempt; receivers dedupe on `delivery_id`."""

    schema_version: int = SCHEMA_VERSION
    service: str = SERVICE_NAME
    delivery_id: str
    source: Source
    gpu_name: str | None = None
    dashboard_url: str | None = None


def _firing_and_resolved() -> list[AlertState]:
    return ["firing", "resolved"]


class WebhookSpec(WireModel):
    """A webhook target: `notify.webhooks` entries and the body of `POST /v1/webhooks`.

    `secret` is write-only: the collector signs with it and never shows it again."""

    model_config = ConfigDict(extra="forbid")  # a typo is an error, not a silently unused key

    url: str
    secret: str | None = None
    events: list[AlertState] = Field(default_factory=_firing_and_resolved, min_length=1)
    min_severity: Severity = "warning"
    rules: list[str] = Field(default_factory=list)  # rule ids; empty: every rule


class Webhook(WireModel):
    """A webhook target as `GET /v1/webhooks` shows it: everything but the secret."""

    id: str
    origin: WebhookOrigin
    url: str
    signed: bool  # it has a secret, so every delivery carries a signature
    events: list[AlertState]
    min_severity: Severity
    rules: list[str] = Field(default_factory=list)
    created_at: float | None = None  # None for targets from the config file


class WebhookList(WireModel):
    host: str
    webhooks: list[Webhook] = Field(default_factory=list)


class Snapshot(WireModel):
    schema_version: int = SCHEMA_VERSION
    service: str = SERVICE_NAME
    host: str
    source: Source
    collected_at: float  # epoch seconds
    health: HealthStatus = "ok"
    health_reason: str | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    nvml_version: str | None = None
    sample_duration_s: float | None = None
    prometheus_url: str | None = None  # read through this Prometheus (no credentials)
    gpus: list[Gpu] = Field(default_factory=list)
    processes: list[GpuProcess] = Field(default_factory=list)
    engines: list[EngineMetrics] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)


class GpuDetail(WireModel):
    """`GET /v1/gpus/{index or uuid}`: one GPU with its processes, engines and alerts."""

    schema_version: int = SCHEMA_VERSION
    service: str = SERVICE_NAME
    host: str
    source: Source
    collected_at: float
    gpu: Gpu
    processes: list[GpuProcess] = Field(default_factory=list)
    engines: list[EngineMetrics] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)


class Health(WireModel):
    """`GET /healthz`: no token needed, so nothing about processes."""

    status: HealthStatus
    service: str = SERVICE_NAME
    api_version: str = API_VERSION
    schema_version: int = SCHEMA_VERSION
    source: Source
    gpu_count: int
    last_sample_age_s: float | None = None
    reason: str | None = None


class HistoryPoint(WireModel):
    t: float
    utilization_percent: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    temperature_celsius: float | None = None
    power_watts: float | None = None


class GpuHistory(WireModel):
    gpu_index: int
    gpu_uuid: str
    host: str | None = None  # set when read through Prometheus
    points: list[HistoryPoint] = Field(default_factory=list)


class History(WireModel):
    host: str
    source: Source
    resolution_s: float
    from_t: float
    to_t: float
    prometheus_url: str | None = None  # read through this Prometheus (no credentials)
    gpus: list[GpuHistory] = Field(default_factory=list)


class UsageRow(WireModel):
    group: str  # the group_by value ("unattributed" when unknown)
    gpu_seconds: float
    gpu_hours: float
    memory_mib_seconds: float
    energy_joules: float
    share_methods: list[ShareMethod] = Field(default_factory=list)
    # Seconds of a GPU held while it was at most IDLE_UTILIZATION_PERCENT busy, split between
    # the processes holding memory on it by their memory. None: not known (an older collector).
    idle_held_gpu_seconds: float | None = None


# The most steps one usage report is cut into: 7 days in 10-minute steps.
MAX_USAGE_BUCKETS = 1000


class UsageBucket(WireModel):
    """One step of a usage report asked for in steps (`bucket_s`): its rows, same grouping."""

    from_t: float
    to_t: float
    rows: list[UsageRow] = Field(default_factory=list)


class HolderUsage(WireModel):
    """Who held memory on one GPU over a report's window (one app × team × container × model of
    the books), the most it held at once and the GPU time it kept."""

    app: str | None = None
    team: str | None = None
    container: str | None = None
    model: str | None = None
    engine: Engine = "unknown"
    peak_memory_mib: float  # its processes on this GPU together, in one sample
    gpu_seconds: float  # of the GPU's busy time, its share
    idle_held_gpu_seconds: float  # of the GPU's idle time while held, its share by memory


class GpuUsage(WireModel):
    """One GPU over a report's window: how long it was watched, how busy and how full it got,
    and its holders (largest first)."""

    gpu_uuid: str
    host: str | None = None  # set when several collectors are merged
    name: str | None = None
    memory_total_mib: float | None = None
    observed_seconds: float  # sampled time inside the window
    busy_gpu_seconds: float
    idle_held_gpu_seconds: float  # at most IDLE_UTILIZATION_PERCENT busy with memory held
    peak_memory_used_mib: float | None = None
    peak_utilization_percent: float | None = None
    holders: list[HolderUsage] = Field(default_factory=list)


class UsageReport(WireModel):
    host: str
    source: Source
    from_t: float
    to_t: float
    group_by: GroupBy
    prometheus_url: str | None = None  # read through this Prometheus (no credentials)
    # Through Prometheus: the series the sums read, the counters or the recording rules' copy.
    usage_series: UsageSeries | None = None
    rows: list[UsageRow] = Field(default_factory=list)
    total_gpu_hours: float = 0.0
    total_energy_joules: float = 0.0
    # With `bucket_s`: the window in steps of that length from `from_t`, oldest first.
    buckets: list[UsageBucket] = Field(default_factory=list)
    # The price per GPU-hour the collector's configuration names; None: none set.
    price_per_gpu_hour: float | None = None
    # Per GPU over the window, whatever the grouping (an older collector sends none).
    gpus: list[GpuUsage] = Field(default_factory=list)


class AlertList(WireModel):
    host: str
    source: Source
    alerts: list[Alert] = Field(default_factory=list)
