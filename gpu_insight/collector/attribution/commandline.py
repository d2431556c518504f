"""A process's command line → serving engine, model and port; and a redacted display form.

Recognised:

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
- transformers (heuristic): a Python, torchrun or accelerate process whose arguments mention
  `transformers`, or name a Hugging Face model id (`org/name`, not a file) in a model option or
  as an argument; `transformers serve|chat`. Other processes are `unknown`.

Console scripts appear as `python /usr/bin/vllm serve …` in /proc: the interpreter is skipped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from gpu_insight.schemas import Engine

# The engines' own defaults when no --port is given. TGI's launcher defaults to 3000, its
# official container image sets PORT=80.
_DEFAULT_PORTS: dict[str, int] = {
    "vllm": 8000,
    "sglang": 30000,
    "tgi": 3000,
    "ollama": 11434,
    "llama.cpp": 8080,
}
_TGI_CONTAINER_PORT = 80

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
    if title.startswith("VLLM::"):
        return EngineGuess("vllm", is_worker=True)
    if title.startswith("sglang::"):
        return EngineGuess("sglang", is_worker=True)

    program, args = _entry_point(argv)
    subcommand = args[0] if args else None
    port = _int_option(args, "--port")
    if program == "vllm" and subcommand == "serve":
        model = _leading_positional(args[1:]) or _option(args, "--model")
        return _served("vllm", model, args, port)
    if program.startswith("vllm.entrypoints"):
        return _served("vllm", _option(args, "--model"), args, port)
    if program == "sglang.launch_server" or (program == "sglang" and subcommand == "serve"):
        return _served("sglang", _option(args, "--model-path", "--model"), args, port)
    if program == "text-generation-launcher":
        return EngineGuess("tgi", _option(args, "--model-id"), _int_option(args, "--port", "-p"))
    if program == "text-generation-server" and subcommand == "serve":
        return EngineGuess("tgi", _leading_positional(args[1:]), is_worker=True)
    if program == "ollama" and subcommand == "serve":
        return EngineGuess("ollama")
    if (program == "ollama" and subcommand == "runner") or program == "ollama_llama_server":
        return EngineGuess("ollama", is_worker=True)
    if program in ("llama-server", "llama-cpp-server"):
        model = _option(args, "-m", "--model") or _option(args, "-hf", "--hf-repo")
        return EngineGuess("llama.cpp", model, port)
    if program == "transformers" and subcommand in ("serve", "chat"):
        return EngineGuess("transformers", _leading_positional(args[1:]), port)
    if _PYTHON.match(os.path.basename(argv[0])):
        return _transformers_guess(argv[1:])
    return EngineGuess("unknown")


def _served(engine: Engine, loaded: str | None, args: list[str], port: int | None) -> EngineGuess:
    """One model name per instance: the served name (what the engine's API and metrics show)
    wins over the path or id it is loaded from, which is kept as `model_path`."""
    served = _option(args, "--served-model-name")
    if served is None or served == loaded:
        return EngineGuess(engine, loaded, port)
    return EngineGuess(engine, served, port, model_path=loaded)


def default_port(engine: Engine, in_container: bool) -> int | None:
    if engine == "tgi" and in_container:
        return _TGI_CONTAINER_PORT
    return _DEFAULT_PORTS.get(engine)


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
