"""Contact history: every campaign decision of the logging policy, and its outcome drawn from the truth.

Campaigns run in time order so each decision sees the fatigue of the contacts before
it; the last `FATIGUE_MEMORY` delivered contacts per customer are kept in a ring.
"""

from __future__ import annotations

import numpy as np

from optichannel.channels import CHANNELS, DEFAULT_COST, NO_CONTACT, action_names
from simulator.behaviour import Rows
from simulator.calendar import WorldCalendar
from simulator.logging_policy import decode, draw
from simulator.outcome_draw import draw_outcomes, response_events
from simulator.timeline import Timeline
from simulator.truth import (
    FATIGUE_MEMORY,
    US_PER_DAY,
    LatentArrays,
    SlotContext,
    fatigue,
)
from simulator.world import WorldConfig

COSTS = np.array([DEFAULT_COST[c] for c in CHANNELS])


def schedule(cal: WorldCalendar, cfg: WorldConfig) -> list[tuple[int, str]]:
    """(local day index, campaign kind) of every campaign in the period, in time order."""
    weekday_of = cfg.logging_policy.campaign_weekdays
    return [
        (day, kind) for day in range(cal.days) for kind, wd in weekday_of.items() if cal.weekday[day] == wd
    ]


def contacts(
    lat: LatentArrays,
    zone: np.ndarray,
    cal: WorldCalendar,
    cfg: WorldConfig,
    air: Timeline,
    rng: np.random.Generator,
) -> tuple[Rows, Rows, Rows]:
    """(contacts, response events, exposures) of one chunk of customers."""
    policy = cfg.logging_policy
    end_us = int(cal.local_midnight_us[-1] + US_PER_DAY)  # outcomes after the feed's end are not seen yet
    ring = np.full((len(lat), FATIGUE_MEMORY), -1, dtype=np.int64)
    out: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "cust",
            "ts",
            "campaign",
            "channel",
            "delivered",
            "responded",
            "converted",
            "cost",
            "arm",
            "propensity",
            "channel_propensity",
        )
    }
    ev_cust, ev_ts, ev_type = [], [], []
    start_label = np.datetime64(int(cal.local_midnight_us[0]), "us").astype("datetime64[D]")
    for day, kind in schedule(cal, cfg):
        cust = np.nonzero(lat.signup_offset_days <= day)[0]
        if len(cust) == 0:
            continue
        action, propensity, channel_propensity, arm = draw(lat, cust, kind, policy, rng)
        ch, hour = decode(action, policy)
        contacted = ch != NO_CONTACT
        jitter = np.where(contacted, rng.uniform(0, 0.2, len(cust)), 0.0)
        sent = cal.to_utc_us(zone[cust], np.full(len(cust), day), hour + jitter)

        n = len(cust)
        tired = fatigue(ring[cust], sent, cfg)
        ctx = SlotContext(
            local_hour=hour,
            weekday=np.full(n, cal.weekday[day]),
            day_of_month=np.full(n, cal.day_of_month[day]),
            travel_recent=air.within(cust, sent, cfg.response.travel_days * US_PER_DAY),
            fatigue=tired,
            drifted=lat.drifted(cust, sent, cfg.start_us),
        )
        drawn = draw_outcomes(lat, cust, ch, sent, ctx, cfg, rng)
        delivered = drawn.delivered
        drawn.responded_at = np.where(drawn.responded_at < end_us, drawn.responded_at, -1)
        drawn.converted_at = np.where(drawn.converted_at < end_us, drawn.converted_at, -1)

        # remember delivered contacts for fatigue (newest first)
        hit = cust[delivered]
        ring[hit, 1:] = ring[hit, :-1]
        ring[hit, 0] = sent[delivered]

        caused = response_events(cust, ch, sent, drawn, rng)
        ev_cust.append(caused.cust)
        ev_ts.append(caused.ts_us)
        ev_type.append(caused.columns["event_type"])

        date = start_label + np.timedelta64(day, "D")
        out["cust"].append(cust)
        out["ts"].append(sent)
        out["campaign"].append(np.full(n, f"{kind}-{date}", dtype=object))
        out["channel"].append(action_names(ch))
        out["delivered"].append(delivered)
        out["responded"].append(drawn.responded_at)
        out["converted"].append(drawn.converted_at)
        out["cost"].append(np.where(contacted, COSTS[np.where(contacted, ch, 0)], 0.0))
        out["arm"].append(arm)
        out["propensity"].append(propensity)
        out["channel_propensity"].append(channel_propensity)

    cat = {k: (np.concatenate(v) if v else np.array([], dtype=np.int64)) for k, v in out.items()}
    feed = Rows(
        cat["cust"],
        cat["ts"],
        {
            "campaign_id": cat["campaign"],
            "channel": cat["channel"],
            "delivered": cat["delivered"].astype(bool),
            "responded_at": cat["responded"],
            "converted_at": cat["converted"],
            "cost": cat["cost"].astype(float),
            "arm": cat["arm"],
            "propensity": cat["propensity"].astype(float),
            "channel_propensity": cat["channel_propensity"].astype(float),
        },
    )
    events = Rows(np.concatenate(ev_cust), np.concatenate(ev_ts), {"event_type": np.concatenate(ev_type)})
    exposed = cat["delivered"].astype(bool)
    exposures = Rows(cat["cust"][exposed], cat["ts"][exposed], {})
    return feed, events, exposures
