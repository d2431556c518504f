"""A real Prometheus server scrapes the collector with the shipped scrape config."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.collector.api_support import (
    ADMIN_TOKEN,
    GPU0_UUID,
    ServedApi,
    make_runtime,
    publish,
    sample_snapshot,
)
from tests.support.collector_process import PLUGIN_ROOT
from tests.support.prometheus_server import PROMETHEUS, PrometheusServer

pytestmark = pytest.mark.prometheus

SCRAPE_EXAMPLE = PLUGIN_ROOT / "deploy" / "prometheus" / "prometheus-scrape.example.yaml"
PROMTOOL = shutil.which("promtool")
SCRAPED_TIMEOUT_S = 30.0
MIB = 1024 * 1024


def config_for(collector_url: str, token_file: Path) -> dict[str, Any]:
    """The shipped example, pointed at the test collector, scraping every second."""
    config = yaml.safe_load(SCRAPE_EXAMPLE.read_text())
    (job,) = config["scrape_configs"]
    job["scrape_interval"] = "1s"
    job["scrape_timeout"] = "1s"
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"][0]["targets"] = [urllib.parse.urlsplit(collector_url).netloc]
    return config


@pytest.fixture
def collector() -> Iterator[ServedApi]:
    runtime = make_runtime()
    with ServedApi(runtime) as served:
        publish(runtime, sample_snapshot(collected_at=time.time()))
        yield served


@pytest.fixture
def prometheus(collector: ServedApi, tmp_path: Path) -> Iterator[PrometheusServer]:
    if PROMETHEUS is None:
        pytest.skip("the prometheus server is not installed (apt-get install prometheus)")
    token_file = tmp_path / "gpu-insight.token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    token_file.chmod(0o600)
    with PrometheusServer(config_for(collector.url, token_file), tmp_path / "server") as server:
        yield server


def test_shipped_scrape_example_is_a_valid_prometheus_config() -> None:
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    result = subprocess.run(
        [PROMTOOL, "check", "config", "--syntax-only", str(SCRAPE_EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_collector_with_its_token(prometheus: PrometheusServer) -> None:
    up = prometheus.wait_for(
        lambda: [r for r in prometheus.query('up{job="gpu-insight"}') if r["value"][1] == "1"],
        SCRAPED_TIMEOUT_S,
        "up == 1 for the collector",
    )
    assert len(up) == 1
    memory = prometheus.wait_for(
        lambda: prometheus.query("gpu_memory_used_bytes"), SCRAPED_TIMEOUT_S, "GPU memory"
    )
    by_uuid = {r["metric"]["uuid"]: float(r["value"][1]) for r in memory}
    assert by_uuid[GPU0_UUID] == 71512 * MIB
    assert memory[0]["metric"]["cluster"] == "inference"  # the example's target labels apply


def test_identity_joins_onto_device_series(prometheus: PrometheusServer) -> None:
    joined = prometheus.wait_for(
        lambda: prometheus.query("gpu_memory_free_bytes * on(uuid) group_left(name) gpu_info"),
        SCRAPED_TIMEOUT_S,
        "the gpu_info join",
    )
    assert {r["metric"]["name"] for r in joined} == {"NVIDIA H100 80GB HBM3"}
    assert len(joined) == 2
