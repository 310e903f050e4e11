"""Check one table's rows against its contract: typed accepted rows, quarantined rows with every
reason they failed, and the counts.

All checks are column-wise, so a piece of a million rows stays fast. A table too large for memory
is checked piece by piece (`features.validation`): `row_offset` numbers a piece's rows within
the whole table, and `repeats` brings the ids seen in earlier pieces, so the result is the same
as checking the table at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.coercion import Coerced, coerce, finalize
from features.feed_io import FeedError
from optichannel.contracts import Column, Contract

REASON_COLUMN = "_reason"
ROW_COLUMN = "_row"
_SHOWN_CHARS = 40  # raw values quoted in reasons are cut to this length


@dataclass(frozen=True)
class TableReport:
    """What happened to one table; `reconciled` is read == accepted + quarantined."""

    table: str
    source: str
    rows_read: int
    accepted: int
    quarantined: int
    reconciled: bool
    rule_counts: dict[str, int] = field(default_factory=dict)  # rows failing each rule
    extra_columns: list[str] = field(default_factory=list)  # present in the file, ignored
    missing_optional_columns: list[str] = field(default_factory=list)  # added as all-null
    repaired: dict[str, int] = field(default_factory=dict)  # rows kept with a value blanked or assumed
    accepted_path: str | None = None
    quarantine_path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TableResult:
    """Accepted rows (typed), quarantined rows (raw values as read + `_reason`, `_row`), report;
    `rejected`: the quarantined rows' keys -> their reasons without quoted values (for the tables that
    reference them, so a cascade names its cause)."""

    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    report: TableReport
    rejected: pd.Series | None = None


class _Failures:
    """Rule failures as (label, row mask, values to quote); joined into reasons at the end."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.items: list[tuple[str, np.ndarray, pd.Series | None]] = []

    def add(self, label: str, mask: np.ndarray | pd.Series, shown: pd.Series | None = None) -> None:
        if isinstance(mask, pd.Series):
            mask = mask.to_numpy(dtype=bool, na_value=False)
        if mask.any():
            self.items.append((label, mask, shown))

    def any_mask(self) -> np.ndarray:
        out = np.zeros(self.n_rows, dtype=bool)
        for _, mask, _ in self.items:
            out |= mask
        return out

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for label, mask, _ in self.items:
            counts[label] = counts.get(label, 0) + int(mask.sum())
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def reasons(self, bad_rows: np.ndarray, quote: bool = True) -> np.ndarray:
        """One "; "-joined reason per row in `bad_rows` (positions), in rule order."""
        joined = np.full(len(bad_rows), "", dtype=object)
        for label, mask, shown in self.items:
            hit = mask[bad_rows]
            piece: object = label
            if shown is not None and quote:
                text = shown.iloc[bad_rows[hit]].astype(str).str.slice(0, _SHOWN_CHARS)
                piece = (label + " ('" + text + "')").to_numpy(dtype=object)
            joined[hit] = joined[hit] + "; " + piece
        return pd.Series(joined, dtype=object).str.slice(2).to_numpy(dtype=object)


def parse_as_of(as_of: str | datetime | pd.Timestamp | None = None) -> pd.Timestamp:
    """Reference time for not-in-the-future checks as a UTC instant (naive input is UTC)."""
    ts = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def validate_table(
    raw: pd.DataFrame,
    contract: Contract,
    *,
    source: str | Path = "<memory>",
    as_of: str | datetime | pd.Timestamp | None = None,
    ref_keys: Mapping[str, Iterable[object]] | None = None,
    repeats: Mapping[str, np.ndarray] | None = None,
    row_offset: int = 0,
    default_tz: str | None = None,
    ref_rejected: Mapping[str, pd.Series] | None = None,
) -> TableResult:
    """Split `raw` into accepted and quarantined rows under `contract`.

    `ref_keys` maps "table.column" to the accepted keys of a referenced table; a contract
    reference without keys is a programming error, not something to skip quietly. `repeats`
    maps a unique column to a row mask of values already seen (in this piece or an earlier
    one); without it, duplicates are looked for within `raw`. `row_offset` is the position of
    `raw`'s first row in its table (the quarantine's `_row`). A bad value of a `blank_bad` column is
    blanked, and with `default_tz` a missing or unknown zone becomes that zone: the row is kept and
    counted in `repaired`. `ref_rejected` maps "table.column" to the referenced table's quarantined
    keys and reasons, so a row of a quarantined customer says why ("customer quarantined: ...").
    """
    missing = [c.name for c in contract.columns if c.required and c.name not in raw.columns]
    if missing:
        raise FeedError(f"{source}: table {contract.table!r} lacks required column(s) {', '.join(missing)}")
    when = parse_as_of(as_of)
    raw = raw.reset_index(drop=True)
    fails, repairs = _Failures(len(raw)), _Failures(len(raw))
    typed: dict[str, pd.Series] = {}
    for column in contract.columns:
        source_values = raw[column.name] if column.name in raw.columns else _nulls(len(raw))
        coerced = coerce(source_values, column.kind)
        fill = default_tz if column.kind == "tz" else None
        sink = _Failures(len(raw)) if column.blank_bad or fill is not None else fails
        sink.add(f"{column.name}: {coerced.problem}", coerced.bad, shown=source_values)
        repeated = None if repeats is None else repeats.get(column.name)
        _check_column(column, coerced, sink, when, ref_keys or {}, repeated, ref_rejected or {})
        typed[column.name] = coerced.values
        if sink is not fails:
            typed[column.name] = _repair(coerced.values, sink, fill)
            suffix = "left blank" if fill is None else f"assumed {fill}"
            repairs.items.extend((f"{label}, {suffix}", mask, None) for label, mask, _ in sink.items)
    for rule in contract.row_rules:
        later, earlier = typed[rule.later], typed[rule.earlier]
        inverted = later.notna() & earlier.notna() & (later < earlier)
        fails.add(f"{rule.later}: must be >= {rule.earlier}", inverted)

    bad = fails.any_mask()
    bad_rows = np.flatnonzero(bad)
    accepted = pd.DataFrame(
        {c.name: finalize(typed[c.name][~bad], c).reset_index(drop=True) for c in contract.columns}
    )
    quarantined = raw.iloc[bad_rows].reset_index(drop=True)
    quarantined[REASON_COLUMN] = pd.Series(fails.reasons(bad_rows), dtype="string")
    quarantined[ROW_COLUMN] = bad_rows.astype("int64") + row_offset
    report = TableReport(
        table=contract.table,
        source=str(source),
        rows_read=len(raw),
        accepted=len(accepted),
        quarantined=len(quarantined),
        reconciled=len(raw) == len(accepted) + len(quarantined),
        rule_counts=fails.counts(),
        repaired=repairs.counts(),
        extra_columns=[str(c) for c in raw.columns if c not in contract.names],
        missing_optional_columns=[c.name for c in contract.columns if c.name not in raw.columns],
    )
    keys = typed[contract.key].iloc[bad_rows]
    rejected = pd.Series(fails.reasons(bad_rows, quote=False), index=keys.to_numpy(), dtype=object)
    rejected = rejected[keys.notna().to_numpy()]
    return TableResult(accepted=accepted, quarantined=quarantined, report=report, rejected=rejected)


def _repair(values: pd.Series, sink: _Failures, fill: str | None) -> pd.Series:
    """The column with its failing values blanked (or set to `fill`)."""
    bad = sink.any_mask()
    if fill is not None:
        bad |= values.isna().to_numpy()
    if not bad.any():
        return values
    if fill is None:
        return values.mask(bad)
    return values.astype(object).where(~bad, fill)


def _nulls(n_rows: int) -> pd.Series:
    return pd.Series([None] * n_rows, dtype=object)


def _check_column(
    column: Column,
    coerced: Coerced,
    fails: _Failures,
    as_of: pd.Timestamp,
    ref_keys: Mapping[str, Iterable[object]],
    repeated: np.ndarray | None = None,
    rejected: Mapping[str, pd.Series] | None = None,
) -> None:
    """Add the failures of one column's rules (an unreadable value is not also "missing")."""
    name, values, present = column.name, coerced.values, coerced.valid
    if not column.nullable:
        fails.add(f"{name}: missing", ~present & ~coerced.bad)
    if column.allowed is not None:
        fails.add(f"{name}: not an allowed value", present & ~values.isin(column.allowed), shown=values)
    if column.kind in ("int", "float"):
        if column.min is not None:
            fails.add(f"{name}: must be >= {column.min:g}", present & (values < column.min))
        if column.max is not None:
            fails.add(f"{name}: must be <= {column.max:g}", present & (values > column.max))
        if column.positive:
            fails.add(f"{name}: must be > 0", present & (values <= 0))
    if column.not_future:
        limit = as_of if column.kind == "timestamp" else as_of.tz_localize(None).normalize()
        fails.add(f"{name}: in the future", present & (values > limit))
    if column.unique:
        seen = values.duplicated(keep="first").to_numpy() if repeated is None else repeated
        fails.add(f"duplicate {name}", present & seen)
    if column.references is not None:
        if column.references not in ref_keys:
            raise ValueError(f"{name} references {column.references}: pass its accepted keys")
        keys = ref_keys[column.references]
        known = keys if isinstance(keys, pd.Index) else pd.Index(keys)
        table = column.references.split(".")[0]
        unknown = present & ~values.isin(known)
        causes = (rejected or {}).get(column.references)
        if causes is not None and len(causes) and unknown.any():
            cause = values.map(causes[~causes.index.duplicated()]).where(unknown)
            for reason in pd.unique(cause.dropna()):
                fails.add(f"{table.removesuffix('s')} quarantined: {reason}", cause == reason, shown=values)
            unknown &= cause.isna()
        fails.add(f"{name}: unknown in {table}", unknown, shown=values)
