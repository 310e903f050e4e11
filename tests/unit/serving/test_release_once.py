"""`not_sent` frees its contact exactly once: the release is stored with the report, so a crash or
an outage between storing and releasing leaves it pending for the next report or import, and a
release repeated after a crash gives nothing back twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from support.live_stores import fresh_postgres, redis_or_skip

from optichannel.campaign_plan import CampaignPlan
from optichannel.channels import CHANNELS
from optichannel.economics import Economics
from serving.campaign_limits import CampaignLimits
from serving.capacity_counter import KEY_PREFIX, RedisCounter, SQLiteCounter
from serving.decision_log import COLUMNS
from serving.handed_out import SQLiteHandedOut
from serving.log_database import DECISIONS, engine
from serving.outcomes import import_file as importer
from serving.outcomes.store import ingest, release

DECIDED = pd.Timestamp("2026-03-02 09:00", tz="UTC")
SEND = DECIDED + pd.Timedelta(hours=9)
EMAIL = CHANNELS.index("email")
SLOTS = np.array([int(SEND.timestamp() * 1e6)], dtype=np.int64)


class Killed(BaseException):
    """The process dies here (nothing after it runs)."""


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    if request.param == "sqlite":
        yield tmp_path / "log.sqlite"
    else:
        with fresh_postgres() as url:
            yield url


def _setup(target: Path | str, tmp_path: Path, counter: object, n: int = 3) -> tuple:
    """Decisions d1..dn of one campaign, each handed out and booked in the same e-mail hour."""
    name = f"spring-{uuid.uuid4().hex[:8]}"  # fresh keys: Redis outlives the test
    rows = [dict.fromkeys(COLUMNS) | {"decision_id": f"d{i}", "customer_id": f"c{i}", "channel": "email",
                                      "send_at": SEND.isoformat(), "logged_at": DECIDED.isoformat(),
                                      "window_start": DECIDED.isoformat(), "purpose": "marketing",
                                      "campaign": name} for i in range(1, n + 1)]  # fmt: skip
    with engine(target).begin() as con:
        con.execute(DECISIONS.insert(), rows)
    handed = SQLiteHandedOut(tmp_path / "handed_out.sqlite")
    handed.add([(f"c{i}", int(SEND.timestamp()), f"d{i}") for i in range(1, n + 1)])
    hourly = {"email": {"per_hour": 10, "timezone": "UTC", "hours": [0, 24]}}
    limits = CampaignLimits({name: CampaignPlan.model_validate({"name": name, "capacity": hourly})},
                            counter, Economics())  # fmt: skip
    for _ in range(n):
        assert limits.book(name, SLOTS, EMAIL, 0)
    return handed, limits, limits._key(name, limits.layout(name, SLOTS).resources[0].label)


def _on_cap(handed: SQLiteHandedOut, n: int = 3) -> int:
    s = int(SEND.timestamp())
    return int(handed.count([f"c{i}" for i in range(1, n + 1)], np.full(n, s - 1), np.full(n, s + 1)).sum())


def test_a_release_a_crash_left_pending_is_done_by_the_retry_once(store: Path | str, tmp_path: Path) -> None:
    handed, limits, hour = _setup(store, tmp_path, SQLiteCounter(tmp_path / "capacity.sqlite"))
    report = pd.DataFrame({"decision_id": ["d1"], "event": ["not_sent"], "at": [SEND.isoformat()]})
    ingest(store, report, "api")  # stored, then the worker dies (or Redis is down) before releasing
    assert _on_cap(handed) == 3 and limits.counter.used([hour]) == [3.0]
    retry = ingest(store, report, "api")  # the CRM retries the report it got no answer to
    assert retry.quarantined["reason"].tolist() == ["already reported"]
    assert release(retry, handed, limits) == 1
    assert _on_cap(handed) == 2 and limits.counter.used([hour]) == [2.0]
    assert release(retry, handed, limits) == 0 and limits.counter.used([hour]) == [2.0]
    with engine(store).connect() as con:
        assert con.execute(text("SELECT COUNT(*) FROM outcome_releases")).scalar() == 0


def test_an_import_killed_before_its_releases_frees_them_on_the_rerun(
    store: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed, limits, hour = _setup(store, tmp_path, SQLiteCounter(tmp_path / "capacity.sqlite"))
    path = tmp_path / "outcomes.csv"
    pd.DataFrame({"decision_id": ["d1", "d2", "d3"], "event": ["not_sent", "sent", "not_sent"],
                  "at": [SEND.isoformat()] * 3}).to_csv(path, index=False)  # fmt: skip

    def die(*_: object) -> int:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(importer, "release", die)
        with pytest.raises(Killed):
            importer.import_file(path, store, handed, rows=2, limits=limits)
    again = importer.import_file(path, store, handed, rows=2, limits=limits)
    assert again.resumed_at == 2 and again.released == 2
    assert _on_cap(handed) == 1 and limits.counter.used([hour]) == [1.0]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_keyed_release_gives_back_once(tmp_path: Path, kind: str) -> None:
    if kind == "sqlite":
        counter = SQLiteCounter(tmp_path / "capacity.sqlite")
    else:
        redis_or_skip()
        counter = RedisCounter("127.0.0.1:6379,db=0")
    key = f"{KEY_PREFIX}test-{uuid.uuid4().hex}:hour"
    once = f"{key}:released:d1"
    try:
        assert counter.book([(key, 1, 5)]) and counter.book([(key, 1, 5)])
        assert counter.release([(key, 1.0)], once) and not counter.release([(key, 1.0)], once)
        assert counter.used([key]) == [1.0]
        assert counter.release([(key, 1.0)])  # an unkeyed release still gives back every time
        assert counter.used([key]) == [0.0]
    finally:
        if kind == "redis":
            counter.client.delete(key, once)
