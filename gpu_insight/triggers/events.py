"""The alert as a workflow sees it, the event each state starts, and the filters on them.

Both senders the trigger accepts (the collector's signed deliveries, Alertmanager's webhook)
become `AlertEvent`s; a trigger run's variables are the first matching event's fields plus the
list of all of them (an Alertmanager group carries several alerts; Dify starts one run per
event name and request). Unknown text is "" and unknown numbers are null, so a workflow can
template every string without checking for null.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from gpu_insight.errors import InputError, quoted
from gpu_insight.schemas import AlertDelivery, AlertState, Severity, choice_of

EVENT_OF_STATE: dict[AlertState, str] = {
    "pending": "alert_pending",
    "firing": "alert_firing",
    "resolved": "alert_resolved",
}
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
SEVERITY_RANK: dict[str, int] = {severity: rank for rank, severity in enumerate(SEVERITIES)}
DEFAULT_SEVERITY_RANK = SEVERITY_RANK["warning"]  # a severity label we do not know
_LIST_SEPARATORS = re.compile(r"[,\s]+")

EventSource = Literal["gpu_insight", "alertmanager"]


class AlertEvent(BaseModel):
    """One alert in one state: the variables an event hands to the workflow."""

    model_config = ConfigDict(extra="forbid")

    source: EventSource
    delivery_id: str
    rule: str
    severity: str
    state: AlertState
    host: str = ""
    gpu_index: int | None = None
    gpu_uuid: str = ""
    gpu_name: str = ""
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    started_at: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None
    dashboard_url: str = ""

    @property
    def event_name(self) -> str:
        return EVENT_OF_STATE[self.state]


def event_of_delivery(delivery: AlertDelivery) -> AlertEvent:
    return AlertEvent(
        source="gpu_insight",
        delivery_id=delivery.delivery_id,
        rule=delivery.rule,
        severity=delivery.severity,
        state=delivery.state,
        host=delivery.host or "",
        gpu_index=delivery.gpu_index,
        gpu_uuid=delivery.gpu_uuid or "",
        gpu_name=delivery.gpu_name or "",
        value=delivery.value,
        threshold=delivery.threshold,
        message=delivery.message,
        started_at=delivery.started_at,
        fired_at=delivery.fired_at,
        resolved_at=delivery.resolved_at,
        dashboard_url=delivery.dashboard_url or "",
    )


def event_names(events: Iterable[AlertEvent]) -> list[str]:
    """The distinct event names, in the order they first appear."""
    return list(dict.fromkeys(event.event_name for event in events))


def names_list(value: Any, parameter: str) -> frozenset[str]:
    """A comma- or space-separated list parameter; empty means "no restriction"."""
    if value is None:
        return frozenset()
    if not isinstance(value, str):
        raise InputError(
            f"{parameter} must be text: names separated by commas, got {quoted(value)}", parameter
        )
    return frozenset(part for part in _LIST_SEPARATORS.split(value) if part)


def parse_severity(value: Any, parameter: str = "min_severity") -> Severity:
    if value in (None, ""):
        return "warning"
    severity = choice_of(value, SEVERITIES) if isinstance(value, str) else None
    if severity is not None:
        return severity
    raise InputError(
        f"{parameter} must be one of {', '.join(SEVERITIES)}, got {quoted(value)}", parameter
    )


@dataclass(frozen=True)
class EventFilter:
    """An event node's parameters: which rules, hosts and severities start its workflow."""

    rules: frozenset[str] = frozenset()  # empty: every rule
    hosts: frozenset[str] = frozenset()  # empty: every host
    min_severity: Severity = "warning"

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> EventFilter:
        return cls(
            rules=names_list(parameters.get("rules"), "rules"),
            hosts=names_list(parameters.get("hosts"), "hosts"),
            min_severity=parse_severity(parameters.get("min_severity")),
        )

    def accepts(self, event: AlertEvent) -> bool:
        rank = SEVERITY_RANK.get(event.severity, DEFAULT_SEVERITY_RANK)
        return (
            rank >= SEVERITY_RANK[self.min_severity]
            and (not self.rules or event.rule in self.rules)
            and (not self.hosts or event.host in self.hosts)
        )


def payload_of(events: Iterable[AlertEvent]) -> dict[str, Any]:
    """What a dispatch hands to every event of the request."""
    return {"alerts": [event.model_dump() for event in events]}


def events_of_payload(payload: Mapping[str, Any]) -> list[AlertEvent]:
    """The events a dispatch put into its payload (raises pydantic's ValidationError)."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError("the payload holds no alerts")
    return [AlertEvent.model_validate(alert) for alert in alerts]


def event_variables(events: list[AlertEvent]) -> dict[str, Any]:
    """The workflow's variables: the first event's fields, how many there are, and all of them."""
    first = events[0].model_dump()
    return {**first, "alert_count": len(events), "alerts": [event.model_dump() for event in events]}


def run_variables(
    event_name: str, parameters: Mapping[str, Any], payload: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The variables of a run of `event_name`'s workflow: the payload's alerts in that event's
    state that pass the node's filters; None when none does (no run). Raises InputError for a
    bad parameter and ValueError for a payload no dispatch made."""
    event_filter = EventFilter.from_parameters(parameters)
    events = [
        event
        for event in events_of_payload(payload)
        if event.event_name == event_name and event_filter.accepts(event)
    ]
    return event_variables(events) if events else None
