"""What the trigger answers to one request at its Dify callback URL, and which events it starts.

The request is authenticated before its body is read: a collector delivery by its signature
(`signature`), an Alertmanager notification by the secret it presents (`alertmanager`). Every
refusal is an answer, not an exception: Dify turns a plugin's exception into a 500, which
senders retry, while a 401 or 400 tells them to stop. Only a genuine, well-formed request
names events; anything else starts no workflow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gpu_insight.errors import error_body
from gpu_insight.schemas import AlertDelivery
from gpu_insight.triggers.alertmanager import (
    AlertmanagerMessage,
    alertmanager_events,
    check_authorization,
    looks_like_alertmanager,
)
from gpu_insight.triggers.events import AlertEvent, event_names, event_of_delivery, payload_of
from gpu_insight.triggers.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    check_signature,
)

MAX_BODY_BYTES = 1024 * 1024  # a delivery is ~1 KiB; an Alertmanager group of 1000 alerts fits

Header = Callable[[str], str | None]  # a case-insensitive header lookup


@dataclass(frozen=True)
class Dispatch:
    status: int
    body: dict[str, Any]
    events: list[str] = field(default_factory=list)  # event names to start
    payload: dict[str, Any] = field(default_factory=dict)  # what each event receives


def refused(status: int, code: str, message: str) -> Dispatch:
    return Dispatch(status, error_body(code, message))


def dispatch(secret: str, header: Header, body: bytes, now: float) -> Dispatch:
    """The answer to a request with these headers and this body, `secret` being the
    subscription's."""
    if not secret:
        return refused(
            401, "no_secret", "this subscription has no secret, so no request can be trusted"
        )
    if len(body) > MAX_BODY_BYTES:
        return refused(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    signed = header(SIGNATURE_HEADER) is not None or header(TIMESTAMP_HEADER) is not None
    try:
        if signed:
            check_signature(secret, header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), body, now)
        else:
            check_authorization(secret, header("Authorization"))
    except SignatureError as error:
        if not signed and error.code == "authorization_missing":
            return refused(
                401,
                "signature_missing",
                f"sign the request ({SIGNATURE_HEADER}) or send the subscription's secret as "
                "a bearer token or basic-auth password",
            )
        return refused(401, error.code, str(error))
    try:
        events = _delivery_events(body) if signed else _alertmanager_events(body)
    except ValueError as error:
        return refused(400, "body_invalid", str(error))
    return Dispatch(
        200,
        {"accepted": len(events), "events": event_names(events)},
        events=event_names(events),
        payload=payload_of(events),
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("the body is not a JSON object")
    return payload


def _delivery_events(body: bytes) -> list[AlertEvent]:
    payload = _json_object(body)
    try:
        return [event_of_delivery(AlertDelivery.model_validate(payload))]
    except ValidationError as error:
        raise ValueError(
            f"the body is not a GPU Insight alert delivery ({_fields(error)})"
        ) from None


def _alertmanager_events(body: bytes) -> list[AlertEvent]:
    payload = _json_object(body)
    if not looks_like_alertmanager(payload):
        raise ValueError("the body is not an Alertmanager webhook message (no groupKey, alerts)")
    try:
        return alertmanager_events(AlertmanagerMessage.model_validate(payload))
    except ValidationError as error:
        raise ValueError(
            f"the body is not an Alertmanager webhook message ({_fields(error)})"
        ) from None


def _fields(error: ValidationError) -> str:
    problems = [".".join(map(str, e["loc"])) or "body" for e in error.errors()[:3]]
    return "check " + ", ".join(problems)
