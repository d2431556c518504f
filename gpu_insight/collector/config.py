"""Collector configuration: command-line flags over an optional YAML file, validated by pydantic.

`deploy/collector.example.yaml` is the commented example of every key.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gpu_insight.schemas import WebhookSpec


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo in the YAML is an error, not ignored


class SamplingConfig(Section):
    fast_interval_s: float = Field(default=1.0, gt=0, le=60)
    process_utilization_interval_s: float = Field(default=5.0, gt=0, le=300)
    slow_interval_s: float = Field(default=30.0, gt=0, le=600)
    pcie_throughput: bool = False  # blocks ~20 ms per GPU and direction: opt-in


class AttributionRule(Section):
    """Assigns app/team to processes whose container name, model or command line matches."""

    match_container: str | None = None  # regular expressions
    match_model: str | None = None
    match_cmdline: str | None = None
    app: str | None = None
    team: str | None = None


class AttributionConfig(Section):
    proc_root: str = "/proc"
    docker_socket: str = "/var/run/docker.sock"
    docker_timeout_s: float = Field(default=0.5, gt=0, le=10)
    app_label_keys: list[str] = Field(default_factory=lambda: ["gpu-insight.app"])
    team_label_keys: list[str] = Field(default_factory=lambda: ["gpu-insight.team"])
    rules: list[AttributionRule] = Field(default_factory=list)


class EngineTarget(Section):
    """An extra Prometheus target (e.g. a user's OCR service) with the labels to give it."""

    url: str
    engine: str = "unknown"
    model: str | None = None
    app: str | None = None
    team: str | None = None


class EnginesConfig(Section):
    enabled: bool = True
    interval_s: float = Field(default=5.0, gt=0, le=300)
    timeout_s: float = Field(default=1.0, gt=0, le=10)
    window_s: float = Field(default=300.0, gt=0, le=3600)  # rates and percentiles over this window
    extra_targets: list[EngineTarget] = Field(default_factory=list)


class AlertRuleOverride(Section):
    enabled: bool | None = None
    threshold: float | None = None
    for_s: float | None = Field(default=None, ge=0)
    # The condition must be false this long before the alert resolves.
    resolve_after_s: float | None = Field(default=None, ge=0)


class AlertsConfig(Section):
    rules: dict[str, AlertRuleOverride] = Field(default_factory=dict)
    stale_after_s: float = Field(default=30.0, gt=0)


class AccountingConfig(Section):
    db_path: str = ".gpu-insight/usage.sqlite3"
    retention_days: int = Field(default=90, ge=1, le=3650)
    # What one GPU-hour costs, in your currency; usage reports carry it so cost can be shown.
    price_per_gpu_hour: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class HistoryConfig(Section):
    fine_resolution_s: float = Field(default=1.0, gt=0)
    fine_retention_s: float = Field(default=900.0, gt=0)
    coarse_resolution_s: float = Field(default=10.0, gt=0)
    coarse_retention_s: float = Field(default=86400.0, gt=0)


class ProjectToken(Section):
    """A token that sees only the processes, containers and usage of the listed apps."""

    token: str = Field(min_length=8)
    apps: list[str] = Field(min_length=1)


class AuthConfig(Section):
    token: str | None = None  # admin token
    project_tokens: list[ProjectToken] = Field(default_factory=list)


class ServerConfig(Section):
    """What the HTTP server lets clients hold: slow, idle or too many of them are cut off."""

    # Past this many requests being answered, others get 503 + Retry-After at once instead of
    # queueing; /healthz is never refused.
    max_in_flight_requests: int = Field(default=128, ge=1, le=4096)
    # past it a new connection gets 503 and is closed
    max_connections: int = Field(default=256, ge=1, le=65536)
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)  # for a request's line and headers
    # how long a kept-alive connection may sit between requests
    idle_timeout_s: int = Field(default=5, ge=1, le=3600)
    # Access log: off, path (client, method, path, status; no query string) or full (with it).
    access_log: Literal["off", "path", "full"] = "path"


class NotifyConfig(Section):
    """Where alert state changes are POSTed, signed, and how hard the collector tries."""

    webhooks: list[WebhookSpec] = Field(default_factory=list)
    dashboard_url: str | None = None  # the link in every delivery; default http://<host>:<port>/
    # per attempt, connection and answer together
    timeout_s: float = Field(default=10.0, gt=0, le=10)
    backoff_initial_s: float = Field(default=1.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=300.0, gt=0, le=3600)
    give_up_after_s: float = Field(default=86400.0, gt=0, le=86400)
    queue_size: int = Field(default=1000, ge=1, le=100_000)  # alert changes waiting for the outbox


class CollectorConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9470, ge=1, le=65535)
    hostname: str | None = None  # name reported in answers; defaults to the machine's
    replay: str | None = None  # trace file: replay instead of NVML
    # With replay: fill the history and the usage books as if the trace had played for the
    # history's retention, so a dashboard opened at start shows the trace's busy and idle
    # phases and its cost per app at once.
    replay_fills_history: bool = True
    record: str | None = None  # append every published snapshot to this JSON-lines file
    auth: AuthConfig = Field(default_factory=AuthConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    attribution: AttributionConfig = Field(default_factory=AttributionConfig)
    engines: EnginesConfig = Field(default_factory=EnginesConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    accounting: AccountingConfig = Field(default_factory=AccountingConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

    @field_validator("host")
    @classmethod
    def _host_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("host must not be empty")
        return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid; the text says which key."""


def load_config_file(path: str | Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def build_config(file_data: dict, overrides: dict) -> CollectorConfig:
    """Merges flags (overrides, None = not given) over the file's values and validates."""
    merged = dict(file_data)
    auth = dict(merged.get("auth") or {})
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "token":
            auth["token"] = value
        else:
            merged[key] = value
    if auth:
        merged["auth"] = auth
    try:
        return CollectorConfig.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
