"""The plugin's dashboard in Prometheus mode, in headless Chromium: with only `prometheus_url`
set, a real Prometheus scraping the replay collector feeds every panel, and the header says
that the data comes through it."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime
from tests.support.prometheus_server import PROMETHEUS, PrometheusServer
from tests.web.conftest import (
    WatchedPage,
    open_endpoint_dashboard,
    serving_endpoints,
    show_charts,
)

pytestmark = pytest.mark.prometheus

SETTLE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PrometheusDashboard:
    endpoint_url: str  # the plugin's endpoints behind the gateway
    prometheus_url: str


@pytest.fixture(scope="module")
def through_prometheus(
    plugin_runtime: PluginRuntime,
    replay_collector: CollectorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PrometheusDashboard]:
    if PROMETHEUS is None:
        pytest.skip("the prometheus server is not installed (apt-get install prometheus)")
    folder = tmp_path_factory.mktemp("prometheus-dashboard")
    token = folder / "token"
    token.write_text(replay_collector.token)
    job = {
        "job_name": "gpu-insight",
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "authorization": {"credentials_file": str(token)},
        "static_configs": [{"targets": [urllib.parse.urlsplit(replay_collector.url).netloc]}],
    }
    with PrometheusServer({"scrape_configs": [job]}, folder / "server") as server:
        server.wait_for(
            lambda: len(server.query("sum(gpu_app_gpu_seconds_total) > 0")) == 1,
            SETTLE_TIMEOUT_S,
            "the collector scraped, with busy GPU-seconds counted",
        )
        with serving_endpoints(plugin_runtime, {"prometheus_url": server.url}) as url:
            yield PrometheusDashboard(url, server.url)


@pytest.fixture
def dashboard(
    watched_page: WatchedPage,
    through_prometheus: PrometheusDashboard,
    replay_collector: CollectorProcess,
) -> WatchedPage:
    """The dashboard opened through the endpoints, its GPU cards drawn."""
    open_endpoint_dashboard(watched_page.page, through_prometheus.endpoint_url, replay_collector)
    return watched_page


def test_every_panel_is_drawn_from_prometheus_and_the_header_says_so(
    dashboard: WatchedPage, through_prometheus: PrometheusDashboard, artifacts_dir: Path
) -> None:
    page = dashboard.page
    via = page.locator("#via")
    assert via.is_visible() and via.inner_text() == "via Prometheus"
    assert via.get_attribute("title") == through_prometheus.prometheus_url
    assert page.locator("#replay-banner").is_visible()  # the collector's source, still said
    page.wait_for_selector("#usage-table tbody tr")
    page.wait_for_selector("#advice li")
    show_charts(page, "util-chart")
    page.wait_for_function(
        """() => echarts.getInstanceByDom(document.getElementById("util-chart"))
                   .getOption().series.some((s) => s.data.length > 0)"""
    )
    show_charts(page)
    page.screenshot(
        path=str(artifacts_dir / "dashboard-prometheus-1440x900-light.png"), full_page=True
    )
    assert dashboard.errors == []


def test_processes_known_only_by_their_app_keep_one_row_each_across_refreshes(
    dashboard: WatchedPage,
) -> None:
    """Prometheus has no PIDs: each app's share on a GPU is one row, shown without a PID."""
    page = dashboard.page
    before = page.evaluate("() => document.getElementById('updated').dataset.collectedAt")
    for _ in range(2):  # two refreshes
        page.wait_for_function(
            "(b) => document.getElementById('updated').dataset.collectedAt !== b", arg=before
        )
        before = page.evaluate("() => document.getElementById('updated').dataset.collectedAt")
    rows = page.locator("#processes tr[data-pid]")
    apps = sorted(rows.locator("td:nth-child(6)").all_inner_texts())
    assert apps == ["nightly-eval", "support-bot"]
    assert rows.locator("td:first-child").all_inner_texts() == ["–", "–"]
