"""The few spellings of the feature SQL that differ between DuckDB and Spark SQL.

The snapshot queries (features/snapshot_sql.py) are written once; every engine-specific
call goes through a `Dialect`, so DuckDB on one machine and Spark on a cluster run the same
logic. The DuckDB spellings are the reference: a Spark snapshot must equal DuckDB's value for
value (tests/integration/test_spark.py). Spark must run with its session time zone set to UTC
(features/spark_build.py does), as DuckDB's connection is: dates of instants are UTC dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Dialect:
    """SQL fragments for one engine: "duckdb" (the reference) or "spark"."""

    name: Literal["duckdb", "spark"] = "duckdb"

    @property
    def spark(self) -> bool:
        return self.name == "spark"

    def day_series(self, first: str, last: str) -> str:
        """A one-column (`day`) query of every date from `first` to `last` (SQL date literals)."""
        if self.spark:
            return f"SELECT explode(sequence({first}, {last}, INTERVAL 1 DAY)) AS day"
        return f"SELECT CAST(unnest(generate_series({first}, {last}, INTERVAL 1 DAY)) AS DATE) AS day"

    def instant(self, day: str) -> str:
        """The UTC midnight starting `day` (text such as `2024-01-31` or a `{placeholder}`)."""
        return f"TIMESTAMP '{day} 00:00:00+00:00'" if self.spark else f"TIMESTAMPTZ '{day} 00:00:00+00'"

    def utc_midnight(self, date_expr: str) -> str:
        """The instant (time-zone aware) at 00:00 UTC of a date or naive timestamp."""
        cast = f"CAST({date_expr} AS TIMESTAMP)"
        return cast if self.spark else f"{cast} AT TIME ZONE 'UTC'"

    def local_time(self, tz: str, ts: str) -> str:
        """Wall-clock time of instant `ts` in IANA zone `tz` (a naive timestamp)."""
        return f"from_utc_timestamp({ts}, {tz})" if self.spark else f"timezone({tz}, {ts})"

    def iso_dow(self, ts: str) -> str:
        """ISO day of week, Monday 1 to Sunday 7."""
        return f"(WEEKDAY({ts}) + 1)" if self.spark else f"ISODOW({ts})"

    def epoch(self, ts: str) -> str:
        """Seconds since 1970-01-01 UTC of an instant or date, fractions kept (DOUBLE)."""
        if self.spark:
            return f"(CAST(unix_micros(CAST({ts} AS TIMESTAMP)) AS DOUBLE) / 1e6)"
        return f"EPOCH({ts})"

    def last_non_null(self, expr: str) -> str:
        """The window function giving the last non-null `expr` of the frame (OVER follows)."""
        return f"LAST_VALUE({expr}, true)" if self.spark else f"LAST_VALUE({expr} IGNORE NULLS)"

    def day_diff(self, start: str, end: str) -> str:
        """Whole days from date `start` to date `end`."""
        return f"DATEDIFF({end}, {start})" if self.spark else f"DATE_DIFF('day', {start}, {end})"

    def window_sum(self, value: str, days: int, order: str) -> str:
        """SUM(value) over the `days` rows before the current one (0 when none), ordered by `order`.

        DuckDB slides the frame. Spark re-adds a sliding frame's rows for every row, so it takes the
        difference of two running sums instead (2.5 times faster): exact, as every windowed value is
        an integer or a DECIMAL. DuckDB sums integers into HUGEINT, which its Parquet writer stores
        as DOUBLE; Spark's sum is cast to match.
        """
        if not self.spark:
            return f"COALESCE(SUM({value}) OVER ({order} ROWS BETWEEN {days} PRECEDING AND 1 PRECEDING), 0)"
        upto = f"OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND {{}} PRECEDING)"
        return (
            f"CAST(COALESCE(SUM({value}) {upto.format(1)}, 0)"
            f" - COALESCE(SUM({value}) {upto.format(days + 1)}, 0) AS DOUBLE)"
        )


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")
