"""Accessibility: axe-core (from the npm registry, bundled by scripts/build-web.sh beside these
tests and injected by them only) on every view of the page in light and dark mode, and every
control reachable by keyboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from tests.support.collector_process import CollectorProcess
from tests.web.conftest import OpenPage
from tests.web.fleet_answers import FleetAnswers

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "static" / "axe.min.js"
SERIOUS = ("serious", "critical")

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
  }));
}"""


def serious_violations(page: Page) -> list[dict[str, Any]]:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing; run scripts/build-web.sh (make web)")
    if not page.evaluate("() => 'axe' in window"):
        page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in SERIOUS]


def replay_view(page: Page, collector: CollectorProcess) -> None:
    """The collector's page as it opens: every panel filled."""
    page.goto(f"{collector.url}/#token={collector.token}")
    page.wait_for_selector("#advice > li")
    page.wait_for_selector("#usage-table tbody tr")


def gpu_chosen_view(page: Page, collector: CollectorProcess) -> None:
    replay_view(page, collector)
    page.locator("#gpus .card .gpu-select").first.click()
    page.wait_for_selector("#processes-all", state="visible")


def fit_answer_view(page: Page, collector: CollectorProcess) -> None:
    replay_view(page, collector)
    page.fill('#fit-form input[name="model"]', "Qwen/Qwen2.5-7B-Instruct")
    page.click("#fit-form button[type=submit]")
    page.wait_for_selector("#fit-answer", state="visible")


def asking_for_the_token_view(page: Page, collector: CollectorProcess) -> None:
    page.goto(f"{collector.url}/")
    page.wait_for_selector("#secret-form", state="visible")


def stale_view(page: Page, collector: CollectorProcess) -> None:
    """The collector stopped answering while the page was open: banner, data kept, stale."""
    replay_view(page, collector)
    page.route("**/v1/**", lambda route: route.abort("connectionrefused"))
    page.wait_for_selector("body[data-stale]")


def many_hosts_view(page: Page, collector: CollectorProcess) -> None:
    FleetAnswers(hosts=("gpu-a", "gpu-b", "gpu-c", "gpu-d")).install(page)
    page.goto(f"{collector.url}/#token=fleet")
    page.wait_for_selector("#host-picker", state="visible")
    page.wait_for_selector("#advice > li")


def chinese_view(page: Page, collector: CollectorProcess) -> None:
    page.add_init_script("localStorage.setItem('gpu-insight:language', 'zh-Hans')")
    replay_view(page, collector)


VIEWS: dict[str, Callable[[Page, CollectorProcess], None]] = {
    "replay": replay_view,
    "gpu-chosen": gpu_chosen_view,
    "fit-answer": fit_answer_view,
    "asking-for-the-token": asking_for_the_token_view,
    "stale": stale_view,
    "many-hosts": many_hosts_view,
    "chinese": chinese_view,
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_no_serious_or_critical_axe_violation_in_light_or_dark_mode(
    open_page: OpenPage, replay_collector: CollectorProcess, view: str
) -> None:
    page = open_page().page
    VIEWS[view](page, replay_collector)
    found = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        found[scheme] = serious_violations(page)
    assert found == {"light": [], "dark": []}


def test_on_a_phone_no_serious_or_critical_axe_violation(
    open_page: OpenPage, replay_collector: CollectorProcess
) -> None:
    page = open_page(viewport={"width": 390, "height": 844}).page
    replay_view(page, replay_collector)
    assert serious_violations(page) == []


# Every control a mouse can use, by a name that says which one it is.
CONTROLS = """() => [...document.querySelectorAll(
    "button, select, input, a[href], [tabindex]:not([tabindex='-1'])")]
  .filter((node) => node.checkVisibility() && !node.disabled)
  .map((node) => node.type === "radio" ? `radio:${node.name}` : node.id || node.name
    || `${node.className}@${node.closest("[data-key]")?.dataset.key ?? ""}`)"""

FOCUSED = """() => { const node = document.activeElement;
  if (!node || node === document.body) return null;
  return node.type === "radio" ? `radio:${node.name}` : node.id || node.name
    || `${node.className}@${node.closest("[data-key]")?.dataset.key ?? ""}`; }"""


def test_every_control_is_reachable_by_the_tab_key(
    open_page: OpenPage, replay_collector: CollectorProcess
) -> None:
    page = open_page().page
    replay_view(page, replay_collector)
    controls = set(page.evaluate(CONTROLS))
    reached: set[str] = set()
    for _ in range(len(controls) * 2 + 10):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is not None:
            reached.add(focused)
        if controls <= reached:
            break
    assert controls - reached == set()


def test_a_gpu_is_chosen_and_let_go_with_the_keyboard(
    open_page: OpenPage, replay_collector: CollectorProcess
) -> None:
    page = open_page().page
    replay_view(page, replay_collector)
    button = page.locator("#gpus .card .gpu-select").first
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#processes-all", state="visible")
    assert button.get_attribute("aria-pressed") == "true"
    page.keyboard.press("Space")
    page.wait_for_selector("#processes-all", state="hidden")
    assert button.get_attribute("aria-pressed") == "false"


def test_the_usage_window_is_switched_with_the_arrow_keys(
    open_page: OpenPage, replay_collector: CollectorProcess
) -> None:
    page = open_page().page
    replay_view(page, replay_collector)
    page.locator("#usage-24h").focus()
    with page.expect_request(lambda r: "/v1/usage" in r.url and "bucket_s=86400" in r.url):
        page.keyboard.press("ArrowRight")
    assert page.locator("#usage-7d").is_checked()


def test_axe_finds_what_it_is_asked_to(
    open_page: OpenPage, replay_collector: CollectorProcess
) -> None:
    """The check can fail: a page that loses its control names is reported."""
    page = open_page().page
    replay_view(page, replay_collector)

    def unnamed(route: Route) -> None:
        route.fulfill(json={**route.fetch().json(), "language.label": ""})

    page.route("**/static/messages-en.json", unnamed)
    page.reload()
    page.wait_for_selector("#gpus .card")
    assert "select-name" in {v["id"] for v in serious_violations(page)}
