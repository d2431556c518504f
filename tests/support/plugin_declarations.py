"""A plugin's declarations as the daemon and the SDK read them: the manifest, its tool providers
and their tools, its endpoint groups and their endpoints, its trigger providers and their
events; from a folder or a package's members.

Also what a tool's or an event's `output_schema` asks of the variables it emits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

# The JSON-Schema types Dify's workflow editor gives a tool's output variables (anything else
# it shows as `any`), and the Python values that carry each through the SDK's JSON.
SCHEMA_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


class PluginDeclarations:
    """The YAML files of one plugin, each loaded once, by path relative to the plugin root."""

    def __init__(self, read: Callable[[str], bytes]) -> None:
        self._read = read

    @classmethod
    def from_folder(cls, root: Path) -> PluginDeclarations:
        return cls(lambda relative: (root / relative).read_bytes())

    def load(self, relative: str) -> Any:
        return yaml.safe_load(self._read(relative))

    def load_all(self, paths: Iterable[str]) -> dict[str, Any]:
        return {path: self.load(path) for path in paths}

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return dict(self.load("manifest.yaml"))

    @cached_property
    def providers(self) -> dict[str, Any]:
        return self.load_all(self.manifest["plugins"].get("tools", []))

    @cached_property
    def tools(self) -> dict[str, Any]:
        return self.load_all(p for provider in self.providers.values() for p in provider["tools"])

    @cached_property
    def groups(self) -> dict[str, Any]:
        return self.load_all(self.manifest["plugins"].get("endpoints", []))

    @cached_property
    def endpoints(self) -> dict[str, Any]:
        return self.load_all(p for group in self.groups.values() for p in group["endpoints"])

    @cached_property
    def triggers(self) -> dict[str, Any]:
        return self.load_all(self.manifest["plugins"].get("triggers", []))

    @cached_property
    def events(self) -> dict[str, Any]:
        return self.load_all(p for trigger in self.triggers.values() for p in trigger["events"])

    @cached_property
    def declarations(self) -> dict[str, Any]:
        """Every YAML the daemon reads, by path."""
        return {
            "manifest.yaml": self.manifest,
            **self.providers,
            **self.tools,
            **self.groups,
            **self.endpoints,
            **self.triggers,
            **self.events,
        }

    def settings_fields(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(where, field) for every form field: tool parameters, provider credentials and
        endpoint group settings."""
        for path, tool in self.tools.items():
            for field in tool.get("parameters", []):
                yield f"{path} parameter {field['name']}", field
        for path, provider in self.providers.items():
            for name, field in provider.get("credentials_for_provider", {}).items():
                yield f"{path} credential {name}", field
        for path, group in self.groups.items():
            for field in group.get("settings", []):
                yield f"{path} setting {field['name']}", field
        for path, trigger in self.triggers.items():
            constructor = trigger.get("subscription_constructor") or {}
            for kind, fields in (
                ("subscription field", trigger.get("subscription_schema", [])),
                ("credential", constructor.get("credentials_schema", [])),
                ("subscription parameter", constructor.get("parameters", [])),
            ):
                for field in fields:
                    yield f"{path} {kind} {field['name']}", field
        for path, event in self.events.items():
            for field in event.get("parameters", []):
                yield f"{path} parameter {field['name']}", field

    def tool(self, provider: str, name: str) -> dict[str, Any]:
        """The declaration of one tool, found by its provider's and its own identity name."""
        for declaration in self.providers.values():
            if declaration["identity"]["name"] != provider:
                continue
            for path in declaration["tools"]:
                if self.tools[path]["identity"]["name"] == name:
                    return dict(self.tools[path])
        raise KeyError(f"provider {provider!r} declares no tool {name!r}")

    def output_variables(self, provider: str, tool: str) -> dict[str, str]:
        """A tool's declared output variables: name → JSON-Schema type."""
        return schema_types(self.tool(provider, tool)["output_schema"])

    def event(self, provider: str, name: str) -> dict[str, Any]:
        """The declaration of one trigger event, found by its provider's and its own name."""
        for declaration in self.triggers.values():
            if declaration["identity"]["name"] != provider:
                continue
            for path in declaration["events"]:
                if self.events[path]["identity"]["name"] == name:
                    return dict(self.events[path])
        raise KeyError(f"trigger provider {provider!r} declares no event {name!r}")

    def event_variables(self, provider: str, event: str) -> dict[str, str]:
        """An event's declared output variables: name → JSON-Schema type."""
        return schema_types(self.event(provider, event)["output_schema"])


def schema_types(output_schema: Mapping[str, Any]) -> dict[str, str]:
    return {name: schema["type"] for name, schema in output_schema["properties"].items()}


def is_of_schema_type(value: Any, kind: str) -> bool:
    """`kind` as JSON Schema means it: a bool is an int to Python, not a number or an integer."""
    types = SCHEMA_TYPES.get(kind)
    return (
        types is not None
        and isinstance(value, types)
        and (isinstance(value, bool) == (kind == "boolean"))
    )


def variable_problems(
    variables: Mapping[str, Any],
    declared: Mapping[str, str],
    complete: bool,
    nullable: bool = False,
) -> list[str]:
    """What breaks the output_schema among emitted variables: an undeclared name, a value of
    another JSON type (null too, unless `nullable`: an event's unknown numbers), and, for a
    `complete` answer, a declared variable not emitted."""
    problems = []
    for name, value in variables.items():
        kind = declared.get(name)
        if kind is None:
            problems.append(f"{name} is not declared in the output_schema")
        elif not (is_of_schema_type(value, kind) or (nullable and value is None)):
            problems.append(f"{name} = {value!r} is not of the declared type {kind}")
    if complete:
        problems += [
            f"{name} is declared but not emitted" for name in declared if name not in variables
        ]
    return problems
