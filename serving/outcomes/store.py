"""What happened to each decision, as the CRM reports it: `sent`, `not_sent`, `delivered`,
`responded`, `converted` (with an optional value), stored beside the decisions they belong to.

Every reported row is either accepted or quarantined with its reason, in the same transaction,
so read = accepted + quarantined always holds and nothing is applied twice: an unknown decision
id, an event before its decision, a repeat of an event already stored (or earlier in the same
batch), a `not_sent` that contradicts `sent` (or an outcome after `not_sent`), and malformed rows
(missing id, unknown event, unreadable time or value) never reach the outcomes table. Local
profile: the decision log's SQLite file; production: the same PostgreSQL database as the
decision log, shared by the replicas (`serving.log_database`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Executable, Table, select

from serving.campaign_limits import CampaignLimits
from serving.handed_out import HandedOut
from serving.log_database import DECISIONS, OUTCOMES, QUARANTINE, engine, serialise
from serving.outcomes import releases, sanity
from serving.schemas import CONTROL

EVENTS = ("sent", "not_sent", "delivered", "responded", "converted")
#: events that say the contact happened; each contradicts `not_sent`
HAPPENED = frozenset({"sent", "delivered", "responded", "converted"})
OUTCOME_COLUMNS = ("decision_id", "event", "at", "value")
#: what a decision booked, to give back when it is reported not_sent
BOOKED = ("campaign", "channel", "send_at")
#: ids per IN (...) query: under SQLite's host-parameter limit
_IDS_PER_QUERY = 5_000


@dataclass
class Ingested:
    """What one batch of reported outcomes did; `quarantined` holds the rejected rows with reasons."""

    read: int
    accepted: int
    quarantined: pd.DataFrame = field(default_factory=pd.DataFrame)
    not_sent: pd.DataFrame = field(default_factory=pd.DataFrame)  # decision_id, customer_id, *BOOKED
    target: Path | str = ""  # the store they were written to (its pending releases)

    def __post_init__(self) -> None:
        if self.read != self.accepted + len(self.quarantined):
            raise RuntimeError(f"outcome counts do not reconcile: {self.read} read, {self.accepted} "
                               f"accepted, {len(self.quarantined)} quarantined")  # fmt: skip


def _frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The reported columns as text/float with a reason column (empty = fine so far)."""
    missing = [c for c in ("decision_id", "event", "at") if c not in rows.columns]
    if missing:
        raise ValueError(f"outcomes need the columns decision_id, event, at (value optional); missing "
                         f"{', '.join(missing)} (have {', '.join(map(str, rows.columns))})")  # fmt: skip
    out = pd.DataFrame(index=rows.index)
    out["decision_id"] = rows["decision_id"].astype("string").str.strip()
    out["event"] = rows["event"].astype("string").str.strip().str.lower()
    out["at_text"] = rows["at"].astype("string")
    out["at"] = pd.to_datetime(rows["at"], utc=True, errors="coerce", format="mixed")
    raw_value = rows["value"] if "value" in rows.columns else pd.Series(np.nan, index=rows.index)
    out["value_text"] = raw_value.astype("string")
    out["value"] = pd.to_numeric(raw_value, errors="coerce")
    reason = pd.Series("", index=rows.index, dtype=object)
    for column, text in (("decision_id", out["decision_id"]), ("event", out["event"]),
                         ("at", out["at_text"]), ("value", out["value_text"])):  # fmt: skip
        reason[(reason == "") & text.str.contains(CONTROL.pattern, regex=True).fillna(False)] = (
            f"malformed: {column} has a control character"
        )
    ok = reason == ""
    reason[ok & (out["decision_id"].isna() | (out["decision_id"] == ""))] = "malformed: no decision_id"
    ok = reason == ""
    reason[ok & ~out["event"].isin(EVENTS).fillna(False)] = f"malformed: event not one of {', '.join(EVENTS)}"
    ok = reason == ""
    reason[ok & out["at"].isna()] = "malformed: at is not a time"
    ok = reason == ""
    bad_value = raw_value.notna() & (out["value"].isna() | ~np.isfinite(out["value"].fillna(0)))
    reason[ok & bad_value] = "malformed: value is not a number"
    out["reason"] = reason
    sanity.malformed(out, rows["at"])
    return out


def _known(con: Connection, ids: list[str], table: Table, *columns: str) -> pd.DataFrame:
    """Rows of `table` for these decision ids, in IN (...) pieces."""
    cols = [table.c[c] for c in ("decision_id", *columns)]
    pieces = [
        pd.read_sql(select(*cols).where(table.c.decision_id.in_(ids[i : i + _IDS_PER_QUERY])), con)
        for i in range(0, len(ids), _IDS_PER_QUERY)
    ]
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=[c.name for c in cols])


def _check_against_store(con: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    """Unknown ids, events before the decision, repeats and contradictions (in place, in order)."""
    ok = frame["reason"] == ""
    ids = sorted(set(frame.loc[ok, "decision_id"].dropna()))
    wanted = ("customer_id", "logged_at", "window_start", "window_hours", "campaign", "channel", "send_at")
    decisions = _known(con, ids, DECISIONS, *wanted).set_index("decision_id")
    stored = _known(con, ids, OUTCOMES, "event", "at")
    for column in ("customer_id", "campaign", "channel", "send_at"):
        frame[column] = frame["decision_id"].map(decisions[column])
    decided = pd.concat(
        [pd.to_datetime(decisions[c], utc=True, format="ISO8601") for c in ("logged_at", "window_start")],
        axis=1,
    ).min(axis=1)
    frame.loc[ok & frame["customer_id"].isna(), "reason"] = "unknown decision_id"
    ok = frame["reason"] == ""
    early = ok & (frame["at"] < frame["decision_id"].map(decided))
    frame.loc[early, "reason"] = "before the decision"
    sanity.impossible(frame, decisions, stored, pd.Timestamp.now(tz="UTC"))
    ok = frame["reason"] == ""
    key = frame["decision_id"] + "|" + frame["event"]
    old = set(stored["decision_id"] + "|" + stored["event"])
    frame.loc[ok & key.isin(old), "reason"] = "already reported"
    ok = frame["reason"] == ""
    frame.loc[ok & key.where(ok).duplicated(), "reason"] = "repeated in this batch"
    ok = frame["reason"] == ""
    before = stored.groupby("decision_id")["event"].agg(set)
    seen_not_sent = set(before[before.map(lambda s: "not_sent" in s)].index)
    seen_happened = set(before[before.map(lambda s: bool(s & HAPPENED))].index)
    for i in frame.index[ok]:  # in report order: the first of two contradicting reports wins
        decision, event = frame.at[i, "decision_id"], frame.at[i, "event"]
        if event == "not_sent" and decision in seen_happened:
            frame.at[i, "reason"] = "contradicts an earlier report that it was sent"
        elif event in HAPPENED and decision in seen_not_sent:
            frame.at[i, "reason"] = "contradicts an earlier not_sent"
        else:
            (seen_not_sent if event == "not_sent" else seen_happened).add(decision)
    return frame


def _none(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values (what the database drivers take)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def ingest(
    target: Path | str,
    rows: pd.DataFrame,
    source: str,
    first_row: int = 1,
    extra: Callable[[int, int], Executable] | None = None,
    stored: Callable[[Connection], int] | None = None,
) -> Ingested:
    """Check and store one batch in one transaction (`target`: the decision log's file or URL).
    `extra(accepted, quarantined)` gives a statement committed with it (an import's progress
    marker); `stored(con)`, read under the lock, how many leading rows another run of the same
    import stored already (skipped). Rows are numbered from `first_row` in the quarantine."""
    now = datetime.now(UTC).isoformat()
    with engine(target).begin() as con:
        serialise(con)
        skip = min(len(rows), stored(con)) if stored is not None else 0
        rows, first_row = rows.iloc[skip:], first_row + skip
        frame = _check_against_store(con, _frame(rows.reset_index(drop=True)))
        good = frame[frame["reason"] == ""]
        accepted = pd.DataFrame({
            "decision_id": good["decision_id"], "event": good["event"],
            "at": good["at"].map(pd.Timestamp.isoformat), "value": good["value"], "received_at": now,
            "source": source,
        })  # fmt: skip
        if len(accepted):
            con.execute(OUTCOMES.insert(), _none(accepted))
        bad = frame[frame["reason"] != ""]
        quarantine = pd.DataFrame({
            "source": source, "row": bad.index + first_row, "decision_id": bad["decision_id"],
            "event": bad["event"], "at": bad["at_text"], "value": bad["value_text"], "reason": bad["reason"],
        })  # fmt: skip
        if len(quarantine):
            kept = quarantine.assign(received_at=now)
            for column in ("decision_id", "event", "at", "value"):  # readable, and storable in PostgreSQL
                kept[column] = kept[column].astype("string").str.replace("\x00", "\\x00", regex=False)
            con.execute(QUARANTINE.insert(), _none(kept))
        released = good.loc[good["event"] == "not_sent", ["decision_id", "customer_id", *BOOKED]]
        releases.queue(con, released, now)
        if extra is not None:
            con.execute(extra(len(good), len(bad)))
    return Ingested(len(frame), len(good), quarantine.reset_index(drop=True), released.reset_index(drop=True),
                    target)  # fmt: skip


def release(result: Ingested, handed_out: HandedOut | None, limits: CampaignLimits | None = None) -> int:
    """Take the decisions reported `not_sent` off the handed-out contacts (the frequency cap) and
    give back what they booked on their campaign's counters: every release pending in the store,
    this batch's and any an earlier crash or outage left (`serving.outcomes.releases`); how many."""
    return releases.drain(result.target, handed_out, limits)
