"""`/v1/webhooks` on a real collector: the admin token manages targets, secrets are write-only,
bad targets are refused with the field named, and targets added here outlive a restart."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.alert_trace import write_alert_trace
from tests.support.collector_process import CollectorProcess

SECRET = "api-webhook-secret-0123456789"
CONFIG_URL = "https://config.example.com/hooks/gpu"
PROJECT_TOKEN = "project-token-support-bot"


def write_config(folder: Path) -> tuple[Path, Path]:
    """A collector config with one target from the file and a project token; and a trace."""
    settings = {
        "accounting": {"db_path": str(folder / "usage.sqlite3")},
        "auth": {"project_tokens": [{"token": PROJECT_TOKEN, "apps": ["support-bot"]}]},
        "notify": {"webhooks": [{"url": CONFIG_URL, "secret": "config-secret-0123456789"}]},
    }
    path = folder / "collector.yaml"
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path, write_alert_trace(folder / "alerts.jsonl")


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    path, trace = write_config(tmp_path_factory.mktemp("webhooks-api"))
    with CollectorProcess(trace, extra_args=["--config", str(path)]) as process:
        yield process


def call(
    process: CollectorProcess,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    token: str | None = None,
) -> tuple[int, Any]:
    request = urllib.request.Request(
        process.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {token or process.token}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_target_added_is_listed_without_its_secret_and_removed_again(
    collector: CollectorProcess,
) -> None:
    spec = {
        "url": "http://127.0.0.1:9/hook",
        "secret": SECRET,
        "events": ["firing"],
        "rules": ["gpu_lost"],
    }
    status, added = call(collector, "POST", "/v1/webhooks", spec)
    assert status == 201 and added["id"].startswith("api-")
    assert {k: added[k] for k in ("origin", "url", "signed", "events", "rules")} == {
        "origin": "api",
        "url": "http://127.0.0.1:9/hook",
        "signed": True,
        "events": ["firing"],
        "rules": ["gpu_lost"],
    }
    status, listed = call(collector, "GET", "/v1/webhooks")
    assert status == 200 and [w["origin"] for w in listed["webhooks"]] == ["config", "api"]
    assert SECRET not in json.dumps(listed) and "config-secret" not in json.dumps(listed)
    assert call(collector, "DELETE", f"/v1/webhooks/{added['id']}")[0] == 200
    assert [w["origin"] for w in call(collector, "GET", "/v1/webhooks")[1]["webhooks"]] == [
        "config"
    ]
    assert call(collector, "DELETE", f"/v1/webhooks/{added['id']}")[0] == 404
    assert SECRET not in collector.output


def test_a_project_token_may_not_see_or_change_targets(collector: CollectorProcess) -> None:
    for method, path, body in (
        ("GET", "/v1/webhooks", None),
        ("POST", "/v1/webhooks", {"url": "https://x.example/h"}),
        ("DELETE", "/v1/webhooks/api-0", None),
    ):
        status, answer = call(collector, method, path, body, token=PROJECT_TOKEN)
        assert (status, answer["error"]) == (403, "admin_token_required")


def test_plain_http_to_another_host_without_a_secret_is_refused_naming_the_field(
    collector: CollectorProcess,
) -> None:
    status, answer = call(collector, "POST", "/v1/webhooks", {"url": "http://dify.example.com/h"})
    assert (status, answer["error"]) == (400, "invalid_parameter")
    assert "needs a secret" in json.dumps(answer)


def test_an_unknown_field_in_a_target_is_refused(collector: CollectorProcess) -> None:
    status, _ = call(
        collector, "POST", "/v1/webhooks", {"url": "https://x.example/h", "secrett": SECRET}
    )
    assert status == 400


def test_a_target_from_the_config_file_cannot_be_removed_here(collector: CollectorProcess) -> None:
    [configured] = call(collector, "GET", "/v1/webhooks")[1]["webhooks"]
    status, answer = call(collector, "DELETE", f"/v1/webhooks/{configured['id']}")
    assert (status, answer["error"]) == (409, "webhook_in_config")


def test_the_same_url_twice_is_a_conflict(collector: CollectorProcess) -> None:
    status, answer = call(collector, "POST", "/v1/webhooks", {"url": CONFIG_URL})
    assert (status, answer["error"]) == (409, "webhook_exists")


def test_a_target_added_here_outlives_a_restart(tmp_path: Path) -> None:
    path, trace = write_config(tmp_path)
    with CollectorProcess(trace, extra_args=["--config", str(path)]) as first:
        _, added = call(
            first, "POST", "/v1/webhooks", {"url": "https://keep.example/h", "secret": SECRET}
        )
    with CollectorProcess(trace, extra_args=["--config", str(path)]) as second:
        ids = [w["id"] for w in call(second, "GET", "/v1/webhooks")[1]["webhooks"]]
        assert added["id"] in ids
        assert call(second, "DELETE", f"/v1/webhooks/{added['id']}")[0] == 200
