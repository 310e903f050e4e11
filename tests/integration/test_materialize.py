"""Our materialize (features/feast_sqlite/materialize.py) against Feast's: byte-identical tables, the
interval recorded, and the file swap's promises: all views change at once, readers follow,
other tables survive, a failure leaves the live store as it was, other writers wait."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from features import store as st
from features.feast_sqlite import materialize as mat
from features.feast_sqlite.read import OnlineReader
from optichannel.settings import Settings, get_settings

pytestmark = pytest.mark.integration


@pytest.fixture()
def private(local_store: Settings, tmp_path: Path) -> Settings:
    """A copy of the shared store that a test may break."""
    settings = Settings(data_dir=tmp_path / "data", show_progress=False)
    for part in ("features", "feast"):
        shutil.copytree(local_store.data_dir / part, settings.data_dir / part)
    return settings


def _online(settings: Settings) -> Path:
    return settings.feast_dir / "online.db"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _intervals(settings: Settings) -> dict[str, list]:
    return {v.name: v.materialization_intervals for v in st.open_store(settings).list_feature_views()}


@pytest.mark.feast_format
def test_tables_are_byte_identical_to_feast_stock(private: Settings, tmp_path: Path) -> None:
    st.materialize(private, stock=True)
    reference = shutil.copy(_online(private), tmp_path / "stock.db")
    stock_intervals = _intervals(private)
    st.materialize(private)
    con = sqlite3.connect(_online(private))
    con.execute("ATTACH ? AS stock", (str(reference),))
    schema = "SELECT type, name, tbl_name, sql FROM {}sqlite_master"
    assert set(con.execute(schema.format(""))) == set(con.execute(schema.format("stock.")))
    tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert len(tables) == 4
    for table in tables:
        (rows,) = con.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
        (theirs,) = con.execute(f'SELECT COUNT(*) FROM stock."{table}"').fetchone()
        mine = f'SELECT * FROM "{table}" EXCEPT SELECT * FROM stock."{table}"'  # every column
        (differ,) = con.execute(f"SELECT COUNT(*) FROM ({mine})").fetchone()
        assert rows == theirs > 1000 and differ == 0, table
    nulls = sum(
        con.execute(f'SELECT COUNT(*) FROM "{t}" WHERE value_text IS NULL').fetchone()[0] for t in tables
    )
    assert nulls > 0  # NaN cells (empty Value, no text) are among those compared
    con.close()
    # the interval is recorded as Feast's materialize records it
    for name, intervals in _intervals(private).items():
        assert intervals == [*stock_intervals[name], stock_intervals[name][-1]], name


def test_a_reader_follows_the_swap_and_other_tables_survive(private: Settings) -> None:
    """Materialize at an earlier time, read, materialize the newest: the same reader object
    sees the new values at once; a table that is not ours is carried over unchanged."""
    con = sqlite3.connect(_online(private))
    con.execute("CREATE TABLE other_project_view (k BLOB PRIMARY KEY, v TEXT)")
    con.execute("CREATE INDEX other_project_view_v ON other_project_view (v)")
    con.executemany("INSERT INTO other_project_view VALUES (?, ?)", [(bytes([i]), str(i)) for i in range(50)])
    con.commit()
    con.close()
    _, newest = st.snapshot_span(private)
    earlier = newest - pd.Timedelta(days=20)
    st.materialize(private, end=earlier)
    reader = OnlineReader(st.open_store(private))
    ids = pd.read_parquet(private.features_dir / "profile.parquet")["customer_id"].head(50).tolist()
    _, as_of_before = reader.read(ids)
    st.materialize(private)
    _, as_of_after = reader.read(ids)
    assert as_of_before.max() == earlier and as_of_after.max() == newest
    con = sqlite3.connect(_online(private))
    assert con.execute("SELECT COUNT(*), SUM(CAST(v AS INT)) FROM other_project_view").fetchone() == (
        50,
        1225,
    )
    assert con.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'other_project_view_v'").fetchone()[0]
    assert not list(private.feast_dir.glob(".*rebuild*"))


def test_a_failed_rebuild_leaves_the_live_store_untouched(
    private: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _digest(_online(private))
    original, calls = mat.insert_view, []

    def insert_then_fail(con: sqlite3.Connection, staged: mat.Staged, ddl: list[str]) -> int:
        calls.append(staged.table)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        return original(con, staged, ddl)

    monkeypatch.setattr(mat, "insert_view", insert_then_fail)
    with pytest.raises(OSError, match="disk full"):
        st.materialize(private)
    assert len(calls) == 3
    assert _digest(_online(private)) == before
    assert not list(private.feast_dir.glob(".*rebuild*"))


def test_other_writers_wait_and_readers_read_the_old_file_meanwhile(
    private: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}
    original = mat.insert_view
    ids = pd.read_parquet(private.features_dir / "profile.parquet")["customer_id"].head(5).tolist()
    reader = OnlineReader(st.open_store(private))
    old, _ = reader.read(ids)

    def observe(con: sqlite3.Connection, staged: mat.Staged, ddl: list[str]) -> int:
        if not seen:
            other = sqlite3.connect(_online(private), timeout=0)
            try:
                other.execute("CREATE TABLE intruder (x)")
            except sqlite3.OperationalError as err:
                seen["writer"] = str(err)
            other.close()
            seen["reader"], _ = reader.read(ids)
        return original(con, staged, ddl)

    monkeypatch.setattr(mat, "insert_view", observe)
    st.materialize(private)
    assert seen["writer"] == "database is locked"
    pd.testing.assert_frame_equal(seen["reader"], old)


@pytest.mark.feast_format
def test_chunks_of_customers_write_the_same_tables(
    private: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Materialized 700 customers at a time (bounded memory), the tables equal one pass's."""
    st.materialize(private)
    reference = shutil.copy(_online(private), tmp_path / "whole.db")
    chunks: list[int] = []
    original = mat.insert_view

    def count(con: sqlite3.Connection, staged: mat.Staged, ddl: list[str]) -> int:
        chunks.append(len(staged.rows))
        return original(con, staged, ddl)

    monkeypatch.setattr(mat, "insert_view", count)
    monkeypatch.setenv("OPTICHANNEL_MATERIALIZE_CHUNK_CUSTOMERS", "700")
    get_settings.cache_clear()
    try:
        st.materialize(private)
    finally:
        get_settings.cache_clear()
    assert chunks == [700, 700, 600] * 4  # 2,000 customers, four views
    con = sqlite3.connect(_online(private))
    con.execute("ATTACH ? AS whole", (str(reference),))
    schema = "SELECT type, name, tbl_name, sql FROM {}sqlite_master"
    assert set(con.execute(schema.format(""))) == set(con.execute(schema.format("whole.")))
    for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        both = f'SELECT * FROM "{table}" EXCEPT SELECT * FROM whole."{table}"'
        (differ,) = con.execute(f"SELECT COUNT(*) FROM ({both})").fetchone()
        (rows,) = con.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
        (theirs,) = con.execute(f'SELECT COUNT(*) FROM whole."{table}"').fetchone()
        assert differ == 0 and rows == theirs > 1000, table
    con.close()
