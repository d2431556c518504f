from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.answers.advice import gather_advice, parse_advice_query
from gpu_insight.answers.answer import emit
from gpu_insight.sources.source import source_from


class ServingAdviceTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and source errors propagate: the node fails with their text.
        query = parse_advice_query(tool_parameters)
        credentials = self.runtime.credentials
        yield from emit(self, gather_advice(query, source_from(credentials), credentials))
