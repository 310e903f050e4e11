"""Analysis: intervals cover the truth at their level, A/A tests rarely alarm, checks and counts hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import analyze, compare_proportions, holm, qini_for
from experiments.outcomes import analyze_contacts, customer_outcomes

RUNS = 4000


def _simulate(p_t: float, p_c: float, n_t: int, n_c: int, seed: int) -> dict[str, np.ndarray]:
    """RUNS independent experiments as plain binomial draws, analysed in one vectorised call."""
    rng = np.random.default_rng(seed)
    conv_t, conv_c = rng.binomial(n_t, p_t, RUNS), rng.binomial(n_c, p_c, RUNS)
    return compare_proportions(conv_t, np.full(RUNS, n_t), conv_c, np.full(RUNS, n_c), alpha=0.05)


def test_ab_intervals_cover_the_true_uplift_95_percent_of_the_time() -> None:
    stats = _simulate(0.036, 0.030, 15_000, 12_000, seed=7)
    covered_abs = np.mean((stats["abs_lo"] <= 0.006) & (stats["abs_hi"] >= 0.006))
    covered_rel = np.mean((stats["rel_lo"] <= 0.2) & (stats["rel_hi"] >= 0.2))
    # Monte Carlo SE over 4,000 runs is 0.0035. A halved standard error would cover ~68% of the
    # time, a doubled one ~99.99%, a one-sided quantile (1.645) ~90%: all far outside [0.93, 0.97].
    assert 0.93 <= covered_abs <= 0.97
    assert 0.93 <= covered_rel <= 0.97


def test_aa_false_positive_rate_is_about_5_percent() -> None:
    stats = _simulate(0.03, 0.03, 10_000, 10_000, seed=8)
    false_positives = np.mean(stats["p_value"] < 0.05)
    zero_excluded = np.mean((stats["abs_lo"] > 0) | (stats["abs_hi"] < 0))
    # a halved SE would alarm ~32% of the time, a doubled one ~0.01%, a one-sided p-value ~10%
    assert 0.035 <= false_positives <= 0.065
    assert 0.035 <= zero_excluded <= 0.065


def _frame(
    n: int, rates: dict[str, float], seed: int, shares: dict[str, float] | None = None
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = list(rates)
    arm = rng.choice(names, n, p=list((shares or dict.fromkeys(names, 1 / len(names))).values()))
    p = pd.Series(arm).map(rates).to_numpy()
    channel = np.where(arm == "holdout", "none", rng.choice(["email", "sms", "call"], n))
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "arm": arm,
            "converted": (rng.random(n) < p).astype(int),
            "channel": channel,
            "cost": pd.Series(channel).map({"email": 0.005, "sms": 0.05, "call": 1.5, "none": 0.0}),
            "segment": rng.choice(["young", "senior"], n),
        }
    )


@pytest.fixture(scope="module")
def known_effect() -> tuple[pd.DataFrame, object]:
    shares = {"model": 0.45, "bau": 0.45, "holdout": 0.10}
    frame = _frame(60_000, {"model": 0.041, "bau": 0.032, "holdout": 0.025}, seed=3, shares=shares)
    return frame, analyze(frame, "bau", planned_shares=shares)


def test_known_effect_is_found_and_covered(known_effect) -> None:
    _, result = known_effect
    cmp = result.comparisons
    assert cmp.loc["model", "abs_lo"] <= 0.009 <= cmp.loc["model", "abs_hi"]
    assert cmp.loc["holdout", "abs_lo"] <= -0.007 <= cmp.loc["holdout", "abs_hi"]
    assert result.headline["winner"] == "model" and result.headline["verdict"] == "win"
    text = result.headline["text"]
    assert text.startswith("The model arm converted") and "business as usual" in text and "95% CI" in text
    assert not result.srm["mismatch"]


def test_counts_reconcile(known_effect) -> None:
    frame, result = known_effect
    assert result.n_rows == len(frame) == result.arms["n"].sum()
    assert result.arms["conversions"].sum() == frame["converted"].sum()
    assert result.arms.index[0] == "bau"
    by_channel = result.by_channel.groupby("arm")
    assert (by_channel["n"].sum() == result.arms["n"].reindex(by_channel["n"].sum().index)).all()
    assert np.allclose(by_channel["share_of_arm"].sum(), 1.0)
    seg = result.by_segment
    assert seg["n"].sum() + seg.groupby("segment")["control_n"].first().sum() == len(frame)


def test_holm_adjusts_and_incremental_conversions_scale_with_n(known_effect) -> None:
    _, result = known_effect
    cmp = result.comparisons
    assert (cmp["p_adjusted"] >= cmp["p_value"]).all()
    assert cmp["p_adjusted"].min() == pytest.approx(2 * cmp["p_value"].min())
    model = cmp.loc["model"]
    assert model["incremental"] == pytest.approx(model["uplift_abs"] * model["n"])
    arms = result.arms
    extra = (
        arms.loc["model", "cost"] - arms.loc["bau", "cost"] * arms.loc["model", "n"] / arms.loc["bau", "n"]
    )
    assert model["cost_per_incremental"] == pytest.approx(extra / model["incremental"])


def test_srm_detects_a_52_48_split() -> None:
    frame = pd.DataFrame(
        {"customer_id": np.arange(20_000), "arm": ["a"] * 10_400 + ["b"] * 9_600, "converted": 0}
    )
    frame.loc[::50, "converted"] = 1
    result = analyze(frame, "b", planned_shares={"a": 0.5, "b": 0.5})
    assert result.srm["mismatch"] and result.srm["p_value"] < 1e-6
    fair = frame.assign(arm=["a"] * 10_060 + ["b"] * 9_940)
    assert not analyze(fair, "b", planned_shares={"a": 0.5, "b": 0.5}).srm["mismatch"]
    assert not analyze(fair, "b").srm["checked"]


def test_no_uplift_gives_infinite_cost_per_incremental_conversion() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(4000),
            "arm": ["t"] * 2000 + ["c"] * 2000,
            "converted": [1] * 50 + [0] * 1950 + [1] * 80 + [0] * 1920,
            "cost": [1.0] * 2000 + [0.0] * 2000,
        }
    )
    cmp = analyze(frame, "c").comparisons.loc["t"]
    assert cmp["uplift_abs"] < 0 and np.isinf(cmp["cost_per_incremental"])
    assert "bought nothing" in cmp["cost_note"]
    no_cost = analyze(frame.drop(columns="cost"), "c").comparisons.loc["t"]
    assert np.isnan(no_cost["cost_per_incremental"]) and no_cost["cost_note"] == "no cost data"


def test_bad_frames_are_refused() -> None:
    good = pd.DataFrame({"customer_id": [1, 2, 3, 4], "arm": ["a", "a", "b", "b"], "converted": [0, 1, 0, 1]})
    with pytest.raises(ValueError, match="converted"):
        analyze(good.drop(columns="converted"), "a")
    with pytest.raises(ValueError, match="0 or 1; 1 of 4"):
        analyze(good.assign(converted=[0, 1, 2, 1]), "a")
    with pytest.raises(ValueError, match="unique"):
        analyze(good.assign(customer_id=[1, 1, 3, 4]), "a")
    with pytest.raises(ValueError, match="'bau' not found"):
        analyze(good, "bau")


def test_contacts_feed_becomes_one_row_per_customer() -> None:
    ts = pd.Timestamp("2026-03-01", tz="UTC")
    contacts = pd.DataFrame(
        {
            "contact_id": [1, 2, 3, 4, 5],
            "customer_id": [10, 10, 11, 12, 99],
            "channel": ["sms", "email", "none", "call", "push"],
            "sent_at": [ts + pd.Timedelta(hours=5), ts, ts, ts, ts],
            "converted_at": [None, ts + pd.Timedelta(days=1), None, ts, None],
            "cost": [0.05, 0.005, 0.0, 1.5, 0.001],
            "arm": ["model", "model", "holdout", "bau", "bau"],
        }
    )
    assignments = pd.DataFrame({"customer_id": [10, 11, 12, 13], "arm": ["model", "holdout", "model", "bau"]})
    out = customer_outcomes(contacts, assignments).set_index("customer_id")
    assert list(out.index) == [10, 11, 12, 13]
    assert out.loc[10, "channel"] == "email" and out.loc[10, "converted"] == 1
    assert out.loc[10, "cost"] == pytest.approx(0.055) and out.loc[10, "n_contacts"] == 2
    assert out.loc[13, "channel"] == "none" and out.loc[13, "converted"] == 0
    assert out.loc[12, "arm"] == "model"  # the assignment wins over the logged arm
    notes = " | ".join(out.attrs["notes"])
    assert "1 assigned customers have no contact row" in notes
    assert "1 customers in the contacts are not in the assignment" in notes
    assert "1 customers were contacted under another arm" in notes
    result = analyze_contacts(contacts, assignments, "model")
    assert result.n_rows == 4 and result.notes == out.attrs["notes"]


def test_qini_for_uses_scores_of_both_arms() -> None:
    rng = np.random.default_rng(5)
    n = 6000
    score = rng.normal(size=n)
    arm = rng.choice(["model", "bau"], n)
    p = 0.03 + 0.04 * (arm == "model") * (score > 0)
    frame = pd.DataFrame({"customer_id": np.arange(n), "arm": arm, "converted": rng.random(n) < p})
    frame["score"] = score
    frame["converted"] = frame["converted"].astype(int)
    summary = qini_for(frame, "model", "bau")
    assert summary.n == n and summary.qini_auc > 0.1
    with pytest.raises(ValueError, match="score"):
        qini_for(frame.drop(columns="score"), "model", "bau")


def test_holm_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(9).uniform(0, 0.2, 7) ** 2
    p[3] = p[5]  # a tie
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("rates", "verdict", "phrase"),
    [
        ({"model": 0.030, "bau": 0.030}, "inconclusive", "No arm beat bau with 95% confidence"),
        ({"model": 0.020, "bau": 0.040}, "loss", "model did significantly worse"),
    ],
)
def test_headline_without_a_winner(rates: dict[str, float], verdict: str, phrase: str) -> None:
    frame = _frame(20_000, rates, seed=12).drop(columns=["channel", "cost", "segment"])
    head = analyze(frame, "bau").headline
    assert head["winner"] is None and head["verdict"] == verdict
    assert phrase in head["text"] and "-0.0" not in head["text"]


def test_zero_success_arm_interval_holds_its_estimate() -> None:
    """Wilson at 0/1,000 gives a lower bound of ~1e-20, above the rate 0: the interval must hold its rate."""
    n = 1000
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(2 * n),
            "arm": ["offer"] * n + ["bau"] * n,
            "converted": np.r_[np.zeros(n, dtype=int), (np.arange(n) % 10 == 0).astype(int)],
        }
    )
    arms = analyze(frame, "bau").arms
    assert (arms["rate_lo"] <= arms["rate"]).all() and (arms["rate"] <= arms["rate_hi"]).all()
    assert arms.loc["offer", "rate_lo"] == 0.0 and arms.loc["offer", "rate_hi"] > 0.0


def test_headline_names_every_arm_that_did_significantly_worse() -> None:
    """`--control bogo` with two arms far below it: both are named, not only the least bad."""
    rates = {"bogo": 0.10, "discount": 0.06, "informational": 0.02}
    frame = _frame(30_000, rates, seed=5).drop(columns=["channel", "cost", "segment"])
    head = analyze(frame, "bogo").headline
    assert head["verdict"] == "loss" and head["losers"] == ["informational", "discount"]
    assert "No arm beat bogo; informational (" in head["text"]
    assert ") and discount (" in head["text"] and "did significantly worse." in head["text"]


def test_headline_with_a_winner_still_names_the_losers() -> None:
    rates = {"model": 0.06, "bau": 0.04, "holdout": 0.01}
    frame = _frame(30_000, rates, seed=6).drop(columns=["channel", "cost", "segment"])
    head = analyze(frame, "bau").headline
    assert head["winner"] == "model" and head["losers"] == ["holdout"]
    assert head["text"].endswith("Significantly worse than bau: holdout.")
