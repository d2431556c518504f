"""Screenshots of the dashboard in headless Chromium, for the README.

    python scripts/dashboard_screenshot.py --collector http://127.0.0.1:9470 --token T OUT.png
    python scripts/dashboard_screenshot.py --collector URL --token T --locale zh-CN OUT.png
    python scripts/dashboard_screenshot.py --collector URL --token T --width 390 --height 844 \\
        --page-height 2400 OUT.png
    python scripts/dashboard_screenshot.py --capture DIR OUT.png

`--capture DIR` is the step for a GPU host without a browser: it serves, on loopback, the
answers fetched from the live collector there next to the real page and assets: DIR/
live-snapshot.json and DIR/live-history.json (required), and live-usage.json, live-advice.json,
live-alerts.json when they were captured too (a panel whose answer is missing says so). The page
is then pictured exactly as that collector answered.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, sync_playwright

from gpu_insight.web import HTML, page_html, static_asset

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CAPTURE_TOKEN = "capture"
# Route of the collector's API -> the file a capture holds its answer in, and the query it is
# fetched with on the GPU host (the page asks with its own; a capture answers them all the
# same); the first two must be captured.
CAPTURED = {
    "/v1/snapshot": ("live-snapshot.json", ""),
    "/v1/history": ("live-history.json", "?seconds=900"),
    "/v1/usage": ("live-usage.json", "?bucket_s=3600"),
    "/v1/advice": ("live-advice.json", ""),
    "/v1/alerts": ("live-alerts.json", "?include_resolved=true"),
}
REQUIRED = ("/v1/snapshot", "/v1/history")
NOT_CAPTURED = b'{"error": "not_found", "message": "this answer was not captured"}'
SETTLE_MS = 3_000  # a refresh after the first drawing
# The charts whose tops lie above `bottom` (page pixels): the page draws a chart only while it
# is in view, so each is scrolled to and waited for before the picture is taken.
CHARTS_ABOVE = """(bottom) => [...document.querySelectorAll(".chart")]
  .filter((box) => box.getBoundingClientRect().top + scrollY < bottom).map((box) => box.id)"""
DRAWN = """(id) => !document.getElementById(id).hasAttribute("data-pending")"""


@contextmanager
def serve_capture(capture: Path) -> Iterator[str]:
    """The page, its assets and the captured answers on 127.0.0.1; yields the base URL."""
    answers = {
        route: (capture / name).read_bytes()
        for route, (name, _) in CAPTURED.items()
        if route in REQUIRED or (capture / name).is_file()
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(200, page_html().encode(), HTML)
            elif path.startswith("/static/") and (asset := static_asset(path[8:])):
                self._send(200, *asset)
            elif path in answers:
                self._send(200, answers[path], "application/json")
            else:
                self._send(404, NOT_CAPTURED, "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def screenshot(
    url: str,
    token: str,
    out: Path,
    viewport: ViewportSize,
    *,
    locale: str,
    scheme: str,
    page_height: int | None,
) -> None:
    """The page at `url` with `token`, once its data and charts are drawn; the viewport alone,
    or the page down to `page_height`."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(
            viewport=viewport,
            locale=locale,
            color_scheme="dark" if scheme == "dark" else "light",
        )
        page = context.new_page()
        page.goto(f"{url}/#token={token}")
        page.wait_for_selector("#updated[data-collected-at]", timeout=30_000)
        page.wait_for_timeout(SETTLE_MS)
        draw_charts(page, page_height or viewport["height"])
        out.parent.mkdir(parents=True, exist_ok=True)
        if page_height is None:
            page.screenshot(path=str(out))
        else:
            height = min(page_height, page.evaluate("() => document.documentElement.scrollHeight"))
            page.screenshot(
                path=str(out),
                full_page=True,
                clip={"x": 0, "y": 0, "width": viewport["width"], "height": height},
            )
        browser.close()


def draw_charts(page: Page, bottom: int) -> None:
    """Every chart the picture holds drawn, and the page back at its top."""
    for box in page.evaluate(CHARTS_ABOVE, bottom):
        page.locator(f"#{box}").scroll_into_view_if_needed()
        page.wait_for_function(DRAWN, arg=box, timeout=10_000)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_timeout(200)  # the frame at the top


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--collector", help="base URL of a running collector")
    source.add_argument("--capture", type=Path, help="folder with the captured live-*.json")
    parser.add_argument("--token", default="", help="the collector's token (with --collector)")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--page-height", type=int, help="picture the page down to this height")
    parser.add_argument("--locale", default="en-US", help="the browser's language, e.g. zh-CN")
    parser.add_argument("--scheme", choices=("light", "dark"), default="light")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    viewport: ViewportSize = {"width": args.width, "height": args.height}

    def take(url: str, token: str) -> None:
        screenshot(
            url,
            token,
            args.out,
            viewport,
            locale=args.locale,
            scheme=args.scheme,
            page_height=args.page_height,
        )

    if args.capture:
        with serve_capture(args.capture) as url:
            take(url, CAPTURE_TOKEN)
    else:
        take(args.collector, args.token)
    print(args.out)


if __name__ == "__main__":
    main()
