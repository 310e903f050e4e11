"""Qini and uplift curves, their normalised areas, and uplift@k for a model's uplift scores.

Definitions follow scikit-uplift 0.5.1 (`sklift.metrics`) exactly, so numbers here can be
compared with published results; reimplemented with NumPy so that the kernel does not depend on
scikit-learn. Argument order is sklift's: (y, score, treatment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

Curve = tuple[np.ndarray, np.ndarray]


def _binary(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    found = np.unique(array)
    if found.size != 2 or not np.all(found == np.array([0, 1])):
        raise ValueError(f"{name} must contain both 0 and 1 and nothing else, got values {found[:5]}")
    return array


def _inputs(y: ArrayLike, score: ArrayLike, treatment: ArrayLike) -> tuple[np.ndarray, ...]:
    y_arr, t_arr = _binary(y, "y"), _binary(treatment, "treatment")
    s_arr = np.asarray(score)
    if not (len(y_arr) == len(s_arr) == len(t_arr)):
        raise ValueError(f"y, score and treatment differ in length: {len(y_arr)}, {len(s_arr)}, {len(t_arr)}")
    return y_arr, s_arr, t_arr


def _descending(score: np.ndarray) -> np.ndarray:
    """sklift's order: a stable ascending sort, reversed (ties end up in reverse input order)."""
    return np.argsort(score, kind="mergesort")[::-1]


def _cumulative(y: np.ndarray, score: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, ...]:
    """Counts at each distinct score threshold: n_all, n_treated, y_treated, n_control, y_control."""
    order = _descending(score)
    y, score, treatment = y[order].astype(np.float64), score[order], treatment[order].astype(np.float64)
    thresholds = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]
    n_t = np.cumsum(treatment)[thresholds]
    y_t = np.cumsum(y * treatment)[thresholds]
    y_c = np.cumsum(y * (1.0 - treatment))[thresholds]
    n_all = thresholds + 1
    return n_all, n_t, y_t, n_all - n_t, y_c


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den != 0)


def _start_at_origin(x: np.ndarray, y: np.ndarray) -> Curve:
    return np.r_[0, x], np.r_[0.0, y]


def qini_curve(y: ArrayLike, score: ArrayLike, treatment: ArrayLike) -> Curve:
    """Qini curve: treated conversions minus control conversions scaled to the treated count."""
    n_all, n_t, y_t, n_c, y_c = _cumulative(*_inputs(y, score, treatment))
    return _start_at_origin(n_all, y_t - y_c * _safe_div(n_t, n_c))


def uplift_curve(y: ArrayLike, score: ArrayLike, treatment: ArrayLike) -> Curve:
    """Uplift curve: (treated rate - control rate) among the top n, times n."""
    n_all, n_t, y_t, n_c, y_c = _cumulative(*_inputs(y, score, treatment))
    return _start_at_origin(n_all, (_safe_div(y_t, n_t) - _safe_div(y_c, n_c)) * n_all)


def perfect_qini_curve(y: ArrayLike, treatment: ArrayLike, negative_effect: bool = True) -> Curve:
    """The best achievable Qini curve (treated responders first, control responders last)."""
    y_arr, t_arr = _binary(y, "y"), _binary(treatment, "treatment")
    if negative_effect:
        return qini_curve(y_arr, y_arr * t_arr - y_arr * (1 - t_arr), t_arr)
    treated, control = y_arr[t_arr == 1], y_arr[t_arr == 0]
    gain = treated.sum() - len(treated) * control.sum() / len(control)
    return np.array([0, gain, len(y_arr)]), np.array([0, gain, gain])


def perfect_uplift_curve(y: ArrayLike, treatment: ArrayLike) -> Curve:
    """The best achievable uplift curve, as scikit-uplift defines it."""
    y_arr, t_arr = _binary(y, "y"), _binary(treatment, "treatment")
    control_responders = np.sum((y_arr == 1) & (t_arr == 0))
    treated_non_responders = np.sum((y_arr == 0) & (t_arr == 1))
    summand = y_arr if control_responders > treated_non_responders else t_arr
    return uplift_curve(y_arr, 2 * (y_arr == t_arr) + summand, t_arr)


def _normalised_area(actual: Curve, perfect: Curve) -> float:
    """(area under actual - random diagonal) / (area under perfect - random diagonal)."""
    baseline = np.trapezoid([0, perfect[1][-1]], [0, perfect[0][-1]])
    return float(
        (np.trapezoid(actual[1], actual[0]) - baseline) / (np.trapezoid(perfect[1], perfect[0]) - baseline)
    )


def qini_auc_score(
    y: ArrayLike, score: ArrayLike, treatment: ArrayLike, negative_effect: bool = True
) -> float:
    """Qini coefficient: normalised area between the Qini curve and the random diagonal."""
    y_arr, s_arr, t_arr = _inputs(y, score, treatment)
    return _normalised_area(
        qini_curve(y_arr, s_arr, t_arr), perfect_qini_curve(y_arr, t_arr, negative_effect)
    )


def uplift_auc_score(y: ArrayLike, score: ArrayLike, treatment: ArrayLike) -> float:
    """Normalised area between the uplift curve and the random diagonal."""
    y_arr, s_arr, t_arr = _inputs(y, score, treatment)
    return _normalised_area(uplift_curve(y_arr, s_arr, t_arr), perfect_uplift_curve(y_arr, t_arr))


def uplift_at_k(
    y: ArrayLike,
    score: ArrayLike,
    treatment: ArrayLike,
    strategy: Literal["overall", "by_group"],
    k: float | int = 0.3,
) -> float:
    """Treated minus control conversion rate among the top-k scored customers.

    `overall` takes the top k of everybody; `by_group` the top k of each group separately.
    A float k is a fraction in (0, 1), an int k a count. NaN when a group is empty in the top k.
    """
    y_arr, s_arr, t_arr = _inputs(y, score, treatment)
    if strategy not in ("overall", "by_group"):
        raise ValueError(f"strategy must be 'overall' or 'by_group', got {strategy!r}")
    n = len(y_arr)
    kind = np.asarray(k).dtype.kind
    if kind not in ("i", "f") or isinstance(k, bool):
        raise ValueError(f"k must be an int count or a float fraction, got {k!r}")
    if (kind == "i" and not 0 < k < n) or (kind == "f" and not 0 < k < 1):
        raise ValueError(f"k={k} must be a count in (0, {n}) or a fraction in (0, 1)")
    order = _descending(s_arr)
    y_sorted, t_sorted = y_arr[order].astype(np.float64), t_arr[order]
    with np.errstate(invalid="ignore", divide="ignore"):
        if strategy == "overall":
            size = int(n * k) if kind == "f" else int(k)
            top_y, top_t = y_sorted[:size], t_sorted[:size]
            return float(_mean(top_y[top_t == 1]) - _mean(top_y[top_t == 0]))
        n_t, n_c = int((t_arr == 1).sum()), int((t_arr == 0).sum())
        k_t, k_c = (int(n_t * k), int(n_c * k)) if kind == "f" else (int(k), int(k))
        if k_t > n_t or k_c > n_c:
            raise ValueError(f"k={k} exceeds the treated ({n_t}) or control ({n_c}) group size")
        return float(_mean(y_sorted[t_sorted == 1][:k_t]) - _mean(y_sorted[t_sorted == 0][:k_c]))


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


@dataclass(frozen=True)
class QiniSummary:
    """A Qini curve thinned for plotting (x as a fraction of customers) and the headline numbers."""

    x: np.ndarray
    qini: np.ndarray
    perfect_x: np.ndarray
    perfect_qini: np.ndarray
    qini_auc: float
    uplift_auc: float
    uplift_at_30: float
    n: int
    label: str = ""


def _thin(x: np.ndarray, y: np.ndarray, points: int) -> Curve:
    if len(x) <= points:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, points).round().astype(np.int64))
    return x[keep], y[keep]


def qini_summary(
    y: ArrayLike, score: ArrayLike, treatment: ArrayLike, points: int = 400, label: str = ""
) -> QiniSummary:
    """Everything a report needs about how well `score` ranks customers by uplift."""
    y_arr, s_arr, t_arr = _inputs(y, score, treatment)
    n = len(y_arr)
    x, q = _thin(*qini_curve(y_arr, s_arr, t_arr), points)
    px, pq = _thin(*perfect_qini_curve(y_arr, t_arr), points)
    return QiniSummary(
        x=x / n,
        qini=q,
        perfect_x=px / n,
        perfect_qini=pq,
        qini_auc=qini_auc_score(y_arr, s_arr, t_arr),
        uplift_auc=uplift_auc_score(y_arr, s_arr, t_arr),
        uplift_at_30=uplift_at_k(y_arr, s_arr, t_arr, "overall", 0.3),
        n=n,
        label=label,
    )
