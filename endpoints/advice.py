from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.answers.advice import gather_advice, parse_advice_query
from gpu_insight.gateway import json_response, serve_with_source
from gpu_insight.sources.source import GpuSource


class AdviceEndpoint(Endpoint):
    """GET /advice?gpu=&host=&model=&engine=&focus=: serving_advice over every host's current
    snapshot, its JSON back (the dashboard's advice panel)."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def advice(source: GpuSource) -> Response:
            query = parse_advice_query(dict(r.args))
            return json_response(gather_advice(query, source, settings).as_json())

        return serve_with_source(r, settings, advice)
