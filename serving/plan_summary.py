"""What a campaign plan did: load against capacity, budget used, expected incremental
conversions, and the value lost to the limits, against the unconstrained plan and against
"greedy then cut at capacity" (what tools without joint allocation do). Printed on the console
and written as a small self-contained HTML page.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optichannel.channels import CHANNELS, NONE
from serving.plan_allocation import PlannedCampaign


@dataclass(frozen=True)
class PlanSummary:
    name: str
    customers: int
    contacts: dict[str, int]
    budget: float | None
    spent: float
    incremental_conversions: float
    value: float  # expected net value over no contact of the allocated plan
    unconstrained_value: float
    unconstrained_feasible: bool
    greedy_value: float
    bound: float | None
    resources: pd.DataFrame  # one row per limited resource: label, channel, kind, capacity, load, price
    hourly: pd.DataFrame  # contacts per channel (columns) and UTC slot (index)

    @property
    def gap(self) -> float | None:
        return None if not self.bound else max(0.0, (self.bound - self.value) / self.bound)


def summarize(planned: PlannedCampaign, name: str) -> PlanSummary:
    """The numbers of one planned campaign (nothing recomputed but loads)."""
    p, alloc, frame = planned.problem, planned.allocation, planned.decisions
    loads = p.loads(alloc.column)
    resources = pd.DataFrame(
        {
            "label": [r.label for r in planned.layout.resources],
            "channel": [r.channel for r in planned.layout.resources],
            "kind": [r.kind for r in planned.layout.resources],
            "capacity": [r.capacity for r in planned.layout.resources],
            "load": loads.astype(int),
            "price": alloc.prices,
        }
    )
    contacted = frame[frame["channel"] != NONE]
    slots = pd.to_datetime(planned.layout.slots_us, unit="us", utc=True)
    hourly = (
        contacted.groupby(["send_at", "channel"]).size().unstack(fill_value=0).reindex(slots, fill_value=0)
        if len(contacted)
        else pd.DataFrame(index=slots)
    )
    hourly = hourly.reindex(columns=list(CHANNELS), fill_value=0)
    return PlanSummary(
        name=name,
        customers=len(frame),
        contacts={str(k): int(v) for k, v in contacted["channel"].value_counts().items()},
        budget=p.budget,
        spent=p.spend(alloc.column),
        incremental_conversions=float(contacted["uplift"].sum()),
        value=alloc.value,
        unconstrained_value=planned.unconstrained.value,
        unconstrained_feasible=p.feasible(planned.unconstrained.column),
        greedy_value=planned.greedy.value,
        bound=alloc.bound,
        resources=resources,
        hourly=hourly,
    )


def day_rows(summary: PlanSummary) -> list[tuple[str, str, str, str, str]]:
    """The resources for a console: hour limits folded per channel and day (peak hour shown)."""
    out = []
    res = summary.resources
    for _, r in res[res["kind"] != "hour"].iterrows():
        out.append((r["label"], f"{r['capacity']:,}", f"{r['load']:,}", _use(r["load"], r["capacity"]),
                    f"{r['price']:.3f}"))  # fmt: skip
    hours = res[res["kind"] == "hour"].copy()
    if len(hours):
        hours["day"] = hours["label"].str.split(" ").str[:2].str.join(" ")
        for day, g in hours.groupby("day", sort=False):
            peak = g.loc[g["load"].idxmax()]
            full = int((g["load"] >= g["capacity"]).sum())
            out.append(
                (
                    f"{day} ({len(g)} office hour{'s' if len(g) > 1 else ''})",
                    f"{int(g['capacity'].sum()):,}",
                    f"{int(g['load'].sum()):,}",
                    f"{_use(g['load'].sum(), g['capacity'].sum())}, {full} hours full, peak {peak['load']}"
                    f"/{peak['capacity']}",
                    f"{g['price'].max():.3f} max",
                )
            )
    return out


def _use(load: float, capacity: float) -> str:
    return "n/a" if capacity <= 0 else f"{load / capacity:.0%}"


def print_summary(summary: PlanSummary, echo: Callable[[str], None]) -> None:
    """The plan's verdict in words, then the load table (rich)."""
    from rich.console import Console
    from rich.table import Table

    echo(headline(summary))
    for line in warnings(summary):
        echo(f"warning: {line}")
    table = Table("resource", "capacity", "booked", "use", "shadow price", title=f"plan {summary.name}: load")
    for row in day_rows(summary):
        table.add_row(*row)
    if summary.budget is not None:
        table.add_row("budget", f"{summary.budget:,.2f}", f"{summary.spent:,.2f}",
                      _use(summary.spent, summary.budget), "")  # fmt: skip
    Console(width=140).print(table)


def headline(s: PlanSummary) -> str:
    mix = ", ".join(f"{k} {v:,}" for k, v in sorted(s.contacts.items(), key=lambda kv: -kv[1])) or "nobody"
    lost = s.unconstrained_value - s.value
    gap = "" if s.gap is None else f"; within {s.gap:.2%} of the best any plan could do (dual bound)"
    return (
        f"plan {s.name}: {s.customers:,} customers -> {mix}; spent {s.spent:,.2f}"
        + ("" if s.budget is None else f" of {s.budget:,.2f}")
        + f"; expected incremental conversions {s.incremental_conversions:,.1f}; expected net value "
        f"{s.value:,.2f} (limits cost {lost:,.2f} against the unconstrained plan; greedy then cut at "
        f"capacity would get {s.greedy_value:,.2f}{_versus(s.value, s.greedy_value)}){gap}"
    )


def _versus(ours: float, other: float) -> str:
    if other <= 0:
        return ", nothing"
    return f", {ours / other - 1:+.1%} for the joint allocation"


def warnings(s: PlanSummary) -> list[str]:
    """Numbers a marketer could misread, in words."""
    out = []
    if s.greedy_value > s.value + 1e-9:
        out.append(f"greedy then cut ({s.greedy_value:,.2f}) beat the joint allocation ({s.value:,.2f})")
    if s.unconstrained_feasible:
        out.append("no limit of the plan binds: the plan is the unconstrained decision")
    if not s.contacts:
        out.append("the plan contacts nobody: every option is worth less than leaving customers alone")
    return out


def write_html(s: PlanSummary, path: Path) -> Path:
    """A self-contained page: the verdict, the resource table, contacts per channel and hour."""
    rows = "".join(
        f"<tr><td>{html.escape(r['label'])}</td><td>{r['capacity']:,}</td><td>{r['load']:,}</td>"
        f"<td style='background:{_shade(r['load'], r['capacity'])}'>{_use(r['load'], r['capacity'])}</td>"
        f"<td>{r['price']:.3f}</td></tr>"
        for _, r in s.resources.iterrows()
    )
    if s.budget is not None:
        shade, use = _shade(s.spent, s.budget), _use(s.spent, s.budget)
        rows += (f"<tr><td>budget</td><td>{s.budget:,.2f}</td><td>{s.spent:,.2f}</td>"
                 f"<td style='background:{shade}'>{use}</td><td></td></tr>")  # fmt: skip
    hourly = s.hourly[[c for c in s.hourly.columns if s.hourly[c].sum() > 0]]
    heads = "".join(f"<th>{html.escape(c)}</th>" for c in hourly.columns)
    body = "".join(
        f"<tr><td>{t:%a %d %b %H:00} UTC</td>" + "".join(f"<td>{int(v):,}</td>" for v in row) + "</tr>"
        for t, row in zip(hourly.index, hourly.to_numpy(), strict=True)
    )
    notes = "".join(f"<p class='warn'>warning: {html.escape(w)}</p>" for w in warnings(s))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>plan {html.escape(s.name)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child{{text-align:left}}
.warn{{color:#a00;font-weight:bold}}</style></head><body>
<h1>Campaign plan {html.escape(s.name)}</h1><p>{html.escape(headline(s))}</p>{notes}
<h2>Limited resources: load against capacity</h2><table><tr><th>resource</th><th>capacity</th>
<th>booked</th><th>use</th><th>shadow price</th></tr>{rows}</table>
<h2>Contacts per channel and hour</h2><table><tr><th>hour</th>{heads}</tr>{body}</table></body></html>"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path


def _shade(load: float, capacity: float) -> str:
    share = 0.0 if capacity <= 0 else min(1.0, float(load) / capacity)
    return f"rgba(200,60,60,{np.round(share * 0.6, 2)})"
