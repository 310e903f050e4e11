"""Apply a `feeds.yaml` (`features.feed_mapping`): a company's export becomes feeds in the contracts' names.

The mapped tables are written under the validated directory's `inputs/` (the originals are never
touched) and validated from there, so what validation reads is on disk to inspect. A row the mapping
cannot translate (a value it does not list, a time that does not parse in the stated unit) goes to
`quarantine/<table>.mapping.parquet` with its raw values and a reason naming the mapping; a row whose
value is mapped `unused` (a channel the company does not use) goes there too, counted apart, so the
counts reconcile: rows read = mapped (then accepted + quarantined by validation) + set aside here.
Tables are read in pieces, in bounded memory, as validation reads them.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.feed_io import Feed, FeedError, iter_pieces, locate_table, open_path
from features.feed_mapping import EPOCHS, UNUSED, FeedMapping, MappingError, TableMapping, since
from features.validated_io import PartWriter, quarantine_table
from optichannel.contracts import CONTRACTS, Contract

INPUTS = "inputs"
_TIME = pa.timestamp("us", tz="UTC")


@dataclass
class MappingReport:
    """One table's mapping: rows read, rows passed on to validation, and those set aside, and why."""

    table: str
    source: str
    rows_read: int = 0
    mapped: int = 0
    uncovered: Counter[str] = field(default_factory=Counter)  # reason -> rows: a gap in the mapping
    unused: Counter[str] = field(default_factory=Counter)  # "column value" -> rows mapped unused

    @property
    def set_aside(self) -> int:
        return sum(self.uncovered.values()) + sum(self.unused.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "mapped": self.mapped,
            "not_covered": dict(self.uncovered.most_common()),
            "unused": dict(self.unused.most_common()),
        }


def mapping_quarantine_path(out_dir: Path, table: str) -> Path:
    return out_dir / "quarantine" / f"{table}.mapping.parquet"


def apply_mapping(mapping: FeedMapping, src_dir: Path, out_dir: Path, rows: int) -> dict[str, MappingReport]:
    """Write every table, mapped, to `out_dir/inputs/` (a table the mapping leaves out is linked as
    it is); the reports of the mapped ones."""
    src, inputs = Path(src_dir), Path(out_dir) / INPUTS
    if not src.is_dir():
        raise FeedError(f"{src}: feed directory does not exist")
    inputs.mkdir(parents=True, exist_ok=True)
    for stale in inputs.iterdir():
        if stale.is_file() or stale.is_symlink():
            stale.unlink()
    reports = {}
    for name, contract in CONTRACTS.items():
        spec = mapping.tables.get(name)
        if spec is None:
            original = locate_table(src, name)
            os.symlink(original.resolve(), inputs / original.name)
            continue
        path = src / spec.file if spec.file is not None else locate_table(src, name)
        if not path.exists():
            raise MappingError(f"{mapping.path}: {name}.file: {path} does not exist")
        feed = open_path(path, name)
        reports[name] = _map_table(mapping.path, spec, contract, feed, Path(out_dir), rows)
    return reports


def _map_table(
    where: Path, spec: TableMapping, contract: Contract, feed: Feed, out: Path, rows: int
) -> MappingReport:
    present = _sources(where, spec, contract, feed)
    schema = pa.schema([_field(spec, contract, c, feed) for c in present])
    report = MappingReport(contract.table, str(feed.path))
    mapped = PartWriter(out / INPUTS / f"{contract.table}.parquet")
    aside = PartWriter(mapping_quarantine_path(out, contract.table))
    try:
        for piece in iter_pieces(feed, rows):
            frame = piece.frame
            columns, reasons, unused = _translate(where, spec, contract, frame, present)
            bad = reasons.notna().to_numpy()
            good = pd.DataFrame({c: s[~bad] for c, s in columns.items()}, columns=present)
            mapped.write(pa.Table.from_pandas(good, schema=schema, preserve_index=False))
            if bad.any():
                positions = np.flatnonzero(bad)
                raw = piece.rows(positions, feed.schema)
                offsets = report.rows_read + positions
                aside.write(quarantine_table(raw, reasons[bad].reset_index(drop=True), offsets))
                for reason, count in reasons[bad].value_counts().items():
                    target = report.unused if reason in unused else report.uncovered
                    target[str(reason)] += int(count)
            report.rows_read += len(frame)
        mapped.close()
        aside.close()
    except BaseException:
        mapped.abort()
        aside.abort()
        raise
    report.mapped = mapped.rows  # every piece was written, an empty one too: the file always exists
    return report


def _sources(where: Path, spec: TableMapping, contract: Contract, feed: Feed) -> list[str]:
    """The contract columns this table will have; a mapped or required column the file lacks is an
    error naming the mapping's key and the file."""
    present = []
    for column in contract.columns:
        name = column.name
        if name in spec.fill or spec.source(name) in feed.schema.names:
            present.append(name)
        elif name in spec.columns:
            raise MappingError(
                f"{where}: {contract.table}.columns.{name}: {feed.path.name} has no column "
                f"{spec.columns[name]!r} (it has {', '.join(feed.schema.names)})"
            )
        elif column.required:
            raise MappingError(
                f"{where}: {contract.table}: {feed.path.name} has no column {name!r}; name its source "
                f"under {contract.table}.columns or give a constant under {contract.table}.fill"
            )
    return present


def _field(spec: TableMapping, contract: Contract, column: str, feed: Feed) -> pa.Field:
    """The mapped column's type: times parsed, translated values and constants as written, others as read."""
    if column in spec.times:
        return pa.field(column, _TIME)
    if column in spec.values:
        return pa.field(column, pa.string())
    if column in spec.fill:
        return pa.field(column, pa.scalar(spec.fill[column]).type)
    return pa.field(column, feed.schema.field(spec.source(column)).type)


def _translate(
    where: Path, spec: TableMapping, contract: Contract, frame: pd.DataFrame, present: list[str]
) -> tuple[dict[str, pd.Series], pd.Series, set[str]]:
    """The piece's columns in the contract's names; per row the first reason it cannot be mapped
    (None: mapped), and which reasons are `unused` ones."""
    reasons = pd.Series(None, index=frame.index, dtype=object)
    unused: set[str] = set()
    columns = {}
    for name in present:
        if name in spec.fill:
            columns[name] = pd.Series([spec.fill[name]] * len(frame), index=frame.index)
            continue
        values = frame[spec.source(name)]
        if name in spec.values:
            values, why, aside = _translate_values(where, contract, name, spec.values[name], values)
            unused.update(aside)
            reasons = reasons.where(reasons.notna(), why)
        if name in spec.times:
            values, why = _parse_times(where, contract.table, name, spec.times[name], values)
            reasons = reasons.where(reasons.notna(), why)
        columns[name] = values
    return columns, reasons, unused


def _translate_values(
    where: Path, contract: Contract, name: str, table: dict[str, str], values: pd.Series
) -> tuple[pd.Series, pd.Series, set[str]]:
    """Listed values translated; a contract value kept; anything else a reason naming the mapping."""
    text = values.where(values.isna(), values.astype(str).str.strip())
    out = text.map(table)
    allowed = contract.column(name).allowed or ()
    out = out.where(out.notna() | ~text.isin(allowed), text)
    key = f"{contract.table}.values.{name}"
    why = pd.Series(None, index=values.index, dtype=object)
    missing = text.notna() & out.isna()
    why[missing] = f"{where.name}: {key} does not map " + text[missing].map(repr)
    off = out.eq(UNUSED)
    aside = {f"{where.name}: {key} maps {v!r} to {UNUSED}" for v in pd.unique(text[off])}
    why[off] = f"{where.name}: {key} maps " + text[off].map(repr) + f" to {UNUSED}"
    return out, why, aside


def _parse_times(
    where: Path, table: str, name: str, unit: str, values: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Times in `unit` as UTC instants; a value that does not parse gets a reason naming the mapping."""
    if unit in EPOCHS:
        parsed = pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit=EPOCHS[unit], utc=True)
    elif (origin := since(unit)) is not None:
        start = pd.Timestamp(origin[1])
        start = start.tz_convert("UTC") if start.tzinfo else start.tz_localize("UTC")
        parsed = start + pd.to_timedelta(pd.to_numeric(values, errors="coerce"), unit=origin[0][0])
    else:
        text = values.where(values.isna(), values.astype(str).str.strip())
        parsed = pd.to_datetime(text, format=unit, errors="coerce", utc=True)
    why = pd.Series(None, index=values.index, dtype=object)
    bad = values.notna() & parsed.isna()
    why[bad] = f"{where.name}: {table}.times.{name} cannot read " + values[bad].astype(str).map(repr)
    why[bad] += f" as {unit!r}"
    return parsed.astype("datetime64[us, UTC]"), why
