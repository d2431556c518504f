"""What the trigger answers at its callback URL, and which events a request starts."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from gpu_insight.triggers.dispatch import MAX_BODY_BYTES, Dispatch, dispatch
from tests.triggers.deliveries import (
    NOW,
    SECRET,
    alertmanager_group,
    basic,
    delivery,
    json_bytes,
    signed,
)


def answer(headers: Mapping[str, str], body: bytes, secret: str = SECRET) -> Dispatch:
    lowered = {k.lower(): v for k, v in headers.items()}
    return dispatch(secret, lambda name: lowered.get(name.lower()), body, NOW)


def test_a_signed_firing_delivery_starts_alert_firing_with_the_alert_as_payload() -> None:
    body = delivery().model_dump_json().encode()
    result = answer(signed(body), body)
    assert (result.status, result.events) == (200, ["alert_firing"])
    assert result.body == {"accepted": 1, "events": ["alert_firing"]}
    [alert] = result.payload["alerts"]
    assert alert["source"] == "gpu_insight" and alert["rule"] == "gpu_memory_high"
    assert alert["gpu_name"] == "NVIDIA H100 80GB HBM3" and alert["value"] == 93.1


@pytest.mark.parametrize(
    ("state", "event"), [("resolved", "alert_resolved"), ("pending", "alert_pending")]
)
def test_each_state_starts_its_own_event(state: str, event: str) -> None:
    body = delivery(state=state).model_dump_json().encode()
    assert answer(signed(body), body).events == [event]


def test_a_delivery_signed_with_another_secret_is_refused_401_and_starts_nothing() -> None:
    body = delivery().model_dump_json().encode()
    result = answer(signed(body, secret="the-collector-has-another-one"), body)
    assert (result.status, result.body["error"], result.events) == (401, "signature_mismatch", [])


def test_a_replayed_delivery_signed_ten_minutes_ago_is_refused_401() -> None:
    body = delivery().model_dump_json().encode()
    result = answer(signed(body, at=NOW - 600), body)
    assert (result.status, result.body["error"], result.events) == (401, "timestamp_stale", [])


def test_a_request_with_neither_signature_nor_secret_is_refused_401() -> None:
    result = answer({}, delivery().model_dump_json().encode())
    assert (result.status, result.body["error"], result.events) == (401, "signature_missing", [])


def test_malformed_json_with_a_good_signature_is_refused_400_and_starts_nothing() -> None:
    body = b'{"rule": "gpu_memory_high", '
    result = answer(signed(body), body)
    assert (result.status, result.body["error"], result.events) == (400, "body_invalid", [])
    assert result.body["message"] == "the body is not JSON"


def test_json_that_is_not_a_delivery_is_refused_400_naming_what_to_check() -> None:
    body = json_bytes({"rule": "gpu_memory_high"})
    result = answer(signed(body), body)
    assert (result.status, result.events) == (400, [])
    assert result.body["message"].endswith("(check severity, state, message)")


def test_a_subscription_without_a_secret_trusts_no_request() -> None:
    body = delivery().model_dump_json().encode()
    result = answer(signed(body), body, secret="")
    assert (result.status, result.body["error"], result.events) == (401, "no_secret", [])


def test_a_body_over_the_limit_is_refused_413_before_anything_is_checked() -> None:
    result = answer({}, b" " * (MAX_BODY_BYTES + 1))
    assert (result.status, result.body["error"]) == (413, "body_too_large")


def test_an_alertmanager_group_of_three_becomes_three_alerts_in_two_events() -> None:
    result = answer({"Authorization": f"Bearer {SECRET}"}, json_bytes(alertmanager_group()))
    assert (result.status, result.events) == (200, ["alert_firing", "alert_resolved"])
    assert result.body == {"accepted": 3, "events": ["alert_firing", "alert_resolved"]}
    states = [(a["gpu_uuid"], a["state"]) for a in result.payload["alerts"]]
    assert states == [("GPU-aaaa", "firing"), ("GPU-bbbb", "firing"), ("GPU-cccc", "resolved")]


def test_alertmanager_may_send_the_secret_as_the_basic_auth_password() -> None:
    result = answer(
        {"Authorization": basic("alertmanager", SECRET)}, json_bytes(alertmanager_group())
    )
    assert result.status == 200


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-the-secret-0123456789", basic("alertmanager", "wrong"), "Basic %%%"],
)
def test_alertmanager_with_another_secret_is_refused_401(authorization: str) -> None:
    result = answer({"Authorization": authorization}, json_bytes(alertmanager_group()))
    assert (result.status, result.events) == (401, [])
    assert result.body["error"] == "authorization_refused"


def test_an_authenticated_body_that_is_not_alertmanager_is_refused_400() -> None:
    result = answer({"Authorization": f"Bearer {SECRET}"}, json_bytes({"alerts": []}))
    assert (result.status, result.body["error"], result.events) == (400, "body_invalid", [])
