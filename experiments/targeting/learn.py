"""Who should get which arm: outcome models learned from a randomised A/B table.

Three candidate learners predict each customer's outcome under every arm: the T-learner (one
model per arm), the S-learner (one model with the arm as a feature) and the DR-learner
(cross-fitted outcome models, then a regression of doubly robust pseudo-outcome differences on
the covariates, which estimates the effect itself instead of subtracting two noisy fits). None
wins on every data set, so the candidate is chosen by data, not taste: K-fold cross-fitting on
the training part, each candidate's greedy policy (argmax of value x outcome - cost) judged on
its out-of-fold rows by a doubly robust estimate whose reward model is the T-learner's
out-of-fold predictions. Arm 0 is the control throughout; arms are integer codes 0..K-1.

Every model is a LightGBM regressor (fine for 0/1 and for amounts) with fixed, regularised
parameters and fixed seeds, so the same table and seed always give the same policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from lightgbm import LGBMRegressor

#: candidate learners, simplest first (the order near-ties are broken in)
CANDIDATES = ("s_learner", "t_learner", "dr_learner")
LABELS = {"s_learner": "S-learner", "t_learner": "T-learner", "dr_learner": "DR-learner"}
#: modest and regularised: a few hundred shallow trees on row and column subsamples
LGBM_PARAMS = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 50,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_jobs": 2,
    "verbose": -1,
    "deterministic": True,
    "force_col_wise": True,
}
ARM_FEATURE = "_arm"
#: what pandas infers for object columns that hold flags or numbers
NUMBER_KINDS = ("boolean", "integer", "floating", "mixed-integer-float", "decimal")


class Learner(Protocol):
    def fit(self, X: pd.DataFrame, arm: np.ndarray, y: np.ndarray, propensity: np.ndarray) -> Learner: ...

    def predict(self, X: pd.DataFrame) -> np.ndarray: ...


def regressor(seed: int) -> LGBMRegressor:
    """One LightGBM regressor with the fixed parameters and its own seed."""
    from lightgbm import LGBMRegressor

    return LGBMRegressor(random_state=seed, **LGBM_PARAMS)


def as_numbers(col: pd.Series) -> pd.Series | None:
    """Floats when the column holds flags or numbers (also as Python objects, as nullable
    columns arrive from an export), else None."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.astype(np.float64)
    if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in NUMBER_KINDS:
        return pd.to_numeric(col.astype(object).where(col.notna(), np.nan), errors="coerce").astype(
            np.float64
        )
    return None


def prepare_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Covariates as LightGBM takes them: text -> `category`, flags -> 0/1, times -> days since
    1970, the rest float. Columns are renamed f0, f1, ... (LightGBM refuses some characters in
    feature names). Prepare the whole table at once so every split shares the categories."""
    out = {}
    for i, name in enumerate(frame.columns):
        col = frame[name]
        numbers = None if isinstance(col.dtype, pd.CategoricalDtype) else as_numbers(col)
        if isinstance(col.dtype, pd.CategoricalDtype):
            out[f"f{i}"] = col.cat.remove_unused_categories()
        elif pd.api.types.is_datetime64_any_dtype(col):
            out[f"f{i}"] = (col - pd.Timestamp(0, tz=col.dt.tz)) / pd.Timedelta(days=1)
        elif numbers is not None:
            out[f"f{i}"] = numbers
        else:  # text labels
            out[f"f{i}"] = col.astype("string").astype("category")
    return pd.DataFrame(out, index=frame.index)


def fold_ids(arm: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per row, stratified by arm: each fold holds ~1/folds of every arm."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(arm), dtype=np.int64)
    for k in np.unique(arm):
        rows = rng.permutation(np.flatnonzero(arm == k))
        out[rows] = np.arange(len(rows)) % folds
    return out


def greedy(pred: np.ndarray, value: float, costs: np.ndarray) -> np.ndarray:
    """The arm with the best net value (value x predicted outcome - cost); ties go to the
    lower code, i.e. the control."""
    return np.argmax(value * pred - costs[None, :], axis=1)


def one_hot(actions: np.ndarray, n_arms: int) -> np.ndarray:
    """A deterministic policy as probabilities [rows, arms]."""
    return np.eye(n_arms)[actions]


def dr_terms(
    policy: np.ndarray,
    arm: np.ndarray,
    y: np.ndarray,
    mu: np.ndarray,
    propensity: np.ndarray,
    value: float,
    costs: np.ndarray,
) -> np.ndarray:
    """Per-customer doubly robust terms of a policy's net value; their mean is the estimate.

    `policy` [rows, arms] holds the policy's probabilities, `mu` [rows, arms] the reward model's
    predicted outcome, `propensity` [arms] each arm's assignment probability. Term = the model's
    net value under the policy + (probability the policy gives the observed arm / its propensity)
    x value x (outcome - the model's prediction for it): unbiased whenever the propensities are
    right, as in a randomised test, however wrong the reward model."""
    rows = np.arange(len(arm))
    direct = (policy * (value * mu - costs[None, :])).sum(axis=1)
    weight = policy[rows, arm] / propensity[arm]
    return direct + weight * value * (y - mu[rows, arm])


@dataclass
class TLearner:
    """One outcome model per arm."""

    n_arms: int
    seed: int = 0
    models: list = field(default_factory=list)

    def fit(self, X: pd.DataFrame, arm: np.ndarray, y: np.ndarray, propensity: np.ndarray) -> TLearner:
        self.models = [regressor(self.seed + k).fit(X[arm == k], y[arm == k]) for k in range(self.n_arms)]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([m.predict(X) for m in self.models])


@dataclass
class SLearner:
    """One outcome model on the covariates plus the arm (a categorical feature)."""

    n_arms: int
    seed: int = 0
    model: LGBMRegressor | None = None

    def _with_arm(self, X: pd.DataFrame, arm: np.ndarray) -> pd.DataFrame:
        codes = pd.Categorical.from_codes(arm, categories=list(range(self.n_arms)))
        return X.assign(**{ARM_FEATURE: codes})

    def fit(self, X: pd.DataFrame, arm: np.ndarray, y: np.ndarray, propensity: np.ndarray) -> SLearner:
        self.model = regressor(self.seed).fit(self._with_arm(X, arm), y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        assert self.model is not None, "fit first"
        full = [np.full(len(X), k) for k in range(self.n_arms)]
        return np.column_stack([self.model.predict(self._with_arm(X, a)) for a in full])


def cross_fit_outcomes(
    X: pd.DataFrame, arm: np.ndarray, y: np.ndarray, n_arms: int, folds: int, seed: int
) -> tuple[np.ndarray, list[TLearner]]:
    """Out-of-fold T-learner predictions [rows, arms] and the fold models."""
    fold = fold_ids(arm, folds, seed)
    mu = np.zeros((len(arm), n_arms))
    models = []
    for f in range(folds):
        fit = TLearner(n_arms, seed + 101 * f).fit(X[fold != f], arm[fold != f], y[fold != f], np.ones(1))
        mu[fold == f] = fit.predict(X[fold == f])
        models.append(fit)
    return mu, models


@dataclass
class DRLearner:
    """Effects regressed on doubly robust pseudo-outcomes (Kennedy's DR-learner).

    Γ_a = μ_a + 1[A=a] (Y - μ_a) / p_a with cross-fitted μ; τ_a(x) is a regression of
    Γ_a - Γ_control on x; the predicted outcome under arm a is μ_control(x) + τ_a(x), with
    μ_control the average of the fold models. `cross_fitted` reuses out-of-fold outcome
    predictions of exactly these rows (and their fold models) instead of fitting them again."""

    n_arms: int
    folds: int = 3
    seed: int = 0
    cross_fitted: tuple[np.ndarray, list[TLearner]] | None = None
    outcome_models: list[TLearner] = field(default_factory=list)
    effect_models: list = field(default_factory=list)

    def fit(self, X: pd.DataFrame, arm: np.ndarray, y: np.ndarray, propensity: np.ndarray) -> DRLearner:
        if self.cross_fitted is None:
            mu, self.outcome_models = cross_fit_outcomes(X, arm, y, self.n_arms, self.folds, self.seed)
        else:
            mu, self.outcome_models = self.cross_fitted
        rows = np.arange(len(arm))
        gamma = mu.copy()
        gamma[rows, arm] += (y - mu[rows, arm]) / propensity[arm]
        self.effect_models = [
            regressor(self.seed + 7 * k).fit(X, gamma[:, k] - gamma[:, 0]) for k in range(1, self.n_arms)
        ]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        base = np.mean([m.models[0].predict(X) for m in self.outcome_models], axis=0)
        return np.column_stack([base, *(base + m.predict(X) for m in self.effect_models)])


def make_learner(name: str, n_arms: int, folds: int, seed: int, **kwargs: object) -> Learner:
    """A fresh candidate by name."""
    if name == "t_learner":
        return TLearner(n_arms, seed)
    if name == "s_learner":
        return SLearner(n_arms, seed)
    if name == "dr_learner":
        return DRLearner(n_arms, folds, seed, **kwargs)  # type: ignore[arg-type]
    raise ValueError(f"unknown learner {name!r}; choose from {', '.join(CANDIDATES)}")


@dataclass
class Selection:
    """The cross-fitted comparison of the candidates on the training part."""

    chosen: str
    values: dict[str, float]  # DR estimate of each candidate's greedy policy, out of fold
    std_errors: dict[str, float]  # standard error of (best - candidate), paired per customer
    oof: dict[str, np.ndarray]  # out-of-fold predicted outcome [rows, arms] per learner fitted
    reward_models: list[TLearner]  # the T-learner's fold models (reward model of the selection)


def select_learner(
    X: pd.DataFrame,
    arm: np.ndarray,
    y: np.ndarray,
    propensity: np.ndarray,
    value: float,
    costs: np.ndarray,
    folds: int = 3,
    seed: int = 0,
    candidates: Sequence[str] = CANDIDATES,
    step: Callable[[str], None] | None = None,
) -> Selection:
    """Cross-fit every candidate and keep the one whose greedy policy is worth most out of fold.

    Near-ties go to the simpler learner: a candidate less than one standard error (of the paired
    per-customer difference) below the best counts as tied, and among tied candidates the first
    in `CANDIDATES` (S, T, DR) wins; the one-standard-error rule, because a difference smaller
    than its noise does not justify the more complex model."""
    n_arms = len(propensity)
    fold = fold_ids(arm, folds, seed)
    names = ["t_learner", *(c for c in candidates if c != "t_learner")]  # T first: the reward model
    oof = {name: np.zeros((len(arm), n_arms)) for name in names}
    reward_models: list[TLearner] = []
    for f in range(folds):
        fit_rows, held = fold != f, fold == f
        for name in names:
            if step is not None:
                step(f"cross-fitting fold {f + 1}/{folds}: {LABELS[name]}")
            learner = make_learner(name, n_arms, folds, seed + 1000 * (f + 1))
            learner.fit(X[fit_rows], arm[fit_rows], y[fit_rows], propensity)
            oof[name][held] = learner.predict(X[held])
            if name == "t_learner":
                reward_models.append(learner)  # type: ignore[arg-type]
    reward = oof["t_learner"]
    terms = {
        name: dr_terms(one_hot(greedy(oof[name], value, costs), n_arms), arm, y, reward, propensity,
                       value, costs)
        for name in candidates
    }  # fmt: skip
    values = {name: float(t.mean()) for name, t in terms.items()}
    best = max(values, key=lambda name: values[name])
    std_errors = {name: float(np.std(terms[best] - t) / np.sqrt(len(t))) for name, t in terms.items()}
    tied = [name for name in CANDIDATES if name in values and values[best] - values[name] <= std_errors[name]]
    return Selection(tied[0], values, std_errors, oof, reward_models)


def fit_chosen(
    selection: Selection,
    X: pd.DataFrame,
    arm: np.ndarray,
    y: np.ndarray,
    propensity: np.ndarray,
    folds: int,
    seed: int,
) -> Learner:
    """The chosen learner refitted on the whole training part (the DR-learner reuses the
    selection's out-of-fold outcome predictions, which are cross-fitted on exactly these rows)."""
    extra = {}
    if selection.chosen == "dr_learner":
        extra["cross_fitted"] = (selection.oof["t_learner"], selection.reward_models)
    learner = make_learner(selection.chosen, len(propensity), folds, seed, **extra)
    return learner.fit(X, arm, y, propensity)
