"""How fast the loop notices a customer whose best channel moved (`WorldConfig.drift`), on the
truth: the service's value capture of the moved customers, week by week after their move, against
everyone else's on the same days.

Value capture of a group is the share of the oracle's gain over no contact that the served
decisions earned: (served - no contact) / (oracle - no contact), means over the group's decisions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.deployment.summary import MODEL

#: the drifted customers count as recovered when their capture reaches this share of the others'
RECOVERED = 0.8
#: a week after the move counts only with this many decisions (the last weeks hold only the
#: customers who moved first: a few dozen decisions, too few to read a capture from)
MIN_DECISIONS = 100


def capture(rows: pd.DataFrame) -> float:
    """The group's value capture (NaN when the oracle gains nothing over no contact)."""
    gain = float((rows["oracle"] - rows["none"]).mean())
    return float((rows["served"] - rows["none"]).mean()) / gain if gain > 0 else float("nan")


def after_drift(decisions: pd.DataFrame) -> pd.DataFrame:
    """week after the move (1 = the week it happened) -> decisions, the moved customers' capture,
    the others' capture on the same days and the ratio; empty when no one moved during the run."""
    if "drift_day" not in decisions or "oracle" not in decisions:
        return pd.DataFrame()
    mine = decisions[decisions["arm"] == MODEL].dropna(subset=["oracle", "served"])
    moved = mine["drift_day"].notna() & (mine["day"] >= mine["drift_day"])
    if not moved.any():
        return pd.DataFrame()
    week = ((mine["day"] - mine["drift_day"]) // 7 + 1).where(moved)
    stable = mine["drift_day"].isna()
    rows = []
    for k in sorted(week.dropna().unique()):
        drifted = mine[week == k]
        others = mine[stable & mine["day"].isin(drifted["day"].unique())]
        mine_capture, their_capture = capture(drifted), capture(others)
        rows.append({"week_after": int(k), "decisions": len(drifted), "drifted_capture": mine_capture,
                     "others_capture": their_capture,
                     "ratio": mine_capture / their_capture if their_capture > 0 else np.nan})  # fmt: skip
    return pd.DataFrame(rows).set_index("week_after")


def recovery_weeks(table: pd.DataFrame) -> int | None:
    """The first week after the move from which the moved customers' capture stays at or above
    `RECOVERED` of the others' in every week with at least `MIN_DECISIONS` decisions (None: not
    within the run, or no one moved)."""
    if table.empty:
        return None
    table = table[table["decisions"] >= MIN_DECISIONS]
    ok = (table["ratio"] >= RECOVERED).to_numpy()
    for i in range(len(ok)):
        if ok[i:].all():
            return int(table.index[i])
    return None
