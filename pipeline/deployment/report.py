"""The simulated deployment's report: `report.html` (self-contained), `report.json` and every
decision with its true value in `decisions.parquet`, in one output directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Template

from experiments.report import png_uri
from optichannel.economics import Economics
from pipeline.deployment.drift import after_drift, recovery_weeks
from pipeline.deployment.gap import weekly_gap
from pipeline.deployment.loop import Deployment
from pipeline.deployment.summary import (
    BAU,
    HOLDOUT,
    MODEL,
    closer_to_oracle,
    daily,
    heuristic_margin,
    late_sentences,
    margins,
    rise,
    served_versions,
    verdicts,
    weekly,
)

ARM_LABELS = {
    MODEL: "policy (the service's champion)",
    BAU: "business as usual",
    HOLDOUT: "no-contact holdout",
}

PAGE = Template("""<!doctype html><html><head><meta charset="utf-8"><title>Simulated deployment</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}
table{border-collapse:collapse;margin:1rem 0}
td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}.verdict{font-size:1.05rem;margin:.4rem 0}</style></head><body>
<h1>Simulated deployment: {{ days }} days, {{ customers }} customers</h1>
<p>The service's real decision path (decider, handed-out counters, decision log, outcome intake, contacts
export) ran day by day against a simulated bank; the model retrained every {{ retrain_every }} days through
the promotion gate. Values are the simulator's <em>true</em> expected net value per decision (value of a
conversion {{ value }}, minus the contact's cost): the truth judges, it never decided.</p>
{% for s in sentences %}<p class="verdict">{{ s }}</p>{% endfor %}
<h2>True value per decision, by day and arm</h2><img src="{{ chart }}" alt="true value per day">
<h2>By week</h2>{{ weekly }}
<h2>Policy minus business as usual, per decision</h2>
<p>Paired: each of the policy's decisions against what the bank's rules would have done for the same
customer at the same moment. Arms: the policy arm's incremental value against the business-as-usual arm's.</p>
{{ margins }}
<h2>Where the value goes: the service's decisions against the truth</h2>
<p>Per week, means over the service's decisions on the grid it decided on: the oracle (the best option
of the same one-day window under the same rules), the champion's greedy choice, what it served
(exploration included) and the heuristic at the same moments; the greedy choice's regret split into
contacting or not, the channel and the hour (the three sum to the regret); what a 72-hour window would
add to the oracle (the offline evaluation's window); exploration's cost (greedy minus served); and the
model's calibration on its own choices (its predicted value minus the true value).</p>
{{ gap }}
<h2>Customers whose best channel moved</h2>
<p>Value capture (the share of the oracle's gain over no contact that the served decisions earned) of the
customers whose preferences moved during the run, by week after the move, against everyone else's on the
same days.</p>
{{ drift }}
<h2>Which model was champion when</h2>{{ champions }}
<h2>Off-policy estimate on the deployment's own logs</h2>
<p>The estimator that gates promotion (doubly robust over the policy's channel, or, with
<code>evaluation.hour_window</code>, a few hours of it), on every decision the deployment logged, with the
truth of the same choices beside it.</p>{{ ope }}
{% for n in notes %}<p><em>{{ n }}</em></p>{% endfor %}
<h2>The loop, day by day</h2>{{ days_table }}
</body></html>""")


def _plain(row: pd.Series) -> dict[str, float | str]:
    """A table row for JSON: numbers as floats, names (the estimate's cluster) as they are."""
    return {k: v if isinstance(v, str) else float(v) for k, v in row.items()}


def _records(frame: pd.DataFrame, key: str) -> list[dict[str, float | int]]:
    """A weekly table for JSON: one record per row, its index under `key`."""
    return [{key: int(i), **{k: float(v) for k, v in row.items()}} for i, row in frame.iterrows()]


def _chart(per_day: pd.DataFrame) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    for arm in (MODEL, BAU, HOLDOUT):
        if arm in per_day:
            series = per_day[arm].dropna()
            ax.plot(pd.to_datetime(series.index), series.to_numpy(), marker="o", label=ARM_LABELS[arm])
    ax.set_ylabel("true net value per decision")
    ax.legend(frameon=False)
    fig.autofmt_xdate()
    return png_uri(fig)


def _html(frame: pd.DataFrame | None, digits: int = 3) -> str:
    if frame is None or frame.empty:
        return "<p>none</p>"
    return frame.to_html(float_format=lambda v: f"{v:.{digits}f}", na_rep="", border=0)


def write_report(dep: Deployment, out: Path) -> dict[str, Any]:
    """Write the three files; returns the JSON payload (which holds the verdict sentences)."""
    out.mkdir(parents=True, exist_ok=True)
    week, margin, gap = weekly(dep.decisions), margins(dep.decisions), weekly_gap(dep.decisions)
    said = verdicts(week, margin, dep.ope, served_versions(dep.decisions))
    beyond, rose, moved = heuristic_margin(dep.decisions), rise(dep.decisions), after_drift(dep.decisions)
    recovery = recovery_weeks(moved)
    closer = closer_to_oracle(dep.decisions)
    said.sentences.extend(late_sentences(beyond, rose, recovery, not moved.empty, closer))
    dep.decisions.to_parquet(out / "decisions.parquet", index=False)
    cfg = dep.config
    ope = dep.ope
    payload = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
        "verdicts": said.sentences,
        "rises_every_week": said.rises,
        "beats_business_as_usual": said.beats_bau,
        "ope_covers_truth": said.ope_covers,
        "ope_effective_n": said.ope_effective,
        "weekly": [
            {"week": int(w), "arm": a, **{k: float(v) for k, v in row.items()}}
            for (w, a), row in week.iterrows()
        ],
        "heuristic_margin": beyond,
        "rise": rose,
        "closer_to_oracle": closer,
        "drift_recovery_weeks": recovery,
        "drift": [
            {"week_after": int(w), **{k: float(v) for k, v in row.items()}} for w, row in moved.iterrows()
        ],
        "gap": [{"week": int(w), **{k: float(v) for k, v in row.items()}} for w, row in gap.iterrows()],
        "margins": [
            {"week": int(w), **{k: float(v) for k, v in row.items()}} for w, row in margin.iterrows()
        ],
        "champions": dep.champions.astype(str).to_dict("records"),
        "ope": None if ope is None else {p: _plain(r) for p, r in ope.iterrows()},
        "notes": dep.notes,
    }
    (out / "report.json").write_text(json.dumps(payload, indent=2, default=str))
    week_view = week.rename(index=ARM_LABELS, level="arm")
    shown = ("estimate", "lo", "hi", "cluster", "effective_n", "true_value")
    ope_view = None if ope is None else ope[[c for c in shown if c in ope]]
    html = PAGE.render(
        days=cfg.days, customers=f"{cfg.customers:,}", retrain_every=cfg.retrain_every,
        value=Economics().value_per_conversion,
        sentences=said.sentences, chart=_chart(daily(dep.decisions)), weekly=_html(week_view),
        margins=_html(margin), gap=_html(gap.T), drift=_html(moved), champions=_html(dep.champions),
        ope=_html(ope_view), notes=dep.notes,
        days_table=_html(dep.days, 1),
    )  # fmt: skip
    (out / "report.html").write_text(html)
    return payload
