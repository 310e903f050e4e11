"""Does the learned effect rank customers? The Qini coefficient of each arm's predicted effect on
the held-out customers of that arm and the control (the project's uplift metrics, as the A/B
report uses them): a second, policy-free view of whether the learner found real differences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optichannel.uplift_metrics import qini_summary


def held_out_qini(pred: np.ndarray, code: np.ndarray, y: np.ndarray, arms: Sequence[str]) -> dict[str, float]:
    """{arm: Qini coefficient} of pred[:, arm] - pred[:, control] (arm 0), for a 0/1 outcome;
    NaN where an arm's held-out rows cannot give one (no conversions on one side)."""
    out: dict[str, float] = {}
    for k in range(1, len(arms)):
        rows = (code == k) | (code == 0)
        try:
            summary = qini_summary(
                y[rows].astype(np.int64), pred[rows, k] - pred[rows, 0], (code[rows] == k).astype(np.int64)
            )
            out[arms[k]] = float(summary.qini_auc)
        except ValueError:
            out[arms[k]] = float("nan")
    return out
