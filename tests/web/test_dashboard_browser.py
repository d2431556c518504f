"""The dashboard in headless Chromium against a collector replaying a trace."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal, TypedDict, get_args

import pytest
from playwright.sync_api import Page, Response, Route

from gpu_insight.engines import ENGINES
from gpu_insight.estimate.kv_cache import KvCacheDtype
from gpu_insight.estimate.weights import WEIGHT_FORMATS
from tests.support.collector_process import CollectorProcess
from tests.web.collector_http import get_json
from tests.web.conftest import ENDPOINT_API_KEY, WatchedPage, open_endpoint_dashboard, show_charts

pytestmark = pytest.mark.browser

DASH = "–"
MATCH_TIMEOUT_S = 20.0
ColorScheme = Literal["light", "dark"]  # the schemes the screenshots are taken in

# What the page shows, read in one go so that it all belongs to the same snapshot.
READ_PAGE = """() => ({
  collectedAt: Number(document.getElementById("updated").dataset.collectedAt),
  cards: [...document.querySelectorAll("#gpus .card")].map((card) => {
    const text = (selector) => card.querySelector(selector).textContent;
    return {
      uuid: card.dataset.gpuUuid,
      name: text(".gpu-name"),
      utilization: text(".util-value"),
      memory: text(".mem-detail"),
      temperature: text(".temp-value"),
      power: text(".power-value"),
    };
  }),
  groups: [...document.querySelectorAll("#processes tbody")].map((body) => ({
    key: body.dataset.key,
    rows: [...body.querySelectorAll("tr[data-pid]")].map((row) => [...row.cells].map(
      (cell) => (cell.querySelector(".memory-value") ?? cell).textContent)),
    reserved: [...body.querySelectorAll("tr[data-pid]")].map(
      (row) => !row.querySelector(".reserved").hidden),
  })),
})"""

ENGINE_LABELS = {
    "vllm": "vLLM",
    "sglang": "SGLang",
    "transformers": "transformers",
    "tgi": "TGI",
    "ollama": "Ollama",
    "llama.cpp": "llama.cpp",
    "unknown": "unknown",
}


def rounded(value: float, places: str) -> Decimal:
    """JavaScript's toFixed/Math.round: half up on the exact binary value."""
    return Decimal(value).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def gib(mib: float | None) -> str:
    return DASH if mib is None else f"{rounded(mib / 1024, '0.1')} GiB"


def whole(value: float | None, unit: str) -> str:
    """Intl's English: "85%" and "41°C" close up, "123 W" with a space."""
    if value is None:
        return DASH
    return f"{rounded(value, '1')}{'' if unit in ('%', '°C') else ' '}{unit}"


def expected_card(gpu: dict[str, Any]) -> dict[str, str]:
    return {
        "uuid": gpu["uuid"],
        "name": gpu["name"],
        "utilization": whole(gpu["utilization_percent"], "%"),
        "memory": f"{gib(gpu['memory_used_mib'])} used · {gib(gpu['memory_reserved_mib'])} "
        f"reserved · {gib(gpu['memory_free_mib'])} free",
        "temperature": whole(gpu["temperature_celsius"], "°C"),
        "power": whole(gpu["power_watts"], "W"),
    }


def expected_rows(snapshot: dict[str, Any], gpu_uuid: str) -> list[list[str]]:
    processes = [p for p in snapshot["processes"] if p["gpu_uuid"] == gpu_uuid]
    processes.sort(key=lambda p: (-(p["used_memory_mib"] or -1), p["pid"]))
    rows = []
    for p in processes:
        a = p["attribution"]
        container = a["container_name"] or (a["container_id"] or "")[:12] or DASH
        rows.append(
            [
                str(p["pid"]),
                p["name"] or DASH,
                ENGINE_LABELS[a["engine"]],
                a["model"] or DASH,
                container,
                a["app"] or DASH,
                a["team"] or DASH,
                gib(p["used_memory_mib"]),
                whole(p["sm_utilization_percent"], "%"),
            ]
        )
    return rows


def shown_with_its_snapshot(
    page: Page, collector: CollectorProcess
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the page shows, and the snapshot read over HTTP that it was drawn from.

    The replay advances every second, so snapshots are read until the page shows one of them."""
    seen: dict[float, dict[str, Any]] = {}
    deadline = time.monotonic() + MATCH_TIMEOUT_S
    while time.monotonic() < deadline:
        snapshot = get_json(collector, "/v1/snapshot")
        seen[snapshot["collected_at"]] = snapshot
        shown = page.evaluate(READ_PAGE)
        if shown["collectedAt"] in seen:
            return shown, seen[shown["collectedAt"]]
        time.sleep(0.2)
    raise AssertionError("the page never showed a snapshot that /v1/snapshot also served")


@pytest.fixture
def dashboard(watched_page: WatchedPage, replay_collector: CollectorProcess) -> WatchedPage:
    """The collector's dashboard, opened with its token in the fragment, first data drawn."""
    watched_page.page.goto(f"{replay_collector.url}/#token={replay_collector.token}")
    watched_page.page.wait_for_selector("#gpus .card")
    return watched_page


def test_gpu_cards_show_the_numbers_of_the_snapshot(
    dashboard: WatchedPage, replay_collector: CollectorProcess
) -> None:
    shown, snapshot = shown_with_its_snapshot(dashboard.page, replay_collector)
    assert snapshot["gpus"], "the replay trace has no GPUs"
    assert shown["cards"] == [expected_card(gpu) for gpu in snapshot["gpus"]]


def test_every_gpus_processes_are_listed_without_a_click(
    dashboard: WatchedPage, replay_collector: CollectorProcess
) -> None:
    shown, snapshot = shown_with_its_snapshot(dashboard.page, replay_collector)
    assert [g["key"] for g in shown["groups"]] == [
        f"{g['host'] or ''}/{g['uuid']}" for g in snapshot["gpus"]
    ]
    for group, gpu in zip(shown["groups"], snapshot["gpus"], strict=True):
        assert group["rows"] == expected_rows(snapshot, gpu["uuid"])
    assert any(group["rows"] for group in shown["groups"])


def test_memory_an_engine_reserves_on_purpose_is_marked_and_said_not_a_leak(
    dashboard: WatchedPage, replay_collector: CollectorProcess
) -> None:
    shown, snapshot = shown_with_its_snapshot(dashboard.page, replay_collector)
    for group, gpu in zip(shown["groups"], snapshot["gpus"], strict=True):
        processes = [p for p in snapshot["processes"] if p["gpu_uuid"] == gpu["uuid"]]
        processes.sort(key=lambda p: (-(p["used_memory_mib"] or -1), p["pid"]))
        assert group["reserved"] == [p["reserved_by_engine"] is True for p in processes]
    assert any(r for g in shown["groups"] for r in g["reserved"]), "the trace has a vLLM server"
    note = dashboard.page.locator("#reserved-note")
    assert note.is_visible() and "not a leak" in note.inner_text()


def test_clicking_a_gpu_lists_only_its_processes_and_again_every_gpus(
    dashboard: WatchedPage, replay_collector: CollectorProcess
) -> None:
    snapshot = get_json(replay_collector, "/v1/snapshot")
    gpu = snapshot["gpus"][0]
    card = dashboard.page.locator(f'#gpus .card[data-gpu-uuid="{gpu["uuid"]}"]')
    card.click()
    dashboard.page.wait_for_function(
        "() => document.querySelectorAll('#processes tbody').length === 1"
    )
    assert card.locator(".gpu-select").get_attribute("aria-pressed") == "true"
    assert dashboard.page.locator("#processes-filter").inner_text() == "of GPU 0 only"
    card.click()
    dashboard.page.wait_for_function(
        "(n) => document.querySelectorAll('#processes tbody').length === n",
        arg=len(snapshot["gpus"]),
    )
    assert card.locator(".gpu-select").get_attribute("aria-pressed") == "false"


MEMORY_SERIES = """() => echarts.getInstanceByDom(document.getElementById("memory-chart"))
  .getOption().series.map((s) => s.name)"""


@pytest.mark.parametrize(
    ("split", "field"), [("app", "app"), ("container", "container_name"), ("model", "model")]
)
def test_memory_is_split_by_the_chosen_attribution(
    dashboard: WatchedPage, replay_collector: CollectorProcess, split: str, field: str
) -> None:
    snapshot = get_json(replay_collector, "/v1/snapshot")
    named = {p["attribution"][field] for p in snapshot["processes"]} - {None}
    assert named, f"the replay trace attributes no process to a {split}"
    dashboard.page.select_option("#split", split)
    show_charts(dashboard.page, "memory-chart")
    dashboard.page.wait_for_function(
        f"(names) => names.every((n) => ({MEMORY_SERIES})().includes(n))", arg=sorted(named)
    )
    series = dashboard.page.evaluate(MEMORY_SERIES)
    assert series[-3:] == ["not in process list", "reserved", "free"]


def test_replay_is_announced_in_a_banner(dashboard: WatchedPage) -> None:
    banner = dashboard.page.locator("#replay-banner")
    banner.wait_for(state="visible")
    assert "Replay" in banner.inner_text()
    assert dashboard.page.locator("#source").inner_text() == "replay"


HISTORY_SERIES = """(id) => echarts.getInstanceByDom(document.getElementById(id))
  .getOption().series.map((s) => ({name: s.name, points: s.data.length,
                                   areas: (s.markArea?.data ?? []).length}))"""


def test_history_charts_draw_one_line_per_gpu_and_the_alert_intervals(
    dashboard: WatchedPage, replay_collector: CollectorProcess
) -> None:
    gpu_count = len(get_json(replay_collector, "/v1/snapshot")["gpus"])
    for chart in ("util-chart", "memhist-chart"):
        show_charts(dashboard.page, chart)
        dashboard.page.wait_for_function(
            f"""(count) => {{ const s = ({HISTORY_SERIES})("{chart}");
                return s.length === count + 1
                  && s.slice(0, count).every((l) => l.points > 0); }}""",
            arg=gpu_count,
        )
        series = dashboard.page.evaluate(HISTORY_SERIES, chart)
        assert series[-1]["name"] == "Alerts (pending, firing)"


def test_history_shows_the_traces_busy_and_idle_phases_as_soon_as_the_page_opens(
    dashboard: WatchedPage,
) -> None:
    """The replay starts with its history filled as if the trace had been playing."""
    show_charts(dashboard.page, "util-chart")
    dashboard.page.wait_for_function(
        """() => echarts.getInstanceByDom(document.getElementById("util-chart"))
                 .getOption().series[0].data.length > 0"""
    )
    points = dashboard.page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById("util-chart"))
                 .getOption().series[0].data"""
    )
    span_s = (points[-1][0] - points[0][0]) / 1000
    assert span_s >= 14 * 60  # the last 15 minutes, not the seconds since the start
    values = [value for _, value in points if value is not None]
    assert max(values) >= 90 and min(values) <= 5  # busy and idle phases both drawn


def test_alert_intervals_are_drawn_over_both_history_charts(
    watched_page: WatchedPage, replay_collector: CollectorProcess
) -> None:
    page = watched_page.page
    gpu = get_json(replay_collector, "/v1/snapshot")["gpus"][0]

    def with_a_resolved_alert(route: Route) -> None:
        listed = route.fetch().json()
        now = time.time()
        listed["alerts"].append(
            {
                "rule": "gpu_memory_high",
                "severity": "warning",
                "state": "resolved",
                "gpu_index": gpu["index"],
                "gpu_uuid": gpu["uuid"],
                "message": "GPU 0 memory 95 % > 90 %",
                "started_at": now - 300,
                "fired_at": now - 240,
                "resolved_at": now - 120,
            }
        )
        route.fulfill(json=listed)

    page.route("**/v1/alerts?*", with_a_resolved_alert)
    page.goto(f"{replay_collector.url}/#token={replay_collector.token}")
    for chart in ("util-chart", "memhist-chart"):
        show_charts(page, chart)
        page.wait_for_function(
            f"""() => {{ const s = ({HISTORY_SERIES})("{chart}");
                return s.length && s[s.length - 1].areas >= 2; }}"""
        )
    areas = page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById("util-chart")).getOption()
          .series.at(-1).markArea.data.map(([from, to]) => [from.xAxis, to.xAxis])"""
    )
    spans_s = sorted(round((to - start) / 1000) for start, to in areas)
    assert 60 in spans_s and 120 in spans_s  # pending 60 s, then firing for 120 s


def test_refreshing_keeps_the_same_card_elements(dashboard: WatchedPage) -> None:
    dashboard.page.evaluate(
        "() => document.querySelectorAll('#gpus .card').forEach((c) => { c.dataset.mark = 'k'; })"
    )
    before = dashboard.page.evaluate("() => document.getElementById('updated').dataset.collectedAt")
    dashboard.page.wait_for_function(
        "(before) => document.getElementById('updated').dataset.collectedAt !== before",
        arg=before,
    )
    assert dashboard.page.evaluate(
        "() => [...document.querySelectorAll('#gpus .card')].every((c) => c.dataset.mark === 'k')"
    )


def test_two_refreshes_log_no_console_errors(dashboard: WatchedPage) -> None:
    dashboard.page.locator("#gpus .card").first.click()
    dashboard.page.wait_for_timeout(4500)
    assert dashboard.errors == []


def test_without_a_token_the_page_asks_for_one(
    watched_page: WatchedPage, replay_collector: CollectorProcess
) -> None:
    page = watched_page.page
    page.goto(f"{replay_collector.url}/")
    page.wait_for_selector("#secret-form", state="visible")
    assert page.locator("#error-reason").inner_text() == "The collector needs a token."
    page.fill("#secret-input", replay_collector.token)
    page.click("#secret-form button")
    page.wait_for_selector("#gpus .card")
    assert page.locator("#secret-form").is_hidden()
    assert page.locator("#error-banner").is_hidden()


def test_active_alerts_of_the_snapshot_are_listed(
    watched_page: WatchedPage, replay_collector: CollectorProcess
) -> None:
    page = watched_page.page
    alert = {
        "rule": "memory_high",
        "severity": "critical",
        "state": "firing",
        "gpu_index": 0,
        "message": "GPU 0 memory above 90 % for 1 min",
        "started_at": 0.0,
        "fired_at": 0.0,
    }
    resolved = {
        **alert,
        "rule": "temperature_high",
        "state": "resolved",
        "message": "GPU 0 temperature back to normal",
        "resolved_at": 0.0,
    }

    def with_alerts(route: Route) -> None:
        snapshot = route.fetch().json()
        alert["started_at"] = alert["fired_at"] = snapshot["collected_at"] - 120
        route.fulfill(json={**snapshot, "alerts": [alert, resolved]})

    page.route("**/v1/snapshot", with_alerts)
    page.goto(f"{replay_collector.url}/#token={replay_collector.token}")
    page.wait_for_selector("#alerts li")
    shown = [text.split("\n") for text in page.locator("#alerts li").all_inner_texts()]
    assert shown == [["critical", "firing", "GPU 0 memory above 90 % for 1 min", "for 2 min"]]
    assert page.locator("#no-alerts").is_hidden()


def test_cost_and_usage_show_the_collectors_books_per_app_and_ask_for_a_price(
    dashboard: WatchedPage, replay_collector: CollectorProcess
) -> None:
    page = dashboard.page
    page.wait_for_selector("#usage-table tbody tr")
    shown = page.locator("#usage-table tbody th").all_inner_texts()
    booked = get_json(replay_collector, "/v1/usage?group_by=app")
    assert set(shown) <= {r["group"] for r in booked["rows"]} | {"unattributed"}
    assert shown
    assert page.locator("#usage-set-price").inner_text() == (
        "Set a price: accounting.price_per_gpu_hour in the collector's configuration."
    )
    show_charts(page, "usage-chart")
    bars = page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById("usage-chart")).getOption()
          .series.map((s) => [s.name, s.stack, s.data.length])"""
    )
    assert {stack for _, stack, _ in bars} == {"busy", "idle"}
    assert {n for _, _, n in bars} == {24}  # one bar per hour of the last 24 h


def test_cost_per_group_is_its_gpu_hours_at_the_price(
    watched_page: WatchedPage, replay_collector: CollectorProcess
) -> None:
    page = watched_page.page
    answers: list[dict[str, Any]] = []

    def priced(route: Route) -> None:
        report = route.fetch().json()
        report["price_per_gpu_hour"] = 2.5
        report["rows"] = [{**r, "gpu_seconds": 7200.0, "gpu_hours": 2.0} for r in report["rows"]]
        answers.append(report)
        route.fulfill(json=report)

    page.route("**/v1/usage?*", priced)
    page.goto(f"{replay_collector.url}/#token={replay_collector.token}")
    page.wait_for_selector("#usage-table tbody tr")
    costs = page.evaluate(
        "() => [...document.querySelectorAll('#usage-table tbody tr')].map((r) => r.cells[4]"
        ".textContent)"
    )
    assert costs == ["5.00"] * len(answers[-1]["rows"])
    assert page.locator("#usage-set-price").is_hidden()
    assert page.locator("#usage-price").inner_text() == (
        "Cost is busy GPU-hours × 2.50 per GPU-hour."
    )


def test_the_advice_panel_shows_the_top_suggestions_of_serving_advice(
    watched_page: WatchedPage, replay_collector: CollectorProcess
) -> None:
    page = watched_page.page
    answers: list[dict[str, Any]] = []
    page.on(
        "response", lambda r: answers.append(r.json()) if "/v1/advice" in r.url and r.ok else None
    )
    page.goto(f"{replay_collector.url}/#token={replay_collector.token}")
    page.wait_for_selector("#advice > li")
    advice = answers[-1]  # the replay moves on: the answer the page drew, not a later one
    shown = page.evaluate(
        """() => [...document.querySelectorAll("#advice > li")].map((li) => ({
          severity: li.querySelector(".severity").textContent,
          title: li.querySelector(".advice-title").textContent,
          change: li.querySelector(".advice-change").textContent,
          evidence: li.querySelectorAll(".advice-evidence li").length,
        }))"""
    )
    assert shown == [
        {
            "severity": s["severity"],
            "title": s["title"],
            "change": s["change"],
            "evidence": len(s["evidence"]),
        }
        for s in advice["suggestions"][:5]
    ]


def test_on_a_phone_nothing_overflows_sideways(dashboard: WatchedPage) -> None:
    dashboard.page.set_viewport_size({"width": 390, "height": 844})
    dashboard.page.wait_for_timeout(500)
    assert dashboard.page.evaluate("() => document.documentElement.scrollWidth") <= 390


def test_dark_system_preference_gives_a_dark_page(dashboard: WatchedPage) -> None:
    dashboard.page.emulate_media(color_scheme="dark")
    background = dashboard.page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 21, 27)"


@pytest.mark.parametrize(("width", "height", "scheme"), [(1440, 900, "light"), (390, 844, "dark")])
def test_screenshots_are_saved(
    dashboard: WatchedPage, artifacts_dir: Path, width: int, height: int, scheme: ColorScheme
) -> None:
    page = dashboard.page
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_selector("#advice li")
    page.wait_for_timeout(2500)  # a refresh after the resize
    show_charts(page)
    path = artifacts_dir / f"dashboard-collector-{width}x{height}-{scheme}-full.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    assert dashboard.errors == []


def test_through_the_endpoint_the_page_works_with_only_its_url_and_key(
    watched_page: WatchedPage,
    endpoint_base_url: str,
    replay_collector: CollectorProcess,
    artifacts_dir: Path,
) -> None:
    page = watched_page.page
    open_endpoint_dashboard(page, endpoint_base_url, replay_collector)
    show_charts(page, "util-chart")
    page.wait_for_function(
        """() => echarts.getInstanceByDom(document.getElementById("util-chart"))
                   .getOption().series.some((s) => s.data.length > 0)"""
    )
    page.wait_for_selector("#advice li")
    page.wait_for_selector("#usage-table tbody tr")
    assert page.locator("#replay-banner").is_visible()
    assert page.locator("#usage-set-price").inner_text().startswith("Set a price: “Price per")
    show_charts(page)
    page.screenshot(
        path=str(artifacts_dir / "dashboard-endpoint-1440x900-light.png"), full_page=True
    )
    assert watched_page.errors == []


# --- the "Will it fit?" form, which posts to the plugin's POST /vram-check ----------------------


class FitFormBody(TypedDict):
    model: str
    engine: str
    quantization: str
    kv_cache_dtype: str
    context_length: int


FIT_FORM_BODY: FitFormBody = {
    "model": "Qwen/Qwen2.5-7B-Instruct",
    "engine": "vllm",
    "quantization": "none",
    "kv_cache_dtype": "auto",
    "context_length": 8192,
}

READ_FIT = """() => {
  const text = (id) => document.getElementById(id).textContent;
  const items = (id) => [...document.getElementById(id).children].map((li) => li.textContent);
  return {
    fits: text("fit-fits"),
    fitsLevel: document.getElementById("fit-fits").dataset.level,
    request: text("fit-request"),
    required: text("fit-required"),
    bestGpu: text("fit-best-gpu"),
    headroom: text("fit-headroom"),
    maxContext: text("fit-max-context"),
    flags: text("fit-flags"),
    errors: document.getElementById("fit-errors-row").hidden ? null : items("fit-errors"),
    notes: document.getElementById("fit-notes-row").hidden ? null : items("fit-notes"),
  };
}"""

SELECT_OPTIONS = """(name) =>
  [...document.querySelector(`#fit-form select[name="${name}"]`).options].map((o) => o.value)"""


def post_vram_check(endpoint_base_url: str, body: Mapping[str, object]) -> tuple[int, Any]:
    """POST /vram-check through the gateway with the endpoint key, as the page does."""
    request = urllib.request.Request(
        f"{endpoint_base_url}/vram-check",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"X-Api-Key": ENDPOINT_API_KEY, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def mib(value: float) -> str:
    return f"{int(rounded(value, '1')):,} MiB ({gib(value)})"


def expected_fit(answer: dict[str, Any]) -> dict[str, Any]:
    """What the result panel shows for an answer of POST /vram-check."""
    placement = answer["placement"]
    best_gpu = "none"
    if placement is not None:
        host = f"{placement['host']} " if placement["host"] else ""
        indices = ", ".join(str(i) for i in placement["gpu_indices"])
        names = ", ".join(dict.fromkeys(placement["gpu_names"]))
        best_gpu = f"{host}GPU {indices} · {names}"
    parallel = (
        f", tensor parallel {answer['tensor_parallel']}" if answer["tensor_parallel"] > 1 else ""
    )
    fits = {True: "yes", False: "no", None: "unknown: no live GPU data"}[answer["fits"]]
    return {
        "fits": fits,
        "fitsLevel": {True: "ok", False: "bad", None: "warn"}[answer["fits"]],
        "request": (
            f"{answer['model']} on {answer['engine']}, {answer['quantization']}, "
            f"{answer['context_length']:,} tokens × {answer['concurrency']}{parallel}"
        ),
        "required": (
            f"{mib(answer['required_mib'])} held; needs at least "
            f"{int(rounded(answer['need_mib_per_gpu'], '1')):,} MiB per GPU"
        ),
        "bestGpu": best_gpu,
        "headroom": mib(placement["headroom_mib"]) if placement else DASH,
        "maxContext": (
            DASH
            if answer["max_context_tokens"] is None
            else f"{answer['max_context_tokens']:,} tokens"
        ),
        "flags": answer["flags"] or DASH,
        "errors": answer["errors"] or None,
        "notes": answer["notes"] or None,
    }


# The rows of an answer that do not move with the replayed free memory.
STEADY_ROWS = ("fits", "fitsLevel", "request", "bestGpu")


@pytest.fixture
def endpoint_dashboard(watched_page: WatchedPage, endpoint_base_url: str) -> WatchedPage:
    """The dashboard served through the endpoint gateway, its fit form shown."""
    watched_page.page.goto(f"{endpoint_base_url}/dashboard#key={ENDPOINT_API_KEY}")
    watched_page.page.wait_for_selector("#fit-panel", state="visible")
    return watched_page


def submit_fit_form(page: Page, model: str) -> Response:
    """Fill the form as a user would for FIT_FORM_BODY (with `model`); the POST's response."""
    page.fill('#fit-form input[name="model"]', model)
    page.select_option('#fit-form select[name="engine"]', FIT_FORM_BODY["engine"])
    page.fill('#fit-form input[name="context_length"]', str(FIT_FORM_BODY["context_length"]))
    with page.expect_response(lambda r: r.url.endswith("/vram-check")) as posted:
        page.click("#fit-form button[type=submit]")
    return posted.value


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("engine", list(ENGINES)),
        ("quantization", ["none", *WEIGHT_FORMATS]),
        ("kv_cache_dtype", list(get_args(KvCacheDtype))),
    ],
)
def test_fit_form_choices_are_the_values_vram_check_accepts(
    endpoint_dashboard: WatchedPage, name: str, accepted: list[str]
) -> None:
    assert endpoint_dashboard.page.evaluate(SELECT_OPTIONS, name) == accepted


def test_fit_form_posts_exactly_the_vram_check_parameters(
    endpoint_dashboard: WatchedPage,
) -> None:
    response = submit_fit_form(endpoint_dashboard.page, FIT_FORM_BODY["model"])
    assert response.request.post_data_json == FIT_FORM_BODY
    assert response.request.headers["x-api-key"] == ENDPOINT_API_KEY
    assert response.status == 200


def test_fit_form_shows_the_answer_of_vram_check(
    endpoint_dashboard: WatchedPage, endpoint_base_url: str
) -> None:
    page = endpoint_dashboard.page
    answer = submit_fit_form(page, FIT_FORM_BODY["model"]).json()
    page.wait_for_selector("#fit-answer", state="visible")
    shown = page.evaluate(READ_FIT)
    assert shown == expected_fit(answer)
    status, direct = post_vram_check(endpoint_base_url, FIT_FORM_BODY)
    assert status == 200
    assert direct["live_data"], "the gateway's collector gave no live GPU data"
    assert {row: shown[row] for row in STEADY_ROWS} == {
        row: expected_fit(direct)[row] for row in STEADY_ROWS
    }
    assert page.locator("#fit-status").is_hidden()
    assert endpoint_dashboard.errors == []


def test_fit_form_shows_the_message_of_a_rejected_request(
    endpoint_dashboard: WatchedPage, endpoint_base_url: str, artifacts_dir: Path
) -> None:
    page = endpoint_dashboard.page
    response = submit_fit_form(page, "no-such-model")
    body = {**FIT_FORM_BODY, "model": "no-such-model"}
    status, refusal = post_vram_check(endpoint_base_url, body)
    assert (response.status, response.json()) == (status, refusal)
    assert status == 400 and refusal["error"] == "bad_request"
    page.wait_for_selector('#fit-status[data-level="bad"]')
    assert page.locator("#fit-status").inner_text() == refusal["message"]
    assert page.locator("#fit-answer").is_hidden()
    page.locator("#fit-panel").screenshot(
        path=str(artifacts_dir / "dashboard-endpoint-fit-refused-1440x900-light.png")
    )
    # Chromium reports every 4xx fetch on the console; nothing else may appear there.
    assert [e for e in endpoint_dashboard.errors if "status of 400" not in e] == []


def test_on_the_collector_the_fit_form_asks_its_own_vram_check(
    dashboard: WatchedPage, replay_collector: CollectorProcess
) -> None:
    page = dashboard.page
    response = submit_fit_form(page, FIT_FORM_BODY["model"])
    assert response.url == f"{replay_collector.url}/v1/vram-check"
    assert response.request.post_data_json == FIT_FORM_BODY
    assert response.request.headers["authorization"] == f"Bearer {replay_collector.token}"
    page.wait_for_selector("#fit-answer", state="visible")
    shown = page.evaluate(READ_FIT)
    assert shown == expected_fit(response.json())
    assert response.json()["live_data"] is True


@pytest.mark.parametrize(("width", "height", "scheme"), [(390, 844, "dark")])
def test_fit_result_screenshots_are_saved(
    endpoint_dashboard: WatchedPage,
    artifacts_dir: Path,
    width: int,
    height: int,
    scheme: ColorScheme,
) -> None:
    page = endpoint_dashboard.page
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": width, "height": height})
    submit_fit_form(page, FIT_FORM_BODY["model"])
    page.wait_for_selector("#fit-answer", state="visible")
    path = artifacts_dir / f"dashboard-endpoint-fit-{width}x{height}-{scheme}.png"
    page.locator("#fit-panel").screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    assert endpoint_dashboard.errors == []
