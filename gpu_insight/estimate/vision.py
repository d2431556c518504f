"""Vision encoders of multimodal models: their parameters, and the largest image an engine
profiles them with.

Counted per family from `vision_config`, as the transformers modules build them:
- SigLIP/CLIP-style ViTs (Gemma 3, Llama 4): biased attention and a two-matrix MLP, LayerNorms,
  learnt positions;
- Qwen2.5-VL: depth × (biased QKV + a gated SiLU MLP with biases, RMSNorms), a Conv3d patch
  embedding over 2 frames, and a merger MLP over 2×2 patches;
- Qwen3-VL: depth × (biased attention, a two-matrix GELU MLP, LayerNorms), learnt positions,
  and one merger plus one per DeepStack layer;
- Pixtral (Mistral 3): a gated MLP without biases, RMSNorms, and the projector's patch merger
  and two Linears into the text model.
The largest image is the processor's default limit (Qwen: `max_pixels` 12,845,056 px for 2.5,
`longest_edge` 16,777,216 px for 3; Pixtral its `image_size`; Gemma 3 one 896 px image;
Llama 4 16 tiles and a global one), as the engine's profile run sizes its dummy image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

QWEN2_5_VL_MAX_PIXELS = 12_845_056
QWEN3_VL_MAX_PIXELS = 16_777_216
LLAMA4_TILES = 17  # 16 tiles of the image and one global view


class VisionSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    params: int
    hidden_size: int
    intermediate_size: int
    mlp_tensors: int  # intermediate-width tensors alive at the MLP's peak: 3 gated, 2 plain
    patches_per_image: int  # the encoder's sequence for the largest image
    tokens_per_image: int  # the text tokens that image takes in the context


# The spec's bounded reader of one field: (config, field, default) → a whole number.
Count = Callable[[Mapping[str, Any], str, int], int]


def vision_spec(
    vision: Mapping[str, Any], top: Mapping[str, Any], text_hidden: int, count: Count
) -> VisionSpec:
    """The encoder of `vision_config`; `top` is the whole config (Gemma's token count and
    Mistral's merge size sit there)."""
    kind = str(vision.get("model_type") or "")
    if "deepstack_visual_indexes" in vision or kind.startswith("qwen3"):
        return _qwen3_vl(vision, count)
    if vision.get("depth") is not None:
        return _qwen2_5_vl(vision, count)
    if kind == "pixtral":
        return _pixtral(vision, top, text_hidden, count)
    return _vit(vision, top, count)


def _vit(vision: Mapping[str, Any], top: Mapping[str, Any], count: Count) -> VisionSpec:
    h, inter = count(vision, "hidden_size", 0), count(vision, "intermediate_size", 0)
    depth = count(vision, "num_layers", 0)
    patch, image = count(vision, "patch_size", 14), count(vision, "image_size", 224)
    channels = count(vision, "num_channels", 3)
    per_layer = 4 * h * h + 4 * h + 2 * h * inter + inter + h + 4 * h
    patches = (image // patch) ** 2
    params = depth * per_layer + channels * patch * patch * h + h + patches * h + 2 * h
    tokens = count(top, "mm_tokens_per_image", 0) or patches
    if vision.get("model_type") == "llama4_vision_model":
        patches, tokens = patches * LLAMA4_TILES, patches * LLAMA4_TILES // 4  # pixel shuffle
    return VisionSpec(
        params=params,
        hidden_size=h,
        intermediate_size=inter,
        mlp_tensors=2,
        patches_per_image=patches,
        tokens_per_image=tokens,
    )


def _qwen2_5_vl(vision: Mapping[str, Any], count: Count) -> VisionSpec:
    h, inter = count(vision, "hidden_size", 0), count(vision, "intermediate_size", 0)
    depth, out = count(vision, "depth", 0), count(vision, "out_hidden_size", 0)
    patch, frames = count(vision, "patch_size", 14), count(vision, "temporal_patch_size", 2)
    merge = count(vision, "spatial_merge_size", 2)
    block = 4 * h * h + 4 * h + 3 * h * inter + 2 * inter + h + 2 * h
    merged = h * merge * merge
    merger = h + merged * merged + merged + merged * out + out
    patches = QWEN2_5_VL_MAX_PIXELS // (patch * patch)
    return VisionSpec(
        params=depth * block + 3 * frames * patch * patch * h + merger,
        hidden_size=h,
        intermediate_size=inter,
        mlp_tensors=3,
        patches_per_image=patches,
        tokens_per_image=patches // (merge * merge),
    )


def _qwen3_vl(vision: Mapping[str, Any], count: Count) -> VisionSpec:
    h, inter = count(vision, "hidden_size", 0), count(vision, "intermediate_size", 0)
    depth, out = count(vision, "depth", 0), count(vision, "out_hidden_size", 0)
    patch, frames = count(vision, "patch_size", 16), count(vision, "temporal_patch_size", 2)
    merge = count(vision, "spatial_merge_size", 2)
    positions = count(vision, "num_position_embeddings", 0)
    deepstack = vision.get("deepstack_visual_indexes") or []
    block = 4 * h * h + 4 * h + 2 * h * inter + inter + h + 4 * h
    merged = h * merge * merge
    merger = 2 * merged + merged * merged + merged + merged * out + out
    mergers = 1 + (len(deepstack) if isinstance(deepstack, list) else 0)
    patches = QWEN3_VL_MAX_PIXELS // (patch * patch)
    return VisionSpec(
        params=depth * block
        + 3 * frames * patch * patch * h
        + h
        + positions * h
        + mergers * merger,
        hidden_size=h,
        intermediate_size=inter,
        mlp_tensors=2,
        patches_per_image=patches,
        tokens_per_image=patches // (merge * merge),
    )


def _pixtral(
    vision: Mapping[str, Any], top: Mapping[str, Any], text_hidden: int, count: Count
) -> VisionSpec:
    h, inter = count(vision, "hidden_size", 0), count(vision, "intermediate_size", 0)
    depth = count(vision, "num_layers", 0)
    patch, image = count(vision, "patch_size", 14), count(vision, "image_size", 1024)
    merge = count(top, "spatial_merge_size", 1)
    block = 4 * h * h + 3 * h * inter + 2 * h
    projector = h + h * merge * merge * h + h * text_hidden + text_hidden * text_hidden
    patches = (image // patch) ** 2
    return VisionSpec(
        params=depth * block + 3 * patch * patch * h + h + projector,
        hidden_size=h,
        intermediate_size=inter,
        mlp_tensors=3,
        patches_per_image=patches,
        tokens_per_image=patches // (merge * merge),
    )
