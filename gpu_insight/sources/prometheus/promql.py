"""PromQL text built safely: label matchers, regex alternatives of literal values, selectors.

Everything a setting contributes to a query passes through here. A matcher from the settings is
checked against PromQL's grammar for one label matcher and kept as written; values the plugin
inserts (app names) are escaped for the regex and for the string literal, so no setting can
change the shape of a query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_STRING = r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`"""
_MATCHER = re.compile(rf"\s*({LABEL_NAME})\s*(=~|!~|!=|=)\s*({_STRING})\s*")
_REGEX_SPECIAL = frozenset(r"\.+*?()|[]{}^$")


@dataclass(frozen=True)
class Matcher:
    """One label matcher, e.g. `cluster="prod"`; `value` is the PromQL string literal."""

    label: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.label}{self.op}{self.value}"


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """`a="x", b=~"y.*"` (braces around the list allowed); ValueError names the first part
    that is not one label matcher."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    matchers: list[Matcher] = []
    at = 0
    while at < len(body):
        found = _MATCHER.match(body, at)
        if found is None:
            raise ValueError(body[at:].strip() or body)
        matchers.append(Matcher(found.group(1), found.group(2), found.group(3)))
        at = found.end()
        if at < len(body):
            if body[at] != ",":
                raise ValueError(body[at:].strip())
            at += 1
            if not body[at:].strip():  # a trailing comma is PromQL too
                break
    return tuple(matchers)


def string_literal(value: str) -> str:
    """`value` as a double-quoted PromQL string."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def regex_of_literals(values: Iterable[str]) -> str:
    """An RE2 alternation that matches exactly these values (fully anchored, as PromQL is)."""
    return "|".join("".join("\\" + c if c in _REGEX_SPECIAL else c for c in v) for v in values)


def one_of(label: str, values: Iterable[str]) -> Matcher:
    return Matcher(label, "=~", string_literal(regex_of_literals(sorted(values))))


def names(metric_names: Sequence[str]) -> Matcher:
    """Selects every series whose name is one of `metric_names`."""
    return one_of("__name__", metric_names)


def selector(*matcher_groups: Iterable[Matcher]) -> str:
    """`{m1,m2,…}` of every matcher given."""
    return "{" + ",".join(str(m) for group in matcher_groups for m in group) + "}"


def field_label(expression: str, field: str) -> str:
    """`expression` with the label FIELD_LABEL set to `field`, so several parts of one query
    (joined with `or`) stay apart and say which part they came from."""
    return f'label_replace({expression}, "{FIELD_LABEL}", "{field}", "", "")'


FIELD_LABEL = "gpu_insight_field"
