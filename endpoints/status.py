from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.endpoint_auth import json_response, serve_with_collectors
from gpu_insight.fleet import CollectorFleet
from gpu_insight.settings import CollectorSettings


class StatusEndpoint(Endpoint):
    """GET /status: the current snapshot of every configured collector, merged, as JSON."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def status(collectors: CollectorSettings) -> Response:
            snapshot = CollectorFleet.from_settings(collectors).snapshot()
            return json_response(snapshot.model_dump(mode="json"))

        return serve_with_collectors(r, settings, status)
