"""Prometheus Alertmanager's webhook (`webhook_configs`, payload version 4) as alert events.

Alertmanager cannot sign; it sends the receiver's secret as `Authorization: Bearer <secret>`
(`http_config.authorization`) or as the password of basic auth (`http_config.basic_auth`).
Each alert of a group becomes one event. Labels are read as the GPU Insight rules file sets
them (`rule`, `severity`, `uuid`, `gpu`, `instance`) and as NVIDIA's dcgm-exporter does
(`UUID`, `modelName`, `Hostname`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from gpu_insight.instants import upstream_instant
from gpu_insight.schemas import AlertState
from gpu_insight.triggers.events import AlertEvent
from gpu_insight.triggers.signature import SignatureError

MAX_ALERTS = 1000


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""  # noqa: N815  # Alertmanager's own field names
    endsAt: str = ""  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = ""


class AlertmanagerMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str
    groupKey: str  # noqa: N815
    status: str
    receiver: str = ""
    externalURL: str = ""  # noqa: N815
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=MAX_ALERTS)


def looks_like_alertmanager(payload: Mapping[str, object]) -> bool:
    return "groupKey" in payload and "alerts" in payload


def check_authorization(secret: str, authorization: str | None) -> None:
    """Raises SignatureError unless the header carries `secret` as a bearer token or as the
    basic-auth password (the user name is not checked), compared in constant time."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        presented = credentials
    elif scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise SignatureError(
                "authorization_refused", "the basic-auth credentials are not valid base64"
            ) from None
        presented = decoded.partition(":")[2]
    else:
        raise SignatureError(
            "authorization_missing",
            "send the subscription's secret as a bearer token or a basic-auth password",
        )
    if not hmac.compare_digest(presented.encode(), secret.encode()):
        raise SignatureError(
            "authorization_refused", "the secret presented is not this subscription's"
        )


def _instant(text: str) -> float | None:
    """Epoch seconds of an RFC 3339 time; None for Alertmanager's zero time and for nonsense."""
    return upstream_instant(text or None)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _host(labels: Mapping[str, str]) -> str:
    """The host label, else the instance without its port."""
    if labels.get("host") or labels.get("Hostname"):
        return labels.get("host") or labels["Hostname"]
    instance = labels.get("instance", "")
    if instance.startswith("["):  # [::1]:9470
        return instance[1:].partition("]")[0]
    return instance.rpartition(":")[0] if instance.count(":") == 1 else instance


def alertmanager_events(message: AlertmanagerMessage) -> list[AlertEvent]:
    events = []
    for alert in message.alerts:
        labels, annotations = alert.labels, alert.annotations
        state: AlertState = "resolved" if alert.status == "resolved" else "firing"
        gpu = labels.get("gpu", "")
        starts_at = _instant(alert.startsAt)
        events.append(
            AlertEvent(
                source="alertmanager",
                delivery_id=f"alertmanager:{alert.fingerprint}:{state}:{alert.startsAt}",
                rule=labels.get("rule") or labels.get("alertname", ""),
                severity=labels.get("severity", "warning"),
                state=state,
                host=_host(labels),
                gpu_index=int(gpu) if gpu.isdecimal() else None,
                gpu_uuid=labels.get("uuid") or labels.get("UUID", ""),
                gpu_name=labels.get("name") or labels.get("modelName", ""),
                value=_number(annotations.get("value")),
                threshold=_number(annotations.get("threshold")),
                message=annotations.get("description")
                or annotations.get("summary")
                or labels.get("alertname", ""),
                started_at=starts_at,
                fired_at=starts_at,
                resolved_at=_instant(alert.endsAt) if state == "resolved" else None,
                dashboard_url=alert.generatorURL or message.externalURL,
            )
        )
    return events
