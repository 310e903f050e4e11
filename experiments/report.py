"""The HTML report a marketer reads without help: one self-contained file, charts inlined.

Everything (styles, charts as base64 PNG) lives inside the output file, so it can be mailed or opened
offline and nothing is fetched from the network. Charts use matplotlib's object API on an Agg
canvas, which changes no global backend state.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis import Analysis
from experiments.design import Design, power_at
from experiments.report_units import NOT_ESTIMABLE, Units, money, p_value, pct, pts
from optichannel.uplift_metrics import QiniSummary

#: the Jinja2 template, shipped next to this module (package data)
TEMPLATE_NAME = "report.html.j2"
_BLUE, _GREY, _GREEN, _RED = "#1f5fa8", "#9aa3ad", "#2e8b57", "#c0392b"
_CHANNEL_COLOURS = {
    "email": "#1f5fa8",
    "sms": "#e67e22",
    "push": "#8e44ad",
    "call": "#2e8b57",
    "messenger": "#16a085",
    "none": "#bdc3c7",
}


def png_uri(fig: Any) -> str:
    """Figure -> data URI (no software metadata, so the file carries no links at all)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(rows: int) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, max(1.8, 0.45 * rows + 1.0)), layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _rates_chart(analysis: Analysis, level: str, units: Units) -> str:
    arms = analysis.arms.iloc[::-1].fillna({"rate": 0.0, "rate_lo": 0.0, "rate_hi": 0.0})
    fig, ax = _figure(len(arms))
    colours = [_GREY if a == analysis.control else _BLUE for a in arms.index]
    # an interval that excludes its own estimate by rounding (Wilson at 0/n gives lo = 5e-20 > 0) would make a
    # negative error bar, which matplotlib refuses: a bar never reaches past its own end
    err = np.vstack([arms["rate"] - arms["rate_lo"], arms["rate_hi"] - arms["rate"]]) * units.scale
    err = np.clip(err, 0.0, None)
    ax.barh(arms.index, arms["rate"] * units.scale, xerr=err, color=colours, capsize=4)
    unit = ", %" if units.outcome.binary else ""
    ax.set_xlabel(f"{units.labels()['level']}{unit} (bars: {level} interval)")
    return png_uri(fig)


def _forest(
    table: pd.DataFrame, labels: list[str], level: str, units: Units, truth: np.ndarray | None = None
) -> str:
    """Uplift estimates with intervals (points, or the outcome's units) against the zero line."""
    est, lo, hi = (
        table[c].to_numpy(dtype=np.float64) * units.scale for c in ("uplift_abs", "abs_lo", "abs_hi")
    )
    fig, ax = _figure(len(labels))
    y = np.arange(len(labels))[::-1]
    colours = [_GREEN if a > 0 else _RED if b < 0 else _GREY for a, b in zip(lo, hi, strict=True)]
    ax.axvline(0, color="black", linewidth=0.8)
    ax.hlines(y, lo, hi, colors=colours, linewidth=3)
    ax.scatter(est, y, color=colours, zorder=3, label="estimate")
    if truth is not None and np.isfinite(truth).any():
        ax.scatter(truth * 100, y, marker="x", color="black", zorder=4, label="true uplift")
        ax.legend(fontsize=8, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_yticks(y, labels)
    unit = "percentage points" if units.outcome.binary else units.labels()["diff"]
    ax.set_xlabel(f"uplift vs control, {unit} (line: {level} interval)")
    return png_uri(fig)


def _channel_chart(by_channel: pd.DataFrame) -> str:
    mix = by_channel.pivot_table(index="arm", columns="channel", values="share_of_arm", fill_value=0.0)
    mix = mix.reindex(list(dict.fromkeys(by_channel["arm"]))[::-1])
    mix = mix[
        sorted(mix.columns, key=lambda c: list(_CHANNEL_COLOURS).index(c) if c in _CHANNEL_COLOURS else 99)
    ]
    fig, ax = _figure(len(mix))
    left = np.zeros(len(mix))
    for channel in mix.columns:
        colour = _CHANNEL_COLOURS.get(channel, _GREY)
        ax.barh(mix.index, mix[channel] * 100, left=left, label=channel, color=colour)
        left += mix[channel].to_numpy() * 100
    ax.set_xlabel("share of the arm's customers by first action, %")
    ax.legend(ncol=6, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False)
    return png_uri(fig)


def _qini_chart(qinis: Sequence[QiniSummary]) -> str:
    """Qini curves against the random line (the perfect curve would flatten everything else)."""
    fig, ax = _figure(8)
    for q in qinis:
        ax.plot(q.x * 100, q.qini, label=f"{q.label} (Qini coefficient {q.qini_auc:.3f})")
        ax.plot([0, 100], [0, q.qini[-1]], color="black", linestyle="--", linewidth=0.8)
    ax.plot([], [], color="black", linestyle="--", linewidth=0.8, label="random targeting")
    ax.axhline(0, color=_GREY, linewidth=0.6)
    ax.set_xlabel("customers targeted, % (highest model score first)")
    ax.set_ylabel("incremental conversions")
    ax.legend(fontsize=8)
    return png_uri(fig)


def _cost(value: float, has_cost: bool) -> str:
    return money(value) if has_cost else "no cost data"


def _arm_rows(analysis: Analysis, units: Units, has_cost: bool) -> list[dict[str, str]]:
    return [
        {
            "arm": arm + (" (control)" if arm == analysis.control else ""),
            "n": f"{int(r['n']):,}",
            "share": f"{pct(r['share'], 1)} (planned {pct(r['planned_share'], 1)})"
            if math.isfinite(r["planned_share"])
            else pct(r["share"], 1),
            "conversions": f"{r['conversions']:,.0f}" if units.outcome.binary else f"{r['conversions']:,.2f}",
            "rate": NOT_ESTIMABLE
            if r["n"] == 0
            else units.interval(r["rate"], r["rate_lo"], r["rate_hi"], level=True),
            "cost": _cost(r["cost"], has_cost),
        }
        for arm, r in analysis.arms.iterrows()
    ]


def _comparison_rows(
    analysis: Analysis, truth: Mapping[str, float] | None, units: Units, has_cost: bool
) -> list[dict[str, str]]:
    rows = []
    for arm, r in analysis.comparisons.iterrows():
        true = (truth or {}).get(arm)
        covered = None if true is None else bool(r["abs_lo"] <= true <= r["abs_hi"])
        incremental = (
            f"{r['incremental']:,.0f} ({r['incremental_lo']:,.0f} to {r['incremental_hi']:,.0f})"
            if math.isfinite(r["incremental"])
            else NOT_ESTIMABLE
        )
        rows.append(
            {
                "arm": arm,
                "uplift": units.interval(r["uplift_abs"], r["abs_lo"], r["abs_hi"]),
                "relative": NOT_ESTIMABLE
                if not math.isfinite(r["uplift_rel"])
                else f"{pct(r['uplift_rel'], 1)} ({pct(r['rel_lo'], 1)} to {pct(r['rel_hi'], 1)})",
                "p": p_value(r["p_adjusted"]),
                "significant": "yes" if r["significant"] else "no",
                "incremental": incremental,
                "extra_cost": _cost(r["extra_cost"], has_cost),
                "cpic": _cost(r["cost_per_incremental"], has_cost),
                "note": r["cost_note"] if has_cost else "",
                "truth": "" if true is None else pts(true),
                "covered": "" if covered is None else ("yes" if covered else "NO"),
            }
        )
    return rows


def _sample_checks(analysis: Analysis, design: Design | None) -> list[dict[str, str]]:
    if design is None:
        return []
    reached = analysis.arms["n"].astype(int).to_dict()
    powers: dict[str, float] = {}
    if set(design.n_per_arm) == set(reached) and min(reached.values()) > 0:
        powers = power_at(reached, design.baseline_rate, design.mde_abs, design.control, design.alpha)
    return [
        {
            "arm": arm,
            "planned": f"{planned:,}",
            "reached": f"{reached.get(arm, 0):,}",
            "ok": "yes" if reached.get(arm, 0) >= planned else "NO",
            "power": f"{powers[arm]:.0%}" if arm in powers else "–",
        }
        for arm, planned in design.n_per_arm.items()
    ]


def _segment_table(analysis: Analysis, units: Units) -> list[dict[str, str]]:
    seg = analysis.by_segment
    if seg is None:
        return []
    return [
        {
            "segment": str(r["segment"]),
            "arm": str(r["arm"]),
            "n": f"{int(r['n']):,} / {int(r['control_n']):,}",
            "rates": f"{units.level(r['rate'])} vs {units.level(r['control_rate'])}",
            "uplift": units.interval(r["uplift_abs"], r["abs_lo"], r["abs_hi"]),
            "p": p_value(r["p_value"]),
        }
        for _, r in seg.iterrows()
    ]


def _segment_labels(seg: pd.DataFrame) -> list[str]:
    return [f"{s} · {a}" for s, a in zip(seg["segment"], seg["arm"], strict=True)]


def _channel_rows(analysis: Analysis) -> list[dict[str, str]]:
    if analysis.by_channel is None:
        return []
    return [
        {
            "arm": str(r["arm"]),
            "channel": str(r["channel"]),
            "n": f"{int(r['n']):,}",
            "share": pct(r["share_of_arm"], 1),
            "rate": pct(r["rate"]),
        }
        for _, r in analysis.by_channel.iterrows()
    ]


def render_report(
    analysis: Analysis,
    out_path: str | Path,
    title: str = "A/B test report",
    design: Design | None = None,
    qini: QiniSummary | Sequence[QiniSummary] | None = None,
    truth: Mapping[str, float] | None = None,
) -> Path:
    """Write the report to `out_path` (parent directories created) and return the path.

    `truth` maps arm -> true absolute uplift vs the control (known in a simulation) and adds a
    panel saying whether each interval covers it.
    """
    from importlib.resources import files

    from jinja2 import Environment

    cmp = analysis.comparisons
    units = Units(analysis.outcome)
    has_cost = bool(analysis.arms["cost"].notna().any())
    qinis = [qini] if isinstance(qini, QiniSummary) else list(qini or [])
    seg = analysis.by_segment
    level = f"{1 - analysis.alpha:.0%}"
    truth_arr = np.array([(truth or {}).get(a, np.nan) for a in cmp.index], dtype=np.float64)
    charts = {
        "rates": _rates_chart(analysis, level, units),
        "uplift": _forest(cmp, list(cmp.index), level, units, truth_arr)
        if cmp["uplift_abs"].notna().any()
        else None,
        "channels": None if analysis.by_channel is None else _channel_chart(analysis.by_channel),
        "segments": None
        if seg is None or not seg["uplift_abs"].notna().any()
        else _forest(seg, _segment_labels(seg), level, units),
        "qini": _qini_chart(qinis) if qinis else None,
    }
    html = (
        Environment(autoescape=True)
        .from_string(files("experiments").joinpath(TEMPLATE_NAME).read_text(encoding="utf-8"))
        .render(
            title=title,
            headline=analysis.headline,
            level=level,
            alpha=analysis.alpha,
            control=analysis.control,
            arms=_arm_rows(analysis, units, has_cost),
            comparisons=_comparison_rows(analysis, truth, units, has_cost),
            labels=units.labels(),
            outcome_binary=analysis.outcome.binary,
            outcome_name=analysis.outcome.name,
            warnings=analysis.warnings,
            has_cost=has_cost,
            truth=truth is not None,
            charts=charts,
            channel_rows=_channel_rows(analysis),
            segment_rows=_segment_table(analysis, units),
            qinis=qinis,
            srm=analysis.srm,
            design=design,
            sample_rows=_sample_checks(analysis, design),
            notes=analysis.notes,
        )
    )
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
