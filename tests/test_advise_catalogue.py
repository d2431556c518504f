"""The rule catalogue: every rule id the rules can give is listed, with its trigger and change,
in the rule table's docstring and in the README's advice table, and there are at least 25."""

from __future__ import annotations

import re
from pathlib import Path

from gpu_insight.advise import rules

ROOT = Path(__file__).resolve().parents[1]
RULE_MODULES = sorted((ROOT / "gpu_insight" / "advise").glob("rules_*.py"))
ID_ASSIGNMENT = re.compile(r"\bid=([^,\n]+)")
QUOTED_ID = re.compile(r'"([a-z0-9]+(?:-[a-z0-9]+)+)"')
README_ROW = re.compile(r"^\| `([a-z0-9-]+)`(?: / `([a-z0-9-]+)`)? \| (.+?) \| (.+?) \|$")


def ids_in_the_rules() -> set[str]:
    found: set[str] = set()
    for module in RULE_MODULES:
        for expression in ID_ASSIGNMENT.findall(module.read_text()):
            found |= set(QUOTED_ID.findall(expression))
    return found


def readme_rows() -> dict[str, tuple[str, str]]:
    section = (ROOT / "README.md").read_text().split("#### `serving_advice`", 1)[1]
    section = section.split("\n#### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = README_ROW.match(line)
        if match and match.group(1) != "rule":
            first, second, trigger, change = match.groups()
            for rule_id in filter(None, (first, second)):
                rows[rule_id] = (trigger, change)
    return rows


def test_there_are_at_least_25_rules() -> None:
    assert len(ids_in_the_rules()) >= 25


def test_the_readme_table_lists_every_rule_with_a_trigger_and_a_change() -> None:
    rows = readme_rows()
    assert set(rows) == ids_in_the_rules()
    assert all(trigger.strip() and change.strip() for trigger, change in rows.values())


def test_the_rule_table_docstring_lists_every_rule() -> None:
    """Its lines read `- rule-id: trigger` or `- one / two: trigger`."""
    heads = re.findall(r"^- (.+?):", rules.__doc__ or "", re.MULTILINE)
    named = {rule_id.strip() for head in heads for rule_id in head.split("/")}
    assert named == ids_in_the_rules()
