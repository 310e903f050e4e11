"""The CRM of a simulated deployment: it sends what the service decided (a few sends fail and
are reported `not_sent`) and reports each outcome back once it has happened, as a real CRM
would from its event stream.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optichannel.channels import NO_CONTACT

REPORT_COLUMNS = ["decision_id", "event", "at"]


class Crm:
    """Outcome reports waiting for their time; `due(cut)` hands over everything before `cut`."""

    def __init__(self, not_sent_share: float, rng: np.random.Generator) -> None:
        self.not_sent_share = not_sent_share
        self.rng = rng
        self.pending = pd.DataFrame(columns=REPORT_COLUMNS)

    def send(self, decision_id: np.ndarray, channel: np.ndarray) -> np.ndarray:
        """Which contacts go out (a failed send is reported `not_sent` and never reaches the customer)."""
        failed = (channel != NO_CONTACT) & (self.rng.random(len(channel)) < self.not_sent_share)
        return ~failed

    def record(
        self, decision_id: np.ndarray, channel: np.ndarray, send_us: np.ndarray, sent: np.ndarray,
        outcomes: pd.DataFrame,
    ) -> None:  # fmt: skip
        """Queue the reports of one day's decisions: sent / not_sent at the send time, delivered,
        responded and converted when they happen (a no-contact decision's conversion too)."""
        at = pd.Series(pd.to_datetime(send_us, unit="us", utc=True))
        contact = channel != NO_CONTACT
        happened = ~contact | sent  # after a failed send the CRM reports only that
        responded, converted = outcomes["responded_at"], outcomes["converted_at"]
        parts = [
            _rows(decision_id, "not_sent", at, contact & ~sent),
            _rows(decision_id, "sent", at, contact & sent),
            _rows(decision_id, "delivered", at, contact & sent & outcomes["delivered"].to_numpy()),
            _rows(decision_id, "responded", responded, happened & responded.notna().to_numpy()),
            _rows(decision_id, "converted", converted, happened & converted.notna().to_numpy()),
        ]
        kept = [p for p in (self.pending, *parts) if len(p)]
        if kept:
            self.pending = pd.concat(kept, ignore_index=True)

    def due(self, cut: pd.Timestamp) -> pd.DataFrame:
        """The reports of everything that happened before `cut`, in time order; they leave the queue."""
        at = pd.to_datetime(self.pending["at"], utc=True)
        ready = (at < cut).to_numpy()
        out = self.pending[ready].sort_values("at", kind="stable").reset_index(drop=True)
        self.pending = self.pending[~ready].reset_index(drop=True)
        out["at"] = pd.to_datetime(out["at"], utc=True).map(pd.Timestamp.isoformat)
        return out


def _rows(decision_id: np.ndarray, event: str, at: pd.Series, mask: np.ndarray) -> pd.DataFrame:
    times = pd.Series(at).reset_index(drop=True)[mask].to_numpy()
    return pd.DataFrame({"decision_id": decision_id[mask], "event": event, "at": times})
