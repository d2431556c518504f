"""Each advice rule: fires with the right evidence, and stays silent in its negative case."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gpu_insight.advise import Situation, Suggestion, advise
from gpu_insight.advise.rules import RULES
from gpu_insight.schemas import Gpu
from tests.advise_builders import engine, fit_8b, fit_72b, h100, process, situation

L4_TOTAL_MIB = 23034.0


def fired(s: Situation, rule_id: str) -> list[Suggestion]:
    return [x for x in advise(s).suggestions if x.id == rule_id]


def l4(**fields: Any) -> Gpu:
    values: dict[str, Any] = {
        "name": "NVIDIA L4",
        "compute_capability": "8.9",
        "memory_total_mib": L4_TOTAL_MIB,
        "memory_used_mib": 534.0,
        "memory_free_mib": 22500.0,
    }
    values.update(fields)
    return h100(**values)


def test_every_rule_is_in_the_table() -> None:
    assert len(RULES) == 29


# --- serve-with-an-engine ---------------------------------------------------------------------


def test_plain_transformers_server_is_told_to_use_vllm() -> None:
    gpu = h100()
    s = situation([gpu], [process(7, gpu, "transformers", 16000.0, model="Qwen/Qwen2.5-7B")])
    [suggestion] = fired(s, "serve-with-an-engine")
    assert suggestion.change.startswith("vllm serve Qwen/Qwen2.5-7B --port 8000")
    assert suggestion.evidence["pid"] == 7 and suggestion.evidence["used_gib"] == 15.6


def test_vllm_process_needs_no_engine_advice() -> None:
    gpu = h100()
    assert fired(situation([gpu], [process(7, gpu, "vllm")]), "serve-with-an-engine") == []


def test_a_deployment_planned_on_plain_transformers_is_told_to_use_vllm() -> None:
    s = situation([h100()], planned=True, engine="transformers", model="Qwen/Qwen2.5-7B")
    [suggestion] = fired(s, "serve-with-an-engine")
    assert suggestion.title.startswith("Qwen/Qwen2.5-7B is planned on plain transformers")
    assert suggestion.change.startswith("vllm serve Qwen/Qwen2.5-7B --port 8000")


def test_a_deployment_planned_on_vllm_needs_no_engine_advice() -> None:
    s = situation([h100()], planned=True, engine="vllm", model="Qwen/Qwen2.5-7B")
    assert fired(s, "serve-with-an-engine") == []


# --- weights-do-not-fit -----------------------------------------------------------------------


def test_72b_on_one_h100_needs_int4_with_numbers() -> None:
    s = situation([h100()], fit=fit_72b(), planned=True, engine="vllm")
    [suggestion] = fired(s, "weights-do-not-fit")
    assert suggestion.severity == "critical"
    assert suggestion.evidence["weights_bf16_gib"] == 135.4
    assert suggestion.evidence["weights_int4_gib"] == 38.6  # FP8's 70.1 GiB does not fit either
    assert suggestion.evidence["engine_budget_gib"] == 71.7
    assert suggestion.evidence["kv_tokens_after"] == 97187
    assert "AWQ or GPTQ int4" in suggestion.change


def test_fp8_is_chosen_on_hopper_when_it_fits() -> None:
    fit = replace(fit_72b(), weights_mib={"bf16": 100000.0, "fp8": 50000.0, "int4": 30000.0})
    [suggestion] = fired(situation([h100()], fit=fit, planned=True), "weights-do-not-fit")
    assert suggestion.change == "--quantization fp8 (or serve an FP8 checkpoint)"


def test_ampere_gets_marlin_int4() -> None:
    s = situation([h100(compute_capability="8.0", name="A100")], fit=fit_72b(), planned=True)
    [suggestion] = fired(s, "weights-do-not-fit")
    assert "int4" in suggestion.change and "Marlin" in suggestion.expected_effect


def test_8b_fits_an_h100_without_quantization() -> None:
    assert fired(situation([h100()], fit=fit_8b(), planned=True), "weights-do-not-fit") == []


# --- kv-cache-below-context -------------------------------------------------------------------


def test_8b_with_128k_context_on_an_l4_gets_the_largest_max_model_len() -> None:
    s = situation([l4()], fit=fit_8b(), planned=True, engine="vllm")
    [suggestion] = fired(s, "kv-cache-below-context")
    assert suggestion.evidence["kv_tokens"] == 15404
    assert suggestion.evidence["max_model_len"] == 131072
    assert suggestion.change == "--max-model-len 15360 or --kv-cache-dtype fp8"


def test_sglang_gets_its_own_flags() -> None:
    s = situation([l4()], fit=fit_8b(), planned=True, engine="sglang")
    [suggestion] = fired(s, "kv-cache-below-context")
    assert suggestion.change == "--context-length 15360 or --kv-cache-dtype fp8_e4m3"


def test_h100_holds_the_full_context_of_an_8b() -> None:
    assert fired(situation([h100()], fit=fit_8b(), planned=True), "kv-cache-below-context") == []


# --- utilization-exceeds-free -----------------------------------------------------------------


def test_default_fraction_above_free_memory_gets_the_fraction_that_fits() -> None:
    gpu = h100(memory_used_mib=30000.0, memory_free_mib=51559.0)
    [suggestion] = fired(situation([gpu], planned=True), "utilization-exceeds-free")
    assert suggestion.change == "--gpu-memory-utilization 0.61"
    assert suggestion.evidence["requested_gib"] == 71.7
    assert suggestion.evidence["free_gib"] == 50.4


def test_fraction_is_not_suggested_when_the_model_cannot_fit_what_is_free() -> None:
    gpu = h100(memory_used_mib=70000.0, memory_free_mib=11559.0)
    s = situation([gpu], fit=fit_72b(), planned=True)
    assert fired(s, "utilization-exceeds-free") == []
    assert fired(s, "weights-do-not-fit") != []


def test_running_engines_are_not_told_about_startup_fractions() -> None:
    gpu = h100(memory_used_mib=30000.0, memory_free_mib=51559.0)
    assert fired(situation([gpu], planned=False), "utilization-exceeds-free") == []


def test_enough_free_memory_for_the_default_fraction() -> None:
    assert fired(situation([h100()], planned=True), "utilization-exceeds-free") == []


# --- parallelism --------------------------------------------------------------------------------


def test_72b_over_two_nvlinked_h100s_is_tensor_parallel() -> None:
    gpus = [h100(0, nvlink_active=True), h100(1, nvlink_active=True)]
    [suggestion] = fired(situation(gpus, fit=fit_72b(), planned=True), "tensor-parallel")
    assert suggestion.change == "--tensor-parallel-size 2"
    assert suggestion.evidence["per_gpu_gib"] == 71.1


def test_without_nvlink_it_is_pipeline_parallel() -> None:
    gpus = [h100(0, nvlink_active=False), h100(1, nvlink_active=False)]
    [suggestion] = fired(situation(gpus, fit=fit_72b(), planned=True), "pipeline-parallel")
    assert suggestion.change == "--pipeline-parallel-size 2"
    assert suggestion.evidence["nvlink"] == "no or unknown"


def test_model_that_fits_one_gpu_gets_replicas_not_tensor_parallel() -> None:
    s = situation([h100(0), h100(1)], fit=fit_8b(), planned=True, engine="vllm")
    assert fired(s, "tensor-parallel") == []
    [suggestion] = fired(s, "data-parallel-replicas")
    assert suggestion.change == "--data-parallel-size 2"


def test_one_gpu_gets_no_parallelism_advice() -> None:
    s = situation([h100()], fit=fit_72b(), planned=True)
    assert [x for x in advise(s).suggestions if "parallel" in x.id] == []


# --- kv-cache-pressure ------------------------------------------------------------------------


def test_preempting_engine_gets_more_kv_with_the_numbers() -> None:
    gpu = h100(memory_free_mib=40000.0)
    metrics = engine(
        gpu,
        preemptions_per_s=0.5,
        kv_cache_usage_ratio=0.99,
        requests_waiting=7.0,
        requests_running=48.0,
        gpu_memory_utilization=0.5,
    )
    [suggestion] = fired(situation([gpu], engines=[metrics]), "kv-cache-pressure")
    assert suggestion.severity == "critical"
    assert suggestion.change == (
        "--gpu-memory-utilization 0.95 or --kv-cache-dtype fp8 or --max-num-seqs 36"
    )
    assert suggestion.evidence["preemptions_per_s"] == 0.5
    assert suggestion.evidence["kv_cache_usage_ratio"] == 0.99


def test_full_kv_with_a_queue_but_no_preemption_is_a_warning() -> None:
    gpu = h100(memory_free_mib=500.0)
    metrics = engine(gpu, preemptions_per_s=0.0, kv_cache_usage_ratio=0.97, requests_waiting=3.0)
    [suggestion] = fired(situation([gpu], engines=[metrics]), "kv-cache-pressure")
    assert suggestion.severity == "warning"
    assert suggestion.change == "--kv-cache-dtype fp8"  # no free memory to raise the fraction


def test_relaxed_kv_cache_is_silent() -> None:
    gpu = h100()
    metrics = engine(gpu, preemptions_per_s=0.0, kv_cache_usage_ratio=0.5, requests_waiting=0.0)
    assert fired(situation([gpu], engines=[metrics]), "kv-cache-pressure") == []


# --- shared-gpu -------------------------------------------------------------------------------


def test_two_vllms_whose_fractions_exceed_the_gpu() -> None:
    gpu = h100()
    processes = [process(1, gpu, port=8000, model="a"), process(2, gpu, port=8001, model="b")]
    engines = [
        engine(gpu, port=8000, gpu_memory_utilization=0.6),
        engine(gpu, port=8001, gpu_memory_utilization=0.5),
    ]
    [suggestion] = fired(situation([gpu], processes, engines), "shared-gpu")
    assert suggestion.severity == "warning"
    assert suggestion.evidence["fractions_sum"] == 1.1
    assert suggestion.change.startswith("--gpu-memory-utilization 0.47 on each")


def test_two_vllms_within_the_gpu_are_fine() -> None:
    gpu = h100()
    processes = [process(1, gpu, port=8000), process(2, gpu, port=8001)]
    engines = [
        engine(gpu, port=8000, gpu_memory_utilization=0.45),
        engine(gpu, port=8001, gpu_memory_utilization=0.45),
    ]
    assert fired(situation([gpu], processes, engines), "shared-gpu") == []


# --- busy-but-slow / starved-while-waiting --------------------------------------------------


def test_busy_gpu_with_few_tokens_per_request() -> None:
    gpu = h100(utilization_percent=99.0)
    metrics = engine(gpu, requests_running=32.0, generation_tokens_per_s=64.0)
    [suggestion] = fired(situation([gpu], engines=[metrics]), "busy-but-slow")
    assert suggestion.evidence["generation_tokens_per_s"] == 64.0
    assert suggestion.evidence["requests_running"] == 32.0


def test_busy_gpu_with_healthy_token_rate() -> None:
    gpu = h100(utilization_percent=99.0)
    metrics = engine(gpu, requests_running=32.0, generation_tokens_per_s=1600.0)
    assert fired(situation([gpu], engines=[metrics]), "busy-but-slow") == []


def test_requests_waiting_on_an_idle_gpu() -> None:
    gpu = h100(utilization_percent=10.0)
    metrics = engine(gpu, requests_waiting=12.0, requests_running=4.0, kv_cache_usage_ratio=0.3)
    [suggestion] = fired(situation([gpu], engines=[metrics]), "starved-while-waiting")
    assert suggestion.change == "--max-num-seqs 16 or --api-server-count 2"


def test_waiting_because_kv_is_full_is_left_to_the_kv_rule() -> None:
    gpu = h100(utilization_percent=10.0)
    metrics = engine(gpu, requests_waiting=12.0, kv_cache_usage_ratio=0.95)
    assert fired(situation([gpu], engines=[metrics]), "starved-while-waiting") == []


# --- idle-gpu-holding-memory / memory-near-full ---------------------------------------------


def test_idle_gpu_holding_memory() -> None:
    gpu = h100(utilization_percent=0.0, memory_used_mib=60000.0, memory_free_mib=21559.0)
    processes = [process(9, gpu, used_mib=59000.0, model="big")]
    metrics = engine(gpu, requests_per_s=0.0, requests_running=0.0)
    [suggestion] = fired(situation([gpu], processes, [metrics]), "idle-gpu-holding-memory")
    assert suggestion.evidence["used_gib"] == 58.6
    assert suggestion.evidence["held_by"] == "big (57.6 GiB)"


def test_idle_gpu_with_traffic_is_not_idle() -> None:
    gpu = h100(utilization_percent=0.0, memory_used_mib=60000.0)
    metrics = engine(gpu, requests_per_s=2.0)
    assert fired(situation([gpu], engines=[metrics]), "idle-gpu-holding-memory") == []


def test_full_gpu_without_preallocating_engine_suggests_the_roomiest_gpu() -> None:
    full = h100(0, memory_used_mib=79000.0, memory_free_mib=2559.0)
    roomy = h100(1)
    processes = [process(3, full, "transformers", 78000.0)]
    [suggestion] = fired(situation([full, roomy], processes), "memory-near-full")
    assert suggestion.change.startswith("move the largest process to GPU 1 (78.7 GiB free)")


def test_full_gpu_held_by_vllm_is_its_preallocation() -> None:
    full = h100(0, memory_used_mib=79000.0, memory_free_mib=2559.0)
    assert fired(situation([full], [process(3, full, "vllm")]), "memory-near-full") == []


# --- throttling / errors ----------------------------------------------------------------------


def test_thermal_slowdown_is_critical() -> None:
    gpu = h100(
        clock_event_reasons=["sw_power_cap", "hw_thermal_slowdown"], temperature_celsius=84.0
    )
    [suggestion] = fired(situation([gpu]), "thermal-or-power-throttling")
    assert suggestion.severity == "critical"
    assert suggestion.evidence["clock_event_reasons"] == "hw_thermal_slowdown"


def test_temperature_near_slowdown_fires_without_a_reason_bit() -> None:
    [suggestion] = fired(situation([h100(temperature_celsius=86.0)]), "thermal-or-power-throttling")
    assert suggestion.evidence["temperature_celsius"] == 86.0


def test_software_power_cap_alone_is_normal() -> None:
    gpu = h100(clock_event_reasons=["sw_power_cap"], temperature_celsius=71.0)
    assert fired(situation([gpu]), "thermal-or-power-throttling") == []


def test_xid_errors_are_critical() -> None:
    [suggestion] = fired(situation([h100(xid_errors=2)]), "gpu-errors")
    assert suggestion.severity == "critical" and suggestion.evidence["xid_errors"] == 2


def test_healthy_gpu_has_no_error_advice() -> None:
    gpu = h100(xid_errors=0, ecc_uncorrected_volatile=0)
    assert fired(situation([gpu]), "gpu-errors") == []
