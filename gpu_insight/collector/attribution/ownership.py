"""App and team of a process: container labels first, then the collector's config rules.

Labels: the first present key of `app_label_keys` (default `gpu-insight.app`) and of
`team_label_keys` (default `gpu-insight.team`). Rules: regular expressions (`re.search`) on the
container name, the model and the command line; a rule matches when every pattern it gives
matches (a rule with no pattern matches every process: a catch-all default). The first matching
rule that sets a field fills it when no label did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpu_insight.collector.config import AttributionConfig, AttributionRule, ConfigError


@dataclass(frozen=True)
class Owner:
    app: str | None
    team: str | None


@dataclass(frozen=True)
class _CompiledRule:
    container: re.Pattern[str] | None
    model: re.Pattern[str] | None
    cmdline: re.Pattern[str] | None
    app: str | None
    team: str | None

    def matches(self, container_name: str | None, model: str | None, cmdline: str) -> bool:
        checks = ((self.container, container_name), (self.model, model), (self.cmdline, cmdline))
        return all(
            pattern is None or (value is not None and pattern.search(value) is not None)
            for pattern, value in checks
        )


class OwnershipResolver:
    def __init__(self, config: AttributionConfig) -> None:
        self._app_keys = list(config.app_label_keys)
        self._team_keys = list(config.team_label_keys)
        self._rules = [_compile(index, rule) for index, rule in enumerate(config.rules)]

    @property
    def app_label_key(self) -> str | None:
        return self._app_keys[0] if self._app_keys else None

    def resolve(
        self,
        labels: dict[str, str],
        container_name: str | None,
        model: str | None,
        cmdline: str,
    ) -> Owner:
        app = _first_label(labels, self._app_keys)
        team = _first_label(labels, self._team_keys)
        for rule in self._rules:
            if app is not None and team is not None:
                break
            if rule.matches(container_name, model, cmdline):
                app = app if app is not None else rule.app
                team = team if team is not None else rule.team
        return Owner(app, team)


def _first_label(labels: dict[str, str], keys: list[str]) -> str | None:
    return next((labels[key] for key in keys if labels.get(key)), None)


def _compile(index: int, rule: AttributionRule) -> _CompiledRule:
    def pattern(field: str, text: str | None) -> re.Pattern[str] | None:
        if text is None:
            return None
        try:
            return re.compile(text)
        except re.error as exc:
            raise ConfigError(
                f"attribution.rules[{index}].{field} is not a valid regular expression: {exc}"
            ) from exc

    return _CompiledRule(
        container=pattern("match_container", rule.match_container),
        model=pattern("match_model", rule.match_model),
        cmdline=pattern("match_cmdline", rule.match_cmdline),
        app=rule.app,
        team=rule.team,
    )
