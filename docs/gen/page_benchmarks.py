"""The benchmark page, generated from `benchmarks/results/*.json` (written by
`benchmarks/results_file.py`): one table per benchmark with the command that reproduces it, and
"not yet measured" for a script without results."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from markdown_text import HEADER, cell, code, prose, table

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "benchmarks"
RESULTS = SCRIPTS / "results"
NOT_BENCHMARKS = {"results_file"}


def _value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return cell(str(value).lower() if value is not None else "—")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}".removesuffix(".0") if abs(value) >= 1000 else f"{value:.6g}"
    return cell(str(value))


def figures_table(figures: dict[str, Any]) -> str:
    """Rows of cases when every value is a mapping, else figure and value."""
    if figures and all(isinstance(v, dict) for v in figures.values()):
        columns = list(dict.fromkeys(k for row in figures.values() for k in row))
        rows = [[cell(label), *(_value(row.get(c)) for c in columns)] for label, row in figures.items()]
        return table(["", *map(cell, columns)], rows)
    return table(["figure", "value"], [[cell(k), _value(v)] for k, v in figures.items()])


def _about(script: Path) -> str:
    """The script's docstring, first paragraph."""
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    return prose(doc.split("\n\n")[0])


def _section(name: str, script: Path | None, result: dict[str, Any] | None) -> str:
    command = f".venv/bin/python benchmarks/{name}.py"
    out = [f"## {name}\n"]
    if script is not None:
        out.append(_about(script) + "\n")
    elif result and result.get("about"):
        out.append(result["about"] + "\n")
    if result is None:
        out.append(f"Not yet measured: run `{command}`.\n")
        return "\n".join(out)
    machine = result.get("machine", {})
    cores = machine.get("cores", "?")
    where = (
        f"{machine['cpu']}, {cores} cores"
        if machine.get("cpu")
        else f"a {cores}-core machine (CPU model not recorded)"
    )
    said = f"Measured {result['date']} on {where}"
    said += f", commit `{result['commit']}`" if result.get("commit") else ""
    said += f"; source: {result['source']}" if result.get("source") else ""
    out.append(said + ".\n")
    out.append(figures_table(result["figures"]))
    if result.get("notes"):
        out.append(prose(result["notes"]) + "\n")
    out.append(f"Reproduce: {code(result.get('command') or command)}\n")
    return "\n".join(out)


def render() -> str:
    scripts = {p.stem: p for p in sorted(SCRIPTS.glob("*.py")) if p.stem not in NOT_BENCHMARKS}
    results = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    out = [HEADER.format(source="benchmarks/results/*.json"), "# Benchmarks\n"]
    out.append(
        "Each script in `benchmarks/` measures against a floor or a baseline in the same run and "
        "writes its figures to `benchmarks/results/<name>.json` (date, machine, command, figures); "
        "this page is generated from those files. Figures from a shared 2-core machine move by up "
        "to half between runs of one day: compare ratios within a run, and the machine line of each "
        "table. `make bench` runs the usual set (over an hour; `serving`, `allocation` and "
        "`response_gap` need `make demo` first). The history of every figure is the history of "
        "its file in git.\n"
    )
    for name in sorted(scripts.keys() | results.keys()):
        out.append(_section(name, scripts.get(name), results.get(name)))
    return "\n".join(out)


def pages() -> dict[str, str]:
    return {"benchmarks.md": render()}
