"""A request that times out must not act (issue 37, finding 3): a decision slower than the timeout is
a 503 (BentoML's own 504 left it running: booked and logged, though the CRM never got its id and
could never report it `not_sent`); the decision gives back the cap's place it claimed, unlogged."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from support.in_process import service_client
from support.tiny import customer_block, tiny_model

from decision.engine import Engine
from features.customer_block import CustomerBlock
from optichannel.settings import Settings
from serving.decider import Decider, next_full_hour
from serving.decision_log import DecisionLog, read_log
from serving.handed_out import SQLiteHandedOut
from serving.runtime import Runtime

WINDOW = {"window_start": next_full_hour().isoformat(), "window_hours": 48}


def test_a_timed_out_request_books_nothing_and_is_not_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path, serve_timeout_s=0.5)
    handed_out = SQLiteHandedOut(tmp_path / "handed_out.sqlite")

    def read(ids: list[str]) -> CustomerBlock:
        if "SLOW" in ids:
            time.sleep(1.5)  # a decision slower than the request's timeout
        return customer_block(ids)

    def runtime() -> Runtime:
        decider = Decider(Engine(tiny_model()), read, "tiny", "1")
        decider.handed_out = handed_out
        return Runtime(decider, DecisionLog(settings.decision_log).start(), "1", settings)

    with service_client(runtime, monkeypatch, timeout=1.0) as client:  # BentoML's own, shortened
        slow = client.post("/predict", json={"customer_id": "SLOW", **WINDOW})
        assert slow.status_code == 503 and "retry-after" in slow.headers  # before: 504
        time.sleep(1.5)  # the decision finishes meanwhile
        fine = client.post("/predict", json={"customer_id": "C1", **WINDOW})
        assert fine.status_code == 200 and fine.json()["decision"]["channel"] != "none"
        for _ in range(100):
            if settings.decision_log.exists() and len(read_log(settings.decision_log)):
                break
            time.sleep(0.05)
    logged = read_log(settings.decision_log)
    assert logged["customer_id"].tolist() == ["C1"]  # before: SLOW logged too
    lo, hi = np.array([0, 0]), np.array([2**40, 2**40])
    assert handed_out.count(["SLOW", "C1"], lo, hi).tolist() == [0, 1]  # before: SLOW held a cap place
