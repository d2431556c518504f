"""bench/device/multigpu/host.py and runs.sh without a GPU: children pinned to GPU groups with
NVLink multicast off, the holder's code, child processes stopped by pid, the collector as a
subprocess (on a replay trace here), and every script the runner names."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.eight_gpu_trace import GPU_COUNT, eight_gpu_snapshot
from tests.support.synthetic_trace import write_synthetic_trace

ROOT = Path(__file__).resolve().parents[2]
MULTIGPU = ROOT / "bench" / "device" / "multigpu"
sys.path.insert(0, str(ROOT / "bench" / "engines"))
sys.path.insert(0, str(MULTIGPU))
sys.path.insert(0, str(ROOT / "bench"))
import engine_validation  # noqa: E402
from host import HOLDER_CODE, Child, Collector, gpu_env, holder_command  # noqa: E402
from multicast_off import MULTICAST_OFF  # noqa: E402


def test_a_gpu_group_is_visible_in_nvmls_order_with_multicast_off() -> None:
    env = gpu_env({"PATH": "/usr/bin"}, [1, 2])
    assert (env["CUDA_VISIBLE_DEVICES"], env["CUDA_DEVICE_ORDER"]) == ("1,2", "PCI_BUS_ID")
    assert MULTICAST_OFF.items() <= env.items()
    assert env["PATH"] == "/usr/bin"


def test_without_a_group_only_multicast_is_set() -> None:
    env = gpu_env({})
    assert env == MULTICAST_OFF


def test_the_holder_code_compiles_and_takes_a_fraction_in_zero_one() -> None:
    compile(HOLDER_CODE, "holder", "exec")
    assert holder_command(0.5)[-1] == "0.5"
    with pytest.raises(ValueError, match="fraction"):
        holder_command(1.0)


def test_a_child_is_waited_for_by_what_it_says_and_stopped_by_its_pid(tmp_path: Path) -> None:
    code = "import time; print('ready', flush=True); time.sleep(60)"
    child = Child([sys.executable, "-c", code], tmp_path / "child.log", gpu_env({}))
    child.wait_said("ready", 10)
    assert child.alive()
    assert child.stop() == -15  # SIGTERM
    assert not child.alive()


def test_a_child_that_exits_before_saying_it_is_an_error_naming_its_log(tmp_path: Path) -> None:
    child = Child([sys.executable, "-c", "print('no')"], tmp_path / "quiet.log", gpu_env({}))
    with pytest.raises(RuntimeError, match=r"quiet\.log: exited"):
        child.wait_said("ready", 10)


def test_the_collector_starts_is_read_through_the_plugins_client_and_stops(
    tmp_path: Path,
) -> None:
    trace = write_synthetic_trace(tmp_path / "trace.jsonl", frame=eight_gpu_snapshot)
    collector = Collector(tmp_path / "collector", {"replay": str(trace)})
    try:
        snapshot = collector.snapshot()
    finally:
        collector.stop()
    assert len(snapshot.gpus) == GPU_COUNT
    assert not collector.child.alive()


def test_every_python_script_the_runner_names_exists() -> None:
    runner = (MULTIGPU / "runs.sh").read_text()
    scripts = set(re.findall(r"python3 (bench/\S+\.py)", runner))
    assert len(scripts) >= 6
    assert [s for s in sorted(scripts) if not (ROOT / s).is_file()] == []


@pytest.mark.parametrize("script", ["bench/device/multigpu/runs.sh", "bench/device/engine_call.sh"])
def test_the_device_shell_scripts_parse(script: str) -> None:
    subprocess.run(["bash", "-n", script], cwd=ROOT, check=True)


def test_the_runners_default_vllm_cases_are_engine_validation_cases() -> None:
    runner = (MULTIGPU / "runs.sh").read_text()
    default = re.search(r"VLLM_CASES:-([^}]*)\}", runner)
    assert default is not None
    names = default.group(1).replace("\\\n", " ").split()
    assert "llama-3.1-70b-tp8" in names
    assert set(names) <= {case.name for case in engine_validation.CASES}


def test_the_runner_turns_multicast_off_before_any_step() -> None:
    runner = (MULTIGPU / "runs.sh").read_text()
    assert runner.index("multicast_off.py") < runner.index("step() {")
