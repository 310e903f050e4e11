"""What `demo` checks before its heavy steps: the training config (read once, up front) and the
validated feeds (too much quarantined, too short a history for the split), each failing in one line.

The single commands report these in one line; the demo runs the same checks so its steps end the
same way, before features, Feast and training have spent minutes on feeds they cannot use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from features.contract_checks import TableReport
    from features.feed_remap import MappingReport
    from training.config import Split, TrainConfig


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (a pydantic error lists each field as `where: what`)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            listed = errors()
            return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in listed)
        except (TypeError, KeyError):
            pass
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def train_config(path: Path | None, trials: int | None, seed: int) -> TrainConfig:
    """The training run's parameters: the file's when given (checked before any step runs, one line
    naming the field), else the demo's small defaults; `--trials` wins over either."""
    import yaml

    from training.config import Evaluation, TrainConfig

    if path is None:
        cfg = TrainConfig(trials=5, seed=seed, evaluation=Evaluation(customers=1000, times=2))
    else:
        try:
            cfg = TrainConfig.from_yaml(path)
        except (OSError, ValueError, yaml.YAMLError) as exc:  # a missing file, bad YAML, a field out of range
            typer.echo(f"error: --config {path}: {one_line(exc)}", err=True)
            raise typer.Exit(code=2) from None
    return cfg if trials is None else cfg.model_copy(update={"trials": trials})


def ready(
    reports: Mapping[str, TableReport],
    validated: Path,
    max_quarantined: float,
    split: Split,
    stop_after: int | None,
    mapped: Mapping[str, MappingReport] | None = None,
) -> None:
    """Stop after validation, in one line, on what would fail later: too much quarantined or left
    unmapped by a feeds.yaml, or (when the demo goes on to train) too short a history for the split."""
    from features.feed_readiness import (
        HistoryNeed,
        history_note,
        history_problem,
        mapping_lines,
        propensity_note,
        quarantine_problem,
    )

    need = HistoryNeed(split.min_train_days, split.valid_days, split.test_days, split.min_history_days)
    notes, problem = mapping_lines(mapped or {}, max_quarantined)
    for line in notes:
        typer.echo(f"note: {line}")
    problem = problem or quarantine_problem(reports, max_quarantined)
    if problem is None and (stop_after is None or stop_after >= 5):
        how = "lower split.min_history_days in a training config and pass it with --config"
        problem = history_problem(validated, need, how)
    if problem is not None:
        raise ValueError(problem)
    shorter = history_note(validated, need)
    if shorter is not None and (stop_after is None or stop_after >= 5):
        typer.echo(f"note: {shorter}")
    note = propensity_note(validated)
    if note is not None:
        typer.echo(f"warning: {note}", err=True)
