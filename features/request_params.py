"""The constants inside the request features, estimated from a bank's own logged contacts.

How long an unread message keeps its chance (per channel: a push is stale in an hour, an e-mail
waits in the inbox) and how fast the fatigue of earlier contacts fades are properties of a bank
and its customers, not of this code. Training estimates them on its training weeks by profile
likelihood: for each candidate value, a small logistic regression of the logged response on the
feature that value gives (next to the customer's smoothed response rate on the channel), and the
value whose fit explains the responses best wins. The estimate travels with the model
(`RequestParams.to_meta`), so serving computes the very features the model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.snapshot_sql import FATIGUE_TAUS_DAYS
from optichannel.channels import CHANNELS

#: candidate per-hour survival of a waiting message (0: seen only in the hour it lands)
WAIT_DECAYS: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
META_KEY = "request_params"


@dataclass(frozen=True)
class RequestParams:
    """Per-channel wait decay and the fatigue time constant the request features use."""

    wait_decay: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CHANNELS, 0.7))
    fatigue_tau_days: float = 3.0

    def __post_init__(self) -> None:
        missing = set(CHANNELS) - set(self.wait_decay)
        if missing:
            raise ValueError(f"wait_decay misses channel(s) {', '.join(sorted(missing))}")
        if self.fatigue_tau_days not in FATIGUE_TAUS_DAYS:
            raise ValueError(
                f"fatigue_tau_days must be one of {FATIGUE_TAUS_DAYS}, got {self.fatigue_tau_days}"
            )

    def decays(self) -> np.ndarray:
        """Wait decay per channel in CHANNELS order."""
        return np.array([self.wait_decay[c] for c in CHANNELS], dtype=float)

    def to_meta(self) -> dict[str, Any]:
        return {"wait_decay": dict(self.wait_decay), "fatigue_tau_days": self.fatigue_tau_days}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> RequestParams:
        """The constants a model was trained with (the defaults for a model that has none)."""
        raw = meta.get(META_KEY) or {}
        return cls(**raw) if raw else cls()


def _log_likelihood(x: np.ndarray, y: np.ndarray, iterations: int = 25) -> float:
    """Maximised Bernoulli log likelihood of y ~ logistic(x @ beta) (Newton steps, a small ridge)."""
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(x @ beta, -30, 30)))
        grad = x.T @ (y - p) - 1e-6 * beta
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    p = np.clip(1 / (1 + np.exp(-np.clip(x @ beta, -30, 30))), 1e-12, 1 - 1e-12)
    return float((y * np.log(p) + (1 - y) * np.log(1 - p)).sum())


def _best(candidates: dict[float, np.ndarray], control: np.ndarray, y: np.ndarray, default: float) -> float:
    """The candidate value whose feature, next to `control`, best explains `y`."""
    scores = {}
    for value, feature in candidates.items():
        ok = np.isfinite(feature) & np.isfinite(control)
        if ok.sum() < 200 or len(np.unique(y[ok])) < 2:
            continue
        x = np.column_stack([np.ones(ok.sum()), feature[ok], control[ok]])
        scores[value] = _log_likelihood(x, y[ok])
    return max(scores, key=scores.__getitem__) if scores else default


def estimate(
    reach: dict[float, np.ndarray],
    fatigue: dict[float, np.ndarray],
    channel: np.ndarray,
    rate: np.ndarray,
    responded: np.ndarray,
) -> RequestParams:
    """The constants that best explain the logged responses.

    `reach[d]` and `fatigue[tau]` are the candidate features of each logged contact, `channel`
    its channel index, `rate` the customer's smoothed response rate on it and `responded` the
    0/1 label. A channel with too few contacts keeps the default."""
    y = np.asarray(responded, dtype=float)
    control = np.log(np.clip(rate, 1e-4, 1 - 1e-4) / (1 - np.clip(rate, 1e-4, 1 - 1e-4)))
    default = RequestParams()
    decay = {}
    for c, name in enumerate(CHANNELS):
        mine = channel == c
        decay[name] = _best({d: r[mine] for d, r in reach.items()}, control[mine], y[mine],
                            default.wait_decay[name])  # fmt: skip
    tau = _best(fatigue, control, y, default.fatigue_tau_days)
    return RequestParams(decay, tau)
