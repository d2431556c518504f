"""`/metrics` for NVLink and remapped rows: one series per link and error type, row counts by
cause, remap flags as 0/1; nothing for what a GPU cannot tell."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from gpu_insight.collector.metrics import metrics_registry
from gpu_insight.schemas import NvLink, Snapshot
from tests.collector.api_support import NOW, make_runtime, publish
from tests.collector.test_metrics import Samples, names, samples_of, value
from tests.support.h100 import h100_gpu

GPU0 = {"uuid": "GPU-0", "gpu": "0"}
GPU1 = {"uuid": "GPU-1", "gpu": "1"}


def scrape(snapshot: Snapshot) -> Samples:
    runtime = make_runtime()
    publish(runtime, snapshot)
    return samples_of(generate_latest(metrics_registry(runtime)).decode())


@pytest.fixture(scope="module")
def samples() -> Samples:
    nvlinked = h100_gpu(
        0,
        nvlink_active=True,
        nvlinks=[
            NvLink(
                link=0,
                active=True,
                replay_errors=5,
                recovery_errors=0,
                crc_flit_errors=12,
                crc_data_errors=None,
            ),
            NvLink(link=1, active=False),
        ],
        remapped_rows_correctable=3,
        remapped_rows_uncorrectable=1,
        remapped_rows_pending=True,
        remapped_rows_failure=False,
    )
    plain = h100_gpu(1)  # no NVLink, no row remapping known
    return scrape(Snapshot(host="h", source="nvml", collected_at=NOW, gpus=[nvlinked, plain]))


def test_error_types_are_the_wire_models_counters() -> None:
    link = NvLink(link=0, active=True, replay_errors=1, crc_data_errors=4)
    assert link.error_counts() == {"replay": 1, "recovery": None, "crc_flit": None, "crc_data": 4}


def test_each_link_is_one_while_active_and_zero_while_down(samples: Samples) -> None:
    assert value(samples, "gpu_nvlink_active", **GPU0, link="0") == 1.0
    assert value(samples, "gpu_nvlink_active", **GPU0, link="1") == 0.0


def test_link_errors_are_counters_per_link_and_type(samples: Samples) -> None:
    assert value(samples, "gpu_nvlink_errors_total", **GPU0, link="0", type="replay") == 5.0
    assert value(samples, "gpu_nvlink_errors_total", **GPU0, link="0", type="recovery") == 0.0
    assert value(samples, "gpu_nvlink_errors_total", **GPU0, link="0", type="crc_flit") == 12.0


def test_a_counter_a_link_cannot_tell_has_no_series(samples: Samples) -> None:
    link0 = frozenset({**GPU0, "link": "0", "type": "crc_data"}.items())
    assert ("gpu_nvlink_errors_total", link0) not in samples
    link1 = [labels for name, labels in samples if name == "gpu_nvlink_errors_total"]
    assert all(("link", "1") not in labels for labels in link1)


def test_remapped_rows_are_counted_by_cause(samples: Samples) -> None:
    assert value(samples, "gpu_remapped_rows_total", **GPU0, cause="correctable") == 3.0
    assert value(samples, "gpu_remapped_rows_total", **GPU0, cause="uncorrectable") == 1.0


def test_remap_pending_and_failure_are_zero_or_one(samples: Samples) -> None:
    assert value(samples, "gpu_row_remap_pending", **GPU0) == 1.0
    assert value(samples, "gpu_row_remap_failure", **GPU0) == 0.0


def test_a_gpu_without_nvlink_or_row_remapping_has_none_of_these_series(samples: Samples) -> None:
    ours = {"gpu_nvlink_active", "gpu_remapped_rows_total", "gpu_row_remap_pending"}
    assert ours <= names(samples)
    gpu1 = [name for name, labels in samples if name in ours and ("uuid", "GPU-1") in labels]
    assert gpu1 == []
