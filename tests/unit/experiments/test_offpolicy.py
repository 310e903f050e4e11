"""Which logged decisions off-policy evaluation may use, and what each earned."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.offpolicy import logged_decisions

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2026-03-01 09:00", tz="UTC")


def _contacts() -> pd.DataFrame:
    sent = START + DAY * np.arange(40)
    converted = [sent[i] + DAY * 2 if i % 3 == 0 else pd.NaT for i in range(40)]
    converted[1] = sent[1] + DAY * 8  # converted, but after the 7-day window
    return pd.DataFrame(
        {
            "customer_id": [f"c{i % 5}" for i in range(40)],
            "channel": ["email", "none", "sms", "call"] * 10,
            "sent_at": sent,
            "converted_at": pd.Series(converted, dtype="datetime64[ns, UTC]"),
            "propensity": [0.5] * 39 + [np.nan],
        }
    )


def test_censored_and_unweighted_decisions_are_left_out_and_counted() -> None:
    contacts = _contacts()
    decisions, notes = logged_decisions(contacts, conversion_days=7)
    end = contacts["converted_at"].max()  # the newest moment the feed has seen
    assert end == contacts["sent_at"].iloc[39] + 2 * DAY
    assert (decisions["sent_at"] + 7 * DAY <= end).all()
    assert len(decisions) == int((contacts["sent_at"] + 7 * DAY <= end).sum())  # the NaN one is late too
    assert any("outcome not known yet" in n for n in notes)
    reward = decisions.set_index("sent_at")["reward"]
    assert reward[contacts["sent_at"].iloc[0]] == 1.0 and reward[contacts["sent_at"].iloc[1]] == 0.0
    assert reward.sum() == sum(1 for i in range(0, 40, 3) if contacts["sent_at"].iloc[i] + 7 * DAY <= end)
    recent, notes = logged_decisions(contacts, conversion_days=7, days=14)
    assert recent["sent_at"].min() > end - 14 * DAY and len(recent) == 14 - 7  # 7 still censored
    assert any("last 14 days" in n for n in notes)


def test_missing_propensities_are_dropped_or_refused() -> None:
    contacts = _contacts()
    contacts.loc[0, "propensity"] = np.nan
    decisions, notes = logged_decisions(contacts)
    assert contacts["sent_at"].iloc[0] not in set(decisions["sent_at"])
    assert "2 decisions without a propensity" in notes[0]  # and the last one, logged without
    with pytest.raises(ValueError, match="no propensity column"):
        logged_decisions(contacts.drop(columns="propensity"))
    with pytest.raises(ValueError, match="unknown channel"):
        logged_decisions(contacts.assign(channel="fax"))
