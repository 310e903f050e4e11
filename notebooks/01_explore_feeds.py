# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Exploring the feeds of a simulated bank
#
# The service learns from three feeds: **transactions**, **behaviour events** and the **contact
# history**, plus a customer profile. Nobody here has a real bank's feeds, so this notebook makes
# a small one with the simulator, puts it through the same validation the service applies to real
# exports, and looks at the patterns a next-best-channel model can exploit:
#
# 1. the **payday pattern**: salary and advance credits, and the inbound calls and cash withdrawals
#    that cluster around them;
# 2. the **travel pattern**: an air-ticket purchase followed by inbound e-mails, and by a better
#    response to the bank's own e-mails;
# 3. **hour-of-day activity**, which only makes sense in each customer's *local* time;
# 4. the **channel mix** of past contacts and the response rate of each channel.
#
# Everything runs on the packages (`simulator`, `features`, `optichannel`); the notebook only reads
# their output. It writes into `$OPTICHANNEL_NOTEBOOK_DIR` (or a fresh temporary directory),
# never into the repository.

# %%
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from matplotlib.ticker import PercentFormatter
from statsmodels.stats.proportion import proportion_confint

from features.validated_io import accepted_path
from features.validation import validate_feeds, validate_table
from optichannel.channels import ACTIONS, CHANNELS
from optichannel.contracts import CONTRACTS
from optichannel.localtime import to_local
from optichannel.settings import Settings
from simulator.generate import generate_world
from simulator.world import WorldConfig

# %% tags=["parameters"]
CUSTOMERS = 800  # a tiny bank: generation and validation take a few seconds
DAYS = 70  # simulated days from WorldConfig's default start (5 January 2026)
SEED = 11  # same seed, same bytes
# where everything is written; this notebook uses (and first empties) its own sub-directory
OUT_DIR = os.environ.get("OPTICHANNEL_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="optichannel-notebooks-")

# %%
WORK = Path(OUT_DIR) / "01_explore_feeds"
shutil.rmtree(WORK, ignore_errors=True)  # no state from an earlier run
settings = Settings(data_dir=WORK / "data", show_progress=False)
world = WorldConfig(customers=CUSTOMERS, days=DAYS, seed=SEED)
counts = generate_world(world, settings.world_dir)
print(f"simulated {world.start} .. {world.end} (exclusive) into {settings.world_dir}")
display(pd.Series(counts, name="rows").to_frame())

# %% [markdown]
# ## Validation: every row accepted or quarantined, never dropped
#
# `validate_feeds` reads each feed, checks it against its contract (`optichannel/contracts.py`:
# types, allowed values, ranges, unique ids, references to known customers, responses not before
# the send) and writes the accepted rows plus a quarantine file per table. The counts must
# reconcile: read = accepted + quarantined. The simulator writes clean feeds, so nothing is
# quarantined here (`as_of` is far in the future, so the "no timestamps in the future" rule cannot
# bite a world dated 2026).

# %%
reports = validate_feeds(settings.world_dir, settings.validated_dir, as_of="2030-01-01", progress=False)
validation = pd.DataFrame(
    {
        name: {k: getattr(r, k) for k in ("rows_read", "accepted", "quarantined", "reconciled")}
        for name, r in reports.items()
    }
).T
display(validation)

# %% [markdown]
# What a bad export looks like: three customer rows tampered with in memory (an unknown time
# zone, a duplicated id, a consent flag that is not a boolean). `validate_table` is the per-table
# step of `validate_feeds`; the quarantined rows keep their raw values and say which rule failed.

# %%
raw_customers = pd.read_parquet(settings.world_dir / "customers.parquet")
tampered = raw_customers.head(6).astype({"consent_sms": object})
tampered.loc[1, "tz"] = "Mars/Olympus_Mons"
tampered.loc[2, "customer_id"] = tampered.loc[3, "customer_id"]
tampered.loc[4, "consent_sms"] = "maybe"
checked = validate_table(tampered, CONTRACTS["customers"], source="tampered customers", as_of="2030-01-01")
print(checked.report.rule_counts)
display(checked.quarantined[["customer_id", "tz", "consent_sms", "_reason"]])

# %% [markdown]
# ## The validated tables
#
# From here on the notebook reads only the accepted tables, exactly what feature building reads.
# Timestamps are UTC; `optichannel.localtime.to_local` turns them into each customer's wall-clock
# time (the customers live in a dozen IANA zones, from Kaliningrad to Vladivostok and a few
# abroad).

# %%
tables = {
    name: pd.read_parquet(accepted_path(settings.validated_dir, name))
    for name in ("customers", "transactions", "events", "contacts")
}
customers, txns, events, contacts = (tables[n] for n in ("customers", "transactions", "events", "contacts"))
zone = customers.set_index("customer_id")["tz"]


def local_time(frame: pd.DataFrame, column: str = "ts") -> pd.Series:
    """Each row's timestamp in its customer's local time zone (tz-naive wall clock)."""
    return to_local(frame[column], frame["customer_id"].map(zone).to_numpy())


for frame, column in ((txns, "ts"), (events, "ts"), (contacts, "sent_at")):
    frame["local"] = local_time(frame, column).to_numpy()
    frame["day"] = frame["local"].dt.normalize()

display(customers.head())
print("customers per zone:")
display(customers["tz"].value_counts().to_frame("customers").T)
print("share consenting per channel:")
display(customers[[f"consent_{c}" for c in CHANNELS]].mean().round(3).to_frame("share").T)

# %% [markdown]
# ## 1. The payday pattern
#
# Salaries are not announced in any profile column, but they are plain to see in the feed: each
# customer gets a `salary` credit and an `advance` credit on fixed days of the month, about two
# weeks apart. Below, every customer-day of the period is placed relative to that customer's
# nearest credit (day 0 = the credit's local day) and the events of that day are counted. Inbound
# calls jump on payday and the day after (questions about cash machines and balances), and so do
# cash withdrawals.

# %%
credits = txns[txns["category"].isin(["salary", "advance"])]
paydays = credits[["customer_id", "day"]].drop_duplicates().rename(columns={"day": "payday"})
print("credits per customer and day of month (first customers):")
display(
    credits.assign(dom=credits["day"].dt.day)
    .pivot_table(index="customer_id", columns="category", values="dom", aggfunc="first")
    .head()
)

calendar = pd.date_range(pd.Timestamp(world.start), periods=world.days, freq="D").as_unit("us")
grid = customers[["customer_id", "signup_date"]].merge(pd.DataFrame({"day": calendar}), how="cross")
grid = grid[grid["day"] >= grid["signup_date"]].sort_values("day")
grid = pd.merge_asof(
    grid,
    paydays.sort_values("payday"),
    left_on="day",
    right_on="payday",
    by="customer_id",
    direction="nearest",
)
grid["offset"] = (grid["day"] - grid["payday"]).dt.days


def per_customer_day(rows: pd.DataFrame) -> pd.Series:
    """Rows per 100 customer-days at each offset from the nearest payday (-7 .. +7)."""
    hits = rows.groupby(["customer_id", "day"]).size().rename("n")
    joined = grid.join(hits, on=["customer_id", "day"]).fillna({"n": 0})
    window = joined[joined["offset"].abs() <= 7]
    return 100 * window.groupby("offset")["n"].mean()


payday_view = pd.DataFrame(
    {
        "inbound calls": per_customer_day(events[events["event_type"] == "inbound_call"]),
        "cash withdrawals": per_customer_day(txns[txns["category"] == "cash_atm"]),
        "card spending": per_customer_day(txns[txns["direction"] == "debit"]),
    }
)
fig, axes = plt.subplots(1, 3, figsize=(14, 3.5), sharex=True)
for ax, (name, series) in zip(axes, payday_view.items(), strict=True):
    ax.bar(series.index, series.to_numpy(), color=np.where(series.index.isin([0, 1]), "tab:red", "tab:gray"))
    ax.set_title(name)
    ax.set_xlabel("days from the nearest salary or advance credit")
axes[0].set_ylabel("per 100 customer-days")
fig.tight_layout()
fig.savefig(WORK / "payday_pattern.png", dpi=80)
plt.show()
display(payday_view.loc[[-3, -1, 0, 1, 2, 5]].round(2).T)

# %% [markdown]
# The bank's own outreach feels the same rhythm. In the contact history, a **call** or a **push**
# sent on payday or the day after is answered more often than on other days (the simulator's truth
# adds a payday lift to exactly these two channels; e-mail gets none). A model that knows "days to
# the next payday" can time these channels better.

# %%
sent = contacts[contacts["channel"] != "none"].copy()
sent["responded"] = sent["responded_at"].notna()
sent = sent.merge(grid[["customer_id", "day", "offset"]], on=["customer_id", "day"], how="left")
sent["payday window"] = np.where(sent["offset"].isin([0, 1]), "payday or day after", "other days")
lift = sent.pivot_table(
    index="channel", columns="payday window", values="responded", aggfunc=["mean", "size"]
).reindex(list(CHANNELS))
display(lift.round(3))

# %% [markdown]
# ## 2. The travel pattern
#
# After buying an air ticket a customer tends to write to the bank (cards abroad, balance
# statements for a visa, ...). Lining up every inbound e-mail against the same customer's air
# tickets shows the burst in the days right after the purchase, far above the everyday rate.

# %%
tickets = txns.loc[txns["category"] == "travel_air", ["customer_id", "ts", "day"]]
mails = events.loc[events["event_type"] == "inbound_email", ["customer_id", "day"]]
pairs = tickets.merge(mails, on="customer_id", suffixes=("_ticket", "_mail"))
pairs["lag"] = (pairs["day_mail"] - pairs["day_ticket"]).dt.days
lags = np.arange(-7, 15)
per_ticket = pairs["lag"].value_counts().reindex(lags, fill_value=0) / len(tickets)
everyday = len(mails) / len(grid)
print(
    f"{len(tickets)} air tickets, {len(mails)} inbound e-mails, "
    f"everyday rate {everyday:.4f} inbound e-mails per customer-day"
)

fig, ax = plt.subplots(figsize=(9, 3.5))
ax.bar(lags, per_ticket.to_numpy(), color=np.where((lags >= 0) & (lags <= 3), "tab:blue", "tab:gray"))
ax.axhline(everyday, color="black", linestyle="--", label="everyday rate (all customer-days)")
ax.set_xlabel("days after the air ticket purchase")
ax.set_ylabel("inbound e-mails per ticket")
ax.legend()
fig.tight_layout()
fig.savefig(WORK / "travel_pattern.png", dpi=80)
plt.show()

# %% [markdown]
# The same customers also read the bank's e-mails more attentively for about two weeks after a
# ticket: the response (click) rate of e-mail contacts sent within 14 days after an air ticket is
# a multiple of the usual one. That is the *recent travel purchase* feature at work.

# %%
emails = sent[sent["channel"] == "email"].sort_values("sent_at")
ticket_times = tickets[["customer_id", "ts"]].rename(columns={"ts": "ticket_at"}).sort_values("ticket_at")
emails = pd.merge_asof(
    emails,
    ticket_times,
    left_on="sent_at",
    right_on="ticket_at",
    by="customer_id",
    tolerance=pd.Timedelta(days=14),
    direction="backward",
)
emails["after a ticket"] = emails["ticket_at"].notna()
display(emails.groupby("after a ticket")["responded"].agg(["size", "mean"]).round(4))

# %% [markdown]
# ## 3. Hour-of-day activity, in local time
#
# App and web sessions and card payments happen while customers are awake. Counted by UTC hour
# (left) the eleven time zones smear the daily rhythm into a blur; counted by each customer's
# local hour it shows the morning, lunch and evening peaks. On weekends (right) the day starts
# later. This is why every feature and every decision slot is in the customer's local time.

# %%
activity = pd.concat(
    [
        events.loc[events["event_type"].isin(["app_session", "web_session"]), ["ts", "local"]],
        txns.loc[txns["direction"] == "debit", ["ts", "local"]],
    ]
)
hours = np.arange(24)
by_utc = activity["ts"].dt.hour.value_counts(normalize=True).reindex(hours, fill_value=0)
by_local = activity["local"].dt.hour.value_counts(normalize=True).reindex(hours, fill_value=0)
weekend = activity["local"].dt.weekday >= 5
by_day = {
    label: activity.loc[mask, "local"].dt.hour.value_counts(normalize=True).reindex(hours, fill_value=0)
    for label, mask in (("weekdays", ~weekend), ("weekends", weekend))
}
fig, axes = plt.subplots(1, 2, figsize=(13, 3.5), sharey=True)
axes[0].plot(hours, by_utc.to_numpy(), label="UTC hour", color="tab:gray")
axes[0].plot(hours, by_local.to_numpy(), label="local hour", color="tab:green", linewidth=2)
axes[0].set_title("sessions and card payments")
for label, series in by_day.items():
    axes[1].plot(hours, series.to_numpy(), label=label, linewidth=2)
axes[1].set_title("local hour: weekdays vs weekends")
for ax in axes:
    ax.set_xticks(range(0, 24, 3))
    ax.set_xlabel("hour of day")
    ax.legend()
axes[0].set_ylabel("share of activity")
fig.tight_layout()
fig.savefig(WORK / "hour_of_day.png", dpi=80)
plt.show()

# %% [markdown]
# ## 4. Channel mix and response rates of past contacts
#
# The contact history comes from the bank's *logging policy*: business as usual (`bau`: a weekly
# e-mail newsletter, a weekly promo by call, push, SMS, messenger or e-mail depending on the
# customer), 20% *exploration* over every allowed channel and hour, and a 5% no-contact
# *holdout*. `none` rows are the holdout plus the customers business as usual could not reach (no
# consent for any channel of the campaign). Every row carries the propensity the policy had of
# choosing it, which is what later lets training and off-policy evaluation undo the policy's bias.

# %%
mix = contacts.pivot_table(index="arm", columns="channel", values="contact_id", aggfunc="size", fill_value=0)
mix = mix.reindex(columns=[a for a in ACTIONS if a in mix.columns])
display(mix)
display(contacts.groupby("arm")["propensity"].describe()[["mean", "min", "max"]].round(4))

# %% [markdown]
# Response per channel (click, reply, open of a push, or a call answered with a conversation, within
# the feed) and conversion within seven days. E-mail is cheap but rarely answered; calls are
# answered most often but cost about 300 e-mails each. The `none` row is the conversion the
# customers would have had anyway: a contact is only worth what it adds above it. (These are logged
# rates: the policy calls affluent customers and pushes app users, so they mix channel and
# customer effects; the model and the A/B notebook separate them.)

# %%
contacts["responded"] = contacts["responded_at"].notna()
contacts["converted"] = contacts["converted_at"].notna()
rates = (
    contacts.groupby("channel")
    .agg(
        contacts=("contact_id", "size"),
        responses=("responded", "sum"),
        conversions=("converted", "sum"),
        cost_each=("cost", "mean"),
    )
    .reindex([a for a in ACTIONS if a in set(contacts["channel"])])
)
rates["response_rate"] = rates["responses"] / rates["contacts"]
rates["conversion_rate"] = rates["conversions"] / rates["contacts"]
lo, hi = proportion_confint(rates["responses"], rates["contacts"], method="wilson")
display(rates.round(4))

shown = rates.drop(index="none", errors="ignore")
fig, axes = plt.subplots(1, 2, figsize=(13, 3.5))
axes[0].bar(mix.columns, mix.sum().to_numpy(), color="tab:gray")
axes[0].set_title("contacts per channel (all arms)")
err = np.vstack([shown["response_rate"] - lo[shown.index], hi[shown.index] - shown["response_rate"]])
axes[1].bar(shown.index, shown["response_rate"].to_numpy(), yerr=err, capsize=4, color="tab:blue")
axes[1].set_title("response rate per channel (95% Wilson interval)")
axes[1].yaxis.set_major_formatter(PercentFormatter(1.0))
fig.tight_layout()
fig.savefig(WORK / "channel_mix.png", dpi=80)
plt.show()

# %% [markdown]
# Finally, the exploration rows are what make *timing* learnable: business as usual always sends at
# the same hours, while exploration sends at every allowed hour. Their response rate by local send
# hour rises in the day and evening, when most customers are awake, and falls for what is sent
# early in the morning, when a message waits and fades before it is seen.

# %%
explored = sent[sent["arm"] == "explore"].copy()
explored["send hour"] = (explored["local"].dt.hour // 3) * 3
by_hour = explored.groupby("send hour")["responded"].agg(contacts="size", response_rate="mean")
display(by_hour.T.round(3))

# %% [markdown]
# ## Where this goes next
#
# Each pattern above becomes a feature (`features/snapshot_sql.py`): days to the next payday, days
# since the last air ticket, a 24-hour activity profile in local time, smoothed response rates per
# channel. Notebook 02 builds them, stores them in Feast and trains the models; notebook 03 tests
# the champion in a simulated A/B campaign.

# %%
print(f"figures and data of this notebook: {WORK}")
print(sorted(p.name for p in WORK.glob("*.png")))
