"""SQL for the daily feature snapshots, one query per family.

Each query turns a dense customer x day grid into windowed aggregates whose frames end
the day *before* the snapshot (ROWS ... AND 1 PRECEDING), so a snapshot stamped at
00:00 UTC of day d sees only data strictly before it. Output is sorted by time, so readers
of recent snapshots (materialize) skip old row groups.

Every feature looks back at most LOOKBACK_DAYS days (the longest window; "last salary day" or
"last contact" older than that is null, as if never seen). So snapshots from day n on need only
the feeds from n - LOOKBACK_DAYS: `{since}` is that first day read, which lets a daily build
recompute just the new days (features/build.py) and give exactly what a full rebuild gives.

Every window is computed once in an inner query and combined (ratios, smoothing) outside it.
Plain window SQL with CASE sums. The queries are written once for DuckDB and Spark SQL: what
the engines spell differently (local time, day of week, epoch, timestamp literals, day series,
IGNORE NULLS, sum types) comes from a `Dialect` (features/sql_dialect.py), DuckDB by default.
"""

from __future__ import annotations

from collections.abc import Callable

from features.snapshot_family import LOOKBACK_DAYS, WINDOWS, Family
from features.sql_dialect import DUCKDB, Dialect
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS
from optichannel.contracts import INBOUND_CHANNEL

HOURS = range(24)
#: behaviour that shows the customer is awake and looking at the bank
ACTIVITY_EVENTS = ("app_session", "web_session", "push_open", "email_click", "sms_click", "messenger_reply")
COUNTED_EVENTS = ("app_session", "web_session", "email_open", "email_click", "push_open", "inbound_call",
                  "inbound_email", "inbound_chat", "branch_visit")  # fmt: skip
TXN_SHARES = ("groceries", "restaurants", "travel_air", "travel_hotel", "cash_atm", "online", "transfer")
SINCE = "{since}"  # first day read from the feeds (its UTC midnight: `Dialect.instant`)
#: money summed exactly (amounts are in cents): the same total whatever the order, so an
#: incremental build matches a full one to the bit
CENTS = "CAST(amount AS DECIMAL(18, 2))"
SMOOTHING = 10.0  # pseudo-sends pulling a customer's response rate towards the population's
#: weekend days start later: weekend activity at local hour h counts half at h-1 and half at h-2, so
#: the hour shares describe a weekday; estimated from the feeds (population weekend/weekday hours)
WEEKEND_SHIFT_HOURS = (1, 2)
#: recent delivered contacts tire a customer, their weight decaying with a time constant that
#: differs between banks: one decayed count per candidate constant, each over 6 of its constants;
#: training estimates which one the data follow (`features.request_params`)
FATIGUE_TAUS_DAYS = (1, 3, 7)
FATIGUE_SPAN = 6


def _hourly(rows: str) -> str:
    """Per customer and day, the count of `rows` (customer_id, day, local_hour, local_dow) at each
    local hour h00..h23, a weekend row split over its WEEKEND_SHIFT_HOURS earlier hours.

    Rows are first grouped by local hour and day of week, so the 24 counts read small integers:
    written over the raw rows, an engine may re-derive local time in each of them (DuckDB does,
    inside CASE), which cost more than all the windows."""
    share = 1 / len(WEEKEND_SHIFT_HOURS)
    counts = ",\n      ".join(
        f"SUM(CASE WHEN local_dow < 6 AND local_hour = {h} THEN n "
        + " ".join(
            f"WHEN local_dow >= 6 AND (local_hour + {24 - s}) % 24 = {h} THEN {share} * n"
            for s in WEEKEND_SHIFT_HOURS
        )
        + f" ELSE 0 END) AS h{h:02d}"
        for h in HOURS
    )
    return f"""SELECT customer_id, day,
      {counts}
    FROM (SELECT customer_id, day, local_hour, local_dow, COUNT(*) AS n FROM ({rows}) GROUP BY 1, 2, 3, 4)
    GROUP BY 1, 2"""


def _with_hours(daily: str, hourly: str) -> str:
    """`daily` (one row per customer and day) with the hour counts of `hourly` beside it (0 if none)."""
    hours = ", ".join(f"COALESCE(h.h{h:02d}, 0) AS h{h:02d}" for h in HOURS)
    return f"""
    SELECT m.*, {hours}
    FROM ({daily}) m LEFT JOIN ({hourly}) h ON h.customer_id = m.customer_id AND h.day = m.day"""


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def transactions_family(dialect: Dialect = DUCKDB) -> Family:
    shares = ",\n      ".join(_count(f"category = '{c}'") + f" AS n_{c}" for c in TXN_SHARES if c != "online")
    # card spending happens while the customer is awake: a second view of the daily rhythm
    local_ts, since = dialect.local_time("c.tz", "t.ts"), dialect.instant(SINCE)
    joined = f"transactions t JOIN customers c ON c.customer_id = t.customer_id WHERE t.ts >= {since}"
    debits = f"""SELECT t.customer_id, CAST(t.ts AS DATE) AS day, EXTRACT(HOUR FROM {local_ts}) AS local_hour,
                       {dialect.iso_dow(local_ts)} AS local_dow
                FROM {joined} AND t.direction = 'debit'"""
    daily = f"""
    SELECT t.customer_id, CAST(t.ts AS DATE) AS day,
      SUM(CASE WHEN direction = 'debit' THEN {CENTS} ELSE 0 END) AS spend,
      {_count("direction = 'debit'")} AS n_debit,
      SUM(CASE WHEN category IN ('salary', 'advance') THEN {CENTS} ELSE 0 END) AS income,
      {_count("merchant_channel = 'online'")} AS n_online,
      {shares},
      MAX(CASE WHEN category = 'salary' THEN EXTRACT(DAY FROM {local_ts}) END) AS salary_dom,
      MAX(CASE WHEN category = 'advance' THEN EXTRACT(DAY FROM {local_ts}) END) AS advance_dom
    FROM {joined}
    GROUP BY 1, 2"""
    fam = Family(_with_hours(daily, _hourly(debits)), dialect)
    for w in WINDOWS:
        fam.out(f"CAST({fam.window_sum('spend', w)} AS DOUBLE)", f"txn_spend_{w}d")
        fam.out(fam.window_sum("n_debit", w), f"txn_count_{w}d")
    n90 = fam.window_sum("n_debit", 90)
    for c in TXN_SHARES:
        fam.out(f"{fam.window_sum(f'n_{c}', 90)} / NULLIF({n90}, 0)", f"txn_share_{c}_90d")
    fam.out(f"CAST({fam.window_sum('income', 90)} AS DOUBLE) / 3.0", "txn_income_month_90d")
    fam.out(fam.window_sum("n_cash_atm", 30), "txn_cash_count_30d")
    fam.out(fam.window_sum("n_travel_air", 90), "txn_air_tickets_90d")
    fam.out(fam.days_since("a.n_travel_air > 0", "since_air"), fc.DAYS_SINCE_AIR)
    fam.out(fam.last_value("a.salary_dom", "salary_dom"), fc.SALARY_DAY)
    fam.out(fam.last_value("a.advance_dom", "advance_dom"), fc.ADVANCE_DAY)
    for h in HOURS:
        fam.out(f"{fam.window_sum(f'h{h:02d}', 90)} / NULLIF({n90}, 0)", fc.card_hour_share(h))
    return fam


def behaviour_family(dialect: Dialect = DUCKDB) -> Family:
    active = "event_type IN (" + ", ".join(f"'{e}'" for e in ACTIVITY_EVENTS) + ")"
    counts = ",\n      ".join(_count(f"event_type = '{e}'") + f" AS n_{e}" for e in COUNTED_EVENTS)
    local_ts, since = dialect.local_time("c.tz", "e.ts"), dialect.instant(SINCE)
    events = f"""SELECT e.customer_id, e.event_type, CAST(e.ts AS DATE) AS day,
                       EXTRACT(HOUR FROM {local_ts}) AS local_hour, {dialect.iso_dow(local_ts)} AS local_dow
                FROM events e JOIN customers c ON c.customer_id = e.customer_id WHERE e.ts >= {since}"""
    daily = f"""
    SELECT customer_id, day,
      {counts},
      {_count(active)} AS n_active,
      {_count(f"{active} AND local_dow >= 6")} AS n_weekend
    FROM ({events})
    GROUP BY 1, 2"""
    fam = Family(_with_hours(daily, _hourly(f"SELECT * FROM ({events}) WHERE {active}")), dialect)
    for w in (7, 30):
        fam.out(fam.window_sum("n_app_session", w), f"bhv_app_sessions_{w}d")
    for e in COUNTED_EVENTS[1:]:
        fam.out(fam.window_sum(f"n_{e}", 30), f"bhv_{e}_30d")
    active90 = fam.window_sum("n_active", 90)
    fam.out(active90, "bhv_active_events_90d")
    fam.out(f"{fam.window_sum('n_weekend', 90)} / NULLIF({active90}, 0)", "bhv_weekend_share_90d")
    fam.out(fam.days_since("a.n_active > 0", "since_active"), "bhv_days_since_active")
    for h in HOURS:
        fam.out(f"{fam.window_sum(f'h{h:02d}', 90)} / NULLIF({active90}, 0)", fc.app_hour_share(h))
    inbound = " + ".join(fam.window_sum(f"n_{e}", 90) for e in INBOUND_CHANNEL)
    for e, ch in INBOUND_CHANNEL.items():
        fam.out(f"{fam.window_sum(f'n_{e}', 90)} / NULLIF({inbound}, 0)", f"bhv_inbound_share_{ch}_90d")
    return fam


def contacts_family(dialect: Dialect = DUCKDB) -> Family:
    epoch, since = dialect.epoch, dialect.instant(SINCE)
    sends = ",\n      ".join(
        _count(f"channel = '{ch}'")
        + f" AS s_{ch}, MAX(CASE WHEN channel = '{ch}' THEN {epoch('sent_at')} END) AS last_{ch}"
        for ch in CHANNELS
    )
    responses = ", ".join(_count(f"channel = '{ch}'") + f" AS r_{ch}" for ch in CHANNELS)
    picked = ", ".join([f"s.s_{ch}, s.last_{ch}, r.r_{ch}" for ch in CHANNELS] + ["s.s_all"]
                       + [f"s.fat_{tau}" for tau in FATIGUE_TAUS_DAYS])  # fmt: skip
    next_midnight = epoch("CAST(sent_at AS DATE) + INTERVAL 1 DAY")
    fatigue = ",\n                 ".join(
        f"SUM(CASE WHEN channel <> 'none' AND delivered THEN EXP(-({next_midnight}"
        f" - {epoch('sent_at')}) / {tau * 86400}) ELSE 0 END) AS fat_{tau}"
        for tau in FATIGUE_TAUS_DAYS
    )
    totals = ", ".join(f"SUM(r_{ch}) AS r_{ch}, SUM(s_{ch}) AS s_{ch}" for ch in CHANNELS)
    prior = ",\n      ".join(
        f"COALESCE(SUM(t.r_{ch}) OVER w / NULLIF(SUM(t.s_{ch}) OVER w, 0), 0.05) AS prior_{ch}"
        for ch in CHANNELS
    )
    fam = Family(
        f"""
    SELECT COALESCE(s.customer_id, r.customer_id) AS customer_id, COALESCE(s.day, r.day) AS day, {picked}
    FROM (SELECT customer_id, CAST(sent_at AS DATE) AS day, {sends},
                 {_count("channel <> 'none'")} AS s_all,
                 {fatigue}
          FROM contacts WHERE sent_at >= {since} GROUP BY 1, 2) s
    FULL OUTER JOIN (SELECT customer_id, CAST(responded_at AS DATE) AS day, {responses}
          FROM contacts WHERE responded_at >= {since} GROUP BY 1, 2) r
      ON r.customer_id = s.customer_id AND r.day = s.day""",
        dialect,
        # the population's response rate per channel from every day before the snapshot
        shared={
            "prior": f"""
  SELECT d.day,
      {prior}
  FROM days d LEFT JOIN (SELECT day, {totals} FROM daily GROUP BY day) t ON t.day = d.day
  WINDOW w AS (ORDER BY d.day ROWS BETWEEN {LOOKBACK_DAYS} PRECEDING AND 1 PRECEDING)
"""
        },
        joins="LEFT JOIN prior p ON p.day = g.day",
    )
    fam.out(fam.window_sum("s_all", 7), fc.CONTACTS_7D)
    fam.out(fam.window_sum("s_all", 30), fc.CONTACTS_30D)
    # fatigue as of the snapshot (midnight UTC); request features decay it on to the slot
    for tau in FATIGUE_TAUS_DAYS:
        fam.out(fam.decayed_sum(f"fat_{tau}", FATIGUE_SPAN * tau, tau), fc.fatigue(tau))
    fam.out(epoch("event_timestamp"), fc.FATIGUE_EPOCH)
    for ch in CHANNELS:
        fam.column(f"p.prior_{ch}", f"prior_{ch}")
        sent, resp = fam.window_sum(f"s_{ch}", 90), fam.window_sum(f"r_{ch}", 90)
        fam.out(sent, fc.sends_90d(ch))
        fam.out(f"({resp} + {SMOOTHING} * prior_{ch}) / ({sent} + {SMOOTHING})", fc.response_rate(ch))
        fam.out(fam.last_value(f"a.last_{ch}", f"last_{ch}"), fc.last_contact_epoch(ch))
    fam.out(
        "GREATEST(" + ", ".join(f"COALESCE(last_{ch}, 0)" for ch in CHANNELS) + ")", fc.LAST_CONTACT_EPOCH
    )
    return fam


def profile_sql(dialect: Dialect = DUCKDB) -> str:
    consents = ", ".join(f"CAST(consent_{ch} AS BIGINT) AS {fc.consent(ch)}" for ch in CHANNELS)
    return f"""
SELECT customer_id, {dialect.utc_midnight("signup_date")} AS event_timestamp,
  birth_year AS {fc.BIRTH_YEAR}, {dialect.epoch("signup_date")} / 86400.0 AS {fc.SIGNUP_DAY},
  COALESCE(region, 'unknown') AS {fc.REGION}, tz AS {fc.TIMEZONE}, {consents}
FROM customers ORDER BY event_timestamp, customer_id"""


#: the families with daily snapshots, as `Family` objects (windows as specs and as SQL)
DAILY_FAMILIES: dict[str, Callable[[Dialect], Family]] = {
    "transactions": transactions_family,
    "behaviour": behaviour_family,
    "contacts": contacts_family,
}


def _whole_sql(make: Callable[[Dialect], Family]) -> Callable[[Dialect], str]:
    def sql(dialect: Dialect = DUCKDB) -> str:
        return make(dialect).sql()

    return sql


#: every family's whole query (windows in SQL), by name
FAMILIES: dict[str, Callable[..., str]] = {
    **{name: _whole_sql(make) for name, make in DAILY_FAMILIES.items()},
    "profile": profile_sql,
}
