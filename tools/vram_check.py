from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.estimate.service import summary_text, variables, vram_check
from gpu_insight.fleet import CollectorFleet
from gpu_insight.schemas import Snapshot
from gpu_insight.settings import collector_settings


class VramCheckTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter errors propagate: the node fails with their text. A collector that cannot
        # be read only removes the live part of the answer.
        def snapshot() -> Snapshot:
            return CollectorFleet.from_settings(
                collector_settings(self.runtime.credentials)
            ).snapshot()

        answer = vram_check(tool_parameters, snapshot)
        yield self.create_json_message(answer.model_dump(mode="json"))
        yield self.create_text_message(summary_text(answer))
        for name, value in variables(answer).items():
            yield self.create_variable_message(name, value)
