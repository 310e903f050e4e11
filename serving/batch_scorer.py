"""Whole campaigns offline: decisions for a list of customers (up to millions) written to
Parquet, without HTTP. Features come from the offline snapshots at the window start (Feast's
point-in-time rule and TTLs, read in one DuckDB pass: `features.offline_read`), so the list can
be far larger than what the online store should serve.

The same kernel decision as the service (candidate grid, model scores, constrained argmax),
chunk by chunk so memory stays flat: a 72-hour window is 360 candidates per customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from decision.engine import Engine
from decision.table import decisions_table
from features.offline_read import features_at, stale_rows
from features.request_params import RequestParams
from features.store_definitions import JOIN_KEY
from optichannel.campaign_plan import CampaignPlan
from optichannel.channels import NONE
from optichannel.feature_columns import missing_columns
from optichannel.model_bundle import NextBestChannelModel
from optichannel.progress import progress_bar
from serving.plan_allocation import PlannedCampaign, plan_campaign

CHUNK = 500


@dataclass(frozen=True)
class ScoreSummary:
    customers: int
    contacted: int
    fallback: int
    stale: int  # known customers whose time-varying features are past the views' TTL at the start
    by_channel: dict[str, int]
    out: Path
    planned: PlannedCampaign | None = None  # the allocation, when scored under a campaign plan


def read_customers(path: Path) -> pd.Series:
    """The campaign list: a Parquet or CSV file with a `customer_id` column (duplicates dropped)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"customer list not found: {path}")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype={JOIN_KEY: str})
    elif path.suffix.lower() in (".parquet", ".pq") or path.is_dir():
        frame = pd.read_parquet(path)
    else:
        raise ValueError(f"customer list must be Parquet or CSV, got {path}")
    if JOIN_KEY not in frame:
        raise ValueError(f"{path}: no `{JOIN_KEY}` column (columns: {', '.join(map(str, frame.columns))})")
    ids = frame[JOIN_KEY].dropna().astype(str)
    if ids.empty:
        raise ValueError(f"{path}: the customer list is empty")
    return ids.drop_duplicates().reset_index(drop=True)


def score_chunk(engine: Engine, feats: pd.DataFrame, start: pd.Timestamp, hours: int) -> pd.DataFrame:
    """Decisions for one chunk of customers whose features are `feats` (cold start included),
    through the one decision engine, as the decisions table plus `fallback` and `stale`."""
    block, known, d = engine.decide_frame(feats, start, hours)
    frame = decisions_table(block.ids, d.grid, d.scored, d.choice, engine.econ)
    frame["fallback"] = ~known
    frame["stale"] = known & stale_rows(feats)
    return frame


def check_columns(feats: pd.DataFrame, model: NextBestChannelModel) -> None:
    """Refuse to score when the snapshots lack a column the decision or the model's request
    features read (the feature-column contract: a missing cap column must never mean no cap),
    or a feature the model was trained on (it would be scored as missing without a word)."""
    missing = missing_columns(feats.columns, [RequestParams.from_meta(model.meta).fatigue_tau_days])
    if missing:
        raise ValueError(
            f"the feature snapshots lack the contract's columns {', '.join(missing)} "
            "(optichannel/feature_columns.py): rebuild them with `optichannel features build`"
        )
    Engine(model).check_inputs(feats.columns, "the feature snapshots")


def score_campaign(
    features_dir: Path,
    engine: Engine,
    customers: pd.Series,
    out: Path,
    start: pd.Timestamp,
    hours: int = 72,
    progress: bool = True,
    chunk: int = CHUNK,
    plan: CampaignPlan | None = None,
) -> ScoreSummary:
    """Score every customer and write one Parquet file (row groups per chunk). With a `plan`,
    the customers are allocated jointly under its limits (`serving.plan_allocation`)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    feats = features_at(features_dir, customers, start)  # Feast's point-in-time rule, one time for all
    check_columns(feats, engine.model)
    if plan is not None:
        return _score_planned(engine, feats, out, start, hours, plan, progress, chunk)
    writer: pq.ParquetWriter | None = None
    counts: dict[str, int] = {}
    fallback = stale = 0
    try:
        with progress_bar(progress) as bar:
            task = bar.add_task("scoring the campaign", total=len(feats))
            for lo in range(0, len(feats), chunk):
                piece = feats.iloc[lo : lo + chunk].reset_index(drop=True)
                part = score_chunk(engine, piece, start, hours)
                table = pa.Table.from_pandas(part, preserve_index=False)
                writer = writer or pq.ParquetWriter(out, table.schema)
                writer.write_table(table)
                for name, n in part["channel"].value_counts().items():
                    counts[str(name)] = counts.get(str(name), 0) + int(n)
                fallback += int(part["fallback"].sum())
                stale += int(part["stale"].sum())  # counted per chunk: no second pass over the campaign
                bar.advance(task, len(part))
    finally:
        if writer is not None:
            writer.close()
    total = sum(counts.values())
    return ScoreSummary(total, total - counts.get(NONE, 0), fallback, stale, counts, out)


def _score_planned(
    engine: Engine,
    feats: pd.DataFrame,
    out: Path,
    start: pd.Timestamp,
    hours: int,
    plan: CampaignPlan,
    progress: bool,
    chunk: int,
) -> ScoreSummary:
    """Every customer's options first, then one joint allocation, then the file."""
    with progress_bar(progress) as bar:
        task = bar.add_task(f"scoring the campaign's options ({plan.name})", total=len(feats))
        frames = (feats.iloc[lo : lo + chunk].reset_index(drop=True) for lo in range(0, len(feats), chunk))
        planned = plan_campaign(engine, frames, start, hours, plan, on_chunk=lambda n: bar.advance(task, n))
    frame = planned.decisions
    frame.to_parquet(out, index=False)
    counts = {str(k): int(v) for k, v in frame["channel"].value_counts().items()}
    total = len(frame)
    return ScoreSummary(total, total - counts.get(NONE, 0), int(frame["fallback"].sum()),
                        int(frame["stale"].sum()), counts, out, planned)  # fmt: skip
