"""Daily snapshots computed a bucket of customers at a time, so memory follows the bucket.

A family's windows run over a dense customer x day grid: at a million customers x 90 days that
is 90M rows of some 60 window sums. DuckDB inside its memory limit would spill most of it and
crawl; instead the customers are split by a hash of their id into buckets of about
`feature_bucket_rows` customer-days, and each bucket's snapshots are computed alone.

The snapshot SQL is not changed: its grid is `customers` x days, so replacing that view by one
bucket's customers restricts everything to them. The feeds are split once into hash-partitioned
Parquet first, so a bucket reads only its own rows. The contact family's response-rate prior is
the population's: it is computed once over everyone before the buckets (`Family.shared`,
features/window_arrays.py), not in each bucket.
Each bucket's rows go to Parquet parts split by day, written into the family's file a day at a
time in (time, customer) order (features/day_parts.py): exactly the rows of one query over everyone.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from features.day_parts import ORDER, append_parts

#: the feeds split by bucket
SPLIT = ("transactions", "events", "contacts")


def bucket_count(con: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date, bucket_rows: int) -> int:
    """Buckets needed for about `bucket_rows` customer-days each over the days first..last."""
    (customers,) = con.execute("SELECT COUNT(*) FROM customers").fetchone()
    days = (last - first).days + 1
    return max(1, math.ceil(customers * days / bucket_rows))


class Buckets:
    """The validated feeds split into `count` customer hash buckets under `work` (scratch; not
    written when `count` is 1)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, validated: Path, work: Path, count: int) -> None:
        self.con, self.work, self.count = con, work, count
        for name in ("customers", *SPLIT):
            path = (Path(validated) / f"{name}.parquet").as_posix()
            con.execute(f"CREATE OR REPLACE VIEW all_{name} AS SELECT * FROM read_parquet('{path}')")
        for name in SPLIT if count > 1 else ():  # one bucket reads the feeds as they are
            target = (work / name).as_posix()
            con.execute(
                f"COPY (SELECT *, {self._bucket()} AS bucket FROM all_{name}) TO '{target}' "
                "(FORMAT PARQUET, PARTITION_BY (bucket), WRITE_PARTITION_COLUMNS false)"
            )

    def _bucket(self) -> str:
        return f"hash(customer_id) % {self.count}"

    def select(self, bucket: int | None) -> None:
        """Point the views `customers` and the SPLIT feeds at one bucket (None: everyone)."""
        con = self.con
        if bucket is None or self.count == 1:
            con.execute("CREATE OR REPLACE VIEW customers AS SELECT * FROM all_customers")
            for name in SPLIT:
                con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM all_{name}")
            return
        where = f"{self._bucket()} = {bucket}"
        con.execute(f"CREATE OR REPLACE VIEW customers AS SELECT * FROM all_customers WHERE {where}")
        for name in SPLIT:
            files = sorted((self.work / name / f"bucket={bucket}").glob("*.parquet"))
            source = (
                "read_parquet([" + ", ".join(f"'{f.as_posix()}'" for f in files) + "])"
                if files
                else f"all_{name} WHERE false"  # no rows in this bucket
            )
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {source}")

    def run(self, query: Callable[[], str], advance: Callable[[], object]) -> pa.Schema:
        """Compute `query()` (called once per bucket, with the views on that bucket) bucket by
        bucket into day partitions under `parts` (features/day_parts.py); the rows' schema."""
        con = self.con
        self.release()
        schema = None
        try:
            for bucket in range(self.count):
                self.select(bucket)
                sql = query().rstrip()
                if sql.endswith(ORDER):  # each bucket's own sort is wasted: the days are sorted
                    sql = sql[: -len(ORDER)]
                if schema is None:  # the column types as DuckDB writes them to Parquet
                    empty = (self.work / "schema.parquet").as_posix()
                    con.execute(f"COPY (SELECT * FROM ({sql}) LIMIT 0) TO '{empty}' (FORMAT PARQUET)")
                    schema = pq.read_schema(empty)
                append_parts(con, sql, self.parts, f"bucket{bucket}")
                advance()
        finally:
            self.select(None)
        return schema

    @property
    def parts(self) -> Path:
        """Where `run` leaves the family's rows, split by day."""
        return self.work / "snapshots"

    def release(self) -> None:
        """Delete the day partitions once they are written."""
        shutil.rmtree(self.parts, ignore_errors=True)
