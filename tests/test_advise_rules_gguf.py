"""The Ollama and llama.cpp rules, on scenarios built from the engines' own answers: each fires
with its numbers, and stays silent in its healthy neighbour case."""

from __future__ import annotations

from gpu_insight.advise import Situation
from gpu_insight.collector.engines.readings import parse_llama_cpp
from gpu_insight.schemas import EngineMetrics, ModelEvent
from tests.advise_builders import (
    fired,
    fixture_text,
    h100,
    ollama,
    ollama_models,
    process,
    situation,
)

L40S_TOTAL_MIB = 46068.0
MIB = 2**20


def crowded_l40s(unusable_mib: float = 500.0) -> Situation:
    """An L40S with Ollama's two models and a vLLM embedding server: Qwen2.5-32B at 32k
    context had 4.1 GiB left over and runs that part on the CPU; `unusable_mib` of the rest is
    the driver's."""
    qwen, llama = ollama_models()
    held = qwen.vram_mib + llama.vram_mib + 16000.0
    gpu = h100(
        name="NVIDIA L40S",
        compute_capability="8.9",
        memory_total_mib=L40S_TOTAL_MIB,
        memory_used_mib=held,
        memory_free_mib=L40S_TOTAL_MIB - held - unusable_mib,
        utilization_percent=70.0,
    )
    processes = [
        process(11, gpu, "ollama", qwen.vram_mib + llama.vram_mib),
        process(12, gpu, "vllm", 16000.0, model="BAAI/bge-m3", port=8001),
    ]
    return situation([gpu], processes, [ollama(gpu, [qwen, llama], pids=[11])])


# --- ollama-cpu-offload -----------------------------------------------------------------------


def test_a_model_partly_on_the_cpu_gets_a_context_a_quantization_and_a_process_that_fit() -> None:
    [suggestion] = fired(crowded_l40s(), "ollama-cpu-offload")
    assert suggestion.title == (
        "qwen2.5:32b runs 16% on the CPU: 4.1 of its 25.1 GiB did not fit GPU memory"
    )
    assert (suggestion.evidence["gpu_free_gib"], suggestion.evidence["missing_gib"]) == (1.7, 2.9)
    assert suggestion.evidence["kv_cache_gib"] == 8.0  # 32768 tokens × 256 KiB (64 layers)
    assert suggestion.evidence["context_that_fits"] == 20480
    assert suggestion.change == (
        "num_ctx 20480 in Dify's model parameters (or OLLAMA_CONTEXT_LENGTH=20480) or free "
        "GPU 0 of pid 12 (BAAI/bge-m3, 15.6 GiB)"
    )


def test_a_smaller_quantization_is_offered_when_it_saves_what_is_missing() -> None:
    [suggestion] = fired(crowded_l40s(unusable_mib=0.0), "ollama-cpu-offload")
    assert suggestion.evidence["missing_gib"] == 2.4
    assert (
        suggestion.evidence["weights_q4_k_m_gib"],
        suggestion.evidence["weights_iq4_xs_gib"],
    ) == (
        18.7,
        16.2,
    )
    assert "the IQ4_XS tag of qwen2.5:32b instead of Q4_K_M" in suggestion.change


def test_a_model_that_fits_now_is_told_to_reload() -> None:
    roomy = crowded_l40s()
    gpu = roomy.gpus[0].model_copy(update={"memory_free_mib": 12000.0})
    s = situation([gpu], roomy.snapshot.processes, roomy.snapshot.engines)
    [suggestion] = fired(s, "ollama-cpu-offload")
    assert suggestion.change.startswith("reload it (`ollama stop qwen2.5:32b`")


def test_a_model_wholly_on_the_gpu_is_not_offloaded() -> None:
    _, llama = ollama_models()
    gpu = h100()
    assert fired(situation([gpu], engines=[ollama(gpu, [llama])]), "ollama-cpu-offload") == []


# --- ollama-duplicate-model -------------------------------------------------------------------


def test_one_model_on_two_servers_with_two_contexts_is_loaded_twice() -> None:
    _, llama = ollama_models()
    gpu = h100()
    long = llama.model_copy(update={"context_length": 32768, "size_mib": 10442.0})
    engines = [ollama(gpu, [llama], port=11434), ollama(gpu, [long], port=11435)]
    [suggestion] = fired(situation([gpu], engines=engines), "ollama-duplicate-model")
    assert suggestion.title == (
        "llama3.1:8b is loaded 2 times with contexts 4096 and 32768: 6.2 GiB hold a second copy"
    )
    assert suggestion.change == (
        "set num_ctx 32768 in every Dify app using it and in the Ollama model provider (or pin "
        "it: OLLAMA_CONTEXT_LENGTH=32768); send every app to one Ollama server"
    )
    assert suggestion.evidence["frees_gib"] == 6.2


def test_two_different_models_are_no_duplicate() -> None:
    qwen, llama = ollama_models()
    gpu = h100()
    engines = [ollama(gpu, [qwen], port=11434), ollama(gpu, [llama], port=11435)]
    assert fired(situation([gpu], engines=engines), "ollama-duplicate-model") == []


# --- ollama-reload-churn ----------------------------------------------------------------------


def churning(loads: int) -> Situation:
    """llama3.1:8b unloaded 7 minutes after each load and asked for again 8 minutes later."""
    _, llama = ollama_models()
    events, t = [], 0.0
    for n in range(loads):
        events.append(ModelEvent(t=t, model=llama.name, event="load"))
        if n < loads - 1:
            events.append(ModelEvent(t=t + 420.0, model=llama.name, event="unload"))
        t += 900.0
    model = llama.model_copy(update={"loads_last_hour": loads, "loaded_at": t - 900.0})
    gpu = h100()
    return situation([gpu], engines=[ollama(gpu, [model], model_events=events)])


def test_a_model_loaded_four_times_an_hour_gets_a_keep_alive_that_spans_the_gaps() -> None:
    [suggestion] = fired(churning(4), "ollama-reload-churn")
    assert suggestion.title == (
        "llama3.1:8b was loaded 4 times in the last hour: each time its 6.2 GiB were read again"
    )
    assert suggestion.change.startswith("OLLAMA_KEEP_ALIVE=15m on the Ollama server, or keep_alive")
    assert suggestion.evidence["longest_request_gap_min"] == 15.0
    assert suggestion.evidence["reloaded_gib_last_hour"] == 24.8


def test_a_model_loaded_once_is_not_churning() -> None:
    assert fired(churning(1), "ollama-reload-churn") == []


# --- parallel-slots-full ----------------------------------------------------------------------


def llama_server(
    free_mib: float,
    deferred: bool = True,
    model: str = "Qwen/Qwen2.5-7B-Instruct",
    max_model_len: int | None = 4096,
) -> Situation:
    """llama-server's own /metrics: 4 slots busy, 3 requests deferred."""
    reading = parse_llama_cpp(fixture_text("llama_cpp.txt"))
    gpu = h100(memory_free_mib=free_mib)
    engine = EngineMetrics(
        engine="llama.cpp",
        url="http://127.0.0.1:8080/metrics",
        up=True,
        gpu_uuids=[gpu.uuid],
        model=model,
        max_model_len=max_model_len,
        requests_running=reading.requests_running,
        requests_waiting=reading.requests_waiting if deferred else 0.0,
    )
    return situation([gpu], engines=[engine])


def test_waiting_requests_with_room_get_the_slots_that_fit() -> None:
    [suggestion] = fired(llama_server(free_mib=10240.0), "parallel-slots-full")
    assert suggestion.title == "Qwen/Qwen2.5-7B-Instruct: all 4 slots are busy and 3 requests wait"
    assert suggestion.change == "--ctx-size 28672 --parallel 7"  # 4096 per slot × 7 slots
    assert suggestion.evidence["kv_gib_per_slot"] == 0.2  # 4096 × 56 KiB (Qwen2.5-7B)


def test_waiting_requests_without_room_get_a_second_instance() -> None:
    [suggestion] = fired(llama_server(free_mib=500.0), "parallel-slots-full")
    assert suggestion.change.startswith("a second llama.cpp instance")


def test_more_slots_of_an_unknown_context_raise_the_shared_total_too() -> None:
    # a real llama-server names its model by the -m path, and its /metrics has no context
    situation = llama_server(free_mib=10240.0, model="/models/x-Q4_K_M.gguf", max_model_len=None)
    [suggestion] = fired(situation, "parallel-slots-full")
    assert suggestion.change.startswith(
        "--parallel 7 and --ctx-size <7 × the context each slot needs>, which the slots share"
    )


def test_busy_slots_with_nothing_waiting_are_fine() -> None:
    assert fired(llama_server(free_mib=10240.0, deferred=False), "parallel-slots-full") == []
