"""Experiment exports in: an assignments table and an outcomes table -> one row per customer.

The assignments contract (README, "Data contracts"): `customer_id` (any type, one row per
customer), `arm` (text, not null), optional `assigned_at` (UTC timestamp of the decision; outcome
timestamps before it are not counted), optional `planned_share`, plus any covariates or segment
columns. The outcomes table is keyed by `customer_id` too and may be the same file. Column names
can be remapped (`arm_column`, `id_column`) because exports rarely use ours.

Nothing is dropped in silence: rows without an id or an arm, customers assigned to two arms,
customers with several outcome rows and outcome rows of customers outside the assignment go to a
quarantine frame with their reason, and `reconcile` checks read = analysed + quarantined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.outcome_values import Outcome, read_outcome

#: the assignments contract's column names (defaults; exports may map their own)
CUSTOMER_ID, ARM, ASSIGNED_AT = "customer_id", "arm", "assigned_at"
QUARANTINE_COLUMNS = ("table", "row", "customer_id", "reason")
#: the per-customer frame's own columns (an outcome lands in `converted` or `value`); a kept
#: covariate may not share these names
FRAME_COLUMNS = (CUSTOMER_ID, "arm", "converted", "value", "segment", "planned_share")


def read_table(path: Path, what: str) -> pd.DataFrame:
    """A Parquet file or directory, or a CSV file; a clear error for anything else."""
    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {path}")
    parquet = path.is_dir() or path.suffix.lower() in (".parquet", ".pq")
    if not parquet and path.suffix.lower() != ".csv":
        raise ValueError(f"{what} must be Parquet or CSV, got {path}")
    try:
        return pd.read_parquet(path) if parquet else pd.read_csv(path)
    except (ValueError, OSError) as exc:  # pyarrow's and pandas' parse errors are ValueErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{what} file {path} cannot be read: {first}") from None


@dataclass
class ExportFrame:
    """One row per analysed customer (customer_id, arm, the outcome column, optional segment)."""

    frame: pd.DataFrame
    outcome: Outcome
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quarantine: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(QUARANTINE_COLUMNS)))
    read: dict[str, int] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    unmeasured: list[str] = field(default_factory=list)

    def reconcile(self) -> str:
        """The counts sentence; raises if read != used + quarantined for any table."""
        parts = []
        for table, n_read in self.read.items():
            kept = self.used[table]
            held = int((self.quarantine["table"] == table).sum())
            if n_read != kept + held:
                raise RuntimeError(f"{table}: {n_read:,} rows read but {kept:,} used + {held:,} quarantined")
            parts.append(f"{table}: {n_read:,} rows read = {kept:,} used + {held:,} quarantined")
        return "; ".join(parts)


def _require(table: pd.DataFrame, columns: list[str], what: str, hint: str = "") -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{what} has no column {', '.join(repr(c) for c in missing)} "
            f"(columns: {', '.join(map(str, table.columns))}){hint}"
        )


def _rejects(table: pd.DataFrame, mask: pd.Series, what: str, id_column: str, reason: str) -> pd.DataFrame:
    rows = table.loc[mask]
    ids = rows[id_column] if id_column in rows.columns else pd.Series(np.nan, index=rows.index)
    return pd.DataFrame(
        {"table": what, "row": rows.index + 1, "customer_id": ids.to_numpy(), "reason": reason}
    )


def _clean_assignments(table: pd.DataFrame, id_column: str, arm_column: str) -> tuple[pd.DataFrame, list]:
    """Rows with an id and an arm, one per customer; the rest as quarantine pieces."""
    pieces = []
    no_id = table[id_column].isna()
    no_arm = table[arm_column].isna() & ~no_id
    pieces.append(_rejects(table, no_id, "assignments", id_column, f"no {id_column}"))
    pieces.append(_rejects(table, no_arm, "assignments", id_column, f"no {arm_column}"))
    ok = table[~no_id & ~no_arm]
    arms_per_id = ok.groupby(id_column, sort=False)[arm_column].transform("nunique")
    clash = arms_per_id > 1
    pieces.append(_rejects(ok, clash, "assignments", id_column, "customer assigned to several arms"))
    ok = ok[~clash]
    repeat = ok[id_column].duplicated()
    pieces.append(_rejects(ok, repeat, "assignments", id_column, "repeated row (same customer, same arm)"))
    return ok[~repeat], pieces


def _join_outcomes(
    assigned: pd.DataFrame, outcomes: pd.DataFrame, id_column: str, column: str
) -> tuple[pd.DataFrame, list, int, int]:
    """Outcome column joined onto the assignment; (frame, quarantine pieces, kept outcome rows, silent)."""
    pieces = []
    no_id = outcomes[id_column].isna()
    pieces.append(_rejects(outcomes, no_id, "outcomes", id_column, f"no {id_column}"))
    rows = outcomes[~no_id]
    outside = ~rows[id_column].isin(assigned[id_column])
    pieces.append(_rejects(rows, outside, "outcomes", id_column, "customer not in the assignments"))
    rows = rows[~outside]
    several = rows[id_column].duplicated(keep=False)
    pieces.append(_rejects(rows, several, "outcomes", id_column, "several outcome rows for one customer"))
    ambiguous = assigned[id_column].isin(rows.loc[several, id_column])
    pieces.append(
        _rejects(assigned, ambiguous, "assignments", id_column, "several outcome rows: outcome ambiguous")
    )
    rows, assigned = rows[~several], assigned[~ambiguous]
    extra = [c for c in rows.columns if c not in assigned.columns or c == column]
    merged = assigned.drop(columns=[column], errors="ignore").merge(
        rows[list(dict.fromkeys([id_column, *extra]))], on=id_column, how="left", indicator=True
    )
    silent = merged["_merge"] == "left_only"
    merged["_has_outcome"] = ~silent
    return merged.drop(columns="_merge"), pieces, len(rows), int(silent.sum())


def unmeasured_arms(has_outcome: pd.Series, arm: pd.Series) -> list[str]:
    """Arms none of whose customers appears in the outcomes: their zero is not a measurement."""
    has = has_outcome.astype(bool).groupby(arm.astype(str), sort=True).any()
    return [str(a) for a, seen in has.items() if not seen]


def unmeasured_warning(arm: str, n: int, column: str) -> str:
    """The loud line for an arm with no outcome rows."""
    return (
        f"arm {arm!r}: none of its {n:,} customers has an outcome row, so its {column} would be 0 by "
        "construction, not measured: its comparisons are not estimable (was the arm left out of the export?)"
    )


def load_export(
    assignments: pd.DataFrame,
    outcome_column: str,
    outcomes: pd.DataFrame | None = None,
    arm_column: str = ARM,
    id_column: str = CUSTOMER_ID,
    segment: str | None = None,
    keep: Sequence[str] = (),
) -> ExportFrame:
    """The per-customer frame of an experiment export, with its warnings and quarantine.

    Customers assigned but absent from the outcomes table count as not converted (or 0) under
    intention to treat; that is said in a warning, and an arm with no outcome row at all is
    called out by name. `keep` names covariate columns to carry into the frame.
    """
    table = assignments.reset_index(drop=True)
    hint = "; pass --arm-column" if arm_column == ARM else ""
    _require(table, [arm_column], "the assignments table", hint)
    notes: list[str] = []
    if id_column not in table.columns:
        if outcomes is not None:
            raise ValueError(f"the assignments table has no {id_column!r} column to join the outcomes on"
                             " (pass --id-column)")  # fmt: skip
        table = table.assign(**{id_column: np.arange(1, len(table) + 1)})
        notes.append(f"no {id_column} column: each row is one customer (numbered from 1)")
    read = {"assignments": len(table)}
    used: dict[str, int] = {}
    assigned, pieces = _clean_assignments(table, id_column, arm_column)
    warnings: list[str] = []
    unmeasured: list[str] = []
    if outcomes is None:
        _require(assigned, [outcome_column], "the assignments table", " (or pass --outcomes)")
        frame = assigned.assign(_has_outcome=True)
    else:
        other = outcomes.reset_index(drop=True)
        _require(other, [id_column, outcome_column], "the outcomes table")
        read["outcomes"] = len(other)
        frame, more, kept, silent = _join_outcomes(assigned, other, id_column, outcome_column)
        pieces += more
        used["outcomes"] = kept
        if silent:
            warnings.append(
                f"{silent:,} assigned customers have no outcome row: counted as 0 / not converted"
            )
        unmeasured = unmeasured_arms(frame["_has_outcome"], frame[arm_column])
        sizes = frame[arm_column].astype(str).value_counts()
        warnings += [unmeasured_warning(a, int(sizes[a]), outcome_column) for a in unmeasured]
    if segment is not None:
        _require(frame, [segment], "the joined export", " (the --segment column)")
    _require(frame, list(keep), "the joined export", " (the --features columns)")
    has = frame["_has_outcome"].to_numpy(dtype=bool)
    decided = frame.loc[has, ASSIGNED_AT] if ASSIGNED_AT in frame.columns else None
    values = read_outcome(frame.loc[has, outcome_column].rename(outcome_column), decided)
    warnings += values.warnings
    ids = frame[id_column].to_numpy()
    out = pd.DataFrame({CUSTOMER_ID: ids, "arm": frame[arm_column].astype(str).to_numpy()})
    result_values = np.zeros(len(frame))
    result_values[has] = values.values.to_numpy()
    out[values.outcome.column] = result_values
    if segment is not None:
        out["segment"] = frame[segment].astype("string").fillna("(missing)").to_numpy()
    if "planned_share" in frame.columns:
        out["planned_share"] = frame["planned_share"].to_numpy()
    for name in keep:
        out[name] = frame[name].to_numpy()
    used["assignments"] = len(out)
    quarantine = pd.concat([p for p in pieces if len(p)] or [pd.DataFrame(columns=list(QUARANTINE_COLUMNS))])
    held = len(quarantine)
    if held:
        reasons = quarantine.groupby(["table", "reason"]).size()
        warnings.append(
            f"{held:,} rows quarantined: " + "; ".join(f"{t} {r} ({n:,})" for (t, r), n in reasons.items())
        )
    result = ExportFrame(
        out, values.outcome, warnings, notes, quarantine.reset_index(drop=True), read, used, unmeasured
    )
    result.notes.append(result.reconcile())
    return result
