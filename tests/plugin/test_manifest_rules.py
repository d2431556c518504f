"""The plugin daemon's and the Marketplace's rules that the SDK does not check at start-up.

(The SDK's own checks run in every protocol test: the plugin would not start otherwise.)
Each rule is a function over plain data — a declaration, a package's members — that returns
what breaks it, one sentence each; the tests apply every rule to every plugin package the
repository builds (PACKAGE_ROOTS), and show once that each rule catches what it is for.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from scripts.package_plugin import package_contents, requirement_lines
from tests.support.plugin_declarations import SCHEMA_TYPES, PluginDeclarations

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOTS = [ROOT, ROOT / "trigger"]  # every plugin package the repository builds
LANGUAGES = ("en_US", "zh_Hans", "ja_JP", "pt_BR")
I18N_MAX_CHARS = 1023  # the daemon's I18nObject: under 1024
VERSION = re.compile(r"^\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?$")  # the daemon's manifest version
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
# The Marketplace toolkit's blocked package contents.
BLOCKED_DIRS = {".venv", "node_modules", "__pycache__", ".git"}
BLOCKED_NAMES = {".env", ".DS_Store", "id_rsa"}
BLOCKED_SUFFIXES = {".pyc", ".log", ".pem", ".key", ".so", ".dll", ".pyd"}
MACH_O_MAGIC = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
BINARY_MAGIC = {
    b"\x7fELF": "an ELF binary",
    b"MZ": "a PE binary",
    b"\xca\xfe\xba\xbe": "a Mach-O binary",  # universal (fat)
    **dict.fromkeys(MACH_O_MAGIC, "a Mach-O binary"),
}
UPPER_BOUND_OPERATORS = {"<", "<=", "==", "===", "~="}
PLUGIN_BASE_CLASSES = {"Tool", "Endpoint", "ToolProvider", "Trigger", "Event"}
# The daemon's ManifestValidate: a trigger, a model, an agent strategy or a datasource plugin
# declares nothing else.
EXCLUSIVE_KINDS = ("triggers", "models", "agent_strategies", "datasources")
TRIGGERS_SINCE = Version("1.10.0")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


class PluginPackage(PluginDeclarations):
    """One plugin package: its source root, the members the build puts into it, and the
    declarations as they ship."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.members: Mapping[str, bytes] = package_contents(root)
        super().__init__(self.members.__getitem__)


PACKAGES = [PluginPackage(root) for root in PACKAGE_ROOTS]
GPU_INSIGHT, TRIGGER = PACKAGES
each_package = pytest.mark.parametrize(
    "package", PACKAGES, ids=[p.root.relative_to(ROOT).as_posix() or "." for p in PACKAGES]
)


# -- the rules -----------------------------------------------------------------------------


def version_problems(manifest: Mapping[str, Any]) -> list[str]:
    versions = {"version": manifest.get("version"), "meta.version": manifest["meta"].get("version")}
    return [
        f"{key} {value!r} is not the daemon's N.N.N[-tag]"
        for key, value in versions.items()
        if not (isinstance(value, str) and VERSION.match(value))
    ]


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


def i18n_length_problems(declaration: Any) -> list[str]:
    problems = []
    for where, text in i18n_objects(declaration):
        if not str(text.get("en_US", "")).strip():
            problems.append(f"{where} has no en_US text")
        problems += [
            f"{where}.{lang} has {len(str(value))} characters, over {I18N_MAX_CHARS}"
            for lang, value in text.items()
            if len(str(value)) > I18N_MAX_CHARS
        ]
    return problems


def icon_problems(owner: Mapping[str, Any], members: Collection[str]) -> list[str]:
    """The daemon maps `icon` and `icon_dark` to files in _assets and refuses missing ones."""
    problems = []
    for key in ("icon", "icon_dark"):
        icon = owner.get(key)
        if not icon:
            problems.append(f"no {key}")
        elif f"_assets/{icon}" not in members:
            problems.append(f"{key} {icon!r} is not in the package's _assets")
    return problems


def select_default_problems(field: Mapping[str, Any]) -> list[str]:
    if field.get("type") != "select" or field.get("default") in (None, ""):
        return []
    values = {option["value"] for option in field.get("options", [])}
    default = field["default"]
    chosen = default if isinstance(default, list) else [default]
    return [
        f"default {value!r} is not among its options" for value in chosen if value not in values
    ]


def schema_problems(schema: Any, where: str) -> list[str]:
    """A property schema Dify's editor types: a known type, arrays with typed items."""
    if not isinstance(schema, dict) or schema.get("type") not in SCHEMA_TYPES:
        kind = schema.get("type") if isinstance(schema, dict) else schema
        return [f"{where} has type {kind!r}, which Dify shows as `any`"]
    if schema["type"] == "array":
        if "items" not in schema:
            return [f"{where} is an array without items"]
        return schema_problems(schema["items"], f"{where}[]")
    if schema["type"] == "object":
        properties = schema.get("properties", {}).items()
        return [p for name, sub in properties for p in schema_problems(sub, f"{where}.{name}")]
    return []


def output_schema_problems(tool: Mapping[str, Any]) -> list[str]:
    schema = tool.get("output_schema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return ["output_schema is not an object schema"]
    if not schema.get("properties"):
        return ["output_schema declares no variables"]
    return schema_problems(schema, "output_schema")


def source_problems(declarations: Mapping[str, Any], members: Collection[str]) -> list[str]:
    """Every declaration's Python source ships with it."""
    return [
        f"{path}: source {source!r} is not in the package"
        for path, declaration in declarations.items()
        if isinstance(declaration, dict)
        and (source := declaration.get("extra", {}).get("python", {}).get("source")) is not None
        and source not in members
    ]


def endpoint_route_problems(endpoints: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The SDK routes on path and method; a second endpoint with both would never be reached."""
    routes = Counter((e["method"], e["path"]) for e in endpoints.values())
    problems = [
        f"{path}: method {e['method']!r} is not one of {sorted(DAEMON_METHODS)}"
        for path, e in endpoints.items()
        if e["method"] not in DAEMON_METHODS
    ]
    return problems + [f"{m} {p} is declared {n} times" for (m, p), n in routes.items() if n > 1]


def blocked_member_problems(members: Mapping[str, bytes]) -> list[str]:
    problems = []
    for name, data in members.items():
        parts = name.split("/")
        suffix = Path(name).suffix
        binary = BINARY_MAGIC.get(data[:4]) or BINARY_MAGIC.get(data[:2])
        if blocked := BLOCKED_DIRS.intersection(parts[:-1]):
            problems.append(f"{name} is inside {sorted(blocked)[0]}/")
        elif parts[-1] in BLOCKED_NAMES or suffix in BLOCKED_SUFFIXES:
            problems.append(f"{name} is a file the Marketplace blocks")
        elif binary:
            problems.append(f"{name} is {binary}")
    return problems


def unconstrained(requirements: Iterable[str]) -> list[str]:
    """Requirements the Marketplace flags: a URL, or no upper bound on the version."""
    problems = []
    for line in requirements:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            problems.append(f"{line!r} is not a requirement")
            continue
        operators = {spec.operator for spec in requirement.specifier}
        if requirement.url:
            problems.append(f"{line!r} installs from a URL, not an index")
        elif not operators & UPPER_BOUND_OPERATORS:
            problems.append(f"{line!r} has no upper version bound")
    return problems


def pyproject_requirement_lists(pyproject: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every list of requirements a pyproject.toml holds, by where it is."""
    project = pyproject.get("project", {})
    lists = {"project.dependencies": list(project.get("dependencies", []))}
    for extra, items in project.get("optional-dependencies", {}).items():
        lists[f"project.optional-dependencies.{extra}"] = list(items)
    for group, items in pyproject.get("dependency-groups", {}).items():
        lists[f"dependency-groups.{group}"] = [i for i in items if isinstance(i, str)]
    return lists


def exclusivity_problems(manifest: Mapping[str, Any]) -> list[str]:
    declared = {kind for kind, paths in manifest.get("plugins", {}).items() if paths}
    return [
        f"plugins.{kind} cannot be declared beside {', '.join(sorted(declared - {kind}))}"
        for kind in EXCLUSIVE_KINDS
        if kind in declared and declared - {kind}
    ]


def trigger_version_problems(manifest: Mapping[str, Any]) -> list[str]:
    if not manifest.get("plugins", {}).get("triggers"):
        return []
    minimum = manifest["meta"].get("minimum_dify_version")
    if minimum is None or Version(str(minimum)) < TRIGGERS_SINCE:
        return [
            f"minimum_dify_version {minimum!r} is older than {TRIGGERS_SINCE}, "
            "the first with triggers"
        ]
    return []


def trigger_provider_problems(provider: Mapping[str, Any]) -> list[str]:
    """The daemon requires the icon; its tag enum and the SDK's are disjoint, so no tags."""
    identity = provider.get("identity", {})
    problems = [] if identity.get("icon") else ["identity.icon is not set"]
    if "tags" in identity:
        problems.append("identity.tags is set; leave it out (the daemon fills it in)")
    if not provider.get("extra", {}).get("python", {}).get("source"):
        problems.append("extra.python.source is not set")
    return problems


def event_problems(event: Mapping[str, Any]) -> list[str]:
    """An event's description is one I18n text, not a tool's {human, llm}."""
    description = event.get("description")
    problems = []
    if not isinstance(description, dict) or "en_US" not in description:
        problems.append("description is not an I18n object with en_US")
    if not event.get("extra", {}).get("python", {}).get("source"):
        problems.append("extra.python.source is not set")
    return problems


def core_import_problems(members: Mapping[str, bytes]) -> list[str]:
    """Every `gpu_insight` module a shipped Python file imports ships too."""
    problems = []
    for name, data in members.items():
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(data)):
            imported = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for module in imported:
                if module.split(".")[0] != "gpu_insight":
                    continue
                path = module.replace(".", "/")
                if f"{path}.py" not in members and f"{path}/__init__.py" not in members:
                    problems.append(f"{name} imports {module}, which the package does not hold")
    return problems


def dependency_problems(pyproject: Mapping[str, Any], requirements_txt: str) -> list[str]:
    lists = pyproject_requirement_lists(pyproject)
    lists["requirements.txt"] = requirement_lines(requirements_txt)
    return [
        f"{where}: {problem}" for where, items in lists.items() for problem in unconstrained(items)
    ]


# -- each rule, applied to every package ---------------------------------------------------


@each_package
def test_versions_match_the_daemon_pattern(package: PluginPackage) -> None:
    assert version_problems(package.manifest) == []


@each_package
def test_every_i18n_text_has_english_and_stays_under_1024_characters(
    package: PluginPackage,
) -> None:
    problems = [
        f"{path}: {problem}"
        for path, declaration in package.declarations.items()
        for problem in i18n_length_problems(declaration)
    ]
    assert problems == []


@each_package
def test_every_i18n_text_is_in_the_four_languages(package: PluginPackage) -> None:
    for path, declaration in package.declarations.items():
        for where, text in i18n_objects(declaration):
            missing = [lang for lang in LANGUAGES if not str(text.get(lang, "")).strip()]
            assert not missing, f"{path}{where} lacks {missing}"


@each_package
def test_manifest_and_provider_icons_ship_in_assets(package: PluginPackage) -> None:
    owners = {"manifest.yaml": package.manifest} | {
        path: provider["identity"]
        for path, provider in {**package.providers, **package.triggers}.items()
    }
    problems = [
        f"{path}: {problem}"
        for path, owner in owners.items()
        for problem in icon_problems(owner, package.members)
    ]
    assert problems == []


@each_package
def test_icons_are_our_own_and_differ_between_light_and_dark(package: PluginPackage) -> None:
    providers = [*package.providers.values(), *package.triggers.values()]
    owners = [package.manifest, *(p["identity"] for p in providers)]
    for owner in owners:
        for key in ("icon", "icon_dark"):
            svg = package.members[f"_assets/{owner[key]}"].decode()
            assert svg.lstrip().startswith("<svg") and "GPU Insight" in svg
    assert package.manifest["icon"] != package.manifest["icon_dark"]


@each_package
def test_select_defaults_are_among_their_options(package: PluginPackage) -> None:
    problems = [
        f"{where}: {problem}"
        for where, field in package.settings_fields()
        for problem in select_default_problems(field)
    ]
    assert problems == []


@each_package
def test_output_schemas_are_objects_of_types_the_workflow_editor_knows(
    package: PluginPackage,
) -> None:
    outputs = {**package.tools, **package.events}
    assert outputs
    problems = [
        f"{path}: {problem}"
        for path, declaration in outputs.items()
        for problem in output_schema_problems(declaration)
    ]
    assert problems == []


@each_package
def test_every_declared_source_file_ships(package: PluginPackage) -> None:
    assert source_problems(package.declarations, package.members) == []


@each_package
def test_endpoint_routes_are_unique_and_use_the_daemon_methods(package: PluginPackage) -> None:
    assert endpoint_route_problems(package.endpoints) == []


@each_package
def test_the_package_holds_no_file_of_a_blocked_kind(package: PluginPackage) -> None:
    assert blocked_member_problems(package.members) == []


@each_package
def test_every_shipped_dependency_is_constrained(package: PluginPackage) -> None:
    shipped = tomllib.loads(package.members["pyproject.toml"].decode())
    requirements = package.members["requirements.txt"].decode()
    assert dependency_problems(shipped, requirements) == []


def test_every_dependency_of_the_repository_is_constrained() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert dependency_problems(pyproject, (ROOT / "requirements.txt").read_text()) == []


@each_package
def test_every_referenced_yaml_path_is_short_and_ships(package: PluginPackage) -> None:
    for path in package.declarations:
        assert len(path) < 128 and path in package.members, path


@each_package
def test_author_is_lowercase_as_the_daemon_requires(package: PluginPackage) -> None:
    author = package.manifest["author"]
    assert re.fullmatch(r"[a-z0-9_-]{1,64}", author)
    assert "dify" not in author and "langgenius" not in author


@each_package
def test_every_yaml_names_the_same_author(package: PluginPackage) -> None:
    declarations = [package.providers, package.tools, package.triggers, package.events]
    identities = [d["identity"] for kind in declarations for d in kind.values()]
    assert {i["author"] for i in identities} == {package.manifest["author"]}


@each_package
def test_marketplace_fields_are_present(package: PluginPackage) -> None:
    manifest = package.manifest
    assert manifest["repo"].startswith("https://github.com/")
    assert EMAIL.match(manifest["contact"])
    assert manifest["meta"]["minimum_dify_version"]
    assert manifest["meta"]["runner"]["version"] == "3.12"
    assert set(manifest["tags"]) <= DAEMON_PLUGIN_TAGS


@each_package
def test_privacy_policy_is_a_real_file_not_the_template(package: PluginPackage) -> None:
    policy = package.members[package.manifest["privacy"]].decode()
    assert "please fill in the privacy policy" not in policy.lower()
    for topic in ("What is read", "Where it goes", "What is stored", "Contact"):
        assert f"## {topic}" in policy


@each_package
def test_a_trigger_model_agent_strategy_or_datasource_plugin_declares_nothing_else(
    package: PluginPackage,
) -> None:
    assert exclusivity_problems(package.manifest) == []


@each_package
def test_a_trigger_plugin_needs_dify_1_10(package: PluginPackage) -> None:
    assert trigger_version_problems(package.manifest) == []


@each_package
def test_trigger_providers_set_their_icon_and_source_and_leave_tags_out(
    package: PluginPackage,
) -> None:
    problems = [
        f"{path}: {problem}"
        for path, provider in package.triggers.items()
        for problem in trigger_provider_problems(provider)
    ]
    assert problems == []


@each_package
def test_events_have_an_i18n_description_and_a_source(package: PluginPackage) -> None:
    problems = [
        f"{path}: {problem}"
        for path, event in package.events.items()
        for problem in event_problems(event)
    ]
    assert problems == []


@each_package
def test_every_core_module_a_shipped_file_imports_ships_too(package: PluginPackage) -> None:
    assert core_import_problems(package.members) == []


def test_the_trigger_is_a_package_of_its_own() -> None:
    assert list(TRIGGER.manifest["plugins"]) == ["triggers"]
    assert TRIGGER.manifest["meta"]["minimum_dify_version"] == "1.10.0"
    assert {e["identity"]["name"] for e in TRIGGER.events.values()} == {
        "alert_firing",
        "alert_resolved",
        "alert_pending",
    }


@each_package
def test_endpoints_need_the_endpoint_permission(package: PluginPackage) -> None:
    if package.endpoints:
        assert package.manifest["resource"]["permission"]["endpoint"]["enabled"] is True


@each_package
def test_endpoint_group_settings_are_lists(package: PluginPackage) -> None:
    assert all(isinstance(group["settings"], list) for group in package.groups.values())


def test_the_endpoint_group_requires_an_api_key_and_takes_the_collector_token() -> None:
    [group] = GPU_INSIGHT.groups.values()
    by_name = {s["name"]: s for s in group["settings"]}
    assert by_name["api_key"]["type"] == "secret-input" and by_name["api_key"]["required"]
    assert by_name["collector_token"]["type"] == "secret-input"


@each_package
def test_every_llm_parameter_has_an_llm_description(package: PluginPackage) -> None:
    for path, tool in package.tools.items():
        assert tool["description"]["llm"].strip(), path
        for parameter in tool.get("parameters", []):
            if parameter["form"] == "llm":
                assert parameter.get("llm_description", "").strip(), parameter["name"]


def plugin_modules() -> list[Any]:
    return [
        pytest.param(package, declaration["extra"]["python"]["source"], id=path)
        for package in PACKAGES
        for path, declaration in package.declarations.items()
        if "extra" in declaration
    ]


@pytest.mark.parametrize(("package", "source"), plugin_modules())
def test_each_plugin_module_defines_exactly_one_dify_class(
    package: PluginPackage, source: str
) -> None:
    tree = ast.parse(package.members[source])

    def subclasses_of(bases: set[str]) -> list[str]:
        return [
            node.name
            for node in tree.body
            if isinstance(node, ast.ClassDef)
            and any(isinstance(b, ast.Name) and b.id in bases for b in node.bases)
        ]

    assert len(subclasses_of(PLUGIN_BASE_CLASSES)) == 1, subclasses_of(PLUGIN_BASE_CLASSES)
    assert len(subclasses_of({"TriggerSubscriptionConstructor"})) <= 1


# -- each rule catches what it is for ------------------------------------------------------


def test_the_version_rule_refuses_what_the_sdk_would_accept() -> None:
    manifest = {"version": "0.2.0rc1", "meta": {"version": "0.1"}}
    assert version_problems(manifest) == [
        "version '0.2.0rc1' is not the daemon's N.N.N[-tag]",
        "meta.version '0.1' is not the daemon's N.N.N[-tag]",
    ]
    assert version_problems({"version": "1.2.3-beta", "meta": {"version": "0.0.1"}}) == []


def test_the_i18n_rule_refuses_missing_english_and_long_texts() -> None:
    declaration = {"label": {"zh_Hans": "标签"}, "help": {"en_US": "x" * 1024}}
    assert i18n_length_problems(declaration) == [
        ".label has no en_US text",
        ".help.en_US has 1024 characters, over 1023",
    ]


def test_the_icon_rule_refuses_a_missing_dark_icon_and_an_icon_not_shipped() -> None:
    assert icon_problems({"icon": "a.svg"}, {"_assets/a.svg"}) == ["no icon_dark"]
    assert icon_problems({"icon": "a.svg", "icon_dark": "b.svg"}, {"_assets/a.svg"}) == [
        "icon_dark 'b.svg' is not in the package's _assets"
    ]


def test_the_select_rule_refuses_a_default_outside_the_options() -> None:
    options = [{"value": "a", "label": {"en_US": "A"}}, {"value": "b", "label": {"en_US": "B"}}]
    assert select_default_problems({"type": "select", "default": "c", "options": options}) == [
        "default 'c' is not among its options"
    ]
    many = {"type": "select", "multiple": True, "default": ["a", "z"], "options": options}
    assert select_default_problems(many) == ["default 'z' is not among its options"]
    assert select_default_problems({"type": "select", "default": "b", "options": options}) == []


def test_the_output_schema_rule_refuses_untyped_and_itemless_variables() -> None:
    assert output_schema_problems({"output_schema": {"type": "array"}}) == [
        "output_schema is not an object schema"
    ]
    tool = {
        "output_schema": {
            "type": "object",
            "properties": {
                "when": {"type": "datetime"},
                "rows": {"type": "array"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
        }
    }
    assert output_schema_problems(tool) == [
        "output_schema.when has type 'datetime', which Dify shows as `any`",
        "output_schema.rows is an array without items",
    ]


def test_the_source_rule_refuses_a_declaration_whose_module_does_not_ship() -> None:
    declarations = {"tools/a.yaml": {"extra": {"python": {"source": "tools/a.py"}}}}
    assert source_problems(declarations, {"tools/a.yaml"}) == [
        "tools/a.yaml: source 'tools/a.py' is not in the package"
    ]


def test_the_route_rule_refuses_a_duplicate_route_and_a_lowercase_method() -> None:
    endpoints = {
        "endpoints/a.yaml": {"path": "/a", "method": "GET"},
        "endpoints/b.yaml": {"path": "/a", "method": "GET"},
        "endpoints/c.yaml": {"path": "/a", "method": "POST"},
        "endpoints/d.yaml": {"path": "/d", "method": "get"},
    }
    assert endpoint_route_problems(endpoints) == [
        "endpoints/d.yaml: method 'get' is not one of "
        "['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']",
        "GET /a is declared 2 times",
    ]


def test_the_contents_rule_refuses_caches_secrets_and_binaries() -> None:
    members = {
        "gpu_insight/__pycache__/a.cpython-312.pyc": b"",
        ".env": b"KEY=1",
        "keys/server.pem": b"",
        "lib/fast.so": b"",
        "tools/helper": b"\x7fELF\x02\x01",
        "tools/helper.exe": b"MZ\x90\x00",
        "tools/a.py": b"print(1)\n",
    }
    assert blocked_member_problems(members) == [
        "gpu_insight/__pycache__/a.cpython-312.pyc is inside __pycache__/",
        ".env is a file the Marketplace blocks",
        "keys/server.pem is a file the Marketplace blocks",
        "lib/fast.so is a file the Marketplace blocks",
        "tools/helper is an ELF binary",
        "tools/helper.exe is a PE binary",
    ]


def test_the_dependency_rule_refuses_open_ranges_and_urls_in_every_list() -> None:
    pyproject = {
        "project": {
            "dependencies": ["requests>=2.31,<3"],
            "optional-dependencies": {"dev": ["pytest>=8"]},
        },
        "dependency-groups": {"lint": ["ruff"]},
    }
    requirements = "# pinned\ndify_plugin~=0.10\npkg @ https://example.org/pkg.whl\n"
    assert dependency_problems(pyproject, requirements) == [
        "project.optional-dependencies.dev: 'pytest>=8' has no upper version bound",
        "dependency-groups.lint: 'ruff' has no upper version bound",
        "requirements.txt: 'pkg @ https://example.org/pkg.whl' installs from a URL, not an index",
    ]


def test_the_exclusivity_rule_refuses_a_trigger_beside_tools() -> None:
    manifest = {"plugins": {"tools": ["provider/a.yaml"], "triggers": ["provider/t.yaml"]}}
    assert exclusivity_problems(manifest) == ["plugins.triggers cannot be declared beside tools"]
    assert exclusivity_problems({"plugins": {"tools": ["a"], "endpoints": ["b"]}}) == []


def test_the_trigger_version_rule_refuses_a_dify_without_triggers() -> None:
    def manifest(minimum: str) -> dict[str, Any]:
        return {"plugins": {"triggers": ["t.yaml"]}, "meta": {"minimum_dify_version": minimum}}

    assert trigger_version_problems(manifest("1.9.2")) == [
        "minimum_dify_version '1.9.2' is older than 1.10.0, the first with triggers"
    ]
    assert trigger_version_problems(manifest("1.10.1")) == []


def test_the_trigger_provider_rule_refuses_tags_and_a_missing_icon_or_source() -> None:
    provider = {"identity": {"name": "t", "tags": ["webhooks"]}}
    assert trigger_provider_problems(provider) == [
        "identity.icon is not set",
        "identity.tags is set; leave it out (the daemon fills it in)",
        "extra.python.source is not set",
    ]


def test_the_event_rule_refuses_a_tool_style_description() -> None:
    event = {
        "description": {"human": {"en_US": "x"}, "llm": "x"},
        "extra": {"python": {"source": "e.py"}},
    }
    assert event_problems(event) == ["description is not an I18n object with en_US"]


def test_the_import_rule_refuses_a_core_module_left_out_of_the_package() -> None:
    members = {
        "tools/a.py": b"from gpu_insight.answers.status import x\nimport gpu_insight.errors\n",
        "gpu_insight/__init__.py": b"",
        "gpu_insight/errors.py": b"",
    }
    assert core_import_problems(members) == [
        "tools/a.py imports gpu_insight.answers.status, which the package does not hold"
    ]
