"""Run the collector as a real subprocess on loopback, replaying a recorded trace."""

from __future__ import annotations

import collections
import json
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

from tests.support.processes import terminate

PLUGIN_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


def free_loopback_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CollectorProcess:
    """`python -m gpu_insight.collector --replay TRACE` on 127.0.0.1 with a random token;
    without a trace it reads NVML (the GPU tests)."""

    def __init__(
        self,
        trace: Path | None,
        token: str | None = None,
        extra_args: list[str] | None = None,
        hostname: str | None = None,
        port: int | None = None,  # one a stopped collector had, to be back where it was
        fills_history: bool = True,  # a replay books the trace's past at start
    ) -> None:
        self.trace = trace
        self.hostname = hostname
        self.fills_history = fills_history
        self.token = token or secrets.token_urlsafe(24)
        self.port = port or free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._extra_args = extra_args or []
        self._process: subprocess.Popen[bytes] | None = None
        self._output_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._state_dir: tempfile.TemporaryDirectory[str] | None = None

    def _isolated_books_args(self) -> list[str]:
        """Keeps the usage books in a temporary folder, never in the working tree."""
        if "--config" in self._extra_args:
            return []
        self._state_dir = tempfile.TemporaryDirectory(prefix="gpu-insight-collector-")
        config = Path(self._state_dir.name) / "collector.yaml"
        db_path = Path(self._state_dir.name) / "usage.sqlite3"
        settings: dict[str, Any] = {"accounting": {"db_path": str(db_path)}}
        if self.hostname is not None:
            settings["hostname"] = self.hostname
        if not self.fills_history:
            settings["replay_fills_history"] = False
        config.write_text(json.dumps(settings), encoding="utf-8")
        return ["--config", str(config)]

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> Self:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gpu_insight.collector",
                *(["--replay", str(self.trace)] if self.trace else []),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                f"--token={self.token}",  # one form: a random token may begin with "-"
                *self._extra_args,
                *self._isolated_books_args(),
            ],
            cwd=PLUGIN_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._drain_output, name="collector-output", daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(
                    f"the collector exited during start-up (rc={self._process.returncode})"
                    + self._output_report()
                )
            if self._healthy():
                return self
            time.sleep(0.1)
        self.stop()
        raise AssertionError(
            f"the collector did not answer {self.url}/healthz within {timeout_s:.0f} s"
            + self._output_report()
        )

    def stop(self) -> None:
        self.resume()  # a stopped process would take SIGTERM only once continued
        terminate(self._process, STOP_TIMEOUT_S)
        if self._state_dir is not None:
            self._state_dir.cleanup()
            self._state_dir = None

    def kill(self) -> int:
        """SIGKILL, as a crash would: nothing is flushed or closed. Returns the exit status."""
        assert self._process is not None, "the collector was never started"
        self._process.kill()
        return self._process.wait(timeout=STOP_TIMEOUT_S)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections (the kernel's backlog) but nothing
        answers, as with a frozen host."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, number: signal.Signals) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(number)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def get(self, path: str) -> Any:
        """The JSON answer of an authenticated GET."""
        return json.loads(self.get_text(path))

    def get_text(self, path: str) -> str:
        """The answer of an authenticated GET, as text."""
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode()

    @property
    def output(self) -> str:
        return "".join(self._output_tail)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return response.status == 200 and isinstance(json.load(response), dict)
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def _drain_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for raw_line in self._process.stdout:
            self._output_tail.append(raw_line.decode(errors="replace"))

    def _output_report(self) -> str:
        tail = self.output.strip()
        return f"\n--- collector output (tail) ---\n{tail}" if tail else "\n(no collector output)"
