"""From the contacts feed to the analysis: one row per customer, joined to the assignment.

Intention to treat: every assigned customer counts in their arm, contacted or not.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from experiments.analysis import Analysis, analyze
from experiments.export_tables import unmeasured_arms, unmeasured_warning
from experiments.outcome_values import CONVERSION, read_outcome
from optichannel.channels import ACTIONS, NONE


def customer_outcomes(
    contacts: pd.DataFrame, assignments: pd.DataFrame | None = None, outcome_column: str = "converted_at"
) -> pd.DataFrame:
    """Contacts feed -> one row per customer: arm, the outcome, cost, channel (first action), n_contacts.

    The outcome is `converted_at` by default (converted when not null and not before `sent_at`);
    any other column is read by `read_outcome` (a flag counts once per customer, a number is
    summed). Customers in `assignments` without a contact row are kept (not converted, channel
    `none`); contacts of customers outside the assignment are dropped. Both are counted in
    attrs["notes"]; an arm none of whose customers has a contact row goes to attrs["warnings"],
    and the outcome read to attrs["outcome"].
    """
    needed = ("customer_id", "channel", "sent_at", outcome_column)
    missing = [c for c in needed if c not in contacts.columns]
    if missing:
        raise ValueError(f"contacts misses column(s) {', '.join(missing)}")
    unknown = sorted(set(contacts["channel"].dropna().astype(str)) - set(ACTIONS))
    if unknown:
        raise ValueError(
            f"contacts has unknown channel(s) {', '.join(unknown)}; expected {', '.join(ACTIONS)}"
        )
    sent = pd.to_datetime(contacts["sent_at"], utc=True)
    read = read_outcome(contacts[outcome_column].rename(outcome_column), sent)
    outcome = CONVERSION if outcome_column == "converted_at" else read.outcome
    column = outcome.column
    rows = contacts.assign(_sent=sent, **{f"_{column}": read.values.to_numpy()})
    spec = {
        column: (f"_{column}", "max" if outcome.binary else "sum"),
        "channel": ("channel", "first"),
        "n_contacts": ("channel", "size"),
    }
    if "cost" in contacts.columns:  # no cost column means no cost data, not a cost of 0
        rows["cost"] = pd.to_numeric(contacts["cost"], errors="coerce").fillna(0.0)
        spec["cost"] = ("cost", "sum")
    rows = rows.sort_values(["customer_id", "_sent"], kind="stable")
    if "arm" in rows.columns:
        spec["contact_arm"] = ("arm", "first")
    per_customer = rows.groupby("customer_id", sort=False).agg(**spec).reset_index()
    if outcome.binary:
        per_customer[column] = per_customer[column].astype(np.int64)
    notes: list[str] = []
    unmeasured: list[str] = []
    warnings = [w for w in read.warnings if "no decision time" not in w]
    if assignments is None:
        if "contact_arm" not in per_customer.columns:
            raise ValueError("contacts has no arm column and no assignments were given")
        out = per_customer.rename(columns={"contact_arm": "arm"})
    else:
        if not {"customer_id", "arm"} <= set(assignments.columns):
            raise ValueError("assignments must have the columns customer_id and arm")
        out = assignments.merge(per_customer, on="customer_id", how="left", validate="one_to_one")
        silent = int(out["n_contacts"].isna().sum())
        outside = int((~per_customer["customer_id"].isin(assignments["customer_id"])).sum())
        unmeasured = unmeasured_arms(out["n_contacts"].notna(), out["arm"])
        sizes = out["arm"].astype(str).value_counts()
        warnings += [unmeasured_warning(a, int(sizes[a]), "contact") for a in unmeasured]
        out = out.fillna({column: 0, "channel": NONE, "n_contacts": 0})
        if "cost" in out.columns:
            out["cost"] = out["cost"].fillna(0.0)
        out["n_contacts"] = out["n_contacts"].astype(np.int64)
        if outcome.binary:
            out[column] = out[column].astype(np.int64)
        if silent:
            notes.append(f"{silent:,} assigned customers have no contact row: counted as not converted")
        if outside:
            notes.append(f"{outside:,} customers in the contacts are not in the assignment: ignored")
        if "contact_arm" in out.columns:
            known = out["contact_arm"].notna()
            clash = int((known & (out["contact_arm"].astype(str) != out["arm"].astype(str))).sum())
            if clash:
                notes.append(f"{clash:,} customers were contacted under another arm than assigned")
            out = out.drop(columns="contact_arm")
    out.attrs.update(notes=notes, warnings=warnings, outcome=outcome, unmeasured=unmeasured)
    return out


def analyze_contacts(
    contacts: pd.DataFrame,
    assignments: pd.DataFrame | None,
    control: str,
    planned_shares: Mapping[str, float] | None = None,
    alpha: float = 0.05,
) -> Analysis:
    """`analyze` on the contacts feed joined to the assignment (intention to treat)."""
    frame = customer_outcomes(contacts, assignments)
    attrs = frame.attrs
    return analyze(
        frame, control, planned_shares, alpha, attrs["outcome"], attrs["warnings"], attrs["unmeasured"]
    )
