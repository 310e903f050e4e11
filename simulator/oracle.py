"""The ground-truth oracle: true P(response) and P(conversion) for any customer, action and slot.

Loaded from a world directory's `truth/`; context (fatigue, recent travel) comes from
the world's own exposures and air tickets, through the same functions generation used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optichannel.channels import CHANNELS, NO_CONTACT, action_codes
from optichannel.hour_slots import slot_grid
from simulator.calendar import local_parts
from simulator.generate import TRUTH_DIR
from simulator.timeline import Timeline
from simulator.truth import (
    US_PER_DAY,
    LatentArrays,
    SlotContext,
    conversion_proba,
    fatigue,
    response_proba,
)
from simulator.world import WorldConfig


def _us(ts: object) -> np.ndarray:
    return (
        pd.to_datetime(pd.Series(np.atleast_1d(ts)), utc=True)
        .astype("datetime64[us, UTC]")
        .astype("int64")
        .to_numpy()
    )


@dataclass
class OracleChoice:
    """The best allowed option per customer and what it is truly worth."""

    frame: pd.DataFrame  # customer_id, channel, send_at, p_response, p_conversion, value


class Oracle:
    """Truth of one simulated world. Never used by feature code (import-linter forbids it)."""

    def __init__(
        self, latent: pd.DataFrame, cfg: WorldConfig, exposures: pd.DataFrame, air: pd.DataFrame
    ) -> None:
        self.cfg = cfg
        self.latent = latent
        self.lat = LatentArrays(latent)
        self._index = pd.Index(latent["customer_id"])
        n = len(latent)
        self.exposures = Timeline(self.positions(exposures["customer_id"]), _us(exposures["ts"]), n)
        self.air = Timeline(self.positions(air["customer_id"]), _us(air["ts"]), n)

    @classmethod
    def load(cls, world_dir: Path) -> Oracle:
        """Read `world_dir/truth`; a clear error if the directory holds no simulated world."""
        truth = Path(world_dir) / TRUTH_DIR
        if not (truth / "latent.parquet").exists():
            raise FileNotFoundError(
                f"{truth} holds no simulated truth: "
                "the oracle exists only for worlds made by `optichannel simulate`"
            )
        cfg = WorldConfig.from_yaml(truth / "world.yaml")
        return cls(
            pd.read_parquet(truth / "latent.parquet"),
            cfg,
            pd.read_parquet(truth / "exposures"),
            pd.read_parquet(truth / "air_tickets"),
        )

    def positions(self, customer_ids: object) -> np.ndarray:
        """Latent row of each id; unknown ids raise a KeyError naming a few."""
        ids = pd.Index(np.atleast_1d(np.asarray(customer_ids, dtype=object)))
        pos = self._index.get_indexer(ids)
        if (pos < 0).any():
            missing = ids[pos < 0][:5].tolist()
            raise KeyError(f"{(pos < 0).sum()} customer ids unknown to this world, e.g. {missing}")
        return pos.astype(np.int64)

    def context(
        self, cust: np.ndarray, slot_us: np.ndarray, known_us: np.ndarray | None = None
    ) -> SlotContext:
        """Local calendar, recent travel and fatigue of each (customer, slot) at that moment.

        `known_us` (default: the slot) is when the decision is taken: fatigue then counts only
        contacts delivered before it, decayed to the slot. The world's own later contacts are
        what business as usual did instead, not what the decision being judged would face."""
        hour, weekday, dom = local_parts(slot_us, self.lat.tz[cust])
        cutoff = slot_us if known_us is None else np.minimum(known_us, slot_us)
        return SlotContext(
            local_hour=hour,
            weekday=weekday,
            day_of_month=dom,
            travel_recent=self.air.within(cust, slot_us, self.cfg.response.travel_days * US_PER_DAY),
            fatigue=fatigue(self.exposures.last_before(cust, cutoff), slot_us, self.cfg),
            drifted=self.lat.drifted(cust, slot_us, self.cfg.start_us),
        )

    def probabilities(
        self, customer_ids: object, actions: object, slots: object
    ) -> tuple[np.ndarray, np.ndarray]:
        """(true P(response), true P(conversion)) per row; action `none` has response 0."""
        cust = self.positions(customer_ids)
        ch = action_codes(np.atleast_1d(np.asarray(actions, dtype=object)))
        slot_us = _us(slots)
        ctx = self.context(cust, slot_us)
        none = ch == NO_CONTACT
        safe = np.where(none, 0, ch)
        p_resp = np.where(none, 0.0, response_proba(self.lat, cust, safe, ctx, self.cfg))
        p_conv = conversion_proba(self.lat, cust, ch, p_resp, ctx.fatigue, self.cfg)
        return p_resp, p_conv

    def grid(
        self, customer_ids: object, window_start: object, hours: int, scheduled: bool = False
    ) -> dict[str, np.ndarray]:
        """True probabilities of every channel x hourly slot of each customer's window.

        The decision is taken at `window_start`: fatigue counts only contacts delivered before it,
        or, with `scheduled`, every contact this world holds before each slot (a live bank's later
        exposures are contacts already decided, only sent later in their window).
        Returns arrays [customers, channels, slots] `p_response`, `p_conversion`, `allowed` (the
        true consents; quiet hours and caps are the decision engine's rules), plus `slots`
        [customers, slots] in UTC microseconds and `p_none` [customers].
        """
        cust = self.positions(customer_ids)
        start = (
            np.broadcast_to(_us(window_start), cust.shape)
            if np.ndim(window_start) == 0
            else _us(window_start)
        )
        slots = slot_grid(start, hours)
        q, h, c = len(cust), hours, len(CHANNELS)
        flat_cust = np.repeat(cust, h)
        ctx = self.context(flat_cust, slots.ravel(), None if scheduled else np.repeat(start, h))
        p_resp = np.empty((q, c, h))
        p_conv = np.empty((q, c, h))
        for k in range(c):
            ch = np.full(q * h, k)
            pr = response_proba(self.lat, flat_cust, ch, ctx, self.cfg)
            p_resp[:, k, :] = pr.reshape(q, h)
            p_conv[:, k, :] = conversion_proba(self.lat, flat_cust, ch, pr, ctx.fatigue, self.cfg).reshape(
                q, h
            )
        first = ctx.fatigue.reshape(q, h)[:, 0]
        p_none = conversion_proba(self.lat, cust, np.full(q, NO_CONTACT), np.zeros(q), first, self.cfg)
        # the true consents only: quiet hours, caps and plans are the decision engine's rules
        allowed = np.broadcast_to(self.lat.consent[cust][:, :, None], (q, c, h)).copy()
        return {
            "p_response": p_resp,
            "p_conversion": p_conv,
            "p_none": p_none,
            "allowed": allowed,
            "slots": slots,
        }
