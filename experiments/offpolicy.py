"""The model policy judged on logged decisions, before any live test: the inputs the estimators of
`optichannel.off_policy` need, computed from the contacts feed (with the logging policy's
propensities) and the point-in-time features of the Feast store.

The target policy is what the model would have done at each logged decision: among the options
the logging policy had that day (every allowed channel at each local hour of the campaign day,
`hours` = [8, 22) for the simulated bank, or no contact), the best by net value with the
model's economics. A logged action is (channel, local hour), and its propensity is the logging
policy's probability of exactly that pair, so the target agrees with the log only where it picks
the same channel at the same hour (or both send nothing); matching on the channel alone would
weigh every hour's reward as if each were the only one. That is what `dr_channel` does instead,
soundly: doubly robust over channels (OffCEM), weighted by the logging policy's probability of the
channel at any hour (`channel_propensity`), with the model ranking the hours within a channel —
on the demo world about 1,100 decisions agree on the channel where 60 agree on the hour.
Reward: converted within `conversion_days` of the decision; decisions whose window runs past
the feed's end are dropped. Features are read as of the logged time, as in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from decision.engine import Engine
from features.store import historical_features
from features.store_definitions import JOIN_KEY, TIMESTAMP
from optichannel.channels import CHANNELS, NO_CONTACT, NONE, action_codes, action_names
from optichannel.hour_slots import US_PER_HOUR
from optichannel.localtime import local_day_start
from optichannel.off_policy import channel_doubly_robust, doubly_robust, ips, snips
from optichannel.progress import progress_bar

if TYPE_CHECKING:
    from feast import FeatureStore

ESTIMATORS = ("ips", "snips", "dr", "dr_channel")
#: estimators that need the logging policy's probability of the channel at any hour
NEEDS_CHANNEL_PROPENSITY = ("dr_channel",)
#: local hours [start, end) of the simulated bank's campaign day (simulator LoggingPolicy.window_hours)
DEFAULT_HOURS = (8, 22)
#: decisions scored per step (bounds the memory of the candidate grid)
CHUNK = 1000
#: below this effective sample size the percentile bootstrap of IPS-type estimates is unreliable
FEW_EFFECTIVE = 500


@dataclass
class OffPolicyResult:
    """Estimates of the model policy's conversion rate next to the logging policy's own."""

    estimates: pd.DataFrame  # method -> value, lo, hi, n, effective_n, n_boot
    logged: dict[str, float]  # the logging policy's mean reward with a bootstrap interval
    decisions: pd.DataFrame  # per decision: reward, propensity, target_prob, q_logged, q_target, ...
    notes: list[str] = field(default_factory=list)

    @property
    def agree(self) -> int:
        """Decisions where the model would have done what was logged."""
        return int((self.decisions["target_prob"] > 0).sum())


def logged_decisions(
    contacts: pd.DataFrame, conversion_days: int = 7, days: int | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The evaluable decisions (propensity known, outcome window closed, sent in the last `days`
    days before the feed's end) with their reward, and notes on what was dropped.

    Judge a model only on decisions it was not trained on: by default training holds out the
    last 28 days (validation and test weeks), and on its own training rows a model looks far
    better than it is (it has fitted their noise)."""
    missing = [c for c in ("customer_id", "channel", "sent_at", "converted_at") if c not in contacts]
    if missing:
        raise ValueError(f"contacts misses column(s) {', '.join(missing)}")
    if "propensity" not in contacts:
        raise ValueError(
            "contacts has no propensity column: off-policy evaluation needs the logging policy's"
        )
    unknown = sorted(set(contacts["channel"].dropna().astype(str)) - {*CHANNELS, NONE})
    if unknown:
        raise ValueError(f"contacts has unknown channel(s) {', '.join(unknown)}")
    frame = contacts.assign(
        sent_at=pd.to_datetime(contacts["sent_at"], utc=True),
        converted_at=pd.to_datetime(contacts["converted_at"], utc=True),
        propensity=pd.to_numeric(contacts["propensity"], errors="coerce"),
    )
    times = [frame["sent_at"], frame["converted_at"]]
    if "responded_at" in frame:
        times.append(pd.to_datetime(frame["responded_at"], utc=True))
    end = max(t.max() for t in times if t.notna().any())
    window = pd.Timedelta(days=conversion_days)
    notes = []
    known = frame["propensity"] > 0
    if (~known).any():
        notes.append(f"{int((~known).sum()):,} decisions without a propensity: left out")
    closed = frame["sent_at"] + window <= end
    if (~closed).any():
        notes.append(
            f"{int((~closed).sum()):,} decisions of the last {conversion_days} days: outcome not known yet"
        )
    keep = known & closed
    if days is not None:
        keep &= frame["sent_at"] > end - pd.Timedelta(days=days)
        notes.append(f"evaluated: decisions of the last {days} days before the feed's end ({end:%Y-%m-%d})")
    out = frame[keep].sort_values(["sent_at", "customer_id"], kind="stable").reset_index(drop=True)
    if out.empty:
        raise ValueError("no logged decision with a propensity and a known outcome is left to evaluate")
    converted = out["converted_at"].notna() & (out["converted_at"] - out["sent_at"] <= window)
    out["reward"] = converted.astype(np.float64)
    return out, notes


def _target_chunk(
    part: pd.DataFrame,
    feats: pd.DataFrame,
    engine: Engine,
    hours: tuple[int, int],
) -> pd.DataFrame:
    """The model's choice on each decision's campaign day, and whether the log did the same."""
    tz = feats["prf_tz"] if "prf_tz" in feats else pd.Series([None] * len(feats), index=feats.index)
    start = local_day_start(part["sent_at"], tz.reset_index(drop=True), hours[0])
    decided = engine.decide(feats, start, hours[1] - hours[0])
    grid, scored, choice = decided.grid, decided.scored, decided.choice
    rows = np.arange(len(part))
    logged_ch = action_codes(part["channel"].to_numpy())
    sent_us = part["sent_at"].astype("datetime64[us, UTC]").astype("int64").to_numpy()
    logged_slot = (sent_us - grid.slots_us[:, 0]) // US_PER_HOUR
    in_window = (logged_slot >= 0) & (logged_slot < grid.slots_us.shape[1])
    slot = np.clip(logged_slot, 0, grid.slots_us.shape[1] - 1)
    contact = choice.contacted
    q_target = np.where(
        contact, scored.p_conversion[rows, np.where(contact, choice.channel, 0), choice.slot], scored.p_none
    )
    q_logged = np.where(
        logged_ch != NO_CONTACT,
        scored.p_conversion[rows, np.where(logged_ch != NO_CONTACT, logged_ch, 0), slot],
        scored.p_none,
    )
    agree = (choice.channel == logged_ch) & ((logged_ch == NO_CONTACT) | (in_window & (choice.slot == slot)))
    return pd.DataFrame(
        {
            "target_channel": action_names(choice.channel),
            "target_prob": agree.astype(np.float64),
            "same_channel": choice.channel == logged_ch,
            "q_target": q_target,
            # the model's reward for the logged action; only used where the target agrees with the log
            "q_logged": np.where(np.isfinite(q_logged), q_logged, q_target),
        },
        index=part.index,
    )


def target_policy(
    store: FeatureStore,
    engine: Engine,
    decisions: pd.DataFrame,
    hours: tuple[int, int] = DEFAULT_HOURS,
    progress: bool = True,
) -> pd.DataFrame:
    """`decisions` plus the model policy's target_prob and the reward model's q_logged, q_target."""
    if not 0 <= hours[0] < hours[1] <= 24:
        raise ValueError(f"hours must be local hours [start, end) within 0-24, got {hours[0]}-{hours[1]}")
    entity = pd.DataFrame({JOIN_KEY: decisions["customer_id"].astype(str), TIMESTAMP: decisions["sent_at"]})
    parts = []
    with progress_bar(progress) as bar:
        fetch = bar.add_task("off-policy: point-in-time features", total=1)
        feats = historical_features(store, entity)
        bar.advance(fetch)
        task = bar.add_task("off-policy: the model's decisions", total=len(decisions))
        for start in range(0, len(decisions), CHUNK):
            rows = slice(start, start + CHUNK)
            part = decisions.iloc[rows]
            parts.append(_target_chunk(part, feats.iloc[rows].reset_index(drop=True), engine, hours))
            bar.advance(task, len(part))
    return pd.concat([decisions, pd.concat(parts)], axis=1)


def evaluate_model_policy(
    store: FeatureStore,
    engine: Engine,
    contacts: pd.DataFrame,
    *,
    estimators: Sequence[str] = ESTIMATORS,
    days: int | None = 28,
    hours: tuple[int, int] = DEFAULT_HOURS,
    conversion_days: int = 7,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = True,
) -> OffPolicyResult:
    """The model policy's conversion rate per logged decision by each estimator, with intervals."""
    bad = sorted(set(estimators) - set(ESTIMATORS))
    if bad or not estimators:
        raise ValueError(f"estimator must be among {', '.join(ESTIMATORS)}; got {', '.join(bad) or 'none'}")
    decisions, notes = logged_decisions(contacts, conversion_days, days)
    frame = target_policy(store, engine, decisions, hours, progress=progress)
    r, p, pi = frame["reward"], frame["propensity"], frame["target_prob"]
    args = {"n_boot": n_boot, "seed": seed}
    make = {
        "ips": lambda: ips(r, p, pi, **args),
        "snips": lambda: snips(r, p, pi, **args),
        "dr": lambda: doubly_robust(r, p, pi, frame["q_logged"], frame["q_target"], **args),
        "dr_channel": lambda: channel_doubly_robust(
            r,
            frame["channel_propensity"],
            frame["same_channel"],
            frame["q_logged"],
            frame["q_target"],
            **args,
        ),
    }
    if "channel_propensity" not in frame or frame["channel_propensity"].isna().any():
        if any(e in estimators for e in NEEDS_CHANNEL_PROPENSITY) and len(estimators) == 1:
            raise ValueError("dr_channel needs a channel_propensity for every decision; the contacts lack it")
        estimators = [e for e in estimators if e not in NEEDS_CHANNEL_PROPENSITY]
        notes.append(
            "no channel_propensity in the contacts: the channel-level doubly robust estimate is left out"
        )
    table = pd.DataFrame([vars(make[name]()) for name in ESTIMATORS if name in estimators])
    weakest = float(table["effective_n"].min())
    if weakest < FEW_EFFECTIVE:
        notes.append(
            f"only ~{weakest:,.0f} decisions effectively carry the estimates (effective n): with so few, "
            "bootstrap intervals may understate the uncertainty; evaluate more days or log more exploration"
        )
    on_policy = ips(r, np.ones(len(r)), np.ones(len(r)), **args)
    logged = {"value": on_policy.value, "lo": on_policy.lo, "hi": on_policy.hi, "n": float(on_policy.n)}
    return OffPolicyResult(table.set_index("method"), logged, frame, notes)
