"""Promotion: a challenger replaces the champion only on better policy value at no worse calibration."""

from __future__ import annotations

from training.promotion import ECE_TOLERANCE, decide

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
