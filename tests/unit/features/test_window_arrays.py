"""The local build's NumPy windows give exactly what the family's whole SQL gives in DuckDB (the
reference, and what Spark runs): same rows, order, types and values to the bit; and a window sum
over values it cannot add exactly is refused rather than rounded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from features.build import connect, data_span
from features.duckdb_limits import connect as bounded_session
from features.snapshot_family import Family
from features.snapshot_sql import DAILY_FAMILIES, FAMILIES
from features.validation import validate_feeds
from features.window_arrays import Windowed
from optichannel.settings import Settings


@pytest.fixture(scope="module")
def feeds(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("windows") / "validated"
    validate_feeds(small_world, root, as_of="2030-01-01", progress=False)
    return root


@pytest.mark.parametrize("family", list(DAILY_FAMILIES))
def test_numpy_windows_equal_the_sql_windows(feeds: Path, family: str, tmp_path: Path) -> None:
    con = connect(feeds, Settings(data_dir=tmp_path))
    first, last = data_span(con)
    # snapshots from day 30 on: the first ones' windows reach back before them
    params = {"since": first, "last_day": last + dt.timedelta(days=1),
              "first_snapshot": first + dt.timedelta(days=30)}  # fmt: skip
    reference = con.sql(FAMILIES[family]().format(**params)).to_arrow_table()
    computed = con.sql(Windowed(con, DAILY_FAMILIES[family](), params)()).to_arrow_table()
    assert reference.num_rows > 100_000  # 2,000 customers x ~90 days
    assert computed.schema.equals(reference.schema)
    for name in reference.column_names:
        assert computed.column(name).equals(reference.column(name)), f"{family}.{name}"


def test_a_sum_over_inexact_values_is_refused(tmp_path: Path) -> None:
    con = connect_empty(tmp_path)
    fam = Family("SELECT customer_id, DATE '2024-01-02' AS day, 0.1::DOUBLE AS x FROM customers")
    fam.out(fam.window_sum("x", 7), "x_7d")
    params = {"since": "2024-01-01", "last_day": "2024-01-05", "first_snapshot": "2024-01-01"}
    with pytest.raises(TypeError, match=r"integer or DECIMAL.*DOUBLE"):
        Windowed(con, fam, params)


def test_windows_follow_each_customers_own_days(tmp_path: Path) -> None:
    """Two customers, one signed up later: sums, decayed sums, last values and days-since never
    reach into another customer's rows, and 'last' forgets what is older than its 90 rows."""
    con = connect_empty(tmp_path)
    con.execute("CREATE OR REPLACE VIEW customers AS SELECT * FROM (VALUES ('a', DATE '2024-01-01'), "
                "('b', DATE '2024-01-04')) t(customer_id, signup_date)")  # fmt: skip
    daily = ("SELECT * FROM (VALUES ('a', DATE '2024-01-01', 2, 1.5::DOUBLE), ('a', DATE '2024-01-03', 3,"
             " NULL), ('b', DATE '2024-01-04', 7, 4.0)) t(customer_id, day, n, v)")  # fmt: skip
    fam = Family(daily)
    fam.out(fam.window_sum("n", 2), "n_2d")
    fam.out(fam.decayed_sum("v", 2, 1.0), "v_decayed")
    fam.out(fam.last_value("a.v", "v_last"), "v_last")
    fam.out(fam.days_since("a.n > 2", "since_big"), "since_big")
    params = {"since": "2024-01-01", "last_day": "2024-04-30", "first_snapshot": "2024-01-01"}
    rows = con.sql(Windowed(con, fam, params)()).df().set_index(["customer_id", "event_timestamp"])
    a, b = (rows.loc[c].reset_index(drop=True) for c in ("a", "b"))
    assert len(a) == 121 and len(b) == 118  # every day from signup to 30 April
    assert a.n_2d.tolist()[:6] == [0, 2, 2, 3, 3, 0]  # the two days before each
    assert a.v_last.isna().tolist()[:3] == [True, False, False] and a.v_last[1] == 1.5
    assert a.v_last[90] == 1.5 and a.v_last[91:].isna().all()  # day 1 is 90 rows back, then 91
    assert a.since_big.tolist()[3:6] == [1, 2, 3] and a.since_big[92] == 90 and a.since_big[93:].isna().all()
    assert b.n_2d.tolist()[:4] == [0, 7, 7, 0]
    assert b.v_decayed.tolist()[:4] == pytest.approx([0.0, 4.0, 4.0 * 0.36787944, 0.0])
    assert a.v_decayed.tolist()[:4] == pytest.approx([0.0, 1.5, 1.5 * 0.36787944, 0.0])


def connect_empty(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A bounded DuckDB session with a one-customer `customers` view."""
    con = bounded_session(Settings(data_dir=tmp_path))
    con.execute("CREATE VIEW customers AS SELECT 'a' AS customer_id, DATE '2024-01-01' AS signup_date")
    return con
