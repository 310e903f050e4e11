"""The feature columns other code relies on, as named constants: the contract between the
snapshot SQL (features/snapshot_sql.py writes them) and everything that reads them (the
decision's consent and frequency cap, the request features, the baselines, the simulator's
evaluation). Renaming one in the SQL without renaming it here fails the start-up check
(`missing_columns`) instead of silently switching a rule such as the frequency cap off.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from optichannel.channels import CHANNELS

# profile (static per customer)
TIMEZONE: Final = "prf_tz"
REGION: Final = "prf_region"
BIRTH_YEAR: Final = "prf_birth_year"
SIGNUP_DAY: Final = "prf_signup_day"  # an absolute day number: read as tenure at the slot, never as is
TEXT_COLUMNS: Final[tuple[str, ...]] = (TIMEZONE, REGION)

# contact history
CONTACTS_7D: Final = "cnt_contacts_7d"  # the frequency cap counts these
CONTACTS_30D: Final = "cnt_contacts_30d"
FATIGUE_EPOCH: Final = "cnt_fatigue_epoch"  # when the fatigue columns were measured
LAST_CONTACT_EPOCH: Final = "cnt_last_contact_epoch"

# transactions
SALARY_DAY: Final = "txn_salary_day"
ADVANCE_DAY: Final = "txn_advance_day"
DAYS_SINCE_AIR: Final = "txn_days_since_air"
TXN_COUNT_90D: Final = "txn_count_90d"

# behaviour
ACTIVE_EVENTS_90D: Final = "bhv_active_events_90d"


def consent(channel: str) -> str:
    """The column holding the customer's marketing consent for `channel` (1/0, null unknown)."""
    return f"prf_consent_{channel}"


def response_rate(channel: str) -> str:
    """The customer's smoothed response rate on `channel` over 90 days."""
    return f"cnt_response_rate_{channel}"


def sends_90d(channel: str) -> str:
    return f"cnt_sends_{channel}_90d"


def last_contact_epoch(channel: str) -> str:
    """When `channel` last reached the customer (epoch seconds)."""
    return f"cnt_last_{channel}_epoch"


def fatigue(tau_days: float) -> str:
    """Delivered contacts decayed with time constant `tau_days`, as of `FATIGUE_EPOCH`."""
    return f"cnt_fatigue_{tau_days:g}d"


def app_hour_share(hour: int) -> str:
    """Share of the customer's app/web/message activity in local `hour` (90 days)."""
    return f"bhv_hour_share_{hour:02d}"


def card_hour_share(hour: int) -> str:
    """Share of the customer's card spending in local `hour` (90 days)."""
    return f"txn_hour_share_{hour:02d}"


CONSENTS: Final[tuple[str, ...]] = tuple(consent(c) for c in CHANNELS)

#: what the decision itself reads: without these a rule (consent, frequency cap, zone) breaks
DECISION_COLUMNS: Final[tuple[str, ...]] = (TIMEZONE, CONTACTS_7D, *CONSENTS)


def request_columns(fatigue_taus: Iterable[float]) -> tuple[str, ...]:
    """What the request features read, besides the decision's own columns."""
    per_channel = [f(c) for c in CHANNELS for f in (response_rate, sends_90d, last_contact_epoch)]
    hours = [f(h) for h in range(24) for f in (app_hour_share, card_hour_share)]
    return (
        SIGNUP_DAY, FATIGUE_EPOCH, LAST_CONTACT_EPOCH, SALARY_DAY, ADVANCE_DAY, DAYS_SINCE_AIR, TXN_COUNT_90D,
        ACTIVE_EVENTS_90D, *(fatigue(t) for t in fatigue_taus), *per_channel, *hours,
    )  # fmt: skip


def missing_columns(provided: Iterable[str], fatigue_taus: Iterable[float]) -> list[str]:
    """The contract's columns a feature service does not provide, in contract order."""
    have = set(provided)
    return [c for c in (*DECISION_COLUMNS, *request_columns(fatigue_taus)) if c not in have]
