"""`optichannel simulate-deployment`: the whole loop, day by day, on a simulated bank.

Each day, at 00:00 UTC: the CRM reports what happened before it (`POST /outcomes`'s checks),
the bank's feeds and the service's own exported history are validated, the features are
rebuilt incrementally and materialized, and every `retrain_every` days a model is trained and
goes through the promotion gate. Then that day's campaign runs: customers whose local campaign
day starts next are split by a stable hash into the service's arm (the champion's decider with
exploration and its handed-out counters), business as usual (the bank's rules) and a
no-contact holdout. The simulator's truth draws every outcome and reports every decision's true
value (for the report only: it never decides, trains or promotes). After the last campaign the
outcomes settle for a week, and the final champion is judged off-policy on the deployment's own
logs, next to its true value.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from optichannel.assignment import assign_arms
from optichannel.channels import NO_CONTACT, action_names
from optichannel.economics import Economics
from optichannel.settings import Settings
from pipeline.deployment.crm import Crm
from pipeline.deployment.gap import moment
from pipeline.deployment.service import ServicePath
from simulator.live_bank import BANK_CONTACT_COLUMNS, LiveBank

MODEL, BAU, HOLDOUT = "model", "bau", "holdout"
#: days after the last campaign for its conversions to come in (the 7-day window and the send delay)
SETTLE_DAYS = 8
EXPERIMENT = "simulated-deployment"


@dataclass(frozen=True)
class DeploymentConfig:
    """Size and rhythm of one simulated deployment."""

    customers: int = 2000
    history_days: int = 120
    days: int = 56
    retrain_every: int = 7
    seed: int = 7
    trials: int = 3
    #: the service's exploration share: at 0.1 exploring cost 0.18-0.22 per decision in the 8-week
    #: benchmark, at 0.05 about 0.1, with more than 4,000 effective decisions left for its estimates
    exploration: float = 0.05
    arms: dict[str, float] = field(default_factory=lambda: {MODEL: 0.8, BAU: 0.1, HOLDOUT: 0.1})
    not_sent_share: float = 0.02
    #: share of customers whose best channel moves on a day of weeks 2 to (last - 3) of the run
    drift_share: float = 0.1
    #: hours from the campaign day's start the service may send in (None: that day only, as the bank's
    #: own arm does). Three days let it pick the day too (a payday, after a trip, a rested customer):
    #: on the campaign day alone it ties the heuristic, whose hour is as good as its own
    window_hours: int | None = 72
    work: Path = Path("data/deployment")

    @property
    def settle_days(self) -> int:
        """Days after the last campaign for its conversions to come in: the window's days too."""
        return SETTLE_DAYS + -(-(self.window_hours or 0) // 24)


@dataclass
class Deployment:
    """Everything the report needs: one row per decision, the champion by day, the final OPE."""

    config: DeploymentConfig
    decisions: pd.DataFrame  # day, arm, customer_id, channel, value, baseline, bau_value, version, ...
    champions: pd.DataFrame  # day, trained version, promoted, reason, champion serving that day
    days: pd.DataFrame  # per day: reports accepted/quarantined/released, feed rows, seconds
    ope: pd.DataFrame | None = None  # policy -> estimate, lo, hi, effective_n, true_value
    notes: list[str] = field(default_factory=list)


def deployment_settings(work: Path, exploration: float) -> Settings:
    """A store, registry and decision log of its own, so a deployment never touches the demo's."""
    return Settings(
        data_dir=work / "store",
        mlflow_tracking_uri=f"sqlite:///{(work / 'mlflow' / 'mlflow.db').resolve().as_posix()}",
        exploration=exploration,
        show_progress=False,
        profile="local",
    )


def run_deployment(cfg: DeploymentConfig, say: Callable[[str], None] = print) -> Deployment:
    """Simulate the bank, then run the loop for `cfg.days` days plus the settling week."""
    from simulator.generate import generate_world
    from simulator.world import Drift, WorldConfig

    if cfg.days < 1 or cfg.retrain_every < 1:
        raise ValueError("days and retrain-every must be at least 1")
    shutil.rmtree(cfg.work, ignore_errors=True)
    world = cfg.work / "world"
    total = cfg.history_days + cfg.days + cfg.settle_days + 1
    say(f"simulating {cfg.customers:,} customers over {total} days ({cfg.history_days} of history)")
    drift = Drift(share=cfg.drift_share, first_day=cfg.history_days + 7,
                  last_day=cfg.history_days + max(cfg.days - 21, 8))  # fmt: skip
    world_cfg = WorldConfig(customers=cfg.customers, days=total, seed=cfg.seed, drift=drift)
    generate_world(world_cfg, world, workers=2)
    loop = Loop(cfg, LiveBank(world, cfg.history_days, cfg.seed), say)
    try:
        for day in range(cfg.days + cfg.settle_days):
            loop.day(day)
        loop.result.ope = loop.judge_own_logs()
    finally:
        loop.service.close()
    return loop.result


class Loop:
    """One deployment's state between days."""

    def __init__(self, cfg: DeploymentConfig, bank: LiveBank, say: Callable[[str], None]) -> None:
        self.cfg, self.bank, self.say = cfg, bank, say
        self.settings = deployment_settings(cfg.work, cfg.exploration)
        self.feeds = cfg.work / "feeds"
        self.service = ServicePath(self.settings)
        self.crm = Crm(cfg.not_sent_share, np.random.default_rng([cfg.seed, 12]))
        self.econ = Economics()
        self.hours = int(np.diff(bank.cfg.logging_policy.window_hours)[0])
        self.window = cfg.window_hours or self.hours
        self.rows: list[pd.DataFrame] = []
        self.result = Deployment(cfg, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
        self._champions: list[dict[str, object]] = []
        self._days: list[dict[str, object]] = []

    def cut(self, day: int) -> pd.Timestamp:
        return self.bank.history_end + pd.Timedelta(days=day)

    def day(self, day: int) -> None:
        """Reports in, feeds refreshed, maybe a retrain, then the day's campaign."""
        import time

        from features.build import build_features
        from features.store import apply, materialize
        from features.validation import validate_feeds

        began = last = time.perf_counter()
        spent: dict[str, float] = {}

        def lap(name: str) -> None:  # seconds per step: where a day's time goes
            nonlocal last
            now = time.perf_counter()
            spent[f"s_{name}"] = round(now - last, 1)
            last = now

        cut = self.cut(day)
        accepted, quarantined, released = self.service.report(self.crm.due(cut), f"crm-{cut:%Y-%m-%d}")
        self.bank.write_feeds(self.feeds, cut)
        exported = self.service.export(self.feeds / "contacts" / "part-service.parquet", cut)
        lap("feeds")
        validate_feeds(self.feeds, self.settings.validated_dir, progress=False)
        lap("validate")
        build_features(self.settings.validated_dir, self.settings.features_dir, progress=False)
        if day == 0:
            apply(self.settings)
        materialize(self.settings)
        lap("features")
        stats = {"day": day, "date": cut.date(), "reports_accepted": accepted, "released": released,
                 "reports_quarantined": quarantined, "service_contacts": exported}  # fmt: skip
        if day < self.cfg.days:
            if day % self.cfg.retrain_every == 0:
                self.retrain(day)
                lap("train")
            stats |= self.campaign(day, cut)
            lap("campaign")
        stats |= spent
        stats["seconds"] = round(time.perf_counter() - began, 1)
        self._days.append(stats)
        self.result.days = pd.DataFrame(self._days)
        self.say(_day_line(stats, self.service.version))

    def retrain(self, day: int) -> None:
        """Train on the feeds so far; the promotion gate decides; the service restarts on the champion."""
        from training.config import Evaluation, TrainConfig
        from training.train import run

        train_cfg = TrainConfig(trials=self.cfg.trials, seed=self.cfg.seed,
                                evaluation=Evaluation(customers=500, times=2))  # fmt: skip
        report = self.cfg.work / "train" / f"day-{day:02d}"
        result = run(self.settings, train_cfg, self.feeds, report, progress=False, log=lambda _m: None)
        promoted = result.promotion.promoted
        verdict = "promoted to champion" if promoted else "kept as challenger"
        self.say(f"day {day:2d}: trained version {result.version}: {verdict} ({result.promotion.reason})")
        if promoted or self.service.version is None:
            try:
                self.service.reload()
            except Exception as exc:  # no champion at all: the service cannot start
                raise RuntimeError(
                    f"day {day}: no champion to serve ({exc}); the first model was not promoted: "
                    f"{result.promotion.reason}"
                ) from None
        self._champions.append({"day": day, "trained": result.version, "promoted": promoted,
                                "reason": result.promotion.reason,
                                "champion": self.service.version})  # fmt: skip
        self.result.champions = pd.DataFrame(self._champions)

    def campaign(self, day: int, cut: pd.Timestamp) -> dict[str, object]:
        """Decide for every customer whose campaign day starts next, by arm; draw what happens."""
        bank = self.bank
        ids = bank.known(cut)
        start, kind = bank.campaign_day(ids, cut)
        on = np.array([k is not None for k in kind])
        ids, start, kind = ids[on], start[on].reset_index(drop=True), kind[on]
        if not len(ids):
            return {"decisions": 0}
        arm = assign_arms(ids, EXPERIMENT, self.cfg.arms)
        # the bank's rules on the champion's own grid: one engine's rules for both arms
        window = start.astype("datetime64[us, UTC]").astype("int64").to_numpy()
        _, grid = self.service.grid(ids, start, self.hours)
        bau_channel, bau_send = self.service.business_as_usual(grid, window, kind, bank.affluent(ids))
        channel, send = bau_channel.copy(), bau_send.copy()
        hold = arm == HOLDOUT
        channel[hold], send[hold] = NO_CONTACT, window[hold]
        mine = np.nonzero(arm == MODEL)[0]
        judged = moment(self.service, bank.oracle, ids[mine], start.iloc[mine], self.window)
        answered = self.service.decide(ids[mine], start.iloc[mine], self.window)
        self.service.flush()
        channel[mine], send[mine] = answered.channel, answered.send_us
        sent = np.ones(len(ids), dtype=bool)
        sent[mine] = self.crm.send(answered.decision_id, answered.channel)
        acted = np.where(sent, channel, NO_CONTACT)  # a failed send reaches no one
        truth = bank.true_value(ids, acted, send, self.econ)
        bau_truth = bank.true_value(ids, bau_channel, bau_send, self.econ)[:, 0]
        outcomes = bank.happen(ids, acted, send)
        self.crm.record(answered.decision_id, answered.channel, answered.send_us, sent[mine],
                        outcomes.iloc[mine].reset_index(drop=True))  # fmt: skip
        self._log_bank_arms(day, ids, arm, channel, send, outcomes)
        frame = pd.DataFrame({
            "day": day, "date": cut.date(), "arm": arm, "customer_id": ids,
            "channel": action_names(acted),
            "send_at": pd.to_datetime(send, unit="us", utc=True),
            "value": truth[:, 0], "baseline": truth[:, 1], "bau_value": bau_truth,
            "version": np.where(arm == MODEL, self.service.version, None),
            "explored": False, "converted": outcomes["converted_at"].notna().to_numpy(),
            "drift_day": bank.drift_day(ids),
        })  # fmt: skip
        frame.loc[mine, "explored"] = answered.explored
        frame.loc[mine, "propensity"] = answered.propensity  # 1: retaken after a counter filled up
        gap = judged.judge(answered.channel, answered.send_us)
        for column in gap:  # the truth's reading of the service's decisions (NaN on the other arms)
            frame.loc[mine, column] = gap[column].to_numpy()
        self.rows.append(frame)
        self.result.decisions = pd.concat(self.rows, ignore_index=True)
        return {"decisions": len(ids), "model_decisions": len(mine), "stale": answered.stale,
                "explored": int(answered.explored.sum())}  # fmt: skip

    def _log_bank_arms(self, day: int, ids: np.ndarray, arm: np.ndarray, channel: np.ndarray,
                       send: np.ndarray, outcomes: pd.DataFrame) -> None:  # fmt: skip
        """The bank's own arms go into its contacts feed (each row's propensity is 1: its arm fixes it)."""
        bank = ~np.isin(arm, [MODEL])
        contact = channel != NO_CONTACT
        key = [f"DEP{day:03d}-{i:06d}" for i in np.nonzero(bank)[0]]
        rows = pd.DataFrame({
            "contact_id": key, "customer_id": ids[bank], "campaign_id": f"{EXPERIMENT}-{day:03d}",
            "channel": action_names(channel[bank]),
            "sent_at": pd.to_datetime(send[bank], unit="us", utc=True),
            "delivered": outcomes["delivered"].to_numpy()[bank],
            "responded_at": outcomes["responded_at"].to_numpy()[bank],
            "converted_at": outcomes["converted_at"].to_numpy()[bank],
            "cost": self.econ.contact_cost(channel[bank]) * contact[bank], "arm": arm[bank],
            "propensity": 1.0, "channel_propensity": 1.0, "decision_id": key,
        })  # fmt: skip
        self.bank.log_contacts(rows[list(BANK_CONTACT_COLUMNS)])

    def judge_own_logs(self) -> pd.DataFrame | None:
        """The final champion's value estimated off-policy on the deployment's decisions (every
        arm's; each logged with its propensity) with the same estimator that gates promotion, and
        the truth of the same choices beside it."""
        from decision.rules import Rules
        from features.store import open_store
        from optichannel import registry
        from optichannel.pyfunc_model import load_bundle
        from simulator.oracle import Oracle
        from training import policy_value
        from training.config import Evaluation, Labels, Split
        from training.dataset import training_frame

        if self.service.version is None:
            return None
        store = open_store(self.settings)
        split = Split(valid_days=7, test_days=self.cfg.days + self.cfg.settle_days, min_train_days=7)
        tf = training_frame(store, self.settings.validated_dir, Labels(), split)
        rules = Rules.of(self.settings, self.econ)
        ctx = policy_value.prepare(store, tf, Evaluation(), rules, Oracle.load(self.feeds))
        registry.setup(self.settings)
        champion = load_bundle(registry.model_uri(registry.CHAMPION))
        table, _ = policy_value.estimate(ctx, policy_value.choices(ctx, {"champion": champion}), champion)
        self.result.notes.extend(ctx.notes)
        return table


def _day_line(stats: dict[str, object], version: str | None) -> str:
    line = (f"day {stats['day']:2d} ({stats['date']}): {stats.get('decisions', 0):,} decisions"
            f" ({stats.get('model_decisions', 0):,} by champion v{version}), outcome reports "
            f"{stats['reports_accepted']:,} accepted / {stats['reports_quarantined']:,} quarantined, "
            f"{stats['released']:,} not_sent freed, {stats['seconds']} s")  # fmt: skip
    return line
