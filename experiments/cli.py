"""The `optichannel experiment` commands: design a test, assign customers to arms, analyse it.

Heavy imports (pandas, statsmodels, matplotlib) happen inside the command bodies so that
`optichannel --help` stays fast. Bad input ends the command with one `error: ...` line and exit
code 1, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd

ARMS_HELP = "Arms and their shares, e.g. model=0.45,bau=0.45,holdout=0.1 (shares sum to 1)."


def register(app: typer.Typer) -> None:
    """Add the `experiment` command group to the `optichannel` app."""
    group = typer.Typer(help="A/B tests: design, assignment and the uplift report.", no_args_is_help=True)
    group.command("design")(design)
    group.command("assign")(assign)
    group.command("analyze")(analyze)
    app.add_typer(group, name="experiment")


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def _read_table(path: Path, what: str) -> pd.DataFrame:
    """A Parquet file or directory, or a CSV file; a clear error for anything else."""
    import pandas as pd

    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {path}")
    if path.is_dir() or path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"{what} must be Parquet or CSV, got {path}")


def design(
    baseline: Annotated[float, typer.Option("--baseline", help="Control conversion rate, e.g. 0.03.")],
    mde: Annotated[float, typer.Option("--mde", help="Smallest uplift worth detecting, absolute (0.005).")],
    arms: Annotated[str, typer.Option("--arms", help=ARMS_HELP)] = "model=0.45,bau=0.45,holdout=0.1",
    control: Annotated[str, typer.Option("--control", help="The arm the others are compared with.")] = "bau",
    alpha: Annotated[float, typer.Option("--alpha", help="Family-wise false positive rate.")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="Chance to detect the uplift if real.")] = 0.8,
) -> None:
    """Customers needed per arm to detect the uplift (Bonferroni across comparisons)."""
    from rich.console import Console
    from rich.table import Table

    from experiments.design import sample_size
    from optichannel.assignment import parse_arms

    try:
        plan = sample_size(baseline, mde, parse_arms(arms), control, alpha=alpha, power=power)
    except ValueError as exc:
        raise _fail(exc) from None
    table = Table(title=f"sample size: baseline {baseline:.2%}, detect {mde * 100:+.2f} points")
    for column in ("arm", "role", "share", "customers"):
        table.add_column(column, justify="left" if column in ("arm", "role") else "right")
    for arm, row in plan.table().iterrows():
        table.add_row(str(arm), row["role"], f"{row['share']:.1%}", f"{int(row['n']):,}")
    table.add_row("total", "", "100%", f"{plan.total_n:,}", style="bold")
    console = Console()
    console.print(table)
    console.print(
        f"power {power:.0%} per comparison at alpha {plan.corrected_alpha:.3g} "
        f"({plan.comparisons} comparison(s) against {control}, Bonferroni)",
        highlight=False,
    )


def assign(
    customers: Annotated[Path, typer.Option("--customers", help="Parquet/CSV with a customer_id column.")],
    experiment: Annotated[str, typer.Option("--experiment", help="Experiment name (salts the hash).")],
    out: Annotated[Path, typer.Option("--out", help="Assignment Parquet to write.")],
    arms: Annotated[str, typer.Option("--arms", help=ARMS_HELP)] = "model=0.45,bau=0.45,holdout=0.1",
    salt: Annotated[str, typer.Option("--salt", help="Extra salt: change it to reshuffle.")] = "",
) -> None:
    """Assign every customer to an arm by a stable salted hash of the id."""
    import pandas as pd

    from optichannel.assignment import assign_arms, parse_arms

    try:
        shares = parse_arms(arms)
        table = _read_table(customers, "customers")
        if "customer_id" not in table.columns:
            raise ValueError(f"{customers} has no customer_id column")
        ids = table["customer_id"].drop_duplicates()
        arm = assign_arms(ids, experiment, shares, salt=salt)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from None
    frame = pd.DataFrame({"customer_id": ids.to_numpy(), "experiment": experiment, "arm": arm})
    frame["planned_share"] = frame["arm"].map(shares)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    counts = frame["arm"].value_counts().reindex(list(shares), fill_value=0)
    summary = ", ".join(f"{name} {n:,}" for name, n in counts.items())
    typer.echo(f"assigned {len(frame):,} customers to {experiment!r}: {summary} -> {out}")


def analyze(
    assignments: Annotated[Path, typer.Option("--assignments", help="Output of `experiment assign`.")],
    contacts: Annotated[Path, typer.Option("--contacts", help="Contacts feed (Parquet file/dir or CSV).")],
    control: Annotated[str, typer.Option("--control", help="The arm the others are compared with.")] = "bau",
    out: Annotated[Path, typer.Option("--out", help="HTML report to write.")] = Path(
        "reports/experiment.html"
    ),
    arms: Annotated[
        str | None,
        typer.Option("--arms", help="Planned shares for the ratio check [default: from assignments]."),
    ] = None,
    title: Annotated[str, typer.Option("--title", help="Report title.")] = "A/B test: uplift report",
) -> None:
    """Analyse the test (intention to treat) and write the HTML report."""
    from experiments.analysis import analyze as analyze_frame
    from experiments.analysis import customer_outcomes, qini_for
    from experiments.report import render_report
    from optichannel.assignment import parse_arms

    try:
        planned = parse_arms(arms) if arms else None
        frame = customer_outcomes(_read_table(contacts, "contacts"), _read_table(assignments, "assignments"))
        result = analyze_frame(frame, control, planned_shares=planned)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from None
    qinis = []
    if "score" in frame.columns:
        for arm in result.comparisons.index:
            try:
                qinis.append(qini_for(frame, arm, control))
            except ValueError as exc:
                typer.echo(f"warning: no Qini curve for {arm}: {exc}", err=True)
    path = render_report(result, out, title=title, qini=qinis)
    typer.echo(f"report: {path}")
    typer.echo(result.headline["text"])
    if result.srm.get("mismatch"):
        typer.echo(f"warning: sample-ratio mismatch: {result.srm['message']}", err=True)
