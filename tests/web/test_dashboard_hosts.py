"""Many hosts: four collectors, each replaying the synthetic eight-GPU trace, behind the Dify
endpoint: a host selector, and a grid of 32 GPU cards that stays readable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime
from tests.support.synthetic_trace import FLEET_GPUS, write_fleet_trace
from tests.web.conftest import (
    ENDPOINT_API_KEY,
    HOOK_ID,
    OpenPage,
    WatchedPage,
    _Gateway,
    show_charts,
)

pytestmark = pytest.mark.browser

HOSTS = ("gpu-a", "gpu-b", "gpu-c", "gpu-d")
FLEET_TOKEN = "fleet-token-0123456789"


@pytest.fixture(scope="module")
def fleet_url(
    plugin_runtime: PluginRuntime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The dashboard through the endpoint, over four eight-GPU collectors."""
    traces = tmp_path_factory.mktemp("fleet")
    with ExitStack() as stack:
        collectors = [
            stack.enter_context(
                CollectorProcess(
                    write_fleet_trace(traces / f"{host}.jsonl", host),
                    token=FLEET_TOKEN,
                    hostname=host,
                )
            )
            for host in HOSTS
        ]
        settings = {
            "collector_url": ",".join(c.url for c in collectors),
            "collector_token": FLEET_TOKEN,
            "api_key": ENDPOINT_API_KEY,
        }
        gateway = _Gateway(plugin_runtime, settings)
        threading.Thread(target=gateway.serve_forever, daemon=True).start()
        stack.callback(gateway.server_close)
        stack.callback(gateway.shutdown)
        base = f"http://127.0.0.1:{gateway.server_address[1]}/e/{HOOK_ID}"
        yield f"{base}/dashboard#key={ENDPOINT_API_KEY}"


@pytest.fixture
def fleet(open_page: OpenPage, fleet_url: str) -> WatchedPage:
    watched = open_page()
    watched.page.goto(fleet_url)
    watched.page.wait_for_function(
        "(n) => document.querySelectorAll('#gpus .card').length === n",
        arg=len(HOSTS) * FLEET_GPUS,
    )
    return watched


READ_GRID = """() => [...document.querySelectorAll("#gpus .host-group")].map((group) => ({
  host: group.querySelector(".host-name").textContent,
  summary: group.querySelector(".host-summary").textContent,
  rows: new Set([...group.querySelectorAll(".card")].map((c) => c.offsetTop)).size,
  cards: [...group.querySelectorAll(".card")].map((c) => c.querySelector(".gpu-index").textContent),
  clipped: [...group.querySelectorAll(".card .value, .card .gpu-index, .card .label")]
    .filter((n) => n.scrollWidth > n.clientWidth + 1).length,
}))"""


def test_every_host_heads_a_group_of_its_eight_gpus_in_one_row(fleet: WatchedPage) -> None:
    grid = fleet.page.evaluate(READ_GRID)
    assert [g["host"] for g in grid] == list(HOSTS)
    for group in grid:
        assert group["cards"] == [f"GPU {i}" for i in range(FLEET_GPUS)]
        assert group["rows"] == 1, f"{group['host']}'s cards wrap at 1440 px"
        assert group["clipped"] == 0
        assert group["summary"].startswith("8 GPUs · NVIDIA H100 80GB HBM3 · ")
    assert fleet.page.locator("#gpus").get_attribute("class") == "hosts compact"


def test_the_grid_of_32_gpus_fits_on_one_screen_of_a_laptop(fleet: WatchedPage) -> None:
    bottom = fleet.page.evaluate(
        "() => document.getElementById('gpus').getBoundingClientRect().bottom + scrollY"
    )
    assert bottom <= 900


def test_the_host_selector_offers_every_host(fleet: WatchedPage) -> None:
    options = fleet.page.locator("#host-select option").all_inner_texts()
    assert options == ["All hosts (4)", *HOSTS]
    assert fleet.page.locator("#host").inner_text() == "4 hosts"


def choose_host(page: Page, host: str) -> None:
    page.select_option("#host-select", host)
    page.wait_for_function(
        "(n) => document.querySelectorAll('#gpus .card').length === n", arg=FLEET_GPUS
    )


def test_choosing_a_host_shows_its_gpus_processes_and_history_only(fleet: WatchedPage) -> None:
    page = fleet.page
    choose_host(page, "gpu-c")
    assert page.locator("#gpus").get_attribute("class") == "hosts"  # full cards again
    groups = page.locator("#processes .gpu-row").all_inner_texts()
    assert len(groups) == FLEET_GPUS and all(g.startswith("gpu-c GPU ") for g in groups)
    show_charts(page, "util-chart")
    page.wait_for_function(
        """(n) => echarts.getInstanceByDom(document.getElementById("util-chart"))
             .getOption().series.length === n + 1""",
        arg=FLEET_GPUS,
    )
    names = page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById("util-chart"))
             .getOption().series.slice(0, -1).map((s) => s.name)"""
    )
    assert names == [f"gpu-c GPU {i}" for i in range(FLEET_GPUS)]


def test_the_eight_gpus_by_four_hosts_screenshot_is_saved(
    fleet: WatchedPage, artifacts_dir: Path
) -> None:
    page = fleet.page
    page.wait_for_selector("#advice > li")
    page.wait_for_timeout(2500)
    show_charts(page)
    path = artifacts_dir / "dashboard-8-gpus-4-hosts-1440.png"
    page.screenshot(
        path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": 1440, "height": 1480}
    )
    assert path.stat().st_size > 10_000
    assert fleet.errors == []
