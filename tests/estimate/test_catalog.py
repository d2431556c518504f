"""The built-in catalog: enough models, counts matching their model cards, loose lookup."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from gpu_insight.errors import UnknownModelError
from gpu_insight.estimate.catalog import CatalogEntry, entries, lookup
from gpu_insight.estimate.weights import parameter_count


def test_the_catalog_holds_at_least_thirty_models_each_with_a_source() -> None:
    assert len(entries()) >= 30
    assert all(e.source.startswith("https://huggingface.co/") for e in entries())


def test_an_entry_read_from_a_copy_or_a_model_card_says_so() -> None:
    added = entries()[[e.id for e in entries()].index("openai/gpt-oss-20b") :]
    assert all(e.read_from for e in added)


def test_the_catalog_about_text_excepts_the_entries_read_from_elsewhere() -> None:
    text = resources.files("gpu_insight.estimate").joinpath("catalog.json").read_text()
    about = json.loads(text)["about"]
    assert any(e.read_from for e in entries())
    assert "except where `read_from`" in about
    assert about.count(". ") == 0 and about.endswith(".")  # one sentence


@pytest.mark.parametrize(
    ("entry_id", "kind"),
    [("Qwen/Qwen3-Embedding-8B", "embedding"), ("Qwen/Qwen3-Reranker-4B", "rerank")],
)
def test_an_entrys_kind_wins_over_its_causal_architecture(entry_id: str, kind: str) -> None:
    assert lookup(entry_id).config["architectures"] == ["Qwen3ForCausalLM"]
    assert lookup(entry_id).spec().kind == kind


@pytest.mark.parametrize("entry", entries(), ids=lambda e: e.id)
def test_parameter_count_matches_the_official_size_within_two_percent(entry: CatalogEntry) -> None:
    counted = parameter_count(entry.spec()).total / 1e9
    assert counted == pytest.approx(entry.official_params_b, rel=0.02)


@pytest.mark.parametrize(
    ("entry_id", "active_b"),
    [
        ("Qwen/Qwen3-30B-A3B", 3.3),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 12.9),
        ("deepseek-ai/DeepSeek-V3", 37.0),
        ("Qwen/Qwen3-235B-A22B", 22.0),
        ("Qwen/Qwen3-Coder-30B-A3B-Instruct", 3.3),
        ("moonshotai/Kimi-K2-Instruct", 32.0),
    ],
)
def test_moe_active_parameters_match_the_model_card(entry_id: str, active_b: float) -> None:
    assert parameter_count(lookup(entry_id).spec()).active / 1e9 == pytest.approx(
        active_b, rel=0.05
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("qwen2.5:7b", "Qwen/Qwen2.5-7B-Instruct"),
        ("LLAMA3-8B", "meta-llama/Meta-Llama-3-8B-Instruct"),
        ("Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct"),
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("bge-m3", "BAAI/bge-m3"),
        ("llama3.1:8b", "meta-llama/Llama-3.1-8B-Instruct"),
        ("gpt-oss:20b", "openai/gpt-oss-20b"),
        ("llama4:scout", "meta-llama/Llama-4-Scout-17B-16E-Instruct"),
        ("qwen3-next:80b", "Qwen/Qwen3-Next-80B-A3B-Instruct"),
        ("qwen2.5vl:7b", "Qwen/Qwen2.5-VL-7B-Instruct"),
        ("qwen3-embedding:8b", "Qwen/Qwen3-Embedding-8B"),
        ("Qwen/Qwen3-Embedding-8B", "Qwen/Qwen3-Embedding-8B"),
    ],
)
def test_names_match_loosely(name: str, expected: str) -> None:
    assert lookup(name).id == expected


def test_an_unknown_name_lists_the_three_closest_catalog_names() -> None:
    with pytest.raises(UnknownModelError) as error:
        lookup("qwen2.5-8b")
    message = str(error.value)
    assert "qwen2.5-8b" in message and "Closest:" in message
    assert message.split("Closest: ")[1].split(". Paste")[0].count(", ") == 2
