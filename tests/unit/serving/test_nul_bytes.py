"""A NUL byte in an id (PostgreSQL takes none in text): refused at the request's schema,
quarantined with its reason by the outcome intake, and never able to stall the decision log."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from support.live_stores import fresh_postgres

from serving.decision_log import COLUMNS, DecisionLog, read_log
from serving.log_database import DECISIONS, engine
from serving.outcomes.store import ingest
from serving.schemas import PredictRequest

DECIDED = pd.Timestamp("2026-03-02 09:00", tz="UTC")


def _row(decision_id: str, customer_id: str = "C1") -> tuple:
    row = dict.fromkeys(COLUMNS) | {"decision_id": decision_id, "customer_id": customer_id, "channel": "sms",
                                    "logged_at": DECIDED.isoformat(), "propensity": 0.5}  # fmt: skip
    return tuple(row[c] for c in COLUMNS)


def test_a_row_postgresql_refuses_is_spilled_and_the_rest_are_written(tmp_path: Path) -> None:
    with fresh_postgres() as url:
        spill = tmp_path / "refused.jsonl"
        log = DecisionLog(url, spill).start()
        log.append([_row("a1"), _row("a2", "C00\x0000042"), _row("a3")])
        time.sleep(0.5)  # the writer takes the first batch alone
        log.append([_row(f"b{i}") for i in range(60)])
        log.close()
        logged = set(read_log(url)["decision_id"])
    assert logged == {"a1", "a3", *(f"b{i}" for i in range(60))}
    assert log.refused == 1 and log.written == 62
    kept = [json.loads(line) for line in spill.read_text().splitlines()]
    assert [(k["decision_id"], k["customer_id"]) for k in kept] == [("a2", "C00\x0000042")]
    assert "NUL" in kept[0]["refused"]


@pytest.mark.parametrize("bad", ["C00\x0000042", "C1\n", "   ", ""])
def test_an_id_with_a_control_character_or_blank_is_refused_in_one_line(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PredictRequest(customer_id=bad)
    (error,) = caught.value.errors()
    assert error["loc"] == ("customer_id",) and "\n" not in error["msg"]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_outcome_with_a_nul_byte_is_quarantined_and_the_valid_rows_kept(tmp_path: Path, kind: str) -> None:
    def run(target: Path | str) -> None:
        with engine(target).begin() as con:
            con.execute(DECISIONS.insert(), [dict(zip(COLUMNS, _row("d1"), strict=True))
                                             | {"window_start": DECIDED.isoformat()}])  # fmt: skip
        at = (DECIDED + pd.Timedelta(hours=2)).isoformat()
        rows = pd.DataFrame({"decision_id": ["d1", "d\x001", "d1"],
                             "event": ["sent", "sent", "deliv\x00ered"], "at": [at, at, at]})  # fmt: skip
        result = ingest(target, rows, "api")
        assert (result.read, result.accepted) == (3, 1)
        reasons = result.quarantined.set_index("row")["reason"].to_dict()
        assert reasons == {2: "malformed: decision_id has a control character",
                           3: "malformed: event has a control character"}  # fmt: skip
        with engine(target).connect() as con:
            held = pd.read_sql("SELECT decision_id, event, reason FROM outcome_quarantine ORDER BY row", con)
        assert held["decision_id"].tolist() == ["d\\x001", "d1"]  # kept readable, without the NUL

    if kind == "sqlite":
        run(tmp_path / "log.sqlite")
    else:
        with fresh_postgres() as url:
            run(url)
