"""Per-customer sorted event times (CSR layout) with vectorised "last k before t" look-ups.

Used for the truth's context: air tickets (recent travel) and delivered contacts
(fatigue), both in generation and in the oracle, so the two agree exactly.
"""

from __future__ import annotations

import numpy as np

from simulator.truth import FATIGUE_MEMORY


class Timeline:
    """Times grouped by customer position; `offsets[i]:offsets[i+1]` are customer i's, ascending."""

    def __init__(self, cust: np.ndarray, times: np.ndarray, n_customers: int) -> None:
        order = np.lexsort((times, cust))
        self.cust = np.asarray(cust, dtype=np.int64)[order]
        self.times = np.asarray(times, dtype=np.int64)[order]
        counts = np.bincount(self.cust, minlength=n_customers)
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.n_customers = n_customers

    def __len__(self) -> int:
        return len(self.times)

    def _position_before(self, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Index one past the last time < t within each customer's segment."""
        # binary search inside each customer's segment, vectorised over queries
        lo, hi = self.offsets[cust].copy(), self.offsets[cust + 1].copy()
        while True:
            active = lo < hi
            if not active.any():
                break
            mid = (lo + hi) // 2
            mid_safe = np.where(active, mid, 0)
            go_right = active & (self.times[mid_safe] < t)
            lo = np.where(go_right, mid + 1, lo)
            hi = np.where(active & ~go_right, mid, hi)
        return lo

    def last_before(self, cust: np.ndarray, t: np.ndarray, k: int = FATIGUE_MEMORY) -> np.ndarray:
        """[queries, k] matrix of the k latest times strictly before t (-1 where fewer exist)."""
        cust = np.asarray(cust, dtype=np.int64)
        t = np.asarray(t, dtype=np.int64)
        pos = self._position_before(cust, t)
        start = self.offsets[cust]
        out = np.full((len(cust), k), -1, dtype=np.int64)
        for j in range(k):
            idx = pos - 1 - j
            ok = idx >= start
            if not ok.any():
                break
            out[ok, j] = self.times[idx[ok]]
        return out

    def within(self, cust: np.ndarray, t: np.ndarray, window_us: int) -> np.ndarray:
        """True where the customer has a time in (t - window, t)."""
        last = self.last_before(cust, t, k=1)[:, 0]
        return (last >= 0) & (np.asarray(t) - last < window_us)
