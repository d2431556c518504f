"""cgroup lines of every container runtime → container id, runtime and pod."""

from __future__ import annotations

import pytest

from gpu_insight.collector.attribution.cgroups import ContainerRef, container_from_cgroup

CID = "3f4e2a9b8c7d6e5f40312a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc"
POD = "0c3d9d6e-4f2a-4b7e-9a51-2d3f4e5a6b7c"
POD_SYSTEMD = POD.replace("-", "_")


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(
            [f"0::/system.slice/docker-{CID}.scope"],
            ContainerRef("docker", CID),
            id="docker-systemd-cgroup-v2",
        ),
        pytest.param(
            [
                f"12:memory:/docker/{CID}",
                f"11:cpu,cpuacct:/docker/{CID}",
                "1:name=systemd:/docker/" + CID,
            ],
            ContainerRef("docker", CID),
            id="docker-cgroupfs-v1",
        ),
        pytest.param([f"0::/docker/{CID}"], ContainerRef("docker", CID), id="docker-cgroupfs-v2"),
        pytest.param(
            [f"0::/system.slice/cri-containerd-{CID}.scope"],
            ContainerRef("containerd", CID),
            id="containerd",
        ),
        pytest.param(
            [f"0::/machine.slice/libpod-{CID}.scope/container"],
            ContainerRef("podman", CID),
            id="podman-root",
        ),
        pytest.param(
            [f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{CID}.scope"],
            ContainerRef("podman", CID),
            id="podman-rootless",
        ),
        pytest.param(
            [f"5:memory:/libpod_parent/libpod-{CID}"],
            ContainerRef("podman", CID),
            id="podman-cgroupfs-v1",
        ),
        pytest.param(
            [
                "0::/kubepods.slice/kubepods-besteffort.slice/"
                f"kubepods-besteffort-pod{POD_SYSTEMD}.slice/cri-containerd-{CID}.scope"
            ],
            ContainerRef("kubernetes", CID, POD),
            id="kubernetes-systemd-containerd",
        ),
        pytest.param(
            [f"0::/kubepods.slice/kubepods-pod{POD_SYSTEMD}.slice/crio-{CID}.scope"],
            ContainerRef("kubernetes", CID, POD),
            id="kubernetes-guaranteed-crio",
        ),
        pytest.param(
            [f"10:memory:/kubepods/besteffort/pod{POD}/{CID}"],
            ContainerRef("kubernetes", CID, POD),
            id="kubernetes-cgroupfs-v1",
        ),
        pytest.param(
            [f"0::/kubepods/burstable/pod{POD}/{CID}"],
            ContainerRef("kubernetes", CID, POD),
            id="kubernetes-cgroupfs-v2",
        ),
    ],
)
def test_container_is_found_for_each_runtime_layout(
    lines: list[str], expected: ContainerRef
) -> None:
    assert container_from_cgroup(lines) == expected


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(["0::/user.slice/user-1000.slice/session-3.scope"], id="login-session"),
        pytest.param(["0::/system.slice/docker.service"], id="docker-daemon-itself"),
        pytest.param(["0::/process_api/48deb7677c315ec8cd34eaa56d17ca0a"], id="unknown-layout"),
        pytest.param(["0::/"], id="root"),
        pytest.param([], id="empty"),
    ],
)
def test_processes_outside_containers_have_no_container(lines: list[str]) -> None:
    assert container_from_cgroup(lines) is None


def test_the_first_line_naming_a_container_wins_in_a_hybrid_hierarchy() -> None:
    lines = ["1:name=systemd:/user.slice", f"0::/system.slice/docker-{CID}.scope"]
    assert container_from_cgroup(lines) == ContainerRef("docker", CID)
