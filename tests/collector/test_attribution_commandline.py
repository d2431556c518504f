"""Command lines of each serving engine → engine, model, port; display form hides secrets."""

from __future__ import annotations

import pytest

from gpu_insight.collector.attribution.commandline import (
    EngineGuess,
    default_port,
    detect_engine,
    display_cmdline,
)
from gpu_insight.schemas import Engine


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            [
                "/usr/bin/python3",
                "/usr/local/bin/vllm",
                "serve",
                "Qwen/Qwen2.5-7B-Instruct",
                "--port",
                "8001",
                "--gpu-memory-utilization",
                "0.5",
            ],
            EngineGuess("vllm", "Qwen/Qwen2.5-7B-Instruct", 8001),
            id="vllm-serve-console-script",
        ),
        pytest.param(
            ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct"],
            EngineGuess("vllm", "meta-llama/Llama-3.1-8B-Instruct", None),
            id="vllm-serve-default-port",
        ),
        pytest.param(
            [
                "python3",
                "-m",
                "vllm.entrypoints.openai.api_server",
                "--model",
                "mistralai/Mistral-7B-Instruct-v0.3",
                "--port=9000",
            ],
            EngineGuess("vllm", "mistralai/Mistral-7B-Instruct-v0.3", 9000),
            id="vllm-api-server-module",
        ),
        pytest.param(
            [
                "python3",
                "-m",
                "vllm.entrypoints.openai.api_server",
                "--model",
                "/models/Llama-3.1-8B",
                "--served-model-name",
                "meta-llama/Llama-3.1-8B-Instruct",
            ],
            EngineGuess(
                "vllm", "meta-llama/Llama-3.1-8B-Instruct", model_path="/models/Llama-3.1-8B"
            ),
            id="vllm-served-name-wins-over-the-path",
        ),
        pytest.param(["VLLM::EngineCore"], EngineGuess("vllm", is_worker=True), id="vllm-worker"),
        pytest.param(
            [
                "python",
                "-m",
                "sglang.launch_server",
                "--model-path",
                "Qwen/Qwen2.5-14B-Instruct",
                "--port",
                "30001",
                "--tp",
                "2",
            ],
            EngineGuess("sglang", "Qwen/Qwen2.5-14B-Instruct", 30001),
            id="sglang-launch-server",
        ),
        pytest.param(
            ["sglang", "serve", "--model-path", "/models/llama"],
            EngineGuess("sglang", "/models/llama", None),
            id="sglang-serve",
        ),
        pytest.param(
            ["sglang::scheduler"], EngineGuess("sglang", is_worker=True), id="sglang-worker"
        ),
        pytest.param(
            [
                "text-generation-launcher",
                "--model-id",
                "HuggingFaceH4/zephyr-7b-beta",
                "--port",
                "8080",
                "--json-output",
            ],
            EngineGuess("tgi", "HuggingFaceH4/zephyr-7b-beta", 8080),
            id="tgi-launcher",
        ),
        pytest.param(
            [
                "/opt/conda/bin/python3.11",
                "/opt/conda/bin/text-generation-server",
                "serve",
                "HuggingFaceH4/zephyr-7b-beta",
                "--uds-path",
                "/tmp/text-generation-server",
            ],
            EngineGuess("tgi", "HuggingFaceH4/zephyr-7b-beta", None, is_worker=True),
            id="tgi-shard",
        ),
        pytest.param(["/usr/bin/ollama", "serve"], EngineGuess("ollama"), id="ollama-serve"),
        pytest.param(
            [
                "/usr/bin/ollama",
                "runner",
                "--model",
                "/root/.ollama/models/blobs/sha256-ab",
                "--port",
                "40123",
            ],
            EngineGuess("ollama", is_worker=True),
            id="ollama-runner",
        ),
        pytest.param(
            [
                "./llama-server",
                "-m",
                "models/qwen2.5-7b-instruct-q4_k_m.gguf",
                "--port",
                "8081",
                "-ngl",
                "99",
            ],
            EngineGuess("llama.cpp", "models/qwen2.5-7b-instruct-q4_k_m.gguf", 8081),
            id="llama-server",
        ),
        pytest.param(
            ["llama-server", "-hf", "ggml-org/gemma-3-1b-it-GGUF"],
            EngineGuess("llama.cpp", "ggml-org/gemma-3-1b-it-GGUF", None),
            id="llama-server-hf-repo",
        ),
        pytest.param(
            ["python", "serve_chat.py", "--model_name_or_path", "Qwen/Qwen2.5-0.5B-Instruct"],
            EngineGuess("transformers", "Qwen/Qwen2.5-0.5B-Instruct"),
            id="python-script-with-hf-model-option",
        ),
        pytest.param(
            ["python3", "-u", "generate.py", "meta-llama/Llama-3.2-1B"],
            EngineGuess("transformers", "meta-llama/Llama-3.2-1B"),
            id="python-script-with-hf-model-argument",
        ),
        pytest.param(
            ["python", "/opt/app/transformers_worker.py"],
            EngineGuess("transformers"),
            id="python-script-naming-transformers",
        ),
        pytest.param(
            ["transformers", "serve", "--port", "8000"],
            EngineGuess("transformers", None, 8000),
            id="transformers-serve",
        ),
    ],
)
def test_engine_model_and_port_are_read_from_the_command_line(
    argv: list[str], expected: EngineGuess
) -> None:
    assert detect_engine(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["python", "train.py", "--config", "configs/run.yaml"], id="plain-python"),
        pytest.param(["python", "scripts/eval.py"], id="path-is-not-a-model-id"),
        pytest.param(["/usr/bin/Xorg", ":0"], id="graphics"),
        pytest.param([], id="kernel-thread-or-zombie"),
    ],
)
def test_other_processes_are_unknown(argv: list[str]) -> None:
    assert detect_engine(argv).engine == "unknown"


@pytest.mark.parametrize(
    ("engine", "in_container", "port"),
    [
        ("vllm", False, 8000),
        ("sglang", False, 30000),
        ("tgi", False, 3000),
        ("tgi", True, 80),
        ("ollama", True, 11434),
        ("llama.cpp", False, 8080),
        ("transformers", False, None),
        ("unknown", False, None),
    ],
)
def test_engines_default_ports(engine: Engine, in_container: bool, port: int | None) -> None:
    assert default_port(engine, in_container) == port


def test_display_cmdline_masks_secret_option_values() -> None:
    argv = [
        "vllm",
        "serve",
        "m/x",
        "--api-key",
        "sk-live-123",
        "--hf-token=hf_abc",
        "--max-num-batched-tokens",
        "8192",
    ]
    shown = display_cmdline(argv)
    assert "sk-live-123" not in shown and "hf_abc" not in shown
    assert shown == ("vllm serve m/x --api-key *** --hf-token=*** --max-num-batched-tokens 8192")


def test_display_cmdline_is_truncated() -> None:
    shown = display_cmdline(["python", "x" * 5000])
    assert len(shown) == 1024 and shown.endswith("…")
