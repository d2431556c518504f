from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.answers.usage import gather_usage, usage_steps_json
from gpu_insight.gateway import json_response, serve_with_source
from gpu_insight.sources.settings import PRICE_SETTING, parse_price_per_gpu_hour
from gpu_insight.sources.source import GpuSource


class UsageEndpoint(Endpoint):
    """GET /usage?window=&from=&to=&group_by=&bucket_s=&price=: every host's usage report,
    merged, in steps of bucket_s, as JSON (the dashboard's cost panel)."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def usage(source: GpuSource) -> Response:
            price = parse_price_per_gpu_hour(settings.get(PRICE_SETTING))
            query, report = gather_usage(dict(r.args), source, price, price_name="price")
            return json_response(usage_steps_json(query, report))

        return serve_with_source(r, settings, usage)
