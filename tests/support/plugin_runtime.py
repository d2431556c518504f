"""Drive a plugin through the Dify SDK's own stdio runtime, as the plugin daemon does.

The plugin runs as `python -m main` with `INSTALL_METHOD=local` in the plugin root (the trigger
plugin, run from source, finds the core library on PYTHONPATH). Requests are JSON lines on its
stdin; answers are JSON lines on its stdout, demultiplexed by `session_id`. Every wait is
bounded and a failure shows the plugin's stderr, where the SDK reports start-up errors and
tracebacks. Every tool answer's and trigger event's variables are checked against its
`output_schema`: each emitted one declared and of its JSON type, all of them on success.
"""

from __future__ import annotations

import binascii
import collections
import json
import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.plugin_declarations import PluginDeclarations, variable_problems
from tests.support.processes import terminate

PLUGIN_ROOT = Path(__file__).resolve().parents[2]
TRIGGER_ROOT = PLUGIN_ROOT / "trigger"
DEFAULT_PROVIDER = "gpu_insight"
TRIGGER_PROVIDER = "gpu_insight_trigger"
USER_ID = "test-user"
STARTUP_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0


class PluginRuntimeError(AssertionError):
    """The plugin did not start or did not answer; the message carries its stderr."""


class TriggerActionError(Exception):
    """A trigger action raised inside the plugin; `str()` is the message Dify would show."""

    def __init__(self, message: str, error: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.error_type = error.get("error_type")


def subscription(properties: Mapping[str, Any], endpoint: str = "") -> dict[str, Any]:
    """A subscription as Dify sends it with a trigger action."""
    return {
        "expires_at": -1,
        "endpoint": endpoint or "http://localhost/triggers/plugin/test-endpoint",
        "parameters": {},
        "properties": dict(properties),
    }


@dataclass
class ToolResult:
    """Everything one tool invocation produced, decoded."""

    texts: list[str] = field(default_factory=list)
    jsons: list[Any] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)  # every raw payload, in order
    error: str | None = None
    error_type: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.texts)


@dataclass
class EndpointResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body)


def raw_http_request(
    method: str, path: str, headers: Mapping[str, str], body: bytes = b""
) -> bytes:
    """An HTTP/1.1 request as bytes, the form the daemon forwards requests in."""
    all_headers = dict(headers)
    if body:
        all_headers.setdefault("Content-Length", str(len(body)))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in all_headers.items()
    )
    return head.encode("latin-1") + b"\r\n" + body


def parse_http_response(raw: bytes) -> EndpointResponse:
    """An HTTP/1.1 response as the SDK serialises a trigger's answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return EndpointResponse(status=int(status_line.split(" ")[1]), headers=headers, body=body)


@dataclass
class TriggerDispatch:
    """What `dispatch_trigger_event` gave back: the answer to the sender and the events."""

    response: EndpointResponse
    events: list[str]
    payload: dict[str, Any]
    user_id: str


@dataclass
class TriggerRun:
    """What `invoke_trigger_event` gave back: a run's variables, or cancelled (no run)."""

    variables: dict[str, Any]
    cancelled: bool


@dataclass
class SessionAnswer:
    """The raw chunks of one request: stream payloads, and the error chunk if any."""

    payloads: list[Any]
    error: dict[str, Any] | None


class PluginRuntime:
    """One running plugin process speaking the SDK's stdio protocol."""

    def __init__(
        self,
        plugin_root: Path = PLUGIN_ROOT,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.plugin_root = plugin_root
        self.declarations = PluginDeclarations.from_folder(plugin_root)
        self._env = {
            **os.environ,
            # Real environment variables beat a stray .env in the plugin root.
            "INSTALL_METHOD": "local",
            "HEARTBEAT_INTERVAL": "30",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self._python = python
        self._process: subprocess.Popen[bytes] | None = None
        self._stdin_lock = threading.Lock()  # requests may come from several threads
        self._sessions: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._sessions_lock = threading.Lock()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._manifest: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.manifest: dict[str, Any] = {}

    @classmethod
    def trigger_from_source(cls) -> PluginRuntime:
        """The trigger plugin in trigger/, with the repository's core library."""
        return cls(plugin_root=TRIGGER_ROOT, env={"PYTHONPATH": str(PLUGIN_ROOT)})

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> PluginRuntime:
        self._process = subprocess.Popen(
            [self._python, "-m", "main"],
            cwd=self.plugin_root,
            env=self._env,
            stdin=subprocess.PIPE,  # kept open: at EOF the SDK's reader spins forever
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        threading.Thread(target=self._read_stdout, name="plugin-stdout", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="plugin-stderr", daemon=True).start()
        try:
            manifest = self._manifest.get(timeout=timeout_s)
        except queue.Empty:
            self.stop()
            raise PluginRuntimeError(
                f"the plugin printed no manifest line within {timeout_s:.0f} s"
                + self._stderr_report()
            ) from None
        if manifest is None:
            self.stop()
            raise PluginRuntimeError(
                f"the plugin exited during start-up (rc={self._process.poll()})"
                + self._stderr_report()
            )
        self.manifest = manifest
        return self

    def stop(self) -> None:
        terminate(self._process, STOP_TIMEOUT_S)

    def __enter__(self) -> PluginRuntime:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def stderr(self) -> str:
        return "".join(self._stderr_tail)

    # -- protocol --------------------------------------------------------------------------

    def request(
        self, data: Mapping[str, Any], timeout_s: float = REQUEST_TIMEOUT_S
    ) -> SessionAnswer:
        """Send one request and collect its chunks until the `end` chunk."""
        process = self._require_running()
        session_id = uuid.uuid4().hex
        inbox = self._inbox(session_id)
        line = json.dumps({"session_id": session_id, "event": "request", "data": dict(data)})
        assert process.stdin is not None
        with self._stdin_lock:
            process.stdin.write(line.encode() + b"\n")
            process.stdin.flush()

        payloads: list[Any] = []
        error: dict[str, Any] | None = None
        try:
            while True:
                try:
                    chunk = inbox.get(timeout=timeout_s)
                except queue.Empty:
                    raise PluginRuntimeError(
                        f"no `end` chunk for {data.get('action')} within {timeout_s:.0f} s"
                        + self._stderr_report()
                    ) from None
                kind = chunk.get("type")
                if kind == "end":
                    return SessionAnswer(payloads=payloads, error=error)
                if kind == "error":
                    error = chunk.get("data") or {}
                elif kind == "stream":
                    payloads.append(chunk.get("data"))
                elif kind == "invoke":
                    raise PluginRuntimeError(
                        f"the plugin called back into Dify, which this harness does not serve: "
                        f"{chunk.get('data')}"
                    )
                elif kind == "exited":
                    raise PluginRuntimeError(
                        f"the plugin exited (rc={process.poll()}) while answering"
                        + self._stderr_report()
                    )
        finally:
            with self._sessions_lock:
                self._sessions.pop(session_id, None)

    def validate_credentials(
        self,
        credentials: Mapping[str, Any],
        provider: str = DEFAULT_PROVIDER,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> tuple[bool, str | None]:
        """Save the settings page as Dify does: (True, None) or (False, the message shown)."""
        return self._validation(
            "tool", "validate_tool_credentials", provider, credentials, timeout_s
        )

    def _validation(
        self,
        kind: str,
        action: str,
        provider: str,
        credentials: Mapping[str, Any],
        timeout_s: float,
    ) -> tuple[bool, str | None]:
        answer = self.request(
            {
                "type": kind,
                "action": action,
                "user_id": USER_ID,
                "provider": provider,
                "credentials": dict(credentials),
            },
            timeout_s=timeout_s,
        )
        if answer.error is not None:
            return False, str(answer.error.get("message"))
        ok = any(isinstance(p, dict) and p.get("result") is True for p in answer.payloads)
        return ok, None if ok else f"unexpected answer: {answer.payloads}"

    def invoke_tool(
        self,
        tool: str,
        params: Mapping[str, Any],
        credentials: Mapping[str, Any],
        provider: str = DEFAULT_PROVIDER,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> ToolResult:
        answer = self.request(
            {
                "type": "tool",
                "action": "invoke_tool",
                "user_id": USER_ID,
                "provider": provider,
                "tool": tool,
                "credentials": dict(credentials),
                "credential_type": "api-key",
                "tool_parameters": dict(params),
            },
            timeout_s=timeout_s,
        )
        result = ToolResult()
        for payload in answer.payloads:
            result.messages.append(payload)
            kind, message = payload.get("type"), payload.get("message") or {}
            if kind == "text":
                result.texts.append(message["text"])
            elif kind == "json":
                result.jsons.append(message["json_object"])
            elif kind == "variable":
                result.variables[message["variable_name"]] = message["variable_value"]
        if answer.error is not None:
            result.error = str(answer.error.get("message"))
            result.error_type = answer.error.get("error_type")
        declared = self.declared_variables(tool, provider)
        problems = variable_problems(result.variables, declared, complete=result.error is None)
        if problems:
            raise PluginRuntimeError(f"{tool} broke its output_schema: {'; '.join(problems)}")
        return result

    def declared_variables(self, tool: str, provider: str = DEFAULT_PROVIDER) -> dict[str, str]:
        """The tool's output variables as its output_schema declares them: name → JSON type."""
        return self.declarations.output_variables(provider, tool)

    def invoke_endpoint(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        settings: Mapping[str, Any] | None = None,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> EndpointResponse:
        """Send a raw HTTP/1.1 request as the daemon forwards it (path after `/e/<hook>`)."""
        all_headers = {
            "Host": "localhost",
            "Dify-Hook-Id": "testhook00000000",
            "Dify-Hook-Url": "http://localhost/e/testhook00000000",
            **(headers or {}),
        }
        raw = raw_http_request(method, path, all_headers, body)
        answer = self.request(
            {
                "type": "endpoint",
                "action": "invoke_endpoint",
                "settings": dict(settings or {}),
                "raw_http_request": binascii.hexlify(raw).decode(),
            },
            timeout_s=timeout_s,
        )
        if answer.error is not None:
            raise PluginRuntimeError(f"endpoint request failed inside the SDK: {answer.error}")
        if not answer.payloads:
            raise PluginRuntimeError("endpoint request produced no response chunk")
        first = answer.payloads[0]
        hex_body = "".join(p.get("result", "") for p in answer.payloads)
        return EndpointResponse(
            status=int(first["status"]),
            headers={str(k): str(v) for k, v in (first.get("headers") or {}).items()},
            body=bytes.fromhex(hex_body),
        )

    # -- trigger actions -------------------------------------------------------------------

    def dispatch_trigger_event(
        self,
        raw_request: bytes,
        properties: Mapping[str, Any],
        provider: str = TRIGGER_PROVIDER,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> TriggerDispatch:
        """A request to the subscription's callback URL, as Dify's API hands it to the plugin."""
        answer = self._trigger_answer(
            {
                "action": "dispatch_trigger_event",
                "provider": provider,
                "subscription": subscription(properties),
                "credentials": {},
                "credential_type": "unauthorized",
                "raw_http_request": binascii.hexlify(raw_request).decode(),
            },
            timeout_s,
        )
        return TriggerDispatch(
            response=parse_http_response(bytes.fromhex(answer["response"])),
            events=list(answer["events"]),
            payload=dict(answer.get("payload") or {}),
            user_id=str(answer.get("user_id", "")),
        )

    def invoke_trigger_event(
        self,
        event: str,
        payload: Mapping[str, Any],
        parameters: Mapping[str, Any],
        raw_request: bytes,
        properties: Mapping[str, Any],
        provider: str = TRIGGER_PROVIDER,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> TriggerRun:
        """One workflow's event node with these parameters, given a dispatch's payload."""
        answer = self._trigger_answer(
            {
                "action": "invoke_trigger_event",
                "provider": provider,
                "event": event,
                "subscription": subscription(properties),
                "credentials": {},
                "credential_type": "unauthorized",
                "raw_http_request": binascii.hexlify(raw_request).decode(),
                "parameters": dict(parameters),
                "payload": dict(payload),
            },
            timeout_s,
        )
        run = TriggerRun(variables=dict(answer["variables"]), cancelled=bool(answer["cancelled"]))
        declared = self.declarations.event_variables(provider, event)
        problems = variable_problems(
            run.variables, declared, complete=not run.cancelled, nullable=True
        )
        if problems:
            raise PluginRuntimeError(f"{event} broke its output_schema: {'; '.join(problems)}")
        return run

    def validate_trigger_credentials(
        self,
        credentials: Mapping[str, Any],
        provider: str = TRIGGER_PROVIDER,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> tuple[bool, str | None]:
        """The API-key check of an automatic subscription: (True, None) or (False, message)."""
        return self._validation(
            "trigger", "validate_trigger_credentials", provider, credentials, timeout_s
        )

    def subscribe_trigger(
        self,
        endpoint: str,
        parameters: Mapping[str, Any],
        credentials: Mapping[str, Any],
        provider: str = TRIGGER_PROVIDER,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> dict[str, Any]:
        """An automatic subscription: the subscription the plugin made (raises with the
        plugin's message when it refused)."""
        answer = self._trigger_answer(
            {
                "action": "subscribe_trigger",
                "provider": provider,
                "credentials": dict(credentials),
                "credential_type": "api-key",
                "endpoint": endpoint,
                "parameters": dict(parameters),
            },
            timeout_s,
        )
        return dict(answer["subscription"])

    def unsubscribe_trigger(
        self,
        made: Mapping[str, Any],
        credentials: Mapping[str, Any],
        provider: str = TRIGGER_PROVIDER,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> dict[str, Any]:
        """Deletes a subscription `subscribe_trigger` made: the plugin's UnsubscribeResult."""
        answer = self._trigger_answer(
            {
                "action": "unsubscribe_trigger",
                "provider": provider,
                "subscription": dict(made),
                "credentials": dict(credentials),
                "credential_type": "api-key",
            },
            timeout_s,
        )
        return dict(answer["subscription"])

    def _trigger_answer(self, data: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        answer = self.request({"type": "trigger", "user_id": USER_ID, **data}, timeout_s)
        if answer.error is not None:
            raise TriggerActionError(str(answer.error.get("message")), answer.error)
        if len(answer.payloads) != 1 or not isinstance(answer.payloads[0], dict):
            raise PluginRuntimeError(f"{data['action']} answered {answer.payloads!r}")
        return dict(answer.payloads[0])

    @property
    def pid(self) -> int:
        """The plugin process's id (a benchmark reads its CPU time)."""
        return self._require_running().pid

    # -- internals -------------------------------------------------------------------------

    def _require_running(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise PluginRuntimeError("the plugin was not started")
        if self._process.poll() is not None:
            raise PluginRuntimeError(
                f"the plugin is not running (rc={self._process.poll()})" + self._stderr_report()
            )
        return self._process

    def _inbox(self, session_id: str) -> queue.Queue[dict[str, Any]]:
        with self._sessions_lock:
            return self._sessions.setdefault(session_id, queue.Queue())

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        manifest_seen = False
        for raw_line in self._process.stdout:
            line = raw_line.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                self._stderr_tail.append(f"[stdout, not JSON] {line.decode(errors='replace')}\n")
                continue
            if not manifest_seen:
                manifest_seen = True
                self._manifest.put(message)
                continue
            if message.get("event") != "session" or not message.get("session_id"):
                continue  # heartbeats and log lines
            self._inbox(message["session_id"]).put(message.get("data") or {})
        # stdout closed: wake every waiter instead of letting it time out.
        self._manifest.put(None)
        with self._sessions_lock:
            for inbox in self._sessions.values():
                inbox.put({"type": "exited"})

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for raw_line in self._process.stderr:
            self._stderr_tail.append(raw_line.decode(errors="replace"))

    def _stderr_report(self) -> str:
        tail = self.stderr.strip()
        return f"\n--- plugin stderr (tail) ---\n{tail}" if tail else "\n(plugin stderr is empty)"
