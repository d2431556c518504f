"""Rules for the GGUF servers (Ollama, llama.cpp): models spilled to the CPU, the same model
loaded twice, models reloaded again and again, and every slot busy with requests waiting.

Ollama loads a model for the context (`num_ctx`) a request asks for and keeps it `keep_alive`
after the last request; a request with another `num_ctx` reloads it, and a model that does not
fit the GPU runs its remaining layers on the CPU (docs/faq.md). Sizes come from `/api/ps`, the
shapes from `/api/show`, the arithmetic from the estimator.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator

from gpu_insight.advise.sizing import (
    gguf_kv_mib_per_token,
    gguf_weights_mib,
    known_fit,
    smaller_gguf_types,
)
from gpu_insight.advise.suggestion import Situation, Suggestion, gib
from gpu_insight.engines import find, flag
from gpu_insight.engines.gguf import (
    OLLAMA_CONTEXT_OPTION,
    OLLAMA_KEEP_ALIVE_OPTION,
    OLLAMA_MINIMUM_MIB,
)
from gpu_insight.schemas import EngineMetrics, Gpu, LoadedModel

_OFFLOAD_MIN_SHARE = 0.02  # under 2 % on the CPU is Ollama's rounding of its graph estimate
_MIN_USEFUL_CONTEXT = 2048
_CONTEXT_STEP = 1024
_CHURN_LOADS_PER_HOUR = 3
_KEEP_ALIVE_STEP_S = 300  # keep_alive suggestions in 5-minute steps


def ollama_cpu_offload(s: Situation) -> Iterator[Suggestion]:
    for engine in s.engines():
        for model in engine.loaded_models or []:
            if model.size_mib <= 0 or model.vram_mib >= model.size_mib * (1 - _OFFLOAD_MIN_SHARE):
                continue
            yield _offload(s, engine, model)


def _offload(s: Situation, engine: EngineMetrics, model: LoadedModel) -> Suggestion:
    cpu_mib = model.size_mib - model.vram_mib
    percent = round(cpu_mib / model.size_mib * 100)
    gpus = [g for g in s.gpus if g.uuid in engine.gpu_uuids]
    free_mib = sum(g.memory_free_mib or 0.0 for g in gpus)
    # what must still be freed for the CPU part to move, after Ollama's reserve per GPU
    missing_mib = max(cpu_mib - max(free_mib - OLLAMA_MINIMUM_MIB * len(gpus), 0.0), 0.0)
    evidence: dict[str, float | int | str] = {
        "model": model.name,
        "size_gib": gib(model.size_mib),
        "vram_gib": gib(model.vram_mib),
        "cpu_gib": gib(cpu_mib),
        "cpu_share_percent": percent,
        "gpu_free_gib": gib(free_mib),
        "missing_gib": gib(missing_mib),
    }
    fixes = [
        fix
        for fix in (
            _shorter_context(model, missing_mib, evidence),
            _smaller_quantization(model, missing_mib, evidence),
            _free_other_process(s, engine, gpus, missing_mib, evidence),
        )
        if fix
    ]
    if missing_mib == 0:
        fixes.insert(
            0, f"reload it (`ollama stop {model.name}`, then call it again): its GPU has room now"
        )
    return Suggestion(
        id="ollama-cpu-offload",
        severity="critical" if percent >= 50 else "warning",
        title=f"{model.name} runs {percent}% on the CPU: {gib(cpu_mib)} of its "
        f"{gib(model.size_mib)} GiB did not fit GPU memory",
        change=" or ".join(fixes) or f"a GPU with {gib(model.size_mib)} GiB free",
        evidence=evidence,
        expected_effect=(
            "every layer on the GPU: layers left on the CPU make each token wait for CPU "
            "memory, typically several times slower"
        ),
        source="Ollama docs (faq: ollama ps, CPU/GPU split); estimator KV and GGUF sizes",
        scope=f"{engine.url} {model.name}",
        focus=("latency", "throughput", "memory"),
        gain=0.8,
    )


def _shorter_context(
    model: LoadedModel, missing_mib: float, evidence: dict[str, float | int | str]
) -> str | None:
    """A num_ctx whose smaller KV cache makes room for the CPU part."""
    per_token = gguf_kv_mib_per_token(model.architecture) if model.architecture else None
    if per_token is None or not model.context_length or missing_mib <= 0:
        return None
    kv_mib = per_token * model.context_length
    fits = math.floor((kv_mib - missing_mib) / per_token / _CONTEXT_STEP) * _CONTEXT_STEP
    evidence["context_length"] = model.context_length
    evidence["kv_cache_gib"] = gib(kv_mib)
    if fits < _MIN_USEFUL_CONTEXT:
        return None
    evidence["context_that_fits"] = fits
    return (
        f"{OLLAMA_CONTEXT_OPTION} {fits} in Dify's model parameters (or "
        f"{flag('ollama', 'max_context', fits)})"
    )


def _smaller_quantization(
    model: LoadedModel, missing_mib: float, evidence: dict[str, float | int | str]
) -> str | None:
    level = model.quantization_level
    now = gguf_weights_mib(model.architecture, level) if level else None
    if level is None or now is None or missing_mib <= 0:
        return None
    for smaller in smaller_gguf_types(level):
        weights = gguf_weights_mib(model.architecture, smaller)
        if weights is not None and now - weights >= missing_mib:
            evidence[f"weights_{level.lower()}_gib"] = gib(now)
            evidence[f"weights_{smaller}_gib"] = gib(weights)
            return f"the {smaller.upper()} tag of {model.name} instead of {level}"
    return None


def _free_other_process(
    s: Situation,
    engine: EngineMetrics,
    gpus: list[Gpu],
    missing_mib: float,
    evidence: dict[str, float | int | str],
) -> str | None:
    others = [
        (gpu, p)
        for gpu in gpus
        for p in s.processes_on(gpu)
        if p.pid not in engine.pids and p.attribution.engine != engine.engine
    ]
    if not others or missing_mib <= 0:
        return None
    gpu, largest = max(others, key=lambda found: found[1].used_memory_mib or 0.0)
    held = largest.used_memory_mib or 0.0
    if held < missing_mib:
        return None
    who = largest.attribution.model or largest.name or "a process"
    evidence["other_process"] = f"pid {largest.pid} {who} on GPU {gpu.index}"
    evidence["other_process_gib"] = gib(held)
    return f"free GPU {gpu.index} of pid {largest.pid} ({who}, {gib(held)} GiB)"


def ollama_duplicate_models(s: Situation) -> Iterator[Suggestion]:
    copies: dict[str, list[tuple[EngineMetrics, LoadedModel]]] = defaultdict(list)
    for engine in s.engines():
        for model in engine.loaded_models or []:
            copies[model.digest or model.name].append((engine, model))
    for found in copies.values():
        if len(found) < 2:
            continue
        _, kept = max(found, key=lambda pair: (pair[1].context_length or 0, pair[1].size_mib))
        freed = sum(m.size_mib for _, m in found) - kept.size_mib
        contexts = sorted({m.context_length for _, m in found if m.context_length})
        servers = sorted({e.url for e, _ in found})
        context = kept.context_length
        pin = (
            f"set {OLLAMA_CONTEXT_OPTION} {context} in every Dify app using it and in the Ollama "
            f"model provider (or pin it: {flag('ollama', 'max_context', context)})"
            if context
            else f"set one {OLLAMA_CONTEXT_OPTION} in every Dify app using it"
        )
        evidence: dict[str, float | int | str] = {
            "model": kept.name,
            "copies": len(found),
            "context_lengths": ", ".join(str(c) for c in contexts) or "unknown",
            "sizes_gib": ", ".join(str(gib(m.size_mib)) for _, m in found),
            "servers": ", ".join(servers),
            "frees_gib": gib(freed),
        }
        lengths = f" with contexts {' and '.join(str(c) for c in contexts)}" if contexts else ""
        yield Suggestion(
            id="ollama-duplicate-model",
            severity="warning",
            title=f"{kept.name} is loaded {len(found)} times{lengths}: "
            f"{gib(freed)} GiB hold a second copy",
            change=pin + ("; send every app to one Ollama server" if len(servers) > 1 else ""),
            evidence=evidence,
            expected_effect=(
                f"one copy: frees {gib(freed)} GiB, and a copy that no longer fits is not "
                "pushed onto the CPU"
            ),
            source="dify#16752 and ollama#9975 (one model, two context lengths, two copies)",
            scope=kept.digest or kept.name,
            focus=("memory", "cost"),
            gain=0.7,
        )


def ollama_reload_churn(s: Situation) -> Iterator[Suggestion]:
    for engine in s.engines():
        for model in engine.loaded_models or []:
            if model.loads_last_hour < _CHURN_LOADS_PER_HOUR:
                continue
            events = [e for e in engine.model_events if e.model == model.name]
            # a request came at most (time it stayed loaded + time it was gone) after the last
            cycles = [
                (unload.t - load.t) + (reload.t - unload.t)
                for load, unload, reload in zip(events, events[1:], events[2:], strict=False)
                if (load.event, unload.event, reload.event) == ("load", "unload", "load")
            ]
            longest_s = max(cycles, default=0.0)
            keep = _go_duration(max(longest_s, float(_KEEP_ALIVE_STEP_S)))
            evidence: dict[str, float | int | str] = {
                "model": model.name,
                "loads_last_hour": model.loads_last_hour,
                "size_gib": gib(model.size_mib),
                "reloaded_gib_last_hour": gib(model.size_mib * model.loads_last_hour),
                "longest_request_gap_min": round(longest_s / 60, 1),
            }
            yield Suggestion(
                id="ollama-reload-churn",
                severity="warning",
                title=f"{model.name} was loaded {model.loads_last_hour} times in the last hour: "
                f"each time its {gib(model.size_mib)} GiB were read again",
                change=(
                    f"{flag('ollama', 'keep_alive', keep)} on the Ollama server, or "
                    f'{OLLAMA_KEEP_ALIVE_OPTION} "{keep}" in Dify\'s model parameters '
                    f"(-1 keeps it loaded); if the apps send different "
                    f"{OLLAMA_CONTEXT_OPTION}, set one"
                ),
                evidence=evidence,
                expected_effect=(
                    "the model stays loaded between requests: no reload wait (minutes for a 70B "
                    "model) in front of the next call"
                ),
                source="Ollama docs (faq: keep_alive, OLLAMA_KEEP_ALIVE); dify#8536, #19510, #4024",
                scope=f"{engine.url} {model.name}",
                focus=("latency",),
                gain=0.7,
            )


def _go_duration(seconds: float) -> str:
    """A keep_alive for at least `seconds`, in 5-minute steps: "15m", "1h", "1h20m"."""
    minutes = math.ceil(seconds / _KEEP_ALIVE_STEP_S) * _KEEP_ALIVE_STEP_S // 60
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h{rest}m" if rest else f"{hours}h"


def parallel_slots_full(s: Situation) -> Iterator[Suggestion]:
    for engine in s.engines():
        served = find(engine.engine)
        if served is None or not served.sizes_kv_per_slot:
            continue
        waiting, running = engine.requests_waiting or 0.0, engine.requests_running or 0.0
        if waiting < 1 or running < 1:
            continue  # requests wait only when every slot is busy: running is the slot count
        slots = int(running)
        gpus = [g for g in s.gpus if g.uuid in engine.gpu_uuids]
        per_token, context = _slot_sizing(engine)
        free_mib = sum(g.memory_free_mib or 0.0 for g in gpus)
        evidence: dict[str, float | int | str] = {
            "model": engine.model or served.label,
            "slots": slots,
            "requests_waiting": waiting,
            "gpu_free_gib": gib(free_mib),
        }
        effect = "waiting requests start at once instead of queueing (or timing out in Dify)"
        if per_token is not None and context:
            slot_mib = per_token * context
            more = max(math.floor((free_mib - OLLAMA_MINIMUM_MIB) / slot_mib), 0)
            evidence |= {
                "context_per_slot": context,
                "kv_gib_per_slot": gib(slot_mib),
                "more_slots_fit": more,
            }
            if more:
                change = " ".join(
                    _slot_flags(engine, slots + min(more, math.ceil(waiting)), context)
                )
                effect += f"; each slot holds {gib(slot_mib)} GiB of KV cache"
            else:
                change = f"a second {served.label} instance on a GPU with room, behind one endpoint"
                effect = "the second instance takes the queue: no slot more fits this GPU"
        else:
            wanted = slots + math.ceil(waiting)
            change = " ".join(_slot_flags(engine, wanted, context))
            if served.context_spans_sequences and not context:
                # its context option is the total the slots share: more slots alone shrink each
                total = served.flag("max_context", f"<{wanted} × the context each slot needs>")
                change += f" and {total}, which the slots share"
            change += " (check it fits with vram_check: context × slots)"
        yield Suggestion(
            id="parallel-slots-full",
            severity="warning",
            title=f"{engine.model or served.label}: all {slots} slots are busy and "
            f"{waiting:.0f} requests wait",
            change=change,
            evidence=evidence,
            expected_effect=effect,
            source="Ollama docs (faq: OLLAMA_NUM_PARALLEL); llama.cpp server README (--parallel); "
            "dify#23927",
            scope=engine.url,
            focus=("throughput", "latency"),
            gain=0.6,
        )


def _slot_sizing(engine: EngineMetrics) -> tuple[float | None, int | None]:
    """(KV MiB per token, context per slot) of the engine's model, where known."""
    loaded = engine.loaded_models or []
    if len(loaded) == 1 and loaded[0].architecture is not None:
        return gguf_kv_mib_per_token(loaded[0].architecture), loaded[0].context_length
    fit = known_fit(engine.model)
    return (fit.kv_mib_per_token if fit else None), engine.max_model_len


def _slot_flags(engine: EngineMetrics, slots: int, context: int | None) -> list[str]:
    served = find(engine.engine)
    assert served is not None
    flags = [served.flag("max_sequences", slots)]
    if served.context_spans_sequences and context:
        flags.insert(0, served.flag("max_context", context * slots))  # the total over slots
    return [f for f in flags if f]
