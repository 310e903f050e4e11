"""What an outcome report cannot be: a negative value, a time without its UTC offset, a time far
in the future, a contact reported for a decision that chose no contact, or an event before the
decision was sent. Each such row is quarantined with its reason (in place, on the frame of
`serving.outcomes.store`), never stored as if it had happened."""

from __future__ import annotations

import pandas as pd

#: how far ahead of the receiving clock a report may be (clock skew between CRM and service)
CLOCK_SKEW = pd.Timedelta(days=1)
#: how long after a decision's window its outcomes may still come (a window in the future is
#: a scheduled or simulated decision: its outcomes are judged against the window, not the clock)
SETTLE = pd.Timedelta(days=31)
#: the events of a contact that took place: none of them for a decision of no contact
CONTACT = frozenset({"sent", "delivered", "responded"})
#: the events that follow the send: none of them before it
AFTER_SEND = frozenset({"delivered", "responded", "converted"})
_OFFSET = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


def malformed(frame: pd.DataFrame, raw_at: pd.Series) -> None:
    """Negative values and texts of times without an offset (a naive time is not UTC by fiat)."""
    ok = frame["reason"] == ""
    naive = raw_at.map(lambda v: isinstance(v, str)) & ~raw_at.astype("string").str.strip().str.contains(
        _OFFSET, regex=True
    ).fillna(False)
    frame.loc[ok & frame["at"].notna() & naive, "reason"] = "malformed: at has no UTC offset"
    ok = frame["reason"] == ""
    frame.loc[ok & (frame["value"] < 0).fillna(False), "reason"] = "malformed: value is negative"


def impossible(frame: pd.DataFrame, decisions: pd.DataFrame, stored: pd.DataFrame, now: pd.Timestamp) -> None:
    """Times in the future, contacts of a no-contact decision, events before the send (stored or in
    this batch). `decisions` is indexed by decision id with channel, window_start and window_hours;
    `stored` holds the decision id, event and at of outcomes already stored."""
    ok = frame["reason"] == ""
    hours = pd.to_numeric(decisions["window_hours"], errors="coerce").fillna(0).astype("int64")
    start = pd.to_datetime(decisions["window_start"], utc=True, format="ISO8601")
    settled = (start + pd.to_timedelta(hours, unit="h") + SETTLE).fillna(now)
    latest = (
        pd.to_datetime(frame["decision_id"].map(settled), utc=True).fillna(now).clip(lower=now) + CLOCK_SKEW
    )
    frame.loc[ok & (frame["at"] > latest), "reason"] = "at is in the future"
    ok = frame["reason"] == ""
    frame.loc[ok & (frame["channel"] == "none") & frame["event"].isin(CONTACT), "reason"] = (
        "the decision was no contact"
    )
    ok = frame["reason"] == ""
    old = stored.loc[stored["event"] == "sent"].set_index("decision_id")["at"]
    parts = [pd.to_datetime(old, utc=True, format="ISO8601"),
             frame.loc[ok & (frame["event"] == "sent")].set_index("decision_id")["at"]]  # fmt: skip
    parts = [p for p in parts if len(p)]
    if not parts:
        return
    first_sent = pd.concat(parts).groupby(level=0).min()
    early = ok & frame["event"].isin(AFTER_SEND) & (frame["at"] < frame["decision_id"].map(first_sent))
    frame.loc[early, "reason"] = "before it was sent"
