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
# # 03 · Reading an uplift experiment
#
# The marketer's question: *did the model's choices beat business as usual, by how much, with what
# certainty, and for whom?* Here the champion model goes into a simulated A/B campaign on the
# simulator's bank. Customers are split by a stable hash into four arms:
#
# | arm | what it does |
# |---|---|
# | `model` | the champion's best channel and hour in the window (or no contact when nothing pays) |
# | `bau` | business as usual, the bank's rules: **the control** |
# | `random` | a uniformly random allowed channel and hour |
# | `holdout` | no contact at all |
#
# Every arm decides under the same constraints (consent, quiet hours, frequency cap); outcomes are
# drawn from the simulator's true probabilities. Because the truth is known, we can check what no
# real test can: whether the estimated uplift and its interval cover the **true** uplift.
#
# The notebook first builds its own store and champion (the short version of notebook 02), then
# reads the experiment: arms, sample-ratio check, uplift with its interval against the truth,
# channels, segments, the Qini curve, cost per incremental conversion, and the HTML report.

# %%
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from experiments.campaign import run_campaign
from experiments.design import power_at, sample_size
from experiments.tracking import log_campaign
from features import store
from features.build import build_features
from features.validation import validate_feeds
from optichannel import registry
from optichannel.channels import ACTIONS
from optichannel.pyfunc_model import load_bundle
from optichannel.settings import Settings
from simulator.generate import generate_world
from simulator.world import WorldConfig
from training.config import Evaluation, SearchSpace, Split, TrainConfig
from training.train import run

# %% tags=["parameters"]
CUSTOMERS = 2000  # the whole bank takes part in the test: more customers, narrower intervals
DAYS = 70  # 28+ training days before 14 validation + 14 test days
SEED = 11
TRIALS = 1  # Optuna trials for the champion (notebook 02 is about training; here it only has to exist)
ARMS = {"model": 0.4, "bau": 0.4, "random": 0.1, "holdout": 0.1}
CONTROL = "bau"
WINDOW_HOURS = 72  # each customer's decision window: the next three days
EXPERIMENT = "notebook-ab"  # also the salt of the arm assignment: another name, another split
# where everything is written; this notebook uses (and first empties) its own sub-directory
OUT_DIR = os.environ.get("OPTICHANNEL_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="optichannel-notebooks-")

# %% [markdown]
# ## Set-up: a bank, its Feast store and a champion
#
# One call per stage, as in notebook 02: simulate, validate, build features, register and
# materialize the Feast store, train (the first model in an empty registry becomes `champion`).

# %%
WORK = Path(OUT_DIR) / "03_read_an_experiment"
shutil.rmtree(WORK, ignore_errors=True)  # no state from an earlier run: a fresh world and registry
settings = Settings(
    data_dir=WORK / "data",
    mlflow_tracking_uri=f"sqlite:///{(WORK / 'mlflow' / 'mlflow.db').as_posix()}",
    show_progress=False,
)
generate_world(WorldConfig(customers=CUSTOMERS, days=DAYS, seed=SEED), settings.world_dir)
validate_feeds(settings.world_dir, settings.validated_dir, as_of="2030-01-01", progress=False)
build_features(settings.validated_dir, settings.features_dir, progress=False)
store.apply(settings)
store.materialize(settings)
config = TrainConfig(
    trials=TRIALS,
    split=Split(valid_days=14, test_days=14),
    search=SearchSpace(learning_rate=(0.08, 0.2), max_rounds=120, early_stopping=15),
    evaluation=Evaluation(customers=400, times=2, window_hours=48),
    seed=SEED,
)
trained = run(settings, config, settings.world_dir, WORK / "reports", progress=False, log=print)
print(trained.promotion.reason)

# %% [markdown]
# The campaign takes the model the way the service does: from the registry, by alias.

# %%
client = registry.setup(settings)
version = registry.alias_version(client, registry.CHAMPION)
model = load_bundle(registry.model_uri(registry.CHAMPION))
print(f"champion: {registry.model_uri(registry.CHAMPION)} = version {version}")

# %% [markdown]
# ## Before the test: how many customers does it need?
#
# Business as usual converts about 3% of customers within a week. To see a lift of 2 points with
# 80% power, with three arms compared with the control (so each comparison is held to α/3), the
# design asks for the numbers below. This bank is far smaller: the test can still see a large lift,
# but a 2-point one would often be missed, and the small `random` and `holdout` arms get wide
# intervals. The report compares the reached sizes with the design, so a reader sees this at once.

# %%
design = sample_size(baseline_rate=0.03, mde_abs=0.02, arms_shares=ARMS, control=CONTROL)
print(f"customers needed: {design.total_n:,} (alpha per comparison {design.corrected_alpha:.4f})")
display(design.table())

# %% [markdown]
# ## Running the campaign
#
# `run_campaign` picks the latest decision time that leaves a full window before the feeds end,
# reads every customer's point-in-time features from Feast, lets each arm decide, draws responses
# and conversions from the truth, analyses the result and writes the HTML report.

# %%
result = run_campaign(
    settings,
    settings.world_dir,
    model,
    customers=None,  # everybody who had signed up by the decision time
    arms=ARMS,
    control=CONTROL,
    window_hours=WINDOW_HOURS,
    seed=SEED,
    experiment=EXPERIMENT,
    out=WORK / "reports" / "ab_test.html",
    design=design,
    progress=False,
)
print(
    f"decision time {result.at:%Y-%m-%d %H:%M} UTC, window {result.window_hours} h, "
    f"{len(result.outcomes):,} customers"
)
display(result.outcomes.head())

# %% [markdown]
# One row per customer: the arm, what was sent (channel, time, local hour, cost), whether the
# customer responded and converted, and, because this is a simulation, the true conversion
# probability of the option chosen (`true_p_conversion`) and of no contact (`true_p_none`).
# `score` is the model's predicted uplift of the contact it would send: it feeds the Qini curve.
#
# ## The arms and the sample-ratio check
#
# First check the split itself: if the arms' sizes are far from the plan (a *sample-ratio
# mismatch*), the assignment or the logging is broken and no uplift below can be trusted.

# %%
arms = result.analysis.arms
display(
    arms[["n", "share", "planned_share", "conversions", "rate", "rate_lo", "rate_hi", "cost_per_customer"]]
)
print("sample-ratio check:", result.analysis.srm["message"])

# %% [markdown]
# ## The uplift, its interval, and the truth
#
# Each arm against business as usual: the absolute uplift in conversion rate with its 95% interval
# (Agresti-Caffo), the Holm-adjusted p-value, and, known only in a simulation, the **true** uplift:
# the difference in true expected conversion had every sampled customer been treated by the arm's
# policy. `covered` says whether the interval contains the truth (it should, 95% of the time).

# %%
summary = result.summary()
cmp = result.analysis.comparisons
display(summary.join(cmp[["uplift_rel", "p_value", "p_adjusted", "significant"]]).round(4))
print("true uplift:", {arm: round(value, 4) for arm, value in result.true_uplift.items()})

treated = summary.drop(index=CONTROL)
fig, ax = plt.subplots(figsize=(10, 3), layout="constrained")
y = np.arange(len(treated))
ax.errorbar(
    treated["uplift"],
    y,
    xerr=[treated["uplift"] - treated["lo"], treated["hi"] - treated["uplift"]],
    fmt="o",
    capsize=5,
    label="estimate, 95% interval",
)
ax.scatter(treated["true_uplift"], y, marker="x", s=80, color="tab:red", zorder=3, label="true uplift")
ax.axvline(0, color="black", linewidth=0.8)
ax.set_yticks(y, treated.index)
ax.set_xlabel(f"absolute uplift in 7-day conversion vs {CONTROL}")
ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:+.1f} pt"))
ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
fig.savefig(WORK / "uplift_vs_truth.png", dpi=80)
plt.show()

# %% [markdown]
# The headline, as the report states it:

# %%
headline = result.analysis.headline
print(headline["text"])
print(
    f"\nverdict: {headline['verdict']}; model uplift {cmp.loc['model', 'uplift_abs']:+.4f} "
    f"(95% CI {cmp.loc['model', 'abs_lo']:+.4f} to {cmp.loc['model', 'abs_hi']:+.4f}), "
    f"true {result.true_uplift['model']:+.4f}"
)
reached = power_at(arms["n"].astype(int).to_dict(), design.baseline_rate, design.mde_abs, CONTROL)
print("power reached for a +2 pt lift:", {arm: round(p, 2) for arm, p in reached.items()})

# %% [markdown]
# ## Which channels did each arm use?
#
# Business as usual follows fixed rules (a call at 11:00 for affluent customers, otherwise push at
# 18:00, SMS at 12:00, messenger at 13:00 or e-mail at 10:00, whichever the customer consented to);
# the model picks channel and hour per customer, leans on the channels that convert (calls,
# messenger) where they pay for their cost, and leaves out those for whom no contact pays.
# Conversion per channel inside an arm is descriptive (the customers differ between channels); the
# arm-level comparison above is the causal one.

# %%
by_channel = result.analysis.by_channel
display(by_channel.round(4))
shares = by_channel.pivot_table(index="arm", columns="channel", values="share_of_arm", fill_value=0)
shares = shares.reindex(index=list(arms.index)).reindex(columns=[c for c in ACTIONS if c in shares])
fig, axes = plt.subplots(1, 2, figsize=(14, 3.5), layout="constrained")
shares.plot.barh(stacked=True, ax=axes[0], colormap="tab10")
axes[0].set_xlabel("share of the arm")
axes[0].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
sent = result.outcomes[result.outcomes["channel"] != "none"]
for arm_name in ("model", CONTROL):
    hours = sent.loc[sent["arm"] == arm_name, "local_hour"]
    axes[1].hist(hours, bins=np.arange(0, 25), alpha=0.6, label=arm_name)
axes[1].set_xlabel("local hour of the send")
axes[1].set_ylabel("contacts")
axes[1].legend()
fig.savefig(WORK / "channels.png", dpi=80)
plt.show()

# %% [markdown]
# ## Segments
#
# The same comparison inside age bands (age at the decision time). Segments are small, so their
# intervals are wide; they say where to look, not what to conclude.

# %%
segments = result.analysis.by_segment
display(
    segments[
        ["segment", "arm", "n", "rate", "control_rate", "uplift_abs", "abs_lo", "abs_hi", "p_value"]
    ].round(4)
)

# %% [markdown]
# ## Does the model's score rank customers by uplift? The Qini curve
#
# Customers of the `model` and `bau` arms are sorted by the model's predicted uplift; the curve
# shows the incremental conversions gained by treating the top x% the model's way rather than
# business as usual. Above the diagonal (random targeting) means the score ranks customers by
# uplift; the dashed line is a perfect ranking. The Qini AUC is normalised (1 = perfect).

# %%
qini = result.qini
print(
    f"{qini.label}: Qini AUC {qini.qini_auc:.3f}, uplift AUC {qini.uplift_auc:.4f}, "
    f"uplift in the top 30%: {qini.uplift_at_30:+.4f} (n = {qini.n:,})"
)
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(qini.x, qini.qini, label="model score")
ax.plot(qini.perfect_x, qini.perfect_qini, linestyle="--", color="tab:gray", label="perfect ranking")
ax.plot([0, 1], [0, qini.qini[-1]], color="black", linewidth=0.8, label="random targeting")
ax.set_xlabel("share of customers targeted, highest score first")
ax.set_ylabel("incremental conversions")
ax.legend()
fig.tight_layout()
fig.savefig(WORK / "qini.png", dpi=80)
plt.show()

# %% [markdown]
# ## What the extra conversions cost
#
# Incremental conversions = uplift × customers in the arm (with the interval's bounds); extra cost =
# the arm's channel cost minus what business as usual would have spent on as many customers. Their
# ratio is the **cost per incremental conversion**, quoted only when the uplift is significant;
# `cost_note` says why otherwise (a cheaper arm that converts more simply saves money).

# %%
display(
    cmp[
        [
            "n",
            "incremental",
            "incremental_lo",
            "incremental_hi",
            "extra_cost",
            "cost_per_incremental",
            "cost_note",
        ]
    ].round(3)
)

# %% [markdown]
# ## The report and the MLflow run
#
# The HTML report is self-contained (charts embedded) and written for a marketer: the headline,
# the arms, the uplift with intervals and the truth check, channels, segments, Qini and the sample
# checks against the design. The campaign is also logged to MLflow next to the champion's
# training run.

# %%
run_id = log_campaign(
    settings, result, model_version=version, alias=registry.CHAMPION, world_dir=settings.world_dir
)
print(f"campaign logged to MLflow as run {run_id} in experiment {registry.EXPERIMENT!r}")
print(f"HTML report: {result.report} ({Path(result.report).stat().st_size / 1024:.0f} KiB)")
