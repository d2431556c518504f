"""Deployment files: they parse, and they give the collector what it needs to attribute PIDs."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def kubernetes_objects() -> dict[str, Any]:
    documents = yaml.safe_load_all((DEPLOY / "kubernetes" / "daemonset.yaml").read_text())
    return {doc["kind"]: doc for doc in documents}


def test_compose_service_shares_the_host_pid_namespace_and_gets_gpus() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yaml").read_text())
    service = compose["services"]["gpu-insight-collector"]
    assert service["pid"] == "host"
    (devices,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices["driver"] == "nvidia" and "gpu" in devices["capabilities"]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in service["volumes"]
    assert service["environment"]["GPU_INSIGHT_TOKEN"].startswith("${GPU_INSIGHT_TOKEN:?")


def test_daemonset_runs_in_the_host_pid_namespace_on_gpu_nodes_only() -> None:
    pod = kubernetes_objects()["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    (container,) = pod["containers"]
    token = next(e for e in container["env"] if e["name"] == "GPU_INSIGHT_TOKEN")
    assert "secretKeyRef" in token["valueFrom"]


def test_service_monitor_scrapes_the_service_port_with_the_token() -> None:
    objects = kubernetes_objects()
    service_port = objects["Service"]["spec"]["ports"][0]["name"]
    (endpoint,) = objects["ServiceMonitor"]["spec"]["endpoints"]
    assert endpoint["port"] == service_port
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"]["name"] == "gpu-insight-token"


def test_systemd_unit_starts_the_console_script_and_keeps_state() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(DEPLOY / "systemd" / "gpu-insight-collector.service")
    service = unit["Service"]
    assert service["ExecStart"].split()[0].endswith("/gpu-insight-collector")
    assert service["StateDirectory"] == "gpu-insight"
    assert service["RestartPreventExitStatus"] == "2"  # a config error is not retried
