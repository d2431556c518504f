import json
from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.endpoint_auth import (
    check_api_key,
    json_error,
    json_response,
    unexpected_error_response,
)
from gpu_insight.estimate.service import VramCheckError, vram_check
from gpu_insight.fleet import CollectorFleet
from gpu_insight.schemas import Snapshot
from gpu_insight.settings import collector_settings


class VramCheckEndpoint(Endpoint):
    """POST /vram-check: the vram_check tool's parameters as a JSON object, its JSON back."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        denied = check_api_key(r, settings)
        if denied is not None:
            return denied
        try:
            params = json.loads(r.get_data(as_text=True) or "{}")
        except json.JSONDecodeError:
            return json_error(
                400, "The body must be a JSON object of vram_check parameters.", "bad_request"
            )
        if not isinstance(params, dict):
            return json_error(
                400, "The body must be a JSON object of vram_check parameters.", "bad_request"
            )

        def snapshot() -> Snapshot:
            return CollectorFleet.from_settings(collector_settings(settings)).snapshot()

        try:
            answer = vram_check(params, snapshot)
        except VramCheckError as error:
            return json_error(400, str(error), "bad_request")
        except Exception:  # the SDK's own 500 would echo the exception text
            return unexpected_error_response(r)
        return json_response(answer.model_dump(mode="json"))
