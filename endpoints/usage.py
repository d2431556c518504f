from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.answers.usage import gather_usage, usage_steps_json
from gpu_insight.gateway import json_response, serve_with_collectors
from gpu_insight.sources.settings import CollectorSettings


class UsageEndpoint(Endpoint):
    """GET /usage?window=&from=&to=&group_by=&bucket_s=&price=: every collector's usage report,
    merged, in steps of bucket_s, as JSON (the dashboard's cost panel)."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def usage(collectors: CollectorSettings) -> Response:
            query, report = gather_usage(dict(r.args), collectors, price_name="price")
            return json_response(usage_steps_json(query, report))

        return serve_with_collectors(r, settings, usage)
