from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.advise import FOCUSES
from gpu_insight.advise.answer import serving_advice
from gpu_insight.engines import ENGINES
from gpu_insight.fleet import CollectorFleet
from gpu_insight.settings import collector_settings
from gpu_insight.tool_params import (
    parse_gpu_selector,
    parse_optional_choice,
    parse_optional_text,
)


class ServingAdviceTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and collector errors propagate: the node fails with their text.
        selector = parse_gpu_selector(tool_parameters.get("gpu"))
        host = parse_optional_text(tool_parameters.get("host"), "host")
        model = parse_optional_text(tool_parameters.get("model"), "model")
        engine = parse_optional_choice(tool_parameters.get("engine"), "engine", ENGINES)
        focus = parse_optional_choice(tool_parameters.get("focus"), "focus", FOCUSES)
        answer = serving_advice(
            CollectorFleet.from_settings(collector_settings(self.runtime.credentials)).snapshot(),
            selector=selector,
            host=host,
            model=model,
            engine=engine,
            focus=focus,
        )
        yield self.create_json_message(answer.as_json())
        yield self.create_text_message(answer.advice.text())
        for name, value in answer.as_variables().items():
            yield self.create_variable_message(name, value)
