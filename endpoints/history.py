from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.answers.history import history_json, parse_history_seconds
from gpu_insight.gateway import json_response, serve_with_collectors
from gpu_insight.sources.fleet import CollectorFleet
from gpu_insight.sources.settings import CollectorSettings


class HistoryEndpoint(Endpoint):
    """GET /history?seconds=: every collector's recent per-GPU history, merged, as JSON."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def history(collectors: CollectorSettings) -> Response:
            seconds = parse_history_seconds(r.args.get("seconds"))
            gathered = CollectorFleet.from_settings(collectors).history(seconds)
            return json_response(history_json(gathered))

        return serve_with_collectors(r, settings, history)
