"""Session fixtures shared by every suite: the plugin runtime and a replaying collector.

Suites add their own fixtures in their own modules; keep this file small.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.collector_process import CollectorProcess, free_loopback_port
from tests.support.plugin_runtime import PLUGIN_ROOT, PluginRuntime
from tests.support.synthetic_trace import write_synthetic_trace

RECORDED_TRACE = PLUGIN_ROOT / "gpu_insight" / "collector" / "traces" / "h100-replay.jsonl"


@pytest.fixture(scope="session")
def plugin_runtime() -> Iterator[PluginRuntime]:
    """`python -m main` speaking the SDK's stdio protocol, as the plugin daemon runs it."""
    with PluginRuntime() as runtime:
        yield runtime


@pytest.fixture(scope="session")
def replay_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recorded H100 trace when shipped, else a small synthetic one."""
    if RECORDED_TRACE.is_file():
        return RECORDED_TRACE
    return write_synthetic_trace(tmp_path_factory.mktemp("trace") / "synthetic.jsonl")


@pytest.fixture(scope="session")
def replay_collector(replay_trace: Path) -> Iterator[CollectorProcess]:
    """A collector on 127.0.0.1 replaying the trace; `.url` and `.token`."""
    with CollectorProcess(replay_trace) as collector:
        yield collector


@pytest.fixture
def collector_down_url() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    port = free_loopback_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} unexpectedly open"
    return f"http://127.0.0.1:{port}"
