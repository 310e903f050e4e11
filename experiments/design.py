"""How many customers an A/B test needs to see a given uplift in conversion rate, and its power.

Every non-control arm is compared with one control arm, so alpha is split across the comparisons
(Bonferroni): a test with a model arm and a holdout against business as usual makes two claims,
and each must hold at alpha / 2 for the family to hold at alpha. Effects are Cohen's h on the
arcsine scale (statsmodels), which is accurate for small rates such as conversion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from optichannel.assignment import check_shares


@dataclass(frozen=True)
class Design:
    """A planned test: customers needed per arm so every comparison reaches the target power."""

    baseline_rate: float
    mde_abs: float
    control: str
    shares: dict[str, float]
    alpha: float
    corrected_alpha: float
    power: float
    n_per_arm: dict[str, int]

    @property
    def total_n(self) -> int:
        """Customers in the whole test."""
        return sum(self.n_per_arm.values())

    @property
    def comparisons(self) -> int:
        """Number of arms compared with the control."""
        return len(self.shares) - 1

    def table(self) -> pd.DataFrame:
        """One row per arm: share, customers needed, and the difference in rate it can detect."""
        rows = [
            {
                "arm": arm,
                "role": "control" if arm == self.control else "treatment",
                "share": share,
                "n": self.n_per_arm[arm],
                "detects": float("nan") if arm == self.control else abs(self.mde_abs),
            }
            for arm, share in self.shares.items()
        ]
        return pd.DataFrame(rows).set_index("arm")


def _check_inputs(
    baseline_rate: float, mde_abs: float, shares: Mapping[str, float], control: str, alpha: float
) -> dict[str, float]:
    if not 0 < baseline_rate < 1:
        raise ValueError(f"baseline_rate must be in (0, 1), got {baseline_rate}")
    if mde_abs == 0 or not math.isfinite(mde_abs):
        raise ValueError(f"mde_abs must be a non-zero finite difference in rate, got {mde_abs}")
    if not 0 < baseline_rate + mde_abs < 1:
        raise ValueError(
            f"mde_abs={mde_abs} makes the treated rate {baseline_rate + mde_abs:g}, outside (0, 1) "
            f"(baseline_rate={baseline_rate})"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    checked = check_shares(shares)
    if control not in checked:
        raise ValueError(f"control {control!r} is not one of the arms: {', '.join(checked)}")
    if len(checked) < 2:
        raise ValueError(f"arms_shares needs a control and at least one other arm, got {', '.join(checked)}")
    zero = [arm for arm, share in checked.items() if share <= 0]
    if zero:
        raise ValueError(f"arms_shares must all be > 0 in a design; zero share: {', '.join(zero)}")
    return checked


def _effect(baseline_rate: float, mde_abs: float) -> float:
    from statsmodels.stats.proportion import proportion_effectsize

    return abs(float(proportion_effectsize(baseline_rate + mde_abs, baseline_rate)))


def sample_size(
    baseline_rate: float,
    mde_abs: float,
    arms_shares: Mapping[str, float],
    control: str,
    alpha: float = 0.05,
    power: float = 0.8,
) -> Design:
    """Customers per arm so that each arm-vs-control test detects `mde_abs` with `power`.

    Shares set the allocation ratio; the total is the smallest that gives every comparison the
    power, and each arm gets its share of it (rounded up).
    """
    from statsmodels.stats.power import NormalIndPower

    shares = _check_inputs(baseline_rate, mde_abs, arms_shares, control, alpha)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    corrected = alpha / (len(shares) - 1)
    effect = _effect(baseline_rate, mde_abs)
    total = 0.0
    for arm, share in shares.items():
        if arm == control:
            continue
        n_control = NormalIndPower().solve_power(
            effect_size=effect, alpha=corrected, power=power, ratio=share / shares[control]
        )
        total = max(total, float(n_control) / shares[control])
    n_per_arm = {arm: math.ceil(total * share - 1e-9) for arm, share in shares.items()}
    return Design(baseline_rate, mde_abs, control, shares, alpha, corrected, power, n_per_arm)


def power_at(
    n_per_arm: Mapping[str, int],
    baseline_rate: float,
    mde_abs: float,
    control: str,
    alpha: float = 0.05,
) -> dict[str, float]:
    """Power of each arm-vs-control comparison at the given (e.g. reached) sample sizes."""
    from statsmodels.stats.power import NormalIndPower

    total = sum(n_per_arm.values())
    if total <= 0 or any(n <= 0 for n in n_per_arm.values()):
        raise ValueError(f"n_per_arm must be positive for every arm, got {dict(n_per_arm)}")
    shares = {arm: n / total for arm, n in n_per_arm.items()}
    shares = _check_inputs(baseline_rate, mde_abs, shares, control, alpha)
    corrected = alpha / (len(shares) - 1)
    effect = _effect(baseline_rate, mde_abs)
    n_control = n_per_arm[control]
    return {
        arm: float(
            NormalIndPower().power(effect_size=effect, nobs1=n_control, alpha=corrected, ratio=n / n_control)
        )
        for arm, n in n_per_arm.items()
        if arm != control
    }


def save_design(design: Design, path: Path) -> Path:
    """Write the design as YAML, so `experiment analyze --design` can check the reached sample."""
    import yaml

    fields = {
        "baseline_rate": design.baseline_rate,
        "mde_abs": design.mde_abs,
        "control": design.control,
        "arms": dict(design.shares),
        "alpha": design.alpha,
        "power": design.power,
        "n_per_arm": dict(design.n_per_arm),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(fields, sort_keys=False), encoding="utf-8")
    return path


def load_design(path: Path) -> Design:
    """A design file back as a `Design`, recomputed from its inputs; one clear line if it is wrong."""
    import yaml

    if not path.exists():
        raise FileNotFoundError(f"design file not found: {path}")
    try:
        fields = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    needed = ("baseline_rate", "mde_abs", "control", "arms")
    if not isinstance(fields, dict) or any(k not in fields for k in needed):
        raise ValueError(f"{path}: a design needs the fields {', '.join(needed)} (write one with "
                         "`experiment design --out`)")  # fmt: skip
    if not isinstance(fields["arms"], dict):
        raise ValueError(f"{path}: arms must map each arm to its share, e.g. {{model: 0.5, bau: 0.5}}")
    try:
        design = sample_size(
            float(fields["baseline_rate"]), float(fields["mde_abs"]), fields["arms"], str(fields["control"]),
            alpha=float(fields.get("alpha", 0.05)), power=float(fields.get("power", 0.8)),
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    stated = fields.get("n_per_arm")
    if stated is not None and dict(stated) != design.n_per_arm:
        raise ValueError(f"{path}: n_per_arm {stated} does not follow from the design's inputs "
                         f"({design.n_per_arm}); was the file edited by hand?")  # fmt: skip
    return design
