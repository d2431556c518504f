from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.fleet import CollectorFleet
from gpu_insight.render import status_line
from gpu_insight.settings import collector_settings
from gpu_insight.status_view import build_status_view
from gpu_insight.tool_params import parse_gpu_selector, parse_optional_text, select_gpus


class GpuStatusTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and collector errors propagate: the node fails with their text.
        selector = parse_gpu_selector(tool_parameters.get("gpu"))
        host = parse_optional_text(tool_parameters.get("host"), "host")
        snapshot = CollectorFleet.from_settings(
            collector_settings(self.runtime.credentials)
        ).snapshot()
        view = build_status_view(snapshot, select_gpus(snapshot, selector, host))
        yield self.create_json_message(view.as_json())
        yield self.create_text_message(status_line(view))
        for name, value in view.summary.as_variables().items():
            yield self.create_variable_message(name, value)
