"""Run the real service (`bentoml serve`) in a child process for the length of a `with` block:
used by the demo, the HTTP tests and the serving benchmark, so all three start it the same way.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from optichannel.registry import ROOT
from optichannel.settings import Settings

SERVICE = "serving.service:NextBestChannel"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metrics_home(port: int) -> Path:
    """A BentoML home of the server on `port`: every `bentoml serve` wipes its home's Prometheus
    directory at start, so two servers on one host sharing `~/bentoml` erased each other's counters
    (/metrics read 7,444 decisions against 33,914 logged). The service needs no model store there."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"optichannel-bentoml-{port}"


def service_env(settings: Settings, workers: int, port: int | None = None) -> dict[str, str]:
    """The environment that gives the child process these settings (and its workers the cores);
    with `port`, its own Prometheus directory (`metrics_home`)."""
    env = {**os.environ, "OPTICHANNEL_SERVE_WORKERS": str(workers), "BENTOML_DO_NOT_TRACK": "true"}
    if port is not None:
        env["BENTOML_HOME"] = str(metrics_home(port))
    # each worker is a process with its own LightGBM: share the cores instead of oversubscribing them
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    env |= {
        "OPTICHANNEL_PROFILE": settings.profile,
        "OPTICHANNEL_DATA_DIR": str(Path(settings.data_dir).resolve()),
        "OPTICHANNEL_MODEL_ALIAS": settings.model_alias,
        "OPTICHANNEL_EXPLORATION": str(settings.exploration),
        "OPTICHANNEL_DECISION_LOG_PATH": str(settings.decision_log.resolve()),
        "OPTICHANNEL_DECISION_LOG_URL": settings.decision_log_url,
        "OPTICHANNEL_CAPACITY_COUNTER_PATH": str(settings.capacity_counter.resolve()),
        "OPTICHANNEL_COUNT_HANDED_OUT": str(settings.count_handed_out).lower(),
        "OPTICHANNEL_PLANS": json.dumps([str(Path(p).resolve()) for p in settings.plans]),
    }
    for name, value in (
        ("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri),
        ("API_TOKEN", settings.api_token),
    ):
        if value:
            env[f"OPTICHANNEL_{name}"] = value
    return env


@contextmanager
def running_service(
    settings: Settings,
    port: int | None = None,
    workers: int = 1,
    log_file: Path | None = None,
    timeout: float = 120,
) -> Iterator[str]:
    """Yield the base URL once `/readyz` answers; stop the service afterwards. A service that
    exits or never gets ready raises RuntimeError with the tail of its output."""
    import httpx

    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    bentoml = Path(sys.executable).with_name("bentoml")
    out_path = log_file or Path(os.devnull)
    with open(out_path, "w") as sink:
        proc = subprocess.Popen(
            [str(bentoml), "serve", SERVICE, "--port", str(port), "--host", "127.0.0.1"],
            cwd=ROOT, env=service_env(settings, workers, port), stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.time() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the service exited with code {proc.returncode}{_tail(log_file)}")
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline:
                    raise RuntimeError(f"the service was not ready within {timeout:.0f} s{_tail(log_file)}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _tail(log_file: Path | None) -> str:
    if log_file is None or not log_file.exists():
        return ""
    return ":\n" + log_file.read_text(errors="replace")[-3000:]
