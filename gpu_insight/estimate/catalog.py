"""The built-in catalog: popular open models with their config.json fields.

`catalog.json` keeps each model's architecture fields as published in its config.json (source
URL per entry, and `read_from` where the values were read from a copy or the model card) and
the parameter count from its model card. An entry's `kind` wins over the config's (embedding
and rerank models built on a causal decoder say CausalLM there). Lookup is loose: case, the
org prefix, `-Instruct`/`-chat`/`-it` suffixes, Ollama tags (`qwen2.5:7b`) and listed aliases.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from gpu_insight.errors import UnknownModelError
from gpu_insight.estimate.spec import ModelSpec, from_hf_config

_SUFFIXES = ("-instruct", "-chat", "-it", "-hf")


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    aliases: tuple[str, ...]
    kind: str
    official_params_b: float
    official_active_params_b: float | None
    source: str
    config: dict[str, Any]
    note: str | None = None
    read_from: str | None = None

    def spec(self) -> ModelSpec:
        spec = from_hf_config(self.config, name=self.id)
        return spec if spec.kind == self.kind else spec.model_copy(update={"kind": self.kind})


@cache
def entries() -> tuple[CatalogEntry, ...]:
    text = resources.files("gpu_insight.estimate").joinpath("catalog.json").read_text()
    return tuple(
        CatalogEntry(
            id=e["id"],
            aliases=tuple(e["aliases"]),
            kind=e["kind"],
            official_params_b=e["official_params_b"],
            official_active_params_b=e.get("official_active_params_b"),
            source=e["source"],
            config=e["config"],
            note=e.get("note"),
            read_from=e.get("read_from"),
        )
        for e in json.loads(text)["models"]
    )


def normalize(name: str) -> str:
    """Compare names without case, org prefix, chat suffixes or punctuation."""
    key = name.strip().lower().rsplit("/", 1)[-1].replace(":", "-").replace("_", "-")
    for suffix in _SUFFIXES:
        key = key.removesuffix(suffix)
    return re.sub(r"[^a-z0-9.]", "", key)


@cache
def _index() -> dict[str, CatalogEntry]:
    index: dict[str, CatalogEntry] = {}
    for entry in entries():
        for name in (entry.id, *entry.aliases):
            index.setdefault(normalize(name), entry)
    return index


def lookup(name: str) -> CatalogEntry:
    """The entry for a catalog name, HF id or alias; `UnknownModelError` with suggestions."""
    found = _index().get(normalize(name))
    if found is not None:
        return found
    raise UnknownModelError(
        f"model: '{name}' is not in the catalog ({len(entries())} models). Closest: "
        f"{', '.join(closest(name))}. Paste the model's config.json into model_config to "
        "estimate any other model.",
        "model",
    )


def closest(name: str, count: int = 3) -> list[str]:
    """The catalog ids nearest to a name."""
    by_key = {normalize(e.id): e.id for e in entries()}
    close = difflib.get_close_matches(normalize(name), list(by_key), n=count, cutoff=0.0)
    return [by_key[c] for c in close]
