"""The trigger plugin over the SDK's stdio protocol, fed real signed deliveries of a real
collector: Dify's part is played by a loopback receiver that hands every request to the
plugin's `dispatch_trigger_event` and answers the collector with the plugin's response."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from gpu_insight.schemas import AlertDelivery
from gpu_insight.triggers.events import AlertEvent
from tests.support.alert_trace import RULE, write_alert_trace, write_notify_config
from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import (
    PluginRuntime,
    TriggerActionError,
    TriggerDispatch,
    raw_http_request,
)
from tests.support.webhook_receiver import Received, Reply, WebhookReceiver
from tests.triggers.deliveries import alertmanager_group
from tests.triggers.test_signature import documented_signature

SECRET = "subscription-secret-0123456789ab"
PROPERTIES = {"webhook_secret": SECRET}
WAIT_S = 40.0


@dataclass
class DifyStandIn:
    """Plays Dify's trigger endpoint for one subscription."""

    runtime: PluginRuntime
    properties: dict[str, str]
    dispatched: list[tuple[Received, TriggerDispatch]] = field(default_factory=list)

    def answer(self, request: Received) -> Reply:
        dispatch = self.runtime.dispatch_trigger_event(request.raw, self.properties)
        self.dispatched.append((request, dispatch))
        return Reply(dispatch.response.status, dispatch.response.body)

    def first(self, state: str) -> tuple[Received, TriggerDispatch]:
        return next(
            (r, d)
            for r, d in self.dispatched
            if AlertDelivery.model_validate_json(r.body).state == state
        )


@pytest.fixture(scope="module")
def trigger() -> Iterator[PluginRuntime]:
    with PluginRuntime.trigger_from_source() as runtime:
        yield runtime


@pytest.fixture(scope="module")
def dify(trigger: PluginRuntime, tmp_path_factory: pytest.TempPathFactory) -> DifyStandIn:
    """A collector's firing and resolved deliveries, as the plugin dispatched them."""
    folder = tmp_path_factory.mktemp("collector")
    stand_in = DifyStandIn(trigger, PROPERTIES)
    with WebhookReceiver(stand_in.answer) as receiver:
        webhook = {"url": receiver.url, "secret": SECRET, "events": ["firing", "resolved"]}
        config, _ = write_notify_config(folder, [webhook])
        trace = write_alert_trace(folder / "alerts.jsonl")
        with CollectorProcess(trace, extra_args=["--config", str(config)]):
            receiver.wait_for(
                lambda r: any(b'"resolved"' in x.body for x in r), WAIT_S, "a resolved delivery"
            )
    return stand_in


def signed_request(body: bytes, secret: str = SECRET, at: float | None = None) -> bytes:
    timestamp = str(int(time.time() if at is None else at))
    headers = {
        "Host": "dify.example.com",
        "Content-Type": "application/json",
        "X-GPU-Insight-Timestamp": timestamp,
        "X-GPU-Insight-Signature": documented_signature(secret, timestamp, body),
    }
    return raw_http_request("POST", "/triggers/plugin/test-endpoint", headers, body)


def test_a_firing_alert_of_the_collector_starts_alert_firing_with_its_variables(
    trigger: PluginRuntime, dify: DifyStandIn
) -> None:
    request, dispatch = dify.first("firing")
    assert all(d.response.status == 200 for _, d in dify.dispatched)  # what the collector heard
    assert (dispatch.response.status, dispatch.events) == (200, ["alert_firing"])
    assert dispatch.response.json() == {"accepted": 1, "events": ["alert_firing"]}
    run = trigger.invoke_trigger_event(
        "alert_firing", dispatch.payload, {}, request.raw, PROPERTIES
    )
    variables = run.variables
    assert not run.cancelled
    assert (variables["rule"], variables["state"], variables["severity"]) == (
        RULE,
        "firing",
        "warning",
    )
    assert (variables["host"], variables["gpu_index"], variables["gpu_name"]) == (
        "gpu-node-1",
        0,
        "NVIDIA H100 80GB HBM3",
    )
    assert (variables["value"], variables["threshold"], variables["alert_count"]) == (97.0, 90.0, 1)
    assert variables["fired_at"] >= variables["started_at"] and variables["resolved_at"] is None
    assert variables["delivery_id"] == request.header("X-GPU-Insight-Delivery")
    assert variables["source"] == "gpu_insight" and variables["dashboard_url"].startswith("http://")


def test_a_resolved_alert_starts_alert_resolved_and_not_alert_firing(
    trigger: PluginRuntime, dify: DifyStandIn
) -> None:
    request, dispatch = dify.first("resolved")
    assert dispatch.events == ["alert_resolved"]
    resolved = trigger.invoke_trigger_event(
        "alert_resolved", dispatch.payload, {}, request.raw, PROPERTIES
    )
    assert resolved.variables["resolved_at"] > resolved.variables["fired_at"]
    firing = trigger.invoke_trigger_event(
        "alert_firing", dispatch.payload, {}, request.raw, PROPERTIES
    )
    assert firing.cancelled


def test_a_delivery_changed_on_the_way_is_refused_401_and_starts_nothing(
    trigger: PluginRuntime, dify: DifyStandIn
) -> None:
    request, _ = dify.first("firing")
    tampered = request.raw.replace(b'"value":97.0', b'"value":12.0')
    assert tampered != request.raw
    dispatch = trigger.dispatch_trigger_event(tampered, PROPERTIES)
    assert (dispatch.response.status, dispatch.events) == (401, [])
    assert dispatch.response.json()["error"] == "signature_mismatch"


def test_a_subscription_with_another_secret_refuses_the_delivery_401(
    trigger: PluginRuntime, dify: DifyStandIn
) -> None:
    request, _ = dify.first("firing")
    dispatch = trigger.dispatch_trigger_event(request.raw, {"webhook_secret": "x" * 32})
    assert (dispatch.response.status, dispatch.events) == (401, [])
    assert SECRET not in dispatch.response.body.decode()


def test_a_delivery_signed_more_than_five_minutes_ago_is_refused_401(
    trigger: PluginRuntime, dify: DifyStandIn
) -> None:
    request, _ = dify.first("firing")
    replayed = signed_request(request.body, at=time.time() - 301)
    dispatch = trigger.dispatch_trigger_event(replayed, PROPERTIES)
    assert (dispatch.response.status, dispatch.events) == (401, [])
    assert dispatch.response.json()["error"] == "timestamp_stale"


def test_malformed_json_is_refused_400_and_starts_nothing(trigger: PluginRuntime) -> None:
    dispatch = trigger.dispatch_trigger_event(signed_request(b'{"rule": "gpu_lost", '), PROPERTIES)
    assert (dispatch.response.status, dispatch.events) == (400, [])
    assert dispatch.response.json() == {"error": "body_invalid", "message": "the body is not JSON"}


def test_an_alertmanager_group_of_three_alerts_starts_each_state_once(
    trigger: PluginRuntime,
) -> None:
    body = json.dumps(alertmanager_group()).encode()
    headers = {"Host": "dify.example.com", "Authorization": f"Bearer {SECRET}"}
    raw = raw_http_request("POST", "/triggers/plugin/test-endpoint", headers, body)
    dispatch = trigger.dispatch_trigger_event(raw, PROPERTIES)
    assert (dispatch.response.status, dispatch.events) == (200, ["alert_firing", "alert_resolved"])
    firing = trigger.invoke_trigger_event("alert_firing", dispatch.payload, {}, raw, PROPERTIES)
    assert (firing.variables["alert_count"], firing.variables["gpu_uuid"]) == (2, "GPU-aaaa")
    assert [a["gpu_index"] for a in firing.variables["alerts"]] == [0, 1]
    resolved = trigger.invoke_trigger_event("alert_resolved", dispatch.payload, {}, raw, PROPERTIES)
    assert (resolved.variables["alert_count"], resolved.variables["host"]) == (1, "gpu-node-2")


def test_an_alertmanager_request_without_the_secret_is_refused_401(trigger: PluginRuntime) -> None:
    body = json.dumps(alertmanager_group()).encode()
    raw = raw_http_request("POST", "/t", {"Host": "dify.example.com"}, body)
    dispatch = trigger.dispatch_trigger_event(raw, PROPERTIES)
    assert (dispatch.response.status, dispatch.events) == (401, [])


def test_a_node_whose_filters_leave_the_alert_out_starts_no_run(
    trigger: PluginRuntime, dify: DifyStandIn
) -> None:
    request, dispatch = dify.first("firing")
    for parameters in (
        {"rules": "gpu_memory_high"},
        {"hosts": "gpu-node-9"},
        {"min_severity": "critical"},
    ):
        run = trigger.invoke_trigger_event(
            "alert_firing", dispatch.payload, parameters, request.raw, PROPERTIES
        )
        assert run.cancelled and run.variables == {}


def test_a_node_with_a_bad_filter_fails_with_a_sentence_naming_it(
    trigger: PluginRuntime, dify: DifyStandIn
) -> None:
    request, dispatch = dify.first("firing")
    with pytest.raises(
        TriggerActionError, match="min_severity must be one of info, warning, critical"
    ):
        trigger.invoke_trigger_event(
            "alert_firing", dispatch.payload, {"min_severity": "page"}, request.raw, PROPERTIES
        )


def test_every_event_declares_the_variables_of_an_alert_event(trigger: PluginRuntime) -> None:
    expected = set(AlertEvent.model_fields) | {"alert_count", "alerts"}
    for event in ("alert_firing", "alert_resolved", "alert_pending"):
        assert set(trigger.declarations.event_variables("gpu_insight_trigger", event)) == expected
