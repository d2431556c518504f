from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.answers.answer import emit
from gpu_insight.answers.processes import answer_processes, parse_process_query
from gpu_insight.sources.source import source_from


class GpuProcessesTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and source errors propagate: the node fails with their text.
        query = parse_process_query(tool_parameters)
        snapshot = source_from(self.runtime.credentials).snapshot()
        yield from emit(self, answer_processes(query, snapshot))
