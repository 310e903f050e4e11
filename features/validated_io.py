"""The validated-output directory: accepted tables, quarantine files and the run report.

Writes go to a temporary name and are renamed into place, so a crash never leaves half a
file for the next stage to read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


def write_accepted(frame: pd.DataFrame, contract: Contract, out_dir: Path) -> Path:
    """Accepted rows with the contract's Parquet schema (an all-null column keeps its type)."""
    schema = pa.schema([pa.field(c.name, arrow_type(c), nullable=c.nullable) for c in contract.columns])
    path = accepted_path(out_dir, contract.table)
    _write_parquet(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), path)
    return path


def write_quarantine(frame: pd.DataFrame, table: str, out_dir: Path) -> Path | None:
    """Quarantined rows, or none: a stale file from an earlier run is removed."""
    path = quarantine_path(out_dir, table)
    if frame.empty:
        path.unlink(missing_ok=True)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, pa.Array] = {}
    for name in frame.columns:  # raw values keep their type; mixed objects are written as text
        try:
            arrays[str(name)] = pa.array(frame[name], from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            arrays[str(name)] = pa.array(frame[name].astype("string"), from_pandas=True)
    _write_parquet(pa.table(arrays), path)
    return path


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


def _write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, coerce_timestamps="us", allow_truncated_timestamps=True)
    os.replace(tmp, path)
