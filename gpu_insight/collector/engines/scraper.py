"""The engine scraper: its own thread scrapes each target every interval with a bounded timeout.

The sampler only calls `observe` (pure bookkeeping) and `latest` (a copy under a lock), so a
missing or slow engine never delays sampling.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from gpu_insight.collector.config import EnginesConfig
from gpu_insight.collector.engines.exposition import ExpositionError
from gpu_insight.collector.engines.model_log import ModelLog
from gpu_insight.collector.engines.readings import (
    Reading,
    first_known,
    parse_ollama_show,
    parse_openai_models,
    parse_version,
)
from gpu_insight.collector.engines.targets import (
    Target,
    configured_target,
    shown_url,
    targets_from_processes,
)
from gpu_insight.collector.engines.window import ReadingWindow
from gpu_insight.schemas import (
    EngineMetrics,
    GgufArchitecture,
    GpuProcess,
    LoadedModel,
    ModelEvent,
)

log = logging.getLogger(__name__)

_MAX_BODY_BYTES = 16 * 1024 * 1024


class FetchError(Exception):
    """The endpoint could not be read; the text says why, without the URL's credentials."""


def fetch_text(url: str, timeout_s: float, body: bytes | None = None) -> str:
    """The body at `url` (a POST of the JSON `body` when given); a `user:password@` in it is
    sent as HTTP basic auth."""
    try:
        with urllib.request.urlopen(_request(url, body), timeout=timeout_s) as response:
            return response.read(_MAX_BODY_BYTES).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise FetchError(f"HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"unreachable ({exc.reason})") from None
    except TimeoutError:
        raise FetchError(f"no answer within {timeout_s:g} s") from None
    except OSError as exc:
        raise FetchError(f"unreachable ({exc.strerror or type(exc).__name__})") from None
    # Their texts may quote the URL, credentials included: only the kind is shown.
    except (ValueError, http.client.InvalidURL) as exc:
        raise FetchError(f"not a usable http(s) URL ({type(exc).__name__})") from None
    except http.client.HTTPException as exc:  # not HTTP on that port, or a broken-off answer
        raise FetchError(f"unreadable HTTP answer ({type(exc).__name__})") from None


def _request(url: str, body: bytes | None) -> urllib.request.Request:
    parts = urlsplit(url)
    request = urllib.request.Request(shown_url(url), data=body)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        request.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    return request


class EngineScraper:
    def __init__(
        self,
        config: EnginesConfig,
        clock: Callable[[], float] = time.time,
        fetch: Callable[..., str] = fetch_text,
    ) -> None:
        self._config = config
        self._clock = clock
        self._fetch = fetch
        self._configured = [configured_target(t) for t in config.extra_targets]
        self._lock = threading.Lock()
        self._targets: dict[str, Target] = {t.url: t for t in self._configured}
        self._results: dict[str, EngineMetrics] = {}
        self._windows: dict[str, ReadingWindow] = {}
        self._max_model_len: dict[str, int] = {}
        self._model_logs: dict[str, ModelLog] = {}
        # per target: the GGUF shape of each model digest (None: /api/show could not tell)
        self._shapes: dict[str, dict[str, GgufArchitecture | None]] = {}
        self._versions: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- EngineSource ---------------------------------------------------------------------

    def observe(self, processes: list[GpuProcess]) -> None:
        targets = {t.url: t for t in self._configured}
        targets.update((t.url, t) for t in targets_from_processes(processes))
        with self._lock:
            self._targets = targets

    def latest(self) -> list[EngineMetrics]:
        with self._lock:
            return [
                self._results[url].model_copy(update=_identity(target))
                for url, target in self._targets.items()
                if url in self._results
            ]

    # --- thread ---------------------------------------------------------------------------

    def start(self) -> None:
        if not self._config.enabled or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="engine-scraper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._config.timeout_s * 4 + 1)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.scrape_once()
            except Exception:  # the thread must survive anything a target sends
                log.exception("engine scrape failed")
            self._stop.wait(self._config.interval_s)

    # --- one round ------------------------------------------------------------------------

    def scrape_once(self) -> None:
        """Scrapes every current target once (sequentially, each bounded by the timeout)."""
        with self._lock:
            targets = list(self._targets.values())
        results = {target.url: self._scrape(target) for target in targets}
        with self._lock:
            self._results = results
            for memory in (
                self._windows,
                self._max_model_len,
                self._versions,
                self._model_logs,
                self._shapes,
            ):
                for url in [url for url in memory if url not in results]:
                    del memory[url]

    def _scrape(self, target: Target) -> EngineMetrics:
        now = self._clock()
        base = EngineMetrics(
            engine=target.engine, model=target.model, url=shown_url(target.url), scraped_at=now
        )
        try:
            reading = target.parser(self._fetch(target.url, self._config.timeout_s))
        except (FetchError, ExpositionError) as exc:
            return base.model_copy(update={"up": False, "error": str(exc)})
        window = self._windows.setdefault(target.url, ReadingWindow(self._config.window_s))
        window.add(now, reading)
        stats = window.stats()
        loaded, events = self._loaded_models(target, now, reading)
        return base.model_copy(
            update={
                "up": True,
                "model": reading.model or target.model,
                "requests_running": reading.requests_running,
                "requests_waiting": reading.requests_waiting,
                "kv_cache_usage_ratio": reading.kv_cache_usage_ratio,
                "gpu_memory_utilization": reading.gpu_memory_utilization,
                "loaded_models_vram_mib": reading.loaded_models_vram_mib,
                "loaded_models": loaded,
                "model_events": events,
                "prefix_caching_enabled": reading.prefix_caching_enabled,
                "prefix_cache_hit_ratio": first_known(
                    stats.prefix_cache_hit_ratio, reading.prefix_cache_hit_ratio
                ),
                "requests_swapped": reading.requests_swapped,
                "queue_time": stats.queue_time,
                "preemptions_total": reading.preemptions_total,
                "prompt_tokens_total": reading.prompt_tokens_total,
                "generation_tokens_total": reading.generation_tokens_total,
                "max_model_len": self._model_len(target),
                "engine_version": self._version(target),
                "kv_cache_size_tokens": reading.kv_cache_size_tokens,
                "requests_per_s": stats.requests_per_s,
                "preemptions_per_s": stats.preemptions_per_s,
                "prompt_tokens_per_s": stats.prompt_tokens_per_s,
                "generation_tokens_per_s": stats.generation_tokens_per_s,
                "time_to_first_token": stats.time_to_first_token,
                "e2e_latency": stats.e2e_latency,
            }
        )

    def _loaded_models(
        self, target: Target, now: float, reading: Reading
    ) -> tuple[list[LoadedModel] | None, list[ModelEvent]]:
        """A multi-model server's models with their shapes and load history, and its events."""
        if reading.loaded_models is None:
            return None, []
        log = self._model_logs.setdefault(target.url, ModelLog())
        models = log.observe(now, reading.loaded_models)
        shaped = [m.model_copy(update={"architecture": self._shape(target, m)}) for m in models]
        return shaped, log.events()

    def _shape(self, target: Target, model: LoadedModel) -> GgufArchitecture | None:
        """`/api/show` once per model digest (a model pulled again gets a new digest)."""
        if target.show_url is None:
            return None
        shapes = self._shapes.setdefault(target.url, {})
        key = model.digest or model.name
        if key not in shapes:
            body = json.dumps({"model": model.name}).encode()
            try:
                shapes[key] = parse_ollama_show(
                    self._fetch(target.show_url, self._config.timeout_s, body)
                )
            except (FetchError, ExpositionError):
                shapes[key] = None  # an older Ollama or a refused call: sized without it
        return shapes[key]

    def _model_len(self, target: Target) -> int | None:
        """max_model_len from /v1/models, asked until the engine tells (it never changes)."""
        if target.models_url is None:
            return None
        if target.url not in self._max_model_len:
            try:
                _, length = parse_openai_models(
                    self._fetch(target.models_url, self._config.timeout_s)
                )
            except FetchError:
                return None  # e.g. the engine requires an API key for /v1: not an error here
            if length is not None:
                self._max_model_len[target.url] = length
        return self._max_model_len.get(target.url)

    def _version(self, target: Target) -> str | None:
        """The engine's version from its /version: asked until it tells, forgotten with the
        target (as max_model_len)."""
        if target.version_url is None:
            return None
        if target.url not in self._versions:
            try:
                version = parse_version(self._fetch(target.version_url, self._config.timeout_s))
            except FetchError:
                return None
            if version is not None:
                self._versions[target.url] = version
        return self._versions.get(target.url)


def _identity(target: Target) -> dict:
    """What attribution knows about the target now (processes come and go between scrapes)."""
    return {
        "pids": list(target.pids),
        "gpu_uuids": list(target.gpu_uuids),
        "app": target.app,
        "team": target.team,
    }
