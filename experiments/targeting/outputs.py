"""What `experiment learn` leaves behind: policy.json (the decision and its evidence, for
machines), scores.parquet (every customer's predicted outcome per arm and best arm, for the
campaign tool), report.html (the same for a marketer, self-contained), and an MLflow run.

Training rows are scored by the out-of-fold models of the cross-fitting, held-out rows by the
learner refitted on the training part: no customer is scored by a model that saw its outcome.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from experiments.targeting.learn import LABELS
from experiments.targeting.value import LEARNED, TargetingResult
from optichannel.registry import setup
from optichannel.settings import Settings

RUN_KIND = "targeting_learn"
TEMPLATE_NAME = "report.html.j2"
#: MLflow refuses longer parameter values
_PARAM_CHARS = 6000


def _number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def policy_document(result: TargetingResult) -> dict[str, Any]:
    """The content of policy.json."""
    j = result.judgement
    return {
        "outcome": result.outcome.name,
        "outcome_kind": result.outcome.kind,
        "control": result.control,
        "arms": result.arms,
        "learner": result.learner,
        "learners": {name: _number(v) for name, v in result.learners.items()},
        "qini": {arm: _number(v) for arm, v in result.qini.items()},
        "policies": {
            str(name): {k: _number(row[k]) for k in ("value", "ci_low", "ci_high")}
            for name, row in j.policies.iterrows()
        },
        "learned_vs_best_arm": {
            "arm": j.best_arm,
            "difference": _number(j.difference),
            "ci_low": _number(j.ci_low),
            "ci_high": _number(j.ci_high),
        },
        "recommended": result.recommended,
        "verdict": result.verdict,
        "arm_shares": {a: float(s) for a, s in result.arm_shares().items()},
        "value": result.value,
        "costs": result.costs,
        "confidence": j.confidence,
        "features": result.features,
        "warnings": result.warnings,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "folds": result.folds,
        "test_share": result.test_share,
        "seed": result.seed,
    }


def _policy_rows(result: TargetingResult) -> list[dict[str, str]]:
    j, u = result.judgement, result.units
    digits = u.digits(j.policies["value"].tolist())
    best = j.policies.loc[f"always {j.best_arm}", "value"]
    rows = []
    for name, r in j.policies.iterrows():
        low, high = u.number(r["ci_low"], digits, False), u.number(r["ci_high"], digits, False)
        rows.append(
            {
                "policy": f"learned ({LABELS[result.learner]})" if name == LEARNED else str(name),
                "value": u.number(r["value"], digits, signed=False),
                "interval": f"{low} to {high}",
                "vs_best": u.number(r["value"] - best, digits),
                "recommended": "yes" if name == result.recommended else "",
            }
        )
    return rows


def render_targeting_report(result: TargetingResult, path: Path, title: str) -> Path:
    """Write report.html: verdict and warnings first, then the evidence; no external resource."""
    from importlib.resources import files

    from jinja2 import Environment

    u, j = result.units, result.judgement
    digits = u.digits(list(result.learners.values()))
    learners = [
        {"name": LABELS[name], "value": u.number(v, digits, signed=False), "chosen": name == result.learner}
        for name, v in result.learners.items()
    ]
    shares = [
        {"arm": a, "share": f"{s:.1%}", "cost": f"{result.costs.get(a, 0.0):g}"}
        for a, s in result.arm_shares().items()
    ]
    html = (
        Environment(autoescape=True)
        .from_string(files("experiments.targeting").joinpath(TEMPLATE_NAME).read_text(encoding="utf-8"))
        .render(
            title=title,
            result=result,
            win=result.recommended == LEARNED,
            unit=u.label,
            level=f"{j.confidence:.0%}",
            policies=_policy_rows(result),
            learners=learners,
            shares=shares,
        )
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def write_outputs(result: TargetingResult, out: Path, title: str) -> dict[str, Path]:
    """policy.json, scores.parquet and report.html in `out` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"policy": out / "policy.json", "scores": out / "scores.parquet", "report": out / "report.html"}
    paths["policy"].write_text(json.dumps(policy_document(result), indent=2, ensure_ascii=False) + "\n")
    result.scores.to_parquet(paths["scores"], index=False)
    render_targeting_report(result, paths["report"], title)
    return paths


def _metric_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in text)


def learn_metrics(result: TargetingResult) -> dict[str, float]:
    """Held-out policy values with intervals, the learned-vs-best-arm difference, the cross-fitted
    value of every learner."""
    j = result.judgement
    metrics: dict[str, float] = {}
    for name, row in j.policies.iterrows():
        key = _metric_name(str(name))
        metrics |= {
            f"value_{key}": row["value"],
            f"ci_low_{key}": row["ci_low"],
            f"ci_high_{key}": row["ci_high"],
        }
    metrics |= {
        "learned_minus_best_arm": j.difference,
        "learned_minus_best_arm_ci_low": j.ci_low,
        "learned_minus_best_arm_ci_high": j.ci_high,
    }
    metrics |= {f"cv_value_{name}": v for name, v in result.learners.items()}
    metrics |= {f"qini_{_metric_name(arm)}": v for arm, v in result.qini.items()}
    return {k: float(v) for k, v in metrics.items() if math.isfinite(v)}


def log_learn_run(settings: Settings, result: TargetingResult, paths: dict[str, Path], table: Path) -> str:
    """Log the run `learn-<table stem>`: params, metrics, tags and the three files. Returns its id."""
    import mlflow

    setup(settings)
    params = {
        "table": str(table),
        "outcome": result.outcome.name,
        "control": result.control,
        "arms": ",".join(result.arms),
        "features": ",".join(result.features),
        "learner": result.learner,
        "seed": result.seed,
        "n_rows": result.n_train + result.n_test,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "folds": result.folds,
        "test_share": result.test_share,
        "value": result.value,
        "costs": ",".join(f"{a}={c:g}" for a, c in result.costs.items()) or "none",
    }
    tags = {"kind": RUN_KIND, "recommended": result.recommended}
    with mlflow.start_run(run_name=f"learn-{table.stem}", tags=tags) as run:
        mlflow.log_params({k: str(v)[:_PARAM_CHARS] for k, v in params.items()})
        mlflow.log_metrics(learn_metrics(result))
        mlflow.set_tag("verdict", result.verdict[:5000])
        for path in paths.values():
            mlflow.log_artifact(str(path), "learn")
        if result.warnings:
            with tempfile.TemporaryDirectory() as tmp:
                notes = Path(tmp) / "warnings.txt"
                notes.write_text("\n".join(result.warnings) + "\n", encoding="utf-8")
                mlflow.log_artifact(str(notes), "learn")
    return run.info.run_id
