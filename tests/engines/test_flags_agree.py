"""vram_check and serving_advice print each engine's flags from the one registry: for every
(engine, setting) the registry has a flag for, each tool that can express the setting prints
that flag, and every parallel size a placement uses is on its command line."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import pytest

from gpu_insight.advise import Situation, advise
from gpu_insight.advise.sizing import model_fit
from gpu_insight.engines import ENGINES, REGISTRY, SETTINGS, ServingEngine, Setting, engine
from gpu_insight.errors import InputError
from gpu_insight.estimate import VramRequest, check_fit
from gpu_insight.schemas import Gpu, KnownEngine, ModelEvent
from tests.advise_builders import engine as engine_metrics
from tests.advise_builders import fit_8b, fit_72b, h100, latency, ollama, ollama_models, situation

MODEL = "qwen2.5:7b"  # 28 heads, 4 KV heads: tensor parallel 2 and pipeline parallel 2 both fit
FOUR_H100 = [h100(i) for i in range(4)]


def _l4() -> Gpu:
    return h100(
        name="NVIDIA L4",
        compute_capability="8.9",
        memory_total_mib=23034.0,
        memory_used_mib=534.0,
        memory_free_mib=22500.0,
    )


def _kv_type(served: ServingEngine) -> str:
    return next(iter(served.kv_cache_dtypes), "fp8")


# What makes vram_check use each setting it can express (request fields).
VRAM_REQUESTS: dict[Setting, Any] = {
    "memory_fraction": lambda served: {"gpu_memory_utilization": 0.5},
    "max_context": lambda served: {"context_length": 4096},
    "max_sequences": lambda served: {"concurrency": 4},
    "tensor_parallel": lambda served: {"tensor_parallel": 2},
    "pipeline_parallel": lambda served: {"pipeline_parallel": 2},
    "quantization": lambda served: {"quantization": "fp8"},
    "kv_cache_dtype": lambda served: {"kv_cache_dtype": _kv_type(served)},
    "enforce_eager": lambda served: {"enforce_eager": True},
    "flash_attention_off": lambda served: {"flash_attention": False},
}


# 16-bit weights that do not fit one H100 and FP8 ones that do
FP8_FITS = replace(fit_72b(), weights_mib={"bf16": 100000.0, "fp8": 50000.0, "int4": 30000.0})


def _planned(served: ServingEngine, gpus: list[Gpu], **fields: Any) -> Situation:
    return situation(gpus, planned=True, engine=served.name, **fields)


def _running(served: ServingEngine, **metrics: Any) -> Situation:
    gpu = h100(utilization_percent=10.0, memory_used_mib=70000.0, memory_free_mib=11559.0)
    return situation([gpu], engines=[engine_metrics(gpu, served.name, **metrics)])


LONG_PROMPTS = {"prompt_tokens_per_s": 2500.0, "requests_per_s": 1.0}


def _moe(served: ServingEngine, gpu_count: int) -> Situation:
    gpus = [h100(i, nvlink_active=True) for i in range(gpu_count)]
    fit = model_fit("Qwen/Qwen3-235B-A22B")
    return _planned(served, gpus, fit=fit, model=fit.model)


def _churning(served: ServingEngine) -> Situation:
    _, llama = ollama_models()
    happened: tuple[tuple[float, Literal["load", "unload"]], ...] = (
        (0.0, "load"),
        (420.0, "unload"),
        (900.0, "load"),
    )
    events = [ModelEvent(t=t, model=llama.name, event=kind) for t, kind in happened]
    gpu = h100()
    model = llama.model_copy(update={"loads_last_hour": 3})
    return situation([gpu], engines=[ollama(gpu, [model], model_events=events)])


# What makes serving_advice use each setting it can express: (situation, rule id).
ADVICE_SITUATIONS: dict[Setting, Any] = {
    "memory_fraction": lambda served: (
        _planned(served, [h100(memory_used_mib=30000.0, memory_free_mib=51559.0)]),
        "utilization-exceeds-free",
    ),
    "max_context": lambda served: (
        _planned(served, [_l4()], fit=fit_8b()),
        "kv-cache-below-context",
    ),
    "kv_cache_dtype": lambda served: (
        _planned(served, [_l4()], fit=fit_8b()),
        "kv-cache-below-context",
    ),
    "tensor_parallel": lambda served: (
        _planned(served, [h100(0, nvlink_active=True), h100(1, nvlink_active=True)], fit=fit_72b()),
        "tensor-parallel",
    ),
    "pipeline_parallel": lambda served: (
        _planned(served, [h100(0), h100(1)], fit=fit_72b()),
        "pipeline-parallel",
    ),
    "data_parallel": lambda served: (
        _planned(served, [h100(0), h100(1)], fit=fit_8b()),
        "data-parallel-replicas",
    ),
    "max_sequences": lambda served: (
        _running(served, preemptions_per_s=0.5, requests_running=48.0),
        "kv-cache-pressure",
    ),
    "quantization": lambda served: (
        _planned(served, [h100()], fit=FP8_FITS),
        "weights-do-not-fit",
    ),
    "dtype": lambda served: (
        _planned(served, [h100(compute_capability="7.5")], fit=fit_72b()),
        "weights-do-not-fit",
    ),
    "api_servers": lambda served: (
        _running(
            served,
            requests_waiting=12.0,
            requests_running=4.0,
            kv_cache_usage_ratio=0.3,
        ),
        "starved-while-waiting",
    ),
    "keep_alive": lambda served: (_churning(served), "ollama-reload-churn"),
    "prefix_caching": lambda served: (
        _running(served, prefix_caching_enabled=False, **LONG_PROMPTS),
        "prefix-caching",
    ),
    "prefix_caching_off": lambda served: (
        _running(served, prefix_caching_enabled=False, **LONG_PROMPTS),
        "prefix-caching",
    ),
    "batched_tokens": lambda served: (
        _running(served, time_to_first_token=latency(3.0), queue_time=latency(2.0), **LONG_PROMPTS),
        "long-prompt-prefill",
    ),
    "expert_parallel": lambda served: (_moe(served, 8), "moe-experts"),
    "cpu_offload": lambda served: (_moe(served, 2), "moe-experts"),
    "images_per_prompt": lambda served: (
        _running(served, model="Qwen/Qwen2.5-VL-7B-Instruct"),
        "vision-image-budget",
    ),
    "max_image_pixels": lambda served: (
        _running(served, model="Qwen/Qwen2.5-VL-7B-Instruct"),
        "vision-image-budget",
    ),
}

# Two values a setting's flag is rendered at: the words that stay are the flag itself.
PROBES: dict[Setting, tuple[object, object]] = {
    "memory_fraction": (0.5, 0.75),
    "keep_alive": ("15m", "1h"),
    "quantization": ("fp8", "fp8"),
    "dtype": ("float16", "float16"),
}


def _flag_words(served: ServingEngine, setting: Setting) -> list[str]:
    """The words of the setting's flag that do not depend on its value; an environment
    variable's value-free part is `NAME=`."""
    first, second = PROBES.get(setting, (4096, 8192))
    if setting == "kv_cache_dtype":
        first = second = _kv_type(served)
    a, b = served.flag(setting, first), served.flag(setting, second)
    assert a is not None and b is not None
    words = []
    for x, y in zip(a.split(), b.split(), strict=True):
        if x == y:
            words.append(x)
        elif "=" in x:
            words.append(x.split("=")[0] + "=")
    return words


def _prints(text: str, words: list[str]) -> bool:
    said = text.split()
    return all(
        any(w.startswith(word) for w in said) if word.endswith("=") else word in said
        for word in words
    )


def _vram_flags(served: ServingEngine, setting: Setting) -> str | None:
    """vram_check's flags when it can express the setting for this engine, else None."""
    if setting not in VRAM_REQUESTS:
        return None
    if setting == "max_sequences" and not served.sizes_kv_per_slot:
        return None  # the others take any number of sequences; vram_check sizes the pool
    fields = VRAM_REQUESTS[setting](served)
    answer = check_fit(VramRequest(model=MODEL, engine=served.name, **fields), FOUR_H100)
    assert answer.placement is not None, answer.errors
    return answer.flags


def _advice_change(served: ServingEngine, setting: Setting) -> str | None:
    if setting not in ADVICE_SITUATIONS:
        return None
    found, rule_id = ADVICE_SITUATIONS[setting](served)
    [suggestion] = [s for s in advise(found).suggestions if s.id == rule_id]
    return suggestion.change


PAIRS = [(name, setting) for name in ENGINES for setting in SETTINGS if REGISTRY[name].has(setting)]


@pytest.mark.parametrize(("name", "setting"), PAIRS)
def test_both_tools_print_the_registry_flag_for_a_setting(
    name: KnownEngine, setting: Setting
) -> None:
    served = engine(name)
    words = _flag_words(served, setting)
    printed = {
        tool: text
        for tool, text in (
            ("vram_check", _vram_flags(served, setting)),
            ("serving_advice", _advice_change(served, setting)),
        )
        if text is not None
    }
    assert printed, f"no tool prints {served.flag(setting, 1)!r}: a flag nothing uses"
    for tool, text in printed.items():
        assert _prints(text, words), f"{tool} for {name} {setting}: {text!r} lacks {words}"


def test_sglang_fp8_kv_cache_is_one_flag_in_both_tools() -> None:
    flags = check_fit(
        VramRequest(model=MODEL, engine="sglang", kv_cache_dtype="fp8"), FOUR_H100
    ).flags
    change = _advice_change(engine("sglang"), "kv_cache_dtype") or ""
    assert "--kv-cache-dtype fp8_e4m3" in flags
    assert "--kv-cache-dtype fp8_e4m3" in change


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize(("tp", "pp"), [(2, 1), (1, 2), (2, 2)])
def test_every_parallel_size_a_placement_uses_is_in_its_flags(
    name: KnownEngine, tp: int, pp: int
) -> None:
    served = engine(name)
    request = VramRequest(model=MODEL, engine=name, tensor_parallel=tp, pipeline_parallel=pp)
    sizes: dict[Setting, int] = {"tensor_parallel": tp, "pipeline_parallel": pp}
    lacking = [s for s, size in sizes.items() if size > 1 and not served.has(s)]
    if lacking:
        with pytest.raises(InputError, match=f"^{lacking[0]}: {name} has no"):
            check_fit(request, FOUR_H100)
        return
    answer = check_fit(request, FOUR_H100)
    assert answer.placement is not None
    assert len(answer.placement.gpu_indices) == tp * pp
    for setting, size in sizes.items():
        if size > 1:
            assert f" {served.flag(setting, size)} " in f" {answer.flags} "


def test_an_automatic_tensor_parallel_size_comes_with_its_pipeline_size() -> None:
    # 70 GB of bf16 weights per pipeline stage: one GPU per stage is not enough
    gpus = [h100(i, memory_used_mib=21559.0, memory_free_mib=60000.0) for i in range(4)]
    answer = check_fit(VramRequest(model="llama3.3:70b", pipeline_parallel=2), gpus)
    assert answer.placement is not None
    tp = answer.placement.tensor_parallel
    assert len(answer.placement.gpu_indices) == tp * 2
    assert f"--tensor-parallel-size {tp}" in answer.flags
    assert "--pipeline-parallel-size 2" in answer.flags
