"""Which endpoints to scrape: engines found among the GPU processes, plus configured targets.

A detected engine is reached on the loopback at the port attribution found (its `--port`,
the engine's default, or the host port Docker publishes it on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import get_args
from urllib.parse import urlsplit, urlunsplit

from gpu_insight.collector.config import EngineTarget
from gpu_insight.collector.engines.readings import (
    Reading,
    parse_generic,
    parse_llama_cpp,
    parse_ollama_ps,
    parse_sglang,
    parse_tgi,
    parse_vllm,
)
from gpu_insight.schemas import Engine, GpuProcess, choice_of

Parser = Callable[[str], Reading]

_PARSERS: dict[str, Parser] = {
    "vllm": parse_vllm,
    "sglang": parse_sglang,
    "tgi": parse_tgi,
    "ollama": parse_ollama_ps,
    "llama.cpp": parse_llama_cpp,
}
_PATHS = {
    "vllm": "/metrics",
    "sglang": "/metrics",
    "tgi": "/metrics",
    "ollama": "/api/ps",
    "llama.cpp": "/metrics",  # llama-server serves it when started with --metrics
}
_KNOWN_ENGINES: tuple[Engine, ...] = get_args(Engine)


@dataclass(frozen=True)
class Target:
    url: str
    engine: Engine
    parser: Parser
    models_url: str | None = None  # OpenAI-compatible /v1/models, for max_model_len
    version_url: str | None = None  # the engine's /version
    show_url: str | None = None  # Ollama /api/show, for the shape of each loaded model
    model: str | None = None
    app: str | None = None
    team: str | None = None
    pids: tuple[int, ...] = ()
    gpu_uuids: tuple[str, ...] = ()


def targets_from_processes(processes: list[GpuProcess]) -> list[Target]:
    grouped: dict[tuple[str, int], list[GpuProcess]] = {}
    for process in processes:
        attribution = process.attribution
        if attribution.engine in _PATHS and attribution.port is not None:
            grouped.setdefault((attribution.engine, attribution.port), []).append(process)
    targets = []
    for (engine, port), members in sorted(grouped.items()):
        base = f"http://127.0.0.1:{port}"
        targets.append(
            Target(
                url=base + _PATHS[engine],
                engine=members[0].attribution.engine,
                parser=_PARSERS[engine],
                models_url=base + "/v1/models" if engine in ("vllm", "sglang") else None,
                version_url=base + "/version" if engine == "vllm" else None,
                show_url=base + "/api/show" if engine == "ollama" else None,
                model=_first(p.attribution.model for p in members),
                app=_first(p.attribution.app for p in members),
                team=_first(p.attribution.team for p in members),
                pids=tuple(sorted({p.pid for p in members})),
                gpu_uuids=tuple(sorted({p.gpu_uuid for p in members})),
            )
        )
    return targets


def configured_target(target: EngineTarget) -> Target:
    engine = choice_of(target.engine, _KNOWN_ENGINES) or "unknown"
    return Target(
        url=target.url,
        engine=engine,
        parser=_PARSERS.get(engine, parse_generic),
        show_url=_beside(target.url, "/api/show") if engine == "ollama" else None,
        model=target.model,
        app=target.app,
        team=target.team,
    )


def shown_url(url: str) -> str:
    """The URL without user:password, so that answers never carry credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:  # cannot tell where credentials would be: show nothing of it
        return "(invalid URL)"
    if "@" not in parts.netloc:
        return url
    # Not rebuilt from hostname and port: those raise for a malformed port.
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _beside(url: str, path: str) -> str:
    """Another path on the same server (credentials kept: the request needs them too)."""
    try:
        return urlunsplit(urlsplit(url)._replace(path=path, query="", fragment=""))
    except ValueError:
        return url


def _first(values: Iterable[str | None]) -> str | None:
    return next((v for v in values if v), None)
