"""A pasted config.json: every number is bounded by what real models have, a number out of its
range or not a number is refused naming the field and the range, `architectures` must be a list
of class names, and the spec's cost does not grow with the layer count."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_insight.errors import InputError
from gpu_insight.estimate import VramRequest, estimate
from gpu_insight.estimate.spec import from_hf_config

LLAMA_8B: dict[str, Any] = {
    "model_type": "llama",
    "num_hidden_layers": 32,
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 14336,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
}
DEEPSEEK_MLA: dict[str, Any] = {
    **LLAMA_8B,
    "kv_lora_rank": 512,
    "qk_rope_head_dim": 64,
    "n_routed_experts": 256,
    "moe_intermediate_size": 2048,
    "num_experts_per_tok": 8,
}


@pytest.mark.parametrize(
    ("config", "field", "value", "accepted"),
    [
        (LLAMA_8B, "num_hidden_layers", 10**8, "1 to 1,000"),
        (LLAMA_8B, "num_hidden_layers", 1e7, "1 to 1,000"),
        (LLAMA_8B, "hidden_size", 1_000_000, "1 to 65,536"),
        (LLAMA_8B, "vocab_size", 10**9, "1 to 10,000,000"),
        (LLAMA_8B, "max_position_embeddings", 10**400, "1 to 16,777,216"),
        (LLAMA_8B, "intermediate_size", 10**12, "1 to 262,144"),
        (LLAMA_8B, "num_attention_heads", 10**6, "1 to 1,024"),
        (DEEPSEEK_MLA, "n_routed_experts", 10**5, "0 to 1,024"),
        (DEEPSEEK_MLA, "num_experts_per_tok", 5000, "0 to 1,024"),
        (DEEPSEEK_MLA, "moe_intermediate_size", 10**9, "0 to 262,144"),
        (DEEPSEEK_MLA, "kv_lora_rank", 10**7, "0 to 65,536"),
        (DEEPSEEK_MLA, "qk_rope_head_dim", -1, "0 to 65,536"),
    ],
)
def test_a_config_number_beyond_real_models_is_refused_with_its_range(
    config: dict[str, Any], field: str, value: Any, accepted: str
) -> None:
    with pytest.raises(InputError, match=f"'{field}' must be a whole number from {accepted}, got"):
        from_hf_config({**config, field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_hidden_layers", float("nan")),
        ("hidden_size", float("inf")),
        ("kv_lora_rank", "512"),
        ("sliding_window", float("inf")),
        ("num_experts_per_tok", [8]),
        ("first_k_dense_replace", True),
    ],
)
def test_a_config_number_that_is_not_a_whole_number_is_refused_naming_it(
    field: str, value: Any
) -> None:
    with pytest.raises(InputError, match=f"'{field}' must be a whole number"):
        from_hf_config({**DEEPSEEK_MLA, field: value})


@pytest.mark.parametrize(
    "architectures",
    [5, "LlamaForCausalLM", ["LlamaForCausalLM", 5], {"LlamaForCausalLM": True}],
    ids=["number", "text", "list-holding-a-number", "object"],
)
def test_architectures_that_are_not_a_list_of_names_are_refused_naming_it(
    architectures: Any,
) -> None:
    with pytest.raises(InputError) as refused:
        from_hf_config({**LLAMA_8B, "architectures": architectures})
    assert str(refused.value).startswith(
        "model_config: 'architectures' must be a list of class names"
    )
    assert refused.value.parameter == "architectures"


def test_the_refusal_reaches_vram_check_as_a_parameter_error_quoting_a_short_value() -> None:
    request = VramRequest(model_config_json={**LLAMA_8B, "num_hidden_layers": 10**5000})
    with pytest.raises(InputError, match=r"'num_hidden_layers' .* 1 to 1,000") as caught:
        estimate(request)
    assert len(str(caught.value)) < 200


def test_a_spec_holds_nothing_per_layer() -> None:
    sliding = {**LLAMA_8B, "sliding_window": 4096, "sliding_window_pattern": 6}
    spec = from_hf_config({**sliding, "num_hidden_layers": 1000})
    assert not [k for k, v in spec.model_dump().items() if isinstance(v, list | tuple)]
    assert (spec.sliding_layers, spec.full_layers) == (834, 166)


@pytest.mark.parametrize(
    ("extra", "layers", "sliding"),
    [
        ({"sliding_window": 1024, "sliding_window_pattern": 6}, 62, 52),
        ({"model_type": "gemma2", "sliding_window": 4096}, 42, 21),
        ({"model_type": "gemma2", "sliding_window": 4096}, 41, 21),
        ({"sliding_window": 4096}, 32, 32),
        ({"sliding_window": 4096, "use_sliding_window": False}, 32, 0),
        ({"layer_types": ["sliding_attention", "full_attention"] * 3}, 6, 3),
    ],
)
def test_sliding_layers_are_counted_by_their_pattern(
    extra: dict[str, Any], layers: int, sliding: int
) -> None:
    spec = from_hf_config({**LLAMA_8B, **extra, "num_hidden_layers": layers})
    assert (spec.sliding_layers, spec.full_layers) == (sliding, layers - sliding)
