from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.answers.history import history_json, parse_history_seconds, parse_history_step
from gpu_insight.gateway import json_response, serve_with_source
from gpu_insight.sources.source import GpuSource


class HistoryEndpoint(Endpoint):
    """GET /history?seconds=&step_s=: every host's recent per-GPU history (in steps of `step_s`
    when asked), merged, as JSON."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def history(source: GpuSource) -> Response:
            seconds = parse_history_seconds(r.args.get("seconds"))
            step_s = parse_history_step(r.args.get("step_s"))
            return json_response(history_json(source.history(seconds, step_s)))

        return serve_with_source(r, settings, history)
