"""`make package` output: what each .difypkg holds, and that it installs the way the plugin
daemon installs it and then starts."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts.package_plugin import (
    PackageError,
    build_package,
    plugin_pyproject,
    project_table,
    requirement_lines,
)
from tests.support.daemon_install import DaemonInstall, install_like_the_daemon
from tests.support.plugin_runtime import PLUGIN_ROOT, PluginRuntime, raw_http_request

MAX_PACKAGE_BYTES = 50 * 1024 * 1024
PYPI_SIMPLE = "https://pypi.org/simple"  # plays the daemon's PIP_MIRROR_URL


@pytest.fixture(scope="module")
def packages() -> dict[str, Path]:
    """Every package `make package` builds, by file name."""
    result = subprocess.run(
        [sys.executable, "scripts/package_plugin.py"],
        cwd=PLUGIN_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.strip().splitlines()]
    return {path.name: path for path in paths}


@pytest.fixture(scope="module")
def package(packages: dict[str, Path]) -> Path:
    return packages["gpu_insight-0.1.0.difypkg"]


@pytest.fixture(scope="module")
def trigger_package(packages: dict[str, Path]) -> Path:
    return packages["gpu_insight_trigger-0.1.0.difypkg"]


def test_make_package_builds_both_plugins_side_by_side(packages: dict[str, Path]) -> None:
    assert set(packages) == {"gpu_insight-0.1.0.difypkg", "gpu_insight_trigger-0.1.0.difypkg"}
    assert len({path.parent for path in packages.values()}) == 1


@pytest.fixture(scope="module")
def names(package: Path) -> list[str]:
    with zipfile.ZipFile(package) as archive:
        return archive.namelist()


def test_the_package_holds_what_the_plugin_runs(names: list[str]) -> None:
    for required in (
        "manifest.yaml",
        "main.py",
        "pyproject.toml",
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
        "gpu_insight/schemas.py",
    ):
        assert required in names, required


def shipped_under(names: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """Members under any of `prefixes`, and compiled or cached Python files."""
    return [n for n in names if n.startswith(prefixes) or "__pycache__" in n or n.endswith(".pyc")]


def test_the_package_leaves_out_tests_collector_and_dev_files(names: list[str]) -> None:
    excluded_prefixes = (
        "tests/",
        "bench/",
        "deploy/",
        "gpu_insight/collector/",
        "gpu_insight/triggers/",
        "trigger/",
        "scripts/",
        ".venv/",
        "node_modules/",
        "dist/",
        ".git/",
        ".ci/",
    )
    assert not shipped_under(names, excluded_prefixes)
    assert ".env" not in names and "Makefile" not in names and "uv.lock" not in names


def test_the_package_ships_the_bundled_chart_library_when_built(names: list[str]) -> None:
    if not (PLUGIN_ROOT / "gpu_insight/web/static/echarts.min.js").is_file():
        pytest.skip("echarts.min.js is built by `make web`; not built here")
    assert "gpu_insight/web/static/echarts.min.js" in names


def test_the_package_is_under_the_size_dify_accepts(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    assert package.stat().st_size < MAX_PACKAGE_BYTES
    assert unpacked < MAX_PACKAGE_BYTES


def test_the_packaged_pyproject_names_the_runtime_dependencies_and_nothing_else(
    package: Path,
) -> None:
    with zipfile.ZipFile(package) as archive:
        packaged = tomllib.loads(archive.read("pyproject.toml").decode())
    project = project_table(PLUGIN_ROOT)
    assert packaged["project"]["dependencies"] == project["dependencies"]
    assert set(packaged["project"]) == {"name", "version", "requires-python", "dependencies"}
    assert set(packaged) == {"project", "tool"}  # no dependency-groups, no build-system
    assert packaged["tool"] == {"uv": {"package": False}}


def test_requirements_txt_lists_the_runtime_dependencies() -> None:
    listed = requirement_lines((PLUGIN_ROOT / "requirements.txt").read_text())
    assert sorted(listed) == sorted(project_table(PLUGIN_ROOT)["dependencies"])
    assert any(Requirement(r).name == "dify_plugin" for r in listed)


@pytest.fixture(scope="module")
def trigger_names(trigger_package: Path) -> list[str]:
    with zipfile.ZipFile(trigger_package) as archive:
        return archive.namelist()


def test_the_trigger_package_holds_the_trigger_and_the_core_it_runs(
    trigger_names: list[str],
) -> None:
    for required in (
        "manifest.yaml",
        "main.py",
        "pyproject.toml",
        "requirements.txt",
        "README.md",
        "PRIVACY.md",
        "_assets/icon.svg",
        "_assets/icon-dark.svg",
        "provider/gpu_insight_trigger.yaml",
        "provider/gpu_insight_trigger.py",
        "events/alert_firing.yaml",
        "events/alert_firing.py",
        "events/alert_event.py",
        "gpu_insight/triggers/dispatch.py",
        "gpu_insight/sources/client.py",
        "gpu_insight/schemas.py",
    ):
        assert required in trigger_names, required


def test_the_trigger_package_leaves_out_what_only_the_collector_and_the_tools_run(
    trigger_names: list[str],
) -> None:
    excluded_prefixes = (
        "gpu_insight/collector/",
        "gpu_insight/web/",
        "gpu_insight/estimate/",
        "gpu_insight/answers/",
        "gpu_insight/advise/",
        "tools/",
        "endpoints/",
        "tests/",
        "trigger/",
    )
    assert not shipped_under(trigger_names, excluded_prefixes)


def test_the_trigger_package_names_itself_and_the_runtime_dependencies(
    trigger_package: Path,
) -> None:
    with zipfile.ZipFile(trigger_package) as archive:
        packaged = tomllib.loads(archive.read("pyproject.toml").decode())
        requirements = requirement_lines(archive.read("requirements.txt").decode())
    dependencies = project_table(PLUGIN_ROOT)["dependencies"]
    assert packaged["project"]["name"] == "gpu-insight-trigger"
    assert packaged["project"]["dependencies"] == dependencies == requirements


def test_the_unpacked_trigger_package_starts_and_checks_a_signature_on_its_own(
    trigger_package: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(trigger_package) as archive:
        archive.extractall(tmp_path / "trigger")
    with PluginRuntime(plugin_root=tmp_path / "trigger") as runtime:
        body = b'{"state": "firing"}'
        raw = raw_http_request(
            "POST", "/t", {"Host": "dify", "X-GPU-Insight-Signature": "sha256=00"}, body
        )
        dispatch = runtime.dispatch_trigger_event(raw, {"webhook_secret": "s" * 32})
    assert (runtime.manifest["name"], dispatch.response.status) == ("gpu_insight_trigger", 401)


def write_plugin_root(root: Path, requirements: str, difyignore: str) -> Path:
    """The smallest tree the build reads: manifest, pyproject, requirements, .difyignore."""
    root.mkdir()
    (root / "manifest.yaml").write_text("name: tiny\nversion: 0.0.1\n")
    (root / "pyproject.toml").write_text(
        plugin_pyproject(
            {
                "name": "tiny",
                "version": "0.0.1",
                "requires-python": ">=3.12",
                "dependencies": ["dify_plugin>=0.9,<0.11"],
            }
        )
    )
    (root / "requirements.txt").write_text(requirements)
    (root / ".difyignore").write_text(difyignore)
    return root


def test_the_build_refuses_a_requirements_txt_that_differs_from_the_pyproject(
    tmp_path: Path,
) -> None:
    root = write_plugin_root(tmp_path / "plugin", "dify_plugin>=0.9\n", "pyproject.toml\n")
    with pytest.raises(PackageError, match=r"requirements\.txt lists dify_plugin>=0\.9 but"):
        build_package(root, tmp_path / "dist")


def test_the_build_refuses_to_ship_the_repository_pyproject(tmp_path: Path) -> None:
    root = write_plugin_root(tmp_path / "plugin", "dify_plugin>=0.9,<0.11\n", "")
    with pytest.raises(PackageError, match=r"list it in \.difyignore"):
        build_package(root, tmp_path / "dist")


# -- installed as the daemon installs it ---------------------------------------------------


def unpacked_install(package: Path, folder: Path, mirror_url: str | None) -> DaemonInstall:
    pytest.importorskip("uv", reason="the daemon's installer, uv, comes with the dev extra")
    plugin_dir = folder / "plugin"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(plugin_dir)
    installed = install_like_the_daemon(plugin_dir, folder / ".uv-cache", mirror_url)
    step = " ".join(installed.command[1:])
    print(f"{step}: {installed.dependencies_s:.1f} s; whole install {installed.total_s:.1f} s")
    return installed


@pytest.fixture(scope="module")
def synced(package: Path, tmp_path_factory: pytest.TempPathFactory) -> DaemonInstall:
    """The daemon's default: the package holds a pyproject.toml, so `uv sync --no-dev`."""
    return unpacked_install(package, tmp_path_factory.mktemp("uv-sync"), mirror_url=None)


@pytest.fixture(scope="module")
def from_requirements(package: Path, tmp_path_factory: pytest.TempPathFactory) -> DaemonInstall:
    """With PIP_MIRROR_URL set the daemon installs requirements.txt instead."""
    return unpacked_install(package, tmp_path_factory.mktemp("uv-pip"), mirror_url=PYPI_SIMPLE)


def extras_only(runtime: frozenset[str]) -> frozenset[str]:
    """Distributions named by the collector's and dev extras that the runtime set does not need."""
    extras = project_table(PLUGIN_ROOT)["optional-dependencies"].values()
    named = {canonicalize_name(Requirement(r).name) for extra in extras for r in extra}
    return frozenset(named - runtime)


@pytest.mark.install
def test_uv_sync_installs_the_package_and_the_plugin_completes_the_handshake(
    synced: DaemonInstall,
) -> None:
    assert synced.command[1:] == ["sync", "--no-dev"]  # no uv.lock shipped, so no --frozen
    with PluginRuntime(plugin_root=synced.plugin_dir, python=str(synced.python)) as runtime:
        assert (runtime.manifest["name"], runtime.manifest["version"]) == ("gpu_insight", "0.1.0")


@pytest.mark.install
def test_the_requirements_install_under_a_mirror_completes_the_handshake(
    from_requirements: DaemonInstall,
) -> None:
    assert from_requirements.command[1:] == [
        "pip",
        "install",
        "-i",
        PYPI_SIMPLE,
        "-r",
        "requirements.txt",
    ]
    with PluginRuntime(
        plugin_root=from_requirements.plugin_dir, python=str(from_requirements.python)
    ) as runtime:
        assert runtime.manifest["name"] == "gpu_insight"


@pytest.mark.install
def test_the_trigger_package_installs_with_uv_sync_and_completes_the_handshake(
    trigger_package: Path, tmp_path: Path
) -> None:
    installed = unpacked_install(trigger_package, tmp_path, mirror_url=None)
    with PluginRuntime(plugin_root=installed.plugin_dir, python=str(installed.python)) as runtime:
        assert runtime.manifest["name"] == "gpu_insight_trigger"


@pytest.mark.install
def test_uv_sync_resolves_none_of_the_collector_or_dev_extras(
    synced: DaemonInstall, from_requirements: DaemonInstall
) -> None:
    unwanted = extras_only(from_requirements.installed)
    assert {"fastapi", "uvicorn", "nvidia-ml-py", "pytest", "playwright"} <= unwanted
    assert not synced.locked() & unwanted
    assert not synced.installed & unwanted


@pytest.mark.install
def test_both_install_paths_install_the_same_distributions(
    synced: DaemonInstall, from_requirements: DaemonInstall
) -> None:
    assert synced.installed == from_requirements.installed
    assert "dify-plugin" in synced.installed
