"""How an A/B report writes its numbers: rates in % and points, amounts in their own units.

One place decides the formats so the tables, the charts and the JSON summary never disagree,
and a number that cannot be estimated reads "not estimable" everywhere, never "inf" or a blank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from experiments.outcome_values import Outcome

#: how a number that cannot be estimated reads (never "inf", never a blank that looks like 0)
NOT_ESTIMABLE = "not estimable"


def pct(value: float, digits: int = 2) -> str:
    return NOT_ESTIMABLE if not math.isfinite(value) else f"{value * 100:.{digits}f}%"


def pts(value: float) -> str:
    if not math.isfinite(value):
        return NOT_ESTIMABLE
    points = round(value * 100, 2)
    return f"{points:+.2f}" if points != 0 else "0.00"


def money(value: float) -> str:
    if math.isnan(value):
        return "–"
    return "∞" if math.isinf(value) else f"{value:,.2f}"


def p_value(value: float) -> str:
    return NOT_ESTIMABLE if not math.isfinite(value) else "< 0.001" if value < 0.001 else f"{value:.3f}"


def decimals(width: float) -> int:
    """Decimals that show an interval of this width to about three significant digits."""
    if not math.isfinite(width) or width <= 0:
        return 3
    return int(min(6, max(0, 2 - math.floor(math.log10(width)))))


@dataclass(frozen=True)
class Units:
    """How the outcome's levels and differences read: rates in % and points, or amounts."""

    outcome: Outcome

    @property
    def scale(self) -> float:
        """Chart scale: rates in %, amounts as they are."""
        return 100.0 if self.outcome.binary else 1.0

    def level(self, value: float, decimals: int = 3) -> str:
        """An arm's rate (in %) or mean (with `decimals`)."""
        if self.outcome.binary:
            return pct(value)
        return NOT_ESTIMABLE if not math.isfinite(value) else f"{value:,.{decimals}f}"

    def diff(self, value: float, decimals: int = 3) -> str:
        """A difference in points, or in the outcome's units with `decimals`."""
        if self.outcome.binary:
            return pts(value)
        return NOT_ESTIMABLE if not math.isfinite(value) else f"{value:+,.{decimals}f}"

    def interval(self, est: float, lo: float, hi: float, level: bool = False) -> str:
        """Estimate (low to high), all with the decimals the interval's width needs."""
        if not math.isfinite(est):
            return NOT_ESTIMABLE
        show = self.level if level else self.diff
        d = decimals(hi - lo)
        return f"{show(est, d)} ({show(lo, d)} to {show(hi, d)})"

    def labels(self) -> dict[str, str]:
        """Column headers and phrases for this outcome."""
        name = self.outcome.name
        if self.outcome.is_conversion:
            words = (
                "conversion rate",
                "conversions",
                "uplift, points",
                "incremental conversions",
                "converted",
            )
        elif self.outcome.binary:
            words = (f"{name} rate", name, "uplift, points", f"incremental {name}", f"had {name}")
        else:
            words = (
                f"mean {name}",
                f"total {name}",
                f"difference in mean {name}",
                f"incremental {name}",
                name,
            )
        level, total, diff, incremental, what = words
        per = "cost per incremental conversion" if self.outcome.is_conversion else f"cost per {incremental}"
        keys = ("level", "total", "diff", "incremental", "what", "per_increment")
        return dict(zip(keys, (level, total, diff, incremental, what, per), strict=True))
