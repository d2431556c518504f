"""Builds synthetic /proc trees for attribution tests."""

from __future__ import annotations

from pathlib import Path


class FakeProc:
    def __init__(self, root: Path, host_pid_namespace: bool = True) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        if host_pid_namespace:
            self.add(2, ["kthreadd-placeholder"], comm="kthreadd", ppid=0)
            (root / "2" / "cmdline").write_bytes(b"")  # kernel threads have no command line

    def add(
        self,
        pid: int,
        argv: list[str],
        *,
        comm: str | None = None,
        uid: int = 0,
        ppid: int = 1,
        cgroup: list[str] | None = None,
        start_ticks: int = 4242,
    ) -> None:
        directory = self.root / str(pid)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
        name = comm or (argv[0].rsplit("/", 1)[-1][:15] if argv else "")
        (directory / "comm").write_text(name + "\n")
        (directory / "status").write_text(
            f"Name:\t{name}\nState:\tS (sleeping)\nPPid:\t{ppid}\n"
            f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t0\t0\t0\t0\n"
        )
        fields = ["S", str(ppid)] + ["0"] * 17 + [str(start_ticks)] + ["0"] * 30
        (directory / "stat").write_text(f"{pid} ({name}) " + " ".join(fields) + "\n")
        (directory / "cgroup").write_text("\n".join(cgroup or ["0::/user.slice"]) + "\n")

    def remove(self, pid: int) -> None:
        for child in (self.root / str(pid)).iterdir():
            child.unlink()
        (self.root / str(pid)).rmdir()
