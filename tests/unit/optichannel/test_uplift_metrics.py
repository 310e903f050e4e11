"""Uplift metrics agree with scikit-uplift to 1e-9, ties in scores included."""

from __future__ import annotations

import numpy as np
import pytest

from optichannel import uplift_metrics as um

sk = pytest.importorskip("sklift.metrics")

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # sklift uses a deprecated sklearn helper


def _data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(200, 3000))
    treatment = rng.integers(0, 2, n)
    latent = rng.normal(size=n)
    y = (rng.random(n) < 0.2 + 0.1 * treatment * (latent > 0)).astype(int)
    # rounding makes many ties; seed 0 uses very coarse scores (a handful of distinct values)
    score = np.round(latent + rng.normal(scale=0.5, size=n), 0 if seed == 0 else int(seed % 3))
    return y, score, treatment


@pytest.mark.parametrize("seed", range(6))
def test_areas_match_sklift(seed: int) -> None:
    y, s, t = _data(seed)
    assert um.qini_auc_score(y, s, t) == pytest.approx(sk.qini_auc_score(y, s, t), abs=1e-9)
    assert um.uplift_auc_score(y, s, t) == pytest.approx(sk.uplift_auc_score(y, s, t), abs=1e-9)
    assert um.qini_auc_score(y, s, t, negative_effect=False) == pytest.approx(
        sk.qini_auc_score(y, s, t, negative_effect=False), abs=1e-9
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("strategy", "k"), [("overall", 0.3), ("overall", 57), ("by_group", 0.25), ("by_group", 40)]
)
def test_uplift_at_k_matches_sklift(seed: int, strategy: str, k: float) -> None:
    y, s, t = _data(seed)
    ours = um.uplift_at_k(y, s, t, strategy, k)
    assert ours == pytest.approx(sk.uplift_at_k(y, s, t, strategy, k), abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_curves_match_sklift(seed: int) -> None:
    y, s, t = _data(seed)
    for name in ("qini_curve", "uplift_curve"):
        x_ours, y_ours = getattr(um, name)(y, s, t)
        x_sk, y_sk = getattr(sk, name)(y, s, t)
        assert np.array_equal(x_ours, x_sk)
        np.testing.assert_allclose(y_ours, y_sk, atol=1e-9, rtol=0)


def test_perfect_and_reversed_scores() -> None:
    y, _, t = _data(1)
    perfect = y * t - y * (1 - t)
    assert um.qini_auc_score(y, perfect, t) == pytest.approx(1.0)
    assert um.qini_auc_score(y, -perfect, t) < 0


def test_inputs_must_be_binary_and_aligned() -> None:
    with pytest.raises(ValueError, match=r"^y must"):
        um.qini_auc_score([0, 2, 1], [0.1, 0.2, 0.3], [0, 1, 1])
    with pytest.raises(ValueError, match=r"^treatment must"):
        um.uplift_auc_score([0, 1, 1], [0.1, 0.2, 0.3], [1, 1, 1])
    with pytest.raises(ValueError, match="length"):
        um.qini_curve([0, 1, 1], [0.1, 0.2], [0, 1, 0])
    with pytest.raises(ValueError, match="strategy"):
        um.uplift_at_k([0, 1, 1, 0], [1, 2, 3, 4], [0, 1, 0, 1], "top")  # type: ignore[arg-type]


def test_qini_summary_thins_but_keeps_the_ends() -> None:
    y, s, t = _data(4)
    summary = um.qini_summary(y, s, t, points=50, label="m")
    x_full, q_full = um.qini_curve(y, s, t)
    assert len(summary.x) <= 50
    assert summary.x[0] == 0 and summary.x[-1] == pytest.approx(x_full[-1] / len(y))
    assert summary.qini[-1] == pytest.approx(q_full[-1])
    assert summary.qini_auc == pytest.approx(um.qini_auc_score(y, s, t))
