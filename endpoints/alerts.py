from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.answers.alerts import alerts_json, parse_include_resolved
from gpu_insight.gateway import json_response, serve_with_source
from gpu_insight.sources.source import GpuSource


class AlertsEndpoint(Endpoint):
    """GET /alerts?include_resolved=: every host's pending and firing alerts (and recently
    resolved ones when asked and kept), merged, as JSON."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def alerts(source: GpuSource) -> Response:
            include_resolved = parse_include_resolved(r.args.get("include_resolved"))
            return json_response(alerts_json(source.alerts(include_resolved)))

        return serve_with_source(r, settings, alerts)
