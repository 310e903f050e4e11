"""`optichannel experiment learn`: who should get which arm, learned from a randomised A/B table,
and whether personalising beats sending everyone the single best arm.

Registered by `experiments.cli`. Heavy imports (pandas, LightGBM, scipy, MLflow) happen inside
the command so that `optichannel --help` stays fast. Bad input ends the command with one
`error: ...` line and exit code 1, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from experiments.export_tables import ExportFrame
    from experiments.targeting.value import TargetingResult

#: columns of an export that are never covariates
NOT_FEATURES = ("assigned_at", "planned_share")


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def _warn(text: str) -> None:
    typer.echo(f"warning: {text}", err=True)


def default_features(table: pd.DataFrame, id_column: str, arm: str, outcome: str) -> list[str]:
    """Every column but the id, the arm, the outcome and the assignment bookkeeping."""
    skip = {id_column, arm, outcome, *NOT_FEATURES}
    return [str(c) for c in table.columns if c not in skip]


def guard_leakage(
    frame: pd.DataFrame,
    features: list[str],
    explicit: bool,
    say: Callable[[str], None],
    labels: dict[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    """Features kept and warnings: columns that differ between arms are dropped when the features
    were defaulted, kept with a loud warning when the user named them. `labels` maps the frame's
    column names to the user's."""
    from experiments.covariate_balance import LEAKAGE_P, post_treatment_suspects

    suspects = post_treatment_suspects(frame, "arm", features)
    warnings = []
    for name, p in suspects.items():
        why = (
            f"column {(labels or {}).get(name, name)!r} differs between arms (p = {p:.1e} < {LEAKAGE_P:g}): "
            "probably measured after treatment"
        )
        if explicit:
            text = f"{why}; KEPT because --features names it: the learned policy may be worthless"
        else:
            text = f"{why}; dropped from the features (name it in --features to keep it)"
        warnings.append(text)
        say(text)
    kept = features if explicit else [f for f in features if f not in suspects]
    return kept, warnings


def guard_proxies(
    frame: pd.DataFrame,
    outcome: str,
    binary: bool,
    features: list[str],
    explicit: bool,
    say: Callable[[str], None],
    labels: dict[str, str] | None = None,
    taken: int | None = None,
) -> tuple[list[str], list[str]]:
    """Features kept and warnings: with defaulted features, taking all `taken` columns is said, and
    a column that alone predicts the outcome far better than any other is dropped (named in
    --features, it is kept with a loud warning)."""
    from experiments.outcome_proxies import outcome_proxies

    warnings = []
    name = lambda f: (labels or {}).get(f, f)  # noqa: E731
    if not explicit:
        warnings.append(
            f"no --features: all {taken or len(features)} other columns are taken as covariates; name the "
            "ones measured before the test with --features (one measured during it can stand in for the "
            "outcome)"
        )
    proxies, scores = outcome_proxies(frame, outcome, features, binary)
    for column, score in proxies.items():
        runner_up = scores.drop(list(proxies)).max()
        why = (
            f"column {name(column)!r} alone predicts the outcome far better than any other (rank score "
            f"{score:.2f} vs at most {runner_up:.2f}): probably a proxy of the outcome, measured with it"
        )
        if explicit:
            warnings.append(f"{why}; KEPT because --features names it: the learned policy may be worthless")
        else:
            warnings.append(f"{why}; dropped from the features (name it in --features to keep it)")
    for text in warnings:
        say(text)
    kept = features if explicit else [f for f in features if f not in proxies]
    return kept, warnings


def load_customers(
    data: Path, arm: str, outcome: str, id_column: str, features: str | None
) -> tuple[ExportFrame, dict[str, str], bool]:
    """The per-customer frame, its feature columns (frame name -> the table's name) and whether
    the user named them. Features named like a column of the frame are carried under `feature_<name>`."""
    from experiments.export_tables import FRAME_COLUMNS, load_export, read_table

    table = read_table(data, "data")
    for flag, column in (("--arm", arm), ("--outcome", outcome)):
        if column not in table.columns:
            columns = ", ".join(map(str, table.columns))
            raise ValueError(f"the data has no column {column!r} ({flag}; columns: {columns})")
    explicit = features is not None
    names = [f.strip() for f in (features or "").split(",") if f.strip()]
    if explicit and not names:
        raise ValueError("--features is empty")
    if not explicit:
        names = default_features(table, id_column, arm, outcome)
    clash = [f for f in names if f in (arm, outcome, id_column)]
    if clash:
        raise ValueError(f"--features must not name the arm, outcome or id column ({clash[0]!r})")
    missing = [f for f in names if f not in table.columns]
    if missing:
        raise ValueError(f"the data has no column {missing[0]!r} (--features)")
    inner = {f: f"feature_{f}" if f in FRAME_COLUMNS else f for f in names}
    export = load_export(
        table.rename(columns={f: i for f, i in inner.items() if f != i}), outcome, None,
        arm_column=arm, id_column=id_column, keep=list(inner.values()),
    )  # fmt: skip
    return export, {i: f for f, i in inner.items()}, explicit


def _policy_table(result: TargetingResult) -> Table:
    from rich.table import Table

    from experiments.targeting.learn import LABELS
    from experiments.targeting.value import LEARNED

    j, u = result.judgement, result.units
    digits = u.digits(j.policies["value"].tolist())
    best = j.policies.loc[f"always {j.best_arm}", "value"]
    table = Table(title=f"{result.outcome.name}: policies on {result.n_test:,} held-out customers")
    for name in ("policy", f"value, {u.label}", f"{j.confidence:.0%} CI", f"vs always {j.best_arm}", ""):
        table.add_column(name, justify="left" if name in ("policy", "") else "right")
    for name, r in j.policies.iterrows():
        label = f"learned ({LABELS[result.learner]})" if name == LEARNED else str(name)
        table.add_row(
            label,
            u.number(r["value"], digits, signed=False),
            f"{u.number(r['ci_low'], digits, False)} to {u.number(r['ci_high'], digits, False)}",
            u.number(r["value"] - best, digits),
            "recommended" if name == result.recommended else "",
            style="bold" if name == result.recommended else None,
        )
    return table


def learn(
    data: Annotated[
        Path, typer.Option("--data", help="The experiment table (Parquet or CSV), a row per customer.")
    ],
    arm: Annotated[str, typer.Option("--arm", help="Column holding each customer's arm.")],
    outcome: Annotated[str, typer.Option("--outcome", help="Outcome column: 0/1 flag, timestamp or number.")],
    control: Annotated[str, typer.Option("--control", help="The control arm, e.g. 'No E-Mail'.")],
    features: Annotated[
        str | None,
        typer.Option(
            "--features",
            help="Covariates a,b,... [default: every other column, post-treatment ones dropped].",
        ),
    ] = None,
    cost: Annotated[
        list[str] | None,
        typer.Option("--cost", help="ARM=VALUE, repeatable: cost per customer sent the arm [default: 0]."),
    ] = None,
    value: Annotated[float, typer.Option("--value", help="Worth of one unit of the outcome.")] = 1.0,
    id_column: Annotated[str, typer.Option("--id-column", help="Customer id column.")] = "customer_id",
    test_share: Annotated[float, typer.Option("--test-share", help="Share of each arm held out.")] = 0.3,
    folds: Annotated[int, typer.Option("--folds", help="Cross-fitting folds on the training part.")] = 3,
    seed: Annotated[int | None, typer.Option("--seed", help="[default: settings seed]")] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Directory for policy.json, scores.parquet, report.html.")
    ] = Path("reports/learn"),
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Do not log an MLflow run.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Learn who should get which arm from a randomised test, and check it beats the best single arm."""
    from experiments.console import print_table
    from experiments.targeting.outputs import log_learn_run, write_outputs
    from experiments.targeting.value import learn_targeting, step_count
    from optichannel.progress import progress_bar
    from optichannel.settings import get_settings

    settings = get_settings()
    seed = settings.seed if seed is None else seed
    try:
        from experiments.export_analysis import parse_costs

        costs = parse_costs(cost or [])
        export, names, explicit = load_customers(data, arm, outcome, id_column, features)
        for text in export.warnings:
            _warn(text)
        kept, leaks = guard_leakage(export.frame, list(names), explicit, _warn, names)
        kept, proxies = guard_proxies(
            export.frame,
            export.outcome.column,
            export.outcome.binary,
            kept,
            explicit,
            _warn,
            names,
            len(names),
        )
        leaks = [*leaks, *proxies]
        with progress_bar(settings.show_progress and not quiet) as bar:
            task = bar.add_task("learning", total=step_count(folds))
            done = [0]

            def step(message: str) -> None:
                bar.update(task, description=message, completed=done[0])
                done[0] += 1

            result = learn_targeting(
                export.frame, export.outcome, kept, control, costs=costs, value=value,
                test_share=test_share, folds=folds, seed=seed, warnings=[*export.warnings, *leaks], step=step,
            )  # fmt: skip
            bar.update(task, description="done", completed=step_count(folds))
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from None
    result.features = [names[f] for f in result.features]
    for text in result.warnings[len(export.warnings) + len(leaks) :]:
        _warn(text)
    title = f"Who should get which arm: {result.outcome.name} ({data.name})"
    paths = write_outputs(result, out, title)
    print_table(_policy_table(result))
    typer.echo(result.verdict)
    for what, path in paths.items():
        typer.echo(f"{what}: {path}")
    if not no_mlflow:
        run_id = log_learn_run(settings, result, paths, data)
        typer.echo(f"MLflow run {run_id}")
