"""A family's snapshots written in (time, customer) order without one sort over all of them.

The buckets of customers (features/build_buckets.py) each produce every day of their customers.
Sorting the gathered rows at the end is one sort of the whole family: 90 million wide rows at a
million customers x 90 days, which spilled some 50 GB and took most of the build. Instead each
bucket appends its rows to Parquet parts split by day, and the family's file is written a day at a
time: that day's parts, sorted by customer (a million rows at most), then the next day. The rows,
their order and the Parquet types are exactly those of `ORDER BY event_timestamp, customer_id` over
everyone written by DuckDB, in row groups of DuckDB's size.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from features.store_definitions import JOIN_KEY as KEY
from features.store_definitions import TIMESTAMP as TIME

ORDER = f"ORDER BY {TIME}, {KEY}"
#: the day partition column of the parts (not written into them)
DAY = "snapshot_day"
#: rows per Parquet row group, DuckDB's default
ROW_GROUP_ROWS = 122_880


def append_parts(con: duckdb.DuckDBPyConnection, sql: str, parts: Path, tag: str) -> None:
    """Append the rows of `sql` to the day partitions under `parts` (files named after `tag`)."""
    con.execute(
        f"COPY (SELECT *, CAST({TIME} AS DATE) AS {DAY} FROM ({sql})) TO '{parts.as_posix()}' "
        f"(FORMAT PARQUET, PARTITION_BY ({DAY}), WRITE_PARTITION_COLUMNS false, "
        f"FILENAME_PATTERN '{tag}_{{i}}', OVERWRITE_OR_IGNORE)"
    )


def file_schema(schema: pa.Schema) -> pa.Schema:
    """The family file's schema: the key required (it always is), every other column nullable,
    as one DuckDB query over everyone writes it."""
    return pa.schema([f.with_nullable(f.name != KEY) for f in schema])


class _RowGroups:
    """Appends tables to a Parquet writer in row groups of exactly ROW_GROUP_ROWS rows (the last
    one shorter), whatever sizes they come in: a small bank's days are a few thousand rows, and
    row groups that small would double the file."""

    def __init__(self, writer: pq.ParquetWriter, schema: pa.Schema) -> None:
        self.writer, self.schema, self.pending, self.rows = writer, schema, schema.empty_table(), 0

    def add(self, table: pa.Table) -> None:
        self.pending = pa.concat_tables([self.pending, table.cast(self.schema)])
        self.rows += table.num_rows
        full = self.pending.num_rows - self.pending.num_rows % ROW_GROUP_ROWS
        if full:
            self.writer.write_table(self.pending.slice(0, full), row_group_size=ROW_GROUP_ROWS)
            self.pending = self.pending.slice(full)

    def close(self) -> None:
        if self.pending.num_rows:
            self.writer.write_table(self.pending, row_group_size=ROW_GROUP_ROWS)


def write_in_order(
    con: duckdb.DuckDBPyConnection,
    parts: Path,
    schema: pa.Schema,
    target: Path,
    older: str | None = None,
) -> int:
    """Write `target` from the day partitions under `parts`, after the rows of the query `older`
    (already in order: an incremental build's kept snapshots); the number of rows written."""
    schema = file_schema(schema)
    options = {"compression": "zstd", "compression_level": 3, "store_decimal_as_integer": True}
    with pq.ParquetWriter(target, schema, **options) as writer:
        groups = _RowGroups(writer, schema)
        if older is not None:
            for batch in con.sql(older).to_arrow_reader(ROW_GROUP_ROWS):
                groups.add(pa.Table.from_batches([batch]))
        for day in sorted(parts.glob(f"{DAY}=*")):  # none when no bucket had rows
            files = (day / "*.parquet").as_posix()
            table = con.sql(f"SELECT * FROM read_parquet('{files}', hive_partitioning = false) {ORDER}")
            groups.add(table.to_arrow_table())
        groups.close()
    return groups.rows
