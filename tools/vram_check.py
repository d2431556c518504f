from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.answers.answer import emit
from gpu_insight.answers.vram import answer_vram, live_gpus, parse_vram_request
from gpu_insight.schemas import Snapshot
from gpu_insight.sources.fleet import Gathered
from gpu_insight.sources.source import source_from


class VramCheckTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter errors propagate: the node fails with their text. A source that cannot be
        # read (or is not set up) only removes the live part of the answer.
        def snapshot() -> Gathered[Snapshot]:
            return live_gpus(source_from(self.runtime.credentials))

        request = parse_vram_request(tool_parameters)
        yield from emit(self, answer_vram(request, snapshot, self.runtime.credentials))
