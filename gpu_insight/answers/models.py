"""Which model a vram_check request names: a pasted config, the catalog, or the Hub.

A pasted `model_config` wins; then the built-in catalog; then a Hub id (`org/name`, a GGUF file
or tag) is read from the Hugging Face Hub or the mirror in `hf_endpoint`: its config and the
exact tensor bytes of its safetensors or GGUF headers. Hub reads are kept in-process (an LRU of
`CACHE_ENTRIES` models for `CACHE_TTL_S`), keyed by endpoint, model, GGUF type and a digest of
the token, so a workflow that asks a hundred times reads the Hub once, and a gated model read
with one token is never served to a caller without it. A failure is one sentence naming the
setting that fixes it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from gpu_insight.errors import InputError, UnknownModelError, quoted
from gpu_insight.estimate.catalog import closest
from gpu_insight.estimate.checkpoint import (
    CheckpointWeights,
    gguf_config,
    gguf_weights,
    safetensors_weights,
)
from gpu_insight.estimate.request import VramRequest
from gpu_insight.estimate.resolve import ResolvedModel, resolve_local
from gpu_insight.estimate.spec import ModelSpec, from_hf_config
from gpu_insight.estimate.weights import CHECKPOINT_FORMATS, GGUF_FORMATS
from gpu_insight.sources.hub import (
    HubClient,
    HubError,
    HubModel,
    HubNotFoundError,
    HubReference,
    parse_reference,
)
from gpu_insight.sources.settings import HubSettings, hub_settings

CACHE_ENTRIES = 128
CACHE_TTL_S = 3600.0
# hf_quant_config.json (NVIDIA ModelOpt) `quant_algo` → the stored weight format.
MODELOPT_FORMATS = {"FP8": "fp8", "W4A16_AWQ": "awq", "NVFP4": "nvfp4", "W4A8_AWQ": "awq"}
DTYPE_FORMATS = {"BF16": "bf16", "F16": "fp16", "F32": "fp32"}

CacheKey = tuple[str, str, str | None, str]


class ModelCache:
    """A small LRU of resolved models whose entries expire."""

    def __init__(
        self,
        entries: int = CACHE_ENTRIES,
        ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries, self._ttl_s, self._clock = entries, ttl_s, clock
        self._items: OrderedDict[CacheKey, tuple[float, ResolvedModel]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> ResolvedModel | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] <= self._clock():
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: CacheKey, model: ResolvedModel) -> None:
        with self._lock:
            self._items[key] = (self._clock() + self._ttl_s, model)
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)


HUB_MODELS = ModelCache()


def resolve_model(
    request: VramRequest,
    settings: Mapping[str, Any],
    cache: ModelCache = HUB_MODELS,
    client: Callable[[HubSettings], HubClient] = HubClient,
) -> ResolvedModel:
    """The model a request names; `settings` (tool credentials or endpoint settings) give
    `hf_endpoint` and `hf_token`, read only when the Hub is needed."""
    try:
        return resolve_local(request)
    except UnknownModelError:
        reference = parse_reference(request.model or "")
        if reference is None:
            raise
    hub = hub_settings(settings)
    gguf_tag = request.quantization if request.quantization in GGUF_FORMATS else None
    key: CacheKey = (hub.endpoint, str(reference), gguf_tag, _digest(hub.token))
    cached = cache.get(key)
    if cached is not None:
        return cached
    name = quoted(request.model)
    try:
        read = client(hub).read(reference, gguf_tag)
    except HubNotFoundError as error:
        raise UnknownModelError(
            f"model: {name} is not in the catalog, and {error}. Closest catalog names: "
            f"{', '.join(closest(reference.repo))}. Check the id, or paste the model's "
            "config.json into model_config.",
            "model",
        ) from None
    except HubError as error:
        raise InputError(
            f"model: {name} is not in the catalog and could not be read from the hub: {error}.",
            error.setting or "model",
        ) from None
    resolved = hub_model(read, hub.endpoint)
    cache.put(key, resolved)
    return resolved


def hub_model(read: HubModel, endpoint: str) -> ResolvedModel:
    """The spec and exact weights of what was read."""
    return _gguf_model(read, endpoint) if read.gguf else _safetensors_model(read, endpoint)


def _gguf_model(read: HubModel, endpoint: str) -> ResolvedModel:
    reference, first = read.reference, read.gguf[0]
    config = gguf_config(first.metadata, first.array_lengths, _tensor_names(read))
    spec = from_hf_config(config, name=str(reference))
    file_type = first.number("general.file_type")
    weights = gguf_weights(
        [t for header in read.gguf for t in header.tensors],
        files=len(read.gguf),
        file_type=int(file_type) if file_type is not None else None,
    )
    where = f"{endpoint}/{reference.repo}/{read.gguf_files[0]} at {read.commit}"
    return ResolvedModel(_named(spec, reference), "gguf header", where, weights)


def _safetensors_model(read: HubModel, endpoint: str) -> ResolvedModel:
    reference = read.reference
    spec = from_hf_config(read.config or {}, name=reference.repo)
    if read.is_sentence_transformer and spec.kind == "causal":
        spec = spec.model_copy(update={"kind": "embedding"})
    weights: CheckpointWeights | None = None
    if read.safetensors:
        fmt = _stored_format(spec, read)
        spec = spec.model_copy(update={"checkpoint_quantization": fmt})
        weights = safetensors_weights(read.safetensors, fmt)
    where = f"{endpoint}/{reference.repo} at {read.commit}"
    return ResolvedModel(_named(spec, reference), "hub", where, weights)


def _stored_format(spec: ModelSpec, read: HubModel) -> str:
    if spec.checkpoint_quantization in CHECKPOINT_FORMATS:
        return spec.checkpoint_quantization
    quantization = (read.quant_config or {}).get("quantization")
    algo = str(quantization.get("quant_algo", "")) if isinstance(quantization, dict) else ""
    if algo.upper() in MODELOPT_FORMATS:
        return MODELOPT_FORMATS[algo.upper()]
    sizes: dict[str, int] = {}
    for table in read.safetensors:
        for tensor in table.values():
            dtype = str(tensor.get("dtype"))
            sizes[dtype] = sizes.get(dtype, 0) + 1
    dominant = max(sizes, key=lambda d: sizes[d]) if sizes else "BF16"
    return DTYPE_FORMATS.get(dominant, dominant.lower())


def _tensor_names(read: HubModel) -> list[str]:
    return [name for header in read.gguf for name, _, _ in header.tensors]


def _named(spec: ModelSpec, reference: HubReference) -> ModelSpec:
    return spec.model_copy(update={"name": str(reference)})


def _digest(token: str | None) -> str:
    return hashlib.sha256(token.encode()).hexdigest() if token else ""
