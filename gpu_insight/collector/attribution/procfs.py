"""Reads what attribution needs about one process from a /proc tree.

The root is configurable so that tests can build synthetic trees, and so that a collector in
a container can read the host's /proc mounted elsewhere.
"""

from __future__ import annotations

import pwd
from dataclasses import dataclass
from pathlib import Path


class ProcessGoneError(Exception):
    """The process exited (or was never visible) while we were reading it."""


@dataclass(frozen=True)
class ProcessFacts:
    pid: int
    comm: str | None
    argv: list[str]
    uid: int | None
    ppid: int | None
    start_ticks: int | None  # /proc/<pid>/stat field 22: tells a reused pid from the old one
    cgroup_lines: list[str]


class ProcReader:
    def __init__(self, proc_root: str | Path) -> None:
        self._root = Path(proc_root)

    def exists(self, pid: int) -> bool:
        return (self._root / str(pid)).is_dir()

    def host_pid_namespace(self) -> bool:
        """True when this /proc shows the host's PID namespace.

        NVML reports host PIDs. Only the host namespace shows kernel threads, and kthreadd is
        always PID 2 there; inside a container's PID namespace PID 2 is absent or a user task.
        """
        try:
            return self._status_field(2, "Name") == "kthreadd"
        except ProcessGoneError:
            return False

    def start_ticks(self, pid: int) -> int | None:
        stat = self._read_text(pid, "stat")
        # comm (field 2) may contain spaces and parentheses: split after the last ')'.
        fields = stat.rpartition(")")[2].split()
        try:
            return int(fields[19])  # field 22 overall; fields[0] is field 3 (state)
        except (IndexError, ValueError):
            return None

    def read(self, pid: int) -> ProcessFacts:
        """Everything about one process; raises ProcessGoneError if it is not there."""
        argv = [part for part in self._read_bytes(pid, "cmdline").split(b"\0") if part]
        comm = self._read_text(pid, "comm").strip() or None
        uid_field = self._status_field(pid, "Uid")
        ppid_field = self._status_field(pid, "PPid")
        return ProcessFacts(
            pid=pid,
            comm=comm,
            argv=[part.decode("utf-8", "replace") for part in argv],
            uid=int(uid_field.split()[0]) if uid_field else None,
            ppid=int(ppid_field) if ppid_field and ppid_field.isdigit() else None,
            start_ticks=self.start_ticks(pid),
            cgroup_lines=self._read_text(pid, "cgroup").splitlines(),
        )

    def _status_field(self, pid: int, key: str) -> str | None:
        for line in self._read_text(pid, "status").splitlines():
            name, _, value = line.partition(":")
            if name == key:
                return value.strip()
        return None

    def _read_bytes(self, pid: int, name: str) -> bytes:
        try:
            return (self._root / str(pid) / name).read_bytes()
        except FileNotFoundError as exc:
            raise ProcessGoneError(pid) from exc
        except ProcessLookupError as exc:  # the kernel's answer for a task that just exited
            raise ProcessGoneError(pid) from exc

    def _read_text(self, pid: int, name: str) -> str:
        return self._read_bytes(pid, name).decode("utf-8", "replace")


def user_name(uid: int | None) -> str | None:
    """The account name for a uid in this machine's passwd, else the number as text."""
    if uid is None:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
