"""Headless Chromium for the dashboard tests, and a stand-in for Dify's endpoint gateway."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    ViewportSize,
    sync_playwright,
)

from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PLUGIN_ROOT, PluginRuntime
from tests.web.collector_http import get_json

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PLUGIN_ROOT / "test-artifacts"
HOOK_ID = "dashboardhook0001"
ENDPOINT_API_KEY = "dashboard-browser-key-91c2"


VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
CHART_BOXES = ("usage-chart", "util-chart", "memhist-chart", "memory-chart")


def show_charts(page: Page, *boxes: str) -> None:
    """Scrolls to each chart (all when none is named) and waits until it shows what it was
    last asked to: the page draws a chart only while it is in view. Panels above it that fill
    or grow after the scroll (processes, advice) can push it out of view again, so it is
    scrolled back while waiting."""
    for box in boxes or CHART_BOXES:
        page.wait_for_function(
            """(id) => { const box = document.getElementById(id);
                const { top, bottom } = box.getBoundingClientRect();
                if (bottom <= 0 || top >= innerHeight) box.scrollIntoView({ block: "center" });
                return echarts.getInstanceByDom(box) && !box.hasAttribute("data-pending"); }""",
            arg=box,
        )


def open_endpoint_dashboard(page: Page, endpoint_url: str, collector: CollectorProcess) -> None:
    """Opens the plugin's `/dashboard` with the endpoint key, as a user's bookmark does, and
    waits for its GPU cards, which name the collector's GPUs in order."""
    page.goto(f"{endpoint_url}/dashboard#key={ENDPOINT_API_KEY}")
    page.wait_for_selector("#gpus .card")
    names = page.locator("#gpus .card .gpu-name").all_inner_texts()
    assert names == [g["name"] for g in get_json(collector, "/v1/snapshot")["gpus"]]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, started once per test session with a fresh temporary profile."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/install-system-deps.sh")
    with sync_playwright() as playwright:
        started = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield started
        started.close()


@dataclass
class WatchedPage:
    """A page whose console errors and uncaught exceptions are collected."""

    page: Page
    errors: list[str] = field(default_factory=list)


# Opens a page in a context of its own: a reader's language, colour scheme and screen.
OpenPage = Callable[..., WatchedPage]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    contexts: list[BrowserContext] = []

    def open_one(
        locale: str = "en-US",
        color_scheme: Literal["light", "dark"] = "light",
        viewport: ViewportSize | None = None,
    ) -> WatchedPage:
        context = browser.new_context(
            locale=locale,
            color_scheme=color_scheme,
            viewport=viewport or VIEWPORT,
        )
        contexts.append(context)
        page = context.new_page()
        watched = WatchedPage(page)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                watched.errors.append(f"console: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: watched.errors.append(f"page error: {error}"))
        return watched

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture
def watched_page(open_page: OpenPage) -> WatchedPage:
    """A page for an English reader on a desktop screen in light mode."""
    return open_page()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class _GatewayHandler(BaseHTTPRequestHandler):
    """Forwards /e/<hook_id>/<path> to the plugin as the daemon does (path after the hook id)."""

    server: _Gateway

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        prefix = f"/e/{HOOK_ID}"
        if not self.path.startswith(prefix + "/"):
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        forwarded = {
            name: value
            for name, value in self.headers.items()
            if name.lower() in ("x-api-key", "content-type", "accept")
        }
        answer = self.server.runtime.invoke_endpoint(
            self.command,
            self.path[len(prefix) :],
            headers=forwarded,
            body=body,
            settings=self.server.settings,
        )
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not every request."""


class _Gateway(ThreadingHTTPServer):
    def __init__(self, runtime: PluginRuntime, settings: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _GatewayHandler)
        self.runtime = runtime
        self.settings = settings


@pytest.fixture(scope="module")
def endpoint_base_url(
    plugin_runtime: PluginRuntime, replay_collector: CollectorProcess
) -> Iterator[str]:
    """`http://127.0.0.1:<port>/e/<hook_id>`: the plugin's endpoints behind a public URL."""
    settings = {"collector_url": replay_collector.url, "collector_token": replay_collector.token}
    with serving_endpoints(plugin_runtime, settings) as url:
        yield url


@contextlib.contextmanager
def serving_endpoints(runtime: PluginRuntime, settings: dict[str, Any]) -> Iterator[str]:
    """The gateway in front of `runtime`'s endpoints with these settings and the endpoint key:
    its `/e/<hook_id>` URL."""
    gateway = _Gateway(runtime, {**settings, "api_key": ENDPOINT_API_KEY})
    thread = threading.Thread(target=gateway.serve_forever, name="endpoint-gateway", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{gateway.server_address[1]}/e/{HOOK_ID}"
    finally:
        gateway.shutdown()
        gateway.server_close()
        thread.join(timeout=5)
