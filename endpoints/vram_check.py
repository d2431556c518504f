from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.answers.vram import answer_vram, live_gpus, parse_vram_request
from gpu_insight.gateway import json_response, read_json_object, serve
from gpu_insight.schemas import Snapshot
from gpu_insight.sources.fleet import Gathered
from gpu_insight.sources.source import source_from


class VramCheckEndpoint(Endpoint):
    """POST /vram-check: the vram_check tool's parameters as a JSON object, its JSON back.
    Without usable source settings it still answers, without the live part."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def snapshot() -> Gathered[Snapshot]:
            return live_gpus(source_from(settings))

        def check() -> Response:
            request = parse_vram_request(read_json_object(r, "vram_check parameters"))
            return json_response(answer_vram(request, snapshot, settings).as_json())

        return serve(r, settings, check)
