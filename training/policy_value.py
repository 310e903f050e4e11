"""What each policy is worth, estimated from logged decisions the way a bank without an oracle
must: the model's candidates, the champion and the simple baselines all decide on the campaign
days of the held-out test weeks, and doubly robust evaluation (`optichannel.off_policy.cluster_dr`)
estimates each one's net value per decision from what actually happened there: the logged outcomes
on a policy's channel correct the reward model's value of it, or, with `evaluation.hour_window`,
those within a few hours of its slot (`hour_window_match`). This is what chooses the learner
and gates promotion. In a simulated world the oracle's true value of the very same choices is put
beside each estimate, to show whether the estimate tracks the truth; it never enters a choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from decision import baselines as policies
from decision.choice import Choice
from decision.engine import Engine
from decision.grid import CandidateGrid, candidate_grid
from decision.rules import Rules
from decision.scoring import Scored
from features.store import historical_features
from features.store_definitions import JOIN_KEY, TIMESTAMP
from optichannel.channels import NO_CONTACT, action_codes
from optichannel.economics import Economics
from optichannel.hour_slots import US_PER_HOUR
from optichannel.localtime import local_day_start
from optichannel.model_bundle import NextBestChannelModel
from optichannel.off_policy import bootstrap_means, cluster_dr, hour_window_match
from training.config import Evaluation
from training.dataset import TrainingFrame

if TYPE_CHECKING:
    from feast import FeatureStore

#: the on-policy baseline: what the bank's business-as-usual arm earned (or the whole log)
BAU = "business_as_usual"
#: a policy whose channel-matched logged weight sits at its own slot for at least this share is
#: estimated over whole channels (see `_clusters`)
ON_SLOT = 0.75
#: the cluster name of an estimate corrected by every logged decision on the policy's channel
WHOLE_CHANNEL = "whole channel"
#: below this effective sample size an estimate is flagged as resting on few decisions
FEW_EFFECTIVE = 300


@dataclass
class LoggedContext:
    """The test weeks' logged decisions and everything about them that no model changes."""

    rows: pd.DataFrame  # the training frame's test rows with a known conversion and propensities
    grid: CandidateGrid  # each decision's campaign day as a candidate window
    logged_channel: np.ndarray  # action code (NO_CONTACT = none)
    propensity: np.ndarray  # of the logged action (window) or of its channel at any hour (channel)
    logged_slot: np.ndarray  # the logged send time's slot in the grid (-1 outside it)
    window: int | None  # hours either side of a policy's slot whose logged decisions count; None: channel
    fixed: dict[str, Choice]
    rules: Rules  # the deployment's: what every policy here decides under
    truth: dict[str, np.ndarray] | None = None  # oracle grid + true value of the logged action
    notes: list[str] = field(default_factory=list)
    channel_propensity: np.ndarray | None = None  # of the logged channel at any hour, where all are known

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def econ(self) -> Economics:
        return self.rules.econ


def prepare(
    store: FeatureStore,
    tf: TrainingFrame,
    cfg: Evaluation,
    rules: Rules,
    oracle: object | None = None,
) -> LoggedContext:
    """Test decisions with a known outcome and channel propensity, their campaign-day grids under
    the deployment's `rules` and the fixed baselines' choices; with a simulator's `oracle`, the
    truth of the same windows."""
    f = tf.frame
    rows = f[(f["split"] == "test") & f["converted"].notna()]
    window, column, notes = _design(rows, cfg.hour_window)
    known = rows[column] > 0
    if (~known).any():
        notes.append(f"{int((~known).sum()):,} test decisions without a {column}: left out")
    rows = rows[known].reset_index(drop=True)
    if rows.empty:
        raise ValueError("no test decision with a known conversion is left to evaluate policies on")
    entity = pd.DataFrame({JOIN_KEY: rows["customer_id"].astype(str), TIMESTAMP: rows["sent_at"]})
    feats = historical_features(store, entity)
    hours = cfg.campaign_hours
    start = local_day_start(rows["sent_at"], feats["prf_tz"], hours[0])
    grid = candidate_grid(feats, start, hours[1] - hours[0], rules, params=tf.request_params)
    fixed = {
        "heuristic": policies.heuristic(feats, grid.local_hour, grid.allowed),
        "always_email": policies.always_email(grid.local_hour, grid.allowed),
        "never_contact": policies.never_contact(len(rows)),
    }
    sent_us = rows["sent_at"].astype("datetime64[us, UTC]").astype("int64").to_numpy()
    slot = (sent_us - grid.slots_us[:, 0]) // US_PER_HOUR
    ctx = LoggedContext(
        rows,
        grid,
        action_codes(rows["channel"].to_numpy()),
        rows[column].to_numpy(dtype=float),
        np.where((slot >= 0) & (slot < grid.slots_us.shape[1]), slot, -1),
        window,
        fixed,
        rules,
        notes=notes,
    )
    if window is not None and "channel_propensity" in rows and (rows["channel_propensity"] > 0).all():
        ctx.channel_propensity = rows["channel_propensity"].to_numpy(dtype=float)
    if oracle is not None:
        ctx.truth = _truth(oracle, ctx, start, hours[1] - hours[0])
    return ctx


def _design(rows: pd.DataFrame, hour_window: int | None) -> tuple[int | None, str, list[str]]:
    """(hour window or None for whole channels, the propensity column it weighs by, notes): the
    hour window when asked for (or when only each logged action's propensity is known), else
    whole channels."""
    logged = {c for c in ("propensity", "channel_propensity") if c in rows and rows[c].notna().any()}
    if not logged:
        raise ValueError(
            "the contacts feed has no propensity: a policy's value cannot be estimated from logged "
            "decisions without the logging policy's probabilities (log `propensity` and `channel_propensity`)"
        )
    if "propensity" in logged and (hour_window is not None or "channel_propensity" not in logged):
        window = 0 if hour_window is None else hour_window
        notes = []
        if window == 0:
            notes.append(
                "only decisions where a policy picks the logged channel and hour count (hour_window 0, "
                "or no channel_propensity to fall back on), so the estimates rest on few decisions"
            )
        return window, "propensity", notes
    notes = []
    if "propensity" not in logged:
        notes.append(
            "no propensity of the logged hour in the contacts: each channel's logged outcomes correct the "
            "estimates as a whole, so they trust the model's ranking of hours; log `propensity` too"
        )
    return None, "channel_propensity", notes


def _truth(oracle: object, ctx: LoggedContext, start: pd.Series, hours: int) -> dict[str, np.ndarray]:
    ids = ctx.rows["customer_id"].to_numpy()
    truth = oracle.grid(ids, start, hours)  # type: ignore[attr-defined]
    truth["allowed"] = truth["allowed"] & ctx.grid.allowed
    _, p_conv = oracle.probabilities(ids, ctx.rows["channel"].to_numpy(), ctx.rows["sent_at"])  # type: ignore[attr-defined]
    truth["logged_value"] = ctx.econ.value_per_conversion * p_conv - ctx.econ.contact_cost(ctx.logged_channel)
    return truth


def _bau_terms(ctx: LoggedContext) -> tuple[np.ndarray, str]:
    """Net reward of the business-as-usual arm per decision, scaled by the arm's share (an
    unbiased mean over the arm, randomised apart from the customer), or of the whole log."""
    reward = ctx.econ.value_per_conversion * ctx.rows["converted"].to_numpy() - ctx.econ.contact_cost(
        ctx.logged_channel
    )
    arm = ctx.rows["arm"].astype(str).to_numpy() if "arm" in ctx.rows else np.full(len(ctx), "")
    bau = arm == "bau"
    if bau.sum() >= 30:
        return np.where(bau, reward / bau.mean(), 0.0), "the business-as-usual arm of the log"
    return reward, "the whole log (no business-as-usual arm found)"


def choices(ctx: LoggedContext, models: dict[str, NextBestChannelModel]) -> dict[str, Choice]:
    """Every policy's choice on the campaign days: each model through the decision engine under
    the deployment's rules (greedy: what it serves without exploration), then the baselines."""
    out = {name: Engine(m, ctx.rules).decide_grid(ctx.grid).choice for name, m in models.items()}
    return out | ctx.fixed


def outcomes(ctx: LoggedContext, reward_model: NextBestChannelModel) -> tuple[np.ndarray, np.ndarray, str]:
    """(observed outcome, the reward model's prediction of it, what the outcome is) per decision.

    With a mediated reward model the outcome of a contact is its response carried to conversion
    by the model: P(convert | ignored) + responded x (P(convert | responded) - P(convert | ignored)).
    Its expectation is the conversion probability whenever the conversion parts are right, and a
    response is several times more frequent than a conversion, so the estimate's interval is far
    narrower (2,000-customer world: +-0.4 against +-1.0 per decision). No-contact decisions keep
    their observed conversion. Otherwise the outcome is the observed conversion."""
    rows = ctx.rows
    action = ctx.logged_channel
    predicted = reward_model.p_conversion(rows, action)
    converted = rows["converted"].to_numpy(dtype=float)
    if reward_model.learner != "m":
        return converted, predicted, "conversion"
    ignored, responded = reward_model.mediated_parts(rows, action)
    response = rows["responded"].to_numpy(dtype=float)
    contact = (ctx.logged_channel != NO_CONTACT) & np.isfinite(response)
    carried = ignored + np.nan_to_num(response) * (responded - ignored)
    return np.where(contact, carried, converted), predicted, "response carried to conversion"


def estimate(
    ctx: LoggedContext,
    picks: dict[str, Choice],
    reward_model: NextBestChannelModel,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """(policy -> estimated net value per decision with its 95% interval, the unbiased but noisier
    estimate on observed conversions, SNIPS over the same clusters, effective n and, in simulation, the
    true value; the paired bootstrap draws [n_boot, policies] in table order)."""
    econ, v = ctx.econ, ctx.econ.value_per_conversion
    contact_value, none_value = Scored(*_scored(reward_model, ctx)).values(econ)
    outcome, predicted, kind = outcomes(ctx, reward_model)
    converted = ctx.rows["converted"].to_numpy(dtype=float)
    reward = v * converted - econ.contact_cost(ctx.logged_channel)
    columns, rows = [], []
    for name, choice in picks.items():
        match, propensity, cluster = _clusters(ctx, choice)
        w = np.where(match, 1.0 / propensity, 0.0)
        direct = choice.take(contact_value, none_value)
        columns.append(cluster_dr(direct, match, propensity, v * (outcome - predicted)))
        row = {
            "policy": name,
            "dr_conversion": float(cluster_dr(direct, match, propensity, v * (converted - predicted)).mean()),
            "cluster": cluster,
            "snips": float((w * reward).sum() / w.sum()) if w.sum() > 0 else float("nan"),
            "effective_n": float(w.sum() ** 2 / max((w**2).sum(), 1e-12)),
            "contacted": float(choice.contacted.mean()),
        }
        if ctx.truth is not None:
            t = ctx.truth
            row["true_value"] = float(
                (v * choice.take(t["p_conversion"], t["p_none"]) - econ.contact_cost(choice.channel)).mean()
            )
        rows.append(row)
    bau, source = _bau_terms(ctx)
    columns.append(bau)
    contacted = float((ctx.logged_channel != NO_CONTACT).mean())
    row = {"policy": BAU, "dr_conversion": float(bau.mean()), "cluster": "its own arm",
           "snips": float(bau.mean()), "effective_n": float((bau != 0).sum()),
           "contacted": contacted}  # fmt: skip
    if ctx.truth is not None:
        row["true_value"] = float(ctx.truth["logged_value"][bau != 0].mean())
    rows.append(row)
    terms = np.column_stack(columns)
    draws = bootstrap_means(terms, n_boot, seed)
    table = pd.DataFrame(rows).set_index("policy")
    table.insert(0, "estimate", terms.mean(axis=0))
    table.insert(1, "lo", np.quantile(draws, 0.025, axis=0))
    table.insert(2, "hi", np.quantile(draws, 0.975, axis=0))
    table.attrs.update(bau_source=source, outcome=kind)
    few = table.index[table["effective_n"] < FEW_EFFECTIVE].tolist()
    if few:
        ctx.notes.append(
            f"only a few hundred logged decisions or fewer carry the estimates of {', '.join(few)} "
            f"(effective n below {FEW_EFFECTIVE}): read their intervals as rough"
        )
    return table, draws


def _clusters(ctx: LoggedContext, choice: Choice) -> tuple[np.ndarray, np.ndarray, str]:
    """(where the log's decision counts for `choice`, the propensity of its cluster, its name).

    The hour window, unless the log already sits on the policy's own slots: where at least
    `ON_SLOT` of its channel-matched weight is at the very slot the policy picks (a log written by
    this policy with some exploration), the whole channel's correction is mostly that slot's own
    and far steadier (simulated deployment: effective n 11,818 against 196 in the window). The
    share depends on propensities and choices only, never on outcomes."""
    channel = choice.channel == ctx.logged_channel
    if ctx.window is None:
        return channel, ctx.propensity, WHOLE_CHANNEL
    if ctx.channel_propensity is not None:
        w = np.where(channel & choice.contacted, 1.0 / ctx.channel_propensity, 0.0)
        on_slot = w[ctx.logged_slot == choice.slot].sum()
        if w.sum() > 0 and on_slot / w.sum() >= ON_SLOT:
            return channel, ctx.channel_propensity, WHOLE_CHANNEL
    match, size = hour_window_match(choice.channel, choice.slot, ctx.logged_channel, ctx.logged_slot,
                                    ctx.grid.allowed, ctx.window)  # fmt: skip
    return match, size * ctx.propensity, f"same channel ±{ctx.window} h"


def _scored(model: NextBestChannelModel, ctx: LoggedContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = Engine(model, ctx.rules).score(ctx.grid)
    return s.p_response, s.p_conversion, s.p_none


def difference(table: pd.DataFrame, draws: np.ndarray, a: str, b: str) -> tuple[float, float, float]:
    """Estimated value of `a` minus `b` with the 95% interval of the paired draws."""
    i, j = table.index.get_loc(a), table.index.get_loc(b)
    diff = draws[:, i] - draws[:, j]
    point = float(table["estimate"].iloc[i] - table["estimate"].iloc[j])
    return point, float(np.quantile(diff, 0.025)), float(np.quantile(diff, 0.975))


def load_oracle(world_dir: Path | None) -> object | None:
    """The simulator's oracle when the world has one (for judging only), else None."""
    if world_dir is None:
        return None
    from simulator.oracle import Oracle

    try:
        return Oracle.load(Path(world_dir))
    except FileNotFoundError:
        return None
