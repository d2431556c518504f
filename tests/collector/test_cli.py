"""The command line: flags over the config file, and what it refuses to start with."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gpu_insight.collector.__main__ import EXIT_USAGE, load_config, main, parse_args
from gpu_insight.collector.config import is_loopback
from tests.support.collector_process import PLUGIN_ROOT, free_loopback_port
from tests.support.synthetic_trace import write_synthetic_trace

SECRET = "s3cret-token-never-printed"


@pytest.fixture(autouse=True)
def no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPU_INSIGHT_TOKEN", raising=False)


def test_defaults_bind_loopback_port_9470_without_token() -> None:
    config = load_config(parse_args([]))
    assert (config.host, config.port, config.auth.token) == ("127.0.0.1", 9470, None)


def test_non_loopback_bind_without_token_is_refused_with_exit_code_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--host", "0.0.0.0"]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0 without a token" in error
    assert "GPU_INSIGHT_TOKEN" in error


def test_non_loopback_bind_is_accepted_with_a_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GPU_INSIGHT_TOKEN", SECRET)
    config = load_config(parse_args(["--host", "0.0.0.0"]))
    assert config.auth.token == SECRET


def test_token_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_INSIGHT_TOKEN", "from-env")
    assert load_config(parse_args(["--token", SECRET])).auth.token == SECRET


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("127.8.9.1", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("gpu-node-1", False),
    ],
)
def test_loopback_addresses_are_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text("port: 9999\nsampling:\n  slow_interval_s: 60\n")
    config = load_config(parse_args(["--config", str(path), "--port", "9471"]))
    assert config.port == 9471
    assert config.sampling.slow_interval_s == 60


def test_unknown_config_key_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text("sampling:\n  fast_interval: 1\n")
    assert main(["--config", str(path)]) == EXIT_USAGE
    assert "sampling.fast_interval" in capsys.readouterr().err


def test_missing_config_file_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "absent.yaml")]) == EXIT_USAGE
    assert "cannot read config file" in capsys.readouterr().err


def test_missing_replay_trace_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "usage.sqlite3"
    path = tmp_path / "collector.yaml"
    path.write_text(f"accounting:\n  db_path: {db}\n")
    code = main(["--config", str(path), "--replay", str(tmp_path / "absent.jsonl")])
    assert code == EXIT_USAGE
    assert "cannot read replay trace" in capsys.readouterr().err


def test_invalid_attribution_pattern_exits_2_naming_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "usage.sqlite3"
    path = tmp_path / "collector.yaml"
    path.write_text(
        f"accounting:\n  db_path: {db}\n"
        "attribution:\n  rules:\n    - match_model: '('\n      app: x\n"
    )
    assert main(["--config", str(path)]) == EXIT_USAGE
    assert "attribution.rules[0].match_model" in capsys.readouterr().err


def test_invalid_flags_never_print_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0", "--port", "0", "--token", SECRET]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert SECRET not in captured.err + captured.out


def test_console_entry_point_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gpu_insight.collector", "--host", "0.0.0.0"],
        cwd=PLUGIN_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == EXIT_USAGE
    assert "without a token" in result.stderr


def test_sigterm_stops_every_part_and_exits_0(tmp_path: Path) -> None:
    trace = write_synthetic_trace(tmp_path / "trace.jsonl")
    record = tmp_path / "recorded.jsonl"
    port = free_loopback_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpu_insight.collector",
            "--port",
            str(port),
            "--replay",
            str(trace),
            "--record",
            str(record),
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PLUGIN_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert health["source"] == "replay"
    assert process.returncode == 0
    assert "collector stopped" in output
    assert record.read_text().count("\n") >= 1


def wait_for_health(url: str, process: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the collector exited during start-up"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return json.load(response)
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no answer from {url} within 30 s")
