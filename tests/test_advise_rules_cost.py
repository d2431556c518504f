"""The cost rules over the usage books: each fires with its window, price, book rows and saving
per month, says which setting it needs without a price, and stays silent in its neighbour case."""

from __future__ import annotations

import pytest

from gpu_insight.advise import Situation, Suggestion, advise
from gpu_insight.advise.costs import Prices
from gpu_insight.schemas import GpuUsage, UsageReport
from tests.advise_builders import (
    PRICES,
    books,
    fired,
    gpu_books,
    h100,
    holder,
    situation,
)

NO_PRICE = Prices()


def fired_cost(s: Situation, rule_id: str) -> list[Suggestion]:
    return fired(s, rule_id, focus="cost")


def costed(usage: UsageReport, prices: Prices = PRICES, gpu_count: int = 1) -> Situation:
    return situation([h100(i) for i in range(gpu_count)], usage=usage, prices=prices)


def half_idle_h100() -> GpuUsage:
    """One H100 watched for an hour: a vLLM 7B held it idle for 30 minutes."""
    return gpu_books(
        h100(),
        [
            holder(
                "support-bot",
                "Qwen/Qwen2.5-7B-Instruct",
                "vllm",
                72.0,
                busy_s=1500.0,
                idle_s=1800.0,
            )
        ],
    )


# --- idle-but-held-cost -----------------------------------------------------------------------


def test_an_app_holding_an_idle_gpu_is_priced_per_day_and_month() -> None:
    [suggestion] = fired_cost(costed(books([half_idle_h100()])), "idle-but-held-cost")
    assert suggestion.title == (
        "support-bot (team support-bot-team) held 1 GPU(s) idle for 0.5 GPU-hours of 1.0 "
        "watched: 912.50 per month"
    )
    evidence = suggestion.evidence
    assert evidence["window"] == "2023-11-14 21:14 to 2023-11-14 22:14 UTC"
    assert (evidence["price_per_gpu_hour"], evidence["price_from"]) == (2.5, "gpu_prices H100")
    assert evidence["book_rows"] == (
        "GPU-0/support-bot/support-bot-team/support-bot-container/Qwen/Qwen2.5-7B-Instruct"
    )
    assert (evidence["cost_in_window"], evidence["cost_per_day"]) == (1.25, 30.0)
    assert suggestion.saving_per_month == 912.5
    assert suggestion.change.startswith("stop the engine in the hours it sits idle")


def test_without_a_price_the_idle_time_is_reported_and_the_setting_named() -> None:
    [suggestion] = fired_cost(costed(books([half_idle_h100()]), NO_PRICE), "idle-but-held-cost")
    assert suggestion.saving_per_month is None
    assert "cost_per_month" not in suggestion.evidence
    assert "set price_per_gpu_hour (and gpu_prices per GPU type" in suggestion.change


def test_an_ollama_model_held_idle_is_unloaded_sooner() -> None:
    gpu = gpu_books(h100(), [holder("chat", "llama3.1:8b", "ollama", 6.2, idle_s=2000.0)])
    [suggestion] = fired_cost(costed(books([gpu])), "idle-but-held-cost")
    assert suggestion.change == "unload sooner: OLLAMA_KEEP_ALIVE=5m"


def test_a_gpu_held_and_busy_costs_nothing_idle() -> None:
    busy = gpu_books(
        h100(), [holder("support-bot", "Qwen/Qwen2.5-7B-Instruct", "vllm", 72.0, idle_s=100.0)]
    )
    assert fired_cost(costed(books([busy])), "idle-but-held-cost") == []


def test_less_than_a_minute_of_books_is_not_extrapolated() -> None:
    short = half_idle_h100().model_copy(update={"observed_seconds": 30.0})
    assert fired_cost(costed(books([short])), "idle-but-held-cost") == []


# --- right-size-gpu ---------------------------------------------------------------------------


def small_models_on_an_h100() -> GpuUsage:
    """The replay trace's H100: vLLM reserving 27.8 GiB for Qwen2.5-1.5B beside TinyLlama on
    plain transformers (3.0 GiB at its peak)."""
    return gpu_books(
        h100(),
        [
            holder("support-bot", "Qwen/Qwen2.5-1.5B-Instruct", "vllm", 27.8, busy_s=1800.0),
            holder("nightly-eval", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "transformers", 3.0),
        ],
        peak_percent=100.0,
    )


def test_an_h100_holding_small_models_moves_to_the_cheapest_type_that_holds_them() -> None:
    [suggestion] = fired_cost(costed(books([small_models_on_an_h100()])), "right-size-gpu")
    evidence = suggestion.evidence
    # (6.7 GiB estimated for vLLM, its CUDA context included, + 3.0 observed) × 1.1
    assert evidence["need_gib"] == 10.7
    assert evidence["needs"] == (
        "support-bot Qwen/Qwen2.5-1.5B-Instruct 6.7 GiB (estimator, vllm); nightly-eval "
        "TinyLlama/TinyLlama-1.1B-Chat-v1.0 3.0 GiB (observed peak)"
    )
    assert (evidence["smaller_gpu"], evidence["smaller_gpu_price_per_gpu_hour"]) == (
        "NVIDIA L4 24GB",
        0.6,
    )
    assert suggestion.saving_per_month == 1387.0  # (2.5 − 0.6) × 730 h
    assert suggestion.change == (
        "move them to an NVIDIA L4 24GB (22.0 GiB, 0.6 per GPU-hour) with "
        "--gpu-memory-utilization 0.31"
    )
    assert "check latency on the smaller GPU" in suggestion.expected_effect  # 100 % at peak


def test_without_a_price_table_the_smaller_gpu_is_named_and_the_setting_asked_for() -> None:
    s = costed(books([small_models_on_an_h100()]), Prices(per_gpu_hour=2.0))
    [suggestion] = fired_cost(s, "right-size-gpu")
    assert suggestion.saving_per_month is None
    assert suggestion.evidence["smaller_gpu"] == "NVIDIA T4 16GB"
    assert "set price_per_gpu_hour (and gpu_prices per GPU type" in suggestion.change


def test_a_gpu_its_model_needs_whole_is_the_right_size() -> None:
    big = gpu_books(h100(), [holder("chat", "Qwen/Qwen2.5-72B-Instruct", "vllm", 75.0)])
    assert fired_cost(costed(books([big])), "right-size-gpu") == []


# --- consolidate-gpus -------------------------------------------------------------------------


def two_half_empty_h100s(busy_s: float) -> UsageReport:
    return books(
        [
            gpu_books(
                h100(0),
                [holder("support-bot", "Qwen/Qwen2.5-7B-Instruct", "vllm", 72.0, busy_s=busy_s)],
            ),
            gpu_books(h100(1), [holder("chat", "llama3.1:8b", "ollama", 7.0, busy_s=busy_s / 3)]),
        ]
    )


def test_models_of_two_gpus_that_fit_one_free_a_gpu() -> None:
    [suggestion] = fired_cost(costed(two_half_empty_h100s(1080.0), gpu_count=2), "consolidate-gpus")
    assert suggestion.title == (
        "gpu-host: the models on 2 GPUs fit on 1: 1 GPU(s) freed, 1,825.00 per month"
    )
    assert suggestion.change == (
        "restart support-bot on GPU 0 (NVIDIA H100 80GB HBM3) with --gpu-memory-utilization "
        "0.23; move chat (7.0 GiB, observed peak) from GPU 1 (NVIDIA H100 80GB HBM3) to GPU 0 "
        "(NVIDIA H100 80GB HBM3)"
    )  # vLLM reserved 72 GiB of GPU 0: it shrinks to its 18.3 GiB to make room
    assert suggestion.evidence["needs"] == (
        "support-bot 18.3 GiB (estimator, vllm); chat 7.0 GiB (observed peak)"
    )
    assert suggestion.saving_per_month == 1825.0  # one H100 at 2.5 × 730 h


def test_gpus_too_busy_to_share_are_not_consolidated() -> None:
    s = costed(two_half_empty_h100s(2700.0), gpu_count=2)  # 75 % and 25 % busy
    assert fired_cost(s, "consolidate-gpus") == []


@pytest.mark.parametrize("focus", [None, "latency"])
def test_cost_rules_need_the_books_which_only_focus_cost_reads(focus: str | None) -> None:
    s = costed(books([half_idle_h100()]))
    ids = {x.id for x in advise(s, focus=focus).suggestions}  # type: ignore[arg-type]
    assert ("idle-but-held-cost" in ids) is (focus is None)


def test_cost_findings_rank_by_their_saving() -> None:
    second = small_models_on_an_h100().model_copy(update={"gpu_uuid": "GPU-1"})
    found = advise(costed(books([half_idle_h100(), second]), gpu_count=2), focus="cost")
    savings = [x.saving_per_month for x in found.suggestions]
    assert savings == [1387.0, 1387.0, 912.5]  # two right-sizings, then the idle hours
    assert found.top_saving_per_month == 1387.0
