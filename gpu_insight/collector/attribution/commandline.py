"""A process's command line → serving engine, model and port; and a redacted display form.

The engines' programs, subcommands, model and port options and worker titles come from the
engine registry (`gpu_insight.engines`, each engine's `starts`); recognised today:

- vLLM: `vllm serve <model>`, `python -m vllm.entrypoints.openai.api_server --model <m>`
  (with `--served-model-name <name>` the model is that name, the path is `model_path`; the
  same for SGLang);
  worker processes titled `VLLM::EngineCore`, `VLLM::Worker…` (model and port then come from
  the parent, see the attributor)
- SGLang: `python -m sglang.launch_server --model-path <m>`, `sglang serve --model-path <m>`;
  workers titled `sglang::scheduler` and the like
- TGI: `text-generation-launcher --model-id <m>`; shards `text-generation-server serve <m>`
- Ollama: `ollama serve`, `ollama runner …` (the model runner, a child of `ollama serve`)
- llama.cpp: `llama-server -m <file>` (or `--hf-repo <repo>`)
- transformers: `transformers serve|chat`, and (a heuristic, here) a Python, torchrun or
  accelerate process whose arguments mention `transformers`, or name a Hugging Face model id
  (`org/name`, not a file) in a model option or as an argument. Other processes are `unknown`.

Console scripts appear as `python /usr/bin/vllm serve …` in /proc: the interpreter is skipped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from gpu_insight.engines import REGISTRY, ServingEngine, Start, find
from gpu_insight.schemas import Engine

_PYTHON = re.compile(r"^(python[0-9.]*|pypy[0-9.]*|torchrun|accelerate)$")
_HF_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_FILE_SUFFIX = re.compile(
    r"\.(py|sh|json|jsonl|ya?ml|toml|cfg|ini|txt|csv|parquet|gguf|bin|pt|pth|safetensors)$"
)
_TRANSFORMERS_MODEL_OPTIONS = (
    "--model",
    "--model-id",
    "--model_id",
    "--model-name",
    "--model_name",
    "--model-name-or-path",
    "--model_name_or_path",
    "--model-path",
    "--model_path",
)
_SECRET_OPTION = re.compile(r"(api[-_]?key|token|secret|passw(or)?d|credentials?)$", re.IGNORECASE)
_MAX_CMDLINE_CHARS = 1024


@dataclass(frozen=True)
class EngineGuess:
    engine: Engine
    model: str | None = None  # the name the engine serves it under (what its API shows)
    port: int | None = None  # only when the command line names it
    is_worker: bool = False  # a child process of an engine server (inherits model and port)
    model_path: str | None = None  # where it is loaded from, when served under another name


def detect_engine(argv: list[str]) -> EngineGuess:
    if not argv:
        return EngineGuess("unknown")
    title = argv[0].strip()
    for served in REGISTRY.values():
        if any(title.startswith(prefix) for prefix in served.worker_titles):
            return EngineGuess(served.name, is_worker=True)

    program, args = _entry_point(argv)
    subcommand = args[0] if args else None
    for served in REGISTRY.values():
        for start in served.starts:
            if start.matches(program, subcommand):
                return _guess(served, start, args)
    if _PYTHON.match(os.path.basename(argv[0])):
        return _transformers_guess(argv[1:])
    return EngineGuess("unknown")


def _guess(served: ServingEngine, start: Start, args: list[str]) -> EngineGuess:
    """One model name per instance: the served name (what the engine's API and metrics show)
    wins over the path or id it is loaded from, which is kept as `model_path`."""
    after = args[1:] if start.subcommands else args
    loaded = _leading_positional(after) if start.model_positional else None
    for option in start.model_options:
        loaded = loaded or _option(args, option)
    if start.worker:
        return EngineGuess(served.name, loaded, is_worker=True)
    port = _int_option(args, *served.port_options)
    name = _option(args, *start.served_name_options) if start.served_name_options else None
    if name is None or name == loaded:
        return EngineGuess(served.name, loaded, port)
    return EngineGuess(served.name, name, port, model_path=loaded)


def default_port(engine: Engine, in_container: bool) -> int | None:
    """Where the engine listens when its command line names no port."""
    served = find(engine)
    if served is None:
        return None
    if in_container and served.container_port is not None:
        return served.container_port
    return served.default_port


def display_cmdline(argv: list[str]) -> str:
    """The command line joined for display, with secret-looking option values masked."""
    shown: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next and not arg.startswith("-"):
            shown.append("***")
            mask_next = False
            continue
        mask_next = False
        name, equals, _value = arg.partition("=")
        if arg.startswith("-") and _SECRET_OPTION.search(name):
            if equals:
                shown.append(f"{name}=***")
            else:
                shown.append(arg)
                mask_next = True
            continue
        shown.append(arg)
    text = " ".join(shown)
    return text if len(text) <= _MAX_CMDLINE_CHARS else text[: _MAX_CMDLINE_CHARS - 1] + "…"


def _entry_point(argv: list[str]) -> tuple[str, list[str]]:
    """(program, its arguments): the script or module a Python interpreter runs, else argv[0]."""
    program = os.path.basename(argv[0])
    if not _PYTHON.match(program) or program in ("torchrun", "accelerate"):
        return program, argv[1:]
    rest = argv[1:]
    while rest and rest[0].startswith("-") and rest[0] != "-m":
        rest = rest[1:]  # interpreter flags such as -u, -O
    if len(rest) >= 2 and rest[0] == "-m":
        return rest[1], rest[2:]
    if rest:
        return os.path.basename(rest[0]), rest[1:]
    return program, []


def _option(args: list[str], *names: str) -> str | None:
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1 :]
    return None


def _int_option(args: list[str], *names: str) -> int | None:
    value = _option(args, *names)
    return int(value) if value is not None and value.isdigit() else None


def _leading_positional(args: list[str]) -> str | None:
    """The argument right after a subcommand, when it is not an option (`vllm serve <model>`)."""
    return args[0] if args and not args[0].startswith("-") else None


def _transformers_guess(args: list[str]) -> EngineGuess:
    model = _option(args, *_TRANSFORMERS_MODEL_OPTIONS)
    if model is None or not _looks_like_model_id(model):
        model = next((arg for arg in args if _looks_like_model_id(arg)), None)
    mentions_transformers = any("transformers" in arg for arg in args)
    if model is None and not mentions_transformers:
        return EngineGuess("unknown")
    return EngineGuess("transformers", model)


def _looks_like_model_id(arg: str) -> bool:
    return bool(_HF_MODEL_ID.match(arg)) and not _FILE_SUFFIX.search(arg)
