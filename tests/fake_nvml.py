# ruff: noqa: N802, N815 (the names are pynvml's)
"""A fake of the part of the `pynvml` module surface the NVML backend uses.

It simulates GPUs, their NVLinks and processes, and the faults the collector must survive: a
missing library
or driver at init (then recovery), NotSupported / FunctionNotFound per call, a lost GPU, any
NVML error on any call, NotFound from process utilization, out-of-range utilization values,
XID events (`inject_xid`) delivered to the event sets a GPU is registered on.
Every call is counted in `calls` by (function name, GPU index or None).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from tests.support.h100 import (
    H100_COMPUTE_CAPABILITY,
    H100_MEMORY_CLOCK_MAX_MHZ,
    H100_NAME,
    H100_POWER_LIMIT_WATTS,
    H100_SHUTDOWN_CELSIUS,
    H100_SLOWDOWN_CELSIUS,
    H100_SM_CLOCK_MAX_MHZ,
    H100_TOTAL_MIB,
)

# Error codes and constants as in NVML's headers.
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_UNKNOWN = 999

_ERROR_TEXT = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_TIMEOUT: "Timeout",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: "RM has detected an NVML/RM version mismatch.",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    value = NVML_ERROR_UNKNOWN

    def __str__(self) -> str:
        return _ERROR_TEXT.get(self.value, f"NVML Error with code {self.value}")


def _error_class(name: str, code: int) -> type[NVMLError]:
    return type(name, (NVMLError,), {"value": code})


NVMLError_Uninitialized = _error_class("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_InvalidArgument = _error_class("NVMLError_InvalidArgument", NVML_ERROR_INVALID_ARGUMENT)
NVMLError_NotSupported = _error_class("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NotFound = _error_class("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_DriverNotLoaded = _error_class("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_Timeout = _error_class("NVMLError_Timeout", NVML_ERROR_TIMEOUT)
NVMLError_LibraryNotFound = _error_class("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_FunctionNotFound = _error_class(
    "NVMLError_FunctionNotFound", NVML_ERROR_FUNCTION_NOT_FOUND
)
NVMLError_GpuIsLost = _error_class("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)
NVMLError_LibRmVersionMismatch = _error_class(
    "NVMLError_LibRmVersionMismatch", NVML_ERROR_LIB_RM_VERSION_MISMATCH
)
NVMLError_Unknown = _error_class("NVMLError_Unknown", NVML_ERROR_UNKNOWN)

ERRORS: dict[int, type[NVMLError]] = {
    cls.value: cls
    for cls in (
        NVMLError_Uninitialized,
        NVMLError_InvalidArgument,
        NVMLError_NotSupported,
        NVMLError_NotFound,
        NVMLError_DriverNotLoaded,
        NVMLError_Timeout,
        NVMLError_LibraryNotFound,
        NVMLError_FunctionNotFound,
        NVMLError_GpuIsLost,
        NVMLError_LibRmVersionMismatch,
        NVMLError_Unknown,
    )
}

MIB = 1024 * 1024
EVENT_TYPE_XID_CRITICAL_ERROR = 0x8
H100_SUPPORTED_EVENT_TYPES = 0xFF9F  # as nvmlDeviceGetSupportedEventTypes reports on an H100


@dataclass
class FakeProcess:
    pid: int
    used_bytes: int | None  # None: NVML cannot tell (as under WDDM or without permission)
    graphics: bool = False  # listed as a graphics process instead of a compute one
    compute: bool = True


@dataclass
class UtilizationSample:
    pid: int
    timeStamp: int  # microseconds
    smUtil: int
    memUtil: int
    encUtil: int = 0
    decUtil: int = 0


@dataclass
class FakeNvLink:
    """One NVLink: up or down, and its data-link error counters."""

    active: bool = True
    replay: int = 0
    recovery: int = 0
    crc_flit: int = 0
    crc_data: int = 0


@dataclass(frozen=True)
class FakeHandle:
    index: int


@dataclass
class FakeGpu:
    uuid: str
    name: str = H100_NAME
    bus_id: bytes = b"00000000:01:00.0"
    compute_capability: tuple[int, int] = H100_COMPUTE_CAPABILITY
    total_bytes: int = H100_TOTAL_MIB * MIB
    reserved_bytes: int = 480 * MIB
    used_bytes: int = 4 * MIB
    gpu_util: int = 0
    memory_util: int = 0
    temperature_c: int = 35
    slowdown_c: int = H100_SLOWDOWN_CELSIUS
    shutdown_c: int = H100_SHUTDOWN_CELSIUS
    power_mw: int = 70_000
    power_limit_mw: int = H100_POWER_LIMIT_WATTS * 1000
    sm_clock_mhz: int = 345
    sm_clock_max_mhz: int = H100_SM_CLOCK_MAX_MHZ
    memory_clock_mhz: int = 2619
    memory_clock_max_mhz: int = H100_MEMORY_CLOCK_MAX_MHZ
    clock_event_mask: int = 0x1
    energy_mj: int = 123_456_789
    ecc_uncorrected: int = 0
    pcie_tx_kb_s: int = 1000
    pcie_rx_kb_s: int = 2000
    # Its NVLinks by index; none: NVML says NotSupported for every link, as on a PCIe GPU
    # without a bridge. A link past the last answers InvalidArgument.
    nvlinks: list[FakeNvLink] = field(default_factory=list)
    # (correctable rows, uncorrectable rows, remap pending, remap failed)
    remapped_rows: tuple[int, int, int, int] = (0, 0, 0, 0)
    processes: list[FakeProcess] = field(default_factory=list)
    utilization_samples: list[UtilizationSample] = field(default_factory=list)
    lost: bool = False
    supported_event_types: int = H100_SUPPORTED_EVENT_TYPES


@dataclass(frozen=True)
class FakeEventData:
    device: FakeHandle
    eventType: int
    eventData: int  # the XID code for an XID event
    gpuInstanceId: int = 0xFFFFFFFF
    computeInstanceId: int = 0xFFFFFFFF


@dataclass
class FakeEventSet:
    registered: dict[int, int] = field(default_factory=dict)  # GPU index -> event type mask
    queue: deque[FakeEventData] = field(default_factory=deque)
    freed: bool = False


class FakeNvml:
    """Stands in for the `pynvml` module; pass it as the backend's `nvml` argument."""

    nvmlMemory_v2 = 0x02000028
    NVML_TEMPERATURE_GPU = 0
    NVML_TEMPERATURE_THRESHOLD_SHUTDOWN = 0
    NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 1
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
    NVML_VOLATILE_ECC = 0
    NVML_PCIE_UTIL_TX_BYTES = 0
    NVML_PCIE_UTIL_RX_BYTES = 1
    NVML_FEATURE_DISABLED = 0
    NVML_FEATURE_ENABLED = 1
    NVML_NVLINK_MAX_LINKS = 18  # as in 12.x bindings (13.x: 36)
    NVML_NVLINK_ERROR_DL_REPLAY = 0
    NVML_NVLINK_ERROR_DL_RECOVERY = 1
    NVML_NVLINK_ERROR_DL_CRC_FLIT = 2
    NVML_NVLINK_ERROR_DL_CRC_DATA = 3
    nvmlClocksEventReasonGpuIdle = 0x1
    nvmlClocksEventReasonApplicationsClocksSetting = 0x2
    nvmlClocksEventReasonSwPowerCap = 0x4
    nvmlClocksEventReasonHwSlowdown = 0x8
    nvmlClocksEventReasonSyncBoost = 0x10
    nvmlClocksEventReasonSwThermalSlowdown = 0x20
    nvmlClocksEventReasonHwThermalSlowdown = 0x40
    nvmlClocksEventReasonHwPowerBrakeSlowdown = 0x80
    nvmlClocksEventReasonDisplayClockSetting = 0x100
    nvmlEventTypeXidCriticalError = EVENT_TYPE_XID_CRITICAL_ERROR

    NVMLError = NVMLError
    NVMLError_Uninitialized = NVMLError_Uninitialized
    NVMLError_InvalidArgument = NVMLError_InvalidArgument
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NotFound = NVMLError_NotFound
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVMLError_Timeout = NVMLError_Timeout
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_FunctionNotFound = NVMLError_FunctionNotFound
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVMLError_LibRmVersionMismatch = NVMLError_LibRmVersionMismatch
    NVMLError_Unknown = NVMLError_Unknown

    def __init__(self, gpus: list[FakeGpu] | None = None) -> None:
        self.gpus = gpus if gpus is not None else [FakeGpu(uuid="GPU-fake-0")]
        self.calls: Counter[tuple[str, int | None]] = Counter()
        self.initialized = False
        self.init_errors: list[int] = []  # codes raised by the next nvmlInit calls, in order
        self.driver_version = "580.159.04"
        self.cuda_version = 13000
        self.nvml_version = "13.580.159.04"
        self._failures: dict[tuple[str, int | None, int | None], int] = {}
        self.event_sets: list[FakeEventSet] = []  # every set created, freed ones included

    # -- fault injection ---------------------------------------------------------------------

    def fail(
        self, function: str, code: int, gpu: int | None = None, arg: int | None = None
    ) -> None:
        """Makes `function` raise the error with this code: for one GPU or every GPU, and
        for one value of its argument (a clock, a sensor) or every value."""
        self._failures[(function, gpu, arg)] = code

    def heal(self, function: str, gpu: int | None = None, arg: int | None = None) -> None:
        self._failures.pop((function, gpu, arg), None)

    def remove(self, function: str) -> None:
        """Simulates an older binding that lacks `function` altogether."""
        setattr(self, function, None)

    def inject_xid(self, gpu: int, code: int) -> None:
        """An XID error on GPU `gpu`: queued on every live event set registered for it."""
        for event_set in self.event_sets:
            mask = event_set.registered.get(gpu, 0)
            if not event_set.freed and mask & EVENT_TYPE_XID_CRITICAL_ERROR:
                event_set.queue.append(
                    FakeEventData(FakeHandle(gpu), EVENT_TYPE_XID_CRITICAL_ERROR, code)
                )

    def _enter(self, function: str, index: int | None = None, arg: int | None = None) -> None:
        """Counts a call and raises what NVML would: not initialised, or an injected fault."""
        self.calls[(function, index)] += 1
        if not self.initialized:
            raise NVMLError_Uninitialized()
        for key in (
            (function, index, arg),
            (function, index, None),
            (function, None, arg),
            (function, None, None),
        ):
            if key in self._failures:
                raise ERRORS[self._failures[key]]()

    def _device(self, function: str, handle: FakeHandle, arg: int | None = None) -> FakeGpu:
        """`_enter` for a call on one GPU, which also fails when that GPU is lost."""
        self._enter(function, handle.index, arg)
        gpu = self.gpus[handle.index]
        if gpu.lost:
            raise NVMLError_GpuIsLost()
        return gpu

    # -- library and system ------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self.calls[("nvmlInit", None)] += 1
        if self.init_errors:
            raise ERRORS[self.init_errors.pop(0)]()
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.calls[("nvmlShutdown", None)] += 1
        self.initialized = False

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion")
        return self.cuda_version

    def nvmlSystemGetNVMLVersion(self) -> str:
        self._enter("nvmlSystemGetNVMLVersion")
        return self.nvml_version

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self._device("nvmlDeviceGetHandleByIndex", FakeHandle(index))
        return FakeHandle(index)

    # -- device identity ---------------------------------------------------------------------

    def nvmlDeviceGetUUID(self, handle: FakeHandle) -> str:
        return self._device("nvmlDeviceGetUUID", handle).uuid

    def nvmlDeviceGetName(self, handle: FakeHandle) -> str:
        return self._device("nvmlDeviceGetName", handle).name

    def nvmlDeviceGetPciInfo(self, handle: FakeHandle) -> Any:
        return SimpleNamespace(busId=self._device("nvmlDeviceGetPciInfo", handle).bus_id)

    def nvmlDeviceGetCudaComputeCapability(self, handle: FakeHandle) -> tuple[int, int]:
        return self._device("nvmlDeviceGetCudaComputeCapability", handle).compute_capability

    # -- device state ------------------------------------------------------------------------

    def nvmlDeviceGetMemoryInfo(self, handle: FakeHandle, version: int | None = None) -> Any:
        gpu = self._device("nvmlDeviceGetMemoryInfo", handle)
        if version == self.nvmlMemory_v2:
            free = gpu.total_bytes - gpu.reserved_bytes - gpu.used_bytes
            return SimpleNamespace(
                version=version,
                total=gpu.total_bytes,
                reserved=gpu.reserved_bytes,
                free=free,
                used=gpu.used_bytes,
            )
        # v1 counts the driver's reserve as used, as real NVML does.
        used = gpu.used_bytes + gpu.reserved_bytes
        return SimpleNamespace(total=gpu.total_bytes, free=gpu.total_bytes - used, used=used)

    def nvmlDeviceGetUtilizationRates(self, handle: FakeHandle) -> Any:
        gpu = self._device("nvmlDeviceGetUtilizationRates", handle)
        return SimpleNamespace(gpu=gpu.gpu_util, memory=gpu.memory_util)

    def nvmlDeviceGetTemperatureV(self, handle: FakeHandle, sensor: int) -> int:
        return self._device("nvmlDeviceGetTemperatureV", handle).temperature_c

    def nvmlDeviceGetTemperature(self, handle: FakeHandle, sensor: int) -> int:
        return self._device("nvmlDeviceGetTemperature", handle).temperature_c

    def nvmlDeviceGetTemperatureThreshold(self, handle: FakeHandle, threshold: int) -> int:
        gpu = self._device("nvmlDeviceGetTemperatureThreshold", handle, threshold)
        if threshold == self.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN:
            return gpu.slowdown_c
        return gpu.shutdown_c

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:
        return self._device("nvmlDeviceGetPowerUsage", handle).power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeHandle) -> int:
        return self._device("nvmlDeviceGetEnforcedPowerLimit", handle).power_limit_mw

    def nvmlDeviceGetClockInfo(self, handle: FakeHandle, clock: int) -> int:
        gpu = self._device("nvmlDeviceGetClockInfo", handle, clock)
        return gpu.sm_clock_mhz if clock == self.NVML_CLOCK_SM else gpu.memory_clock_mhz

    def nvmlDeviceGetMaxClockInfo(self, handle: FakeHandle, clock: int) -> int:
        gpu = self._device("nvmlDeviceGetMaxClockInfo", handle, clock)
        return gpu.sm_clock_max_mhz if clock == self.NVML_CLOCK_SM else gpu.memory_clock_max_mhz

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: FakeHandle) -> int:
        return self._device("nvmlDeviceGetCurrentClocksEventReasons", handle).clock_event_mask

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: FakeHandle) -> int:
        return self._device("nvmlDeviceGetCurrentClocksThrottleReasons", handle).clock_event_mask

    # -- processes ---------------------------------------------------------------------------

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeHandle) -> list[Any]:
        gpu = self._device("nvmlDeviceGetComputeRunningProcesses", handle)
        return [_process_info(p) for p in gpu.processes if p.compute]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: FakeHandle) -> list[Any]:
        gpu = self._device("nvmlDeviceGetGraphicsRunningProcesses", handle)
        return [_process_info(p) for p in gpu.processes if p.graphics]

    def nvmlDeviceGetProcessUtilization(self, handle: FakeHandle, timestamp_us: int) -> list[Any]:
        gpu = self._device("nvmlDeviceGetProcessUtilization", handle)
        samples = [s for s in gpu.utilization_samples if s.timeStamp > timestamp_us]
        if not samples:
            raise NVMLError_NotFound()  # what NVML does when no process ran since timestamp_us
        return samples

    # -- slow tier ---------------------------------------------------------------------------

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeHandle) -> int:
        return self._device("nvmlDeviceGetTotalEnergyConsumption", handle).energy_mj

    def nvmlDeviceGetTotalEccErrors(self, handle: FakeHandle, error_type: int, counter: int) -> int:
        return self._device("nvmlDeviceGetTotalEccErrors", handle).ecc_uncorrected

    def nvmlDeviceGetPcieThroughput(self, handle: FakeHandle, counter: int) -> int:
        gpu = self._device("nvmlDeviceGetPcieThroughput", handle, counter)
        return gpu.pcie_tx_kb_s if counter == self.NVML_PCIE_UTIL_TX_BYTES else gpu.pcie_rx_kb_s

    def nvmlDeviceGetRemappedRows(self, handle: FakeHandle) -> tuple[int, int, int, int]:
        return self._device("nvmlDeviceGetRemappedRows", handle).remapped_rows

    def nvmlDeviceGetNvLinkState(self, handle: FakeHandle, link: int) -> int:
        nvlink = self._nvlink("nvmlDeviceGetNvLinkState", handle, link)
        return self.NVML_FEATURE_ENABLED if nvlink.active else self.NVML_FEATURE_DISABLED

    def nvmlDeviceGetNvLinkErrorCounter(self, handle: FakeHandle, link: int, counter: int) -> int:
        nvlink = self._nvlink("nvmlDeviceGetNvLinkErrorCounter", handle, link)
        return (nvlink.replay, nvlink.recovery, nvlink.crc_flit, nvlink.crc_data)[counter]

    def _nvlink(self, function: str, handle: FakeHandle, link: int) -> FakeNvLink:
        gpu = self._device(function, handle, link)
        if not gpu.nvlinks:
            raise NVMLError_NotSupported()
        if not 0 <= link < len(gpu.nvlinks):
            raise NVMLError_InvalidArgument()
        return gpu.nvlinks[link]

    # -- events ------------------------------------------------------------------------------

    def nvmlDeviceGetSupportedEventTypes(self, handle: FakeHandle) -> int:
        return self._device("nvmlDeviceGetSupportedEventTypes", handle).supported_event_types

    def nvmlEventSetCreate(self) -> FakeEventSet:
        self._enter("nvmlEventSetCreate")
        event_set = FakeEventSet()
        self.event_sets.append(event_set)
        return event_set

    def nvmlDeviceRegisterEvents(
        self, handle: FakeHandle, event_types: int, event_set: FakeEventSet
    ) -> None:
        gpu = self._device("nvmlDeviceRegisterEvents", handle)
        if event_types & ~gpu.supported_event_types:
            raise NVMLError_NotSupported()
        registered = event_set.registered.get(handle.index, 0)
        event_set.registered[handle.index] = registered | event_types

    def nvmlEventSetWait(self, event_set: FakeEventSet, timeoutms: int) -> FakeEventData:
        """Returns at once: the oldest queued event, else Timeout (no event within timeoutms)."""
        self._enter("nvmlEventSetWait")
        if not event_set.queue:
            raise NVMLError_Timeout()
        return event_set.queue.popleft()

    def nvmlEventSetFree(self, event_set: FakeEventSet) -> None:
        self._enter("nvmlEventSetFree")
        event_set.freed = True


def _process_info(process: FakeProcess) -> Any:
    return SimpleNamespace(pid=process.pid, usedGpuMemory=process.used_bytes)
