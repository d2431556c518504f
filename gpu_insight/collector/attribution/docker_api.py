"""Container name, labels and published ports from the Docker Engine API over its unix socket.

Standard library only (http.client over AF_UNIX). Every answer, including "no such container"
and failures, is cached for a while so that a slow or missing daemon costs at most one bounded
wait per container and period, never one per sample. A missing socket is the normal case on
hosts without Docker and is not an error. A podman socket speaks the same API.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_FOUND_TTL_S = 300.0  # names and labels never change; ports only on restart
_MISSING_TTL_S = 30.0  # a container that was not found may appear soon


@dataclass(frozen=True)
class ContainerInfo:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    # container port → host port, for TCP ports published on the host
    published_ports: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerLookup:
    info: ContainerInfo | None
    error: str | None  # set when the daemon was asked and failed; None when simply unknown


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout_s: float) -> None:
        super().__init__("localhost", timeout=timeout_s)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class DockerClient:
    def __init__(
        self,
        socket_path: str,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._socket_path = socket_path
        self._timeout_s = timeout_s
        self._clock = clock
        self._cache: dict[str, tuple[float, ContainerLookup]] = {}
        self._lock = threading.Lock()

    def available(self) -> bool:
        return Path(self._socket_path).is_socket()

    def lookup(self, container_id: str) -> ContainerLookup:
        """The container's name, labels and ports, or why they are not known."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(container_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        # no socket: no Docker on this host, nothing to ask
        result = self._inspect(container_id) if self.available() else ContainerLookup(None, None)
        ttl = _FOUND_TTL_S if result.info is not None else _MISSING_TTL_S
        with self._lock:
            self._cache[container_id] = (now + ttl, result)
        return result

    def _inspect(self, container_id: str) -> ContainerLookup:
        connection = _UnixHTTPConnection(self._socket_path, self._timeout_s)
        try:
            connection.request("GET", f"/containers/{container_id}/json")
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return ContainerLookup(None, f"docker API did not answer ({type(exc).__name__})")
        finally:
            connection.close()
        if response.status == 404:
            return ContainerLookup(None, None)  # not a Docker container (containerd, CRI-O…)
        if response.status != 200:
            return ContainerLookup(None, f"docker API answered HTTP {response.status}")
        try:
            return ContainerLookup(parse_inspect(json.loads(body)), None)
        except (ValueError, TypeError, AttributeError):
            return ContainerLookup(None, "docker API answered something unexpected")


def parse_inspect(document: dict) -> ContainerInfo:
    """`GET /containers/<id>/json` → ContainerInfo."""
    config = document.get("Config") or {}
    ports: dict[int, int] = {}
    for key, bindings in ((document.get("NetworkSettings") or {}).get("Ports") or {}).items():
        port, _, protocol = key.partition("/")
        if protocol != "tcp" or not bindings:
            continue
        host_ports = [b.get("HostPort") for b in bindings if b.get("HostPort")]
        if host_ports and port.isdigit() and host_ports[0].isdigit():
            ports[int(port)] = int(host_ports[0])
    return ContainerInfo(
        name=str(document.get("Name") or "").lstrip("/"),
        labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
        published_ports=ports,
    )
