"""A synthetic replay trace of one 8-GPU host (an HGX H100 board), for collector and fleet tests.

GPUs 0-3 serve one vLLM engine at tensor parallel 4, built as vLLM builds it: an API server
whose engine core starts one worker per GPU, titled `VLLM::Worker_TP0` ... `_TP3`; NVML lists
the four workers, each holding its GPU. GPU 4 serves a single-GPU vLLM (its engine core holds
the GPU), GPU 5 an SGLang server (its scheduler child holds it), GPU 6 a plain transformers
script nobody claimed, and GPU 7 is idle. Every GPU has its 18 NVLinks active.

`HOST_TREE` is the host's process tree as /proc shows it; the trace's processes carry the
attribution the collector finds on that tree (tests hold the two together). Write it with
`write_synthetic_trace(path, frame=eight_gpu_snapshot)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gpu_insight.schemas import (
    Attribution,
    EngineMetrics,
    Gpu,
    GpuProcess,
    KnownEngine,
    NvLink,
    Snapshot,
)
from tests.support.h100 import H100_TOTAL_MIB, h100_gpu

HOST = "gpu-node-8"
GPU_COUNT = 8
NVLINKS_PER_GPU = 18  # an H100 SXM's
RESERVED_MIB = 512.0  # the driver's reserve
START_T = 1_760_100_000.0
IDLE_GPU = 7
TITLE_PADDING = 128  # a title set with setproctitle is followed by NULs in /proc/<pid>/cmdline


@dataclass(frozen=True)
class HostProcess:
    """One process as /proc shows it; `gpu` is set when NVML lists it on that GPU."""

    pid: int
    ppid: int
    argv: tuple[str, ...]
    gpu: int | None = None
    used_memory_mib: float = 0.0
    titled: bool = False  # argv[0] is a process title, padded with NULs

    @property
    def comm(self) -> str:
        """The kernel's 15-character name: the title's start, or the program's base name."""
        return (self.argv[0] if self.titled else self.argv[0].rsplit("/", 1)[-1])[:15]

    @property
    def cmdline_bytes(self) -> bytes:
        if self.titled:
            return self.argv[0].encode() + b"\0" * TITLE_PADDING
        return b"".join(arg.encode() + b"\0" for arg in self.argv)


@dataclass(frozen=True)
class ServedInstance:
    """One model instance: what the collector should attribute its GPU processes to."""

    engine: KnownEngine
    model: str
    port: int | None
    app: str | None
    team: str | None
    container: str | None
    sm_percent: float
    processes: tuple[HostProcess, ...]

    @property
    def gpu_holders(self) -> tuple[HostProcess, ...]:
        return tuple(p for p in self.processes if p.gpu is not None)

    def attribution(self) -> Attribution:
        return Attribution(
            container_name=self.container,
            container_runtime="docker" if self.container else None,
            engine=self.engine,
            model=self.model,
            port=self.port,
            app=self.app,
            team=self.team,
            unattributed_reason=None if self.app else "no container and no matching rule",
        )


PYTHON = "/usr/bin/python3"


def argv(command: str) -> tuple[str, ...]:
    return tuple(command.split())


TP_MODEL = "meta-llama/Llama-3.1-70B-Instruct"
TP_SIZE = 4
TP_API_SERVER_PID = 3100
TP_ENGINE_CORE_PID = 3102
TP_WORKER_MIB = 72_900.0  # --gpu-memory-utilization 0.9 of 81,559 MiB, less the driver's reserve

TENSOR_PARALLEL = ServedInstance(
    engine="vllm",
    model=TP_MODEL,
    port=8000,
    app="assistant",
    team="platform",
    container="vllm-llama-70b",
    sm_percent=78.0,
    processes=(
        HostProcess(
            TP_API_SERVER_PID,
            1,
            argv(
                f"{PYTHON} -m vllm.entrypoints.openai.api_server --model {TP_MODEL} "
                f"--tensor-parallel-size {TP_SIZE} --port 8000"
            ),
        ),
        HostProcess(
            3101,
            TP_API_SERVER_PID,
            (PYTHON, "-B", "-c", "from multiprocessing.resource_tracker import main;main(45)"),
        ),
        HostProcess(TP_ENGINE_CORE_PID, TP_API_SERVER_PID, ("VLLM::EngineCore",), titled=True),
        *(
            HostProcess(
                3110 + rank,
                TP_ENGINE_CORE_PID,
                (f"VLLM::Worker_TP{rank}",),
                gpu=rank,
                used_memory_mib=TP_WORKER_MIB,
                titled=True,
            )
            for rank in range(TP_SIZE)
        ),
    ),
)
SINGLE_VLLM = ServedInstance(
    engine="vllm",
    model="Qwen/Qwen2.5-7B-Instruct",
    port=8001,
    app="support-bot",
    team="platform",
    container="vllm-qwen-7b",
    sm_percent=41.0,
    processes=(
        HostProcess(
            4100,
            1,
            argv(f"{PYTHON} /usr/local/bin/vllm serve Qwen/Qwen2.5-7B-Instruct --port 8001"),
        ),
        HostProcess(
            4102, 4100, ("VLLM::EngineCore",), gpu=4, used_memory_mib=72_900.0, titled=True
        ),
    ),
)
SGLANG = ServedInstance(
    engine="sglang",
    model="Qwen/Qwen2.5-14B-Instruct",
    port=30000,
    app="search",
    team="research",
    container="sglang-qwen-14b",
    sm_percent=55.0,
    processes=(
        HostProcess(
            5100,
            1,
            argv(
                f"{PYTHON} -m sglang.launch_server --model-path Qwen/Qwen2.5-14B-Instruct "
                "--port 30000"
            ),
        ),
        HostProcess(
            5101, 5100, ("sglang::scheduler",), gpu=5, used_memory_mib=69_300.0, titled=True
        ),
    ),
)
SCRIPT = ServedInstance(
    engine="transformers",
    model="mistralai/Mistral-7B-Instruct-v0.3",
    port=None,
    app=None,
    team=None,
    container=None,
    sm_percent=12.0,
    processes=(
        HostProcess(
            6100,
            1,
            (PYTHON, "generate.py", "--model", "mistralai/Mistral-7B-Instruct-v0.3"),
            gpu=6,
            used_memory_mib=15_600.0,
        ),
    ),
)
INSTANCES = (TENSOR_PARALLEL, SINGLE_VLLM, SGLANG, SCRIPT)
HOST_TREE: tuple[HostProcess, ...] = tuple(p for i in INSTANCES for p in i.processes)


def gpu_uuid(index: int) -> str:
    return f"GPU-8a8a8a8a-0000-4000-8000-00000000000{index}"


def _holders() -> Iterator[tuple[ServedInstance, HostProcess]]:
    for instance in INSTANCES:
        for process in instance.gpu_holders:
            yield instance, process


def _gpu(index: int, step: int, held_mib: float, sm_percent: float) -> Gpu:
    busy = held_mib > 0
    utilization = min(100.0, sm_percent + 1.5 * (step % 4)) if busy else 0.0
    return h100_gpu(
        index,
        uuid=gpu_uuid(index),
        pci_bus_id=f"00000000:{0x18 + 0x10 * index:02X}:00.0",
        memory_used_mib=held_mib,
        memory_free_mib=H100_TOTAL_MIB - held_mib - RESERVED_MIB,
        memory_reserved_mib=RESERVED_MIB,
        utilization_percent=utilization,
        memory_activity_percent=utilization / 2,
        temperature_celsius=55.0 if busy else 31.0,
        power_watts=120.0 + 5.0 * utilization if busy else 68.0,
        sm_clock_mhz=1980.0 if busy else 345.0,
        ecc_uncorrected_volatile=0,
        xid_errors=0,
        energy_joules=1.0e6 * (index + 1) + step * (120.0 + 5.0 * utilization),
        nvlink_active=True,
        nvlinks=[
            NvLink(link=link, active=True, replay_errors=0, recovery_errors=0, crc_flit_errors=0)
            for link in range(NVLINKS_PER_GPU)
        ],
        remapped_rows_correctable=0,
        remapped_rows_uncorrectable=0,
        remapped_rows_pending=False,
        remapped_rows_failure=False,
    )


def _engine(instance: ServedInstance, step: int) -> EngineMetrics:
    holders = instance.gpu_holders
    return EngineMetrics(
        engine=instance.engine,
        model=instance.model,
        url=f"http://127.0.0.1:{instance.port}/metrics",
        pids=[p.pid for p in holders],
        gpu_uuids=[gpu_uuid(p.gpu) for p in holders if p.gpu is not None],
        app=instance.app,
        team=instance.team,
        scraped_at=START_T + step,
        up=True,
        requests_running=float(4 + step % 3),
        requests_waiting=0.0,
        kv_cache_usage_ratio=0.2 + 0.01 * (step % 5),
    )


def eight_gpu_snapshot(step: int) -> Snapshot:
    """Frame `step` (one second apart): the same processes, utilization drifting a little."""
    held = dict.fromkeys(range(GPU_COUNT), 0.0)
    sm = dict.fromkeys(range(GPU_COUNT), 0.0)
    processes = []
    for instance, process in _holders():
        assert process.gpu is not None
        held[process.gpu] += process.used_memory_mib
        sm[process.gpu] = instance.sm_percent
        processes.append(
            GpuProcess(
                pid=process.pid,
                gpu_index=process.gpu,
                gpu_uuid=gpu_uuid(process.gpu),
                name=process.comm,
                cmdline=" ".join(process.argv),
                user="root",
                used_memory_mib=process.used_memory_mib,
                sm_utilization_percent=instance.sm_percent,
                attribution=instance.attribution(),
            )
        )
    return Snapshot(
        host=HOST,
        source="replay",
        collected_at=START_T + step,
        driver_version="580.159.04",
        cuda_version="13.0",
        nvml_version="13.580.159.04",
        sample_duration_s=0.011,
        gpus=[_gpu(i, step, held[i], sm[i]) for i in range(GPU_COUNT)],
        processes=processes,
        engines=[_engine(i, step) for i in INSTANCES if i.port is not None],
    )
