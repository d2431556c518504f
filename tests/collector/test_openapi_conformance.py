"""The OpenAPI schema tells the truth: schemathesis runs every route of the real server on
loopback with every phase and check, a fixed seed and a bounded number of examples per route."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.api_support import ADMIN_TOKEN, ServedApi, serving_a_sample

pytest.importorskip("schemathesis")  # the dev extra

EXAMPLES_PER_ROUTE = 25
SEED = 1
RUN_TIMEOUT_S = 300
CONFIG = f"""
seed = {SEED}

[generation]
max-examples = {EXAMPLES_PER_ROUTE}
database = "none"

# The order of `from` and `to`, calendar dates and the instants' range are checked beyond what
# a schema can say, so such schema-valid windows are refused with 400 by design.
[[operations]]
include-path = "/v1/usage"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

# The library's parsers check GPUs, hosts, engines, focuses and models against the snapshot,
# the engine registry and the model catalog, beyond what a schema can say: such requests are
# refused with 400 and the parser's sentence, by design.
[[operations]]
include-path-regex = "^/v1/(advice|vram-check)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "503"]
"""


@pytest.fixture(scope="module")
def api() -> Iterator[ServedApi]:
    with serving_a_sample() as served:
        yield served


def test_every_route_answers_as_its_schema_says(api: ServedApi, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{api.url}/openapi.json",
        "--checks",
        "all",
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {ADMIN_TOKEN}",
        # webhook targets are outbound URLs: generated ones must never be registered, so the
        # webhook routes are held to their schema by tests/notify instead
        "--exclude-path-regex",
        "^/v1/webhooks",
    ]
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
