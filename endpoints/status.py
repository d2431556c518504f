from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.gateway import json_response, serve_with_collectors
from gpu_insight.sources.fleet import CollectorFleet, missing_json
from gpu_insight.sources.settings import CollectorSettings


class StatusEndpoint(Endpoint):
    """GET /status: the current snapshot of every configured collector, merged, as JSON, with
    the collectors that did not answer under `missing_collectors`."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def status(collectors: CollectorSettings) -> Response:
            gathered = CollectorFleet.from_settings(collectors).snapshot()
            return json_response(
                {
                    **gathered.value.model_dump(mode="json"),
                    "missing_collectors": missing_json(gathered.missing),
                }
            )

        return serve_with_collectors(r, settings, status)
