"""Alert deliveries and Alertmanager messages as their senders write them, for the trigger tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from gpu_insight.schemas import AlertDelivery
from tests.triggers.test_signature import documented_signature

SECRET = "a-subscription-secret-0123456789"
NOW = 1_760_000_000.0


def delivery(**fields: Any) -> AlertDelivery:
    values: dict[str, Any] = {
        "rule": "gpu_memory_high",
        "severity": "warning",
        "state": "firing",
        "gpu_index": 0,
        "gpu_uuid": "GPU-00000000-1111-2222-3333-000000000000",
        "host": "gpu-node-1",
        "message": "GPU 0 memory 93.1 % used (75930 of 81559 MiB) > 90 %",
        "value": 93.1,
        "threshold": 90.0,
        "started_at": NOW - 70,
        "fired_at": NOW - 10,
        "delivery_id": "0b4d2c9e-5a6f-5e1d-9d3b-1f1f7c0e9a01",
        "source": "replay",
        "gpu_name": "NVIDIA H100 80GB HBM3",
        "dashboard_url": "http://gpu-node-1:9470/",
    }
    values.update(fields)
    return AlertDelivery(**values)


def signed(body: bytes, secret: str = SECRET, at: float = NOW) -> dict[str, str]:
    timestamp = str(int(at))
    return {
        "X-GPU-Insight-Timestamp": timestamp,
        "X-GPU-Insight-Signature": documented_signature(secret, timestamp, body),
    }


def alertmanager_group() -> dict[str, Any]:
    """A group of three GPU Insight alerts: two firing, one resolved."""

    def alert(status: str, gpu: str, uuid: str, ends_at: str) -> dict[str, Any]:
        return {
            "status": status,
            "labels": {
                "alertname": "GpuMemoryHigh",
                "rule": "gpu_memory_high",
                "severity": "warning",
                "instance": "gpu-node-2:9470",
                "gpu": gpu,
                "uuid": uuid,
            },
            "annotations": {
                "summary": f"GPU {gpu} memory above 90 % for 1 minute",
                "description": f"GPU {gpu} ({uuid}) on gpu-node-2:9470 is 93 % full.",
            },
            "startsAt": "2025-11-20T10:00:00.123456789Z",
            "endsAt": ends_at,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=gpu_memory_used_bytes",
            "fingerprint": f"f{gpu}",
        }

    return {
        "version": "4",
        "groupKey": '{}:{alertname="GpuMemoryHigh"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "dify",
        "groupLabels": {"alertname": "GpuMemoryHigh"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            alert("firing", "0", "GPU-aaaa", "0001-01-01T00:00:00Z"),
            alert("firing", "1", "GPU-bbbb", "0001-01-01T00:00:00Z"),
            alert("resolved", "2", "GPU-cccc", "2025-11-20T10:05:00Z"),
        ],
    }


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
