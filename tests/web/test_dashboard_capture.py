"""`scripts/dashboard_screenshot.py --capture DIR`: a GPU host's answers, fetched there into a
folder, pictured as its collector would have served them, every panel they hold drawn."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PLUGIN_ROOT
from tests.web.collector_http import get_json
from tests.web.conftest import OpenPage, show_charts

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dashboard_screenshot", PLUGIN_ROOT / "scripts" / "dashboard_screenshot.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def capture(
    script: ModuleType, replay_collector: CollectorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Every answer the script pictures, fetched from a collector as the capture step says."""
    folder = tmp_path_factory.mktemp("capture")
    for route, (name, query) in script.CAPTURED.items():
        (folder / name).write_text(json.dumps(get_json(replay_collector, route + query)))
    return folder


@pytest.fixture
def served(script: ModuleType, capture: Path) -> Iterator[str]:
    with script.serve_capture(capture) as url:
        yield f"{url}/#token={script.CAPTURE_TOKEN}"


def test_a_capture_draws_every_panel_it_holds(
    open_page: OpenPage, served: str, capture: Path
) -> None:
    watched = open_page()
    page = watched.page
    page.goto(served)
    page.wait_for_selector("#advice > li")
    page.wait_for_selector("#usage-table tbody tr")
    show_charts(page)
    snapshot = json.loads((capture / "live-snapshot.json").read_text())
    assert page.locator("#gpus .card").count() == len(snapshot["gpus"])
    assert page.locator("#processes tbody tr[data-pid]").count() == len(snapshot["processes"])
    assert page.locator("#usage-error").is_hidden() and page.locator("#advice-error").is_hidden()
    assert watched.errors == []


def test_an_answer_not_captured_is_said_so_in_its_panel(
    script: ModuleType, open_page: OpenPage, capture: Path, tmp_path: Path
) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(capture, partial)
    (partial / "live-usage.json").unlink()
    with script.serve_capture(partial) as url:
        page = open_page().page
        page.goto(f"{url}/#token={script.CAPTURE_TOKEN}")
        page.wait_for_selector("#advice > li")
        page.locator("#usage-error").wait_for(state="visible")
        assert page.locator("#usage-error").inner_text() == "This server has no usage route."


def test_the_script_pictures_a_capture_down_to_the_height_asked(
    capture: Path, tmp_path: Path
) -> None:
    out = tmp_path / "capture.png"
    arguments = ["--capture", str(capture), "--page-height", "1480", str(out)]
    subprocess.run(
        [sys.executable, "scripts/dashboard_screenshot.py", *arguments],
        cwd=PLUGIN_ROOT,
        env={**os.environ, "PYTHONPATH": str(PLUGIN_ROOT)},  # this checkout's page
        check=True,
        timeout=120,
    )
    width, height = struct.unpack(">II", out.read_bytes()[16:24])  # the PNG's header chunk
    assert (width, height) == (1440, 1480)
