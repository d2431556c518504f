"""What the three alert events share (a mixin, not an Event: the SDK wants one Event subclass
per event module). The run's variables come from the payload the dispatch made; an alert the
node's filters leave out starts no run."""

from collections.abc import Mapping
from typing import Any

from dify_plugin.entities.trigger import Variables
from dify_plugin.errors.trigger import EventIgnoreError
from werkzeug import Request

from gpu_insight.triggers.events import run_variables


class AlertEventRun:
    event_name: str

    def _on_event(
        self, request: Request, parameters: Mapping[str, Any], payload: Mapping[str, Any]
    ) -> Variables:
        variables = run_variables(self.event_name, parameters, payload)
        if variables is None:
            raise EventIgnoreError(f"no {self.event_name} alert passes this node's filters")
        return Variables(variables=variables)
