"""PromQL over Prometheus' HTTP API (`/api/v1/query`, `/api/v1/query_range`), bounded.

Each query has one deadline for the whole answer (`QUERY_TIMEOUT_S`, also sent as the query's
`timeout` so Prometheus stops evaluating) and a size cap; a caller passes the time left of its
answer's budget. Every failure is a `PrometheusError` whose text is one sentence naming the
server by its URL without credentials; tokens and passwords never appear in one. The errors are
`CollectorError`s, so every caller that handles an unreadable source handles these alike.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import requests

from gpu_insight.errors import quoted
from gpu_insight.sources.bounded_http import (
    AnswerTooLargeError,
    AnswerTooSlowError,
    BoundedResponse,
    bounded_get,
    deadline_session,
)
from gpu_insight.sources.client import (
    CollectorError,
    CollectorTimeoutError,
    CollectorUnavailableError,
    CollectorUnreachableError,
    TokenRefusedError,
)
from gpu_insight.sources.prometheus.settings import PrometheusSettings

CONNECT_TIMEOUT_S = 2.0
QUERY_TIMEOUT_S = 5.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a 1,000-GPU snapshot query answers a few MiB
MAX_ERROR_CHARS = 160


class PrometheusError(CollectorError):
    """Prometheus could not give a usable answer; `str(error)` is the sentence to show."""


class PrometheusUnreachableError(PrometheusError, CollectorUnreachableError):
    """No TCP connection."""


class PrometheusTimeoutError(PrometheusError, CollectorTimeoutError):
    """No whole answer within the query's deadline."""


class PrometheusRefusedError(PrometheusError, TokenRefusedError):
    """HTTP 401 or 403."""


class PrometheusUnavailableError(PrometheusError, CollectorUnavailableError):
    """HTTP 503 other than a query timeout: Prometheus is starting or overloaded."""


class NotPrometheusError(PrometheusError):
    """Something answered, but not the Prometheus HTTP API."""


class QueryRefusedError(PrometheusError):
    """Prometheus refused or could not run a query (bad_data, execution)."""


class Sample(NamedTuple):
    """One series of an instant vector: its labels, the evaluation time and its value. (A
    tuple: a 1,000-GPU snapshot builds tens of thousands of them.)"""

    labels: Mapping[str, str]
    t: float
    value: float


class RangeSeries(NamedTuple):
    """One series of a range query: its labels and its (time, value) points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


class PrometheusClient:
    def __init__(
        self,
        settings: PrometheusSettings,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        query_timeout_s: float = QUERY_TIMEOUT_S,
    ) -> None:
        self.url = settings.url
        self.query_timeout_s = query_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._headers = {"Accept": "application/json"}
        if settings.basic_auth is not None:
            pair = ":".join(settings.basic_auth).encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        elif settings.token is not None:
            self._headers["Authorization"] = f"Bearer {settings.token}"

    def buildinfo(self, deadline_s: float | None = None) -> Mapping[str, Any]:
        """`/api/v1/status/buildinfo`: proves the URL is a Prometheus HTTP API."""
        data = self._data("/api/v1/status/buildinfo", {}, deadline_s)
        if not isinstance(data, dict) or "version" not in data:
            raise self._not_prometheus("/api/v1/status/buildinfo")
        return data

    def instant(
        self, promql: str, at: float | None = None, deadline_s: float | None = None
    ) -> list[Sample]:
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._query("/api/v1/query", params, "vector", deadline_s)
        return [
            Sample(item["metric"], float(item["value"][0]), _number(item["value"][1]))
            for item in data
        ]

    def range(
        self,
        promql: str,
        start: float,
        end: float,
        step_s: float,
        deadline_s: float | None = None,
    ) -> list[RangeSeries]:
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step_s}
        data = self._query("/api/v1/query_range", params, "matrix", deadline_s)
        return [
            RangeSeries(item["metric"], tuple((float(t), _number(v)) for t, v in item["values"]))
            for item in data
        ]

    def _query(
        self, path: str, params: dict[str, Any], kind: str, deadline_s: float | None
    ) -> list[dict[str, Any]]:
        timeout_s = self._deadline(deadline_s)
        data = self._data(path, {**params, "timeout": f"{timeout_s:.3f}"}, timeout_s)
        if not isinstance(data, dict) or data.get("resultType") != kind:
            raise self._not_prometheus(path)
        result = data.get("result")
        if not isinstance(result, list):
            raise self._not_prometheus(path)
        return result

    def _deadline(self, deadline_s: float | None) -> float:
        limit = (
            self.query_timeout_s if deadline_s is None else min(deadline_s, self.query_timeout_s)
        )
        if limit <= 0:
            raise self._too_slow()
        return limit

    def _data(self, path: str, params: Mapping[str, Any], deadline_s: float | None) -> Any:
        response = self._get(path, params, self._deadline(deadline_s))
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or payload.get("status") not in ("success", "error"):
            if response.status_code in (401, 403):
                raise self._refused(response.status_code)
            raise self._not_prometheus(path, response.status_code)
        if payload["status"] == "error":
            raise self._query_error(payload, response.status_code)
        return payload.get("data")

    def _get(self, path: str, params: Mapping[str, Any], deadline_s: float) -> BoundedResponse:
        started = time.monotonic()
        try:
            return bounded_get(
                deadline_session(),
                self.url + path,
                params=params,
                headers=self._headers,
                connect_timeout_s=min(self._connect_timeout_s, deadline_s),
                deadline_s=deadline_s,
                max_bytes=MAX_ANSWER_BYTES,
            )
        except (AnswerTooSlowError, requests.exceptions.Timeout):
            raise self._too_slow(time.monotonic() - started) from None
        except AnswerTooLargeError:
            raise QueryRefusedError(
                f"Prometheus at {self.url} answered with more than "
                f"{MAX_ANSWER_BYTES // (1024 * 1024)} MiB; narrow prometheus_selector to the "
                "GPU hosts this workspace needs.",
                self.url,
            ) from None
        except requests.exceptions.ConnectionError as error:
            cause = "connection refused" if "refused" in str(error).lower() else "no connection"
            raise PrometheusUnreachableError(
                f"Cannot connect to Prometheus at {self.url} ({cause}); check prometheus_url and "
                "that Prometheus is reachable from the Dify plugin daemon.",
                self.url,
            ) from None
        except requests.exceptions.RequestException as error:
            raise PrometheusUnreachableError(
                f"The request to Prometheus at {self.url} failed ({type(error).__name__}); "
                "check prometheus_url.",
                self.url,
            ) from None

    def _too_slow(self, elapsed_s: float | None = None) -> PrometheusTimeoutError:
        waited = self.query_timeout_s if elapsed_s is None else max(elapsed_s, 0.1)
        return PrometheusTimeoutError(
            f"Prometheus at {self.url} did not answer a query within {waited:.0f} s; check its "
            "load, or narrow prometheus_selector to fewer series.",
            self.url,
        )

    def _refused(self, status: int) -> PrometheusRefusedError:
        return PrometheusRefusedError(
            f"Prometheus at {self.url} refused the credentials (HTTP {status}); check "
            "prometheus_token (a bearer token), or the user and password in prometheus_url.",
            self.url,
        )

    def _not_prometheus(self, path: str, status: int | None = None) -> NotPrometheusError:
        answer = (
            f"HTTP {status}, not the Prometheus HTTP API"
            if status not in (None, 200)
            else "something other than the Prometheus HTTP API"
        )
        return NotPrometheusError(
            f"{self.url} answered {path} with {answer}; check prometheus_url (the base URL, "
            "e.g. http://prometheus:9090).",
            self.url,
        )

    def _query_error(self, payload: Mapping[str, Any], status: int) -> PrometheusError:
        kind = str(payload.get("errorType") or "error")
        detail = quoted(str(payload.get("error") or ""), MAX_ERROR_CHARS)
        if kind == "timeout":
            return self._too_slow()
        if status in (401, 403):
            return self._refused(status)
        if status == 503:
            return PrometheusUnavailableError(
                f"Prometheus at {self.url} is not ready (HTTP 503, {kind}); try again shortly.",
                self.url,
            )
        return QueryRefusedError(
            f"Prometheus at {self.url} could not run a query ({kind}: {detail}); check "
            "prometheus_selector.",
            self.url,
        )


def _number(text: Any) -> float:
    """Prometheus sends values as strings, NaN and ±Inf included."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan
