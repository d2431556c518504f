"""What one alert state change sends: the JSON body, its stable id, and the request headers.

The body is built once, when the change is written to the outbox, and sent byte for byte on
every attempt; only the timestamp and the signature over it are made per attempt.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from gpu_insight import __version__
from gpu_insight.schemas import Alert, AlertDelivery, Snapshot, Source
from gpu_insight.triggers.signature import DELIVERY_HEADER, signed_headers

# Delivery ids are UUIDv5 names in this namespace: the same change always has the same id.
DELIVERY_NAMESPACE = uuid.UUID("5d0f0c0e-7a47-4e55-9d1b-6f7a1e1c9a3e")
USER_AGENT = f"gpu-insight-collector/{__version__}"


@dataclass(frozen=True)
class DeliveryContext:
    """What every delivery of this collector says about where it comes from."""

    hostname: str
    source: Source
    dashboard_url: str


def delivery_id(host: str, alert: Alert) -> str:
    """The same id for the same change of the same alert, whoever computes it and when."""
    name = f"{host}/{alert.rule}/{alert.gpu_uuid or ''}/{alert.started_at!r}/{alert.state}"
    return str(uuid.uuid5(DELIVERY_NAMESPACE, name))


def alert_key(alert: Alert) -> str:
    """The deliveries of one alert (rule and GPU) are sent in the order they happened."""
    return f"{alert.rule}/{alert.gpu_uuid or ''}"


def delivery_body(
    alert: Alert, context: DeliveryContext, snapshot: Snapshot | None
) -> AlertDelivery:
    """The alert as `/v1/alerts` shows it, with the GPU's name from the latest snapshot."""
    gpu = None
    if snapshot is not None and alert.gpu_uuid is not None:
        gpu = next((g for g in snapshot.gpus if g.uuid == alert.gpu_uuid), None)
    return AlertDelivery(
        **alert.model_dump(exclude={"host"}),
        host=context.hostname,
        delivery_id=delivery_id(context.hostname, alert),
        source=context.source,
        gpu_name=gpu.name if gpu is not None else None,
        dashboard_url=context.dashboard_url,
    )


def request_headers(
    delivery_id: str, body: bytes, secret: str | None, now: float
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: delivery_id,
        **signed_headers(secret, body, now),
    }
