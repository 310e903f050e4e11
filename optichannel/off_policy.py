"""Off-policy evaluation: what a new policy would have earned, estimated from logged decisions.

Before a live test, the logged contacts (with the logging policy's propensities) tell how a
candidate policy would do: IPS reweights the rows where the new policy agrees with the log,
self-normalised IPS trades a little bias for much less variance, and doubly robust adds a reward
model so that it stays unbiased if either the propensities or the model are right. Intervals are
percentile bootstraps over rows, computed in blocks of resamples so memory stays bounded on
millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from optichannel.channels import NO_CONTACT

#: cells of the (resamples x rows) index matrix drawn at once
_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class Estimate:
    """A policy value with its bootstrap interval and the effective sample size of the weights."""

    method: str
    value: float
    lo: float
    hi: float
    n: int
    effective_n: float
    n_boot: int


def _array(values: ArrayLike, name: str, n: int | None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if n is not None and len(array) != n:
        raise ValueError(f"{name} has {len(array):,} rows, expected {n:,} (the length of reward)")
    return array


def _inputs(reward: ArrayLike, propensity: ArrayLike, target_prob: ArrayLike) -> tuple[np.ndarray, ...]:
    r = _array(reward, "reward", None)
    n = len(r)
    if n == 0:
        raise ValueError("reward is empty: nothing to evaluate")
    p = _array(propensity, "propensity", n)
    pi = _array(target_prob, "target_prob", n)
    bad_r = int((~np.isfinite(r)).sum())
    if bad_r:
        raise ValueError(f"reward is missing or not finite in {bad_r:,} of {n:,} rows")
    bad_p = int((~(p > 0)).sum())  # catches NaN too
    if bad_p:
        raise ValueError(
            f"propensity must be > 0 and not missing; {bad_p:,} of {n:,} rows are not "
            "(a logging policy without exploration cannot be evaluated off-policy)"
        )
    if (p > 1).any():
        raise ValueError(f"propensity must be <= 1; {int((p > 1).sum()):,} of {n:,} rows are above")
    bad_pi = int((~((pi >= 0) & (pi <= 1))).sum())
    if bad_pi:
        raise ValueError(f"target_prob must be in [0, 1]; {bad_pi:,} of {n:,} rows are not")
    return r, p, pi


def _index_blocks(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Row-index matrices [resamples, n] of `n_boot` resamples with replacement, drawn in blocks
    so memory stays bounded on millions of rows."""
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // n)
    for start in range(0, n_boot, block):
        yield rng.integers(0, n, size=(min(block, n_boot - start), n))


def _bootstrap(numerator: np.ndarray, denominator: np.ndarray | None, n_boot: int, seed: int) -> np.ndarray:
    """sum(numerator) / sum(denominator) over `n_boot` resamples of the rows (with replacement):
    two gathers and row sums per block of resamples."""
    n = len(numerator)
    out = []
    for idx in _index_blocks(n, n_boot, seed):
        top = numerator[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(top / n if denominator is None else top / denominator[idx].sum(axis=1))
    return np.concatenate(out)


def _estimate(
    method: str,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    ratio: np.ndarray,
    n_boot: int,
    seed: int,
    confidence: float,
) -> Estimate:
    """Value = sum(numerator) / (sum(denominator) or n), with a percentile bootstrap interval."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = len(numerator)
    total = n if denominator is None else float(denominator.sum())
    value = float(numerator.sum() / total) if total > 0 else float("nan")
    draws = _bootstrap(numerator, denominator, n_boot, seed)
    tail = (1 - confidence) / 2
    lo, hi = np.nanquantile(draws, [tail, 1 - tail]) if np.isfinite(draws).any() else (np.nan, np.nan)
    effective = float(ratio.sum() ** 2 / (ratio**2).sum()) if (ratio**2).sum() > 0 else 0.0
    return Estimate(method, value, float(lo), float(hi), n, effective, n_boot)


def ips(
    reward: ArrayLike,
    propensity: ArrayLike,
    target_prob: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """Inverse propensity scoring: mean of reward x target_prob / propensity (unbiased, noisy)."""
    r, p, pi = _inputs(reward, propensity, target_prob)
    w = pi / p
    return _estimate("IPS", w * r, None, w, n_boot, seed, confidence)


def snips(
    reward: ArrayLike,
    propensity: ArrayLike,
    target_prob: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """Self-normalised IPS: weighted mean with the weights' own sum as denominator."""
    r, p, pi = _inputs(reward, propensity, target_prob)
    w = pi / p
    return _estimate("SNIPS", w * r, w, w, n_boot, seed, confidence)


def doubly_robust(
    reward: ArrayLike,
    propensity: ArrayLike,
    target_prob: ArrayLike,
    q_logged: ArrayLike,
    q_target: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """Doubly robust: the reward model's value of the target action, corrected by IPS residuals.

    `q_logged` is the model's predicted reward for the logged action, `q_target` its expected
    reward under the target policy (for a deterministic policy: for the action it picks).
    """
    r, p, pi = _inputs(reward, propensity, target_prob)
    q_log, q_tgt = _array(q_logged, "q_logged", len(r)), _array(q_target, "q_target", len(r))
    for name, q in (("q_logged", q_log), ("q_target", q_tgt)):
        if not np.isfinite(q).all():
            raise ValueError(f"{name} is missing or not finite in {int((~np.isfinite(q)).sum()):,} rows")
    w = pi / p
    return _estimate("DR", q_tgt + w * (r - q_log), None, w, n_boot, seed, confidence)


def channel_doubly_robust(
    reward: ArrayLike,
    cluster_propensity: ArrayLike,
    match: ArrayLike,
    q_logged: ArrayLike,
    q_target: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """Doubly robust over action clusters (`cluster_dr`) as an Estimate with its interval; `match`
    says where the target policy picks the logged cluster (channel, or no contact)."""
    r = _array(reward, "reward", None)
    p = _array(cluster_propensity, "cluster_propensity", len(r))
    m = np.asarray(match, dtype=bool).reshape(-1)
    q_log, q_tgt = _array(q_logged, "q_logged", len(r)), _array(q_target, "q_target", len(r))
    terms = cluster_dr(q_tgt, m, p, r - q_log)
    weight = np.where(m, 1.0 / np.where(p > 0, p, 1.0), 0.0)
    return _estimate("DR-channel", terms, None, weight, n_boot, seed, confidence)


def evaluate(
    reward: ArrayLike,
    propensity: ArrayLike,
    target_prob: ArrayLike,
    q_logged: ArrayLike | None = None,
    q_target: ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """All estimators side by side (DR only when the reward model's predictions are given)."""
    args = {"n_boot": n_boot, "seed": seed, "confidence": confidence}
    rows = [ips(reward, propensity, target_prob, **args), snips(reward, propensity, target_prob, **args)]
    if q_logged is not None and q_target is not None:
        rows.append(doubly_robust(reward, propensity, target_prob, q_logged, q_target, **args))
    return pd.DataFrame([vars(e) for e in rows]).set_index("method")


def bootstrap_means(terms: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """[n_boot, policies] column means of `terms` [rows, policies] over the same row resamples,
    so intervals of a difference between two policies come from paired draws (much tighter than
    two separate intervals: both policies meet the same customers' luck)."""
    terms = np.asarray(terms, dtype=np.float64)
    if terms.ndim != 2 or len(terms) == 0:
        raise ValueError("terms must be a non-empty [rows, policies] array")
    blocks = _index_blocks(len(terms), n_boot, seed)
    return np.concatenate(
        [np.stack([terms[idx, k].mean(axis=1) for k in range(terms.shape[1])], axis=1) for idx in blocks]
    )


def hour_window_match(
    chosen_channel: np.ndarray,
    chosen_slot: np.ndarray,
    logged_channel: np.ndarray,
    logged_slot: np.ndarray,
    allowed: np.ndarray,
    hours: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(match, window size) per decision, for `cluster_dr` over an hour window with
    `window size x the logged action's own propensity` as the cluster's propensity.

    A contact matches where the log used the chosen channel at a slot within `hours` of the
    chosen slot; its window size is the number of allowed slots of that channel in the window, so
    the weighted residuals average the reward model's error over the window's slots (a box kernel
    over hours, Kallus and Zhou 2018). It corrects an error that varies with the hour, which a
    whole-channel cluster averages away, and needs only each logged action's propensity; it
    assumes the logging policy could pick every allowed slot. `none` matches a logged `none`
    (size 1). `allowed` is [rows, channels, slots]; codes follow `Choice` (NO_CONTACT = none)."""
    if hours < 0:
        raise ValueError(f"the hour window must be >= 0 hours, got {hours}")
    rows, _, slots = allowed.shape
    chosen_channel, chosen_slot = np.asarray(chosen_channel), np.asarray(chosen_slot)
    logged_channel, logged_slot = np.asarray(logged_channel), np.asarray(logged_slot)
    contact = chosen_channel != NO_CONTACT
    near = (logged_slot >= 0) & (np.abs(logged_slot - chosen_slot) <= hours)
    match = np.where(contact, (logged_channel == chosen_channel) & near, logged_channel == NO_CONTACT)
    lanes = allowed[np.arange(rows), np.where(contact, chosen_channel, 0), :]
    counts = np.concatenate([np.zeros((rows, 1), dtype=np.int64), np.cumsum(lanes, axis=1)], axis=1)
    lo, hi = np.clip(chosen_slot - hours, 0, slots), np.clip(chosen_slot + hours + 1, 0, slots)
    size = counts[np.arange(rows), hi] - counts[np.arange(rows), lo]
    return match, np.where(contact, np.maximum(size, 1), 1).astype(np.float64)


def cluster_dr(
    direct: np.ndarray, match: np.ndarray, cluster_propensity: np.ndarray, residual: np.ndarray
) -> np.ndarray:
    """Per-decision terms of doubly robust evaluation over action clusters (OffCEM, Saito, Ren
    and Joachims 2023): the reward model's value of the target action, plus the logged residual
    (reward - the model's reward for the logged action) weighted by 1 / the logging policy's
    probability of the logged cluster where the target picks the same cluster. A cluster is a
    channel (any hour) or no contact: the weights stay small, and the estimate is unbiased as long
    as the reward model ranks the hours within a channel right; or, with `hour_window_match`, the
    chosen channel within a few hours of the chosen slot: larger weights, but only the ranking
    inside the window is left to the model. The mean of the terms is the estimate."""
    p = np.asarray(cluster_propensity, dtype=np.float64)
    m = np.asarray(match, dtype=bool)
    if (m & ~(p > 0)).any():
        raise ValueError("cluster_propensity must be > 0 wherever the target matches the logged cluster")
    weight = np.where(m, 1.0 / np.where(p > 0, p, 1.0), 0.0)
    return np.asarray(direct, dtype=np.float64) + weight * np.asarray(residual, dtype=np.float64)
