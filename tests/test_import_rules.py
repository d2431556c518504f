"""Which package may import which: the layering that keeps the core pure and the plugin small.

The plugin package ships `gpu_insight/` without `collector/`, so nothing it runs may import the
collector; `estimate/` and `advise/` are pure (no transport, no answers); `sources/` knows
transport, not questions; `triggers/` (which the trigger package ships) needs nothing of the
tools' side; only one module touches NVML.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gpu_insight"

# What pure code (the estimator, the advice rules, the engine registry) never imports.
TRANSPORT = frozenset(
    {
        "gpu_insight.answers",
        "gpu_insight.sources",
        "gpu_insight.gateway",
        "gpu_insight.collector",
        "requests",
        "werkzeug",
    }
)
# module path prefix (relative to the repository, "/"-separated) → imports it must not make
FORBIDDEN: dict[str, frozenset[str]] = {
    "gpu_insight/": frozenset({"dify_plugin"}),
    "gpu_insight/engines/": TRANSPORT | {"gpu_insight.estimate", "gpu_insight.advise"},
    "gpu_insight/estimate/": TRANSPORT | {"gpu_insight.advise"},
    "gpu_insight/advise/": TRANSPORT,
    "gpu_insight/sources/": frozenset(
        {
            "gpu_insight.answers",
            "gpu_insight.estimate",
            "gpu_insight.advise",
            "gpu_insight.gateway",
            "gpu_insight.collector",
            "werkzeug",
        }
    ),
    "gpu_insight/answers/": frozenset({"gpu_insight.gateway", "gpu_insight.collector", "werkzeug"}),
    "gpu_insight/triggers/": frozenset(
        {
            "gpu_insight.answers",
            "gpu_insight.estimate",
            "gpu_insight.advise",
            "gpu_insight.web",
            "gpu_insight.gateway",
            "werkzeug",
        }
    ),
    "gpu_insight/gateway.py": frozenset({"gpu_insight.collector"}),
    "gpu_insight/web/": frozenset({"gpu_insight.collector"}),
    "gpu_insight/errors.py": frozenset({"gpu_insight"}),
    "gpu_insight/schemas.py": frozenset({"gpu_insight.estimate", "gpu_insight.collector"}),
}
NVML_MODULE = "gpu_insight/collector/backends/nvml.py"


def imports_of(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return names


def breaks(imported: str, forbidden: str) -> bool:
    return imported == forbidden or imported.startswith(forbidden + ".")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_each_module_imports_only_what_its_layer_allows(module: Path) -> None:
    name = module.relative_to(ROOT).as_posix()
    forbidden = set().union(*(f for prefix, f in FORBIDDEN.items() if name.startswith(prefix)))
    if not name.startswith("gpu_insight/collector/"):
        forbidden |= {"gpu_insight.collector", "pynvml"}  # the plugin package ships neither
    elif name != NVML_MODULE:
        forbidden.add("pynvml")
    wrong = sorted(i for i in imports_of(module) for f in forbidden if breaks(i, f))
    assert not wrong, f"{name} imports {wrong}"


def test_the_rules_name_only_places_that_exist() -> None:
    for prefix in FORBIDDEN:
        assert (ROOT / prefix).exists(), prefix
    assert (ROOT / NVML_MODULE).exists()
