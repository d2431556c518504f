from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.fleet import CollectorFleet
from gpu_insight.process_view import PROCESS_GROUPINGS, build_process_view
from gpu_insight.render import processes_line
from gpu_insight.settings import collector_settings
from gpu_insight.tool_params import parse_choice, parse_gpu_selector, select_gpus


class GpuProcessesTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and collector errors propagate: the node fails with their text.
        selector = parse_gpu_selector(tool_parameters.get("gpu"))
        group_by = parse_choice(
            tool_parameters.get("group_by"), "group_by", PROCESS_GROUPINGS, default="process"
        )
        snapshot = CollectorFleet.from_settings(
            collector_settings(self.runtime.credentials)
        ).snapshot()
        view = build_process_view(snapshot, select_gpus(snapshot, selector), group_by)
        yield self.create_json_message(view.as_json())
        yield self.create_text_message(processes_line(view))
        for name, value in view.as_variables().items():
            yield self.create_variable_message(name, value)
