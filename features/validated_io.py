"""The validated-output directory: accepted tables, quarantine files and the run report.

Tables are written piece by piece (a feed can be larger than memory) to a temporary name and
renamed into place, so a crash never leaves half a file for the next stage to read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.coercion import arrow_type
from optichannel.contracts import Contract

REPORT_NAME = "report.json"


def accepted_path(out_dir: Path, table: str) -> Path:
    return out_dir / f"{table}.parquet"


def quarantine_path(out_dir: Path, table: str) -> Path:
    return out_dir / "quarantine" / f"{table}.parquet"


def accepted_table(frame: pd.DataFrame, contract: Contract) -> pa.Table:
    """Accepted rows with the contract's Parquet schema (an all-null column keeps its type)."""
    schema = pa.schema([pa.field(c.name, arrow_type(c), nullable=c.nullable) for c in contract.columns])
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def quarantine_table(raw: pa.Table, reasons: pd.Series, rows: np.ndarray) -> pa.Table:
    """Rejected rows with their values as read, plus `_reason` and `_row` (position in the feed)."""
    table = raw.replace_schema_metadata(None)  # the feed's pandas index no longer fits these rows
    table = table.append_column("_reason", pa.array(reasons.astype(object), type=pa.string()))
    return table.append_column("_row", pa.array(rows, type=pa.int64()))


class PartWriter:
    """A Parquet file written piece by piece under a temporary name and renamed into place by
    `close()`, so a crash never leaves half a file; `abort()` removes the temporary one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(
                self.tmp, table.schema, coerce_timestamps="us", allow_truncated_timestamps=True
            )
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> Path | None:
        """Put the file in place; with nothing written, remove a stale one and return None."""
        if self._writer is None:
            self.path.unlink(missing_ok=True)
            return None
        self._writer.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.tmp.unlink(missing_ok=True)


def read_accepted_keys(out_dir: Path, table: str, column: str) -> pd.Index | None:
    """Accepted keys of `table` from an earlier run, or None if it was never validated here."""
    path = accepted_path(out_dir, table)
    if not path.exists():
        return None
    return pd.Index(pq.read_table(path, columns=[column]).column(column).to_pandas())


def write_report(payload: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / REPORT_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path
