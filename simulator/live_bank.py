"""A simulated bank that lives on past its history, for a deployment run day by day.

The world is generated once, longer than its history. Its exogenous life after the history's end
(transactions, sessions, inbound calls and e-mails: nothing a contact causes) is revealed one day
at a time; the logging policy's contacts after the end, and the behaviour they caused, are
discarded: a deployment decides those contacts instead. Every decision taken in the deployment,
by whichever arm, has its delivery, response and conversion drawn here from the truth, at the
customer's fatigue then (`simulator.outcome_draw`, the same draw the history used), and its true
expected value reported for judging. Nothing here decides for the product.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from optichannel.channels import NONE, action_names
from optichannel.economics import Economics
from optichannel.localtime import local_to_utc, to_local
from simulator.generate import TRUTH_DIR
from simulator.logging_policy import window_hours
from simulator.oracle import Oracle
from simulator.outcome_draw import CONTACT_EVENTS, draw_outcomes, response_events
from simulator.population import customers_feed
from simulator.world import WorldConfig

#: the contacts columns the bank's own arms log (their arm and a propensity of 1: fixed by the arm)
BANK_CONTACT_COLUMNS = ("contact_id", "customer_id", "campaign_id", "channel", "sent_at", "delivered",
                        "responded_at", "converted_at", "cost", "arm", "propensity", "channel_propensity",
                        "decision_id")  # fmt: skip


class LiveBank:
    """The simulated bank after `history_days`: reveals its feeds, draws the truth of decisions."""

    def __init__(self, world_dir: Path, history_days: int, seed: int = 0) -> None:
        truth = Path(world_dir) / TRUTH_DIR
        self.cfg = WorldConfig.from_yaml(truth / "world.yaml")
        if history_days >= self.cfg.days:
            raise ValueError(
                f"history_days ({history_days}) must be shorter than the world ({self.cfg.days} days)"
            )
        self.latent = pd.read_parquet(truth / "latent.parquet")
        self.history_end = pd.Timestamp(self.cfg.start + dt.timedelta(days=history_days), tz="UTC")
        end = self.history_end
        self.customers = customers_feed(self.latent, self.cfg)
        self.transactions = pd.read_parquet(Path(world_dir) / "transactions")
        events = pd.read_parquet(Path(world_dir) / "events")
        caused = events["event_type"].isin(CONTACT_EVENTS)
        self.events = [events[~caused | (events["ts"] < end)]]  # organic life goes on; caused is history
        contacts = pd.read_parquet(Path(world_dir) / "contacts")
        self.contacts = [contacts[contacts["sent_at"] < end]]
        exposures = pd.read_parquet(truth / "exposures")
        self.exposures = [exposures[exposures["ts"] < end]]
        self.air = pd.read_parquet(truth / "air_tickets")
        self.rng = np.random.default_rng([self.cfg.seed, seed, 11])
        self._oracle: Oracle | None = None

    @property
    def oracle(self) -> Oracle:
        """The truth as of now: fatigue from every contact delivered so far (history and deployment)."""
        if self._oracle is None:
            self._oracle = Oracle(
                self.latent, self.cfg, pd.concat(self.exposures, ignore_index=True), self.air
            )
        return self._oracle

    def known(self, cut: pd.Timestamp) -> np.ndarray:
        """Ids of the customers signed up before `cut`."""
        return self.customers.loc[
            self.customers["signup_date"] < cut.tz_convert(None), "customer_id"
        ].to_numpy()

    def campaign_day(self, ids: np.ndarray, cut: pd.Timestamp) -> tuple[pd.Series, np.ndarray]:
        """(window start in UTC, campaign kind or None) of each customer's next campaign day after
        `cut`: the first local start of a campaign day (the logging policy's window) at or after it,
        a campaign when that local weekday is one the bank runs a campaign on."""
        tz = self.latent["tz"].to_numpy()[self.oracle.positions(ids)]
        first = int(window_hours(self.cfg.logging_policy)[0])
        local = to_local(pd.Series(cut, index=range(len(ids))), tz)
        naive = local.dt.tz_localize(None)
        date = naive.dt.normalize()
        date = date + pd.to_timedelta((naive - date > pd.Timedelta(hours=first)).astype(int), unit="D")
        start = local_to_utc(date + pd.Timedelta(hours=first), tz)
        kinds = {wd: kind for kind, wd in self.cfg.logging_policy.campaign_weekdays.items()}
        kind = np.array([kinds.get(int(wd)) for wd in date.dt.weekday], dtype=object)
        return start.reset_index(drop=True), kind

    def drift_day(self, ids: np.ndarray) -> np.ndarray:
        """[n] the deployment day (0 = the history's end) on which each customer's preferences move,
        NaN for those whose never do (`WorldConfig.drift`)."""
        day = self.oracle.lat.drift_day[self.oracle.positions(ids)].astype(float)
        since_start = (self.history_end.date() - self.cfg.start).days
        return np.where(day >= 0, day - since_start, np.nan)

    def affluent(self, ids: np.ndarray) -> np.ndarray:
        """[n] whether the bank counts each customer as affluent (its business rules call them)."""
        return self.oracle.lat.affluent[self.oracle.positions(ids)]

    def true_value(
        self, ids: np.ndarray, channel: np.ndarray, sent_us: np.ndarray, econ: Economics
    ) -> np.ndarray:
        """[rows, 2]: true expected net value of each action, and of no contact then (its baseline)."""
        actions = action_names(channel)
        _, p_conv = self.oracle.probabilities(ids, actions, sent_us.astype("datetime64[us]"))
        none = np.full(len(ids), NONE, dtype=object)
        _, p_none = self.oracle.probabilities(ids, none, sent_us.astype("datetime64[us]"))
        value = econ.value_per_conversion * p_conv - econ.contact_cost(channel)
        return np.column_stack([value, econ.value_per_conversion * p_none])

    def happen(self, ids: np.ndarray, channel: np.ndarray, sent_us: np.ndarray) -> pd.DataFrame:
        """Draw what each decision leads to, and remember its delivery (fatigue) and the behaviour
        it causes. Returns customer_id, delivered, responded_at, converted_at (NaT = not)."""
        oracle = self.oracle
        cust = oracle.positions(ids)
        ctx = oracle.context(cust, sent_us)
        drawn = draw_outcomes(oracle.lat, cust, channel, sent_us, ctx, self.cfg, self.rng)
        caused = response_events(cust, channel, sent_us, drawn, self.rng)
        self.events.append(pd.DataFrame({
            "event_id": [f"EL{len(self.events):04d}-{i:07d}" for i in range(len(caused.cust))],
            "customer_id": self.latent["customer_id"].to_numpy()[caused.cust],
            "ts": pd.to_datetime(caused.ts_us, unit="us", utc=True),
            "event_type": caused.columns["event_type"],
        }))  # fmt: skip
        hit = drawn.delivered
        sent = pd.to_datetime(sent_us[hit], unit="us", utc=True)
        self.exposures.append(pd.DataFrame({"customer_id": ids[hit], "ts": sent}))
        self._oracle = None  # the next question sees these contacts' fatigue

        def times(us: np.ndarray) -> pd.Series:
            return pd.Series(pd.to_datetime(np.where(us >= 0, us, 0), unit="us", utc=True)).where(us >= 0)

        return pd.DataFrame({"customer_id": ids, "delivered": hit, "responded_at": times(drawn.responded_at),
                             "converted_at": times(drawn.converted_at)})  # fmt: skip

    def log_contacts(self, rows: pd.DataFrame) -> None:
        """Contacts the bank's own arms made (business as usual, holdout): part of its contacts feed."""
        self.contacts.append(rows[list(BANK_CONTACT_COLUMNS)])

    def write_feeds(self, out: Path, cut: pd.Timestamp) -> None:
        """The four feeds as the bank knows them at `cut` (every row and outcome before it) into
        `out` (contacts as `contacts/part-bank.parquet`, beside the service's part), and the truth
        as of now into `out/truth` for judging."""
        out.mkdir(parents=True, exist_ok=True)
        naive = cut.tz_convert(None)
        self.customers[self.customers["signup_date"] < naive].to_parquet(
            out / "customers.parquet", index=False
        )
        txns = self.transactions
        txns[txns["ts"] < cut].to_parquet(out / "transactions.parquet", index=False)
        events = pd.concat(self.events, ignore_index=True)
        events[events["ts"] < cut].to_parquet(out / "events.parquet", index=False)
        contacts = pd.concat(self.contacts, ignore_index=True)
        contacts = contacts[contacts["sent_at"] < cut].copy()
        for column in ("responded_at", "converted_at"):  # outcomes after the cut are not known yet
            contacts[column] = contacts[column].where(contacts[column] < cut)
        (out / "contacts").mkdir(exist_ok=True)
        contacts.to_parquet(out / "contacts" / "part-bank.parquet", index=False)
        truth = out / TRUTH_DIR
        (truth / "exposures").mkdir(parents=True, exist_ok=True)
        (truth / "air_tickets").mkdir(parents=True, exist_ok=True)
        self.latent.to_parquet(truth / "latent.parquet", index=False)
        self.cfg.to_yaml(truth / "world.yaml")
        pd.concat(self.exposures, ignore_index=True).to_parquet(
            truth / "exposures" / "part.parquet", index=False
        )
        self.air.to_parquet(truth / "air_tickets" / "part.parquet", index=False)
