"""Outcomes back from the CRM: every row accepted or quarantined with its reason, nothing applied
twice (also across a crash mid-import), `not_sent` frees the frequency cap, and the service's
history comes out as a valid contacts feed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from support.live_stores import fresh_postgres

import serving.outcomes.import_file
from features.validation import validate_table
from optichannel.contracts import CONTACTS
from serving.contacts_export import contacts_feed
from serving.decision_log import COLUMNS
from serving.handed_out import SQLiteHandedOut
from serving.log_database import DECISIONS, engine
from serving.outcomes.import_file import import_file
from serving.outcomes.store import ingest

DECIDED = pd.Timestamp("2026-03-02 09:00", tz="UTC")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """The local profile's SQLite file, and (when the server answers) a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield tmp_path / "log.sqlite"
        return
    with fresh_postgres() as url:
        yield url


def _log(target: Path | str, n: int = 4) -> Path | str:
    """A decision log with decisions d1..dn for customers c1..cn (email, sent at 18:00; every 4th none)."""
    rows = []
    for i in range(1, n + 1):
        row = dict.fromkeys(COLUMNS)
        row |= {"decision_id": f"d{i}", "customer_id": f"c{i}", "channel": "email" if i % 4 else "none",
                "send_at": None if i % 4 == 0 else (DECIDED + pd.Timedelta(hours=9)).isoformat(),
                "logged_at": DECIDED.isoformat(), "window_start": DECIDED.isoformat(), "propensity": 0.9,
                "explored": 0, "purpose": "marketing", "model_version": "3"}  # fmt: skip
        rows.append(row)
    with engine(target).begin() as con:
        con.execute(DECISIONS.insert(), rows)
    return target


def _rows(target: Path | str, query: str) -> pd.DataFrame:
    with engine(target).connect() as con:
        return pd.read_sql(text(query), con)


def _at(hours: float) -> str:
    return (DECIDED + pd.Timedelta(hours=hours)).isoformat()


def test_each_bad_row_is_quarantined_with_its_reason(store: Path | str) -> None:
    log = _log(store)
    first = ingest(log, pd.DataFrame({"decision_id": ["d1", "d2"], "event": ["sent", "not_sent"],
                                      "at": [_at(9), _at(1)]}), "api")  # fmt: skip
    assert (first.read, first.accepted, len(first.quarantined)) == (2, 2, 0)
    assert first.not_sent[["decision_id", "customer_id", "channel"]].values.tolist() == [
        ["d2", "c2", "email"]
    ]
    rows = pd.DataFrame({
        "decision_id": ["d1", "zz", "d1", "d3", "d3", "d2", "d2", None, "d3", "d3", "d3"],
        "event": ["converted", "sent", "sent", "responded", "responded", "responded", "sent", "sent",
                  "clicked", "sent", "converted"],
        "at": [_at(30), _at(9), _at(10), _at(-2), _at(12), _at(12), _at(9), _at(9), _at(9), "soon", _at(40)],
        "value": [120.0, None, None, None, None, None, None, None, None, None, "lots"],
    })  # fmt: skip
    result = ingest(log, rows, "api")
    reasons = result.quarantined.set_index("row")["reason"].to_dict()
    assert reasons == {
        2: "unknown decision_id",
        3: "already reported",
        4: "before the decision",
        6: "contradicts an earlier not_sent",
        7: "contradicts an earlier not_sent",
        8: "malformed: no decision_id",
        9: "malformed: event not one of sent, not_sent, delivered, responded, converted",
        10: "malformed: at is not a time",
        11: "malformed: value is not a number",
    }
    assert (result.read, result.accepted) == (11, 2)  # d1 converted (120.0) and d3 responded at 12 h
    stored = _rows(log, "SELECT decision_id, event, value FROM outcomes ORDER BY decision_id, event")
    stored = stored.astype(object).where(stored.notna(), None)
    assert stored.values.tolist() == [["d1", "converted", 120.0], ["d1", "sent", None],
                                      ["d2", "not_sent", None], ["d3", "responded", None]]  # fmt: skip
    again = ingest(log, pd.DataFrame({"decision_id": ["d3", "d3"], "event": ["delivered", "delivered"],
                                      "at": [_at(10), _at(11)]}), "api")  # fmt: skip
    assert again.quarantined["reason"].tolist() == ["repeated in this batch"]
    held = int(_rows(log, "SELECT COUNT(*) AS n FROM outcome_quarantine")["n"][0])
    assert held == 9 + 1  # every rejected row kept with its reason


def test_not_sent_takes_the_contact_off_the_cap(store: Path | str, tmp_path: Path) -> None:
    log = _log(store)
    handed = SQLiteHandedOut(tmp_path / "handed_out.sqlite")
    send = int((DECIDED + pd.Timedelta(hours=9)).timestamp())
    handed.add([("c1", send, "d1"), ("c2", send, "d2")])
    lo, hi = np.array([send - 10] * 2), np.array([send + 10] * 2)
    assert handed.count(["c1", "c2"], lo, hi).tolist() == [1, 1]
    path = tmp_path / "outcomes.csv"
    pd.DataFrame({"decision_id": ["d2", "d1"], "event": ["not_sent", "sent"], "at": [_at(1), _at(9)]}).to_csv(
        path, index=False
    )
    result = import_file(path, log, handed)
    assert (result.read, result.accepted, result.quarantined, result.released) == (2, 2, 0, 1)
    assert handed.count(["c1", "c2"], lo, hi).tolist() == [1, 0]
    repeat = import_file(path, log, handed)
    assert repeat.already is not None and repeat.accepted == 2


CRASH = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from serving.outcomes.import_file import import_file

    def crash(rows):
        if rows >= int(sys.argv[3]):
            os._exit(3)  # no cleanup, no rollback handlers: as a killed process

    import_file(Path(sys.argv[1]), sys.argv[2], rows=1000, on_chunk=crash)
    """
)


def _outcome_file(path: Path, n_decisions: int) -> Path:
    rng = np.random.default_rng(4)
    events = rng.choice(["sent", "delivered", "responded", "converted", "bogus"], size=5000)
    ids = [f"d{i}" for i in rng.integers(1, n_decisions + 20, size=5000)]  # some unknown ids
    pd.DataFrame({"decision_id": ids, "event": events, "at": _at(12)}).to_parquet(path, index=False)
    return path


def test_a_crash_mid_import_loses_and_duplicates_nothing(store: Path | str, tmp_path: Path) -> None:
    n = 300
    source = _outcome_file(tmp_path / "outcomes.parquet", n)
    clean_log = _log(tmp_path / "clean.sqlite", n)
    clean = import_file(source, clean_log, rows=1000)
    crashed_log = _log(store, n)
    root = Path(__file__).resolve().parents[3]
    killed = subprocess.run([sys.executable, "-c", CRASH, str(source), str(crashed_log), "3000"], cwd=root)
    assert killed.returncode == 3
    assert _rows(crashed_log, "SELECT rows_done FROM outcome_imports")["rows_done"].tolist() == [3000]
    resumed = import_file(source, crashed_log, rows=1000)
    assert resumed.resumed_at == 3000 and resumed.read == 5000 == clean.read
    assert (resumed.accepted, resumed.quarantined) == (clean.accepted, clean.quarantined)
    assert clean.accepted + clean.quarantined == 5000 and clean.quarantined > 0

    def table(target: Path | str, name: str, cols: str) -> pd.DataFrame:
        return _rows(target, f"SELECT {cols} FROM {name} ORDER BY {cols}")

    for name, cols in (("outcomes", "decision_id, event, at"), ("outcome_quarantine", "row, reason")):
        pd.testing.assert_frame_equal(table(crashed_log, name, cols), table(clean_log, name, cols))


def test_the_history_exports_as_a_valid_contacts_feed(store: Path | str) -> None:
    log = _log(store, 8)
    ingest(log, pd.DataFrame({
        "decision_id": ["d1", "d1", "d1", "d2", "d3", "d4"],
        "event": ["sent", "responded", "converted", "not_sent", "delivered", "converted"],
        "at": [_at(9.5), _at(11), _at(30), _at(2), _at(10), _at(50)],
    }), "api")  # fmt: skip
    exported = contacts_feed(log, DECIDED + pd.Timedelta(days=30))
    feed = exported.contacts.set_index("contact_id")
    assert (exported.decisions, len(feed), exported.not_sent, exported.unsettled) == (8, 7, 1, 0)
    assert feed.loc["d1", "sent_at"] == DECIDED + pd.Timedelta(hours=9.5)  # the reported send wins
    assert feed.loc["d1", "converted_at"] == DECIDED + pd.Timedelta(hours=30) and feed.loc["d1", "delivered"]
    assert feed.loc["d4", "channel"] == "none" and feed.loc["d4", "sent_at"] == DECIDED
    assert feed.loc["d3", "delivered"] and not feed.loc["d5", "delivered"]
    checked = validate_table(exported.contacts, CONTACTS, as_of=DECIDED + pd.Timedelta(days=30),
                             ref_keys={"customers.customer_id": [f"c{i}" for i in range(1, 9)]})  # fmt: skip
    assert len(checked.quarantined) == 0 and len(checked.accepted) == 7
    early = contacts_feed(log, DECIDED + pd.Timedelta(days=3))
    assert (len(early.contacts), early.unsettled) == (0, 7)


def test_outcomes_need_their_columns(tmp_path: Path) -> None:
    log = _log(tmp_path / "log.sqlite")
    with pytest.raises(ValueError, match="missing at"):
        ingest(log, pd.DataFrame({"decision_id": ["d1"], "event": ["sent"]}), "api")


def test_the_decision_log_writes_to_either_store(store: Path | str) -> None:
    from serving.decision_log import DecisionLog, read_log

    log = DecisionLog(store).start()
    rows = []
    for i in range(30):
        row = dict.fromkeys(COLUMNS) | {"decision_id": f"x{i}", "customer_id": f"c{i % 7}", "channel": "sms",
                                        "logged_at": DECIDED.isoformat(), "propensity": 0.5}  # fmt: skip
        rows.append(tuple(row[c] for c in COLUMNS))
    log.append(rows[:20])
    log.append(rows[10:])  # ten repeats: written once
    log.close()
    logged = read_log(store)
    assert log.failures == 0 and sorted(logged["decision_id"]) == sorted(f"x{i}" for i in range(30))
    assert logged["logged_at"].iloc[0] == DECIDED and (logged["propensity"] == 0.5).all()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_not_sent_gives_back_what_the_campaign_booked(tmp_path: Path, kind: str) -> None:
    from optichannel.campaign_plan import CampaignPlan
    from optichannel.channels import CHANNELS
    from optichannel.economics import Economics
    from serving.campaign_limits import CampaignLimits
    from serving.capacity_counter import RedisCounter, SQLiteCounter
    from serving.outcomes.store import release

    name = f"spring-{uuid.uuid4().hex[:8]}"  # fresh keys: Redis outlives the test
    if kind == "sqlite":
        counter = SQLiteCounter(tmp_path / "capacity.sqlite")
    else:
        import redis

        try:
            redis.Redis(socket_timeout=1).ping()
        except redis.exceptions.RedisError:
            pytest.skip("no Redis server on 127.0.0.1:6379 (the production profile's counters)")
        counter = RedisCounter("127.0.0.1:6379")
    hourly = {"email": {"per_hour": 1, "timezone": "UTC", "hours": [0, 24]}}
    plan = CampaignPlan.model_validate({"name": name, "budget": 0.01, "capacity": hourly})
    limits = CampaignLimits({name: plan}, counter, Economics())
    send_at = DECIDED + pd.Timedelta(hours=9)
    slots = np.array([int(send_at.timestamp() * 1e6)], dtype=np.int64)
    email = CHANNELS.index("email")
    assert limits.book(name, slots, email, 0) and not limits.book(name, slots, email, 0)  # the hour is full
    log = _log(tmp_path / "log.sqlite", 1)
    with engine(log).begin() as con:
        con.execute(text("UPDATE decisions SET campaign = :c"), {"c": name})
    result = ingest(log, pd.DataFrame({"decision_id": ["d1"], "event": ["not_sent"], "at": [_at(1)]}), "api")
    assert release(result, None, limits) == 1
    assert limits.book(name, slots, email, 0)  # the hour and the budget are free again
    assert not limits.book(name, slots, email, 0)


def test_two_imports_of_one_file_at_once_apply_each_row_once(
    store: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports of the same file at once (issue 37, finding 11): each row applied once, no false
    "already reported" quarantine rows, and both runs report the file's true totals."""
    source = _outcome_file(tmp_path / "outcomes.parquet", 300)
    clean_log = _log(tmp_path / "clean.sqlite", 300)
    clean = import_file(source, clean_log, rows=500)
    racing = _log(store, 300)
    both_read = threading.Barrier(2)
    read_progress = serving.outcomes.import_file._progress

    def progress_then_wait(target: Path | str, key: str) -> dict | None:
        found = read_progress(target, key)
        if threading.current_thread() is not threading.main_thread():
            both_read.wait(timeout=30)  # both runs saw "not imported yet": the race
        return found

    monkeypatch.setattr(serving.outcomes.import_file, "_progress", progress_then_wait)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: import_file(source, racing, rows=500), range(2)))

    quarantine = _rows(racing, "SELECT row, reason FROM outcome_quarantine ORDER BY row, reason")
    expected = _rows(clean_log, "SELECT row, reason FROM outcome_quarantine ORDER BY row, reason")
    assert len(quarantine) == len(expected) == clean.quarantined  # before: thousands of extra rows
    pd.testing.assert_frame_equal(quarantine, expected)
    stored = _rows(racing, "SELECT COUNT(*) AS n FROM outcomes")["n"].iloc[0]
    assert stored == clean.accepted
    assert all((r.accepted, r.quarantined) == (clean.accepted, clean.quarantined) for r in runs)
