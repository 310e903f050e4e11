"""Does personalising pay? The learned policy judged on customers it never saw.

The table is split at random (stratified by arm) into a training part, where the learners are
cross-fitted, chosen and refitted, and a held-out part, where the learned policy, every
single-arm policy ("always X") and a uniformly random one are valued by doubly robust terms per
customer (reward model fitted on the training part only; propensities = the arms' shares, exact
in a randomised test). Intervals are paired bootstraps over the held-out customers
(`optichannel.off_policy.bootstrap_means`), so the difference between the learned policy and the
best single arm is judged on the same customers' luck. The learned policy is recommended only
when the lower end of that difference is above 0: personalisation costs complexity, and a gain
within noise does not pay for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.export_tables import CUSTOMER_ID
from experiments.outcome_values import Outcome
from experiments.targeting.learn import (
    CANDIDATES,
    LABELS,
    TLearner,
    dr_terms,
    fit_chosen,
    greedy,
    one_hot,
    prepare_features,
    select_learner,
)
from experiments.targeting.ranking import held_out_qini
from optichannel.off_policy import bootstrap_means

LEARNED, RANDOM = "learned", "random"
#: below these, estimates are too noisy to act on without a warning
FEW_TRAIN_PER_ARM, FEW_TEST = 200, 1_000
#: fewer training rows per fold than this in an arm and nothing can be learned for it
MIN_PER_ARM_AND_FOLD = 5


def always(arm: str) -> str:
    """The name of the single-arm policy."""
    return f"always {arm}"


def split_test(arm: np.ndarray, test_share: float, seed: int) -> np.ndarray:
    """True for held-out rows: a seeded random `test_share` of every arm."""
    if not 0 < test_share < 1:
        raise ValueError(f"--test-share must be between 0 and 1, got {test_share}")
    rng = np.random.default_rng(seed)
    held = np.zeros(len(arm), dtype=bool)
    for k in np.unique(arm):
        rows = rng.permutation(np.flatnonzero(arm == k))
        held[rows[: round(len(rows) * test_share)]] = True
    return held


@dataclass(frozen=True)
class Units:
    """How amounts read: outcomes per 100 customers for a plain binary outcome, else per customer."""

    outcome: Outcome
    value: float = 1.0
    costed: bool = False

    @property
    def per_100(self) -> bool:
        return self.outcome.binary and self.value == 1 and not self.costed

    @property
    def label(self) -> str:
        noun = self.outcome.name.removesuffix("_at").replace("_", " ")
        if self.per_100:
            return f"{noun if noun.endswith(('s', 'ed')) else noun + 's'} per 100 customers"
        return f"{noun} per customer" if self.value == 1 and not self.costed else "net value per customer"

    def number(self, x: float, digits: int = 2, signed: bool = True) -> str:
        """Scaled, signed (differences) or not (values), with a true minus sign."""
        if not math.isfinite(x):
            return "–"
        places = 2 if self.per_100 else digits
        shown = round(x * 100 if self.per_100 else x, places) + 0.0  # no "-0.00"
        return f"{shown:{'+' if signed else ''},.{places}f}".replace("-", "−")

    def digits(self, values: Sequence[float]) -> int:
        """Decimals for amounts of this size: 2 from 1 up, more below."""
        top = max((abs(v) for v in values if math.isfinite(v)), default=1.0)
        return 2 if top >= 1 or top == 0 else min(6, 2 - math.floor(math.log10(top)))


@dataclass
class Judgement:
    """Held-out values of every policy and the learned policy against the best single arm."""

    policies: pd.DataFrame  # policy -> value, ci_low, ci_high
    best_arm: str
    difference: float
    ci_low: float
    ci_high: float
    confidence: float

    @property
    def recommended(self) -> str:
        return LEARNED if self.ci_low > 0 else always(self.best_arm)


def judge_policies(
    actions: np.ndarray,
    arm: np.ndarray,
    y: np.ndarray,
    mu: np.ndarray,
    propensity: np.ndarray,
    arms: Sequence[str],
    value: float = 1.0,
    costs: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Judgement:
    """Value (mean of value x outcome - cost) of the learned `actions`, each single arm and
    random, by doubly robust terms on the held-out rows, with paired percentile intervals."""
    n, k = len(arm), len(arms)
    costs = np.zeros(k) if costs is None else np.asarray(costs, dtype=np.float64)
    names = [LEARNED, *(always(a) for a in arms), RANDOM]
    policies = [one_hot(actions, k), *(one_hot(np.full(n, i), k) for i in range(k)), np.full((n, k), 1 / k)]
    terms = np.column_stack([dr_terms(p, arm, y, mu, propensity, value, costs) for p in policies])
    draws = bootstrap_means(terms, n_boot, seed)
    tail = (1 - confidence) / 2
    point = terms.mean(axis=0)
    lo, hi = np.quantile(draws, [tail, 1 - tail], axis=0)
    table = pd.DataFrame({"value": point, "ci_low": lo, "ci_high": hi}, index=pd.Index(names, name="policy"))
    best = int(np.argmax(point[1 : k + 1]))
    gap = draws[:, 0] - draws[:, 1 + best]
    gap_lo, gap_hi = np.quantile(gap, [tail, 1 - tail])
    diff = float(point[0] - point[1 + best])
    return Judgement(table, arms[best], diff, float(gap_lo), float(gap_hi), confidence)


def verdict(judgement: Judgement, control: str, units: Units) -> str:
    """The recommendation in one or two sentences."""
    j, best = judgement, judgement.best_arm
    digits = units.digits([j.difference, j.ci_low, j.ci_high])
    num = lambda x: units.number(x, digits)  # noqa: E731
    ci = f"{j.confidence:.0%} CI {num(j.ci_low)} to {num(j.ci_high)}"
    who = f"{best} (the control)" if best == control else best
    if j.recommended == LEARNED:
        return f"Personalising beats sending everyone {who}: {num(j.difference)} {units.label} ({ci})."
    text = (
        f"Personalising does not beat sending everyone {who} beyond noise "
        f"(difference {num(j.difference)} {units.label}, {ci}): recommend always {best}."
    )
    if best == control:
        text += f" No arm beats the control {control} on average either: the test does not justify treating."
    return text


def sample_warnings(train_counts: Mapping[str, int], n_test: int) -> list[str]:
    """Loud lines for parts too small to trust."""
    out = [
        f"arm {arm!r} has only {n:,} rows in the training part (fewer than {FEW_TRAIN_PER_ARM}): "
        "its predictions are rough"
        for arm, n in train_counts.items()
        if n < FEW_TRAIN_PER_ARM
    ]
    if n_test < FEW_TEST:
        out.append(
            f"the held-out part has only {n_test:,} rows (fewer than {FEW_TEST:,}): the policy values "
            "and the verdict are noisy; use more data or a larger --test-share"
        )
    return out


@dataclass
class TargetingResult:
    """Everything `learn` reports: chosen learner, held-out judgement, verdict, per-customer scores."""

    outcome: Outcome
    control: str
    arms: list[str]
    features: list[str]
    learner: str
    learners: dict[str, float]
    judgement: Judgement
    verdict: str
    units: Units
    scores: pd.DataFrame
    n_train: int
    n_test: int
    seed: int
    value: float = 1.0
    costs: dict[str, float] = field(default_factory=dict)
    folds: int = 3
    test_share: float = 0.3
    warnings: list[str] = field(default_factory=list)
    qini: dict[str, float] = field(default_factory=dict)  # held-out Qini per arm (0/1 outcomes)

    @property
    def recommended(self) -> str:
        return self.judgement.recommended

    def arm_shares(self) -> pd.Series:
        """Share of the held-out customers the learned policy sends to each arm."""
        test = self.scores.loc[self.scores["split"] == "test", "best_arm"]
        return test.value_counts(normalize=True).reindex(self.arms, fill_value=0.0)


def step_count(folds: int) -> int:
    """Progress steps of `learn_targeting`: every candidate in every fold, refit, reward model, judging."""
    return folds * len(CANDIDATES) + 3


def _checked(
    frame: pd.DataFrame, control: str, costs: Mapping[str, float], value: float, folds: int, n_features: int
) -> list[str]:
    """The arms (control first, the rest sorted); errors for what cannot be learned from."""
    if folds < 2:
        raise ValueError(f"--folds must be at least 2, got {folds}")
    if not n_features:
        raise ValueError("no feature left to learn from")
    arms = sorted(frame["arm"].astype(str).unique())
    if control not in arms:
        raise ValueError(f"control arm {control!r} is not in the data (arms: {', '.join(arms)})")
    if len(arms) < 2:
        raise ValueError(f"the data has a single arm ({control}): nothing to choose between")
    unknown = [a for a in costs if a not in arms]
    if unknown:
        raise ValueError(f"--cost names unknown arm {unknown[0]!r} (arms: {', '.join(arms)})")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"--value must be a positive number, got {value}")
    return [control, *(a for a in arms if a != control)]


def _scores(
    frame: pd.DataFrame, held: np.ndarray, arms: list[str], pred: np.ndarray, actions: np.ndarray
) -> pd.DataFrame:
    """Per customer: split, observed arm, predicted effect vs control and outcome per arm, best arm."""
    scores = pd.DataFrame(
        {
            CUSTOMER_ID: frame[CUSTOMER_ID].to_numpy(),
            "split": np.where(held, "test", "train"),
            "arm": frame["arm"].astype(str).to_numpy(),
        }
    )
    for i, a in enumerate(arms[1:], start=1):
        scores[f"effect_{a}"] = pred[:, i] - pred[:, 0]
    for i, a in enumerate(arms):
        scores[f"pred_{a}"] = pred[:, i]
    scores["best_arm"] = np.asarray(arms, dtype=object)[actions]
    return scores


def learn_targeting(
    frame: pd.DataFrame,
    outcome: Outcome,
    features: Sequence[str],
    control: str,
    costs: Mapping[str, float] | None = None,
    value: float = 1.0,
    test_share: float = 0.3,
    folds: int = 3,
    seed: int = 0,
    n_boot: int = 1000,
    warnings: Sequence[str] = (),
    step: Callable[[str], None] | None = None,
) -> TargetingResult:
    """Split, choose and fit the learner on the training part, judge it on the held-out part.

    `frame` is one row per customer: customer_id, arm, the outcome's column (`outcome.column`)
    and the `features`, as `experiments.export_tables.load_export` makes it."""
    costs = dict(costs or {})
    arms = _checked(frame, control, costs, value, folds, len(features))
    tell = step or (lambda _: None)
    code = pd.Categorical(frame["arm"].astype(str), categories=arms).codes.astype(np.int64)
    y = frame[outcome.column].to_numpy(dtype=np.float64)
    cost = np.array([costs.get(a, 0.0) for a in arms], dtype=np.float64)
    propensity = np.bincount(code, minlength=len(arms)) / len(code)
    held = split_test(code, test_share, seed)
    tr, te = ~held, held
    if not te.any():
        raise ValueError(f"--test-share {test_share} holds out no customer: raise it")
    train_counts = dict(zip(arms, np.bincount(code[tr], minlength=len(arms)).tolist(), strict=True))
    thin = [a for a, n in train_counts.items() if n < MIN_PER_ARM_AND_FOLD * folds]
    if thin:
        raise ValueError(
            f"arm {thin[0]!r} has only {train_counts[thin[0]]} rows in the training part: too few to learn "
            f"from with {folds} folds"
        )
    X = prepare_features(frame[list(features)])
    X_tr, X_te = X[tr], X[te]
    selection = select_learner(X_tr, code[tr], y[tr], propensity, value, cost, folds, seed, step=tell)
    tell(f"refitting the {LABELS[selection.chosen]} on the training part")
    learner = fit_chosen(selection, X_tr, code[tr], y[tr], propensity, folds, seed)
    tell("reward model for the held-out judgement")
    reward = learner if selection.chosen == "t_learner" else TLearner(len(arms), seed + 17)
    if reward is not learner:
        reward.fit(X_tr, code[tr], y[tr], propensity)
    tell("judging the policies on the held-out part")
    pred = np.zeros((len(frame), len(arms)))
    pred[tr] = selection.oof[selection.chosen]
    pred[te] = learner.predict(X_te)
    actions = greedy(pred, value, cost)
    judgement = judge_policies(
        actions[te], code[te], y[te], reward.predict(X_te), propensity, arms, value, cost, n_boot, seed
    )
    units = Units(outcome, value, bool(cost.any()))
    notes = [*warnings, *sample_warnings(train_counts, int(te.sum()))]
    return TargetingResult(
        outcome=outcome, control=control, arms=arms, features=list(features), learner=selection.chosen,
        learners=selection.values, judgement=judgement, verdict=verdict(judgement, control, units),
        units=units, scores=_scores(frame, held, arms, pred, actions), n_train=int(tr.sum()),
        n_test=int(te.sum()), seed=seed, value=value, costs=costs, folds=folds, test_share=test_share,
        warnings=notes, qini=held_out_qini(pred[te], code[te], y[te], arms) if outcome.binary else {},
    )  # fmt: skip
