"""Data contracts of the three feeds plus the customer profile (DESIGN.md section 2).

A contract is plain data (columns, types, rules); `features.validation` enforces it and
the simulator writes to it, so both sides read the same definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from optichannel.channels import ACTIONS, CHANNELS

Kind = Literal["str", "int", "float", "bool", "timestamp", "date", "tz"]

TXN_CATEGORIES: Final[tuple[str, ...]] = (
    "salary",
    "advance",
    "groceries",
    "travel_air",
    "travel_hotel",
    "fuel",
    "restaurants",
    "online",
    "cash_atm",
    "transfer",
    "utilities",
    "other",
)
EVENT_TYPES: Final[tuple[str, ...]] = (
    "app_session",
    "web_session",
    "push_open",
    "email_open",
    "email_click",
    "sms_click",
    "messenger_reply",
    "promo_click",
    "inbound_call",
    "inbound_email",
    "inbound_chat",
    "branch_visit",
)
#: inbound event type -> channel it reveals a preference for
INBOUND_CHANNEL: Final[dict[str, str]] = {
    "inbound_call": "call",
    "inbound_email": "email",
    "inbound_chat": "messenger",
}


@dataclass(frozen=True)
class Column:
    """One column of a feed: its type and the rules a row must pass."""

    name: str
    kind: Kind
    required: bool = True  # the column must exist in the file
    nullable: bool = False  # a null value is allowed
    unique: bool = False
    allowed: tuple[str, ...] | None = None
    min: float | None = None  # inclusive
    max: float | None = None  # inclusive
    positive: bool = False  # strictly > 0
    not_future: bool = False  # timestamps/dates must not lie after the reference time
    references: str | None = None  # "table.column" that must contain this value
    # an optional detail (a CRM often lacks it): a bad value is blanked and counted, the row is kept
    blank_bad: bool = False


@dataclass(frozen=True)
class RowRule:
    """A rule over several columns of one row (e.g. responded_at >= sent_at)."""

    name: str
    later: str
    earlier: str


@dataclass(frozen=True)
class Contract:
    table: str
    key: str
    columns: tuple[Column, ...]
    row_rules: tuple[RowRule, ...] = field(default_factory=tuple)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.table} has no column {name!r}")


CUSTOMERS = Contract(
    table="customers",
    key="customer_id",
    columns=(
        Column("customer_id", "str", unique=True),
        Column("signup_date", "date", not_future=True),
        Column("birth_year", "int", required=False, nullable=True, min=1900, max=2015, blank_bad=True),
        Column("region", "str", required=False, nullable=True, blank_bad=True),
        # without a zone, validation assumes one (the feed's most common) rather than drop the customer
        Column("tz", "tz", required=False),
        *(Column(f"consent_{ch}", "bool") for ch in CHANNELS),
    ),
)

TRANSACTIONS = Contract(
    table="transactions",
    key="txn_id",
    columns=(
        Column("txn_id", "str", unique=True),
        Column("customer_id", "str", references="customers.customer_id"),
        Column("ts", "timestamp", not_future=True),
        Column("amount", "float", positive=True),
        Column("currency", "str"),
        Column("direction", "str", allowed=("debit", "credit")),
        Column("category", "str", allowed=TXN_CATEGORIES),
        Column("merchant_channel", "str", nullable=True, allowed=("online", "offline")),
    ),
)

EVENTS = Contract(
    table="events",
    key="event_id",
    columns=(
        Column("event_id", "str", unique=True),
        Column("customer_id", "str", references="customers.customer_id"),
        Column("ts", "timestamp", not_future=True),
        Column("event_type", "str", allowed=EVENT_TYPES),
    ),
)

CONTACTS = Contract(
    table="contacts",
    key="contact_id",
    columns=(
        Column("contact_id", "str", unique=True),
        Column("customer_id", "str", references="customers.customer_id"),
        Column("campaign_id", "str"),
        Column("channel", "str", allowed=ACTIONS),
        Column("sent_at", "timestamp", not_future=True),
        Column("delivered", "bool"),
        Column("responded_at", "timestamp", nullable=True),
        Column("converted_at", "timestamp", nullable=True),
        Column("cost", "float", min=0.0),
        Column("arm", "str", required=False, nullable=True),
        Column("propensity", "float", required=False, nullable=True, min=0.0, max=1.0, positive=True),
        # probability the logging policy had of this channel at any hour (or of no contact)
        Column("channel_propensity", "float", required=False, nullable=True, min=0.0, max=1.0, positive=True),
        Column("decision_id", "str", required=False, nullable=True),
    ),
    row_rules=(
        RowRule("responded_at >= sent_at", later="responded_at", earlier="sent_at"),
        RowRule("converted_at >= sent_at", later="converted_at", earlier="sent_at"),
    ),
)

#: validation order matters: customers first, so references can be checked
CONTRACTS: Final[dict[str, Contract]] = {c.table: c for c in (CUSTOMERS, TRANSACTIONS, EVENTS, CONTACTS)}
