"""Container name, labels and ports from the Docker Engine API over a unix socket."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from gpu_insight.collector.attribution.docker_api import ContainerInfo, DockerClient
from tests.collector.fake_docker import fake_docker, inspect_document

CID = "3f4e2a9b8c7d6e5f40312a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_name_labels_and_published_ports_are_read() -> None:
    document = inspect_document(
        "vllm-qwen", {"gpu-insight.app": "support-bot"}, {"8000/tcp": "18000"}
    )
    with fake_docker({CID: document}) as (path, _):
        result = DockerClient(path, timeout_s=1.0).lookup(CID)
    assert result.error is None
    assert result.info == ContainerInfo(
        name="vllm-qwen",
        labels={"gpu-insight.app": "support-bot"},
        published_ports={8000: 18000},
    )


def test_unknown_container_is_not_an_error() -> None:
    with fake_docker({}) as (path, _):
        result = DockerClient(path, timeout_s=1.0).lookup(CID)
    assert result.info is None and result.error is None


def test_absent_socket_is_normal_and_costs_nothing() -> None:
    client = DockerClient("/nonexistent/docker.sock", timeout_s=1.0)
    result = client.lookup(CID)
    assert not client.available()
    assert result.info is None and result.error is None


def test_answers_are_cached_until_they_expire() -> None:
    clock = FakeClock()
    with fake_docker({CID: inspect_document("c")}) as (path, requests):
        client = DockerClient(path, timeout_s=1.0, clock=clock)
        client.lookup(CID)
        client.lookup(CID)
        assert len(requests) == 1
        clock.now += 301.0
        client.lookup(CID)
        assert len(requests) == 2


def test_a_daemon_that_never_answers_gives_a_bounded_error() -> None:
    with tempfile.TemporaryDirectory(prefix="gi-mute-", dir="/tmp") as directory:
        path = str(Path(directory) / "docker.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)  # accepts connections, never answers
        try:
            result = DockerClient(path, timeout_s=0.2).lookup(CID)
        finally:
            listener.close()
    assert result.info is None
    assert result.error == "docker API did not answer (TimeoutError)"
