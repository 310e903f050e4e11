"""/metrics per server (issue 37, finding 14): BentoML wipes its home's Prometheus directory when a
server starts, so a second server on the same host erased the first's counters. Each server started
by `optichannel serve` (or the demo, tests and benchmarks) gets its own directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from optichannel.settings import Settings
from serving.local_server import service_env

STARTUP = "from bentoml.serving import ensure_prometheus_dir; print(ensure_prometheus_dir())"


def _server_starts(env: dict[str, str]) -> Path:
    """What `bentoml serve` does first with this environment: (re)create its Prometheus directory."""
    done = subprocess.run(
        [sys.executable, "-c", STARTUP], env=env, capture_output=True, text=True, check=True
    )
    return Path(done.stdout.strip().splitlines()[-1])


def test_a_second_server_keeps_the_first_ones_metrics(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = _server_starts(service_env(settings, 1, 3101))
    counter = first / "counter_4242.db"  # a worker's live counter file
    counter.write_bytes(b"metrics")
    second = _server_starts(service_env(settings, 1, 3102))
    assert second != first
    assert counter.exists()  # before: the second start deleted it (one shared ~/bentoml)
