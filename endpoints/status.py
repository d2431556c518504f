from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.gateway import json_response, serve_with_source
from gpu_insight.sources.fleet import missing_json
from gpu_insight.sources.source import GpuSource


class StatusEndpoint(Endpoint):
    """GET /status: the current snapshot of every host, merged, as JSON, with the collectors
    (or Prometheus targets) that did not answer under `missing_collectors`."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def status(source: GpuSource) -> Response:
            gathered = source.snapshot()
            return json_response(
                {
                    **gathered.value.model_dump(mode="json"),
                    "missing_collectors": missing_json(gathered.missing),
                }
            )

        return serve_with_source(r, settings, status)
