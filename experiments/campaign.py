"""A simulated A/B campaign on the simulator's bank, where the true uplift is known.

Customers known at decision time `at` are assigned to arms by the stable hash; each arm's
policy decides on the same candidate grid the model is scored on (model: best net value with
the economics it was trained with; bau: the bank's business rules; random: a uniformly random
allowed option; holdout: no contact). Outcomes are drawn from the oracle's true probabilities of
the chosen option, analysed like a real test, and written as the HTML report. Every policy is
also applied to all sampled customers, so each arm's true expected conversion rate, and with it
the true uplift the report's interval should cover, is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from decision.baselines import business_rules, never_contact, random_allowed
from decision.choice import Choice
from decision.engine import Engine
from experiments.analysis import Analysis, analyze, qini_for
from experiments.campaign_population import default_time, sample_customers
from experiments.design import Design
from experiments.planned_campaign import PlanInputs, apply_plan
from experiments.planned_campaign import inputs as plan_inputs
from experiments.report import render_report
from features.candidates import window_us
from features.store import historical_features, open_store
from features.store_definitions import JOIN_KEY, TIMESTAMP
from optichannel.assignment import assign_arms, check_shares
from optichannel.campaign_plan import CampaignPlan
from optichannel.capacity import Layout, plan_layout
from optichannel.channels import action_names
from optichannel.hour_slots import slot_grid
from optichannel.model_bundle import NextBestChannelModel
from optichannel.progress import progress_bar
from optichannel.settings import Settings
from optichannel.uplift_metrics import QiniSummary
from simulator.oracle import Oracle

if TYPE_CHECKING:
    from feast import FeatureStore

#: the arms a campaign knows how to run, by name
POLICIES = ("model", "bau", "random", "holdout")
DEFAULT_ARMS = {"model": 0.4, "bau": 0.4, "random": 0.1, "holdout": 0.1}
#: customers decided per step (bounds the memory of the candidate grid)
CHUNK = 500
#: age bands of the report's segment table (age at the decision)
AGE_BANDS = ((0, 35, "under 35"), (35, 55, "35-54"), (55, 200, "55+"))


@dataclass
class CampaignResult:
    """The drawn test (one row per customer), its analysis and what the truth says."""

    experiment: str
    at: pd.Timestamp
    window_hours: int
    arms: dict[str, float]
    control: str
    seed: int
    outcomes: pd.DataFrame
    true_rates: dict[str, float]  # arm -> true expected conversion rate over all sampled customers
    analysis: Analysis
    qini: QiniSummary | None
    report: Path | None

    @property
    def true_uplift(self) -> dict[str, float]:
        """Arm -> true absolute uplift against the control (the number each interval should cover)."""
        base = self.true_rates[self.control]
        return {a: r - base for a, r in self.true_rates.items() if a != self.control}

    def summary(self) -> pd.DataFrame:
        """Per arm: customers, observed and true rate, estimated uplift with interval, true uplift."""
        arms = self.analysis.arms
        cmp = self.analysis.comparisons.reindex(arms.index)
        table = pd.DataFrame(
            {
                "n": arms["n"].astype(int),
                "rate": arms["rate"],
                "true_rate": [self.true_rates[a] for a in arms.index],
                "uplift": cmp["uplift_abs"],
                "lo": cmp["abs_lo"],
                "hi": cmp["abs_hi"],
                "true_uplift": [self.true_uplift.get(a, np.nan) for a in arms.index],
            }
        )
        inside = (table["lo"] <= table["true_uplift"]) & (table["true_uplift"] <= table["hi"])
        table["covered"] = [None if a == self.control else bool(c) for a, c in inside.items()]
        return table


def check_arms(arms: Mapping[str, float], control: str = "bau") -> dict[str, float]:
    """Validated shares of arms a campaign can run, the control among them."""
    shares = check_shares(arms)
    unknown = sorted(set(shares) - set(POLICIES))
    if unknown:
        raise ValueError(f"arms: unknown policy {', '.join(unknown)}; a campaign knows {', '.join(POLICIES)}")
    if control not in shares:
        raise ValueError(f"control arm {control!r} is not among the arms ({', '.join(shares)})")
    return shares


def age_band(birth_year: pd.Series, at: pd.Timestamp) -> np.ndarray:
    age = at.year - pd.to_numeric(birth_year, errors="coerce").to_numpy(dtype=float)
    out = np.full(len(age), "unknown", dtype=object)
    for lo, hi, label in AGE_BANDS:
        out[(age >= lo) & (age < hi)] = label
    return out


def _random_rate(truth: dict[str, np.ndarray], allowed: np.ndarray) -> np.ndarray:
    """Exact expected true conversion of a uniformly random allowed option (no contact if none)."""
    count = allowed.sum(axis=(1, 2))
    mean = (truth["p_conversion"] * allowed).sum(axis=(1, 2)) / np.maximum(count, 1)
    return np.where(count > 0, mean, truth["p_none"])


def _decide_chunk(
    ids: np.ndarray,
    feats: pd.DataFrame,
    arm: np.ndarray,
    at: pd.Timestamp,
    hours: int,
    oracle: Oracle,
    engine: Engine,
    rng: np.random.Generator,
    layout: Layout | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], PlanInputs | None]:
    """Every arm's choice for these customers, the drawn outcome of their own arm, and per
    policy the true conversion probability of its choice for every customer (with a plan's
    `layout`: also what `experiments.planned_campaign` needs to allocate under its limits)."""
    econ = engine.econ
    grid = engine.grid(feats, at, hours)  # the engine's rules (a plan's office hours included)
    truth = oracle.grid(ids, at, hours)
    allowed = truth["allowed"] & grid.allowed
    scored = engine.score(grid)
    affluent = oracle.lat.affluent[oracle.positions(ids)]
    choices = {
        "model": engine.choose(grid, scored, within=truth["allowed"]),
        "bau": business_rules(affluent, grid.consent, grid.local_hour, allowed),
        "random": random_allowed(allowed, rng),
        "holdout": never_contact(len(ids)),
    }
    true_p = {name: c.take(truth["p_conversion"], truth["p_none"]) for name, c in choices.items()}
    true_p["random"] = _random_rate(truth, allowed)
    planned = None
    if layout is not None:
        planned = plan_inputs(layout, *scored.values(econ), allowed, truth, grid.local_hour, choices)
    # the model's predicted uplift of the contact it would send (its choice whenever it contacts)
    best = engine.choose(grid, scored, "contact", within=truth["allowed"])
    score = np.where(best.contacted, best.take(scored.p_conversion, 0.0) - scored.p_none, 0.0)

    rows = np.arange(len(ids))
    pick = np.array([POLICIES.index(a) for a in arm])
    channel = np.stack([choices[p].channel for p in POLICIES])[pick, rows]
    slot = np.stack([choices[p].slot for p in POLICIES])[pick, rows]
    own = Choice(channel, slot, np.zeros(len(ids)))
    p_resp, p_conv = own.take(truth["p_response"], 0.0), own.take(truth["p_conversion"], truth["p_none"])
    contact = own.contacted
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "arm": arm,
            "channel": action_names(channel),
            "send_at": pd.Series(pd.to_datetime(grid.slots_us[rows, slot], unit="us", utc=True)).where(
                contact
            ),
            "local_hour": np.where(contact, grid.local_hour[rows, slot], -1),
            "cost": econ.contact_cost(channel),
            "responded": (rng.random(len(ids)) < p_resp).astype(np.int64),
            "converted": (rng.random(len(ids)) < p_conv).astype(np.int64),
            "true_p_conversion": p_conv,
            "true_p_none": truth["p_none"],
            "score": score,
            "segment": age_band(feats["prf_birth_year"], at) if "prf_birth_year" in feats else "all",
        }
    )
    return frame, true_p, planned


def run_campaign(
    settings: Settings,
    world_dir: Path,
    model: NextBestChannelModel,
    *,
    at: pd.Timestamp | str | None = None,
    customers: int | None = 2000,
    arms: Mapping[str, float] = DEFAULT_ARMS,
    window_hours: int = 72,
    seed: int = 7,
    salt: str = "",
    experiment: str = "simulated-ab",
    control: str = "bau",
    out: Path | None = Path("reports/ab_test.html"),
    design: Design | None = None,
    store: FeatureStore | None = None,
    progress: bool = True,
    plan: CampaignPlan | None = None,
) -> CampaignResult:
    """Run the whole simulated test and (unless `out` is None) write its HTML report. With a
    `plan`, every arm runs under its share of the plan's limits (`experiments.planned_campaign`)."""
    shares = check_arms(arms, control)
    if window_hours < 1:
        raise ValueError(f"window_hours must be at least 1, got {window_hours}")
    oracle = Oracle.load(world_dir)
    at = default_time(world_dir, window_hours) if at is None else pd.Timestamp(at)
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    ids = sample_customers(world_dir, at, customers, seed)
    arm = assign_arms(ids, experiment, shares, salt=salt)
    engine = Engine.of(model, settings)  # the deployment's rules: what the model is served under
    layout = None
    if plan is not None:
        engine = engine.with_rules(engine.rules.for_plan(plan))
        layout = plan_layout(plan, engine.econ, slot_grid(window_us(at, 1), window_hours)[0])
    rng = np.random.default_rng(seed)
    frames, true_p, planned = [], {p: [] for p in POLICIES}, []
    with progress_bar(progress and settings.show_progress) as bar:
        fetch = bar.add_task("campaign: point-in-time features", total=1)
        entity = pd.DataFrame({JOIN_KEY: ids, TIMESTAMP: at})
        feats = historical_features(store or open_store(settings), entity)
        bar.advance(fetch)
        task = bar.add_task("campaign: decisions and outcomes", total=len(ids))
        for start in range(0, len(ids), CHUNK):
            part = slice(start, start + CHUNK)
            frame, probs, inputs = _decide_chunk(
                ids[part],
                feats.iloc[part],
                arm[part],
                at,
                window_hours,
                oracle,
                engine,
                rng,
                layout,
            )
            frames.append(frame)
            planned.append(inputs)
            for name, values in probs.items():
                true_p[name].append(values)
            bar.advance(task, len(frame))
    outcomes = pd.concat(frames, ignore_index=True)
    true_rates = {a: float(np.concatenate(true_p[a]).mean()) for a in shares}
    if plan is not None and layout is not None:
        outcomes, limited = apply_plan(outcomes, PlanInputs.concat(planned), layout, plan, shares, rng)
        true_rates = {a: float(limited[a].mean()) for a in shares}
    analysis = analyze(outcomes, control, planned_shares=shares)
    qini = None
    if "model" in shares and control != "model":
        try:
            qini = qini_for(outcomes, "model", control)
        except ValueError:  # e.g. nobody converted in one of the arms: no curve to draw
            qini = None
    result = CampaignResult(
        experiment, at, window_hours, shares, control, seed, outcomes, true_rates, analysis, qini, None
    )
    if out is not None:
        title = f"A/B test {experiment}: {len(ids):,} simulated customers from {at:%Y-%m-%d %H:%M} UTC"
        result.report = render_report(
            analysis, out, title=title, design=design, qini=qini, truth=result.true_uplift
        )
    return result
