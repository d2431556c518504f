"""Models read from a Hub-shaped server on loopback: exact weights from safetensors and GGUF
headers (never their data), the CDN redirect, gated repositories, caching, and one sentence
for each way a hub or mirror fails."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gpu_insight.answers.models import ModelCache, resolve_model
from gpu_insight.errors import InputError, UnknownModelError
from gpu_insight.estimate import VramRequest, estimate
from gpu_insight.estimate.catalog import lookup
from gpu_insight.estimate.resolve import ResolvedModel
from gpu_insight.estimate.weights import weight_bytes
from gpu_insight.sources import hub
from gpu_insight.sources.hub import HubClient, parse_reference
from gpu_insight.sources.settings import HubSettings
from tests.support.checkpoints import (
    VirtualFile,
    awq_tensors,
    decoder_tensors,
    gguf_file,
    gguf_tensor_bytes,
    qwen2_gguf,
    shard_names,
    tensor_bytes,
)
from tests.support.hub_server import HubServer, Repo, sharded_repo

QWEN_7B = dict(lookup("qwen2.5:7b").config)
LLAMA_70B_AWQ = {
    **lookup("meta-llama/Llama-3.1-70B-Instruct").config,
    "torch_dtype": "float16",
    "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"},
}
GATED_TOKEN = "hf_the-right-token-0123456789"
GGUF_VOCAB = 152064


def single_file_repo(header: bytes) -> Repo:
    files: dict[str, bytes | VirtualFile] = {
        "config.json": json.dumps(QWEN_7B).encode(),
        "model.safetensors": VirtualFile(header, 10**9),
    }
    return Repo(files)


@pytest.fixture(scope="module")
def hub_server() -> Iterator[HubServer]:
    gguf_metadata, gguf_tensors = qwen2_gguf(QWEN_7B, GGUF_VOCAB)
    with HubServer() as server:
        server.repos = {
            "acme/qwen2.5-7b-support": sharded_repo(QWEN_7B, decoder_tensors(QWEN_7B), 4),
            "acme/llama-3.1-70b-awq": sharded_repo(LLAMA_70B_AWQ, awq_tensors(LLAMA_70B_AWQ), 9),
            "acme/gated": Repo(
                sharded_repo(QWEN_7B, decoder_tensors(QWEN_7B), 2).files, GATED_TOKEN
            ),
            "acme/qwen2.5-7b-gguf": Repo(
                {
                    "README.md": b"# GGUF",
                    "qwen2.5-7b-instruct-Q4_K_M.gguf": gguf_file(gguf_metadata, gguf_tensors),
                }
            ),
            "acme/huge-header": single_file_repo((200_000_000).to_bytes(8, "little")),
            "acme/malformed-header": single_file_repo((12).to_bytes(8, "little") + b"{not json}  "),
        }
        yield server


@pytest.fixture
def served(hub_server: HubServer) -> HubServer:
    hub_server.reset_counts()
    return hub_server


def resolve(
    server_url: str,
    model: str,
    token: str | None = None,
    cache: ModelCache | None = None,
    client: Any = HubClient,
    **request: Any,
) -> ResolvedModel:
    settings = {"hf_endpoint": server_url, "hf_token": token}
    return resolve_model(
        VramRequest(model=model, **request), settings, cache or ModelCache(), client
    )


def test_the_weights_are_the_sum_of_the_tensors_in_the_safetensors_headers(
    served: HubServer,
) -> None:
    model = resolve(served.url, "acme/qwen2.5-7b-support")
    assert model.source == "hub" and model.checkpoint is not None
    assert model.checkpoint.total_bytes == tensor_bytes(decoder_tensors(QWEN_7B))
    assert model.checkpoint.files == 4 and model.checkpoint.format == "bf16"
    commit = served.repos["acme/qwen2.5-7b-support"].commit
    assert model.reference == f"{served.url}/acme/qwen2.5-7b-support at {commit}"
    # the architecture formula agrees with the checkpoint to the byte for this layout
    assert weight_bytes(model.spec, "bf16").total_bytes == model.checkpoint.total_bytes


def test_only_the_headers_are_read_by_range_from_the_cdn(served: HubServer) -> None:
    resolve(served.url, "acme/qwen2.5-7b-support")
    assert served.served.data_ranges == []
    per_shard: dict[str, list[tuple[int, int]]] = {name: [] for name in shard_names(4)}
    for file, start, end in served.served.cdn_ranges:
        per_shard[file].append((start, end))
    for ranges in per_shard.values():
        (first, header) = sorted(ranges)
        assert first == (0, 7) and header[0] == 8  # the length, then exactly the JSON


def test_packed_int4_awq_tensors_are_counted_as_stored(served: HubServer) -> None:
    model = resolve(served.url, "acme/llama-3.1-70b-awq")
    assert model.checkpoint is not None and model.checkpoint.format == "awq"
    assert model.checkpoint.bytes_by_dtype.keys() == {"I32", "F16"}
    assert model.checkpoint.total_bytes == tensor_bytes(awq_tensors(LLAMA_70B_AWQ))
    # AutoAWQ's layout is what the AWQ formula assumes: 4 bits + fp16 scale + 4-bit zero / 128
    assert weight_bytes(model.spec, "awq").total_bytes == model.checkpoint.total_bytes


def test_an_estimate_quotes_the_headers_byte_count_in_its_weights_line(served: HubServer) -> None:
    request = VramRequest(model="acme/qwen2.5-7b-support")
    model = resolve(served.url, "acme/qwen2.5-7b-support")
    answer = estimate(request, model)
    total = tensor_bytes(decoder_tensors(QWEN_7B))
    assert answer.model_source == "hub"
    assert answer.weights_mib == pytest.approx(total / 2**20, abs=0.1)
    weights = next(line for line in answer.breakdown if line.name == "weights")
    assert f"{total:,} B of " in weights.formula and "safetensors headers" in weights.formula


def test_a_gguf_file_named_by_its_tag_gives_architecture_and_exact_bytes(served: HubServer) -> None:
    model = resolve(served.url, "hf.co/acme/qwen2.5-7b-gguf:Q4_K_M", engine="ollama")
    _, tensors = qwen2_gguf(QWEN_7B, GGUF_VOCAB)
    assert model.source == "gguf header" and model.checkpoint is not None
    assert model.checkpoint.total_bytes == gguf_tensor_bytes(tensors)
    assert model.checkpoint.format == "q4_k_m"
    spec = model.spec
    assert (spec.num_layers, spec.num_kv_heads, spec.head_dim, spec.vocab_size) == (
        28,
        4,
        128,
        GGUF_VOCAB,
    )
    assert not spec.tie_word_embeddings  # output.weight is stored
    answer = estimate(VramRequest(model="acme/qwen2.5-7b-gguf", engine="ollama"), model)
    assert answer.quantization == "q4_k_m"
    assert answer.weights_mib == pytest.approx(gguf_tensor_bytes(tensors) / 2**20, abs=0.1)


def test_a_gguf_repository_picks_the_requested_type_and_reads_growing_ranges(
    served: HubServer,
) -> None:
    model = resolve(served.url, "acme/qwen2.5-7b-gguf", engine="llama.cpp", quantization="q4_k_m")
    assert model.source == "gguf header"
    request = VramRequest(model="acme/qwen2.5-7b-gguf", engine="llama.cpp", quantization="q4_k_m")
    _, tensors = qwen2_gguf(QWEN_7B, GGUF_VOCAB)
    assert estimate(request, model).weights_mib == pytest.approx(
        gguf_tensor_bytes(tensors) / 2**20, abs=0.1
    )
    starts = sorted(start for _, start, _ in served.served.cdn_ranges)
    assert starts[0] == 0 and len(starts) >= 2  # the 2 MB vocabulary took more than one range


def test_a_gguf_checkpoint_on_an_engine_that_reads_safetensors_names_the_engine(
    served: HubServer,
) -> None:
    model = resolve(served.url, "acme/qwen2.5-7b-gguf/qwen2.5-7b-instruct-Q4_K_M.gguf")
    with pytest.raises(
        InputError, match=r"^engine: a GGUF file \(q4_k_m\) runs on ollama or llama.cpp, not vllm"
    ) as error:
        estimate(VramRequest(model="acme/qwen2.5-7b-gguf"), model)
    assert error.value.parameter == "engine"


def test_a_gated_model_is_read_with_the_token_which_never_reaches_the_cdn(
    served: HubServer,
) -> None:
    model = resolve(served.url, "acme/gated", token=GATED_TOKEN)
    assert model.checkpoint is not None
    assert served.served.tokens_seen_by_cdn == []


@pytest.mark.parametrize(
    ("token", "status", "says"),
    [(None, 401, "is not set"), ("hf_wrong-token-42", 403, "has no access to it")],
)
def test_a_gated_model_without_access_names_the_hf_token_setting_never_the_token(
    served: HubServer, token: str | None, status: int, says: str
) -> None:
    with pytest.raises(InputError) as error:
        resolve(served.url, "acme/gated", token=token)
    message = str(error.value)
    assert error.value.parameter == "hf_token"
    assert f"(HTTP {status})" in message and f"hf_token {says}" in message
    assert "accept the model's licence" in message
    assert token is None or token not in message


def test_a_model_the_hub_does_not_have_lists_the_closest_catalog_names(served: HubServer) -> None:
    with pytest.raises(UnknownModelError) as error:
        resolve(served.url, "acme/Qwen2.5-7B-Instrukt")
    message = str(error.value)
    assert message.startswith("model: 'acme/Qwen2.5-7B-Instrukt' is not in the catalog, and ")
    assert "(HTTP 404)" in message and "Closest catalog names: Qwen/Qwen2.5-7B-Instruct" in message
    assert error.value.parameter == "model"


def test_a_mirror_answering_html_says_to_set_hf_endpoint(served: HubServer) -> None:
    with served.faulty(html=True), pytest.raises(InputError) as error:
        resolve(served.url, "acme/qwen2.5-7b-support")
    assert error.value.parameter == "hf_endpoint"
    assert "with an HTML page, not the Hub's files: set hf_endpoint to the root" in str(error.value)


def test_a_redirect_loop_is_one_sentence(served: HubServer) -> None:
    with served.faulty(redirect_loop=True), pytest.raises(InputError) as error:
        resolve(served.url, "acme/qwen2.5-7b-support")
    assert "redirected its config.json in a loop" in str(error.value)
    assert len(served.served.hub_requests) <= 2 + hub.MAX_REDIRECTS + 1


def test_a_header_over_100_mb_is_refused_unread(served: HubServer) -> None:
    with pytest.raises(InputError) as error:
        resolve(served.url, "acme/huge-header")
    assert "declares a header of 200,000,000 bytes, over the 100,000,000 bytes" in str(error.value)
    assert [r for r in served.served.cdn_ranges if r[1] > 0] == []  # nothing past the length


def test_a_malformed_header_is_one_sentence(served: HubServer) -> None:
    with pytest.raises(
        InputError,
        match=r"model\.safetensors of acme/malformed-header is not a readable safetensors file: "
        "its header is not UTF-8 JSON",
    ):
        resolve(served.url, "acme/malformed-header")


def test_a_mirror_that_ignores_range_requests_is_refused_before_any_data(served: HubServer) -> None:
    with (
        served.faulty(ignore_range=True),
        pytest.raises(InputError, match="ignored the Range request"),
    ):
        resolve(served.url, "acme/qwen2.5-7b-support")


def test_a_slow_request_times_out_with_its_own_bound(served: HubServer) -> None:
    def quick(settings: HubSettings) -> HubClient:
        return HubClient(settings, request_timeout_s=0.3, answer_timeout_s=5)

    started = time.monotonic()
    with served.faulty(slow_s=1.0), pytest.raises(InputError) as error:
        resolve(served.url, "acme/qwen2.5-7b-support", client=quick)
    assert time.monotonic() - started < 1.0
    assert "did not answer the model acme/qwen2.5-7b-support within 0.3 s" in str(error.value)


def test_a_model_that_takes_too_long_in_all_stops_at_the_answer_bound(served: HubServer) -> None:
    def bounded(settings: HubSettings) -> HubClient:
        return HubClient(settings, request_timeout_s=1.0, answer_timeout_s=0.5)

    with served.faulty(slow_s=0.2), pytest.raises(InputError) as error:
        resolve(served.url, "acme/qwen2.5-7b-support", client=bounded)
    assert "within 0.5 s for the whole model" in str(error.value)


def test_the_bounds_are_five_seconds_a_request_and_fifteen_an_answer() -> None:
    assert (hub.REQUEST_TIMEOUT_S, hub.ANSWER_TIMEOUT_S) == (5.0, 15.0)


def test_without_a_reachable_hub_one_attempt_says_to_set_hf_endpoint_or_paste_the_config() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"

        def quick(settings: HubSettings) -> HubClient:
            return HubClient(settings, request_timeout_s=0.4, answer_timeout_s=15)

        started = time.monotonic()
        with pytest.raises(InputError) as error:
            resolve(url, "acme/qwen2.5-7b-support", client=quick)
        assert time.monotonic() - started < 0.8  # one attempt, no retries
    message = str(error.value)
    assert (
        "set hf_endpoint to a closer Hugging Face mirror, or paste the model's config.json"
        in message
    )
    assert message.endswith("into model_config.")


def test_a_refused_connection_says_to_set_hf_endpoint_or_paste_the_config() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(InputError) as error:
        resolve(url, "acme/qwen2.5-7b-support")
    assert error.value.parameter == "hf_endpoint"
    assert "(connection refused)" in str(error.value) and "model_config" in str(error.value)


def test_a_resolved_model_is_cached_per_token(served: HubServer) -> None:
    cache = ModelCache()
    first = resolve(served.url, "acme/gated", token=GATED_TOKEN, cache=cache)
    asked = len(served.served.hub_requests)
    assert resolve(served.url, "acme/gated", token=GATED_TOKEN, cache=cache) is first
    assert len(served.served.hub_requests) == asked
    with pytest.raises(InputError, match="HTTP 401"):  # without the token: not from the cache
        resolve(served.url, "acme/gated", cache=cache)


def test_a_cached_model_expires() -> None:
    now = [0.0]
    cache = ModelCache(entries=2, ttl_s=10, clock=lambda: now[0])
    model = resolve_model(VramRequest(model="qwen2.5:7b"), {})
    cache.put(("e", "m", None, ""), model)
    now[0] = 9.9
    assert cache.get(("e", "m", None, "")) is model
    now[0] = 10.0
    assert cache.get(("e", "m", None, "")) is None


def test_catalog_models_and_short_names_never_ask_the_hub(served: HubServer) -> None:
    for name in ("qwen2.5:7b", "Qwen/Qwen2.5-7B-Instruct"):
        assert resolve(served.url, name).source == "catalog"
    with pytest.raises(UnknownModelError, match="Closest:"):
        resolve(served.url, "llama-9000")
    assert served.served.hub_requests == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acme/model", ("acme/model", "main", None, None)),
        ("https://huggingface.co/acme/model", ("acme/model", "main", None, None)),
        ("acme/model@v1.0", ("acme/model", "v1.0", None, None)),
        (
            "hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M",
            ("bartowski/Qwen2.5-7B-Instruct-GGUF", "main", None, "Q4_K_M"),
        ),
        (
            "acme/model-GGUF/sub/model-Q8_0.gguf",
            ("acme/model-GGUF", "main", "sub/model-Q8_0.gguf", None),
        ),
    ],
)
def test_hub_ids_are_read_in_the_forms_people_write(text: str, expected: tuple[Any, ...]) -> None:
    reference = parse_reference(text)
    assert reference is not None
    assert (reference.repo, reference.revision, reference.file, reference.tag) == expected


@pytest.mark.parametrize(
    "text", ["qwen3:8b", "llama-9000", "acme/model/../etc.gguf", "acme/model/weights.bin", "a b/c"]
)
def test_names_that_are_not_hub_ids_stay_with_the_catalog(text: str) -> None:
    assert parse_reference(text) is None
