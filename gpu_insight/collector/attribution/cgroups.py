"""`/proc/<pid>/cgroup` lines → the container (and Kubernetes pod) a process runs in.

cgroup v2 has one line `0::<path>`; v1 has one line per hierarchy (`<id>:<controllers>:<path>`)
and they name the same container. Layouts recognised:

- Docker, systemd driver: `…/docker-<id>.scope`; cgroupfs driver: `/docker/<id>`
- containerd (CRI): `…/cri-containerd-<id>.scope`; CRI-O: `…/crio-<id>.scope`
- podman: `…/libpod-<id>.scope`, cgroupfs: `/libpod_parent/libpod-<id>`
- Kubernetes, cgroupfs: `/kubepods[/<qos>]/pod<uid>/<id>`; systemd:
  `/kubepods.slice/…/kubepods-<qos>-pod<uid_with_underscores>.slice/<runtime>-<id>.scope`

Anything else (a plain systemd service, a layout we do not know) is "no container".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID = r"[0-9a-f]{12,64}"
_SCOPED_ID = re.compile(rf"(?:^|/)(docker|cri-containerd|crio|libpod)-({_ID})(?:\.scope)?(?:/|$)")
_DOCKER_CGROUPFS = re.compile(rf"(?:^|/)docker/({_ID})(?:/|$)")
_UID = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}"
_POD = re.compile(rf"(?:^|[/-])pod({_UID})")
_POD_CONTAINER_CGROUPFS = re.compile(rf"/pod[0-9a-f_-]{{36}}/({_ID})(?:/|$)")

_RUNTIME_BY_PREFIX = {
    "docker": "docker",
    "cri-containerd": "containerd",
    "crio": "cri-o",
    "libpod": "podman",
}


@dataclass(frozen=True)
class ContainerRef:
    runtime: str  # docker, containerd, cri-o, podman, kubernetes
    container_id: str | None
    pod_uid: str | None = None


def container_from_cgroup(lines: list[str]) -> ContainerRef | None:
    """The container named by the first cgroup line that names one, else None."""
    for line in lines:
        path = line.split(":", 2)[-1].strip()
        ref = _container_from_path(path)
        if ref is not None:
            return ref
    return None


def _container_from_path(path: str) -> ContainerRef | None:
    runtime: str | None = None
    container_id: str | None = None
    scoped = _SCOPED_ID.search(path)
    if scoped:
        runtime, container_id = _RUNTIME_BY_PREFIX[scoped.group(1)], scoped.group(2)
    elif docker := _DOCKER_CGROUPFS.search(path):
        runtime, container_id = "docker", docker.group(1)

    pod = _POD.search(path) if "kubepods" in path else None
    if pod is not None:
        if container_id is None and (plain := _POD_CONTAINER_CGROUPFS.search(path)):
            container_id = plain.group(1)
        # systemd slice names cannot hold '-' inside a unit name part: the uid uses '_'.
        return ContainerRef("kubernetes", container_id, pod.group(1).replace("_", "-"))
    if runtime is None:
        return None
    return ContainerRef(runtime, container_id)
