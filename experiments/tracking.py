"""Experiments in MLflow: which registered model ran, and each simulated campaign as a run.

The campaign lands in the same MLflow experiment as training ("optichannel"), so a model's
training run and the A/B tests of it sit side by side. MLflow is imported inside the functions.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from optichannel.registry import setup
from optichannel.settings import Settings

if TYPE_CHECKING:
    from experiments.campaign import CampaignResult

RUN_KIND = "ab_campaign"


def _metric_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in text)


def campaign_metrics(result: CampaignResult) -> dict[str, float]:
    """Per arm: n, observed and true rate; per comparison: estimate, interval, truth, coverage."""
    metrics: dict[str, float] = {}
    for arm, row in result.summary().iterrows():
        name = _metric_name(str(arm))
        metrics |= {f"n_{name}": float(row["n"]), f"rate_{name}": float(row["rate"])}
        metrics[f"true_rate_{name}"] = float(row["true_rate"])
        if arm == result.control:
            continue
        key = f"{name}_vs_{_metric_name(result.control)}"
        metrics |= {
            f"uplift_{key}": float(row["uplift"]),
            f"uplift_{key}_lo": float(row["lo"]),
            f"uplift_{key}_hi": float(row["hi"]),
            f"true_uplift_{key}": float(row["true_uplift"]),
            f"covered_{key}": float(bool(row["covered"])),
        }
    cmp = result.analysis.comparisons
    for arm in cmp.index:
        metrics[f"p_adjusted_{_metric_name(str(arm))}"] = float(cmp.loc[arm, "p_adjusted"])
    if result.qini is not None:
        metrics["qini_coefficient"] = float(result.qini.qini_auc)
    return metrics


def log_campaign(
    settings: Settings,
    result: CampaignResult,
    model_version: str | None = None,
    alias: str | None = None,
    world_dir: Path | None = None,
) -> str:
    """Log the campaign as a run `ab-<experiment>`: params, metrics, the report and the outcome
    table as artifacts. Returns the run id."""
    import mlflow

    setup(settings)
    params = {
        "experiment": result.experiment,
        "arms": ",".join(f"{a}={s:g}" for a, s in result.arms.items()),
        "control": result.control,
        "customers": len(result.outcomes),
        "at": result.at.isoformat(),
        "window_hours": result.window_hours,
        "seed": result.seed,
        "model_version": model_version or "unknown",
        "model_alias": alias or "",
        "world": str(world_dir or ""),
    }
    tags = {"kind": RUN_KIND, "verdict": str(result.analysis.headline["verdict"])}
    with mlflow.start_run(run_name=f"ab-{result.experiment}", tags=tags) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(campaign_metrics(result))
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "outcomes.parquet"
            result.outcomes.to_parquet(table, index=False)
            mlflow.log_artifact(str(table), "campaign")
            summary = Path(tmp) / "summary.csv"
            result.summary().to_csv(summary)
            mlflow.log_artifact(str(summary), "campaign")
        if result.report is not None:
            mlflow.log_artifact(str(result.report), "campaign")
        mlflow.set_tag("headline", str(result.analysis.headline["text"])[:5000])
    return run.info.run_id
