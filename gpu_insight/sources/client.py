"""HTTP client for one GPU Insight collector, typed over the wire models.

Every failure is a `CollectorError` whose text is one sentence: what went wrong, where, and what
to do. The bearer token is sent in a header only and never appears in an error text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from pydantic import BaseModel, ValidationError

from gpu_insight.schemas import (
    API_VERSION,
    SCHEMA_VERSION,
    SERVICE_NAME,
    AlertList,
    GroupBy,
    Health,
    History,
    Snapshot,
    UsageReport,
    Webhook,
    WebhookList,
    WebhookSpec,
)
from gpu_insight.sources.bounded_http import (
    AnswerTooLargeError,
    AnswerTooSlowError,
    BoundedResponse,
    bounded_request,
    connection_cause,
    deadline_session,
)

CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
GET_RETRIES = 2
RETRY_BACKOFF_S = 0.25
RETRYABLE_STATUS = frozenset({502, 503, 504})
MAX_ANSWER_BYTES = 32 * 1024 * 1024  # a day of history for 8 GPUs is a few MiB
MAX_REASON_CHARS = 300

ModelT = TypeVar("ModelT", bound=BaseModel)


class CollectorError(Exception):
    """A collector could not give a usable answer; `str(error)` is the sentence to show."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class CollectorUnreachableError(CollectorError):
    """No TCP connection (refused, unknown host, no route)."""


class CollectorTimeoutError(CollectorError):
    """Connected, or tried to, but no answer in time."""


class TokenRefusedError(CollectorError):
    """HTTP 401 (no token) or 403 (wrong token)."""


class NotACollectorError(CollectorError):
    """Something answered, but not a GPU Insight collector."""


class IncompatibleVersionError(CollectorError):
    """A GPU Insight collector speaking another API or schema version."""


class CollectorUnavailableError(CollectorError):
    """HTTP 503: the collector is up but has nothing to serve yet."""


class RequestRefusedError(CollectorError):
    """HTTP 400 or 409: the collector refused what was sent and said why."""


@dataclass(frozen=True)
class MetricsText:
    """The collector's Prometheus exposition, passed on as it came."""

    text: str
    content_type: str


class CollectorClient:
    """Reads one collector and manages its webhook targets. GETs and DELETEs are retried a
    bounded number of times on connection errors and 502/503/504 (a POST is not: it would
    register twice), never past the call's deadline: one call, every attempt and the whole
    answer together, takes at most `connect_timeout_s + read_timeout_s`, and an answer over
    `MAX_ANSWER_BYTES` is refused."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        retries: int = GET_RETRIES,
        backoff_s: float = RETRY_BACKOFF_S,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token or None
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._deadline_s = connect_timeout_s + read_timeout_s
        self._retries = max(0, retries)
        self._backoff_s = backoff_s
        self._session = session or deadline_session()

    def healthz(self) -> Health:
        """`/healthz`, checked to come from a compatible GPU Insight collector."""
        response = self._get("/healthz", authenticated=False, accept_status=(200, 503))
        payload = self._json(response, "/healthz")
        self._check_identity(payload, "/healthz")
        if payload.get("api_version") != API_VERSION:
            raise IncompatibleVersionError(
                f"The collector at {self.base_url} speaks API "
                f"{payload.get('api_version')!r} but this plugin needs {API_VERSION!r}; "
                "upgrade the collector or the plugin so that they match.",
                self.base_url,
            )
        return self._model(Health, payload, "/healthz")

    def snapshot(self) -> Snapshot:
        payload = self._json(self._get("/v1/snapshot"), "/v1/snapshot")
        self._check_identity(payload, "/v1/snapshot")
        return self._model(Snapshot, payload, "/v1/snapshot")

    def history(self, seconds: int, gpu: str | None = None, step_s: int | None = None) -> History:
        params: dict[str, Any] = {"seconds": seconds}
        if gpu is not None:
            params["gpu"] = gpu
        if step_s is not None:
            params["step_s"] = step_s
        return self._model(
            History, self._json(self._get("/v1/history", params), "/v1/history"), "/v1/history"
        )

    def alerts(self, include_resolved: bool = False) -> AlertList:
        params = {"include_resolved": str(include_resolved).lower()}
        return self._model(
            AlertList, self._json(self._get("/v1/alerts", params), "/v1/alerts"), "/v1/alerts"
        )

    def usage(
        self, from_t: float, to_t: float, group_by: GroupBy, bucket_s: int | None = None
    ) -> UsageReport:
        params: dict[str, Any] = {"from": from_t, "to": to_t, "group_by": group_by}
        if bucket_s is not None:
            params["bucket_s"] = bucket_s
        return self._model(
            UsageReport, self._json(self._get("/v1/usage", params), "/v1/usage"), "/v1/usage"
        )

    def metrics_text(self) -> MetricsText:
        response = self._get("/metrics")
        return MetricsText(
            text=response.text,
            content_type=response.headers.get("Content-Type", "text/plain; version=0.0.4"),
        )

    def webhooks(self) -> WebhookList:
        """`GET /v1/webhooks` (the admin token's): the targets of alert deliveries."""
        return self._model(
            WebhookList, self._json(self._get("/v1/webhooks"), "/v1/webhooks"), "/v1/webhooks"
        )

    def add_webhook(self, spec: WebhookSpec) -> Webhook:
        """Registers a target; `spec.secret` goes to the collector and is never shown again."""
        body = spec.model_dump_json(exclude_none=True).encode()
        response = self._call("POST", "/v1/webhooks", body=body, accept_status=(201,))
        return self._model(Webhook, self._json(response, "/v1/webhooks"), "/v1/webhooks")

    def remove_webhook(self, webhook_id: str) -> bool:
        """Removes a target; False when the collector has no such target (any more)."""
        path = f"/v1/webhooks/{quote(webhook_id, safe='')}"
        return self._call("DELETE", path, accept_status=(200, 404)).status_code == 200

    # -- transport -------------------------------------------------------------------------

    def _get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        authenticated: bool = True,
        accept_status: tuple[int, ...] = (200,),
    ) -> BoundedResponse:
        return self._call(
            "GET", path, params, authenticated=authenticated, accept_status=accept_status
        )

    def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        body: bytes | None = None,
        authenticated: bool = True,
        accept_status: tuple[int, ...] = (200,),
    ) -> BoundedResponse:
        headers = {"Accept": "application/json, text/plain;q=0.9"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if authenticated and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        url = self.base_url + path
        retries = 0 if method == "POST" else self._retries
        deadline = time.monotonic() + self._deadline_s  # for every attempt together
        attempt = 0
        while True:
            try:
                response = bounded_request(
                    self._session,
                    method,
                    url,
                    params=params,
                    headers=headers,
                    body=body,
                    connect_timeout_s=self._connect_timeout_s,
                    deadline_s=max(0.1, min(self._read_timeout_s, deadline - time.monotonic())),
                    max_bytes=MAX_ANSWER_BYTES,
                )
            except AnswerTooSlowError:
                raise CollectorTimeoutError(
                    f"The GPU Insight collector at {self.base_url} did not send its whole answer "
                    f"to {path} within {self._read_timeout_s:g} s; check the collector's load "
                    "and the network between it and the Dify plugin daemon.",
                    self.base_url,
                ) from None
            except AnswerTooLargeError:
                raise NotACollectorError(
                    f"{self.base_url} answered {path} with more than "
                    f"{MAX_ANSWER_BYTES // (1024 * 1024)} MiB, far more than a GPU Insight "
                    "collector sends; check the host and port.",
                    self.base_url,
                ) from None
            except requests.exceptions.Timeout:
                raise CollectorTimeoutError(
                    f"The GPU Insight collector at {self.base_url} did not answer within "
                    f"{self._read_timeout_s:g} s; check that the host is up and that no "
                    "firewall silently drops traffic to its port.",
                    self.base_url,
                ) from None
            except requests.exceptions.ConnectionError as error:
                if attempt < retries and time.monotonic() + self._backoff_s < deadline:
                    attempt += 1
                    time.sleep(self._backoff_s * attempt)
                    continue
                raise CollectorUnreachableError(
                    f"Cannot connect to the GPU Insight collector at {self.base_url} "
                    f"({connection_cause(error)}); check that the collector is running and "
                    "that this URL is reachable from the Dify plugin daemon.",
                    self.base_url,
                ) from None
            except requests.exceptions.RequestException as error:
                raise CollectorUnreachableError(
                    f"The request to the GPU Insight collector at {self.base_url} failed "
                    f"({type(error).__name__}); check the URL.",
                    self.base_url,
                ) from None
            if (
                response.status_code in RETRYABLE_STATUS
                and attempt < retries
                and response.status_code not in accept_status
                and time.monotonic() + self._backoff_s < deadline
            ):
                attempt += 1
                time.sleep(self._backoff_s * attempt)
                continue
            return self._checked(response, path, accept_status)

    def _checked(
        self, response: BoundedResponse, path: str, accept_status: tuple[int, ...]
    ) -> BoundedResponse:
        status = response.status_code
        if status in accept_status:
            return response
        if status == 401:
            raise TokenRefusedError(
                f"The GPU Insight collector at {self.base_url} requires a token (HTTP 401); "
                "enter the collector's token in the settings.",
                self.base_url,
            )
        if status == 403:
            raise TokenRefusedError(
                f"The GPU Insight collector at {self.base_url} refused the token (HTTP 403); "
                "enter the token the collector was started with (--token or "
                "GPU_INSIGHT_TOKEN).",
                self.base_url,
            )
        if status == 503:
            raise CollectorUnavailableError(
                f"The GPU Insight collector at {self.base_url} is running but has no data yet "
                "(HTTP 503); wait a few seconds and check the collector's log if it persists.",
                self.base_url,
            )
        if status == 404:
            raise NotACollectorError(
                f"{self.base_url} answered HTTP 404 for {path}, so it is not a GPU Insight "
                "collector; check the host and port (the collector listens on 9470 by default).",
                self.base_url,
            )
        if status in (400, 409):
            raise RequestRefusedError(
                f"The GPU Insight collector at {self.base_url} refused {path} (HTTP {status}): "
                f"{_error_message(response)}",
                self.base_url,
            )
        raise CollectorError(
            f"The GPU Insight collector at {self.base_url} answered HTTP {status} for {path}; "
            "check the collector's log.",
            self.base_url,
        )

    def _json(self, response: BoundedResponse, path: str) -> dict[str, Any]:
        payload = response.json_object()
        if payload is None:
            raise NotACollectorError(
                f"{self.base_url} answered {path} with something other than a JSON object, so "
                "it is not a GPU Insight collector; check the host and port.",
                self.base_url,
            )
        return payload

    def _check_identity(self, payload: Mapping[str, Any], path: str) -> None:
        service = payload.get("service")
        if service != SERVICE_NAME:
            raise NotACollectorError(
                f"{self.base_url} answered {path} as service {service!r}, not "
                f"{SERVICE_NAME!r}; check the host and port of the GPU Insight collector.",
                self.base_url,
            )
        schema_version = payload.get("schema_version")
        if schema_version != SCHEMA_VERSION:
            raise IncompatibleVersionError(
                f"The collector at {self.base_url} uses schema version {schema_version!r} but "
                f"this plugin reads version {SCHEMA_VERSION}; upgrade the collector or the "
                "plugin so that they match.",
                self.base_url,
            )

    def _model(self, model: type[ModelT], payload: Mapping[str, Any], path: str) -> ModelT:
        try:
            return model.model_validate(payload)
        except ValidationError as error:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors()[:3])
            raise IncompatibleVersionError(
                f"The collector at {self.base_url} answered {path} with data this plugin cannot "
                f"read (fields: {fields}); upgrade the collector or the plugin so that they "
                "match.",
                self.base_url,
            ) from None


def _error_message(response: BoundedResponse) -> str:
    """The sentence of the collector's error envelope, bounded; a stand-in when there is none.
    (Collectors before the one envelope `{error, message}` put it in `detail`.)"""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    message = None
    if isinstance(payload, dict):
        message = payload.get("message") or payload.get("detail")
    return message[:MAX_REASON_CHARS] if isinstance(message, str) else "no reason given"
