"""`optichannel outcomes export`: the service's own history as the contacts feed.

Decisions joined with the outcomes the CRM reported become rows of the documented `contacts`
contract (contact_id = decision_id, with the logged propensity), so validation, features,
training and `experiment ope` run on what the service did. Decisions reported `not_sent` are
left out (no contact happened); decisions still inside their outcome horizon are left out too
(their conversions may not have come back yet). Both are counted, never dropped in silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from optichannel.channels import NONE
from optichannel.economics import Economics
from serving.log_database import engine

#: days after the send before a decision's outcomes count as complete (the conversion window)
SETTLE_DAYS = 7
ARM = "model"
QUERY = """
SELECT d.decision_id, d.customer_id, d.channel, d.send_at, d.window_start, d.propensity,
       d.channel_propensity, d.explored,
       d.purpose, d.campaign, d.model_version,
       MAX(CASE WHEN o.event = 'sent' THEN o.at END) AS reported_sent,
       MAX(CASE WHEN o.event = 'not_sent' THEN 1 ELSE 0 END) AS not_sent,
       MAX(CASE WHEN o.event = 'delivered' THEN 1 ELSE 0 END) AS delivered,
       MAX(CASE WHEN o.event = 'responded' THEN o.at END) AS responded_at,
       MAX(CASE WHEN o.event = 'converted' THEN o.at END) AS converted_at,
       MAX(CASE WHEN o.event = 'converted' THEN o.value END) AS conversion_value
FROM decisions d LEFT JOIN outcomes o USING (decision_id)
GROUP BY d.decision_id
"""


@dataclass
class Exported:
    """The contacts frame and what was left out, by reason."""

    contacts: pd.DataFrame
    decisions: int
    not_sent: int
    unsettled: int

    def sentence(self) -> str:
        return (
            f"{self.decisions:,} logged decisions = {len(self.contacts):,} contacts exported + "
            f"{self.not_sent:,} reported not_sent + {self.unsettled:,} within {SETTLE_DAYS} days of "
            "their send (outcomes may still come)"
        )


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="ISO8601")


def contacts_feed(target: Path | str, as_of: pd.Timestamp, economics: Economics | None = None) -> Exported:
    """The decision log + outcomes (`target`: its file or URL) as the contacts contract, as of `as_of`."""
    with engine(target).connect() as con:
        rows = pd.read_sql(text(QUERY), con)
    total = len(rows)
    sent_at = _utc(rows["reported_sent"]).fillna(_utc(rows["send_at"])).fillna(_utc(rows["window_start"]))
    not_sent = rows["not_sent"].astype(bool)
    unsettled = ~not_sent & (sent_at > as_of - timedelta(days=SETTLE_DAYS))
    keep = ~not_sent & ~unsettled
    rows, sent_at = rows[keep], sent_at[keep]
    cost = (economics or Economics()).cost
    channel = rows["channel"].astype(str)
    responded, converted = _utc(rows["responded_at"]), _utc(rows["converted_at"])
    contacted = channel != NONE
    # logs written before the channel's propensity was recorded explored channels at their best
    # hour only, where the option's propensity is the channel's
    channel_propensity = pd.to_numeric(rows["channel_propensity"]).fillna(rows["propensity"])
    contacts = pd.DataFrame({
        "contact_id": rows["decision_id"].to_numpy(),
        "customer_id": rows["customer_id"].to_numpy(),
        "campaign_id": rows["campaign"].fillna(rows["purpose"]).to_numpy(),
        "channel": channel.to_numpy(),
        "sent_at": sent_at.array,  # `.array` keeps the zone: a Parquet part says UTC, like the others
        "delivered": (contacted & (rows["delivered"].astype(bool) | responded.notna())).to_numpy(),
        "responded_at": responded.where(contacted).array,
        "converted_at": converted.array,
        "cost": channel.map(cost).fillna(0.0).astype(np.float64).to_numpy(),
        "arm": ARM,
        "propensity": rows["propensity"].to_numpy(np.float64),
        "channel_propensity": channel_propensity.to_numpy(np.float64),
        "decision_id": rows["decision_id"].to_numpy(),
        "explored": rows["explored"].astype(bool).to_numpy(),
        "model_version": rows["model_version"].to_numpy(),
        "conversion_value": pd.to_numeric(rows["conversion_value"]).to_numpy(),
    })  # fmt: skip
    return Exported(contacts, total, int(not_sent.sum()), int(unsettled.sum()))


def write_contacts(exported: Exported, out_dir: Path) -> Path:
    """`out_dir/contacts.parquet` (the directory a `validate` run reads as the contacts table)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "contacts.parquet"
    exported.contacts.to_parquet(path, index=False)
    return path
