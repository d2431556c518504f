"""Webhook targets: where alert deliveries go, from the config file and from `/v1/webhooks`.

Targets from the config are fixed for the life of the process; their id is derived from the
URL, so deliveries pending in the outbox find their target again after a restart. Targets added
through the API are kept in the collector's SQLite, so they outlive restarts too (a Dify
subscription registered once keeps receiving). Secrets are write-only: `Webhook` views never
carry them, and no message names them.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gpu_insight.collector.config import ConfigError, NotifyConfig, is_loopback
from gpu_insight.collector.notify.database import connect
from gpu_insight.errors import InputError, quoted
from gpu_insight.schemas import Alert, Webhook, WebhookOrigin, WebhookSpec
from gpu_insight.triggers.events import SEVERITY_RANK

MAX_URL_CHARS = 2048
MIN_SECRET_CHARS = 16
MAX_SECRET_CHARS = 512
MAX_API_WEBHOOKS = 100

SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_webhook (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,  -- the WebhookSpec as JSON, secret included
    created_at REAL NOT NULL
)
"""


class UnknownWebhookError(LookupError):
    """No target has this id (HTTP 404)."""


class WebhookConflictError(Exception):
    """The request clashes with the targets there are (HTTP 409); `code` says how."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def checked_spec(spec: WebhookSpec, known_rules: Collection[str]) -> WebhookSpec:
    """The spec with its events deduplicated; raises InputError naming the field at fault."""
    if len(spec.url) > MAX_URL_CHARS:
        raise InputError(f"url is longer than {MAX_URL_CHARS} characters", "url")
    not_a_url = InputError("url is not an http(s) URL with a host", "url")
    try:
        split = urlsplit(spec.url)
        hostname, _port = split.hostname, split.port  # the port is checked when read
    except ValueError:  # an unclosed IPv6 bracket, a port out of range
        raise not_a_url from None
    if split.scheme not in ("http", "https") or not hostname:
        raise not_a_url
    if split.username is not None or split.password is not None:
        raise InputError(
            "url must not carry a user name or password; give the target a secret instead",
            "url",
        )
    if spec.secret is not None and not MIN_SECRET_CHARS <= len(spec.secret) <= MAX_SECRET_CHARS:
        raise InputError(
            f"secret must have {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters", "secret"
        )
    if split.scheme == "http" and not is_loopback(hostname) and not spec.secret:
        raise InputError(
            "an http:// URL to another host needs a secret, so that the receiver can tell the "
            "collector's deliveries from forged ones; give a secret or use https://",
            "secret",
        )
    unknown = sorted(set(spec.rules) - set(known_rules))
    if unknown:
        raise InputError(
            f"rules: unknown rule id {', '.join(quoted(rule) for rule in unknown)}; known "
            f"rules: {', '.join(known_rules)}",
            "rules",
        )
    return spec.model_copy(update={"events": list(dict.fromkeys(spec.events))})


@dataclass(frozen=True)
class WebhookTarget:
    id: str
    origin: WebhookOrigin
    spec: WebhookSpec
    created_at: float | None = None

    def wants(self, alert: Alert) -> bool:
        spec = self.spec
        return (
            alert.state in spec.events
            and SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[spec.min_severity]
            and (not spec.rules or alert.rule in spec.rules)
        )

    def view(self) -> Webhook:
        spec = self.spec
        return Webhook(
            id=self.id,
            origin=self.origin,
            url=spec.url,
            signed=spec.secret is not None,
            events=spec.events,
            min_severity=spec.min_severity,
            rules=spec.rules,
            created_at=self.created_at,
        )

    @property
    def where(self) -> str:
        """The target for logs: its id and host, never its path or query (they may be secret)."""
        split = urlsplit(self.spec.url)
        return f"{self.id} ({split.scheme}://{split.netloc})"


def config_target_id(url: str) -> str:
    return "cfg-" + hashlib.sha256(url.encode()).hexdigest()[:16]


class WebhookRegistry:
    """Every target, by id. Thread-safe: the API adds and removes, the notifier reads."""

    def __init__(
        self,
        config: NotifyConfig,
        db_path: str | Path,
        known_rules: Collection[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._known_rules = tuple(known_rules)
        self._clock = clock
        self._lock = threading.Lock()
        self._targets: dict[str, WebhookTarget] = {}
        for n, spec in enumerate(config.webhooks):
            try:
                spec = checked_spec(spec, self._known_rules)
            except InputError as error:
                raise ConfigError(f"notify.webhooks[{n}].{error.parameter}: {error}") from None
            target = WebhookTarget(config_target_id(spec.url), "config", spec)
            if target.id in self._targets:
                raise ConfigError(f"notify.webhooks[{n}].url: this URL is listed twice")
            self._targets[target.id] = target
        self._db = connect(db_path)
        with self._db:
            self._db.execute(SCHEMA)
        for webhook_id, spec_json, created_at in self._db.execute(
            "SELECT id, spec, created_at FROM notify_webhook ORDER BY created_at"
        ):
            spec = WebhookSpec.model_validate_json(spec_json)
            self._targets[webhook_id] = WebhookTarget(webhook_id, "api", spec, created_at)

    def targets(self) -> list[WebhookTarget]:
        with self._lock:
            return list(self._targets.values())

    def get(self, webhook_id: str) -> WebhookTarget | None:
        with self._lock:
            return self._targets.get(webhook_id)

    def add(self, spec: WebhookSpec) -> WebhookTarget:
        """Registers a target and keeps it; raises InputError or WebhookConflictError."""
        spec = checked_spec(spec, self._known_rules)
        with self._lock:
            same = next((t for t in self._targets.values() if t.spec.url == spec.url), None)
            if same is not None:
                raise WebhookConflictError(
                    "webhook_exists", f"this URL is already a target, with id {same.id}"
                )
            if sum(t.origin == "api" for t in self._targets.values()) >= MAX_API_WEBHOOKS:
                raise WebhookConflictError(
                    "too_many_webhooks",
                    f"the collector keeps at most {MAX_API_WEBHOOKS} targets added through the "
                    "API; remove one first",
                )
            target = WebhookTarget("api-" + secrets.token_hex(8), "api", spec, self._clock())
            with self._db:
                self._db.execute(
                    "INSERT INTO notify_webhook VALUES (?, ?, ?)",
                    (target.id, spec.model_dump_json(), target.created_at),
                )
            self._targets[target.id] = target
            return target

    def remove(self, webhook_id: str) -> WebhookTarget:
        """Forgets a target added through the API; raises UnknownWebhookError or, for a target
        from the config file, WebhookConflictError."""
        with self._lock:
            target = self._targets.get(webhook_id)
            if target is None:
                raise UnknownWebhookError(webhook_id)
            if target.origin == "config":
                raise WebhookConflictError(
                    "webhook_in_config",
                    f"target {webhook_id} comes from the config file (notify.webhooks); remove "
                    "it there and restart the collector",
                )
            with self._db:
                self._db.execute("DELETE FROM notify_webhook WHERE id = ?", (webhook_id,))
            del self._targets[webhook_id]
            return target

    def close(self) -> None:
        with self._lock:
            self._db.close()
