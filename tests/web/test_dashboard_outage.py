"""The collector going away while the page is open: a banner says why, the last data stays on
screen marked stale, and the page recovers by itself (or with the new secret) without a reload."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime
from tests.web.conftest import ENDPOINT_API_KEY, HOOK_ID, OpenPage, _Gateway

pytestmark = pytest.mark.browser

RECOVERY_TIMEOUT_MS = 20_000

READ_STATE = """() => ({
  banner: document.getElementById("error-banner").hidden ? null
    : document.getElementById("error-reason").textContent,
  kept: document.getElementById("error-kept").textContent,
  detail: document.getElementById("error-detail").textContent,
  stale: document.body.hasAttribute("data-stale"),
  staleBadge: !document.getElementById("stale").hidden,
  cards: document.querySelectorAll("#gpus .card").length,
  rows: document.querySelectorAll("#processes tr[data-pid]").length,
  updated: document.getElementById("updated").dataset.collectedAt,
  samePage: window.openedOnce === true,
})"""


@pytest.fixture
def own_collector(replay_trace: Path) -> Iterator[CollectorProcess]:
    """A collector of this test's own, which the test stops and starts again."""
    collector = CollectorProcess(replay_trace).start()
    yield collector
    collector.stop()


def opened(page: Page, url: str) -> dict[str, Any]:
    page.goto(url)
    page.wait_for_selector("#processes tr[data-pid]")
    page.evaluate("() => { window.openedOnce = true; }")
    return page.evaluate(READ_STATE)


def wait_for_banner(page: Page) -> dict[str, Any]:
    page.wait_for_selector("#error-banner", state="visible", timeout=RECOVERY_TIMEOUT_MS)
    return page.evaluate(READ_STATE)


def wait_for_recovery(page: Page, before: str) -> dict[str, Any]:
    page.wait_for_function(
        """(before) => document.getElementById("error-banner").hidden
             && document.getElementById("updated").dataset.collectedAt !== before""",
        arg=before,
        timeout=RECOVERY_TIMEOUT_MS,
    )
    return page.evaluate(READ_STATE)


def test_a_collector_that_stops_answering_leaves_its_data_marked_stale_until_it_is_back(
    open_page: OpenPage, own_collector: CollectorProcess
) -> None:
    page = open_page().page
    before = opened(page, f"{own_collector.url}/#token={own_collector.token}")
    own_collector.stop()
    down = wait_for_banner(page)
    assert down["banner"] == "The collector does not answer."
    assert down["kept"].startswith("Showing the data of ")
    assert (down["stale"], down["staleBadge"]) == (True, True)
    assert (down["cards"], down["rows"], down["updated"]) == (
        before["cards"],
        before["rows"],
        before["updated"],
    )
    own_collector.start()
    back = wait_for_recovery(page, down["updated"])
    assert (back["stale"], back["staleBadge"], back["samePage"]) == (False, False, True)


def test_a_collector_back_with_another_token_is_said_so_and_the_new_one_is_taken_without_a_reload(
    open_page: OpenPage, own_collector: CollectorProcess, replay_trace: Path
) -> None:
    page = open_page().page
    before = opened(page, f"{own_collector.url}/#token={own_collector.token}")
    own_collector.stop()
    rotated = CollectorProcess(
        replay_trace, token="a-new-token-0123456789", port=own_collector.port
    )
    with rotated:
        page.wait_for_function(
            """() => document.getElementById("error-reason").textContent
                 === "The collector refused the token." """,
            timeout=RECOVERY_TIMEOUT_MS,
        )
        refused = page.evaluate(READ_STATE)
        assert (refused["stale"], refused["cards"]) == (True, before["cards"])
        assert page.locator("#secret-form").is_visible()
        page.fill("#secret-input", rotated.token)
        page.click("#secret-form button")
        back = wait_for_recovery(page, refused["updated"])
        assert (back["stale"], back["samePage"]) == (False, True)
        assert page.locator("#secret-form").is_hidden()
    own_collector.start()  # the fixture stops what it started


def test_through_the_endpoint_a_collector_gone_is_named_and_the_page_recovers(
    open_page: OpenPage, own_collector: CollectorProcess, plugin_runtime: PluginRuntime
) -> None:
    settings = {
        "collector_url": own_collector.url,
        "collector_token": own_collector.token,
        "api_key": ENDPOINT_API_KEY,
    }
    gateway = _Gateway(plugin_runtime, settings)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    try:
        page = open_page().page
        base = f"http://127.0.0.1:{gateway.server_address[1]}/e/{HOOK_ID}"
        opened(page, f"{base}/dashboard#key={ENDPOINT_API_KEY}")
        own_collector.stop()
        down = wait_for_banner(page)
        assert down["banner"] == "The endpoint cannot use the collector."
        assert own_collector.url in down["detail"] and "refused" in down["detail"]
        assert down["stale"] is True
        own_collector.start()
        back = wait_for_recovery(page, down["updated"])
        assert (back["stale"], back["samePage"]) == (False, True)
    finally:
        gateway.shutdown()
        gateway.server_close()
