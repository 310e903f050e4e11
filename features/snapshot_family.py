"""One feature family's snapshot query: daily aggregates, windows over them, output expressions.

A family is built once (features/snapshot_sql.py) and read two ways. `sql()` is the whole query,
windows included, for any SQL engine (Spark on a cluster; DuckDB as the reference). `frame_sql()`,
`windows` and `outer_sql()` split it at the windows, so an engine that is slow at windows can fetch
the grid rows with each window's *source* and compute the windows itself
(features/window_arrays.py does, in NumPy, for the local build) before the same outer SQL runs.
Every window is recorded both as SQL and as a `Window` spec, from one call, so the two cannot drift;
a test compares them value for value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from features.sql_dialect import DUCKDB, Dialect

WINDOWS = (7, 30, 90)
LOOKBACK_DAYS = max(WINDOWS)
_BY_CUSTOMER_DAY = "PARTITION BY g.customer_id ORDER BY g.day"
#: the grid rows kept by a build of decision-day snapshots (`Settings.feature_snapshots`): the
#: newest day, and every day on which the customer has a logged decision (a UTC day, like the
#: snapshots'). A decision at t reads the snapshot of t's day, and serving the newest: exactly
#: what the daily grid gives them, at a fraction of the rows.
DECISION_DAYS = """(w.day = DATE '{last_day}' OR EXISTS (
    SELECT 1 FROM contacts k WHERE k.customer_id = w.customer_id AND CAST(k.sent_at AS DATE) = w.day))"""


@dataclass(frozen=True)
class Window:
    """One windowed value of a snapshot, over the customer's grid rows strictly before it.

    kind: `sum` (of `source` over `days` rows, 0 when none), `decayed` (the `days` previous rows'
    `source` times `weights`, nearest first), `last` (the latest non-null `source` within
    LOOKBACK_DAYS rows), `since` (days from the latest row where the condition `source` held, within
    LOOKBACK_DAYS rows), `column` (`source` of the row itself: no window).
    """

    kind: Literal["sum", "decayed", "last", "since", "column"]
    source: str
    days: int = 0
    weights: tuple[str, ...] = ()  # decimal literals, written once into the SQL and read by NumPy


def _grid(dialect: Dialect) -> str:
    """The dense customer x day grid from the first day read to the last snapshot day."""
    return f"""
days AS (
  {dialect.day_series("DATE '{since}'", "DATE '{last_day}'")}
),
grid AS (
  SELECT c.customer_id, d.day FROM customers c CROSS JOIN days d
  WHERE d.day >= CAST(c.signup_date AS DATE)
)"""


@dataclass
class Family:
    """One family's query: daily aggregates, windows over them, and the output expressions."""

    daily: str
    dialect: Dialect = DUCKDB
    windows: dict[str, Window] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    #: CTEs over every customer (a population statistic), after `daily`: name -> body. A bucketed
    #: build computes each once into the table `shared_<name>` and reads that instead.
    shared: dict[str, str] = field(default_factory=dict)
    joins: str = ""

    def window_sum(self, column: str, days: int) -> str:
        """Alias of SUM(column) over the `days` days before the snapshot (0 when none)."""
        alias = f"w_{column}_{days}"
        self.windows[alias] = Window("sum", f"a.{column}", days)
        return alias

    def decayed_sum(self, column: str, days: int, tau_days: float) -> str:
        """Alias of sum over the `days` days before the snapshot of `column` (a value as of its day's
        end) times exp(-age / tau): the day before the snapshot has age 0."""
        alias = f"d_{column}_{days}"
        weights = tuple(f"{math.exp(-(k - 1) / tau_days):.8f}" for k in range(1, days + 1))
        self.windows[alias] = Window("decayed", f"a.{column}", days, weights)
        return alias

    def last_value(self, expr: str, alias: str) -> str:
        """Alias of the latest non-null `expr` on any day before the snapshot."""
        self.windows[alias] = Window("last", expr, LOOKBACK_DAYS)
        return alias

    def days_since(self, condition: str, alias: str) -> str:
        """Whole days from the last day on which `condition` held to the snapshot day."""
        self.windows[alias] = Window("since", condition, LOOKBACK_DAYS)
        return alias

    def column(self, expr: str, alias: str) -> str:
        """Alias of `expr` on the snapshot's own row (a joined value, no window)."""
        self.windows[alias] = Window("column", expr)
        return alias

    def out(self, expr: str, name: str) -> None:
        self.outputs.append(f"{expr} AS {name}")

    def window_sql(self, w: Window) -> str:
        """The window as SQL in this family's dialect."""
        d = self.dialect
        if w.kind == "sum":
            return d.window_sum(w.source, w.days, _BY_CUSTOMER_DAY)
        if w.kind == "decayed":
            return " + ".join(
                f"COALESCE(LAG({w.source}, {k}) OVER ({_BY_CUSTOMER_DAY}), 0) * {weight}"
                for k, weight in enumerate(w.weights, start=1)
            )
        if w.kind == "column":
            return w.source
        source = w.source if w.kind == "last" else f"CASE WHEN {w.source} THEN g.day END"
        frame = f"ROWS BETWEEN {w.days} PRECEDING AND 1 PRECEDING"
        last = f"{d.last_non_null(source)} OVER ({_BY_CUSTOMER_DAY} {frame})"
        return last if w.kind == "last" else d.day_diff(last, "g.day")

    def _from(self, shared_tables: bool = False) -> str:
        """The WITH clause; `shared_tables`: the shared CTEs read their tables (`shared_sql`)."""
        shared = "".join(
            f",\n{name} AS ({f'SELECT * FROM shared_{name}' if shared_tables else body})"
            for name, body in self.shared.items()
        )
        return f"""WITH {_grid(self.dialect)},
daily AS ({self.daily}){shared}"""

    def shared_sql(self) -> dict[str, str]:
        """Query of each shared CTE's table, run over every customer before the buckets."""
        return {name: f"{self._from()}\nSELECT * FROM {name}" for name in self.shared}

    def _rows(self) -> str:
        return (
            f"FROM grid g LEFT JOIN daily a ON a.customer_id = g.customer_id AND a.day = g.day {self.joins}"
        )

    def _select(self, column: Callable[[Window], str]) -> str:
        listed = ",\n    ".join(f"{column(w)} AS {alias}" for alias, w in self.windows.items())
        return f"""SELECT g.customer_id, g.day,
    {listed}
  {self._rows()}"""

    def inner_sql(self) -> str:
        """Every grid row with its day and windows (the reference for the windows' types)."""
        return f"{self._from()}\n{self._select(self.window_sql)}"

    def sources(self) -> dict[str, str]:
        """Column name in `frame_sql()` of each distinct window source."""
        return {src: f"s{i}" for i, src in enumerate(dict.fromkeys(w.source for w in self.windows.values()))}

    def frame_sql(self, shared_tables: bool = False) -> str:
        """Every grid row with each distinct window source (`since`: its condition) named by
        `sources()`, for an engine that computes the windows itself."""
        listed = ",\n    ".join(f"{src} AS {name}" for src, name in self.sources().items())
        return f"""{self._from(shared_tables)}
SELECT g.customer_id, g.day,
    {listed}
  {self._rows()}"""

    def outer_sql(self, windowed: str, ctes: str = "", decision_days: bool = False) -> str:
        """The snapshots from `windowed` (a query or table of `inner_sql()`'s columns; `ctes` the
        WITH clause it reads); `decision_days`: only the rows of DECISION_DAYS."""
        aliases = ", ".join(self.windows)
        outer = ",\n  ".join(self.outputs)
        return f"""{ctes}
SELECT customer_id, event_timestamp,
  {outer}
FROM (
  SELECT customer_id, {self.dialect.utc_midnight("day")} AS event_timestamp, {aliases}
  FROM {windowed} w WHERE {DECISION_DAYS if decision_days else "TRUE"}
) WHERE event_timestamp >= {self.dialect.instant("{first_snapshot}")}
ORDER BY event_timestamp, customer_id"""

    def sql(self, decision_days: bool = False) -> str:
        """The whole query, windows in SQL."""
        return self.outer_sql(f"(\n{self._select(self.window_sql)}\n)", self._from(), decision_days)
