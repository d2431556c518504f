"""Attribution end to end over synthetic /proc trees and a fake Docker socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_insight.collector.attribution import PID_NOT_VISIBLE, Attributor
from gpu_insight.collector.config import AttributionConfig, AttributionRule, ConfigError
from tests.collector.fake_docker import fake_docker, inspect_document
from tests.collector.fake_proc import FakeProc

CID = "3f4e2a9b8c7d6e5f40312a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc"
DOCKER_CGROUP = [f"0::/system.slice/docker-{CID}.scope"]
VLLM_ARGV = ["/usr/bin/python3", "/usr/local/bin/vllm", "serve", "Qwen/Qwen2.5-7B-Instruct"]


@pytest.fixture
def proc(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path / "proc")


def attributor(
    proc: FakeProc,
    socket_path: str = "/nonexistent.sock",
    rules: list[AttributionRule] | None = None,
) -> Attributor:
    return Attributor(
        AttributionConfig(proc_root=str(proc.root), docker_socket=socket_path, rules=rules or [])
    )


def test_process_identity_has_name_cmdline_user_and_engine(proc: FakeProc) -> None:
    proc.add(4100, [*VLLM_ARGV, "--port", "8001"], comm="vllm", uid=0)
    identity = attributor(proc).describe(4100)
    assert identity is not None
    assert identity.name == "vllm"
    assert identity.cmdline == " ".join([*VLLM_ARGV, "--port", "8001"])
    assert identity.user == "root"
    assert identity.attribution.engine == "vllm"
    assert identity.attribution.model == "Qwen/Qwen2.5-7B-Instruct"
    assert identity.attribution.port == 8001


def test_uid_without_an_account_is_shown_as_a_number(proc: FakeProc) -> None:
    proc.add(4101, ["python", "x.py"], uid=61234)
    identity = attributor(proc).describe(4101)
    assert identity is not None and identity.user == "61234"


def test_vanished_process_is_none(proc: FakeProc) -> None:
    assert attributor(proc).describe(4999) is None


def test_pid_outside_our_namespace_is_unattributed_with_the_reason(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path / "proc", host_pid_namespace=False)
    identity = attributor(proc).describe(4100)
    assert identity is not None
    assert identity.attribution.unattributed_reason == PID_NOT_VISIBLE
    assert identity.name is None and identity.cmdline is None


def test_worker_takes_model_and_port_from_its_server(proc: FakeProc) -> None:
    proc.add(4100, [*VLLM_ARGV, "--port", "8001"])
    proc.add(4150, ["VLLM::EngineCore"], ppid=4100)
    identity = attributor(proc).describe(4150)
    assert identity is not None
    assert identity.name == "VLLM::EngineCor"
    assert (identity.attribution.engine, identity.attribution.model) == (
        "vllm",
        "Qwen/Qwen2.5-7B-Instruct",
    )
    assert identity.attribution.port == 8001


def test_multiprocessing_child_of_a_server_is_that_server(proc: FakeProc) -> None:
    proc.add(4200, ["python", "-m", "sglang.launch_server", "--model-path", "org/m"])
    proc.add(4201, ["python", "-c", "from multiprocessing.spawn import spawn_main"], ppid=4200)
    identity = attributor(proc).describe(4201)
    assert identity is not None
    assert (identity.attribution.engine, identity.attribution.port) == ("sglang", 30000)


def test_container_labels_give_app_team_name_and_host_port(proc: FakeProc) -> None:
    proc.add(4300, VLLM_ARGV, cgroup=DOCKER_CGROUP)
    document = inspect_document(
        "vllm-qwen",
        {"gpu-insight.app": "support-bot", "gpu-insight.team": "cx"},
        {"8000/tcp": "18000"},
    )
    with fake_docker({CID: document}) as (socket_path, _):
        identity = attributor(proc, socket_path).describe(4300)
    assert identity is not None
    a = identity.attribution
    assert (a.container_id, a.container_name, a.container_runtime) == (CID, "vllm-qwen", "docker")
    assert (a.app, a.team, a.unattributed_reason) == ("support-bot", "cx", None)
    assert a.port == 18000


def test_extra_label_keys_from_config_are_honoured(proc: FakeProc) -> None:
    proc.add(4301, VLLM_ARGV, cgroup=DOCKER_CGROUP)
    document = inspect_document("c", {"com.example.app": "ocr", "owner": "vision"})
    with fake_docker({CID: document}) as (socket_path, _):
        config = AttributionConfig(
            proc_root=str(proc.root),
            docker_socket=socket_path,
            app_label_keys=["gpu-insight.app", "com.example.app"],
            team_label_keys=["gpu-insight.team", "owner"],
        )
        identity = Attributor(config).describe(4301)
    assert identity is not None
    assert (identity.attribution.app, identity.attribution.team) == ("ocr", "vision")


def test_config_rules_match_container_model_or_cmdline(proc: FakeProc) -> None:
    proc.add(4400, ["llama-server", "-m", "/models/qwen-7b-q4.gguf"])
    proc.add(4401, ["python", "embed.py", "--model", "BAAI/bge-m3"])
    rules = [
        AttributionRule(match_model=r"qwen", app="chat", team="platform"),
        AttributionRule(match_cmdline=r"embed\.py", app="rag"),
    ]
    attr = attributor(proc, rules=rules)
    chat, rag = attr.describe(4400), attr.describe(4401)
    assert chat is not None and rag is not None
    assert (chat.attribution.app, chat.attribution.team) == ("chat", "platform")
    assert (rag.attribution.app, rag.attribution.team) == ("rag", None)


def test_labels_win_over_rules_and_rules_fill_the_rest(proc: FakeProc) -> None:
    proc.add(4402, VLLM_ARGV, cgroup=DOCKER_CGROUP)
    rules = [AttributionRule(match_container=r"^vllm-", app="rule-app", team="rule-team")]
    document = inspect_document("vllm-qwen", {"gpu-insight.app": "label-app"})
    with fake_docker({CID: document}) as (socket_path, _):
        identity = attributor(proc, socket_path, rules=rules).describe(4402)
    assert identity is not None
    assert (identity.attribution.app, identity.attribution.team) == ("label-app", "rule-team")


def test_invalid_rule_pattern_is_reported_with_its_position(proc: FakeProc) -> None:
    with pytest.raises(ConfigError, match=r"attribution\.rules\[0\]\.match_model"):
        attributor(proc, rules=[AttributionRule(match_model="(", app="x")])


def test_host_process_without_rule_says_why(proc: FakeProc) -> None:
    proc.add(4500, ["python", "train.py"])
    identity = attributor(proc).describe(4500)
    assert identity is not None
    assert identity.attribution.unattributed_reason == "no container and no matching rule"


def test_container_without_label_says_which_label_is_missing(proc: FakeProc) -> None:
    proc.add(4501, VLLM_ARGV, cgroup=DOCKER_CGROUP)
    with fake_docker({CID: inspect_document("vllm-qwen")}) as (socket_path, _):
        identity = attributor(proc, socket_path).describe(4501)
    assert identity is not None
    assert identity.attribution.unattributed_reason == (
        "container vllm-qwen has no gpu-insight.app label and no matching rule"
    )


def test_container_without_docker_is_named_by_short_id(proc: FakeProc) -> None:
    proc.add(4502, VLLM_ARGV, cgroup=[f"0::/system.slice/cri-containerd-{CID}.scope"])
    identity = attributor(proc).describe(4502)
    assert identity is not None
    assert identity.attribution.container_runtime == "containerd"
    assert identity.attribution.unattributed_reason == (
        f"container {CID[:12]} has no gpu-insight.app label and no matching rule"
    )


def test_kubernetes_pod_uid_is_reported(proc: FakeProc) -> None:
    pod = "0c3d9d6e-4f2a-4b7e-9a51-2d3f4e5a6b7c"
    proc.add(4600, VLLM_ARGV, cgroup=[f"0::/kubepods/besteffort/pod{pod}/{CID}"])
    identity = attributor(proc).describe(4600)
    assert identity is not None
    assert (identity.attribution.container_runtime, identity.attribution.pod_uid) == (
        "kubernetes",
        pod,
    )


def test_reused_pid_is_identified_afresh(proc: FakeProc) -> None:
    proc.add(4700, ["python", "train.py"], start_ticks=100)
    attr = attributor(proc)
    first = attr.describe(4700)
    proc.add(4700, VLLM_ARGV, start_ticks=200)
    second = attr.describe(4700)
    assert first is not None and second is not None
    assert (first.attribution.engine, second.attribution.engine) == ("unknown", "vllm")


def test_process_that_exits_is_none_afterwards(proc: FakeProc) -> None:
    proc.add(4800, VLLM_ARGV)
    attr = attributor(proc)
    assert attr.describe(4800) is not None
    proc.remove(4800)
    assert attr.describe(4800) is None
