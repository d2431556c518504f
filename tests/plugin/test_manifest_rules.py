"""The plugin daemon's and the Marketplace's rules that the SDK does not check at start-up.

(The SDK's own checks run in every protocol test: the plugin would not start otherwise.)
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("en_US", "zh_Hans", "ja_JP", "pt_BR")
DAEMON_METHODS = {"HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS"}
DAEMON_PLUGIN_TAGS = {
    "search",
    "image",
    "videos",
    "weather",
    "finance",
    "design",
    "travel",
    "social",
    "news",
    "medical",
    "productivity",
    "education",
    "business",
    "entertainment",
    "utilities",
    "agent",
    "rag",
    "other",
    "trigger",
}
PLUGIN_BASE_CLASSES = {"Tool", "Endpoint", "ToolProvider"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


def load(relative: str) -> Any:
    return yaml.safe_load((ROOT / relative).read_text())


MANIFEST = load("manifest.yaml")
PROVIDER = load(MANIFEST["plugins"]["tools"][0])
GROUP = load(MANIFEST["plugins"]["endpoints"][0])
TOOL_PATHS = PROVIDER["tools"]
ENDPOINT_PATHS = GROUP["endpoints"]


def test_author_is_lowercase_as_the_daemon_requires() -> None:
    assert re.fullmatch(r"[a-z0-9_-]{1,64}", MANIFEST["author"])
    assert "dify" not in MANIFEST["author"] and "langgenius" not in MANIFEST["author"]


def test_every_yaml_names_the_same_author() -> None:
    authors = {PROVIDER["identity"]["author"]} | {load(p)["identity"]["author"] for p in TOOL_PATHS}
    assert authors == {MANIFEST["author"]}


def test_marketplace_fields_are_present() -> None:
    assert MANIFEST["repo"].startswith("https://github.com/")
    assert EMAIL.match(MANIFEST["contact"])
    assert MANIFEST["meta"]["minimum_dify_version"]
    assert MANIFEST["meta"]["runner"]["version"] == "3.12"
    assert set(MANIFEST["tags"]) <= DAEMON_PLUGIN_TAGS


def test_privacy_policy_is_a_real_file_not_the_template() -> None:
    policy = (ROOT / MANIFEST["privacy"]).read_text()
    assert "Please fill in the privacy policy" not in policy
    for topic in ("What is read", "Where it goes", "What is stored", "Contact"):
        assert f"## {topic}" in policy


def test_endpoints_need_the_endpoint_permission() -> None:
    assert MANIFEST["resource"]["permission"]["endpoint"]["enabled"] is True


@pytest.mark.parametrize("key", ["icon", "icon_dark"])
def test_icons_exist_and_are_our_own(key: str) -> None:
    for owner in (MANIFEST, PROVIDER["identity"]):
        icon = ROOT / "_assets" / owner[key]
        svg = icon.read_text()
        assert svg.lstrip().startswith("<svg") and "GPU Insight" in svg
    assert MANIFEST["icon"] != MANIFEST["icon_dark"]


def test_every_referenced_yaml_path_is_short_and_exists() -> None:
    for path in [
        *MANIFEST["plugins"]["tools"],
        *MANIFEST["plugins"]["endpoints"],
        *TOOL_PATHS,
        *ENDPOINT_PATHS,
    ]:
        assert len(path) < 128 and (ROOT / path).is_file(), path


@pytest.mark.parametrize("path", ENDPOINT_PATHS)
def test_endpoint_methods_are_uppercase(path: str) -> None:
    assert load(path)["method"] in DAEMON_METHODS


def test_endpoint_group_settings_are_a_list_with_a_required_api_key() -> None:
    settings = GROUP["settings"]
    assert isinstance(settings, list)
    by_name = {s["name"]: s for s in settings}
    assert by_name["api_key"]["type"] == "secret-input" and by_name["api_key"]["required"]
    assert by_name["collector_token"]["type"] == "secret-input"


@pytest.mark.parametrize("path", TOOL_PATHS)
def test_every_tool_has_an_llm_description_and_an_output_schema(path: str) -> None:
    tool = load(path)
    assert tool["description"]["llm"].strip()
    assert tool["output_schema"]["type"] == "object" and tool["output_schema"]["properties"]
    for parameter in tool.get("parameters", []):
        if parameter["form"] == "llm":
            assert parameter.get("llm_description", "").strip(), parameter["name"]


def i18n_objects(node: Any, where: str = "") -> list[tuple[str, dict[str, str]]]:
    """Every label/description/help/placeholder mapping in a yaml tree."""
    found: list[tuple[str, dict[str, str]]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            is_text = key in {"label", "human", "human_description", "help", "placeholder"} or (
                key == "description" and isinstance(value, dict) and "en_US" in value
            )
            if is_text and isinstance(value, dict):
                found.append((here, value))
            else:
                found.extend(i18n_objects(value, here))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found.extend(i18n_objects(item, f"{where}[{i}]"))
    return found


@pytest.mark.parametrize(
    "path",
    [
        "manifest.yaml",
        MANIFEST["plugins"]["tools"][0],
        MANIFEST["plugins"]["endpoints"][0],
        "tools/gpu_status.yaml",
        "tools/gpu_processes.yaml",
    ],
)
def test_texts_are_in_the_four_languages(path: str) -> None:
    texts = i18n_objects(load(path))
    assert texts
    for where, text in texts:
        missing = [lang for lang in LANGUAGES if not str(text.get(lang, "")).strip()]
        assert not missing, f"{path}{where} lacks {missing}"
        assert all(len(str(v)) < 1024 for v in text.values())


def test_requirements_txt_matches_the_project_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(requirements) == sorted(project["dependencies"])
    assert any(r.startswith("dify_plugin>=0.9") for r in requirements)


def plugin_modules() -> list[Path]:
    paths = [PROVIDER["extra"]["python"]["source"]]
    paths += [load(p)["extra"]["python"]["source"] for p in [*TOOL_PATHS, *ENDPOINT_PATHS]]
    return [ROOT / p for p in paths]


@pytest.mark.parametrize("module", plugin_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_each_plugin_module_defines_exactly_one_dify_class(module: Path) -> None:
    tree = ast.parse(module.read_text())
    subclasses = [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Name) and b.id in PLUGIN_BASE_CLASSES for b in node.bases)
    ]
    assert len(subclasses) == 1, subclasses


def core_modules() -> list[Path]:
    collector = ROOT / "gpu_insight" / "collector"
    return sorted(p for p in (ROOT / "gpu_insight").rglob("*.py") if collector not in p.parents)


@pytest.mark.parametrize("module", core_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_core_library_imports_neither_dify_plugin_nor_pynvml(module: Path) -> None:
    tree = ast.parse(module.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {"dify_plugin", "pynvml"}
