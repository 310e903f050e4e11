"""Strict input: a request's numbers and flags are JSON numbers and booleans (`true` is not one
hour, "72" is not a number), and an outcome report cannot be impossible (negative values, times
without an offset or far in the future, contacts of a no-contact decision, events before the send):
each impossible row is quarantined with its reason, the sane rows of the report are stored."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from serving.decision_log import COLUMNS
from serving.log_database import DECISIONS, engine
from serving.outcomes.store import ingest
from serving.schemas import PredictRequest

DECIDED = pd.Timestamp("2026-03-02 09:00", tz="UTC")


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_hours", True), ("window_hours", "72"), ("allow_no_contact", "false"), ("explain", 1),
     ("curve", "yes"), ("consent", {"email": "true"})],
)  # fmt: skip
def test_numbers_and_flags_are_not_guessed_from_other_types(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        PredictRequest.model_validate({"customer_id": "C1", field: value})
    assert caught.value.errors()[0]["loc"][0] == field


def test_json_numbers_and_booleans_still_pass() -> None:
    ok = PredictRequest.model_validate({"customer_id": "C1", "window_hours": 48, "explain": True,
                                        "consent": {"email": False}})  # fmt: skip
    assert (ok.window_hours, ok.explain, ok.consent) == (48, True, {"email": False})


def test_impossible_outcomes_are_quarantined_with_their_reasons(tmp_path: Path) -> None:
    log = tmp_path / "log.sqlite"
    rows = [dict.fromkeys(COLUMNS) | {"decision_id": d, "customer_id": "c1", "channel": ch,
                                      "logged_at": DECIDED.isoformat(), "window_start": DECIDED.isoformat(),
                                      "window_hours": 72, "purpose": "marketing"}
            for d, ch in (("d1", "email"), ("d2", "none"), ("d3", "sms"))]  # fmt: skip
    with engine(log).begin() as con:
        con.execute(DECISIONS.insert(), rows)

    def at(hours: float) -> str:
        return (DECIDED + pd.Timedelta(hours=hours)).isoformat()

    report = pd.DataFrame({
        "decision_id": ["d1", "d1", "d1", "d1", "d1", "d2", "d2", "d3", "d3"],
        "event": ["sent", "converted", "responded", "delivered", "delivered", "sent", "converted", "sent",
                  "converted"],
        "at": [at(10), at(20), "2199-01-01T00:00:00+00:00", "2026-03-02 19:00:00", at(5), at(10), at(30),
               at(12), at(40)],
        "value": [None, -50.0, None, None, None, None, 80.0, None, 25.0],
    })  # fmt: skip
    result = ingest(log, report, "api")
    reasons = result.quarantined.set_index("row")["reason"].to_dict()
    assert reasons == {
        2: "malformed: value is negative",
        3: "at is in the future",
        4: "malformed: at has no UTC offset",
        5: "before it was sent",
        6: "the decision was no contact",
    }
    # kept: d1 sent, d2 converted (a conversion without contact is the baseline), d3 sent and converted
    assert result.accepted == 4
