"""Model repositories on the Hugging Face Hub or a mirror, read the way the Hub serves them.

`GET /api/models/{repo}` gives the revision's commit and its files; `GET
/{repo}/resolve/{commit}/{file}` gives a file, redirecting large ones to a CDN host, where HTTP
Range requests read parts of it. From a safetensors repository we read `config.json`,
`hf_quant_config.json` when present, the shard index, and each shard's header (two Range
requests: the 8-byte length, then the JSON); from a GGUF file its header in growing ranges.
Tensor data is never asked for, so a 70 B model costs kilobytes.

Bounds: every request gets `REQUEST_TIMEOUT_S` to connect and answer, one model's reading
`ANSWER_TIMEOUT_S` in all; redirects are followed `MAX_REDIRECTS` times at most, and the token
is sent to the endpoint's own host only (a CDN URL is signed). Every failure is a `HubError`
whose text is one sentence naming the setting to change; it never holds the token.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from gpu_insight.sources.bounded_http import (
    AnswerTooLargeError,
    AnswerTooSlowError,
    BoundedResponse,
    bounded_get,
    connection_cause,
    deadline_session,
)
from gpu_insight.sources.checkpoint_files import (
    SAFETENSORS_LENGTH_BYTES,
    GgufHeader,
    HeaderError,
    parse_safetensors_header,
    read_gguf_header,
    safetensors_header_length,
)
from gpu_insight.sources.settings import HubSettings

REQUEST_TIMEOUT_S = 5.0  # connect + answer of one request
ANSWER_TIMEOUT_S = 15.0  # every request of one model together
MAX_REDIRECTS = 5
MAX_JSON_BYTES = 16 * 1024 * 1024  # the largest shard index (a 1 T MoE) is a few MiB
PARALLEL_REQUESTS = 16
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
QUANT_CONFIG_FILE = "hf_quant_config.json"
SENTENCE_TRANSFORMERS_FILES = frozenset({"modules.json", "config_sentence_transformers.json"})
DEFAULT_GGUF_TAG = "Q4_K_M"  # what Ollama pulls when a repository is named without a tag
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_REPO = re.compile(rf"^{_NAME}/{_NAME}$")
_REVISION = re.compile(r"^[A-Za-z0-9._/-]{1,128}$")
_SPLIT_GGUF = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")
_HOST_PREFIXES = ("https://", "http://", "huggingface.co/", "hf.co/")


class HubError(Exception):
    """The model could not be read; `str(error)` is the sentence, `setting` the plugin setting
    that fixes it (None: the model id or the repository itself is at fault)."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class HubNotFoundError(HubError):
    """No such repository (or revision, or file)."""


class HubAccessError(HubError):
    """HTTP 401/403: gated or private, and the token is missing or lacks access."""


@dataclass(frozen=True)
class HubReference:
    """A model as named: `org/name`, `org/name@revision`, `org/name/file.gguf`, or Ollama's
    `hf.co/org/name:Q4_K_M` (a GGUF file by its quantization tag)."""

    repo: str
    revision: str = "main"
    file: str | None = None
    tag: str | None = None

    def __str__(self) -> str:
        name = f"{self.repo}/{self.file}" if self.file else self.repo
        name += f":{self.tag}" if self.tag else ""
        return name + (f"@{self.revision}" if self.revision != "main" else "")


def parse_reference(text: str) -> HubReference | None:
    """The repository a model id names, or None when it is not a Hub id (`qwen3:8b`)."""
    name = text.strip()
    for prefix in _HOST_PREFIXES:
        name = name.removeprefix(prefix)
    name, _, revision = name.partition("@")
    name, _, tag = name.partition(":")
    parts = name.strip("/").split("/")
    if len(parts) < 2 or not _REPO.match("/".join(parts[:2])):
        return None
    if revision and not _REVISION.match(revision):
        return None
    file = "/".join(parts[2:]) or None
    if file is not None and (not file.lower().endswith(".gguf") or ".." in parts[2:]):
        return None
    if tag and (file or not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", tag)):
        return None
    return HubReference("/".join(parts[:2]), revision or "main", file, tag or None)


@dataclass
class HubModel:
    """What was read of one repository revision."""

    reference: HubReference
    commit: str  # the revision's commit sha
    files: tuple[str, ...]
    config: dict[str, Any] | None = None
    quant_config: dict[str, Any] | None = None
    safetensors: list[dict[str, Any]] = field(default_factory=list)  # per shard: tensor table
    gguf: list[GgufHeader] = field(default_factory=list)  # per GGUF part
    gguf_files: tuple[str, ...] = ()

    @property
    def is_sentence_transformer(self) -> bool:
        return bool(SENTENCE_TRANSFORMERS_FILES & set(self.files))


class HubClient:
    def __init__(
        self,
        settings: HubSettings,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        answer_timeout_s: float = ANSWER_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self.request_timeout_s = request_timeout_s
        self.answer_timeout_s = answer_timeout_s
        self._host = urlsplit(settings.endpoint).netloc.lower()
        self._deadline = 0.0

    def read(self, reference: HubReference, gguf_tag: str | None = None) -> HubModel:
        """Config and headers of the repository; `gguf_tag` picks a GGUF file when the
        reference names none (e.g. the requested quantization, `q4_k_m`)."""
        self._deadline = time.monotonic() + self.answer_timeout_s
        info = self._json(self._api_url(reference), f"the model {reference.repo}")
        commit = info.get("sha")
        siblings = info.get("siblings")
        if not isinstance(commit, str) or not isinstance(siblings, list):
            raise HubError(
                f"{self.settings.endpoint} answered the model API for {reference.repo} without "
                "a commit and file list; set hf_endpoint to the Hub or a mirror of it",
                "hf_endpoint",
            )
        files = tuple(
            str(s["rfilename"]) for s in siblings if isinstance(s, dict) and "rfilename" in s
        )
        model = HubModel(reference, commit, files)
        ggufs = self._gguf_files(reference, files, gguf_tag)
        if ggufs:
            model.gguf_files = ggufs
            model.gguf = self._parallel([partial(self._gguf_header, model, f) for f in ggufs])
            return model
        if "config.json" not in files:
            raise HubError(
                f"{reference.repo} has neither a config.json nor GGUF files to read; paste the "
                "model's config.json into model_config"
            )
        model.config = self._json(self._file_url(model, "config.json"), "its config.json")
        if QUANT_CONFIG_FILE in files:
            model.quant_config = self._json(
                self._file_url(model, QUANT_CONFIG_FILE), f"its {QUANT_CONFIG_FILE}"
            )
        shards = self._shards(model)
        model.safetensors = self._parallel(
            [partial(self._safetensors_header, model, shard) for shard in shards]
        )
        return model

    # -- what to read ---------------------------------------------------------------------

    def _shards(self, model: HubModel) -> list[str]:
        if INDEX_FILE in model.files:
            index = self._json(self._file_url(model, INDEX_FILE), f"its {INDEX_FILE}")
            weight_map = index.get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise HubError(f"{model.reference.repo}'s {INDEX_FILE} has no weight_map")
            shards = sorted({str(v) for v in weight_map.values()})
            unsafe = [s for s in shards if s.startswith("/") or ".." in s.split("/")]
            if unsafe or not all(s.endswith(".safetensors") for s in shards):
                raise HubError(
                    f"{model.reference.repo}'s {INDEX_FILE} names files that are not "
                    f"safetensors shards of the repository, e.g. {(unsafe or shards)[0][:80]!r}"
                )
            return shards
        if SINGLE_FILE in model.files:
            return [SINGLE_FILE]
        return []  # pytorch .bin only: the weights come from the architecture

    def _gguf_files(
        self, reference: HubReference, files: tuple[str, ...], gguf_tag: str | None
    ) -> tuple[str, ...]:
        ggufs = [f for f in files if f.lower().endswith(".gguf") and "mmproj" not in f.lower()]
        if reference.file is not None:
            if reference.file not in files:
                raise HubNotFoundError(
                    f"{reference.repo} has no file {reference.file!r}; its GGUF files: "
                    f"{', '.join(ggufs[:6]) or 'none'}"
                )
            return self._with_split_parts(reference.file, files)
        has_safetensors = INDEX_FILE in files or SINGLE_FILE in files
        if reference.tag is None and (has_safetensors or not ggufs):
            return ()
        tag = reference.tag or gguf_tag or DEFAULT_GGUF_TAG
        pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(tag)}(?![A-Za-z0-9_])", re.I)
        matching = sorted(f for f in ggufs if pattern.search(f.rsplit("/", 1)[-1]))
        if not matching:
            raise HubNotFoundError(
                f"{reference.repo} has no GGUF file tagged {tag}; its GGUF files: "
                f"{', '.join(ggufs[:6]) or 'none'}"
            )
        return self._with_split_parts(matching[0], files)

    @staticmethod
    def _with_split_parts(first: str, files: tuple[str, ...]) -> tuple[str, ...]:
        """All parts of a split GGUF (`…-00001-of-00003.gguf`), or the one file."""
        split = _SPLIT_GGUF.search(first)
        if split is None:
            return (first,)
        stem, count = first[: split.start()], int(split.group(2))
        parts = tuple(f"{stem}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1))
        return tuple(p for p in parts if p in files) or (first,)

    # -- file readers ---------------------------------------------------------------------

    def _safetensors_header(self, model: HubModel, shard: str) -> dict[str, Any]:
        what = f"{shard} of {model.reference.repo}"
        first, url = self._range(self._file_url(model, shard), 0, SAFETENSORS_LENGTH_BYTES, what)
        try:
            length = safetensors_header_length(first)
            raw, _ = self._range(url, SAFETENSORS_LENGTH_BYTES, length, what)
            if len(raw) != length:
                raise HeaderError(f"its header ends after {len(raw):,} of {length:,} bytes")
            return parse_safetensors_header(raw)
        except HeaderError as error:
            raise HubError(f"{what} is not a readable safetensors file: {error}") from None

    def _gguf_header(self, model: HubModel, file: str) -> GgufHeader:
        what = f"{file} of {model.reference.repo}"
        url = self._file_url(model, file)

        def fetch(offset: int, length: int) -> bytes:
            nonlocal url
            piece, url = self._range(url, offset, length, what)
            return piece

        try:
            return read_gguf_header(fetch)
        except HeaderError as error:
            raise HubError(f"{what} is not a readable GGUF file: {error}") from None

    def _parallel[T](self, tasks: list[Callable[[], T]]) -> list[T]:
        if len(tasks) <= 1:
            return [task() for task in tasks]
        with ThreadPoolExecutor(max_workers=min(PARALLEL_REQUESTS, len(tasks))) as pool:
            futures = [pool.submit(task) for task in tasks]
            try:
                return [future.result() for future in futures]
            finally:
                for future in futures:
                    future.cancel()

    # -- HTTP -----------------------------------------------------------------------------

    def _api_url(self, reference: HubReference) -> str:
        base = f"{self.settings.endpoint}/api/models/{reference.repo}"
        if reference.revision != "main":
            return f"{base}/revision/{quote(reference.revision, safe='')}"
        return base

    def _file_url(self, model: HubModel, file: str) -> str:
        repo, commit = model.reference.repo, model.commit
        return f"{self.settings.endpoint}/{repo}/resolve/{commit}/{quote(file)}"

    def _json(self, url: str, what: str) -> dict[str, Any]:
        response, _ = self._get(url, what, MAX_JSON_BYTES, {"Accept": "application/json"})
        self._refuse_html(response, what, json_expected=True)
        payload = response.json_object()
        if payload is None:
            raise HubError(
                f"{self.settings.endpoint} answered {what} with something that is not a JSON "
                "object; set hf_endpoint to the Hub or a mirror of it",
                "hf_endpoint",
            )
        return payload

    def _range(self, url: str, start: int, length: int, what: str) -> tuple[bytes, str]:
        """Bytes start … start + length − 1 of a file (fewer at its end), and the URL that
        served them (the CDN's, after the Hub's redirect)."""
        wanted = {"Range": f"bytes={start}-{start + length - 1}"}
        try:
            response, final = self._get(url, what, length, wanted)
        except AnswerTooLargeError:
            raise HubError(
                f"{self.settings.endpoint} ignored the Range request for {what} and would send "
                "the whole file; set hf_endpoint to a mirror that serves HTTP Range requests",
                "hf_endpoint",
            ) from None
        self._refuse_html(response, what)
        if response.status_code == 416:  # past the end: the file is shorter than its header
            return b"", final
        return response.content, final

    def _refuse_html(
        self, response: BoundedResponse, what: str, json_expected: bool = False
    ) -> None:
        kind = response.headers.get("Content-Type", "").lower()
        if "html" in kind or (json_expected and response.content.lstrip()[:1] == b"<"):
            raise HubError(
                f"{self.settings.endpoint} answered {what} with an HTML page, not the Hub's "
                "files: set hf_endpoint to the root of the Hub or of a mirror, such as "
                "https://hf-mirror.com",
                "hf_endpoint",
            )

    def _get(
        self, url: str, what: str, max_bytes: int, extra: dict[str, str]
    ) -> tuple[BoundedResponse, str]:
        seen = {url}
        for _ in range(MAX_REDIRECTS + 1):
            response = self._once(url, what, max_bytes, extra)
            if response.status_code not in REDIRECT_STATUS:
                self._check_status(response, what)
                return response, url
            location = response.headers.get("Location")
            if not location:
                raise HubError(
                    f"{self.settings.endpoint} redirected {what} without a Location",
                    "hf_endpoint",
                )
            url = urljoin(url, location)
            if url in seen:
                break
            seen.add(url)
        raise HubError(
            f"{self.settings.endpoint} redirected {what} in a loop (more than {MAX_REDIRECTS} "
            "redirects or back to an address already visited); set hf_endpoint to the Hub or a "
            "mirror that serves its files",
            "hf_endpoint",
        )

    def _once(self, url: str, what: str, max_bytes: int, extra: dict[str, str]) -> BoundedResponse:
        left_s = self._deadline - time.monotonic()
        if left_s <= 0:
            raise self._too_slow(what, answer=True)
        timeout_s = min(self.request_timeout_s, left_s)
        headers = {"User-Agent": "gpu-insight", **extra}
        if self.settings.token and urlsplit(url).netloc.lower() == self._host:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        try:
            return bounded_get(
                deadline_session(),
                url,
                params=None,
                headers=headers,
                connect_timeout_s=timeout_s,
                deadline_s=timeout_s,
                max_bytes=max_bytes,
            )
        except (requests.exceptions.Timeout, AnswerTooSlowError):
            raise self._too_slow(what, answer=timeout_s < self.request_timeout_s) from None
        except requests.exceptions.ConnectionError as error:
            raise HubError(
                f"Cannot reach the model hub at {self.settings.endpoint} "
                f"({connection_cause(error)}) to read {what}; set hf_endpoint to a Hugging Face "
                "mirror the plugin daemon can reach, or paste the model's config.json into "
                "model_config",
                "hf_endpoint",
            ) from None
        except requests.exceptions.RequestException:
            raise HubError(
                f"The request to {self.settings.endpoint} for {what} failed; check hf_endpoint",
                "hf_endpoint",
            ) from None

    def _too_slow(self, what: str, answer: bool) -> HubError:
        bound = (
            f"{self.answer_timeout_s:g} s for the whole model"
            if answer
            else f"{self.request_timeout_s:g} s"
        )
        return HubError(
            f"The model hub at {self.settings.endpoint} did not answer {what} within {bound}; "
            "set hf_endpoint to a closer Hugging Face mirror, or paste the model's config.json "
            "into model_config",
            "hf_endpoint",
        )

    def _check_status(self, response: BoundedResponse, what: str) -> None:
        status = response.status_code
        if status < 400 or status == 416:  # 416: a range past the end, the reader's to judge
            return
        code = response.headers.get("X-Error-Code", "")
        if status == 404 or code in {"RepoNotFound", "RevisionNotFound", "EntryNotFound"}:
            raise HubNotFoundError(
                f"{self.settings.endpoint} has no {what} (HTTP {status})",
            )
        if status in (401, 403):
            token = "is not set" if not self.settings.token else "has no access to it"
            raise HubAccessError(
                f"The model hub at {self.settings.endpoint} refused {what} (HTTP {status}): the "
                f"model is gated or private and hf_token {token}; accept the model's licence on "
                "its page, then set hf_token in the plugin settings to a token that can read it",
                "hf_token",
            )
        raise HubError(
            f"The model hub at {self.settings.endpoint} answered HTTP {status} for {what}",
            "hf_endpoint",
        )
