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
# # 02 · Training and comparing models in MLflow
#
# The data scientist's loop, on a small simulated bank:
#
# 1. **features**: daily point-in-time snapshots per customer (`features.build`), registered in
#    the Feast store and materialized into its online store (`features.store`);
# 2. **training** (`training.train.run`): a training frame from Feast's point-in-time join, an
#    Optuna-tuned LightGBM response model (each trial a nested MLflow run), S-, T- and mediated
#    conversion learners, the choice among them by their value **estimated from the held-out
#    weeks' logged decisions** (what a bank without an oracle has), registration as `challenger`,
#    the simulator's truth printed beside every estimate (it judges, it never chooses), and
#    **promotion** to `champion` only if the new model's estimated value beats the best simple
#    policy's and the current champion's without worse calibration;
# 3. **comparison** in MLflow: runs, metrics, logged evaluation tables and the registry's aliases.
#
# A second, deliberately weak model is then trained to show that promotion really decides.
# Everything (world, Feast store, MLflow database and artifacts) lives in
# `$OPTICHANNEL_NOTEBOOK_DIR` (or a fresh temporary directory); the repository's own `mlflow/`
# store is never touched.

# %%
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from IPython.display import Image, display

from features import store
from features.build import build_features
from features.feast_sqlite.read import OnlineReader
from features.validation import validate_feeds
from optichannel import registry
from optichannel.settings import Settings
from simulator.generate import generate_world
from simulator.world import WorldConfig
from training.config import Evaluation, SearchSpace, Split, TrainConfig
from training.train import run

# %% tags=["parameters"]
CUSTOMERS = 2000  # a small bank; 70 days leave 28+ training days before 14 validation + 14 test days
DAYS = 70
SEED = 11
TRIALS = 2  # Optuna trials of the response model (the default config runs 20)
MAX_ROUNDS = 120  # boosting rounds per trial, early-stopped on the validation weeks
EVAL_CUSTOMERS = 400  # customers per decision time in the evaluation against the truth
# where everything is written; this notebook uses (and first empties) its own sub-directory
OUT_DIR = os.environ.get("OPTICHANNEL_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="optichannel-notebooks-")

# %% [markdown]
# ## A bank, its validated feeds and its features
#
# The same calls as notebook 01, then `build_features`: one Parquet file of daily snapshots per
# feature family (transactions `txn_*`, behaviour `bhv_*`, contact history `cnt_*`, profile
# `prf_*`), each snapshot using only data strictly before its `event_timestamp`.

# %%
WORK = Path(OUT_DIR) / "02_train_and_compare"
shutil.rmtree(WORK, ignore_errors=True)  # no state from an earlier run: a fresh world and registry
settings = Settings(
    data_dir=WORK / "data",
    mlflow_tracking_uri=f"sqlite:///{(WORK / 'mlflow' / 'mlflow.db').as_posix()}",
    show_progress=False,
)
world = WorldConfig(customers=CUSTOMERS, days=DAYS, seed=SEED)
print("feeds:", generate_world(world, settings.world_dir))
reports = validate_feeds(settings.world_dir, settings.validated_dir, as_of="2030-01-01", progress=False)
print("quarantined rows:", {name: r.quarantined for name, r in reports.items()})
print(
    "snapshot rows per family:",
    build_features(settings.validated_dir, settings.features_dir, progress=False).rows,
)

snapshots = pd.read_parquet(settings.features_dir / "transactions.parquet")
one = snapshots[snapshots["customer_id"] == snapshots["customer_id"].iloc[0]]
display(
    one[["event_timestamp", "txn_spend_30d", "txn_salary_day", "txn_advance_day", "txn_days_since_air"]].tail(
        5
    )
)

# %% [markdown]
# ## The Feast store
#
# `store.apply` registers the entity `customer`, one feature view per family and the versioned
# feature service `next_best_channel_v1` (DuckDB offline store, SQLite online store, a file registry,
# all under this notebook's data directory). `store.materialize` loads each customer's newest
# snapshot into the online store, which is what the service reads at request time.

# %%
registered = store.apply(settings)
print("registered:", registered)
as_of = store.materialize(settings)
print("online store holds the snapshots as of", as_of)
online, online_as_of = OnlineReader(store.open_store(settings)).read(["C0000001", "C0000002", "nobody"])
display(online.iloc[:, :8])  # an unknown customer reads as all-null: the cold-start signal

# %% [markdown]
# ## First training run
#
# A small, fast configuration (two Optuna trials of at most 120 rounds, an evaluation on 400
# customers at each of two decision times with a 48-hour window). `log=print` shows each step with
# the seconds since the run began.

# %%
config = TrainConfig(
    trials=TRIALS,
    split=Split(valid_days=14, test_days=14),
    search=SearchSpace(learning_rate=(0.08, 0.2), max_rounds=MAX_ROUNDS, early_stopping=15),
    evaluation=Evaluation(customers=EVAL_CUSTOMERS, times=2, window_hours=48),
    seed=SEED,
)
print(config.to_yaml())

# %%
first = run(settings, config, settings.world_dir, WORK / "reports" / "first", progress=False, log=print)
print(f"\nregistered version {first.version} ({first.learner}-learner); promotion: {first.promotion.reason}")

# %% [markdown]
# ### What chose the model: values estimated from the logged decisions
#
# Every candidate learner and every simple policy decides on the campaign days of the held-out
# test weeks; doubly robust off-policy evaluation estimates each one's net value per decision from
# what actually happened (with a 95% interval and the effective number of decisions behind it).
# The `true_value` column is the simulator's verdict on the same choices, shown beside the
# estimate; the learner with the highest *estimate* is the one registered.

# %%
display(first.verdict.table[["estimate", "lo", "hi", "true_value", "effective_n"]].round(3))

# %% [markdown]
# ### The evaluation table: every policy judged by the truth
#
# The simulator knows every option's true response and conversion probability, so each policy's
# choices are scored by what they *truly* earn at the same decision points: the oracle (best
# possible), the model, a random allowed option, the bank's business rules, a simple heuristic
# (each customer's most responsive channel at their most active hour), an e-mail blast, and no
# contact at all. **Capture** = (V − V_random) / (V_oracle − V_random): 1 is the oracle, 0 is
# random, negative is worse than random. `net_value` is 50 per incremental conversion minus the
# channel's cost, per decision.

# %%
display(first.table.round(4))

fig, ax = plt.subplots(figsize=(10, 3.8))
order = first.table.sort_values("capture_value").index
positions = range(len(order))
ax.barh([p - 0.2 for p in positions], first.table.loc[order, "capture_value"], height=0.4, label="value")
ax.barh(
    [p + 0.2 for p in positions], first.table.loc[order, "capture_response"], height=0.4, label="response"
)
ax.set_yticks(list(positions), order)
ax.axvline(0, color="black", linewidth=0.8)
ax.set_xlabel("oracle capture (0 = random, 1 = oracle)")
ax.set_title(f"model version {first.version} against the truth")
ax.legend(loc="lower right")
fig.tight_layout()
fig.savefig(WORK / "capture_first.png", dpi=80)
plt.show()

# %% [markdown]
# ## What MLflow recorded
#
# One parent run per `run()` call, with the Optuna trials as nested runs. The parent holds the
# config, the data fingerprint, the feature service, the code version, the oracle metrics, the
# evaluation table and plots; the registry holds the model `optichannel-nbc` with its aliases.
# `registry.setup(settings)` points this process's MLflow at the notebook's private store.

# %%
client = registry.setup(settings)
runs = mlflow.search_runs(experiment_names=[registry.EXPERIMENT], order_by=["attributes.start_time ASC"])
is_trial = runs["tags.mlflow.parentRunId"].notna()
print(f"{(~is_trial).sum()} parent run(s), {is_trial.sum()} nested Optuna trial run(s)")
columns = [
    "run_id",
    "tags.mlflow.runName",
    "params.trials",
    "tags.uplift_learner",
    "tags.promoted",
    "metrics.policy_value",
    "metrics.capture_value",
    "metrics.capture_response",
    "metrics.ece_response",
]
display(runs.loc[~is_trial, columns])
trial_columns = [
    "tags.mlflow.runName",
    "params.learning_rate",
    "params.num_leaves",
    "metrics.valid_logloss",
    "metrics.valid_auc",
    "metrics.rounds",
]
display(runs.loc[is_trial, trial_columns])

# %%
artifacts = [a.path for a in client.list_artifacts(first.run_id, "plots")]
print("plots logged with the run:", artifacts)
for path in artifacts:  # calibration against the true probabilities, and feature importance
    local = mlflow.artifacts.download_artifacts(run_id=first.run_id, artifact_path=path, dst_path=str(WORK))
    display(Image(filename=local, width=700))

# %% [markdown]
# ## A second, deliberately weak challenger
#
# Same data, but the response model is starved: one trial, a learning rate of 0.001 and at most 10
# rounds, so its predicted response barely moves away from the average. It is registered (every
# trained model is) and gets the `challenger` alias; promotion then compares it with the best simple
# policy and the champion on exactly the same logged decisions.

# %%
weak_config = config.model_copy(
    update={
        "trials": 1,
        "search": SearchSpace(learning_rate=(0.001, 0.0011), max_rounds=10, early_stopping=5),
    }
)
second = run(
    settings, weak_config, settings.world_dir, WORK / "reports" / "second", progress=False, log=print
)
print(f"\nregistered version {second.version}: promoted = {second.promotion.promoted}")
print("reason:", second.promotion.reason)

# %% [markdown]
# ### Comparing the two runs from MLflow
#
# The evaluation tables are read back from MLflow (`mlflow.load_table` over both runs), not from
# the Python objects: this is how runs made by someone else, or yesterday, are compared.

# %%
runs = mlflow.search_runs(experiment_names=[registry.EXPERIMENT], order_by=["attributes.start_time ASC"])
parents = runs[runs["tags.mlflow.parentRunId"].isna()]
display(parents[columns])
tables = mlflow.load_table(
    "evaluation/policies.json", run_ids=list(parents["run_id"]), extra_columns=["run_id"]
)
version_of = {first.run_id: f"v{first.version}", second.run_id: f"v{second.version} (weak)"}
tables["model version"] = tables["run_id"].map(version_of)
capture = {
    metric: tables.pivot_table(index="policy", columns="model version", values=metric).loc[order]
    for metric in ("capture_value", "capture_response")
}
display(pd.concat(capture, axis=1).round(3))

fig, axes = plt.subplots(1, 2, figsize=(13, 3.8), sharey=True)
for ax, (metric, frame) in zip(axes, capture.items(), strict=True):
    frame.plot.barh(ax=ax, legend=ax is axes[1])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"oracle {metric.replace('_', ' ')}")
fig.suptitle("the same policies and decision points, two training runs")
fig.tight_layout()
fig.savefig(WORK / "capture_compare.png", dpi=80)
plt.show()

# %% [markdown]
# Only the `model` rows differ between the runs: every other policy ignores the model, and the
# decision points are the same. The promotion decision and the numbers behind it are stored with
# the run (`promotion.json`) and as a tag on the model version.

# %%
for result in (first, second):
    decision = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/promotion.json")
    print(f"version {decision['challenger_version']}: promoted={decision['promoted']} ({decision['reason']})")

# %% [markdown]
# ## The registry: who is champion?
#
# Aliases, not stages: `champion` is what the service and the batch scorer load,
# `challenger` is the newest trained model. The serving side asks for
# `models:/optichannel-nbc@champion` (`registry.model_uri`).

# %%
model = client.get_registered_model(registry.MODEL_NAME)
print("aliases:", dict(model.aliases))
versions = sorted(
    (
        client.get_model_version(registry.MODEL_NAME, v.version)  # search results carry no aliases
        for v in client.search_model_versions(f"name = '{registry.MODEL_NAME}'")
    ),
    key=lambda v: int(v.version),
)
rows = [
    {
        "version": v.version,
        "run_id": v.run_id,
        "aliases": ", ".join(v.aliases),
        "promotion": v.tags.get("promotion"),
    }
    for v in versions
]
display(pd.DataFrame(rows).set_index("version"))
champion = registry.alias_version(client, registry.CHAMPION)
challenger = registry.alias_version(client, registry.CHALLENGER)
print(f"champion = version {champion}, challenger = version {challenger}, loaded via {registry.model_uri()}")

# %% [markdown]
# The sound first model stays `champion`; the weak one is only the `challenger`. Retrain with a
# better configuration (more trials, `weighting: ips`, a different learner) and the comparison
# above decides again. To browse the same store in the MLflow UI:
# `mlflow ui --backend-store-uri <the tracking URI printed below>`.

# %%
print("tracking URI:", registry.tracking_uri(settings))
print("evaluation report of the champion:", first.report)
