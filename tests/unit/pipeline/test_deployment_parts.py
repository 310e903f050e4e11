"""The simulated deployment's CRM (what it reports, and when) and its verdicts (said in words)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optichannel.channels import ACTIONS, NO_CONTACT
from pipeline.deployment.crm import Crm
from pipeline.deployment.summary import BAU, HOLDOUT, MODEL, margins, verdicts, weekly

T0 = pd.Timestamp("2026-05-05 10:00", tz="UTC")


def _us(ts: pd.Timestamp) -> int:
    return ts.value // 1000


def test_the_crm_reports_each_outcome_once_when_it_has_happened() -> None:
    crm = Crm(not_sent_share=0.0, rng=np.random.default_rng(0))
    ids = np.array(["a", "b", "c"], dtype=object)
    channel = np.array([ACTIONS.index("push"), ACTIONS.index("email"), NO_CONTACT])
    send = np.array([_us(T0)] * 3)
    outcomes = pd.DataFrame({
        "delivered": [True, False, False],
        "responded_at": [T0 + pd.Timedelta(hours=1), pd.NaT, pd.NaT],
        "converted_at": [T0 + pd.Timedelta(days=3), pd.NaT, T0 + pd.Timedelta(days=1)],
    })  # fmt: skip
    crm.record(ids, channel, send, crm.send(ids, channel), outcomes)
    first = crm.due(T0 + pd.Timedelta(hours=12))
    assert sorted(zip(first["decision_id"], first["event"], strict=True)) == [
        ("a", "delivered"), ("a", "responded"), ("a", "sent"), ("b", "sent")
    ]  # fmt: skip
    second = crm.due(T0 + pd.Timedelta(days=5))
    assert sorted(zip(second["decision_id"], second["event"], strict=True)) == [
        ("a", "converted"),
        ("c", "converted"),
    ]
    assert crm.due(T0 + pd.Timedelta(days=30)).empty  # nothing is reported twice
    assert pd.to_datetime(second["at"], utc=True).max() < T0 + pd.Timedelta(days=5)


def test_a_failed_send_reports_only_not_sent() -> None:
    crm = Crm(not_sent_share=1.0, rng=np.random.default_rng(0))
    ids = np.array(["a", "b"], dtype=object)
    channel = np.array([ACTIONS.index("sms"), NO_CONTACT])
    sent = crm.send(ids, channel)
    assert sent.tolist() == [False, True]  # a no-contact decision cannot fail to be sent
    outcomes = pd.DataFrame({"delivered": [True, False], "responded_at": [T0, pd.NaT],
                             "converted_at": [T0 + pd.Timedelta(days=1)] * 2})  # fmt: skip
    crm.record(ids, channel, np.array([_us(T0)] * 2), sent, outcomes)
    got = crm.due(T0 + pd.Timedelta(days=9))
    assert sorted(zip(got["decision_id"], got["event"], strict=True)) == [
        ("a", "not_sent"),
        ("b", "converted"),
    ]


def _decisions(policy_gain: list[float], bau_gain: float = 0.2, n: int = 400) -> pd.DataFrame:
    """Three arms per week; the policy's true value over its baseline is `policy_gain[week]`."""
    rng = np.random.default_rng(1)
    rows = []
    for week, gain in enumerate(policy_gain):
        for arm, lift in ((MODEL, gain), (BAU, bau_gain), (HOLDOUT, 0.0)):
            base = rng.uniform(0.5, 1.5, n)
            noise = rng.normal(0, 0.05, n)
            rows.append(pd.DataFrame({
                "day": week * 7 + 1, "date": pd.Timestamp("2026-05-05") + pd.Timedelta(days=7 * week),
                "arm": arm, "channel": "none" if arm == HOLDOUT else "push", "baseline": base,
                "value": base + lift + (noise if arm != HOLDOUT else 0), "bau_value": base + bau_gain + noise,
            }))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_verdicts_say_when_the_policy_rises_and_wins() -> None:
    d = _decisions([0.3, 0.4, 0.5])
    said = verdicts(weekly(d), margins(d), None, {1: "1", 2: "1, 2", 3: "2"})
    assert said.rises and said.beats_bau
    assert "rises every week" in said.sentences[0] and "+0.402 (v1, 2), week 3" in said.sentences[0]
    assert margins(d).loc[3, "paired"] == pytest.approx(0.3, abs=0.02)  # 0.5 - 0.2, paired


def test_verdicts_say_loudly_when_business_as_usual_wins() -> None:
    d = _decisions([0.3, 0.2, 0.05], bau_gain=0.2)
    said = verdicts(weekly(d), margins(d), None)
    assert not said.rises and not said.beats_bau
    assert "does NOT rise" in said.sentences[0]
    assert "BUSINESS AS USUAL BEATS THE POLICY" in said.sentences[1]
    m = margins(d).loc[3]
    assert m["arms_hi"] < 0 and m["paired_hi"] < 0


def test_the_own_logs_verdict_checks_the_sample_and_the_truth() -> None:
    d = _decisions([0.3, 0.4])
    ope = pd.DataFrame(
        {"estimate": [1.2, 1.5], "lo": [1.0, 1.1], "hi": [1.4, 1.9], "effective_n": [640.0, 900.0],
         "true_value": [1.45, 1.3]}, index=["champion", "heuristic"],
    )  # fmt: skip
    said = verdicts(weekly(d), margins(d), ope)
    assert said.ope_covers is False and said.ope_effective == 640.0
    text = " ".join(said.sentences)
    assert "BELOW 1,000" in text and "does NOT cover" in text
    assert "THE BASELINE 'heuristic' IS ESTIMATED ABOVE THE CHAMPION" in text
    assert "TRULY EARNS MORE" not in text  # the truth has the champion ahead: 1.45 vs 1.3


def test_the_truth_saying_a_baseline_wins_is_said() -> None:
    d = _decisions([0.3, 0.4])
    ope = pd.DataFrame(
        {"estimate": [3.5, 3.3], "lo": [3.4, 3.1], "hi": [3.6, 3.5], "effective_n": [4000.0, 1900.0],
         "true_value": [3.42, 3.52]}, index=["champion", "heuristic"],
    )  # fmt: skip
    text = " ".join(verdicts(weekly(d), margins(d), ope).sentences)
    assert "THE BASELINE 'heuristic' TRULY EARNS MORE THAN THE CHAMPION (3.520 vs 3.420" in text
    assert "ESTIMATED ABOVE" not in text and "the interval covers it" in text
