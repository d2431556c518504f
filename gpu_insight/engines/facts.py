"""What the registry records of one serving engine: how each setting is spelled on its command
line (or in its environment), its defaults and traits, and how its processes look in `ps`.

Flag templates hold `{value}`, the setting's value; a `max_context` template may also hold
`{prompt_tokens}`, the longest prompt that leaves room for one generated token (value − 1).
Settings with named values (`kv_cache_dtype`, `quantization`) take our name for the value
(`fp8`, `awq`, `q8_0`) and the engine's own spelling comes from its mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from gpu_insight.schemas import KnownEngine

Setting = Literal[
    "memory_fraction",  # the share of total GPU memory the engine reserves up front
    "max_context",  # tokens per sequence (prompt + generation)
    "max_sequences",  # sequences served at once
    "tensor_parallel",
    "pipeline_parallel",
    "data_parallel",
    "quantization",  # the weight format, when the engine must be told
    "kv_cache_dtype",  # a quantized KV cache
    "enforce_eager",  # no CUDA graphs
    "api_servers",  # front-end processes (tokenization, image preprocessing)
    "dtype",  # the 16-bit compute type
    "keep_alive",  # how long an idle model stays loaded
    "prefix_caching",  # turns the prefix (radix) cache on
    "prefix_caching_off",  # turns it off: the flag to drop when it is off
    "flash_attention_off",  # attention without the flash kernel (on by default)
    "batched_tokens",  # tokens per forward step: the chunk a long prompt is prefilled in
    "expert_parallel",  # MoE experts spread over the GPUs instead of split in each
    "cpu_offload",  # GiB of weights kept in CPU memory, streamed in every forward pass
    "images_per_prompt",  # the most images one request may carry
    "max_image_pixels",  # images are resized to at most this many pixels
]
SETTINGS: tuple[Setting, ...] = get_args(Setting)


@dataclass(frozen=True)
class Launch:
    """The settings of one engine start, as `ServingEngine.command_flags` renders them."""

    context_length: int
    sequences: int = 1
    memory_fraction: float | None = None
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    quantization: str | None = None  # the weight format asked for
    checkpoint_quantization: str | None = None  # the checkpoint's own (needs no flag)
    kv_cache_dtype: str = "auto"
    enforce_eager: bool = False
    flash_attention: bool = True


@dataclass(frozen=True)
class Start:
    """One way the engine is started, as a process's command line shows it: a binary or
    console script (its base name), or a module run by `python -m`."""

    program: str
    subcommands: tuple[str, ...] = ()  # the first argument must be one of these (when given)
    module: bool = False  # started as `python -m <program>`
    package: bool = False  # any module inside `program` (`vllm.entrypoints.…`)
    model_positional: bool = False  # the model is the argument after the subcommand
    model_options: tuple[str, ...] = ()  # options naming the model, most specific first
    served_name_options: tuple[str, ...] = ()  # the name the API serves it under, if set
    worker: bool = False  # a child of the server: model and port come from its parent

    def matches(self, program: str, subcommand: str | None) -> bool:
        named = program == self.program or (self.package and program.startswith(self.program + "."))
        return named and (not self.subcommands or subcommand in self.subcommands)


@dataclass(frozen=True)
class ServingEngine:
    name: KnownEngine
    label: str  # as the engine's docs write it
    # Flag template per setting; a setting without one cannot be told to this engine.
    flags: Mapping[Setting, str]
    # The quantized KV cache types it has, the one to suggest first (our name → its name);
    # a 16-bit KV cache follows the model and needs no flag.
    kv_cache_dtypes: Mapping[str, str]
    # Weight formats it is told by flag (our name → the flag's value). A checkpoint already in
    # that format needs none: the engines read the method from its config.
    quantizations: Mapping[str, str]
    # How it is started and found again in `ps`; the first start is the one suggested.
    starts: tuple[Start, ...]
    worker_titles: tuple[str, ...] = ()  # process titles its workers set (`VLLM::EngineCore`)
    port_options: tuple[str, ...] = ("--port",)
    default_port: int | None = None  # where it listens when no port option is given
    container_port: int | None = None  # where its official container image listens instead
    # Share of total memory it reserves at start when none is given; None: it reserves none.
    default_memory_fraction: float | None = None
    # Takes most of the GPU on purpose (a memory fraction, or all free memory as KV blocks),
    # so a full GPU is normal for it.
    fills_gpu_memory: bool = False
    # A server of models behind an API, as opposed to a library called from a script.
    model_server: bool = True
    # Continuous batching over a shared, paged KV cache (a generate() loop has neither).
    continuous_batching: bool = True
    reads_gguf: bool = False
    default_quantization: str | None = None  # the weight format when none is asked for
    default_kv_cache_dtype: str | None = None  # what KV "auto" is here (None: the model's dtype)
    keeps_fp32_weights: bool = False  # serving engines load fp32 checkpoints in 16 bits
    # Allocates KV for context × parallel slots when the model loads, so the slot count belongs
    # to the command line; `context_spans_sequences`: its context option counts all slots.
    sizes_kv_per_slot: bool = False
    context_spans_sequences: bool = False
    fixed_flags: tuple[str, ...] = ()  # always given when it serves from the GPU

    def has(self, setting: Setting) -> bool:
        return setting in self.flags

    def flag(self, setting: Setting, value: object = None) -> str | None:
        """The flag for a setting, or None when the engine has none (or not for that value)."""
        template = self.flags.get(setting)
        if template is None:
            return None
        if setting == "kv_cache_dtype":
            value = self.kv_cache_dtypes.get(str(value))
        elif setting == "quantization":
            value = self.quantizations.get(str(value))
        if value is None and "{value" in template:
            return None
        prompt_tokens = max(1, value - 1) if isinstance(value, int) else value
        return template.format(value=value, prompt_tokens=prompt_tokens)

    def command_flags(self, launch: Launch) -> list[str]:
        """Every flag one start needs, in the order of `SETTINGS`; defaults are left out."""
        context = launch.context_length
        if self.context_spans_sequences:
            context *= launch.sequences
        wanted: list[tuple[Setting, object]] = [("max_context", context)]
        if launch.memory_fraction is not None:
            wanted.insert(0, ("memory_fraction", launch.memory_fraction))
        if self.sizes_kv_per_slot:
            wanted.append(("max_sequences", launch.sequences))
        if launch.tensor_parallel > 1:
            wanted.append(("tensor_parallel", launch.tensor_parallel))
        if launch.pipeline_parallel > 1:
            wanted.append(("pipeline_parallel", launch.pipeline_parallel))
        if launch.quantization and launch.quantization != launch.checkpoint_quantization:
            wanted.append(("quantization", launch.quantization))
        if launch.kv_cache_dtype in self.kv_cache_dtypes:
            wanted.append(("kv_cache_dtype", launch.kv_cache_dtype))
        if launch.enforce_eager:
            wanted.append(("enforce_eager", None))
        if not launch.flash_attention:
            wanted.append(("flash_attention_off", None))
        rendered = [self.flag(setting, value) for setting, value in wanted]
        return [f for f in rendered if f] + list(self.fixed_flags)

    def launch_command(self, model: str, port: int | None = None) -> str:
        """How to start it serving `model` (its first start)."""
        start = self.starts[0]
        words = ["python -m" if start.module else "", start.program, *start.subcommands[:1]]
        if start.model_positional:
            words.append(model)
        elif start.model_options:
            words += [start.model_options[0], model]
        if port is not None and self.port_options:
            words += [self.port_options[0], str(port)]
        return " ".join(w for w in words if w)
