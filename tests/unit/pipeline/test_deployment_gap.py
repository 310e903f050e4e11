"""The deployment's decomposition of its regret, its late-weeks figures and the drift recovery,
on hand-made truths whose answers are worked out in the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from decision.choice import Choice
from optichannel.channels import NO_CONTACT
from pipeline.deployment.drift import after_drift, recovery_weeks
from pipeline.deployment.gap import TrueValues
from pipeline.deployment.summary import heuristic_margin, late_sentences, rise

NEG = -np.inf


def _values() -> TrueValues:
    # 3 customers, 5 channels, 2 slots; channel 0 and 1 allowed only
    contact = np.full((3, 5, 2), NEG)
    contact[:, 0, :] = [[5.0, 3.0], [1.0, 0.5], [2.0, 6.0]]
    contact[:, 1, :] = [[4.0, 4.5], [0.2, 0.1], [1.0, 1.0]]
    none = np.array([1.0, 2.0, 0.5])
    return TrueValues(contact, none)


def test_the_oracle_takes_the_best_option_or_leaves_alone() -> None:
    assert _values().best().tolist() == [5.0, 2.0, 6.0]


def test_the_regret_splits_into_contact_channel_and_hour() -> None:
    values = _values()
    # row 0: channel 1 at slot 0 (4.0): its channel's best hour is 4.5 -> hour 0.5, channel 0.5
    # row 1: contacts channel 0 slot 0 (1.0) where no contact (2.0) was best -> contact 1.0
    # row 2: no contact (0.5) where channel 0 slot 1 (6.0) paid -> contact 5.5
    choice = Choice(np.array([1, 0, NO_CONTACT]), np.array([0, 0, 0]), np.zeros(3))
    contact, channel, hour = values.losses(choice)
    assert contact.tolist() == [0.0, 1.0, 5.5]
    assert channel.tolist() == [0.5, 0.0, 0.0]
    assert hour.tolist() == [0.5, 0.0, 0.0]
    regret = values.best() - values.of_choice(choice)
    np.testing.assert_allclose(contact + channel + hour, regret)


def _late(served: list[float], heuristic: list[float]) -> pd.DataFrame:
    n = len(served)
    return pd.DataFrame({"arm": "model", "day": [35 + i % 14 for i in range(n)], "served": served,
                         "heuristic": heuristic})  # fmt: skip


def test_the_heuristic_margin_is_paired_and_said_loudly_when_the_heuristic_wins() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(3, 1, 400)
    ahead = heuristic_margin(_late(list(base + 0.5), list(base)))
    assert abs(ahead["value"] - 0.5) < 1e-9 and ahead["lo"] > 0.4  # paired: the noise cancels
    behind = heuristic_margin(_late(list(base), list(base + 0.3 + rng.normal(0, 0.1, 400))))
    said = " ".join(late_sentences(behind, None, None, False))
    assert "THE HEURISTIC BEATS THE SERVICE" in said
    early = _late([1.0, 2.0], [1.0, 1.0]).assign(day=[1, 2])
    assert heuristic_margin(early) is None


def test_the_rise_pairs_each_customer_with_itself() -> None:
    # 50 customers, each 1.0 better in weeks 5-8 than in weeks 1-4, with wildly different levels
    ids = [f"c{i}" for i in range(50)]
    level = np.arange(50) * 10.0
    early = pd.DataFrame({"customer_id": ids, "day": 3, "value": level})
    late = pd.DataFrame({"customer_id": ids, "day": 40, "value": level + 1.0})
    got = rise(pd.concat([early, late]).assign(arm="model"))
    assert abs(got["value"] - 1.0) < 1e-9 and got["lo"] > 0.99 and got["customers"] == 50


def test_drift_recovery_is_the_first_week_from_which_capture_stays_near_the_others() -> None:
    rows = []
    # others capture (3 - 1) / (5 - 1) = 0.5 every day; the moved customers 0.1, 0.3, 0.45, 0.5
    for day in range(10, 45):
        rows.append({"day": day, "drift_day": np.nan, "oracle": 5.0, "none": 1.0, "served": 3.0})
        week = (day - 10) // 7 + 1
        served = 1.0 + 4.0 * {1: 0.1, 2: 0.3, 3: 0.45}.get(week, 0.5)
        rows.append({"day": day, "drift_day": 10, "oracle": 5.0, "none": 1.0, "served": served})
    table = after_drift(pd.DataFrame(rows).assign(arm="model"))
    np.testing.assert_allclose(table["ratio"].to_numpy(), [0.2, 0.6, 0.9, 1.0, 1.0])
    assert recovery_weeks(table.assign(decisions=200)) == 3
    assert recovery_weeks(table.assign(decisions=200, ratio=[0.9, 0.5, 0.9, 0.9, 0.9])) == 3  # a relapse
    # a last week of a few dozen decisions is too few to undo a recovery
    assert (
        recovery_weeks(table.assign(decisions=[200, 200, 200, 200, 20], ratio=[0.9, 0.9, 0.9, 0.9, 0.5])) == 1
    )
    assert recovery_weeks(pd.DataFrame()) is None


def test_coming_closer_to_the_oracle_is_read_apart_from_the_world_s_own_level() -> None:
    from pipeline.deployment.summary import closer_to_oracle

    # the world's value falls by 1.0 in the later weeks, the regret falls from 0.6 to 0.2
    ids = [f"c{i}" for i in range(40)]
    early = pd.DataFrame({"customer_id": ids, "day": 2, "oracle": 5.0, "served": 4.4, "value": 4.4})
    late = pd.DataFrame({"customer_id": ids, "day": 40, "oracle": 4.0, "served": 3.8, "value": 3.8})
    both = pd.concat([early, late]).assign(arm="model")
    assert rise(both)["value"] < 0  # the value per decision fell with the world
    closer = closer_to_oracle(both)
    assert abs(closer["value"] - 0.4) < 1e-9
    said = " ".join(late_sentences(None, rise(both), None, False, closer))
    assert "FALLS" in said and "closer to the best possible" in said
