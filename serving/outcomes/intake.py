"""`POST /outcomes`: a CRM's report on its decisions, through the same checks as a file import."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from serving.campaign_limits import CampaignLimits
from serving.handed_out import HandedOut
from serving.outcomes.store import ingest, release
from serving.schemas import OutcomeReport, OutcomesResponse, RejectedOutcome


def report_outcomes(
    target: Path | str,
    reports: Sequence[OutcomeReport],
    handed_out: HandedOut | None,
    limits: CampaignLimits | None = None,
) -> OutcomesResponse:
    """Store the accepted rows, quarantine the rest (both in one transaction), release `not_sent`
    from the frequency cap and from its campaign's counters."""
    rows = pd.DataFrame([r.model_dump() for r in reports], columns=["decision_id", "event", "at", "value"])
    result = ingest(target, rows, "api")
    released = release(result, handed_out, limits)
    rejected = [
        RejectedOutcome(
            row=int(r.row), decision_id=_text(r.decision_id), event=_text(r.event), reason=r.reason
        )
        for r in result.quarantined.itertuples(index=False)
    ]
    return OutcomesResponse(
        read=result.read, accepted=result.accepted, quarantined=rejected, released=released
    )


def _text(value: object) -> str | None:
    return None if value is None or pd.isna(value) else str(value)
