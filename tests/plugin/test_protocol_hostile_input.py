"""Hostile input through the plugin runtime: each gets one sentence naming what is wrong, never
a Python error text, a 500, or an echo of the whole input; nothing hangs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.canned_http import StreamingServer
from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime

API_KEY = "endpoint-key-0123456789abcdef"
PYTHON_TEXTS = ("Traceback", "codec can't", "Exceeds the limit", "recursion", "OverflowError")


@pytest.fixture(scope="module")
def credentials(replay_collector: CollectorProcess) -> dict[str, Any]:
    return {"collector_url": replay_collector.url, "collector_token": replay_collector.token}


def post_vram_check(runtime: PluginRuntime, credentials: dict[str, Any], body: bytes) -> Any:
    settings = {**credentials, "api_key": API_KEY}
    return runtime.invoke_endpoint(
        "POST",
        "/vram-check",
        headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
        body=body,
        settings=settings,
    )


def assert_plain_sentence(message: str, limit: int = 600) -> None:
    assert len(message) < limit, message[:200]
    assert not any(text in message for text in PYTHON_TEXTS), message


def test_a_token_with_an_invisible_character_is_refused_on_save(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    pasted = {**credentials, "collector_token": credentials["collector_token"] + "\u200b"}
    ok, message = plugin_runtime.validate_credentials(pasted)
    assert not ok and message is not None
    assert "collector_token holds a character that cannot be sent in an HTTP header" in message
    assert credentials["collector_token"] not in message


def test_a_collector_url_that_is_not_text_is_a_settings_message(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    ok, message = plugin_runtime.validate_credentials({**credentials, "collector_url": 5})
    assert not ok and message is not None
    assert message.startswith("collector_url must be text")


def test_a_trickling_collector_fails_the_settings_check_within_the_deadline(
    plugin_runtime: PluginRuntime,
) -> None:
    with StreamingServer(piece=b" ", interval_s=1.0, limit_bytes=60) as server:
        started = time.monotonic()
        ok, message = plugin_runtime.validate_credentials({"collector_url": server.url})
        elapsed = time.monotonic() - started
    assert not ok and message is not None
    assert "did not send its whole answer" in message
    assert elapsed < 8.0  # the deadline is 2 s connect + 5 s read, for the whole answer


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"model": "qwen2.5:7b", "context_length": 10**400}, "context_length must be"),
        ({"model": "qwen2.5:7b", "context_length": True}, "context_length must be"),
        ({"model": "x" * 2_000_000}, "model"),
        ({"model_config": "[" * 10_000 + "]" * 10_000}, "model_config nests deeper than 32"),
        ({"model_config": '{"vocab_size": ' + "9" * 5000 + "}"}, "model_config holds a number"),
        ({"model_config": json.dumps({"model_type": "m" * 10**7})}, "model_config is over 256 KiB"),
    ],
    ids=[
        "400-digit-context",
        "boolean-context",
        "2-MB-model-name",
        "10000-deep-config",
        "5000-digit-config",
        "10-MB-config",
    ],
)
def test_vram_check_refuses_hostile_parameters_with_a_short_sentence(
    plugin_runtime: PluginRuntime,
    credentials: dict[str, Any],
    params: dict[str, Any],
    expected: str,
) -> None:
    result = plugin_runtime.invoke_tool("vram_check", params, credentials)
    assert result.error is not None
    assert expected in result.error
    assert_plain_sentence(result.error)


@pytest.mark.parametrize(
    "gpu", ["9" * 5000, -(10**4000)], ids=["5000-digit-text", "4000-digit-int"]
)
def test_gpu_status_refuses_an_absurd_gpu_index_naming_the_range(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any], gpu: Any
) -> None:
    result = plugin_runtime.invoke_tool("gpu_status", {"gpu": gpu}, credentials)
    assert result.error is not None and "(0 to 1023)" in result.error
    assert_plain_sentence(result.error)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"model": "qwen2.5:7b", "concurrency": ' + b"9" * 5000 + b"}", "more than 32 digits"),
        (b"[" * 10_000 + b"]" * 10_000, "nests deeper than 32 levels"),
        (json.dumps({"model": "m" * 10_000_000}).encode(), "over 256 KiB"),
        (b"\xff\xfe{}", "UTF-8 JSON"),
    ],
    ids=["5000-digit-number", "10000-deep", "10-MB-body", "not-utf8"],
)
def test_post_vram_check_bounds_the_body_before_parsing_it(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any], body: bytes, expected: str
) -> None:
    response = post_vram_check(plugin_runtime, credentials, body)
    assert response.status == 400
    payload = response.json()
    assert payload["error"] == "bad_request"
    assert expected in payload["message"]
    assert_plain_sentence(payload["message"])


def test_a_usage_report_ending_before_its_window_can_start_is_refused_by_the_plugin(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = plugin_runtime.invoke_tool("gpu_usage_report", {"to": "1000"}, credentials)
    assert result.error is not None
    assert result.error.startswith("to: with window 24h the report would start before 1970")
    assert "collector" not in result.error


def test_a_usage_csv_ending_before_its_window_can_start_is_a_400_naming_to(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    response = plugin_runtime.invoke_endpoint(
        "GET",
        "/usage.csv?to=1000",
        headers={"X-Api-Key": API_KEY},
        settings={**credentials, "api_key": API_KEY},
    )
    assert response.status == 400
    payload = response.json()
    assert payload["error"] == "bad_request"
    assert payload["message"].startswith("to: with window 24h the report would start before 1970")
    assert "collector" not in payload["message"]
