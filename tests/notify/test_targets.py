"""Webhook targets: which URLs and secrets are accepted, what a target wants, and that targets
added through the API outlive the collector while secrets never show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gpu_insight.collector.alert_rules import DEFAULT_RULES
from gpu_insight.collector.config import ConfigError, NotifyConfig
from gpu_insight.collector.notify.targets import (
    UnknownWebhookError,
    WebhookConflictError,
    WebhookRegistry,
    WebhookTarget,
)
from gpu_insight.errors import InputError
from gpu_insight.schemas import Alert, WebhookSpec

RULES = [rule.id for rule in DEFAULT_RULES]
SECRET = "webhook-secret-0123456789"


def spec(**fields: Any) -> WebhookSpec:
    return WebhookSpec.model_validate(
        {"url": "https://dify.example.com/triggers/plugin/x", **fields}
    )


def registry(tmp_path: Path, *webhooks: dict[str, Any]) -> WebhookRegistry:
    config = NotifyConfig.model_validate({"webhooks": list(webhooks)})
    return WebhookRegistry(config, tmp_path / "usage.sqlite3", RULES)


def refusal(tmp_path: Path, **fields: Any) -> InputError:
    with pytest.raises(InputError) as raised:
        registry(tmp_path).add(spec(**fields))
    return raised.value


def test_plain_http_to_another_host_needs_a_secret(tmp_path: Path) -> None:
    error = refusal(tmp_path, url="http://dify.example.com/triggers/plugin/x")
    assert error.parameter == "secret" and "http:// URL to another host needs a secret" in str(
        error
    )
    added = registry(tmp_path).add(spec(url="http://dify.example.com/t", secret=SECRET))
    assert added.view().signed


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:5001/hook", "http://localhost/hook", "https://dify.example.com/t"]
)
def test_https_and_loopback_need_no_secret(tmp_path: Path, url: str) -> None:
    assert not registry(tmp_path).add(spec(url=url)).view().signed


@pytest.mark.parametrize(
    "url", ["ftp://dify.example.com/x", "dify.example.com/x", "http://[::1/x", "http://h:99999/"]
)
def test_what_is_not_an_http_url_with_a_host_is_refused(tmp_path: Path, url: str) -> None:
    error = refusal(tmp_path, url=url)
    assert (error.parameter, str(error)) == ("url", "url is not an http(s) URL with a host")


def test_credentials_in_the_url_are_refused_without_echoing_them(tmp_path: Path) -> None:
    error = refusal(tmp_path, url="https://admin:hunter2-password@dify.example.com/x")
    assert error.parameter == "url" and "hunter2" not in str(error)


def test_a_short_secret_is_refused_without_echoing_it(tmp_path: Path) -> None:
    error = refusal(tmp_path, secret="short-secret")
    assert error.parameter == "secret" and "short-secret" not in str(error)


def test_an_unknown_rule_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    error = refusal(tmp_path, rules=["gpu_memory_hgih"])
    assert error.parameter == "rules"
    assert "'gpu_memory_hgih'" in str(error) and "gpu_memory_high" in str(error)


def test_a_bad_config_target_is_a_config_error_naming_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^notify\.webhooks\[1\]\.secret: "):
        registry(tmp_path, {"url": "https://a.example/x"}, {"url": "http://b.example/x"})


def test_a_url_listed_twice_in_the_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        registry(tmp_path, {"url": "https://a.example/x"}, {"url": "https://a.example/x"})


def alert(**fields: Any) -> Alert:
    values = {
        "rule": "gpu_memory_high",
        "severity": "warning",
        "state": "firing",
        "message": "m",
        "started_at": 1.0,
    }
    return Alert.model_validate({**values, **fields})


def test_a_target_wants_its_states_severities_and_rules() -> None:
    target = WebhookTarget(
        "t", "api", spec(events=["firing"], min_severity="warning", rules=["gpu_memory_high"])
    )
    assert target.wants(alert())
    assert not target.wants(alert(state="resolved"))
    assert not target.wants(alert(severity="info"))
    assert not target.wants(alert(rule="gpu_lost", severity="critical"))
    assert WebhookTarget("t", "api", spec()).wants(alert(rule="gpu_lost", severity="critical"))


def test_targets_added_through_the_api_outlive_the_collector(tmp_path: Path) -> None:
    added = registry(tmp_path).add(spec(secret=SECRET, events=["pending", "firing"]))
    [again] = registry(tmp_path).targets()
    assert again == added and again.spec.secret == SECRET


def test_the_view_of_a_target_never_carries_its_secret(tmp_path: Path) -> None:
    view = registry(tmp_path).add(spec(secret=SECRET)).view()
    assert SECRET not in view.model_dump_json() and view.signed


def test_config_targets_keep_their_id_across_restarts(tmp_path: Path) -> None:
    first = registry(tmp_path, {"url": "https://a.example/x"}).targets()
    assert registry(tmp_path, {"url": "https://a.example/x"}).targets() == first


def test_a_url_already_a_target_is_a_conflict(tmp_path: Path) -> None:
    targets = registry(tmp_path)
    first = targets.add(spec())
    with pytest.raises(WebhookConflictError, match=first.id) as raised:
        targets.add(spec())
    assert raised.value.code == "webhook_exists"


def test_config_targets_cannot_be_removed_through_the_api(tmp_path: Path) -> None:
    targets = registry(tmp_path, {"url": "https://a.example/x"})
    [target] = targets.targets()
    with pytest.raises(WebhookConflictError) as raised:
        targets.remove(target.id)
    assert raised.value.code == "webhook_in_config"


def test_a_removed_target_is_gone_after_a_restart_too(tmp_path: Path) -> None:
    target = registry(tmp_path).add(spec())
    registry(tmp_path).remove(target.id)
    assert registry(tmp_path).targets() == []
    with pytest.raises(UnknownWebhookError):
        registry(tmp_path).remove(target.id)
