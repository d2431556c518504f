from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.answers.history import history_json, parse_history_seconds
from gpu_insight.gateway import json_response, serve_with_source
from gpu_insight.sources.source import GpuSource


class HistoryEndpoint(Endpoint):
    """GET /history?seconds=: every host's recent per-GPU history, merged, as JSON."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def history(source: GpuSource) -> Response:
            seconds = parse_history_seconds(r.args.get("seconds"))
            return json_response(history_json(source.history(seconds)))

        return serve_with_source(r, settings, history)
