"""Serving the collector API for tests: a runtime over a store the test publishes into, small
honest implementations of the alert, usage and engine interfaces, and real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
import uvicorn

from gpu_insight.collector.api import build_app
from gpu_insight.collector.config import AuthConfig, CollectorConfig, ProjectToken
from gpu_insight.collector.history import HistoryBuffer
from gpu_insight.collector.http_server import CollectorServerConfig
from gpu_insight.collector.runtime import CollectorRuntime, SelfMetrics
from gpu_insight.collector.store import SnapshotStore
from gpu_insight.collector.usage_split import UsageKey
from gpu_insight.collector.usage_totals import UsageTotal
from gpu_insight.schemas import (
    Alert,
    Attribution,
    EngineMetrics,
    GpuProcess,
    GroupBy,
    Snapshot,
    UsageReport,
    UsageRow,
)
from tests.support.h100 import h100_gpu

ADMIN_TOKEN = "admin-token-0123456789"
PROJECT_TOKEN = "project-token-support-bot"
PROJECT_APPS = ["support-bot"]
HOST = "gpu-node-7"
NOW = 1_760_000_000.0
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

GPU0_UUID = "GPU-aaaaaaaa-0000-0000-0000-000000000000"
GPU1_UUID = "GPU-bbbbbbbb-1111-1111-1111-111111111111"
VLLM_CONTAINER_ID = "f00d" * 16


def sample_snapshot(collected_at: float = NOW - 0.5) -> Snapshot:
    """Two GPUs: GPU 0 serves `support-bot` (a vLLM server and its tokenizer worker in one
    container), GPU 1 holds the `search` app's TGI server and an unattributed script."""
    gpu0 = h100_gpu(
        0,
        uuid=GPU0_UUID,
        pci_bus_id="00000000:19:00.0",
        memory_used_mib=71512.0,
        memory_free_mib=9535.0,
        memory_reserved_mib=512.0,
        utilization_percent=87.0,
        memory_activity_percent=41.0,
        temperature_celsius=63.0,
        power_watts=523.5,
        sm_clock_mhz=1980.0,
        memory_clock_mhz=2619.0,
        clock_event_reasons=["sw_power_cap"],
        ecc_uncorrected_volatile=0,
        xid_errors=2,
        energy_joules=123456.5,
    )
    gpu1 = h100_gpu(
        1,
        uuid=GPU1_UUID,
        pci_bus_id="00000000:3B:00.0",
        health="degraded",
        health_reason="ECC errors pending",
        memory_used_mib=30000.0,
        memory_free_mib=51047.0,
        memory_reserved_mib=512.0,
        utilization_percent=12.0,
        temperature_celsius=41.0,
        power_watts=150.0,
    )
    support_bot = Attribution(
        container_id=VLLM_CONTAINER_ID,
        container_name="vllm-llama",
        container_runtime="docker",
        engine="vllm",
        model="meta-llama/Llama-3.1-8B-Instruct",
        port=8000,
        app="support-bot",
        team="platform",
    )
    processes = [
        GpuProcess(
            pid=4242,
            gpu_index=0,
            gpu_uuid=GPU0_UUID,
            name="python3",
            cmdline="python3 -m vllm.entrypoints.openai.api_server --model "
            "meta-llama/Llama-3.1-8B-Instruct",
            used_memory_mib=70000.0,
            sm_utilization_percent=80.0,
            attribution=support_bot,
        ),
        GpuProcess(
            pid=4243,
            gpu_index=0,
            gpu_uuid=GPU0_UUID,
            name="python3",
            used_memory_mib=1000.0,
            sm_utilization_percent=5.0,
            attribution=support_bot,
        ),
        GpuProcess(
            pid=777,
            gpu_index=1,
            gpu_uuid=GPU1_UUID,
            name="text-generation-launcher",
            used_memory_mib=20000.0,
            attribution=Attribution(
                container_name="tgi-search", engine="tgi", model="BAAI/bge-m3", app="search"
            ),
        ),
        GpuProcess(
            pid=5151,
            gpu_index=1,
            gpu_uuid=GPU1_UUID,
            name="python",
            cmdline="python train.py",
            used_memory_mib=9000.0,
            sm_utilization_percent=7.0,
            attribution=Attribution(unattributed_reason="no container and no rule matched"),
        ),
    ]
    engines = [
        EngineMetrics(
            engine="vllm",
            model="meta-llama/Llama-3.1-8B-Instruct",
            url="http://127.0.0.1:8000/metrics",
            pids=[4242],
            gpu_uuids=[GPU0_UUID],
            app="support-bot",
            team="platform",
            up=True,
            requests_running=3.0,
            requests_waiting=1.0,
            kv_cache_usage_ratio=0.42,
            requests_per_s=2.5,
            generation_tokens_per_s=310.0,
            preemptions_total=4.0,
        ),
        EngineMetrics(
            engine="tgi",
            model="BAAI/bge-m3",
            url="http://127.0.0.1:8080/metrics",
            gpu_uuids=[GPU1_UUID],
            app="search",
            up=False,
            error="connection refused",
        ),
    ]
    alerts = [
        Alert(
            rule="gpu_memory_high",
            severity="warning",
            state="firing",
            gpu_index=0,
            gpu_uuid=GPU0_UUID,
            message="GPU 0 memory above 85 % for 1 min",
            value=87.7,
            threshold=85.0,
            started_at=NOW - 120,
            fired_at=NOW - 60,
        )
    ]
    return Snapshot(
        host=HOST,
        source="replay",
        collected_at=collected_at,
        driver_version="550.90.07",
        cuda_version="12.4",
        sample_duration_s=0.0042,
        gpus=[gpu0, gpu1],
        processes=processes,
        engines=engines,
        alerts=alerts,
    )


class ListedAlerts:
    """AlertSource over fixed lists: the active alerts and the resolved ones."""

    def __init__(self, active: list[Alert], resolved: list[Alert]) -> None:
        self.active = active
        self.resolved = resolved

    def evaluate(self, snapshot: Snapshot) -> list[Alert]:
        return list(self.active)

    def alerts(self, *, include_resolved: bool = False) -> list[Alert]:
        return [*self.active, *(self.resolved if include_resolved else [])]


@dataclass
class UsageCall:
    from_t: float
    to_t: float
    group_by: GroupBy
    apps: set[str] | None
    bucket_s: int | None = None


@dataclass
class TabledUsage:
    """UsageSource over a table of GPU-hours per app; remembers every call it answered."""

    gpu_hours_by_app: dict[str, float]
    calls: list[UsageCall] = field(default_factory=list)

    def add(self, snapshot: Snapshot) -> None:
        return None

    def report(
        self,
        *,
        from_t: float,
        to_t: float,
        group_by: GroupBy,
        apps: set[str] | None = None,
        bucket_s: int | None = None,
    ) -> UsageReport:
        self.calls.append(UsageCall(from_t, to_t, group_by, apps, bucket_s))
        rows = [
            UsageRow(
                group=app,
                gpu_seconds=hours * 3600,
                gpu_hours=hours,
                memory_mib_seconds=0.0,
                energy_joules=0.0,
            )
            for app, hours in sorted(self.gpu_hours_by_app.items())
            if apps is None or app in apps
        ]
        return UsageReport(
            host=HOST,
            source="replay",
            from_t=from_t,
            to_t=to_t,
            group_by=group_by,
            rows=rows,
            total_gpu_hours=sum(r.gpu_hours for r in rows),
        )

    def totals(self) -> list[UsageTotal]:
        """The table's hours as running totals, all on GPU 0."""
        return [
            UsageTotal(UsageKey(GPU0_UUID, app=app), hours * 3600, 0.0, 0.0)
            for app, hours in sorted(self.gpu_hours_by_app.items())
        ]


class NoEngines:
    """EngineSource that knows no engines (the snapshot carries the engines these tests use)."""

    def observe(self, processes: list[GpuProcess]) -> None:
        return None

    def latest(self) -> list[EngineMetrics]:
        return []


def make_runtime(
    *, admin_token: str | None = ADMIN_TOKEN, with_project: bool = True
) -> CollectorRuntime:
    project_tokens = [ProjectToken(token=PROJECT_TOKEN, apps=PROJECT_APPS)] if with_project else []
    config = CollectorConfig(
        hostname=HOST, auth=AuthConfig(token=admin_token, project_tokens=project_tokens)
    )
    resolved = Alert(
        rule="gpu_temperature_high",
        severity="warning",
        state="resolved",
        gpu_index=1,
        gpu_uuid=GPU1_UUID,
        message="GPU 1 temperature back below 80 °C",
        started_at=NOW - 900,
        fired_at=NOW - 800,
        resolved_at=NOW - 700,
    )
    return CollectorRuntime(
        config=config,
        hostname=HOST,
        source="replay",
        store=SnapshotStore(),
        history=HistoryBuffer(config.history),
        alerts=ListedAlerts(sample_snapshot().alerts, [resolved]),
        usage=TabledUsage({"support-bot": 12.5, "search": 3.0, "unattributed": 1.0}),
        engines=NoEngines(),
        self_metrics=SelfMetrics(),
        started_at=NOW - 3600,
    )


def publish(runtime: CollectorRuntime, snapshot: Snapshot) -> None:
    """What the sampler does each tick: count the sample, then publish to store and history."""
    runtime.self_metrics.record_sample(snapshot.collected_at, snapshot.sample_duration_s or 0.0)
    runtime.store.publish(snapshot)


class ServedApi:
    """`build_app(runtime)` under the collector's server on a free loopback port, in a thread."""

    def __init__(self, runtime: CollectorRuntime, clock: float = NOW) -> None:
        runtime.store.subscribe(runtime.history.add)
        self.runtime = runtime
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every answer waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        app = build_app(runtime, clock=lambda: clock)
        config = CollectorServerConfig(
            app, runtime.config.server, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self.session = requests.Session()

    def __enter__(self) -> ServedApi:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.session.close()
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        self._socket.close()

    def get(
        self,
        path: str,
        token: str | None = ADMIN_TOKEN,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return self.session.get(self.url + path, headers=sent, timeout=5, **kwargs)

    def post(self, path: str, body: bytes, token: str | None = ADMIN_TOKEN) -> requests.Response:
        sent = {"Content-Type": "application/json"}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return self.session.post(self.url + path, data=body, headers=sent, timeout=30)


@contextmanager
def serving_a_sample(runtime: CollectorRuntime | None = None) -> Iterator[ServedApi]:
    """The API over `runtime` (by default `make_runtime()`) with `sample_snapshot()` published."""
    runtime = runtime or make_runtime()
    with ServedApi(runtime) as served:
        publish(runtime, sample_snapshot())
        yield served
