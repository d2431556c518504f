"""Collector configuration files: every mistake is reported with the key that holds it."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from gpu_insight.collector.config import (
    CollectorConfig,
    ConfigError,
    build_config,
    load_config_file,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "collector.example.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "collector.yaml"
    path.write_text(text)
    return path


def test_shipped_example_is_valid_and_holds_the_defaults() -> None:
    assert build_config(load_config_file(EXAMPLE), {}) == CollectorConfig()


def test_invalid_yaml_is_reported_as_such(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config_file(write(tmp_path, "sampling: [unclosed\n"))


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config_file(write(tmp_path, "- port: 1\n"))


def test_empty_file_means_all_defaults(tmp_path: Path) -> None:
    assert build_config(load_config_file(write(tmp_path, "")), {}).port == 9470


def test_out_of_range_value_names_the_key_and_the_bound(tmp_path: Path) -> None:
    data = load_config_file(write(tmp_path, "sampling:\n  fast_interval_s: 0\n"))
    with pytest.raises(ConfigError, match=r"sampling\.fast_interval_s: .*greater than 0"):
        build_config(data, {})


def test_misspelt_key_is_an_error_not_ignored(tmp_path: Path) -> None:
    data = load_config_file(write(tmp_path, "alerts:\n  stale_after: 10\n"))
    with pytest.raises(ConfigError, match=r"alerts\.stale_after"):
        build_config(data, {})


def test_token_flag_fills_auth_token_beside_file_project_tokens(tmp_path: Path) -> None:
    text = "auth:\n  project_tokens:\n    - token: project-token-1\n      apps: [support-bot]\n"
    config = build_config(load_config_file(write(tmp_path, text)), {"token": "admin-token"})
    assert config.auth.token == "admin-token"
    assert config.auth.project_tokens[0].apps == ["support-bot"]


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        keys.append(prefix + name)
        # sections, and the models inside lists and dicts (rules, targets, tokens)
        for inner in (info.annotation, *get_args(info.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                keys.extend(_keys(inner, f"{prefix}{name}."))
    return keys


def test_shipped_example_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    missing = [key for key in _keys(CollectorConfig) if f"{key.rsplit('.', 1)[-1]}:" not in text]
    assert missing == []
