"""Install an unpacked plugin package the way the Dify plugin daemon does.

The daemon (dify-plugin-daemon, `internal/core/local_runtime/setup_python_environment.go`) works
in the plugin's folder: `uv venv .venv --python 3.12`; then, when a pip mirror is configured and
requirements.txt exists, `uv pip install -i MIRROR -r requirements.txt`, else with a
pyproject.toml `uv sync --no-dev` (`--frozen` when uv.lock is there), else the requirements;
then `python -m compileall -x '\\.venv|\\.uv-cache' .` and `python -c "import dify_plugin"`. The
dependency step sees only VIRTUAL_ENV, PATH, UV_CACHE_DIR and the certificate variables, and is
killed after 120 s without output (PYTHON_ENV_INIT_TIMEOUT) or 10 minutes in all. The `uv` is
the one of the `uv` package on PyPI, found as the daemon finds it.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.support.processes import terminate

IDLE_TIMEOUT_S = 120.0  # the daemon's default PYTHON_ENV_INIT_TIMEOUT
STEP_TIMEOUT_S = 600.0  # its hard limit on one step
STOP_TIMEOUT_S = 5.0
COMPILEALL_EXCLUDE = r"\.venv|\.uv-cache"
PASSED_THROUGH = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
LIST_DISTRIBUTIONS = (
    "import importlib.metadata, json; "
    "print(json.dumps([d.metadata['Name'] for d in importlib.metadata.distributions()]))"
)


class DaemonInstallError(AssertionError):
    """An install step failed or went quiet; the message carries its output."""


@dataclass(frozen=True)
class DaemonInstall:
    """One installed plugin folder and what the install did."""

    plugin_dir: Path
    python: Path
    command: list[str]  # the dependency step, as the daemon ran it
    dependencies_s: float  # the dependency step alone
    total_s: float  # venv, dependencies, compileall and the dify_plugin import
    installed: frozenset[str]  # canonical names of the distributions in the venv

    def locked(self) -> frozenset[str]:
        """Canonical names in the uv.lock that `uv sync` wrote (empty for the requirements)."""
        lock = self.plugin_dir / "uv.lock"
        if not lock.is_file():
            return frozenset()
        packages = tomllib.loads(lock.read_text())["package"]
        return frozenset(canonicalize_name(p["name"]) for p in packages)


def uv_binary() -> str:
    """The daemon asks its own Python: `from uv._find_uv import find_uv_bin`."""
    from uv._find_uv import find_uv_bin

    return str(find_uv_bin())


def dependency_command(plugin_dir: Path, uv: str, mirror_url: str | None) -> list[str]:
    """The dependency step the daemon picks for this folder."""
    index = ["-i", mirror_url] if mirror_url else []
    has_requirements = (plugin_dir / "requirements.txt").is_file()
    if (mirror_url and has_requirements) or not (plugin_dir / "pyproject.toml").is_file():
        return [uv, "pip", "install", *index, "-r", "requirements.txt"]
    frozen = ["--frozen"] if (plugin_dir / "uv.lock").is_file() else []
    return [uv, "sync", "--no-dev", *frozen, *index]


def uv_environment(plugin_dir: Path, cache_dir: Path) -> dict[str, str]:
    """What the daemon hands uv, plus two settings that keep the test on this machine's terms:
    the interpreter running the tests comes first on PATH and uv never downloads one (so
    `--python 3.12` finds it), and uv trusts the system's certificate store, as pip does."""
    interpreter_bin = Path(sys.base_prefix) / "bin"
    return {
        "VIRTUAL_ENV": str(plugin_dir / ".venv"),
        "PATH": os.pathsep.join([str(interpreter_bin), os.environ.get("PATH", "")]),
        "UV_CACHE_DIR": str(cache_dir),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_SYSTEM_CERTS": "1",
        **{key: os.environ[key] for key in PASSED_THROUGH if key in os.environ},
    }


def run_step(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run one step as the daemon does: killed after IDLE_TIMEOUT_S without output on stdout or
    stderr, or after STEP_TIMEOUT_S in all. Returns the output."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    stdout = process.stdout.fileno()
    chunks: queue.Queue[bytes] = queue.Queue()

    def read() -> None:
        while chunk := os.read(stdout, 4096):
            chunks.put(chunk)
        chunks.put(b"")

    reader = threading.Thread(target=read, name="install-output", daemon=True)
    reader.start()
    output = bytearray()
    deadline = time.monotonic() + STEP_TIMEOUT_S
    try:
        while True:
            left_s = deadline - time.monotonic()
            try:
                chunk = chunks.get(timeout=max(min(IDLE_TIMEOUT_S, left_s), 0.0))
            except queue.Empty:
                why = "in all" if left_s <= IDLE_TIMEOUT_S else "without output"
                limit_s = STEP_TIMEOUT_S if left_s <= IDLE_TIMEOUT_S else IDLE_TIMEOUT_S
                raise DaemonInstallError(
                    f"`{' '.join(command)}` was killed after {limit_s:.0f} s {why}, as the "
                    f"daemon would:\n{output.decode(errors='replace')[-3000:]}"
                ) from None
            if not chunk:
                break
            output += chunk
        returncode = process.wait(timeout=STOP_TIMEOUT_S)
    finally:
        terminate(process, STOP_TIMEOUT_S)
        reader.join(STOP_TIMEOUT_S)
        process.stdout.close()
    text = output.decode(errors="replace")
    if returncode != 0:
        raise DaemonInstallError(f"`{' '.join(command)}` exited with {returncode}:\n{text[-3000:]}")
    return text


def install_like_the_daemon(
    plugin_dir: Path, cache_dir: Path, mirror_url: str | None = None
) -> DaemonInstall:
    """Make `plugin_dir/.venv` as the daemon does; `mirror_url` plays PIP_MIRROR_URL."""
    uv = uv_binary()
    env = uv_environment(plugin_dir, cache_dir)
    python = plugin_dir / ".venv" / "bin" / "python"
    started = time.monotonic()
    run_step([uv, "venv", ".venv", "--python", "3.12"], plugin_dir, env)
    command = dependency_command(plugin_dir, uv, mirror_url)
    dependencies_started = time.monotonic()
    run_step(command, plugin_dir, env)
    dependencies_s = time.monotonic() - dependencies_started
    run_step([str(python), "-m", "compileall", "-x", COMPILEALL_EXCLUDE, "."], plugin_dir, env)
    run_step([str(python), "-c", "import dify_plugin"], plugin_dir, env)
    total_s = time.monotonic() - started
    names = json.loads(run_step([str(python), "-c", LIST_DISTRIBUTIONS], plugin_dir, env))
    return DaemonInstall(
        plugin_dir=plugin_dir,
        python=python,
        command=command,
        dependencies_s=dependencies_s,
        total_s=total_s,
        installed=frozenset(canonicalize_name(name) for name in names),
    )
