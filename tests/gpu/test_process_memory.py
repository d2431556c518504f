"""A process that allocates a known amount with torch shows up with its PID and that memory.

What NVML attributes to a process is its allocations plus its CUDA context (a few hundred
MiB, depending on driver and libraries loaded). The test measures the context with
nvidia-smi (an independent NVML client) after the child has created it and before it
allocates, then expects context + allocation from the collector, within 5 %.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.gpu.live_collector import LiveCollector, nvidia_smi, process_in

pytestmark = pytest.mark.gpu

ALLOCATION_MIB = 4096
RELATIVE_TOLERANCE = 0.05
STEP_TIMEOUT_S = 60.0

# Creates its CUDA context, waits; allocates ALLOCATION_MIB, waits; exits on stdin EOF.
CHILD = f"""
import sys, torch
torch.zeros(1, device="cuda"); torch.cuda.synchronize()
print("context", flush=True)
sys.stdin.readline()
held = torch.empty({ALLOCATION_MIB} * 2**20, dtype=torch.uint8, device="cuda")
torch.cuda.synchronize()
print("allocated", flush=True)
sys.stdin.readline()
"""


class Child:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.process.pid

    def expect(self, line: str) -> None:
        assert self.process.stdout is not None
        got = self.process.stdout.readline().strip()
        if got != line:
            self.process.kill()
            _, errors = self.process.communicate(timeout=STEP_TIMEOUT_S)
            raise AssertionError(f"child said {got!r}, expected {line!r}; stderr:\n{errors}")

    def proceed(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=STEP_TIMEOUT_S)


@pytest.fixture
def torch_child() -> Iterator[Child]:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is needed to allocate GPU memory")
    child = Child()
    try:
        yield child
    finally:
        child.stop()


def _smi_process_mib(pid: int) -> float | None:
    for row_pid, used in nvidia_smi("--query-compute-apps=pid,used_memory"):
        if int(row_pid) == pid:
            return float(used)
    return None


def _wait_smi_process_mib(pid: int) -> float:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        used = _smi_process_mib(pid)
        if used is not None:
            return used
        time.sleep(0.5)
    raise AssertionError(f"nvidia-smi never listed pid {pid}")


def test_allocating_process_appears_with_its_pid_and_memory(
    live_collector: LiveCollector, torch_child: Child
) -> None:
    torch_child.expect("context")
    context_mib = _wait_smi_process_mib(torch_child.pid)
    torch_child.proceed()
    torch_child.expect("allocated")
    expected_mib = context_mib + ALLOCATION_MIB

    def allocated(snapshot: dict) -> dict | None:
        process = process_in(snapshot, torch_child.pid)
        if process and (process.get("used_memory_mib") or 0) >= ALLOCATION_MIB:
            return process
        return None

    process = live_collector.wait_for(allocated, f"pid {torch_child.pid} holding its allocation")
    assert process["used_memory_mib"] == pytest.approx(expected_mib, rel=RELATIVE_TOLERANCE)
