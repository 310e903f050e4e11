"""Counters that survive a Redis restart, or say they did not. Redis restarted without its data
forgets the contacts handed out (the frequency cap) and what campaigns booked (capacity, budget):
booking on the empty counters would double a call centre's hour. So the counters carry a generation
key, written when they are built; every booking script checks it atomically, and without it the
service refuses to book (503, `/readyz` not ready) until `optichannel counters rebuild` has rebuilt
them from the decision log (PostgreSQL), which is the durable record of every answer.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from optichannel.channels import CHANNELS
from serving.campaign_limits import CampaignLimits
from serving.counters_lost import GENERATION_KEY, LOST
from serving.handed_out import KEEP_SECONDS, HandedOut
from serving.log_database import DECISIONS, OUTCOMES, RELEASES, engine

log = logging.getLogger(__name__)


def intact(client: Any) -> bool:
    """Whether the counters in this Redis are the built ones."""
    return bool(client.exists(GENERATION_KEY))


def live_bookings(target: Path | str, now: datetime | None = None) -> pd.DataFrame:
    """Decisions whose contact still counts (sent within the counters' memory, not released by a
    `not_sent`, or its release still pending, which will give it back once)."""
    now = now or datetime.now(UTC)
    since = pd.Timestamp(now) - pd.Timedelta(seconds=KEEP_SECONDS)
    d = DECISIONS.c
    query = select(d.decision_id, d.customer_id, d.channel, d.send_at, d.purpose, d.campaign).where(
        d.send_at.is_not(None), d.channel != "none"
    )
    with engine(target).connect() as con:
        rows = pd.read_sql(query, con)
        released = pd.read_sql(select(OUTCOMES.c.decision_id).where(OUTCOMES.c.event == "not_sent"), con)
        pending = pd.read_sql(select(RELEASES.c.decision_id), con)
    rows["send_at"] = pd.to_datetime(rows["send_at"], utc=True, format="ISO8601")
    gone = set(released["decision_id"]) - set(pending["decision_id"])
    return rows[(rows["send_at"] >= since) & ~rows["decision_id"].isin(gone)].reset_index(drop=True)


def rebuild(
    client: Any, target: Path | str, handed_out: HandedOut | None, limits: CampaignLimits | None
) -> dict[str, int]:
    """Rebuild the handed-out contacts and campaign counters from the decision log, then write a new
    generation; how many of each were restored. Run it with the service's plans."""
    rows = live_bookings(target)
    seconds = (rows["send_at"].astype("int64") // 10**9).astype(np.int64)
    marketing = rows[rows["purpose"] == "marketing"]
    if handed_out is not None and len(marketing):
        handed_out.add(list(zip(marketing["customer_id"], seconds[marketing.index].tolist(),
                                marketing["decision_id"], strict=True)))  # fmt: skip
    booked = 0
    if limits is not None:
        totals: dict[str, float] = {}
        campaign = rows[rows["campaign"].isin(list(limits.plans)) & rows["channel"].isin(CHANNELS)]
        for r in campaign.itertuples():
            send_us = np.array([int(seconds[r.Index]) * 1_000_000], dtype=np.int64)
            for key, amount, _ in limits.items(str(r.campaign), send_us, CHANNELS.index(r.channel)) or []:
                totals[key] = totals.get(key, 0.0) + amount
            booked += 1
        limits.counter.restore(totals)
    client.set(GENERATION_KEY, f"{datetime.now(UTC).isoformat()} {uuid.uuid4().hex[:8]}")
    return {"handed_out": len(marketing) if handed_out is not None else 0, "campaign": booked}


def ensure(client: Any, target: Path | str) -> bool:
    """At a worker's start: a Redis without a generation is a first start when the decision log has
    nothing the counters should hold (the key is written), else counters lost (False, logged)."""
    if intact(client):
        return True
    if live_bookings(target).empty:
        client.set(GENERATION_KEY, f"{datetime.now(UTC).isoformat()} first", nx=True)
        return True
    log.error(LOST)
    return False
