"""Where a deployed decision's value goes, judged on the simulator's truth (report only: nothing
here decides, trains or promotes).

For each of the service's decisions, on the very grid it decided on (the same features, rules and
one-day campaign window), the truth says what the best option was worth (the oracle), what the
champion's greedy choice was worth, what the choice it served was worth (exploration included) and
what the heuristic would have earned at the same moment. The greedy choice's regret to the oracle
splits exactly into three parts:

- contact: it contacted where leaving the customer alone was best, or held back where a contact paid;
- channel: the best hour of its channel is still below the best option;
- hour: its hour is below the best hour of its own channel.

Beside them: what a 72-hour window would add to the oracle (the offline evaluation's window against
the deployment's one day), the cost of exploration (greedy minus served) and the calibration of
the model's own value of its choices (predicted minus true).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from decision.baselines import heuristic
from decision.choice import Choice
from optichannel.economics import Economics
from optichannel.hour_slots import US_PER_HOUR
from pipeline.deployment.service import ServicePath
from simulator.oracle import Oracle

#: the per-decision columns `judge` writes, in the report's order
COLUMNS = ("oracle", "oracle_72h", "none", "greedy", "served", "heuristic", "predicted",
           "contact_loss", "channel_loss", "hour_loss",
           "heuristic_contact_loss", "heuristic_channel_loss", "heuristic_hour_loss")  # fmt: skip


@dataclass(frozen=True)
class TrueValues:
    """The truth's net value of every option of a grid: [n, channels, slots] contacts (-inf where
    not allowed) and [n] no contact."""

    contact: np.ndarray
    none: np.ndarray

    @classmethod
    def of(cls, truth: dict[str, np.ndarray], allowed: np.ndarray, econ: Economics) -> TrueValues:
        v = econ.value_per_conversion
        value = v * truth["p_conversion"] - econ.channel_costs()
        return cls(np.where(allowed & truth["allowed"], value, -np.inf), v * truth["p_none"])

    def of_choice(self, choice: Choice) -> np.ndarray:
        """[n] the true value of each row's choice (no contact where it chose none)."""
        return choice.take(self.contact, self.none)

    def best(self) -> np.ndarray:
        """[n] the oracle: the best allowed option, or no contact where nothing pays more."""
        return np.fmax(self.contact.reshape(len(self.none), -1).max(axis=1), self.none)

    def losses(self, choice: Choice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(contact, channel, hour) parts of the choice's regret to the oracle; they sum to it."""
        oracle, got = self.best(), self.of_choice(choice)
        rows = np.arange(len(got))
        best_contact = self.contact.reshape(len(got), -1).max(axis=1)
        oracle_contacts = best_contact > self.none
        channel_best = self.contact[rows, np.where(choice.contacted, choice.channel, 0)].max(axis=1)
        both = choice.contacted & oracle_contacts
        contact = np.where(both, 0.0, oracle - got)
        channel = np.where(both, oracle - channel_best, 0.0)
        hour = np.where(both, channel_best - got, 0.0)
        return contact, channel, hour


def judge(
    values: TrueValues,
    wide: TrueValues,
    greedy: Choice,
    served: Choice,
    heuristic: Choice,
) -> pd.DataFrame:
    """One row per decision with `COLUMNS`: `values` the truth on the decision's own grid, `wide`
    on a 72-hour grid from the same start under the same rules; `greedy` the champion's choice
    without exploration (its `value` is the model's own estimate), `served` what it handed out."""
    contact, channel, hour = values.losses(greedy)
    h_contact, h_channel, h_hour = values.losses(heuristic)
    out = {
        "oracle": values.best(), "oracle_72h": wide.best(), "none": values.none,
        "greedy": values.of_choice(greedy),
        "served": values.of_choice(served), "heuristic": values.of_choice(heuristic),
        "predicted": greedy.value, "contact_loss": contact, "channel_loss": channel, "hour_loss": hour,
        "heuristic_contact_loss": h_contact, "heuristic_channel_loss": h_channel,
        "heuristic_hour_loss": h_hour,
    }  # fmt: skip
    return pd.DataFrame(out)[list(COLUMNS)]


def weekly_gap(decisions: pd.DataFrame) -> pd.DataFrame:
    """Per week, means over the service's decisions: the oracle and each policy's true value, the
    regret's parts, what the wider window adds, exploration's cost and the model's calibration."""
    mine = decisions.dropna(subset=["oracle"])
    if mine.empty:
        return pd.DataFrame()
    d = mine.assign(week=mine["day"] // 7 + 1)
    out = d.groupby("week")[list(COLUMNS)].mean()
    out["regret"] = out["oracle"] - out["greedy"]
    out["heuristic_regret"] = out["oracle"] - out["heuristic"]
    out["window_72h_adds"] = out["oracle_72h"] - out["oracle"]
    out["exploration_cost"] = out["greedy"] - out["served"]
    out["calibration"] = out["predicted"] - out["greedy"]
    return out.drop(columns=["oracle_72h", "predicted"])


#: the offline evaluation's window, against which the deployment's one day is compared
WIDE_HOURS = 72


@dataclass(frozen=True)
class Moment:
    """What the truth and the policies make of one day's service decisions, taken before the
    service decides (so the grid sees the handed-out counters as the service does)."""

    values: TrueValues
    wide: TrueValues
    greedy: Choice
    heuristic: Choice
    slots_us: np.ndarray

    def judge(self, channel: np.ndarray, send_us: np.ndarray) -> pd.DataFrame:
        """`judge` with the served choice (action codes and send times, as handed out)."""
        slot = (send_us - self.slots_us[:, 0]) // US_PER_HOUR
        inside = (slot >= 0) & (slot < self.slots_us.shape[1])
        served = Choice(channel, np.where(inside, slot, 0), np.full(len(channel), np.nan))
        return judge(self.values, self.wide, self.greedy, served, self.heuristic)


def moment(service: ServicePath, oracle: Oracle, ids: np.ndarray, start: pd.Series, hours: int) -> Moment:
    """The truth of the service's grid for `ids`, its 72-hour twin, the champion's greedy choice
    and the heuristic's, at the decision's moment."""
    econ = Economics()
    block, grid = service.grid(ids, start, hours)
    # contacts already decided but sent later in their window tire the customer by the slot too
    values = TrueValues.of(oracle.grid(ids, start, hours, scheduled=True), grid.allowed, econ)
    wide = values  # the deployment's own window is the 72-hour one: judged once
    if hours != WIDE_HOURS:
        _, wide_grid = service.grid(ids, start, WIDE_HOURS)
        wide = TrueValues.of(oracle.grid(ids, start, WIDE_HOURS, scheduled=True), wide_grid.allowed, econ)
    heur = heuristic(block.frame(), grid.local_hour, grid.allowed)
    return Moment(values, wide, service.greedy(grid, ids, start, hours), heur, grid.slots_us)
