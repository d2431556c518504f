"""Screenshots of the dashboard in headless Chromium, for the README.

    python scripts/dashboard_screenshot.py --collector http://127.0.0.1:9470 --token T OUT.png
    python scripts/dashboard_screenshot.py --capture DIR OUT.png

`--capture DIR` serves, on loopback, the snapshot and history that were fetched from a live
collector (DIR/live-snapshot.json, DIR/live-history.json) next to the real page and assets, so
a GPU host without a browser can still be pictured exactly as its collector answered.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import sync_playwright

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


@contextmanager
def serve_capture(capture: Path) -> Iterator[str]:
    """The page, its assets and the captured answers on 127.0.0.1; yields the base URL."""
    answers = {
        "/v1/snapshot": (capture / "live-snapshot.json").read_bytes(),
        "/v1/history": (capture / "live-history.json").read_bytes(),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(page_html().encode(), HTML)
            elif path.startswith("/static/") and (asset := static_asset(path[8:])):
                self._send(*asset)
            elif path in answers:
                self._send(answers[path], "application/json")
            else:
                self.send_error(404)

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
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


def screenshot(url: str, token: str, out: Path, width: int, height: int) -> None:
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        page = context.new_page()
        page.goto(f"{url}/#token={token}")
        page.wait_for_selector("#updated[data-collected-at]", timeout=15_000)
        page.locator("#gpus .card").first.click()  # show the processes of the first GPU
        page.wait_for_timeout(2_500)  # one refresh, so the charts have settled
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--collector", help="base URL of a running collector")
    source.add_argument("--capture", type=Path, help="folder with live-snapshot/history JSON")
    parser.add_argument("--token", default="", help="the collector's token (with --collector)")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.capture:
        with serve_capture(args.capture) as url:
            screenshot(url, CAPTURE_TOKEN, args.out, args.width, args.height)
    else:
        screenshot(args.collector, args.token, args.out, args.width, args.height)
    print(args.out)


if __name__ == "__main__":
    main()
