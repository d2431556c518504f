from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.answers.metrics import COLLECTOR_QUERY, scrape_collector
from gpu_insight.gateway import serve_with_collectors
from gpu_insight.sources.settings import CollectorSettings


class MetricsEndpoint(Endpoint):
    """GET /metrics: the collector's Prometheus exposition, passed through unchanged."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def metrics(collectors: CollectorSettings) -> Response:
            scraped = scrape_collector(collectors, r.args.get(COLLECTOR_QUERY))
            return Response(
                scraped.text,
                status=200,
                content_type=scraped.content_type,
                headers={"Cache-Control": "no-store"},
            )

        return serve_with_collectors(r, settings, metrics)
