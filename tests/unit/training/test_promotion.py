"""Promotion: a challenger replaces the champion only on better policy value at no worse calibration."""

from __future__ import annotations

from training.promotion import ECE_TOLERANCE, Rival, decide

CHAMPION = {"policy_value": 2.0, "ece_response": 0.010, "ece_conversion": 0.004}


def test_first_model_becomes_champion() -> None:
    verdict = decide({"policy_value": 0.1, "ece_response": 0.05}, None)
    assert verdict.promoted and "no champion" in verdict.reason


def test_worse_policy_value_is_refused() -> None:
    verdict = decide({**CHAMPION, "policy_value": 1.9}, CHAMPION)
    assert not verdict.promoted
    assert "1.9000" in verdict.reason and "2.0000" in verdict.reason


def test_equal_policy_value_is_not_enough() -> None:
    assert not decide(dict(CHAMPION), CHAMPION).promoted


def test_better_value_with_worse_calibration_is_refused() -> None:
    worse = {
        **CHAMPION,
        "policy_value": 2.5,
        "ece_conversion": CHAMPION["ece_conversion"] + 2 * ECE_TOLERANCE,
    }
    verdict = decide(worse, CHAMPION)
    assert not verdict.promoted and "ece_conversion" in verdict.reason


def test_better_value_within_calibration_tolerance_is_promoted() -> None:
    better = {**CHAMPION, "policy_value": 2.1, "ece_response": CHAMPION["ece_response"] + ECE_TOLERANCE / 2}
    verdict = decide(better, CHAMPION)
    assert verdict.promoted and verdict.champion == CHAMPION


def test_nan_policy_value_never_wins() -> None:
    assert not decide({**CHAMPION, "policy_value": float("nan")}, CHAMPION).promoted


def test_a_simple_policy_that_is_worth_more_blocks_even_the_first_model() -> None:
    heuristic = Rival("heuristic", 2.2, (-0.2, -0.5, 0.1))
    verdict = decide({**CHAMPION, "policy_value": 2.0}, None, heuristic)
    assert not verdict.promoted
    assert "heuristic" in verdict.reason and "worth more" in verdict.reason and "2.2000" in verdict.reason


def test_beating_the_baseline_and_the_champion_promotes_and_reports_both_intervals() -> None:
    bau = Rival("business_as_usual", 1.0, (1.5, 1.2, 1.8))
    vs = Rival("champion", 2.0, (0.5, -0.1, 1.1))
    verdict = decide({**CHAMPION, "policy_value": 2.5}, CHAMPION, bau, vs)
    assert verdict.promoted
    assert "+1.5000 per decision vs business_as_usual (95% CI +1.2000 to +1.8000)" in verdict.reason
    assert "not yet beyond noise" in verdict.reason  # the champion interval straddles zero


def test_beating_the_baseline_but_not_the_champion_is_refused() -> None:
    bau = Rival("heuristic", 1.0, (0.9, 0.5, 1.3))
    verdict = decide({**CHAMPION, "policy_value": 1.9}, CHAMPION, bau)
    assert not verdict.promoted and "champion" in verdict.reason


def test_a_baseline_resting_on_a_handful_of_decisions_does_not_block_unless_beyond_noise() -> None:
    from training.promotion import rival_of

    estimates = {"heuristic": 3.4, "never_contact": 7.1, "always_email": 1.2}
    effective = {"heuristic": 1900.0, "never_contact": 38.0, "always_email": 372.0}
    diffs = {
        "heuristic": (0.1, 0.02, 0.2),
        "never_contact": (-3.6, -17.4, 3.6),
        "always_email": (2.3, 2.1, 2.5),
    }
    rival, note = rival_of(estimates, effective, diffs.__getitem__, 300)
    assert rival.name == "heuristic" and rival.value == 3.4
    assert note is not None and "never_contact" in note and "38 effective decisions" in note
    assert decide({**CHAMPION, "policy_value": 3.5}, None, rival).promoted
    # the same baseline beating the model beyond noise still blocks, few decisions or not
    diffs["never_contact"] = (-3.6, -5.0, -2.0)
    rival, note = rival_of(estimates, effective, diffs.__getitem__, 300)
    assert rival.name == "never_contact" and note is None
    assert not decide({**CHAMPION, "policy_value": 3.5}, None, rival).promoted


def test_a_baseline_below_the_model_stays_the_rival_whatever_its_sample() -> None:
    from training.promotion import rival_of

    estimates = {"heuristic": 3.0, "business_as_usual": 1.2}
    effective = {"heuristic": 40.0, "business_as_usual": 1400.0}
    diffs = {"heuristic": (0.5, -0.4, 1.3), "business_as_usual": (2.3, 2.0, 2.6)}
    rival, note = rival_of(estimates, effective, diffs.__getitem__, 300)
    assert rival.name == "heuristic" and note is None


def test_a_set_aside_baseline_above_the_model_is_said_in_red(capsys: object) -> None:
    from types import SimpleNamespace

    import pandas as pd

    from training.cli import print_logged

    table = pd.DataFrame(
        {"estimate": [3.09, 3.31, 1.22], "lo": [2.4, 2.5, 0.9], "hi": [3.9, 4.2, 1.5],
         "effective_n": [900.0, 120.0, 1400.0], "cluster": "whole channel", "contacted": [0.99, 0.99, 0.87]},
        index=["model_m", "heuristic", "business_as_usual"],
    )  # fmt: skip
    verdict = SimpleNamespace(
        table=table, learner="m", baseline=Rival("business_as_usual", 1.22, (1.87, 1.5, 2.2))
    )
    print_logged(SimpleNamespace(verdict=verdict))
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    said = " ".join(out.split())
    assert "WARNING: the simple policy heuristic is estimated above the model (3.310 vs 3.090)" in said
    assert "120 effective decisions" in said and "the model beats the next simple policy" in said
    assert "beats every simple policy" not in said
