"""What every answer shares: one JSON object, one line of text, typed workflow variables.

Tools read `parse → answer → emit`: `emit` turns any `Answer` into the three kinds of tool
message in the same order, so each tool is three lines and no answer has its own emitter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from gpu_insight.schemas import Source
from gpu_insight.sources.fleet import MissingCollector

# The values a workflow variable may take (the output_schema types: string, number, integer,
# boolean).
Variable = str | int | float | bool


class Answer(Protocol):
    def as_json(self) -> dict[str, Any]:
        """The compact JSON message."""
        ...

    def text(self) -> str:
        """One line for agents: the numbers that matter, no repetition of the JSON."""
        ...

    def variables(self) -> Mapping[str, Variable]:
        """The workflow variables, exactly those declared in the tool's `output_schema`."""
        ...


class MessageFactory[MessageT](Protocol):
    """The three message constructors of a Dify tool (the SDK's `Tool` has them)."""

    def create_json_message(self, json: Mapping[str, Any]) -> MessageT: ...

    def create_text_message(self, text: str) -> MessageT: ...

    def create_variable_message(self, variable_name: str, variable_value: Any) -> MessageT: ...


def emit[MessageT](tool: MessageFactory[MessageT], answer: Answer) -> Iterator[MessageT]:
    yield tool.create_json_message(answer.as_json())
    yield tool.create_text_message(answer.text())
    for name, value in answer.variables().items():
        yield tool.create_variable_message(name, value)


def where(host: str, source: Source, prometheus_url: str | None = None) -> str:
    """How a line names the data's origin: replayed data is always said to be, and so is
    data read through Prometheus."""
    notes = [
        note
        for note, applies in (
            ("replayed data", source == "replay"),
            ("via Prometheus", prometheus_url),
        )
        if applies
    ]
    return f"{host} ({', '.join(notes)})" if notes else host


def mib(value: float) -> str:
    return f"{value:,.0f} MiB"


def missing_note(missing: tuple[MissingCollector, ...]) -> str:
    """What a line adds when some collectors did not answer: each one's own sentence."""
    return "".join(f" Missing: {m.reason}" for m in missing)
