"""The scraper against local HTTP servers that speak each engine's format."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from pathlib import Path

from gpu_insight.collector.config import EnginesConfig, EngineTarget
from gpu_insight.collector.engines import EngineScraper
from gpu_insight.schemas import Attribution, Engine, GpuProcess
from tests.support.canned_http import CannedReply, CannedServer, SilentServer

FIXTURES = Path(__file__).parent / "engine_fixtures"


def text(name: str) -> CannedReply:
    return CannedReply(200, (FIXTURES / name).read_bytes(), "text/plain; version=0.0.4")


class StepClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def process(
    port: int,
    engine: Engine = "vllm",
    pid: int = 4100,
    app: str | None = None,
    model: str | None = None,
) -> GpuProcess:
    return GpuProcess(
        pid=pid,
        gpu_index=0,
        gpu_uuid="GPU-0",
        attribution=Attribution(engine=engine, port=port, app=app, model=model),
    )


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


class NotHttpServer:
    """Answers one connection with an SSH banner, as a port taken by another service would."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._answer_once, daemon=True)

    def _answer_once(self) -> None:
        connection, _ = self._sock.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    def __enter__(self) -> NotHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._sock.close()
        self._thread.join(timeout=5)


def test_detected_vllm_gets_rates_percentiles_and_identity() -> None:
    clock = StepClock()
    routes = {"/metrics": text("vllm_before.txt"), "/v1/models": text("vllm_models.json")}
    with CannedServer(routes) as server:
        scraper = EngineScraper(EnginesConfig(window_s=300), clock=clock)
        scraper.observe([process(port_of(server.url), app="support-bot", model="Qwen/x")])
        scraper.scrape_once()
        server.routes["/metrics"] = text("vllm_after.txt")
        clock.now += 10.0
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert metrics.up and metrics.error is None
    assert metrics.url == f"{server.url}/metrics"
    assert (metrics.engine, metrics.model, metrics.app) == (
        "vllm",
        "Qwen/Qwen2.5-7B-Instruct",
        "support-bot",
    )
    assert (metrics.pids, metrics.gpu_uuids) == ([4100], ["GPU-0"])
    assert metrics.requests_per_s == 10.0
    assert metrics.prompt_tokens_per_s == 5000.0
    assert metrics.generation_tokens_per_s == 2000.0
    assert metrics.preemptions_per_s == 2.0
    assert metrics.kv_cache_usage_ratio == 0.98 and metrics.requests_waiting == 7.0
    assert metrics.max_model_len == 32768 and metrics.gpu_memory_utilization == 0.9
    assert metrics.time_to_first_token is not None
    assert metrics.time_to_first_token.p50_s == 0.5
    assert metrics.e2e_latency is not None
    assert (metrics.e2e_latency.p50_s, metrics.e2e_latency.p99_s) == (5.0, 10.0)


def test_ollama_is_scraped_on_api_ps() -> None:
    with CannedServer({"/api/ps": text("ollama_ps.json")}) as server:
        scraper = EngineScraper(EnginesConfig())
        scraper.observe([process(port_of(server.url), engine="ollama")])
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert metrics.url.endswith("/api/ps")
    assert metrics.loaded_models_vram_mib is not None
    assert metrics.loaded_models_vram_mib["nomic-embed-text:latest"] == 500.0


def test_ollama_models_get_their_shape_from_api_show_once() -> None:
    routes = {"/api/ps": text("ollama_ps_offload.json"), "/api/show": text("ollama_show.json")}
    with CannedServer(routes) as server:
        scraper = EngineScraper(EnginesConfig())
        scraper.observe([process(port_of(server.url), engine="ollama")])
        scraper.scrape_once()
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert metrics.loaded_models is not None
    shape = metrics.loaded_models[0].architecture
    assert shape is not None and (shape.architecture, shape.block_count) == ("qwen2", 64)
    assert sorted(json.loads(body)["model"] for _, body in server.posted) == [
        "llama3.1:8b",
        "qwen2.5:32b",
    ]  # one /api/show per model, not one per scrape


def test_ollama_models_that_come_and_go_are_counted_as_loads_and_unloads() -> None:
    clock = StepClock()
    both = text("ollama_ps_offload.json")
    routes = {"/api/ps": both}
    with CannedServer(routes) as server:
        scraper = EngineScraper(EnginesConfig(), clock=clock)
        scraper.observe([process(port_of(server.url), engine="ollama")])
        scraper.scrape_once()  # loaded before the collector looked: no load
        for _ in range(3):
            server.routes["/api/ps"] = CannedReply.json(200, {"models": []})
            clock.now += 300.0
            scraper.scrape_once()
            server.routes["/api/ps"] = both
            clock.now += 60.0
            scraper.scrape_once()
    [metrics] = scraper.latest()
    assert metrics.loaded_models is not None
    big = metrics.loaded_models[0]
    assert (big.loads_last_hour, big.unloads_last_hour) == (3, 3)
    assert big.loaded_at == clock.now
    assert [e.event for e in metrics.model_events if e.model == "qwen2.5:32b"] == [
        "unload",
        "load",
    ] * 3


def test_ollama_without_api_show_is_still_read() -> None:
    with CannedServer({"/api/ps": text("ollama_ps_offload.json")}) as server:
        scraper = EngineScraper(EnginesConfig())
        scraper.observe([process(port_of(server.url), engine="ollama")])
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert metrics.up and metrics.loaded_models is not None
    assert metrics.loaded_models[0].architecture is None


def test_llama_server_is_scraped_on_metrics() -> None:
    with CannedServer({"/metrics": text("llama.cpp-0c1e57098/metrics.txt")}) as server:
        scraper = EngineScraper(EnginesConfig())
        scraper.observe([process(port_of(server.url), engine="llama.cpp")])
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert (metrics.engine, metrics.up) == ("llama.cpp", True)
    assert (metrics.requests_running, metrics.requests_waiting) == (0.0, 0.0)
    assert (metrics.prompt_tokens_total, metrics.generation_tokens_total) == (8256.0, 48.0)


def test_a_real_vllm_gets_its_kv_pool_prefix_caching_and_queue_time() -> None:
    clock = StepClock()
    routes = {"/metrics": text("vllm-0.24.0/metrics.txt")}
    with CannedServer(routes) as server:
        scraper = EngineScraper(EnginesConfig(window_s=300), clock=clock)
        scraper.observe([process(port_of(server.url))])
        scraper.scrape_once()
        clock.now += 60.0
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert (metrics.kv_cache_size_tokens, metrics.prefix_caching_enabled) == (896912, True)
    assert metrics.prefix_cache_hit_ratio is None  # no prompt came in the window
    assert metrics.queue_time is None


def test_extra_target_with_labels_from_config() -> None:
    with CannedServer({"/metrics": text("ocr_service.txt")}) as server:
        target = EngineTarget(url=f"{server.url}/metrics", model="paddle-ocr", app="ocr")
        scraper = EngineScraper(EnginesConfig(extra_targets=[target]))
        scraper.observe([])
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert (metrics.engine, metrics.model, metrics.app, metrics.up) == (
        "unknown",
        "paddle-ocr",
        "ocr",
        True,
    )


def test_unreachable_engine_is_down_with_a_reason() -> None:
    with CannedServer({}) as server:
        free_port = port_of(server.url)
    scraper = EngineScraper(EnginesConfig())
    scraper.observe([process(free_port)])
    scraper.scrape_once()
    [metrics] = scraper.latest()
    assert not metrics.up
    assert metrics.error is not None and metrics.error.startswith("unreachable")


def test_engine_without_metrics_endpoint_says_http_status() -> None:
    with CannedServer({}) as server:
        scraper = EngineScraper(EnginesConfig())
        scraper.observe([process(port_of(server.url), engine="sglang")])
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert (metrics.up, metrics.error) == (False, "HTTP 404")


def test_silent_engine_is_bounded_by_the_timeout() -> None:
    with SilentServer() as server:
        scraper = EngineScraper(EnginesConfig(timeout_s=0.2))
        scraper.observe([process(port_of(server.url), engine="tgi")])
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert not metrics.up
    assert metrics.error == "no answer within 0.2 s"


def test_credentials_in_a_target_url_are_not_shown() -> None:
    with CannedServer({"/metrics": text("ocr_service.txt")}) as server:
        url = server.url.replace("http://", "http://user:s3cret@") + "/metrics"
        scraper = EngineScraper(EnginesConfig(extra_targets=[EngineTarget(url=url)]))
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert "s3cret" not in metrics.url and metrics.url == f"{server.url}/metrics"


def test_credentials_in_a_target_url_are_sent_as_basic_auth() -> None:
    with CannedServer({"/metrics": text("ocr_service.txt")}) as server:
        url = server.url.replace("http://", "http://user:s3cret@") + "/metrics"
        scraper = EngineScraper(EnginesConfig(extra_targets=[EngineTarget(url=url)]))
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert metrics.up
    assert server.seen_authorization == ["Basic " + base64.b64encode(b"user:s3cret").decode()]


def test_unusable_target_url_is_down_without_showing_its_password() -> None:
    url = "http://user:s3cret@localhost:notaport/metrics"
    scraper = EngineScraper(EnginesConfig(extra_targets=[EngineTarget(url=url)]))
    scraper.scrape_once()
    [metrics] = scraper.latest()
    assert not metrics.up
    assert metrics.error is not None and "s3cret" not in metrics.error


def test_port_not_speaking_http_is_down_and_other_engines_are_still_scraped() -> None:
    with (
        NotHttpServer() as broken,
        CannedServer({"/metrics": text("vllm_before.txt")}) as healthy,
    ):
        scraper = EngineScraper(EnginesConfig())
        scraper.observe([process(port_of(broken.url), pid=1), process(port_of(healthy.url), pid=2)])
        scraper.scrape_once()
    by_pid = {metrics.pids[0]: metrics for metrics in scraper.latest()}
    assert (by_pid[1].up, by_pid[1].error) == (False, "unreadable HTTP answer (BadStatusLine)")
    assert by_pid[2].up


def test_engines_no_longer_running_disappear() -> None:
    with CannedServer({"/metrics": text("vllm_before.txt")}) as server:
        scraper = EngineScraper(EnginesConfig())
        scraper.observe([process(port_of(server.url))])
        scraper.scrape_once()
        scraper.observe([])
    assert scraper.latest() == []


def test_processes_of_one_engine_are_one_target() -> None:
    with CannedServer({"/metrics": text("vllm_before.txt")}) as server:
        port = port_of(server.url)
        scraper = EngineScraper(EnginesConfig())
        scraper.observe([process(port, pid=1), process(port, pid=2)])
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert metrics.pids == [1, 2]


def test_observe_and_latest_do_not_wait_for_a_scrape_in_progress() -> None:
    with SilentServer() as server:
        scraper = EngineScraper(EnginesConfig(interval_s=0.05, timeout_s=2.0))
        scraper.observe([process(port_of(server.url))])
        scraper.start()
        try:
            time.sleep(0.2)  # the scraper thread is now blocked on the silent engine
            scraper.observe([])
            assert scraper.latest() == []
        finally:
            scraper.stop()


def test_disabled_scraper_starts_no_thread() -> None:
    scraper = EngineScraper(EnginesConfig(enabled=False))
    scraper.start()
    try:
        assert "engine-scraper" not in {t.name for t in threading.enumerate()}
    finally:
        scraper.stop()
