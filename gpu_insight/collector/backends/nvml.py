"""Reads NVIDIA GPUs through NVML (nvidia-ml-py, module `pynvml`): the only module that does.

NVML is initialised lazily on the first sample, in the sampler thread, and kept. Every call
goes through `_call`, which turns NVML's errors into data:
- NotSupported / FunctionNotFound / a binding older than the driver: the field is absent and
  the call is not retried for that GPU (the error path alone costs ~0.1 ms per call); for the
  per-link NVLink calls also InvalidArgument, NVML's answer for a link the GPU does not have;
- GpuIsLost: that GPU is reported `lost`, the others go on;
- Uninitialized / DriverNotLoaded / library missing or mismatched: the backend is down and
  re-initialises with backoff (1 s doubling to 60 s);
- anything else: counted in the self-metrics, the field is absent, the GPU `degraded`.

XID errors arrive as NVML events, not as a value to read: every GPU that supports them is
registered on one event set at init, and each fast tick drains what queued up without waiting.
A GPU that cannot report them keeps `xid_errors` None (unknown), never 0.

NVLink state and error counters (per link, up to NVML_NVLINK_MAX_LINKS) and remapped rows are
slow-tier counters like ECC: a link that changes state shows within one slow interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import pynvml

from gpu_insight.clock_events import reasons_of
from gpu_insight.collector.backends.base import (
    FastReading,
    GpuSlowReading,
    ProcessUtilization,
    SlowReading,
)
from gpu_insight.collector.config import SamplingConfig
from gpu_insight.collector.runtime import SelfMetrics
from gpu_insight.schemas import (
    Gpu,
    GpuHealth,
    GpuProcess,
    NvLink,
    ProcessKind,
    Source,
)

log = logging.getLogger(__name__)

MIB = 1024 * 1024
INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
MAX_XID_EVENTS_PER_TICK = 64  # the rest waits in NVML's queue for the next tick
# NvLink fields ← NVML's data-link error counters (nvmlNvLinkErrorCounter_t)
NVLINK_ERROR_COUNTERS = (
    ("replay_errors", "NVML_NVLINK_ERROR_DL_REPLAY"),
    ("recovery_errors", "NVML_NVLINK_ERROR_DL_RECOVERY"),
    ("crc_flit_errors", "NVML_NVLINK_ERROR_DL_CRC_FLIT"),
    ("crc_data_errors", "NVML_NVLINK_ERROR_DL_CRC_DATA"),
)

# Errors meaning "this call does not exist here"; remembered, never retried.
_ABSENT_ERRORS = (
    "NVMLError_NotSupported",
    "NVMLError_FunctionNotFound",
    "NVMLLibraryMismatchError",
)
# Errors meaning NVML as a whole is unusable until re-initialised.
_DOWN_ERRORS = (
    "NVMLError_Uninitialized",
    "NVMLError_DriverNotLoaded",
    "NVMLError_LibraryNotFound",
    "NVMLError_LibRmVersionMismatch",
)


# What tells apart calls whose support depends on their arguments: a clock, a sensor, a link,
# a (link, counter) pair.
_Variant = int | tuple[int, int] | None
_CallKey = tuple[int | None, str, _Variant]


class _GpuLostError(Exception):
    def __init__(self, call: str) -> None:
        super().__init__(call)
        self.call = call


class _NvmlDownError(Exception):
    pass


@dataclass
class _XidCount:
    total: int = 0
    last: int | None = None  # XID code of the newest event


@dataclass
class _Device:
    index: int
    handle: Any
    static: dict[str, Any] = field(default_factory=dict)  # values that never change
    last_utilization_us: int = 0  # NVML's timestamp of the newest process sample seen
    xid_watched: bool = False  # registered for XID events on the current event set

    @property
    def uuid(self) -> str:
        uuid = self.static.get("uuid")
        return _text(uuid) if uuid is not None else f"GPU-unknown-{self.index}"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class NvmlBackend:
    source: Source = "nvml"
    attributes_processes = False

    def __init__(
        self,
        sampling: SamplingConfig,
        self_metrics: SelfMetrics,
        nvml: Any = None,  # a stand-in with pynvml's surface (tests); default pynvml itself
    ) -> None:
        self._sampling = sampling
        self._metrics = self_metrics
        self._nvml = nvml if nvml is not None else pynvml
        self._absent_errors = _error_classes(self._nvml, _ABSENT_ERRORS)
        self._down_errors = _error_classes(self._nvml, _DOWN_ERRORS)
        self._lost_error = _error_classes(self._nvml, ("NVMLError_GpuIsLost",))
        self._not_found_error = _error_classes(self._nvml, ("NVMLError_NotFound",))
        self._timeout_error = _error_classes(self._nvml, ("NVMLError_Timeout",))
        self._no_link_error = _error_classes(self._nvml, ("NVMLError_InvalidArgument",))
        self._initialized = False
        self._devices: list[_Device] = []
        self._absent: set[_CallKey] = set()
        self._warned: set[_CallKey] = set()
        self._down_reason: str | None = None
        self._retry_at = float("-inf")
        self._backoff_s = INITIAL_BACKOFF_S
        self._event_set: Any = None
        # By GPU UUID, kept across re-initialisations: counts are since the collector started.
        self._xid_counts: dict[str, _XidCount] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def _ensure_initialized(self, now: float) -> bool:
        if self._initialized:
            return True
        if now < self._retry_at:
            return False
        try:
            self._nvml.nvmlInit()
        except Exception as exc:
            self._metrics.count_error("nvmlInit")
            self._schedule_retry(now, f"NVML unavailable: {exc}")
            return False
        self._initialized = True
        self._absent.clear()
        try:
            self._event_set = self._call(None, "nvmlEventSetCreate")
            self._devices = self._open_devices()
        except _NvmlDownError as exc:
            self._go_down(now, str(exc))
            return False
        self._down_reason = None
        self._backoff_s = INITIAL_BACKOFF_S
        log.info("NVML initialised: %d GPU(s)", len(self._devices))
        return True

    def _open_devices(self) -> list[_Device]:
        count = self._call(None, "nvmlDeviceGetCount")
        if count is None:
            raise _NvmlDownError("NVML unavailable: nvmlDeviceGetCount failed")
        devices = [_Device(index=index, handle=None) for index in range(count)]
        for device in devices:
            self._open_handle(device)
        return devices

    def _open_handle(self, device: _Device) -> None:
        """Gets the device handle; a GPU that has none yet is retried on the next sample."""
        try:
            device.handle = self._call(device.index, "nvmlDeviceGetHandleByIndex", device.index)
        except _GpuLostError:
            device.handle = None
        if device.handle is not None:
            self._watch_xid(device)

    def _schedule_retry(self, now: float, reason: str) -> None:
        self._down_reason = f"{reason}; retrying in {self._backoff_s:g} s"
        self._retry_at = now + self._backoff_s
        log.warning("%s", self._down_reason)
        self._backoff_s = min(self._backoff_s * 2, MAX_BACKOFF_S)

    def _go_down(self, now: float, reason: str) -> None:
        self._shutdown()
        self._schedule_retry(now, reason)

    def _shutdown(self) -> None:
        if not self._initialized:
            return
        self._initialized = False
        self._devices = []
        if self._event_set is not None:
            with suppress(_NvmlDownError):  # counted; NVML goes away next anyway
                self._call(None, "nvmlEventSetFree", self._event_set)
            self._event_set = None
        try:
            self._nvml.nvmlShutdown()
        except Exception as exc:
            log.debug("nvmlShutdown failed: %s", exc)

    def close(self) -> None:
        self._shutdown()

    # -- calls -------------------------------------------------------------------------------

    def _call(
        self,
        gpu: int | None,
        name: str,
        *args: Any,
        variant: _Variant = None,
        failures: list[str] | None = None,
        no_data: tuple[type[BaseException], ...] = (),
        also_absent: tuple[type[BaseException], ...] = (),
    ) -> Any:
        """One NVML call with its errors turned into data (see the module docstring).

        `variant` tells apart calls whose support depends on an argument (a clock, a sensor):
        "not supported" is remembered per GPU, call and variant. `also_absent`: more errors
        that mean "not here" for this call.
        """
        key = (gpu, name, variant)
        if key in self._absent:
            return None
        function: Callable[..., Any] | None = getattr(self._nvml, name, None)
        if function is None:  # binding older than this code
            self._absent.add(key)
            return None
        try:
            return function(*args)
        except no_data:
            return None
        except self._absent_errors + also_absent:
            self._absent.add(key)
            return None
        except self._lost_error as exc:
            self._metrics.count_error(name)
            raise _GpuLostError(name) from exc
        except self._down_errors as exc:
            self._metrics.count_error(name)
            raise _NvmlDownError(f"NVML unavailable: {exc}") from exc
        except Exception as exc:
            self._metrics.count_error(name)
            if failures is not None:
                failures.append(f"{name}: {exc}")
            if key not in self._warned:
                self._warned.add(key)
                log.warning("GPU %s: %s failed: %s", gpu, name, exc)
            return None

    def _static(self, device: _Device, key: str, name: str, variant: int | None = None) -> Any:
        """A value that never changes while NVML is up: read until it is known, then kept."""
        if key not in device.static:
            args = (device.handle,) if variant is None else (device.handle, variant)
            value = self._call(device.index, name, *args, variant=variant)
            if value is None:
                return None
            device.static[key] = value
        return device.static[key]

    def _is_absent(self, device: _Device, name: str) -> bool:
        absent = (device.index, name, None) in self._absent
        return absent or getattr(self._nvml, name, None) is None

    # -- fast tier ---------------------------------------------------------------------------

    def sample_fast(self, now: float) -> FastReading:
        if not self._ensure_initialized(now):
            return FastReading(down_reason=self._down_reason)
        gpus: list[Gpu] = []
        processes: list[GpuProcess] = []
        try:
            self._count_xid_events()
            for device in self._devices:
                gpu, gpu_processes = self._sample_device(device)
                gpus.append(gpu)
                processes.extend(gpu_processes)
        except _NvmlDownError as exc:
            self._go_down(now, str(exc))
            return FastReading(down_reason=self._down_reason)
        return FastReading(gpus=gpus, processes=processes)

    def _sample_device(self, device: _Device) -> tuple[Gpu, list[GpuProcess]]:
        if device.handle is None:
            self._open_handle(device)
            if device.handle is None:
                return self._identity(device, "lost", "NVML gives no handle for this GPU"), []
        failures: list[str] = []
        try:
            gpu = self._identity(device, "ok", None)
            self._read_state(device, gpu, failures)
            processes = self._read_processes(device, failures)
        except _GpuLostError as lost:
            return self._identity(device, "lost", f"GPU is lost ({lost.call})"), []
        if failures:
            gpu.health = "degraded"
            gpu.health_reason = "; ".join(failures)
        return gpu, processes

    def _identity(self, device: _Device, health: GpuHealth, reason: str | None) -> Gpu:
        nvml = self._nvml
        if device.handle is not None and health != "lost":
            self._static(device, "uuid", "nvmlDeviceGetUUID")
            self._static(device, "name", "nvmlDeviceGetName")
            self._static(device, "pci", "nvmlDeviceGetPciInfo")
            self._static(device, "cc", "nvmlDeviceGetCudaComputeCapability")
            self._static(
                device,
                "slowdown",
                "nvmlDeviceGetTemperatureThreshold",
                nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN,
            )
            self._static(
                device,
                "shutdown",
                "nvmlDeviceGetTemperatureThreshold",
                nvml.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN,
            )
            self._static(device, "sm_max", "nvmlDeviceGetMaxClockInfo", nvml.NVML_CLOCK_SM)
            self._static(device, "mem_max", "nvmlDeviceGetMaxClockInfo", nvml.NVML_CLOCK_MEM)
        static = device.static
        pci = static.get("pci")
        cc = static.get("cc")
        xid = self._xid_counts.get(device.uuid) if device.xid_watched else None
        return Gpu(
            index=device.index,
            uuid=device.uuid,
            name=_text(static.get("name", "unknown")),
            pci_bus_id=_text(pci.busId) if pci is not None else None,
            compute_capability=f"{cc[0]}.{cc[1]}" if cc is not None else None,
            health=health,
            health_reason=reason,
            temperature_slowdown_celsius=static.get("slowdown"),
            temperature_shutdown_celsius=static.get("shutdown"),
            sm_clock_max_mhz=static.get("sm_max"),
            memory_clock_max_mhz=static.get("mem_max"),
            xid_errors=xid.total if xid is not None else None,
            xid_last=xid.last if xid is not None else None,
        )

    def _read_state(self, device: _Device, gpu: Gpu, failures: list[str]) -> None:
        nvml, h, i = self._nvml, device.handle, device.index

        memory = self._call(i, "nvmlDeviceGetMemoryInfo", h, nvml.nvmlMemory_v2, failures=failures)
        if memory is not None:
            gpu.memory_total_mib = memory.total / MIB
            gpu.memory_used_mib = memory.used / MIB
            gpu.memory_free_mib = memory.free / MIB
            gpu.memory_reserved_mib = memory.reserved / MIB

        utilization = self._call(i, "nvmlDeviceGetUtilizationRates", h, failures=failures)
        if utilization is not None:
            gpu.utilization_percent = float(utilization.gpu)
            gpu.memory_activity_percent = float(utilization.memory)

        gpu.temperature_celsius = self._temperature(device, failures)

        power_mw = self._call(i, "nvmlDeviceGetPowerUsage", h, failures=failures)
        gpu.power_watts = power_mw / 1000 if power_mw is not None else None
        limit_mw = self._call(i, "nvmlDeviceGetEnforcedPowerLimit", h, failures=failures)
        gpu.power_limit_watts = limit_mw / 1000 if limit_mw is not None else None

        sm, memory_clock = nvml.NVML_CLOCK_SM, nvml.NVML_CLOCK_MEM
        gpu.sm_clock_mhz = self._call(
            i, "nvmlDeviceGetClockInfo", h, sm, variant=sm, failures=failures
        )
        gpu.memory_clock_mhz = self._call(
            i, "nvmlDeviceGetClockInfo", h, memory_clock, variant=memory_clock, failures=failures
        )

        reasons = self._preferred(
            device,
            "nvmlDeviceGetCurrentClocksEventReasons",
            "nvmlDeviceGetCurrentClocksThrottleReasons",
            failures,
        )
        if reasons is not None:
            gpu.clock_event_reasons = reasons_of(reasons)

    def _temperature(self, device: _Device, failures: list[str]) -> float | None:
        value = self._preferred(
            device,
            "nvmlDeviceGetTemperatureV",
            "nvmlDeviceGetTemperature",
            failures,
            self._nvml.NVML_TEMPERATURE_GPU,
        )
        return float(value) if value is not None else None

    def _preferred(
        self, device: _Device, name: str, fallback: str, failures: list[str], *args: Any
    ) -> Any:
        """Calls `name`, or the deprecated `fallback` where this driver or binding lacks it."""
        value = self._call(device.index, name, device.handle, *args, failures=failures)
        if value is None and self._is_absent(device, name):
            value = self._call(device.index, fallback, device.handle, *args, failures=failures)
        return value

    def _read_processes(self, device: _Device, failures: list[str]) -> list[GpuProcess]:
        """Compute ∪ graphics processes, one entry per pid; memory None when NVML can't tell."""
        by_pid: dict[int, GpuProcess] = {}
        listings: tuple[tuple[str, ProcessKind], ...] = (
            ("nvmlDeviceGetComputeRunningProcesses", "compute"),
            ("nvmlDeviceGetGraphicsRunningProcesses", "graphics"),
        )
        for name, kind in listings:
            for info in self._call(device.index, name, device.handle, failures=failures) or []:
                used = info.usedGpuMemory
                used_mib = used / MIB if used is not None else None
                seen = by_pid.get(info.pid)
                if seen is None:
                    by_pid[info.pid] = GpuProcess(
                        pid=info.pid,
                        gpu_index=device.index,
                        gpu_uuid=device.uuid,
                        kind=kind,
                        used_memory_mib=used_mib,
                    )
                    continue
                seen.kind = "compute+graphics"
                if seen.used_memory_mib is None:
                    seen.used_memory_mib = used_mib
        return list(by_pid.values())

    # -- XID events --------------------------------------------------------------------------

    def _watch_xid(self, device: _Device) -> None:
        """Registers the GPU for XID events on the event set where it supports them."""
        if self._event_set is None:
            return
        xid = self._nvml.nvmlEventTypeXidCriticalError
        name = "nvmlDeviceRegisterEvents"
        try:
            uuid = self._static(device, "uuid", "nvmlDeviceGetUUID")
            supported = self._call(device.index, "nvmlDeviceGetSupportedEventTypes", device.handle)
            if uuid is None or supported is None or not supported & xid:
                return
            failures: list[str] = []
            self._call(device.index, name, device.handle, xid, self._event_set, failures=failures)
        except _GpuLostError:
            return
        if failures or self._is_absent(device, name):
            return
        device.xid_watched = True
        self._xid_counts.setdefault(_text(uuid), _XidCount())

    def _count_xid_events(self) -> None:
        """Counts the XID events queued since the last tick; never waits for new ones."""
        if self._event_set is None:
            return
        for _ in range(MAX_XID_EVENTS_PER_TICK):
            event = self._call(
                None, "nvmlEventSetWait", self._event_set, 0, no_data=self._timeout_error
            )
            if event is None:  # queue empty, or the wait failed (counted)
                return
            try:
                uuid = self._call(None, "nvmlDeviceGetUUID", event.device)
            except _GpuLostError:
                uuid = None
            count = self._xid_counts.get(_text(uuid)) if uuid is not None else None
            if count is None:
                log.warning("XID %s from a GPU that cannot be identified", event.eventData)
                continue
            count.total += 1
            count.last = event.eventData

    # -- process-utilization tier ------------------------------------------------------------

    def sample_process_utilization(self, now: float) -> list[ProcessUtilization]:
        """Per-process SM and memory utilization since the previous call, newest per pid.

        NVML raises NotFound when no process ran since the given timestamp: no samples.
        Values outside 0–100 (seen from some drivers) are discarded.
        """
        if not self._initialized:
            return []
        readings: list[ProcessUtilization] = []
        try:
            for device in self._devices:
                if device.handle is None:
                    continue
                try:
                    readings.extend(self._process_utilization(device))
                except _GpuLostError:
                    continue
        except _NvmlDownError as exc:
            self._go_down(now, str(exc))
            return []
        return readings

    def _process_utilization(self, device: _Device) -> list[ProcessUtilization]:
        samples = self._call(
            device.index,
            "nvmlDeviceGetProcessUtilization",
            device.handle,
            device.last_utilization_us,
            no_data=self._not_found_error,
        )
        newest: dict[int, Any] = {}
        for sample in samples or []:
            if sample.pid not in newest or sample.timeStamp > newest[sample.pid].timeStamp:
                newest[sample.pid] = sample
        if not newest:
            return []
        device.last_utilization_us = max(s.timeStamp for s in newest.values())
        readings = []
        for sample in newest.values():
            sm = _percent(sample.smUtil)
            memory = _percent(sample.memUtil)
            if sm is None and memory is None:
                continue
            readings.append(
                ProcessUtilization(
                    gpu_uuid=device.uuid,
                    pid=sample.pid,
                    sm_utilization_percent=sm,
                    memory_utilization_percent=memory,
                    seen_at=sample.timeStamp / 1e6,
                )
            )
        return readings

    # -- slow tier ---------------------------------------------------------------------------

    def sample_slow(self, now: float) -> SlowReading:
        if not self._initialized:
            return SlowReading()
        try:
            gpus = {}
            for device in self._devices:
                if device.handle is None:
                    continue
                try:
                    gpus[device.uuid] = self._slow(device)
                except _GpuLostError:
                    continue
            return SlowReading(gpus=gpus, **self._versions())
        except _NvmlDownError as exc:
            self._go_down(now, str(exc))
            return SlowReading()

    def _slow(self, device: _Device) -> GpuSlowReading:
        nvml, h, i = self._nvml, device.handle, device.index
        energy_mj = self._call(i, "nvmlDeviceGetTotalEnergyConsumption", h)
        ecc = self._call(
            i,
            "nvmlDeviceGetTotalEccErrors",
            h,
            nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
            nvml.NVML_VOLATILE_ECC,
        )
        tx_kb = rx_kb = None
        if self._sampling.pcie_throughput:  # blocks ~20 ms per call
            tx, rx = nvml.NVML_PCIE_UTIL_TX_BYTES, nvml.NVML_PCIE_UTIL_RX_BYTES
            tx_kb = self._call(i, "nvmlDeviceGetPcieThroughput", h, tx, variant=tx)
            rx_kb = self._call(i, "nvmlDeviceGetPcieThroughput", h, rx, variant=rx)
        # (correctable rows, uncorrectable rows, remap pending, remap failed)
        rows = self._call(i, "nvmlDeviceGetRemappedRows", h)
        return GpuSlowReading(
            energy_joules=energy_mj / 1000 if energy_mj is not None else None,
            ecc_uncorrected_volatile=ecc,
            pcie_tx_bytes_per_s=tx_kb * 1024 if tx_kb is not None else None,
            pcie_rx_bytes_per_s=rx_kb * 1024 if rx_kb is not None else None,
            nvlinks=self._nvlinks(device),
            remapped_rows_correctable=rows[0] if rows is not None else None,
            remapped_rows_uncorrectable=rows[1] if rows is not None else None,
            remapped_rows_pending=bool(rows[2]) if rows is not None else None,
            remapped_rows_failure=bool(rows[3]) if rows is not None else None,
        )

    def _nvlinks(self, device: _Device) -> list[NvLink] | None:
        """Every link NVML knows on this GPU, with its error counters; None when it has none.

        A link the GPU lacks answers InvalidArgument or NotSupported once and is not asked
        again; a link whose state read fails this time is left out of this reading.
        """
        nvml, h, i = self._nvml, device.handle, device.index
        links: list[NvLink] = []
        for link in range(nvml.NVML_NVLINK_MAX_LINKS):
            state = self._call(
                i,
                "nvmlDeviceGetNvLinkState",
                h,
                link,
                variant=link,
                also_absent=self._no_link_error,
            )
            if state is None:
                continue
            errors = {
                field_name: self._call(
                    i,
                    "nvmlDeviceGetNvLinkErrorCounter",
                    h,
                    link,
                    getattr(nvml, constant),
                    variant=(link, getattr(nvml, constant)),
                    also_absent=self._no_link_error,
                )
                for field_name, constant in NVLINK_ERROR_COUNTERS
            }
            active = state == nvml.NVML_FEATURE_ENABLED
            links.append(NvLink(link=link, active=active, **errors))
        return links or None

    def _versions(self) -> dict[str, str | None]:
        driver = self._call(None, "nvmlSystemGetDriverVersion")
        cuda = self._call(None, "nvmlSystemGetCudaDriverVersion")  # e.g. 13000
        nvml_version = self._call(None, "nvmlSystemGetNVMLVersion")
        return {
            "driver_version": _text(driver) if driver is not None else None,
            "cuda_version": f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda is not None else None,
            "nvml_version": _text(nvml_version) if nvml_version is not None else None,
        }


def _percent(value: int) -> float | None:
    return float(value) if 0 <= value <= 100 else None


def _error_classes(nvml: Any, names: tuple[str, ...]) -> tuple[type[BaseException], ...]:
    return tuple(getattr(nvml, name) for name in names if hasattr(nvml, name))
