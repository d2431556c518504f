"""What every endpoint shares: the API-key check, JSON responses, bounded JSON bodies, and the
mapping of every failure to one JSON error answer.

Dify endpoint URLs are public, so each request must present the endpoint's `api_key` setting as
an `X-Api-Key` header or a `?key=` query parameter. Error bodies are JSON with one clear
sentence; they never carry a stack trace, a token or a key.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug import Request, Response

from gpu_insight.bounded_json import parse_json_object
from gpu_insight.errors import InputError, SettingsError, error_body
from gpu_insight.sources.client import (
    CollectorError,
    CollectorTimeoutError,
    CollectorUnavailableError,
)
from gpu_insight.sources.prometheus.client import PrometheusError, PrometheusTimeoutError
from gpu_insight.sources.source import GpuSource, source_from

API_KEY_HEADER = "X-Api-Key"
API_KEY_QUERY = "key"
JSON_TYPE = "application/json"

logger = logging.getLogger(__name__)


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return Response(
        body,
        status=status,
        content_type=JSON_TYPE,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def json_error(status: int, message: str, error: str) -> Response:
    return json_response(error_body(error, message), status=status)


def check_api_key(request: Request, settings: Mapping[str, Any]) -> Response | None:
    """None when the request carries the right key; else the 401/403 (or 500) response."""
    expected = str(settings.get("api_key") or "")
    if not expected:
        return json_error(
            500,
            "This endpoint has no API key configured; set api_key in the "
            "endpoint's settings in Dify.",
            "endpoint_misconfigured",
        )
    presented = request.headers.get(API_KEY_HEADER) or request.args.get(API_KEY_QUERY)
    if not presented:
        return json_error(
            401,
            f"An API key is required: send it as the {API_KEY_HEADER} "
            f"header or the ?{API_KEY_QUERY}= query parameter.",
            "api_key_missing",
        )
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        return json_error(403, "The API key is not valid for this endpoint.", "api_key_invalid")
    return None


def collector_error_response(error: CollectorError | SettingsError) -> Response:
    """Map source trouble to a gateway status; the text already names URL and cause."""
    if isinstance(error, SettingsError):
        return json_error(
            500, f"The endpoint's settings are not usable: {error}", "endpoint_misconfigured"
        )
    if isinstance(error, PrometheusTimeoutError):
        return json_error(504, str(error), "prometheus_timeout")
    if isinstance(error, PrometheusError):
        return json_error(502, str(error), "prometheus_error")
    if isinstance(error, CollectorTimeoutError):
        return json_error(504, str(error), "collector_timeout")
    if isinstance(error, CollectorUnavailableError):
        return json_error(503, str(error), "collector_unavailable")
    return json_error(502, str(error), "collector_error")


def unexpected_error_response(request: Request) -> Response:
    """For anything unforeseen, called while handling it: the traceback goes to the plugin's
    log, the caller gets a fixed text, since exception texts may carry detail."""
    logger.exception("endpoint %s %s failed", request.method, request.path)
    return json_error(
        500, "The endpoint failed unexpectedly; see the plugin's log in Dify.", "internal_error"
    )


def serve(
    request: Request, settings: Mapping[str, Any], handler: Callable[[], Response]
) -> Response:
    """Check the key, then run `handler`, turning every failure into a JSON response (the
    SDK's own 500 would echo the exception text)."""
    denied = check_api_key(request, settings)
    if denied is not None:
        return denied
    try:
        return handler()
    except (CollectorError, SettingsError) as error:
        return collector_error_response(error)
    except InputError as error:
        return json_error(400, str(error), "bad_request")
    except Exception:
        return unexpected_error_response(request)


def serve_with_source(
    request: Request, settings: Mapping[str, Any], handler: Callable[[GpuSource], Response]
) -> Response:
    """`serve` with the source the endpoint's settings name (collectors or Prometheus)."""
    return serve(request, settings, lambda: handler(source_from(settings)))


def read_json_object(request: Request, what: str) -> dict[str, Any]:
    """The request body as a bounded JSON object (see `bounded_json`)."""
    return parse_json_object(request.get_data(cache=False), what)
