"""Puts running load processes into Docker-style containers for a recording host without Docker.

    python3 bench/load/container_stand_in.py SOCKET PID:NAME:APP:TEAM[:PORT] [...]

For each process it does what Docker's systemd cgroup driver does for a container, by hand:
creates `/sys/fs/cgroup/system.slice/docker-<id>.scope` (cgroup v2) and moves the process and
its descendants (a vLLM server's engine core, the process that holds the GPU) into it. It then
answers the Docker Engine API's `GET /containers/<id>/json` on a unix socket with the
container's name and its `gpu-insight.app` / `gpu-insight.team` labels, so the
collector's real attribution path (cgroup → container id → Docker API → labels) runs end to
end. It is a stand-in for the Docker engine, not Docker; it runs until SIGTERM.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def container_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def with_descendants(pid: int, proc: Path = Path("/proc")) -> list[int]:
    parents: dict[int, int] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    family = [pid]
    for parent in family:  # grows while it is walked: breadth first
        family.extend(child for child, ppid in parents.items() if ppid == parent)
    return family


def move_into_scope(pid: int, cid: str) -> Path:
    if not (CGROUP_ROOT / "cgroup.controllers").exists():
        raise SystemExit("container_stand_in: cgroup v2 is not mounted at /sys/fs/cgroup")
    scope = CGROUP_ROOT / "system.slice" / f"docker-{cid}.scope"
    scope.mkdir(parents=True, exist_ok=True)
    for member in with_descendants(pid):
        (scope / "cgroup.procs").write_text(f"{member}\n")
    return scope


def inspect_document(name: str, app: str, team: str, port: str | None) -> dict:
    ports = {f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": port}]} if port else {}
    return {
        "Name": f"/{name}",
        "Config": {"Labels": {"gpu-insight.app": app, "gpu-insight.team": team}},
        "NetworkSettings": {"Ports": ports},
    }


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    socket_path, specs = sys.argv[1], sys.argv[2:]
    documents: dict[str, dict] = {}
    for spec in specs:
        pid, name, app, team, *port = spec.split(":")
        cid = container_id(name)
        scope = move_into_scope(int(pid), cid)
        documents[cid] = inspect_document(name, app, team, port[0] if port else None)
        print(f"container_stand_in: pid {pid} → {name} ({scope.name})", flush=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            cid = self.path.removeprefix("/containers/").removesuffix("/json")
            document = documents.get(cid)
            body = json.dumps(document or {"message": "No such container"}).encode()
            self.send_response(200 if document else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server = _UnixHTTPServer(socket_path, Handler)
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    print(f"container_stand_in: Docker API stand-in on {socket_path}", flush=True)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    thread.join()
    server.server_close()
    os.unlink(socket_path)


if __name__ == "__main__":
    main()
