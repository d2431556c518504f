"""Automatic subscriptions: the trigger registers Dify's callback URL at every collector of its
credentials with a fresh secret, and removes it again when the subscription is deleted.

The subscription's properties keep what deleting needs: the secret (also what the dispatch
checks signatures with) and, per collector URL, the id the collector gave the target.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping
from typing import Any

from gpu_insight.errors import SettingsError
from gpu_insight.schemas import AlertState, WebhookSpec
from gpu_insight.sources.client import CollectorClient, CollectorError
from gpu_insight.sources.settings import collector_settings, parse_token
from gpu_insight.triggers.events import names_list, parse_severity

WEBHOOK_SECRET = "webhook_secret"
WEBHOOK_IDS = "webhook_ids"  # collector URL → the id of the target registered there
SECRET_BYTES = 32


def webhook_spec(endpoint: str, parameters: Mapping[str, Any], secret: str) -> WebhookSpec:
    """The target to register: Dify's callback URL and the subscription's filters."""
    events: list[AlertState] = ["firing", "resolved"]
    if parameters.get("include_pending") is True:
        events.insert(0, "pending")
    return WebhookSpec(
        url=endpoint,
        secret=secret,
        events=events,
        min_severity=parse_severity(parameters.get("min_severity")),
        rules=sorted(names_list(parameters.get("rules"), "rules")),
    )


def collector_clients(credentials: Mapping[str, Any]) -> list[CollectorClient]:
    settings = collector_settings(credentials)
    return [CollectorClient(url, settings.token) for url in settings.urls]


def check_access(credentials: Mapping[str, Any]) -> None:
    """Raises SettingsError or CollectorError unless every collector lists its webhook targets
    for this token (only the admin token may)."""
    for client in collector_clients(credentials):
        client.webhooks()


def subscribe(
    endpoint: str, parameters: Mapping[str, Any], credentials: Mapping[str, Any]
) -> dict[str, Any]:
    """Registers `endpoint` at every collector; returns the subscription's properties. When one
    collector refuses, the targets already registered are removed again and the error raised."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    spec = webhook_spec(endpoint, parameters, secret)
    registered: dict[str, str] = {}
    clients = collector_clients(credentials)
    try:
        for client in clients:
            registered[client.base_url] = client.add_webhook(spec).id
    except CollectorError:
        for client in clients:
            if client.base_url in registered:
                with contextlib.suppress(CollectorError):  # the first error is the one to tell
                    client.remove_webhook(registered[client.base_url])
        raise
    return {WEBHOOK_SECRET: secret, WEBHOOK_IDS: registered}


def unsubscribe(properties: Mapping[str, Any], credentials: Mapping[str, Any]) -> tuple[bool, str]:
    """Removes the subscription's targets; (all gone, one sentence). A target a collector no
    longer has counts as gone. Never raises for a collector that cannot be reached."""
    ids = properties.get(WEBHOOK_IDS)
    if not isinstance(ids, Mapping) or not ids:
        return True, "this subscription registered no webhook at any collector"
    try:
        token = parse_token(credentials.get("collector_token"), "collector_token")
    except SettingsError as error:
        return False, str(error)
    problems = []
    for url, webhook_id in ids.items():
        try:
            CollectorClient(str(url), token).remove_webhook(str(webhook_id))
        except CollectorError as error:
            problems.append(str(error))
    if problems:
        return False, " ".join(problems)
    return True, f"removed the webhook from {len(ids)} collector(s)"
