"""`make package` output: what the .difypkg holds, and that it installs and starts on its own."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.plugin_runtime import PLUGIN_ROOT, PluginRuntime

MAX_PACKAGE_BYTES = 50 * 1024 * 1024
INSTALL_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = subprocess.run(
        [sys.executable, "scripts/package_plugin.py"],
        cwd=PLUGIN_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.name == "gpu_insight-0.1.0.difypkg"
    return path


@pytest.fixture(scope="module")
def names(package: Path) -> list[str]:
    with zipfile.ZipFile(package) as archive:
        return archive.namelist()


def test_the_package_holds_what_the_plugin_runs(names: list[str]) -> None:
    for required in (
        "manifest.yaml",
        "main.py",
        "requirements.txt",
        "PRIVACY.md",
        "_assets/icon.svg",
        "_assets/icon-dark.svg",
        "provider/gpu_insight.yaml",
        "provider/gpu_insight.py",
        "group/gpu_insight.yaml",
        "tools/gpu_status.py",
        "tools/gpu_processes.py",
        "endpoints/status.py",
        "endpoints/metrics.py",
        "gpu_insight/client.py",
        "gpu_insight/schemas.py",
    ):
        assert required in names, required


def test_the_package_leaves_out_tests_collector_and_dev_files(names: list[str]) -> None:
    excluded_prefixes = (
        "tests/",
        "bench/",
        "deploy/",
        "gpu_insight/collector/",
        "scripts/",
        ".venv/",
        "node_modules/",
        "dist/",
        ".git/",
        ".ci/",
    )
    assert not [n for n in names if n.startswith(excluded_prefixes)]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert ".env" not in names and "Makefile" not in names


def test_the_package_ships_the_bundled_chart_library_when_built(names: list[str]) -> None:
    if not (PLUGIN_ROOT / "gpu_insight/web/static/echarts.min.js").is_file():
        pytest.skip("echarts.min.js is built by `make web`; not built here")
    assert "gpu_insight/web/static/echarts.min.js" in names


def test_the_package_is_under_the_size_dify_accepts(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    assert package.stat().st_size < MAX_PACKAGE_BYTES
    assert unpacked < MAX_PACKAGE_BYTES


def test_the_unpacked_package_installs_its_requirements_and_starts(
    package: Path, tmp_path: Path
) -> None:
    plugin_dir = tmp_path / "plugin"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(plugin_dir)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(plugin_dir / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    with PluginRuntime(plugin_root=plugin_dir, python=str(python)) as runtime:
        assert runtime.manifest["name"] == "gpu_insight"
        assert runtime.manifest["version"] == "0.1.0"
