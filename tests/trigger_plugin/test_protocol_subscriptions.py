"""Automatic subscriptions over the SDK's stdio protocol against a real collector: the plugin
checks the admin token, registers Dify's callback URL with a fresh secret, the collector's
deliveries then pass the plugin's signature check, and unsubscribing removes the target."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.alert_trace import RULE, write_alert_trace, write_notify_config
from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime, TriggerActionError
from tests.support.webhook_receiver import Received, Reply, WebhookReceiver

WAIT_S = 40.0
PROJECT_TOKEN = "project-token-support-bot"


@pytest.fixture(scope="module")
def trigger() -> Iterator[PluginRuntime]:
    with PluginRuntime.trigger_from_source() as runtime:
        yield runtime


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    folder = tmp_path_factory.mktemp("subscriptions")
    config, _ = write_notify_config(folder, [])
    settings = json.loads(config.read_text())
    settings["auth"] = {"project_tokens": [{"token": PROJECT_TOKEN, "apps": ["support-bot"]}]}
    config.write_text(json.dumps(settings))
    trace = write_alert_trace(folder / "alerts.jsonl")
    with CollectorProcess(trace, extra_args=["--config", str(config)]) as process:
        yield process


def credentials(collector: CollectorProcess, token: str | None = None) -> dict[str, Any]:
    return {"collector_url": collector.url, "collector_token": token or collector.token}


def listed(collector: CollectorProcess) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{collector.url}/v1/webhooks", headers={"Authorization": f"Bearer {collector.token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        webhooks: list[dict[str, Any]] = json.load(response)["webhooks"]
    return webhooks


def test_the_admin_token_passes_the_credentials_check(
    trigger: PluginRuntime, collector: CollectorProcess
) -> None:
    assert trigger.validate_trigger_credentials(credentials(collector)) == (True, None)


@pytest.mark.parametrize("token", [PROJECT_TOKEN, "not-the-token-0123456789"])
def test_any_other_token_fails_the_credentials_check_with_a_sentence(
    trigger: PluginRuntime, collector: CollectorProcess, token: str
) -> None:
    ok, message = trigger.validate_trigger_credentials(credentials(collector, token))
    assert not ok and message is not None and "refused the token (HTTP 403)" in message
    assert token not in message


def test_subscribing_registers_dify_s_url_and_the_deliveries_pass_its_signature_check(
    trigger: PluginRuntime, collector: CollectorProcess
) -> None:
    subscription: dict[str, Any] = {}

    def dify(request: Received) -> Reply:
        dispatch = trigger.dispatch_trigger_event(request.raw, subscription["properties"])
        return Reply(dispatch.response.status, json.dumps(dispatch.events).encode())

    with WebhookReceiver(dify) as receiver:
        parameters = {"min_severity": "warning", "rules": RULE, "include_pending": False}
        subscription.update(
            trigger.subscribe_trigger(receiver.url, parameters, credentials(collector))
        )
        properties = subscription["properties"]
        [webhook] = listed(collector)
        assert properties["webhook_ids"] == {collector.url: webhook["id"]}
        assert len(properties["webhook_secret"]) >= 32
        assert (webhook["url"], webhook["signed"], webhook["origin"]) == (receiver.url, True, "api")
        assert (webhook["events"], webhook["rules"]) == (["firing", "resolved"], [RULE])
        assert properties["webhook_secret"] not in json.dumps(listed(collector))
        receiver.wait_for(lambda r: len(r) >= 1, WAIT_S, "the first delivery")
        [first] = receiver.received[:1]
        assert b'"state":"firing"' in first.body

        result = trigger.unsubscribe_trigger(subscription, credentials(collector))
    assert result["success"] is True and listed(collector) == []
    assert trigger.unsubscribe_trigger(subscription, credentials(collector))["success"] is True


def test_a_refused_subscription_fails_with_the_collector_s_reason(
    trigger: PluginRuntime, collector: CollectorProcess
) -> None:
    with pytest.raises(TriggerActionError, match="unknown rule id 'gpu_memory_hgih'"):
        trigger.subscribe_trigger(
            "https://dify.example.com/triggers/plugin/x",
            {"rules": "gpu_memory_hgih"},
            credentials(collector),
        )
    assert listed(collector) == []


def test_unsubscribing_from_a_collector_that_is_gone_reports_it_without_raising(
    trigger: PluginRuntime, collector_down_url: str
) -> None:
    made = {
        "expires_at": -1,
        "endpoint": "https://dify.example.com/triggers/plugin/x",
        "parameters": {},
        "properties": {"webhook_secret": "s" * 32, "webhook_ids": {collector_down_url: "api-0"}},
    }
    result = trigger.unsubscribe_trigger(made, {"collector_url": collector_down_url})
    assert result["success"] is False and "Cannot connect" in result["message"]
