"""The page under load: 8 GPUs × 200 processes and 24 h of history, its first render and each
2 s refresh held to 50 ms of script time, each chart drawn when it comes into view, no layout
shift between refreshes, its weight stated.

Script time is the main thread's CPU time (Chromium's trace, `tdur`) in the page's script: its
callbacks, microtasks, animation frames, timers and events (with the garbage collection and
any layout they force), and the reading of its data answers, where `response.json()` parses
them; in every task of a window, not only those the page's measures start in. The scripts
this test itself runs in the page (its waits and reads) are left out. The first render's
window runs from the page's first data request until every chart in view has drawn; a
refresh's, from the end of the one before until its last drawing. Charts below the fold are
drawn when they come into view: the test scrolls to each and measures from the scroll until
the charts then in view have drawn. The machine these tests share with other work would
stretch wall-clock times with waiting that is not the page's; CPU time is not stretched so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.support.collector_process import CollectorProcess
from tests.support.synthetic_trace import FLEET_GPUS
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.web.fleet_answers import FleetAnswers

pytestmark = pytest.mark.browser

PROCESSES_PER_GPU = 200
DAY_S = 86400
BUDGET_MS = 50.0  # the target, for the first render and each refresh
REFRESHES = 4  # after the first render
POLL_MS = 500  # how often the test looks at the page while it waits (not every frame)
PAGE_WEIGHT_LIMIT_BYTES = 1_000_000
# Chart box -> the name of its measure (gpu-insight:chart:<name>).
CHARTS = {
    "usage-chart": "usage",
    "util-chart": "utilization-history",
    "memhist-chart": "memory-history",
    "memory-chart": "memory-split",
}
# Where the page's script runs: callbacks, microtasks, frames, timers, events, and the reads of
# its answers' bodies (JSON parsed).
SCRIPT_RUNS = {
    "FunctionCall",
    "EvaluateScript",
    "v8.evaluateModule",
    "FireAnimationFrame",
    "TimerFire",
    "EventDispatch",
    "RunMicrotasks",
    "BlinkScheduler_PerformMicrotaskCheckpoint",
    "SimpleWatcher::OnHandleReady",
}
# Scroll marks: "gpu-insight-test:scroll:<chart id>", put down by this test.
SCROLL_MARK = "gpu-insight-test:scroll:"

OBSERVE = """
window.layoutShifts = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries())
    if (!entry.hadRecentInput) window.layoutShifts.push([entry.startTime, entry.value,
      entry.sources.map((s) => s.node ? (s.node.id || s.node.className || s.node.nodeName) : "")
        .join(" ")]);
}).observe({ type: "layout-shift", buffered: true });
localStorage.setItem("gpu-insight:history-range", "86400");
"""

RENDERS = """() => performance.getEntriesByName("gpu-insight:render").length"""

READ_WEIGHT = """() => [performance.getEntriesByType("navigation")[0],
                       ...performance.getEntriesByType("resource")]
  .filter((r) => !r.name.includes("/v1/"))
  .map((r) => [new URL(r.name).pathname, r.encodedBodySize])"""

IN_VIEW = """(boxes) => boxes.filter((id) => {
  const box = document.getElementById(id).getBoundingClientRect();
  return box.bottom > 0 && box.top < innerHeight && box.width > 0;
})"""


@dataclass
class Window:
    """Script time from `start_us` to `end_us` on the page's main thread, and the page's
    measures that started in it."""

    start_us: float
    end_us: float
    script_ms: float
    measures: list[str]  # its measures' names (their marks left out)
    chart_ms: dict[str, float]  # script time of the task each chart was drawn in

    def charts(self) -> set[str]:
        """The charts drawn in it."""
        return {m.removeprefix("gpu-insight:chart:") for m in self.measures if ":chart:" in m}


@dataclass
class LoadRun:
    first: Window
    first_in_view: set[str]  # charts in view once the first render was drawn
    refreshes: list[Window]
    reveals: dict[str, tuple[Window, set[str]]]  # box scrolled to -> its window, charts in view
    layout_shifts: list[tuple[float, float]]
    shifted: list[str]
    settled_at_ms: float  # page time when the first refresh began: the first render laid out
    weight: list[tuple[str, int]]
    errors: list[str]
    cards: int


class PageTrace:
    """The page's main thread in a Chromium trace: its outermost tasks and their script time."""

    def __init__(self, trace: dict[str, Any], origin: str) -> None:
        events = trace["traceEvents"]
        timing = [
            e
            for e in events
            if e.get("cat", "").startswith("blink.user_timing")
            and e.get("name", "").startswith("gpu-insight")
        ]
        main = (timing[0]["pid"], timing[0]["tid"])
        self.origin = origin
        self.events = sorted(
            (
                e
                for e in events
                if (e.get("pid"), e.get("tid")) == main
                and e.get("ph") == "X"
                and "dur" in e
                and "tdur" in e
            ),
            key=lambda e: (e["ts"], -e["dur"]),
        )
        self.tasks: list[dict[str, Any]] = []
        task_end = -1.0
        for event in self.events:
            if event["ts"] >= task_end:
                self.tasks.append(event)
                task_end = event["ts"] + event["dur"]
        # Measures begin ("b") and end ("e"); marks are instants ("I").
        self.begins = sorted((e for e in timing if e["ph"] in ("b", "I")), key=lambda e: e["ts"])
        self.ends = sorted((e for e in timing if e["ph"] == "e"), key=lambda e: e["ts"])
        self.requests = sorted(
            e["ts"]
            for e in events
            if e.get("name") == "ResourceSendRequest"
            and "/v1/" in e.get("args", {}).get("data", {}).get("url", "")
        )

    def starts(self, name: str) -> list[float]:
        return [e["ts"] for e in self.begins if e["name"] == name]

    def last_end(self, start_us: float, before_us: float) -> float:
        """The end of the last of the page's measures that started in the span."""
        starts = {e["ts"] for e in self.begins if start_us <= e["ts"] < before_us}
        ends = [e["ts"] for e in self.ends if e["ts"] >= min(starts)] if starts else []
        return max(e for e in ends if e < before_us) if ends else start_us

    def window(self, start_us: float, end_us: float) -> Window:
        tasks = [t for t in self.tasks if start_us <= t["ts"] <= end_us]
        measures = [
            e["name"] for e in self.begins if start_us <= e["ts"] <= end_us and e["ph"] == "b"
        ]
        chart_ms = {
            e["name"].removeprefix("gpu-insight:chart:"): self._script_us(t) / 1000
            for t in tasks
            for e in self.begins
            if ":chart:" in e["name"] and e["ph"] == "b" and _holds(t, e)
        }
        script_us = sum(self._script_us(t) for t in tasks)
        return Window(start_us, end_us, script_us / 1000, measures, chart_ms)

    def _script_us(self, task: dict[str, Any]) -> float:
        inside = [e for e in self.events if task["ts"] <= e["ts"] <= task["ts"] + task["dur"]]
        if any(self._devtools(e) for e in inside):
            return 0.0  # the test's own command (Playwright injecting or evaluating a script)
        runs = [e for e in inside if e["name"] in SCRIPT_RUNS]
        outermost = [r for r in runs if not any(o is not r and _holds(o, r) for o in runs)]
        return sum(r["tdur"] for r in outermost if not self._harness(r, runs))

    @staticmethod
    def _devtools(event: dict[str, Any]) -> bool:
        info = event.get("args", {}).get("chrome_mojo_event_info", {})
        return "DevTools" in info.get("mojo_interface_tag", "")

    def _harness(self, run: dict[str, Any], runs: list[dict[str, Any]]) -> bool:
        """A script Playwright runs in the page (the test's waits and reads): its functions
        have no URL of the page's."""
        calls = [
            e
            for e in runs
            if e["name"] in ("FunctionCall", "EvaluateScript") and (e is run or _holds(run, e))
        ]
        return bool(calls) and all(
            not ((e.get("args", {}).get("data") or {}).get("url") or "").startswith(self.origin)
            for e in calls
        )


def _holds(outer: dict[str, Any], inner: dict[str, Any]) -> bool:
    return outer["ts"] <= inner["ts"] <= outer["ts"] + outer["dur"]


def wait_for_next_render(page: Page) -> None:
    seen = page.evaluate(RENDERS)
    page.wait_for_function(f"() => ({RENDERS})() > {seen}", polling=POLL_MS, timeout=30_000)


@pytest.fixture(scope="module")
def load_run(browser: Browser, replay_collector: CollectorProcess) -> Iterator[LoadRun]:
    """The page over one eight-GPU host with 200 processes per GPU and a day of history, in
    a browser of its own: no other test's page shares its renderer."""
    fleet = FleetAnswers(processes_per_gpu=PROCESSES_PER_GPU)
    own = browser.browser_type.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    context = own.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    fleet.install(page)
    page.add_init_script(OBSERVE)
    own.start_tracing(page=page, categories=["toplevel", "devtools.timeline", "blink.user_timing"])
    page.goto(f"{replay_collector.url}/#token=fleet")
    page.wait_for_function(
        f"() => ({RENDERS})() >= {REFRESHES + 1}", polling=POLL_MS, timeout=60_000
    )
    first_in_view = {CHARTS[box] for box in page.evaluate(IN_VIEW, list(CHARTS))}
    in_view_after: dict[str, set[str]] = {}
    for chart in ("usage-chart", "util-chart", "memory-chart"):
        wait_for_next_render(page)  # so that the next refresh is 2 s away
        page.evaluate(
            f"""() => {{ performance.mark("{SCROLL_MARK}{chart}");
            document.getElementById("{chart}").scrollIntoView({{ block: "center" }}); }}"""
        )
        page.wait_for_timeout(1_200)
        in_view_after[chart] = {CHARTS[box] for box in page.evaluate(IN_VIEW, list(CHARTS))}
    trace = PageTrace(json.loads(own.stop_tracing()), replay_collector.url)
    renders = trace.starts("gpu-insight:render")
    first = trace.window(trace.requests[0], trace.last_end(trace.requests[0], renders[1]))
    refreshes = [first]
    for start, following in pairwise(renders[1 : REFRESHES + 2]):
        refreshes.append(trace.window(refreshes[-1].end_us, trace.last_end(start, following)))
    reveals = {}
    for chart, in_view in in_view_after.items():
        (scrolled,) = trace.starts(f"{SCROLL_MARK}{chart}")
        following = min((r for r in renders if r > scrolled), default=scrolled + 1.2e6)
        reveals[chart] = (trace.window(scrolled, trace.last_end(scrolled, following)), in_view)
    shifts = page.evaluate("() => window.layoutShifts")
    refreshed_at = page.evaluate(
        """() => performance.getEntriesByName("gpu-insight:render")[1].startTime"""
    )
    yield LoadRun(
        first=first,
        first_in_view=first_in_view,
        refreshes=refreshes[1:],
        reveals=reveals,
        layout_shifts=[(s[0], s[1]) for s in shifts],
        shifted=[s[2] for s in shifts],
        settled_at_ms=refreshed_at,
        weight=[tuple(w) for w in page.evaluate(READ_WEIGHT)],
        errors=errors,
        cards=page.evaluate("() => document.querySelectorAll('#gpus .card').length"),
    )
    context.close()
    own.close()


@pytest.fixture(scope="module", autouse=True)
def recorded(load_run: LoadRun, artifacts_dir: Path) -> None:
    """What was measured, for the README and the report."""
    (artifacts_dir / "dashboard-load.json").write_text(
        json.dumps(
            {
                "gpus": FLEET_GPUS,
                "processes_per_gpu": PROCESSES_PER_GPU,
                "history_s": DAY_S,
                "budget_ms": BUDGET_MS,
                "first_render_script_ms": round(load_run.first.script_ms, 1),
                "first_render_measures": load_run.first.measures,
                "charts_in_view_at_first": sorted(load_run.first_in_view),
                "refresh_script_ms": [round(r.script_ms, 1) for r in load_run.refreshes],
                "scrolled_to": {
                    chart: {
                        "script_ms": round(window.script_ms, 1),
                        "chart_ms": {k: round(v, 1) for k, v in window.chart_ms.items()},
                        "in_view": sorted(in_view),
                    }
                    for chart, (window, in_view) in load_run.reveals.items()
                },
                "layout_shifts": load_run.layout_shifts,
                "page_weight_bytes": dict(load_run.weight),
                "page_weight_total_bytes": sum(size for _, size in load_run.weight),
            },
            indent=2,
        )
    )


def test_the_page_draws_every_gpu_of_the_loaded_host(load_run: LoadRun) -> None:
    assert load_run.cards == FLEET_GPUS
    assert load_run.errors == []
    assert len(load_run.refreshes) == REFRESHES


def test_the_first_render_until_every_chart_in_view_is_drawn_is_within_the_budget(
    load_run: LoadRun,
) -> None:
    first = load_run.first
    assert {"gpu-insight:render", "gpu-insight:advice", "gpu-insight:usage"} <= set(first.measures)
    assert first.charts() == load_run.first_in_view
    assert first.script_ms < BUDGET_MS, (
        f"first render: {first.script_ms:.1f} ms of script, target {BUDGET_MS:g} ms"
    )


def test_each_refresh_stays_within_the_budget(load_run: LoadRun) -> None:
    spent = [round(r.script_ms, 1) for r in load_run.refreshes]
    assert max(spent) < BUDGET_MS, f"refreshes: {spent} ms of script, target {BUDGET_MS:g} ms"


def test_a_chart_is_drawn_when_it_comes_into_view(load_run: LoadRun) -> None:
    drawn = set(load_run.first.charts())
    for box, (window, in_view) in load_run.reveals.items():
        assert CHARTS[box] in in_view
        assert in_view - drawn <= window.charts(), box
        drawn |= window.charts()
    assert drawn == set(CHARTS.values())


@pytest.mark.xfail(
    strict=True,
    reason="not met: ECharts' first drawing of a chart on a fresh page is itself 60-170 ms of "
    "script on the test machine (the README has the numbers)",
)
def test_the_charts_scrolled_to_draw_within_the_budget(load_run: LoadRun) -> None:
    spent = {box: round(window.script_ms, 1) for box, (window, _) in load_run.reveals.items()}
    assert max(spent.values()) < BUDGET_MS, (
        f"scrolled to: {spent} ms of script, target {BUDGET_MS:g} ms"
    )


def test_nothing_moves_between_refreshes(load_run: LoadRun) -> None:
    later = [
        (value, what)
        for (at, value), what in zip(load_run.layout_shifts, load_run.shifted, strict=True)
        if at > load_run.settled_at_ms
    ]
    assert later == [], load_run.settled_at_ms


def test_the_page_weighs_what_the_readme_says(load_run: LoadRun) -> None:
    total = sum(size for _, size in load_run.weight)
    assert total < PAGE_WEIGHT_LIMIT_BYTES
    echarts = dict(load_run.weight)["/static/echarts.min.js"]
    assert echarts > total / 2  # the charting library is most of it
