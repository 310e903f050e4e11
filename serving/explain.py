"""Drivers in words: a model input's contribution to P(conversion) as a phrase a marketer reads.

The model explains itself in raw feature names and log-odds; a CRM user needs "salary day tomorrow"
and whether it spoke for or against the choice. One rule per feature family (the names come from
`features.snapshot_sql` and `features.request_features`), the value folded into the phrase.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from optichannel.channels import ACTIONS, CHANNELS, NONE

Direction = Literal["for", "against"]
#: (finite value, the name's pattern groups plus ch, show, hour, at) -> phrase
Rule = Callable[[float, dict[str, Any]], str]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: how a channel reads in a sentence, and what one send on it is called (singular, plural)
SHOWN = {"email": "e-mail", "sms": "SMS", "push": "push", "call": "call", "messenger": "messenger"}
SENDS = {"email": ("e-mail", "e-mails"), "sms": ("SMS", "SMS"), "push": ("push", "pushes"),
         "call": ("call", "calls"), "messenger": ("messenger message", "messenger messages")}  # fmt: skip
SHARES = {"groceries": "groceries", "restaurants": "restaurants", "travel_air": "air travel",
          "travel_hotel": "hotels", "cash_atm": "cash withdrawals", "online": "online shopping",
          "transfer": "transfers"}  # fmt: skip
EVENTS = {"app_sessions": ("app session", "app sessions"), "web_session": ("web session", "web sessions"),
          "email_open": ("e-mail opened", "e-mails opened"), "email_click": ("e-mail click", "e-mail clicks"),
          "push_open": ("push opened", "pushes opened"),
          "inbound_call": ("call to the bank", "calls to the bank"),
          "inbound_email": ("e-mail to the bank", "e-mails to the bank"),
          "inbound_chat": ("chat with the bank", "chats with the bank"),
          "branch_visit": ("branch visit", "branch visits")}  # fmt: skip
#: relative activity in three words, from high (>= 0.6 of the busiest hour) to low (< 0.25)
ACTIVE, LIKELY = "usually/sometimes/rarely", "likely/fairly likely/unlikely"
FAMILY = {"bhv": "activity", "txn": "card payments"}
#: the per-channel copies of the context features (`request_features.CHANNEL_CONTEXT`): their topic
CONTEXT_TOPIC = {"days_to_payday": "salary timing", "days_since_payday": "salary timing",
                 "days_since_air": "air-ticket timing"}  # fmt: skip
#: the channel's own request features, blanked for `none` (`request_features.CHANNEL_SPECIFIC`)
BLANKED = {"req_channel": "not contacting at all", "req_channel_consent": "channel consent: not contacting",
           "req_hours_since_channel_contact": "channel's last contact: not contacting",
           "req_channel_response_rate": "channel response rate: not contacting",
           "req_channel_sends_90d": "channel sends: not contacting"}  # fmt: skip


def _num(v: float) -> str:
    """Counts and amounts as people write them: 3, 2.5, 1,234 (and 1.23e+12 for nonsense)."""
    return f"{v:.3g}" if abs(v) >= 1e9 else f"{v:,.0f}" if abs(v) >= 100 else f"{round(v, 1):g}"


def _count(v: float, noun: tuple[str, str] | str) -> str:
    one, many = noun if isinstance(noun, tuple) else (noun, noun + "s")
    return f"{_num(v)} {one if round(v, 1) == 1 else many}"


def _clock(h: float) -> str:
    return f"{int(h) % 24:02d}:00"


def _days_ago(d: float, words: tuple[str, str, str] = ("today", "yesterday", "{} days ago")) -> str:
    n = max(math.floor(d), 0)  # whole calendar days: 2.6 days after a purchase is still "2 days ago"
    return words[min(n, 2)].format(n)


def _hours_ago(h: float) -> str:
    return (
        _days_ago(h / 24)
        if h >= 48
        else "less than an hour ago"
        if h < 1
        else f"{_count(round(h), 'hour')} ago"
    )


def _date(epoch_seconds: float) -> str:
    return f"{datetime.fromtimestamp(epoch_seconds, UTC):%d %b %Y}"


def _level(v: float, g: dict[str, Any], words: str, tail: str) -> str:
    """Relative activity at the send hour (1 = the customer's busiest hour) in three words."""
    return f"{words.split('/')[0 if v >= 0.6 else 1 if v >= 0.25 else 2]} {tail.format(g['at'])}"


def _to_peak(v: float, g: dict[str, Any]) -> str:
    after = f"{_count(round(v), 'hour')} after the send"
    if round(v) == 0 or g["hour"] is None:
        return "sent at their most active hour" if round(v) == 0 else f"most active {after}"
    return f"usually active around {_clock(g['hour'] + v)}, {after}"


def _action(v: float, g: dict[str, Any], codes: tuple[str, ...] = ACTIONS) -> str:
    """The treatment: the send's channel (decoded from the value only if the channel is unknown)."""
    ch = g["ch"] if g["ch"] in ACTIONS else codes[int(v)] if 0 <= v < len(codes) else "unknown"
    return "not contacting at all" if ch == NONE else f"the channel itself: {SHOWN.get(ch, ch)}"


_CH = "(?P<ch>" + "|".join(CHANNELS) + ")"
#: name pattern -> (phrase of a known value, phrase of an unknown one); both read the pattern's groups
# fmt: off
RULES: dict[str, tuple[Rule, str]] = {
    "action": (_action, "the channel itself: {show}"),
    "req_channel": (lambda v, g: _action(v, g, CHANNELS), "the channel itself: {show}"),
    "req_local_hour": (lambda v, g: f"sent at {_clock(v)} local", "send hour: unknown"),
    "req_weekday": (lambda v, g: f"on a {WEEKDAYS[int(v) % 7]}", "weekday: unknown"),
    "req_days_to_payday": (lambda v, g: f"salary day {_days_ago(v, ('today', 'tomorrow', 'in {} days'))}",
                           "salary day: unknown"),
    "req_days_since_payday": (lambda v, g: f"paid {_days_ago(v)}", "last salary day: unknown"),
    "(req|txn)_days_since_air": (lambda v, g: f"bought an air ticket {_days_ago(v)}",
                                 "no air ticket on record"),
    "req_hours_since_contact": (lambda v, g: f"last contacted {_hours_ago(v)}", "no contact on record"),
    "req_hours_since_channel_contact": (lambda v, g: f"last contacted by {g['show']} {_hours_ago(v)}",
                                        "no {show} contact on record"),
    "(req|cnt)_fatigue(_(?P<tau>\\d+)d)?": (lambda v, g: f"{_count(v, 'recent contact')} (fatigue)",
                                            "recent contacts (fatigue): unknown"),
    "req_activity_at_hour": (lambda v, g: _level(v, g, ACTIVE, "active around {}"),
                             "activity at the send hour: unknown"),
    "req_activity_next_3h": (lambda v, g: _level(v, g, ACTIVE, "active in the 3 hours from {}"),
                             "activity after the send: unknown"),
    "req_hours_to_peak": (_to_peak, "most active hour: unknown"),
    "req_reach": (lambda v, g: _level(v, g, LIKELY, "to see a message soon after {}"),
                  "chance to see a message soon: unknown"),
    "req_tenure_days": (lambda v, g: f"a customer for {_tenure(v)}", "time as a customer: unknown"),
    f"(req_channel|cnt)_response_rate(_{_CH})?": (lambda v, g: f"{g['show']} response rate {v:.0%}",
                                                  "{show} response rate: unknown"),
    f"(req_channel|cnt)_sends(_{_CH})?_90d": (lambda v, g: f"{_count(v, SENDS[g['ch']])} in the last 90 days",
                                              "{show} sends in 90 days: unknown"),
    f"(req_channel|prf)_consent(_{_CH})?": (
        lambda v, g: f"consented to {g['show']}" if v >= 0.5 else f"no {g['show']} consent",
        "{show} consent: unknown"),
    f"cnt_last_{_CH}_epoch": (lambda v, g: f"last {g['show']} contact on {_date(v)}" if v > 0
                              else f"no {g['show']} contact on record", "no {show} contact on record"),
    "cnt_last_contact_epoch": (lambda v, g: f"last contacted on {_date(v)}" if v > 0
                               else "no contact on record", "no contact on record"),
    "cnt_fatigue_epoch": (lambda v, g: f"contact history as of {_date(v)}", "contact history date: unknown"),
    "cnt_contacts_(?P<w>\\d+)d": (lambda v, g: f"{_count(v, 'contact')} in the last {g['w']} days",
                                  "contacts in {w} days: unknown"),
    "txn_spend_(?P<w>\\d+)d": (lambda v, g: f"card spending {_num(v)} in the last {g['w']} days",
                               "card spending in {w} days: unknown"),
    "txn_count_(?P<w>\\d+)d": (lambda v, g: f"{_count(v, 'card payment')} in the last {g['w']} days",
                               "card payments in {w} days: unknown"),
    "txn_share_(?P<cat>\\w+)_90d": (lambda v, g: f"{SHARES.get(g['cat'], g['cat'])}: {v:.0%} of payments",
                                    "share of card payments: unknown"),
    "txn_income_month_90d": (lambda v, g: f"income about {_num(v)} a month", "monthly income: unknown"),
    "txn_cash_count_30d": (lambda v, g: f"{_count(v, 'cash withdrawal')} in the last 30 days",
                           "cash withdrawals: unknown"),
    "txn_air_tickets_90d": (lambda v, g: f"{_count(v, 'air ticket')} in the last 90 days",
                            "air tickets in 90 days: unknown"),
    "txn_(?P<pay>salary|advance)_day": (lambda v, g: f"{g['pay']} usually on day {round(v)} of the month",
                                        "{pay} day: unknown"),
    "(?P<fam>bhv|txn)_hour_share_(?P<hh>\\d+)": (lambda v, g: f"{v:.0%} of {g['fam']} around {g['hh']}:00",
                                               "{fam} around {hh}:00: unknown"),
    f"bhv_inbound_share_{_CH}_90d": (lambda v, g: f"{v:.0%} of own contacts with the bank by {g['show']}",
                                     "own contacts with the bank by {show}: unknown"),
    "bhv_(?P<ev>" + "|".join(EVENTS) + ")_(?P<w>\\d+)d": (
        lambda v, g: f"{_count(v, EVENTS[g['ev']])} in the last {g['w']} days", "{evs} in {w} days: unknown"),
    "bhv_active_events_90d": (lambda v, g: f"active {_count(v, 'time')} in 90 days (app, web, messages)",
                              "activity in 90 days: unknown"),
    "bhv_weekend_share_90d": (lambda v, g: f"{v:.0%} of activity at weekends", "weekend activity: unknown"),
    "bhv_days_since_active": (lambda v, g: f"last active {_days_ago(v)}", "no recent activity on record"),
    "prf_birth_year": (lambda v, g: f"born in {round(v)}", "age: unknown"),
    "prf_signup_day": (lambda v, g: f"customer since {_date(v * 86400)}", "customer since: unknown"),
    "prf_region": (lambda v, g: "their region", "their region"),
    "prf_tz": (lambda v, g: "their time zone", "their time zone"),
}
# fmt: on
COMPILED = [(re.compile(pattern), rule, unknown) for pattern, (rule, unknown) in RULES.items()]
CONTEXT = re.compile(f"req_{_CH}_(?P<base>" + "|".join(CONTEXT_TOPIC) + ")")


def _tenure(days: float) -> str:
    if days < 60:
        return f"{max(0, round(days))} days"
    if days < 730:
        return f"{round(days / 30.44)} months"
    return f"{days / 365.25:.0f} years"


def direction(contribution: float) -> Direction:
    """Whether the driver speaks "for" the choice (raises its P(conversion)) or "against" it."""
    return "for" if contribution > 0 else "against"


def describe(
    feature: str, value: float | None, contribution: float, channel: str, local_hour: int | None
) -> tuple[str, Direction]:
    """(label, direction) of one driver: `channel` is the chosen action, `local_hour` its send hour
    (None for `none`); never fails: unknown names read as their words plus the value."""
    hour = finite(local_hour)
    label = _label(str(feature), finite(value), channel, None if hour is None else int(hour))
    return label, direction(contribution)


def finite(x: Any) -> float | None:
    """A float, or None for a missing, NaN, infinite or non-numeric value."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _label(feature: str, v: float | None, channel: str, hour: int | None) -> str:
    context = CONTEXT.fullmatch(feature)
    if context:  # a per-channel copy: empty (None) unless the send is on that channel
        ch, base = context["ch"], context["base"]
        if v is None and ch != channel:
            why = "not contacting" if channel == NONE else "not this channel"
            return f"{CONTEXT_TOPIC[base]} for {SHOWN[ch]}: {why}"
        return f"{_label('req_' + base, v, channel, hour)} (for {SHOWN[ch]})"
    if v is None and channel == NONE and feature in BLANKED:
        return BLANKED[feature]
    for pattern, rule, unknown in COMPILED:
        match = pattern.fullmatch(feature)
        if not match:
            continue
        g: dict[str, Any] = {"ch": channel, **{k: s for k, s in match.groupdict().items() if s}, "hour": hour}
        g.update(show=SHOWN.get(g["ch"], g["ch"]), at=_clock(hour) if hour is not None else "the send hour")
        g.update(evs=EVENTS.get(g.get("ev", ""), ("", ""))[1], fam=FAMILY.get(g.get("fam", ""), ""))
        try:
            return rule(v, g) if v is not None else unknown.format(**g)
        except (ArithmeticError, ValueError, KeyError, IndexError, OSError):
            break  # a value out of any sensible range: say it plainly below
    return f"{feature.replace('_', ' ')}: {_num(v) if v is not None else 'unknown'}"


def no_contact_reason(best_channel: str | None, best_value: float | None, none_value: float) -> str:
    """Why `none` won: no channel is allowed, or the best contact is worth less than not contacting."""
    if best_channel is None:
        return "no contact: no channel is allowed"
    best = f"no contact: the best option, {SHOWN.get(best_channel, best_channel)},"
    if best_value is None or not math.isfinite(best_value):
        return f"{best} is not worth more than {none_value:.2f} without contact"
    return f"{best} is worth {best_value:.2f} against {none_value:.2f} without contact"
