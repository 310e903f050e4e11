"""Where decisions and outcomes live: one SQLite file locally, PostgreSQL in production.

Replicas behind a load balancer must share one history, so the production profile writes to
PostgreSQL (`OPTICHANNEL_DECISION_LOG_URL`); a laptop needs nothing but a file. Both are reached
through SQLAlchemy Core with the same tables and statements, so the decision log, the outcome
checks, the import and the export have one implementation. Times are stored as ISO 8601 text in
both, exactly as the decision log has always written them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

METADATA = MetaData()
#: seconds a report waits for the outcome lock before it fails (a 503 in the service)
LOCK_TIMEOUT_S = 10
DECISIONS = Table(
    "decisions", METADATA,
    Column("decision_id", Text, primary_key=True), Column("logged_at", Text), Column("customer_id", Text),
    Column("channel", Text), Column("send_at", Text), Column("p_response", Float),
    Column("p_conversion", Float), Column("p_no_contact", Float), Column("expected_value", Float),
    Column("propensity", Float), Column("explored", Integer), Column("fallback", Integer),
    Column("purpose", Text), Column("window_start", Text), Column("window_hours", Integer),
    Column("model_name", Text), Column("model_version", Text), Column("features_as_of", Text),
    Column("campaign", Text), Column("channel_propensity", Float),
)  # fmt: skip
OUTCOMES = Table(
    "outcomes", METADATA,
    Column("decision_id", Text, nullable=False), Column("event", Text, nullable=False),
    Column("at", Text, nullable=False), Column("value", Float), Column("received_at", Text, nullable=False),
    Column("source", Text), PrimaryKeyConstraint("decision_id", "event"),
)  # fmt: skip
QUARANTINE = Table(
    "outcome_quarantine", METADATA,
    Column("source", Text), Column("row", Integer), Column("decision_id", Text), Column("event", Text),
    Column("at", Text), Column("value", Text), Column("reason", Text, nullable=False),
    Column("received_at", Text, nullable=False),
)  # fmt: skip
#: `not_sent` reports whose contact is still to be given back (frequency cap, campaign counters):
#: queued in the transaction that stores the report, deleted once released (an outbox)
RELEASES = Table(
    "outcome_releases", METADATA,
    Column("decision_id", Text, primary_key=True), Column("customer_id", Text), Column("campaign", Text),
    Column("channel", Text), Column("send_at", Text), Column("queued_at", Text, nullable=False),
)  # fmt: skip
IMPORTS = Table(
    "outcome_imports", METADATA,
    Column("fingerprint", Text, primary_key=True), Column("path", Text), Column("rows_done", Integer),
    Column("accepted", Integer), Column("quarantined", Integer), Column("started_at", Text),
    Column("finished_at", Text),
)  # fmt: skip


def store_url(target: Path | str) -> str:
    """A database URL; a plain path is a local SQLite file."""
    if isinstance(target, str) and "://" in target:
        return target
    return f"sqlite:///{Path(target).resolve()}"


def describe(target: Path | str) -> str:
    """The store for messages: the file, or the URL without its password."""
    url = store_url(target)
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def unusable(target: Path | str, exc: Exception) -> str:
    """One line saying the store cannot be used and why (the driver's first line)."""
    text = str(exc).strip()
    why = text.splitlines()[0] if text else type(exc).__name__
    return f"the decision log at {describe(target)} cannot be used ({why})"


@cache
def engine(target: Path | str) -> Engine:
    """The engine for a store, its tables created (and columns added since older logs); cached,
    so a worker keeps one pool per store."""
    url = store_url(target)
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # pooled: opening the file and its pragmas per write costs ~10x the write itself; a writer
        # that fails disposes the pool, so the next attempt opens the file afresh
        made = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(made, "connect")
        def _wal(dbapi_connection: object, _record: object) -> None:
            dbapi_connection.isolation_level = None  # type: ignore[attr-defined]  # SQLAlchemy says when
            dbapi_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[attr-defined]
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")  # type: ignore[attr-defined]

        @event.listens_for(made, "begin")
        def _immediate(connection: object) -> None:
            # a writer takes the lock when it begins: two checks of the same outcome never interleave
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]
    else:
        # a stopped or unreachable server fails within seconds (a 503), not after the OS's timeout
        made = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    _create(made)
    return made


def _create(made: Engine) -> None:
    METADATA.create_all(made)
    found = inspect(made)
    for table in METADATA.sorted_tables:
        have = {c["name"] for c in found.get_columns(table.name)}
        with made.begin() as con:
            for column in table.columns:
                if column.name not in have:
                    kind = column.type.compile(made.dialect)
                    con.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def serialise(con: object) -> None:
    """Inside a transaction: make concurrent outcome checks take turns (PostgreSQL; SQLite's
    BEGIN IMMEDIATE already does)."""
    if con.dialect.name == "postgresql":  # type: ignore[attr-defined]
        # a lock held by a connection lost mid-transaction must not hold every report past its timeout
        con.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'"))  # type: ignore[attr-defined]
        con.execute(text("LOCK TABLE outcomes IN SHARE ROW EXCLUSIVE MODE"))  # type: ignore[attr-defined]


def insert(table: Table, dialect: str):
    """An INSERT with the dialect's ON CONFLICT clauses available."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
