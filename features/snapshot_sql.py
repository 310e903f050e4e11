"""SQL for the daily feature snapshots, one query per family.

Each query turns a dense customer x day grid into windowed aggregates whose frames end
the day *before* the snapshot (ROWS ... AND 1 PRECEDING), so a snapshot stamped at
00:00 UTC of day d sees only data strictly before it. Plain ANSI window SQL with CASE
sums (no DuckDB-only syntax beyond `timezone()`, which is `from_utc_timestamp` in Spark).
"""

from __future__ import annotations

from optichannel.channels import CHANNELS
from optichannel.contracts import INBOUND_CHANNEL

WINDOWS = (7, 30, 90)
HOURS = range(24)
#: behaviour that shows the customer is awake and looking at the bank
ACTIVITY_EVENTS = ("app_session", "web_session", "push_open", "email_click", "sms_click", "messenger_reply")
COUNTED_EVENTS = (
    "app_session",
    "web_session",
    "email_open",
    "email_click",
    "push_open",
    "inbound_call",
    "inbound_email",
    "inbound_chat",
    "branch_visit",
)
TXN_SHARES = ("groceries", "restaurants", "travel_air", "travel_hotel", "cash_atm", "online", "transfer")
SMOOTHING = 10.0  # pseudo-sends pulling a customer's response rate towards the population's


def _grid(table_days: str) -> str:
    """customer x day grid from each customer's signup (or the first day) to the last snapshot."""
    return f"""
days AS (
  SELECT CAST(unnest(generate_series(DATE '{{first_day}}', DATE '{{last_day}}', INTERVAL 1 DAY)) AS DATE)
    AS day
),
grid AS (
  SELECT c.customer_id, d.day FROM customers c CROSS JOIN days d
  WHERE d.day >= CAST(c.signup_date AS DATE)
),
daily AS (SELECT * FROM {table_days})"""


def _win(expr: str, days: int) -> str:
    frame = f"ROWS BETWEEN {days} PRECEDING AND 1 PRECEDING"
    return f"COALESCE(SUM({expr}) OVER (PARTITION BY g.customer_id ORDER BY g.day {frame}), 0)"


def _last(expr: str) -> str:
    return (
        f"LAST_VALUE({expr} IGNORE NULLS) OVER (PARTITION BY g.customer_id ORDER BY g.day "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    )


def _days_since(condition: str) -> str:
    """Whole days from the last day on which `condition` held to the snapshot day."""
    return f"DATE_DIFF('day', {_last(f'CASE WHEN {condition} THEN g.day END')}, g.day)"


def _select(body: str, joins: str = "") -> str:
    return f"""
SELECT * FROM (
  SELECT g.customer_id, CAST(g.day AS TIMESTAMP) AT TIME ZONE 'UTC' AS event_timestamp, {body}
  FROM grid g LEFT JOIN daily a ON a.customer_id = g.customer_id AND a.day = g.day {joins}
) WHERE event_timestamp >= TIMESTAMPTZ '{{first_snapshot}} 00:00:00+00'
ORDER BY customer_id, event_timestamp"""


def transactions_sql() -> str:
    shares = ",\n      ".join(
        f"SUM(CASE WHEN category = '{c}' THEN 1 ELSE 0 END) AS n_{c}" for c in TXN_SHARES if c != "online"
    )
    daily = f"""(
    SELECT t.customer_id, CAST(t.ts AS DATE) AS day,
      SUM(CASE WHEN direction = 'debit' THEN amount ELSE 0 END) AS spend,
      SUM(CASE WHEN direction = 'debit' THEN 1 ELSE 0 END) AS n_debit,
      SUM(CASE WHEN category IN ('salary', 'advance') THEN amount ELSE 0 END) AS income,
      SUM(CASE WHEN merchant_channel = 'online' THEN 1 ELSE 0 END) AS n_online,
      {shares},
      MAX(CASE WHEN category = 'salary' THEN EXTRACT(DAY FROM timezone(c.tz, t.ts)) END) AS salary_dom,
      MAX(CASE WHEN category = 'advance' THEN EXTRACT(DAY FROM timezone(c.tz, t.ts)) END) AS advance_dom
    FROM transactions t JOIN customers c ON c.customer_id = t.customer_id
    GROUP BY 1, 2)"""
    cols = []
    for w in WINDOWS:
        cols += [f"{_win('a.spend', w)} AS txn_spend_{w}d", f"{_win('a.n_debit', w)} AS txn_count_{w}d"]
    n90 = _win("a.n_debit", 90)
    cols += [f"{_win(f'a.n_{c}', 90)} / NULLIF({n90}, 0) AS txn_share_{c}_90d" for c in TXN_SHARES]
    cols += [
        f"{_win('a.income', 90)} / 3.0 AS txn_income_month_90d",
        f"{_win('a.n_cash_atm', 30)} AS txn_cash_count_30d",
        f"{_win('a.n_travel_air', 90)} AS txn_air_tickets_90d",
        f"{_days_since('a.n_travel_air > 0')} AS txn_days_since_air",
        f"{_last('a.salary_dom')} AS txn_salary_day",
        f"{_last('a.advance_dom')} AS txn_advance_day",
    ]
    return "WITH " + _grid(daily) + _select(",\n    ".join(cols))


def behaviour_sql() -> str:
    activity = ", ".join(f"'{e}'" for e in ACTIVITY_EVENTS)
    counts = ",\n      ".join(
        f"SUM(CASE WHEN event_type = '{e}' THEN 1 ELSE 0 END) AS n_{e}" for e in COUNTED_EVENTS
    )
    hours = ",\n      ".join(
        f"SUM(CASE WHEN event_type IN ({activity}) AND EXTRACT(HOUR FROM timezone(c.tz, e.ts)) = {h} "
        f"THEN 1 ELSE 0 END) AS h{h:02d}"
        for h in HOURS
    )
    daily = f"""(
    SELECT e.customer_id, CAST(e.ts AS DATE) AS day,
      {counts},
      SUM(CASE WHEN event_type IN ({activity}) THEN 1 ELSE 0 END) AS n_active,
      SUM(CASE WHEN event_type IN ({activity}) AND ISODOW(timezone(c.tz, e.ts)) >= 6 THEN 1 ELSE 0 END)
        AS n_weekend,
      {hours}
    FROM events e JOIN customers c ON c.customer_id = e.customer_id
    GROUP BY 1, 2)"""
    active90 = _win("a.n_active", 90)
    cols = [f"{_win('a.n_app_session', w)} AS bhv_app_sessions_{w}d" for w in (7, 30)]
    cols += [f"{_win(f'a.n_{e}', 30)} AS bhv_{e}_30d" for e in COUNTED_EVENTS if e != "app_session"]
    cols += [
        f"{active90} AS bhv_active_events_90d",
        f"{_win('a.n_weekend', 90)} / NULLIF({active90}, 0) AS bhv_weekend_share_90d",
        f"{_days_since('a.n_active > 0')} AS bhv_days_since_active",
    ]
    cols += [f"{_win(f'a.h{h:02d}', 90)} / NULLIF({active90}, 0) AS bhv_hour_share_{h:02d}" for h in HOURS]
    inbound = " + ".join(f"{_win(f'a.n_{e}', 90)}" for e in INBOUND_CHANNEL)
    cols += [
        f"{_win(f'a.n_{e}', 90)} / NULLIF({inbound}, 0) AS bhv_inbound_share_{ch}_90d"
        for e, ch in INBOUND_CHANNEL.items()
    ]
    return "WITH " + _grid(daily) + _select(",\n    ".join(cols))


def contacts_sql() -> str:
    sends = ",\n      ".join(
        f"SUM(CASE WHEN channel = '{ch}' THEN 1 ELSE 0 END) AS s_{ch},\n      "
        f"MAX(CASE WHEN channel = '{ch}' THEN EPOCH(sent_at) END) AS last_{ch}"
        for ch in CHANNELS
    )
    responses = ",\n      ".join(
        f"SUM(CASE WHEN channel = '{ch}' THEN 1 ELSE 0 END) AS r_{ch}" for ch in CHANNELS
    )
    cols_s = ", ".join([f"s.s_{ch}, s.last_{ch}, r.r_{ch}" for ch in CHANNELS] + ["s.s_all"])
    daily = f"""(
    SELECT COALESCE(s.customer_id, r.customer_id) AS customer_id, COALESCE(s.day, r.day) AS day, {cols_s}
    FROM (SELECT customer_id, CAST(sent_at AS DATE) AS day, {sends},
                 SUM(CASE WHEN channel <> 'none' THEN 1 ELSE 0 END) AS s_all
          FROM contacts GROUP BY 1, 2) s
    FULL OUTER JOIN (SELECT customer_id, CAST(responded_at AS DATE) AS day, {responses}
          FROM contacts WHERE responded_at IS NOT NULL GROUP BY 1, 2) r
      ON r.customer_id = s.customer_id AND r.day = s.day)"""
    cols = [f"{_win('a.s_all', 7)} AS cnt_contacts_7d", f"{_win('a.s_all', 30)} AS cnt_contacts_30d"]
    for ch in CHANNELS:
        sent, resp = _win(f"a.s_{ch}", 90), _win(f"a.r_{ch}", 90)
        cols += [
            f"{sent} AS cnt_sends_{ch}_90d",
            f"({resp} + {SMOOTHING} * p.prior_{ch}) / ({sent} + {SMOOTHING}) AS cnt_response_rate_{ch}",
            f"{_last(f'a.last_{ch}')} AS cnt_last_{ch}_epoch",
        ]
    cols.append(
        "GREATEST("
        + ", ".join(f"COALESCE({_last(f'a.last_{ch}')}, 0)" for ch in CHANNELS)
        + ") AS cnt_last_contact_epoch"
    )
    body = ",\n    ".join(cols)
    totals = ", ".join(f"SUM(r_{ch}) AS r_{ch}, SUM(s_{ch}) AS s_{ch}" for ch in CHANNELS)
    prior = ",\n      ".join(
        f"COALESCE(SUM(t.r_{ch}) OVER w / NULLIF(SUM(t.s_{ch}) OVER w, 0), 0.05) AS prior_{ch}"
        for ch in CHANNELS
    )
    priors = f""",
prior AS (
  SELECT d.day,
      {prior}
  FROM days d LEFT JOIN (SELECT day, {totals} FROM daily GROUP BY day) t ON t.day = d.day
  WINDOW w AS (ORDER BY d.day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)"""
    return "WITH " + _grid(daily) + priors + _select(body, joins="LEFT JOIN prior p ON p.day = g.day")


def profile_sql() -> str:
    consents = ", ".join(f"CAST(consent_{ch} AS BIGINT) AS prf_consent_{ch}" for ch in CHANNELS)
    return f"""
SELECT customer_id, CAST(signup_date AS TIMESTAMP) AT TIME ZONE 'UTC' AS event_timestamp,
  birth_year AS prf_birth_year, EPOCH(signup_date) / 86400.0 AS prf_signup_day,
  COALESCE(region, 'unknown') AS prf_region, tz AS prf_tz, {consents}
FROM customers ORDER BY customer_id"""


FAMILIES = {
    "transactions": transactions_sql,
    "behaviour": behaviour_sql,
    "contacts": contacts_sql,
    "profile": profile_sql,
}
