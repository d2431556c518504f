"""What a collector of the eight-GPU host would answer, built from the synthetic fleet trace and
served to the page through Playwright routes: the page under a heavy, exactly known load."""

from __future__ import annotations

import json
import math
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, Route

from gpu_insight.answers.advice import answer_advice, parse_advice_query
from gpu_insight.schemas import (
    Alert,
    AlertList,
    GpuHistory,
    History,
    HistoryPoint,
    Snapshot,
    UsageBucket,
    UsageReport,
    UsageRow,
)
from gpu_insight.sources.fleet import Gathered
from gpu_insight.sources.merge import (
    merge_alert_lists,
    merge_histories,
    merge_snapshots,
    merge_usage,
)
from tests.support.synthetic_trace import fleet_snapshot

FINE_RETENTION_S = 900  # the collector's defaults: 1 s points up to 15 min, then 10 s
COARSE_RESOLUTION_S = 10
HOUR_S = 3600


class FleetAnswers:
    """Answers for eight-GPU hosts with `processes_per_gpu` processes on each GPU, as of the
    moment each request arrives (every snapshot moves a little, as a live host's do); several
    hosts are merged as the plugin merges its collectors."""

    def __init__(
        self, hosts: tuple[str, ...] = ("gpu-fleet-1",), processes_per_gpu: int = 1
    ) -> None:
        self.hosts = hosts
        self.processes_per_gpu = processes_per_gpu
        self.requests: list[str] = []

    def snapshot(self, now: float) -> Snapshot:
        return merge_snapshots([self._host_snapshot(host, now) for host in self.hosts])

    def _host_snapshot(self, host: str, now: float) -> Snapshot:
        snapshot = fleet_snapshot(int(now), host, self.processes_per_gpu)
        snapshot.collected_at = now
        snapshot.alerts = [a for a in self._host_alerts(host, now).alerts if a.state != "resolved"]
        return snapshot

    def history(self, now: float, seconds: float, step_s: float | None = None) -> History:
        return merge_histories(
            [self._host_history(host, now, seconds, step_s) for host in self.hosts]
        )

    def alerts(self, now: float) -> AlertList:
        return merge_alert_lists([self._host_alerts(host, now) for host in self.hosts])

    def usage(
        self, now: float, from_t: float, to_t: float, group_by: str, bucket_s: int
    ) -> UsageReport:
        return merge_usage(
            [self._host_usage(host, from_t, to_t, group_by, bucket_s) for host in self.hosts]
        )

    def _host_history(self, host: str, now: float, seconds: float, step_s: float | None) -> History:
        """As the collector answers: its tier's points, in whole multiples of them when a step
        is asked (a smooth day, so a step's first point stands for its mean)."""
        tier = 1 if seconds <= FINE_RETENTION_S else COARSE_RESOLUTION_S
        resolution = tier * max(1, math.ceil((step_s or tier) / tier))
        base = fleet_snapshot(0, host)
        first = math.floor((now - seconds) / resolution) * resolution
        times = [first + i * resolution for i in range(int((now - first) // resolution) + 1)]
        gpus = []
        for gpu in base.gpus:
            day = gpu.index / 8 * 2 * math.pi
            points = [
                HistoryPoint(
                    t=t,
                    utilization_percent=max(
                        0.0,
                        min(100.0, (gpu.utilization_percent or 0) + 10 * math.sin(t / 7200 + day)),
                    ),
                    memory_used_mib=gpu.memory_used_mib,
                    memory_total_mib=gpu.memory_total_mib,
                )
                for t in times
            ]
            gpus.append(GpuHistory(gpu_index=gpu.index, gpu_uuid=gpu.uuid, points=points))
        return History(
            host=host,
            source="replay",
            resolution_s=resolution,
            from_t=now - seconds,
            to_t=now,
            gpus=gpus,
        )

    def _host_alerts(self, host: str, now: float) -> AlertList:
        """GPU 6 runs hot: a warning firing for the last 40 minutes; GPU 0's memory was high
        for an hour, six hours ago (resolved)."""
        base = fleet_snapshot(0, host)
        hot, full = base.gpus[6], base.gpus[0]
        return AlertList(
            host=host,
            source="replay",
            alerts=[
                Alert(
                    rule="gpu_temperature_near_slowdown",
                    severity="warning",
                    state="firing",
                    gpu_index=6,
                    gpu_uuid=hot.uuid,
                    host=host,
                    message="GPU 6 at 84 °C, within 5 °C of its slowdown temperature 87 °C",
                    started_at=now - 2460,
                    fired_at=now - 2400,
                ),
                Alert(
                    rule="gpu_memory_high",
                    severity="warning",
                    state="resolved",
                    gpu_index=0,
                    gpu_uuid=full.uuid,
                    host=host,
                    message="GPU 0 memory 96 % > 90 %",
                    started_at=now - 6 * HOUR_S,
                    fired_at=now - 6 * HOUR_S + 60,
                    resolved_at=now - 5 * HOUR_S,
                ),
            ],
        )

    def _host_usage(
        self, host: str, from_t: float, to_t: float, group_by: str, bucket_s: int
    ) -> UsageReport:
        """The tenants' GPU-hours per step: busy time by utilization, idle-held by memory."""
        snapshot = fleet_snapshot(0, host)
        steps = max(1, math.ceil((to_t - from_t) / bucket_s))
        buckets = []
        for n in range(steps):
            start, end = from_t + n * bucket_s, min(to_t, from_t + (n + 1) * bucket_s)
            buckets.append(
                UsageBucket(from_t=start, to_t=end, rows=_rows(snapshot, group_by, end - start))
            )
        return UsageReport(
            host=host,
            source="replay",
            from_t=from_t,
            to_t=to_t,
            group_by=group_by,  # type: ignore[arg-type]
            rows=_rows(snapshot, group_by, to_t - from_t),
            buckets=buckets,
            price_per_gpu_hour=2.5,
        )

    def install(self, page: Page) -> None:
        """Answers the page's data requests from here; the page and its assets stay real."""
        page.route("**/v1/**", self._answer)

    def _answer(self, route: Route) -> None:
        url = urlsplit(route.request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.requests.append(url.path + (f"?{url.query}" if url.query else ""))
        now = time.time()
        body: Any
        if url.path.endswith("/v1/snapshot"):
            body = self.snapshot(now)
        elif url.path.endswith("/v1/history"):
            step = query.get("step_s")
            body = self.history(
                now, float(query.get("seconds", 900)), float(step) if step is not None else None
            )
        elif url.path.endswith("/v1/alerts"):
            body = self.alerts(now)
        elif url.path.endswith("/v1/usage"):
            body = self.usage(
                now,
                float(query["from"]),
                float(query["to"]),
                query.get("group_by", "app"),
                int(query.get("bucket_s", HOUR_S)),
            )
        elif url.path.endswith("/v1/advice"):
            advice = answer_advice(parse_advice_query(query), Gathered(self.snapshot(now)))
            route.fulfill(json=json.loads(json.dumps(advice.as_json())))
            return
        else:
            route.fulfill(status=404, json={"error": "not_found", "message": "no such route"})
            return
        route.fulfill(body=body.model_dump_json(), content_type="application/json")


def _rows(snapshot: Snapshot, group_by: str, seconds: float) -> list[UsageRow]:
    busy: dict[str, float] = {}
    held: dict[str, float] = {}
    by_uuid = {g.uuid: g for g in snapshot.gpus}
    servers = [p for p in snapshot.processes if p.pid % 1000 == 0]
    for process in servers:
        gpu = by_uuid[process.gpu_uuid]
        group = getattr(process.attribution, group_by, None) or "unattributed"
        utilization = gpu.utilization_percent or 0.0
        busy[group] = busy.get(group, 0.0) + utilization / 100 * seconds
        if utilization <= 5:
            held[group] = held.get(group, 0.0) + seconds
    return sorted(
        (
            UsageRow(
                group=group,
                gpu_seconds=gpu_s,
                gpu_hours=gpu_s / HOUR_S,
                memory_mib_seconds=0.0,
                energy_joules=gpu_s * 400,
                idle_held_gpu_seconds=held.get(group, 0.0),
            )
            for group, gpu_s in busy.items()
        ),
        key=lambda row: -row.gpu_seconds,
    )
