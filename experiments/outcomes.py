"""From the contacts feed to the analysis: one row per customer, joined to the assignment.

Intention to treat: every assigned customer counts in their arm, contacted or not.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from experiments.analysis import Analysis, analyze
from optichannel.channels import ACTIONS


def customer_outcomes(contacts: pd.DataFrame, assignments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Contacts feed -> one row per customer: arm, converted, cost, channel (first action), n_contacts.

    Customers in `assignments` without a contact row are kept (not converted, channel `none`);
    contacts of customers outside the assignment are dropped. Both are counted in attrs["notes"].
    """
    missing = [c for c in ("customer_id", "channel", "sent_at", "converted_at") if c not in contacts.columns]
    if missing:
        raise ValueError(f"contacts misses column(s) {', '.join(missing)}")
    unknown = sorted(set(contacts["channel"].dropna().astype(str)) - set(ACTIONS))
    if unknown:
        raise ValueError(
            f"contacts has unknown channel(s) {', '.join(unknown)}; expected {', '.join(ACTIONS)}"
        )
    rows = contacts.assign(
        _sent=pd.to_datetime(contacts["sent_at"], utc=True),
        _converted=contacts["converted_at"].notna(),
        cost=pd.to_numeric(contacts["cost"], errors="coerce").fillna(0.0) if "cost" in contacts else 0.0,
    )
    rows = rows.sort_values(["customer_id", "_sent"], kind="stable")
    spec = {
        "converted": ("_converted", "max"),
        "cost": ("cost", "sum"),
        "channel": ("channel", "first"),
        "n_contacts": ("channel", "size"),
    }
    if "arm" in rows.columns:
        spec["contact_arm"] = ("arm", "first")
    per_customer = rows.groupby("customer_id", sort=False).agg(**spec).reset_index()
    per_customer["converted"] = per_customer["converted"].astype(np.int64)
    notes: list[str] = []
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
        out = out.fillna({"converted": 0, "cost": 0.0, "channel": "none", "n_contacts": 0})
        out[["converted", "n_contacts"]] = out[["converted", "n_contacts"]].astype(np.int64)
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
    out.attrs["notes"] = notes
    return out


def analyze_contacts(
    contacts: pd.DataFrame,
    assignments: pd.DataFrame | None,
    control: str,
    planned_shares: Mapping[str, float] | None = None,
    alpha: float = 0.05,
) -> Analysis:
    """`analyze` on the contacts feed joined to the assignment (intention to treat)."""
    return analyze(customer_outcomes(contacts, assignments), control, planned_shares, alpha)
