"""A family's windows computed in NumPy for the local feature build: same values, many times faster.

DuckDB evaluates each window expression on its own (about 100 ns per row and window on this
machine); a family has some 40 to 70 of them over a dense customer x day grid, which made the
windows most of `features build`. Here DuckDB computes the daily aggregates and joins them to the
grid (`Family.frame_sql`), NumPy computes every window from running sums and forward fills over
the rows in customer and day order, and DuckDB runs the family's own output SQL over the result
(`Family.outer_sql`). Spark runs the whole query (`Family.sql`).

Values are the SQL's to the bit: sums are taken over exact integers (a DECIMAL as its unscaled
integer, so money in cents), decayed sums add the same products in the same order as the SQL's
`a + b + c`, and every window gets the type DuckDB's SQL gives it (read with DESCRIBE), so the
Parquet files are identical (tests/unit/features/test_window_arrays.py compares both paths).
"""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.snapshot_family import Family, Window

TABLE = "window_rows"  # the windows registered by `Windowed` that its query reads


#: DuckDB's decimal type names, e.g. DECIMAL(38,2)
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def _scale(sql_type: str) -> int:
    """Decimal places of an integer or DECIMAL SQL type; other types cannot be summed exactly."""
    if sql_type in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"):
        return 0
    match = _DECIMAL.fullmatch(sql_type)
    if match is None:
        raise TypeError(
            f"a window sum needs integer or DECIMAL values, got {sql_type}: it would not be exact"
        )
    return int(match.group(2))


class _Rows:
    """The grid rows of one computation: where each customer's rows start, and the day numbers."""

    def __init__(self, frame: pa.Table) -> None:
        self.day = frame.column("day").combine_chunks().cast(pa.int32()).to_numpy()
        self.n = n = len(self.day)
        self.idx = np.arange(n, dtype=np.int64)
        # rows come in customer and day order and every customer's grid ends on the same last day,
        # so a customer's first row is exactly where the day does not move forward
        first = np.ones(n, dtype=bool)
        first[1:] = self.day[1:] <= self.day[:-1]
        self.start = np.maximum.accumulate(np.where(first, self.idx, 0))
        self._running: dict[str, np.ndarray] = {}

    def window_sum(self, name: str, units: pa.ChunkedArray, days: int) -> np.ndarray:
        """Sum of the `days` rows before each row of an int64 column (running sums kept per column)."""
        if name not in self._running:
            self._running[name] = running = np.zeros(self.n + 1, dtype=np.int64)
            np.cumsum(units.combine_chunks().to_numpy(), out=running[1:])
        running = self._running[name]
        return running[:-1] - running[np.maximum(self.idx - days, self.start)]

    def shifted(self, x: np.ndarray, k: int) -> np.ndarray:
        """x of the row k days earlier for the same customer (0 before the customer's first row)."""
        out = np.zeros_like(x)
        if k < self.n:
            out[k:] = x[:-k]
        out[self.idx - k < self.start] = 0
        return out

    def latest_before(self, valid: np.ndarray, days: int) -> tuple[np.ndarray, np.ndarray]:
        """(row of the latest valid row among the `days` rows before each row, whether there is one)."""
        upto = np.maximum.accumulate(np.where(valid, self.idx, -1))
        prev = np.empty(self.n, dtype=np.int64)
        prev[:1] = -1
        prev[1:] = upto[:-1]
        found = (prev >= self.start) & (prev >= self.idx - days)
        return np.where(found, prev, 0), found


def _window(rows: _Rows, w: Window, name: str, frame: pa.Table) -> pa.Array:
    if w.kind == "sum":
        return pa.array(rows.window_sum(name, frame.column(f"{name}_units"), w.days))
    source = frame.column(name)
    if w.kind == "decayed":
        x = pc.fill_null(source.combine_chunks().cast(pa.float64()), 0.0).to_numpy()
        total = rows.shifted(x, 1) * float(w.weights[0])
        for k, weight in enumerate(w.weights[1:], start=2):
            total = total + rows.shifted(x, k) * float(weight)
        return pa.array(total)
    if w.kind == "column":
        return source.combine_chunks()
    if w.kind == "last":
        valid = source.is_valid().to_numpy(zero_copy_only=False)
        at, found = rows.latest_before(valid, w.days)
        return source.combine_chunks().take(pa.array(at, mask=~found))
    held = pc.fill_null(source, False).to_numpy(zero_copy_only=False)  # since
    at, found = rows.latest_before(held, w.days)
    return pa.array((rows.day - rows.day[at]).astype(np.int64), mask=~found)


def _describe(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE {sql}").fetchall()}


class Windowed:
    """`family`'s snapshots with the windows computed here, for `params`: the SQL around them is
    planned once (types read with DESCRIBE) and its shared CTEs computed over the current views
    (everyone), then each call computes the windows over the grid of
    the current `customers` view, registers them as TABLE and returns the family's snapshot query
    reading it (ordered like `Family.sql`).

    A summed source is fetched as int64 units of its last decimal place (exact, nulls as 0: what
    a SQL sum skips) and its sums turned back into the SQL's DECIMAL by the same scale."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, family: Family, params: dict[str, object],
        decision_days: bool = False,
    ) -> None:  # fmt: skip
        self.con, self.family = con, family
        for name, sql in family.shared_sql().items():  # population statistics: over everyone, once
            con.execute(f"CREATE OR REPLACE TEMP TABLE shared_{name} AS {sql.format(**params)}")
        frame_sql = family.frame_sql(shared_tables=True).format(**params)
        source_types, self.names = _describe(con, frame_sql), family.sources()
        summed = {self.names[w.source] for w in family.windows.values() if w.kind == "sum"}
        scale = {name: _scale(source_types[name]) for name in summed}
        fetched = list(
            dict.fromkeys(self.names[w.source] for w in family.windows.values() if w.kind != "sum")
        )
        units = [f"CAST(COALESCE({n}, 0) * {10 ** scale[n]} AS BIGINT) AS {n}_units" for n in sorted(summed)]
        listed = ", ".join(fetched + units)
        self.fetch = f"SELECT customer_id, day, {listed} FROM ({frame_sql}) ORDER BY customer_id, day"
        types = _describe(con, family.inner_sql().format(**params))

        def typed(alias: str, w: Window) -> str:
            places = scale[self.names[w.source]] if w.kind == "sum" else 0
            value = f"CAST({alias} AS DECIMAL(19, 0)) * 0.{'0' * (places - 1)}1" if places else alias
            return f"CAST({value} AS {types[alias]}) AS {alias}"

        listed = ", ".join(typed(alias, w) for alias, w in family.windows.items())
        windowed = f"(SELECT customer_id, day, {listed} FROM {TABLE})"
        self.query = family.outer_sql(windowed, decision_days=decision_days).format(**params)

    def __call__(self) -> str:
        frame = self.con.sql(self.fetch).to_arrow_table()
        rows, columns = _Rows(frame), {"customer_id": frame.column("customer_id"), "day": frame.column("day")}
        for alias, w in self.family.windows.items():
            columns[alias] = _window(rows, w, self.names[w.source], frame)
        del frame, rows
        self.con.register(TABLE, pa.table(columns))
        return self.query
