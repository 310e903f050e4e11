"""The terminal's view of a simulated test and of an off-policy evaluation: short rich tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from experiments.campaign import CampaignResult
    from experiments.offpolicy import OffPolicyResult


def _pts(value: float) -> str:
    return f"{value * 100:+.2f}"


def _columns(table: Table, names: tuple[str, ...], left: tuple[str, ...]) -> Table:
    for name in names:
        table.add_column(name, justify="left" if name in left else "right")
    return table


def campaign_table(result: CampaignResult) -> Table:
    """Arm, customers, observed and true conversion, estimated uplift with interval, true uplift, covered."""
    table = _columns(
        Table(title=f"simulated A/B test {result.experiment!r} at {result.at:%Y-%m-%d %H:%M} UTC"),
        ("arm", "customers", "conversion", "true rate", f"uplift vs {result.control}, points (95% CI)",
         "true uplift", "covered"),
        ("arm", "covered"),
    )  # fmt: skip
    for arm, r in result.summary().iterrows():
        if arm == result.control:
            rest = ("control", "", "")
        else:
            rest = (
                f"{_pts(r['uplift'])} ({_pts(r['lo'])} to {_pts(r['hi'])})",
                _pts(r["true_uplift"]),
                "yes" if r["covered"] else "NO",
            )
        table.add_row(str(arm), f"{int(r['n']):,}", f"{r['rate']:.2%}", f"{r['true_rate']:.2%}", *rest)
    return table


def ope_table(result: OffPolicyResult, model: str) -> Table:
    """Each estimator's value of the model policy with its interval, then the logging policy's mean."""
    table = _columns(
        Table(title=f"conversion rate per decision: {model} vs the logging policy"),
        ("policy", "estimator", "value", "95% interval", "effective n"),
        ("policy", "estimator"),
    )
    for method, r in result.estimates.iterrows():
        interval = f"{r['lo']:.2%} to {r['hi']:.2%}"
        table.add_row("model", str(method), f"{r['value']:.2%}", interval, f"{r['effective_n']:,.0f}")
    lg = result.logged
    interval = f"{lg['lo']:.2%} to {lg['hi']:.2%}"
    table.add_row("logging", "on-policy mean", f"{lg['value']:.2%}", interval, f"{lg['n']:,.0f}")
    return table


def print_table(table: Table) -> None:
    Console(width=max(110, Console().width)).print(table)
