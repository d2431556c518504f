from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.gateway import serve_with_source
from gpu_insight.sources.fleet import COLLECTOR_QUERY
from gpu_insight.sources.source import GpuSource


class MetricsEndpoint(Endpoint):
    """GET /metrics: the collector's Prometheus exposition, passed through unchanged (or, read
    through Prometheus, every GPU series in the settings' scope)."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def metrics(source: GpuSource) -> Response:
            scraped = source.metrics_text(r.args.get(COLLECTOR_QUERY))
            return Response(
                scraped.text,
                status=200,
                content_type=scraped.content_type,
                headers={"Cache-Control": "no-store"},
            )

        return serve_with_source(r, settings, metrics)
