"""`VramRequest`: the validated question. Every bad value gets a message naming the parameter
and the accepted range."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from gpu_insight.bounded_json import parse_json_text
from gpu_insight.engines import DEFAULT_ENGINE
from gpu_insight.estimate.kv_cache import KvCacheDtype
from gpu_insight.estimate.spec import MAX_CONTEXT_TOKENS
from gpu_insight.estimate.weights import WeightFormat
from gpu_insight.schemas import KnownEngine

Quantization = Literal["none"] | WeightFormat
MAX_CONCURRENCY = 4096
MAX_PARALLEL = 64


class VramRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    model: str | None = None
    model_config_json: dict[str, Any] | None = None  # a pasted config.json; wins over `model`
    engine: KnownEngine = DEFAULT_ENGINE
    quantization: Quantization = "none"
    context_length: int | None = None  # None: min(model maximum, 8192)
    concurrency: int = 1
    tensor_parallel: int | Literal["auto"] = "auto"
    pipeline_parallel: int = 1
    kv_cache_dtype: KvCacheDtype = "auto"
    gpu_memory_utilization: float | None = None  # vLLM / SGLang fraction of total; None: auto
    enforce_eager: bool = False
    flash_attention: bool = True  # llama.cpp / Ollama: False runs attention without the kernel
    gpu_type: str | None = None  # plan on empty boards of this type (a name or MiB), not live

    @field_validator("model_config_json", mode="before")
    @classmethod
    def _parse_config(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            return parse_json_text(value, "model_config", "the model's config.json", "model_config")
        if value is not None and not isinstance(value, dict):
            raise ValueError("model_config must be a JSON object (a config.json)")
        return value

    @field_validator("context_length")
    @classmethod
    def _context(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_CONTEXT_TOKENS:
            raise ValueError(f"context_length must be between 1 and {MAX_CONTEXT_TOKENS:,} tokens")
        return value

    @field_validator("concurrency")
    @classmethod
    def _concurrency(cls, value: int) -> int:
        if not 1 <= value <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
        return value

    @field_validator("tensor_parallel", "pipeline_parallel")
    @classmethod
    def _parallel(cls, value: int | str) -> int | str:
        if value != "auto" and not 1 <= int(value) <= MAX_PARALLEL:
            raise ValueError(f"parallel size must be 'auto' or between 1 and {MAX_PARALLEL}")
        return value

    @field_validator("gpu_memory_utilization")
    @classmethod
    def _util(cls, value: float | None) -> float | None:
        if value is not None and not 0.05 <= value <= 0.99:
            raise ValueError("gpu_memory_utilization must be between 0.05 and 0.99")
        return value

    @model_validator(mode="after")
    def _some_model(self) -> VramRequest:
        if not (self.model and self.model.strip()) and self.model_config_json is None:
            raise ValueError("give model (a catalog name or Hugging Face id) or model_config")
        return self


def request_error_text(error: Exception) -> str:
    """One readable line from a pydantic ValidationError (or any ValueError)."""
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return str(error)
    parts = []
    for item in errors():
        where = ".".join(_parameter_name(p) for p in item.get("loc", ()) if p != "__root__")
        message = str(item.get("msg", "")).removeprefix("Value error, ")
        if item.get("type") == "literal_error":
            message = f"must be one of {item.get('ctx', {}).get('expected', '')}"
        parts.append(f"{where}: {message}" if where and not message.startswith(where) else message)
    return "; ".join(parts)


def request_error_parameter(error: ValidationError) -> str | None:
    """The one parameter a ValidationError is about; None when it is about several or none."""
    named = {_parameter_name(item["loc"][0]) for item in error.errors() if item["loc"]}
    return named.pop() if len(named) == 1 else None


def _parameter_name(field: int | str) -> str:
    """The name a caller gives the field (`model_config_json` is given as `model_config`)."""
    return "model_config" if field == "model_config_json" else str(field)
