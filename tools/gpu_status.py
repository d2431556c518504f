from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.answers.answer import emit
from gpu_insight.answers.status import STATUS_GPU_FIELDS, answer_status, parse_status_query
from gpu_insight.sources.source import source_from


class GpuStatusTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and source errors propagate: the node fails with their text.
        query = parse_status_query(tool_parameters)
        snapshot = source_from(self.runtime.credentials).snapshot(
            with_processes=False, gpu_fields=STATUS_GPU_FIELDS
        )
        yield from emit(self, answer_status(query, snapshot))
