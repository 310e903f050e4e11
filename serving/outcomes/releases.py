"""Exactly-once `not_sent` releases: the report and its pending release are stored in one
transaction (`queue`), and `drain` gives back every pending contact, then deletes it. A crash or
a Redis outage between the two leaves the release pending, and the next report or import drains
it; giving back twice is harmless (removing a handed-out contact is idempotent, and campaign
counters are released once per decision id), so every `not_sent` frees its places exactly once.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, delete, select

from optichannel.channels import CHANNELS
from serving.campaign_limits import CampaignLimits
from serving.handed_out import HandedOut
from serving.log_database import RELEASES, engine, insert

#: pending releases given back per round trip
DRAIN_ROWS = 5_000


def queue(con: Connection, not_sent: pd.DataFrame, now: str) -> None:
    """Inside the report's transaction: its accepted `not_sent` rows as pending releases."""
    if not len(not_sent):
        return
    rows = not_sent[["decision_id", "customer_id", "campaign", "channel", "send_at"]].assign(queued_at=now)
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    con.execute(insert(RELEASES, con.dialect.name).on_conflict_do_nothing(), records)


def drain(target: Path | str, handed_out: HandedOut | None, limits: CampaignLimits | None) -> int:
    """Give back every pending release of `target`'s store; how many were released."""
    made, done = engine(target), 0
    while True:
        with made.connect() as con:
            pending = pd.read_sql(select(RELEASES).order_by(RELEASES.c.queued_at).limit(DRAIN_ROWS), con)
        if pending.empty:
            return done
        if handed_out is not None:
            handed_out.remove(list(zip(pending["customer_id"], pending["decision_id"], strict=True)))
        if limits is not None:
            booked = pending[pending["campaign"].notna() & pending["send_at"].notna()
                             & pending["channel"].isin(CHANNELS)]  # fmt: skip
            for row in booked.itertuples(index=False):
                send_at_us = int(pd.Timestamp(row.send_at).timestamp() * 1_000_000)
                channel = CHANNELS.index(row.channel)
                limits.release(str(row.campaign), send_at_us, channel, once=row.decision_id)
        with made.begin() as con:
            con.execute(delete(RELEASES).where(RELEASES.c.decision_id.in_(pending["decision_id"].tolist())))
        done += len(pending)
