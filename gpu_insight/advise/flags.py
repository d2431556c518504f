"""The exact command-line flag each engine uses for a setting (engines name them differently)."""

from __future__ import annotations

from gpu_insight.schemas import Engine

_FLAGS: dict[str, dict[str, str]] = {
    "vllm": {
        "memory_fraction": "--gpu-memory-utilization {value}",
        "max_len": "--max-model-len {value}",
        "kv_fp8": "--kv-cache-dtype fp8",
        "tensor_parallel": "--tensor-parallel-size {value}",
        "pipeline_parallel": "--pipeline-parallel-size {value}",
        "data_parallel": "--data-parallel-size {value}",
        "max_seqs": "--max-num-seqs {value}",
        "quantize_fp8": "--quantization fp8",
    },
    "sglang": {
        "memory_fraction": "--mem-fraction-static {value}",
        "max_len": "--context-length {value}",
        "kv_fp8": "--kv-cache-dtype fp8_e5m2",
        "tensor_parallel": "--tp {value}",
        "pipeline_parallel": "--pp-size {value}",
        "data_parallel": "--dp {value}",
        "max_seqs": "--max-running-requests {value}",
        "quantize_fp8": "--quantization fp8",
    },
    "tgi": {
        "max_len": "--max-total-tokens {value}",
        "tensor_parallel": "--num-shard {value}",
        "max_seqs": "--max-concurrent-requests {value}",
        "quantize_fp8": "--quantize fp8",
    },
}


def flag(engine: Engine | None, setting: str, value: object = "") -> str | None:
    """The flag for a setting on an engine (vLLM when none is named), or None if it has none."""
    template = _FLAGS.get(engine or "vllm", {}).get(setting)
    return template.format(value=value) if template is not None else None


def flags(engine: Engine | None, *settings: tuple[str, object]) -> str:
    """Several flags joined, those the engine lacks left out."""
    found = [flag(engine, name, value) for name, value in settings]
    return " ".join(f for f in found if f)
