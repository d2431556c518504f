"""llama.cpp's `llama-server`: its command and the memory lines it prints about itself.

`parse_log` reads a server's log written at `-lv 4` (at the default level it prints none of its
buffer lines), in the printf formats of llama.cpp 0c1e57098:
- `src/llama-model.cpp`: `%s: %12s model buffer size = %8.2f MiB`, `offloaded %d/%d layers`;
  `src/llama-model-loader.cpp`: `%s: - type %4s: %4d tensors`
- `src/llama-kv-cache.cpp`: `%s: %10s KV buffer size = %8.2f MiB` and `%s: size = %7.2f MiB
  (%6u cells, %3d layers, %2u/%u seqs), K (%s): %7.2f MiB, V (%s): %7.2f MiB`
- `src/llama-context.cpp`: `%s: %10s  output buffer size = %8.2f MiB`, `%s: %10s compute buffer
  size = %8.2f MiB`, `n_ctx = %u` and its neighbours, `%s: Flash Attention enabled` or `… not
  supported, set to disabled` when `auto` is resolved
- `common/fit.cpp` `common_memory_breakdown_print`: the table `| memory breakdown [MiB] | total
  free self model context compute unaccounted |`, a row per GPU `| - CUDA0 (H200) | total = free
  + (self = model + context + compute) + unaccounted |` and `| - Host | self = model + context +
  compute |` (and one per other buffer type); printed before loading and again at exit.
A line may carry a level or timestamp prefix (`--log-prefix`), so patterns are not anchored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_MIB = r"([0-9]+(?:\.[0-9]+)?) MiB"
_MODEL_BUFFER = re.compile(rf"(\S+) model buffer size = +{_MIB}")
_KV_BUFFER = re.compile(rf"(\S+) KV buffer size = +{_MIB}")
_OUTPUT_BUFFER = re.compile(rf"(\S+) +output buffer size = +{_MIB}")
_COMPUTE_BUFFER = re.compile(rf"(\S+) compute buffer size = +{_MIB}")
_KV_CACHE = re.compile(
    rf"size = +{_MIB} \( *(\d+) cells, +(\d+) layers, +(\d+)/(\d+) seqs\), "
    rf"K \((\w+)\): +{_MIB}, V \((\w+)\): +{_MIB}"
)
_OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
_CONTEXT_SETTING = re.compile(
    r"llama_context: (n_ctx|n_ctx_seq|n_seq_max|n_batch|n_ubatch) += (\d+)$"
)
_FLASH_ATTN_ASKED = re.compile(r"llama_context: flash_attn += (auto|enabled|disabled)$")
_TENSOR_TYPES = re.compile(r"- type +(\w+): +(\d+) tensors")  # src/llama-model-loader.cpp
_SLOT = re.compile(r"new slot, n_ctx = (\d+)")
_FLASH_ATTN_RESOLVED = re.compile(r"Flash Attention (enabled|not supported, set to disabled)")
_FLASH_ATTN_FORCED = "enabling flash_attn since it is required for quantized V cache"
_TABLE_HEADER = "memory breakdown [MiB]"
_DEVICE_ROW = re.compile(
    r"\|\s+- (\S+) \((.*?)\)\s*\|\s*(\d+)\s*=\s*(\d+)\s*\+\s*\(\s*(\d+)\s*=\s*(\d+)\s*\+\s*(\d+)"
    r"\s*\+\s*(\d+)\s*\)\s*\+\s*(-?\d+)\s*\|"
)
_OTHER_ROW = re.compile(r"\|\s+- (\S+)\s*\|\s*(\d+)\s*=\s*(\d+)\s*\+\s*(\d+)\s*\+\s*(\d+)\s*\|")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_BUILD = re.compile(r"build (\d+) \((\w+)\) with ")  # common/common.cpp, at -lv 4


@dataclass
class BreakdownRow:
    """One row of llama.cpp's memory breakdown table, in MiB (whole MiB, rounded down)."""

    name: str
    self_mib: int
    model_mib: int
    context_mib: int
    compute_mib: int
    description: str | None = None  # a GPU's, e.g. "H200"
    total_mib: int | None = None
    free_mib: int | None = None
    unaccounted_mib: int | None = None


@dataclass
class KvCache:
    """llama_kv_cache's summary: `cells` per stream (one stream per slot unless unified)."""

    size_mib: float
    cells: int
    layers: int
    seqs: int
    streams: int
    k_type: str
    k_mib: float
    v_type: str
    v_mib: float


@dataclass
class LlamaLogFacts:
    """What llama-server said about its memory; buffer sizes in MiB by buffer name."""

    model_buffers_mib: dict[str, float] = field(default_factory=dict)
    kv_buffers_mib: dict[str, float] = field(default_factory=dict)
    output_buffers_mib: dict[str, float] = field(default_factory=dict)
    compute_buffers_mib: dict[str, float] = field(default_factory=dict)
    kv_cache: KvCache | None = None
    tensor_types: dict[str, int] = field(default_factory=dict)  # the GGUF's, e.g. q4_K: 193
    offloaded_layers: tuple[int, int] | None = None
    context: dict[str, int] = field(default_factory=dict)  # n_ctx, n_ctx_seq, n_seq_max, …
    flash_attn_asked: str | None = None  # auto, enabled, disabled
    flash_attn: bool | None = None  # what it ran with
    slot_contexts: list[int] = field(default_factory=list)  # each parallel slot's tokens
    breakdowns: list[list[BreakdownRow]] = field(default_factory=list)  # in printed order
    build: tuple[int, str] | None = None  # (build number, commit)
    errors: list[str] = field(default_factory=list)


def _buffers(pattern: re.Pattern[str], text: str) -> dict[str, float]:
    """MiB by buffer name; a name printed more than once (several buffers) is summed."""
    sizes: dict[str, float] = {}
    for name, mib in pattern.findall(text):
        sizes[name] = round(sizes.get(name, 0.0) + float(mib), 2)
    return sizes


def _breakdowns(lines: list[str]) -> list[list[BreakdownRow]]:
    tables: list[list[BreakdownRow]] = []
    for line in lines:
        if _TABLE_HEADER in line:
            tables.append([])
        elif tables and (match := _DEVICE_ROW.search(line)):
            name, description, *numbers = match.groups()
            total, free, self_, model, context, compute, unaccounted = map(int, numbers)
            tables[-1].append(
                BreakdownRow(
                    name, self_, model, context, compute, description, total, free, unaccounted
                )
            )
        elif tables and (match := _OTHER_ROW.search(line)):
            name, *held = match.groups()
            self_mib, model_mib, context_mib, compute_mib = map(int, held)
            tables[-1].append(BreakdownRow(name, self_mib, model_mib, context_mib, compute_mib))
    return tables


def _flash_attn(text: str, asked: str | None) -> bool | None:
    if _FLASH_ATTN_FORCED in text:
        return True
    if match := _FLASH_ATTN_RESOLVED.search(text):
        return match.group(1) == "enabled"
    return {"enabled": True, "disabled": False}.get(asked or "")


def parse_log(text: str) -> LlamaLogFacts:
    text = _ANSI.sub("", text)
    lines = text.splitlines()
    facts = LlamaLogFacts(
        model_buffers_mib=_buffers(_MODEL_BUFFER, text),
        kv_buffers_mib=_buffers(_KV_BUFFER, text),
        output_buffers_mib=_buffers(_OUTPUT_BUFFER, text),
        compute_buffers_mib=_buffers(_COMPUTE_BUFFER, text),
        breakdowns=_breakdowns(lines),
    )
    if match := _KV_CACHE.search(text):
        size, cells, layers, seqs, streams, k_type, k_mib, v_type, v_mib = match.groups()
        facts.kv_cache = KvCache(
            float(size),
            int(cells),
            int(layers),
            int(seqs),
            int(streams),
            k_type,
            float(k_mib),
            v_type,
            float(v_mib),
        )
    if match := _OFFLOADED.search(text):
        facts.offloaded_layers = (int(match.group(1)), int(match.group(2)))
    for kind, count in _TENSOR_TYPES.findall(text):
        facts.tensor_types.setdefault(kind, int(count))
    facts.slot_contexts = [int(tokens) for tokens in _SLOT.findall(text)]
    for line in lines:
        line = line.rstrip()
        if match := _CONTEXT_SETTING.search(line):
            facts.context.setdefault(match.group(1), int(match.group(2)))
        elif (match := _FLASH_ATTN_ASKED.search(line)) and facts.flash_attn_asked is None:
            facts.flash_attn_asked = match.group(1)
    facts.flash_attn = _flash_attn(text, facts.flash_attn_asked)
    if match := _BUILD.search(text):
        facts.build = (int(match.group(1)), match.group(2))
    facts.errors = [
        line.strip()[-400:]
        for line in lines
        if re.search(r"\berror\b|failed to|out of memory", line, re.IGNORECASE)
    ][-12:]
    return facts


def server_command(
    server: Path,
    model: Path,
    port: int,
    context: int,
    parallel: int,
    flash_attn: str,
    kv_type: str,
) -> list[str]:
    """llama-server with every layer on the GPU, its metrics route, and its buffer lines."""
    return [
        str(server),
        "-m",
        str(model),
        "-ngl",
        "99",
        "-c",
        str(context),
        "-np",
        str(parallel),
        "-fa",
        flash_attn,
        "-ctk",
        kv_type,
        "-ctv",
        kv_type,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--metrics",
        "-lv",
        "4",
    ]
