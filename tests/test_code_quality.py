"""Lint and the layer contract are part of the suite, so a violation fails `make test`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_clean() -> None:
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers_hold() -> None:
    result = _run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_mlflow_directory_holds_no_python() -> None:
    assert not list((ROOT / "mlflow").rglob("*.py")), "mlflow/ must not shadow the mlflow library"


def test_no_utils_modules() -> None:
    offenders = [p for p in ROOT.rglob("utils.py") if ".venv" not in p.parts and ".uv" not in p.parts]
    assert not offenders


PACKAGES = (
    "optichannel", "simulator", "features", "decision", "training", "serving", "experiments", "pipeline",
)  # fmt: skip


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or through others (function-level and
    type-checking imports included): each strongly connected component is one module."""
    import grimp

    graph = grimp.build_graph(*PACKAGES)
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    order, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        order[v] = low[v] = len(order)
        stack.append(v)
        on.add(v)
        for w in imports[v]:
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(imports):
        if module not in order:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


#: what only the decision engine may use: the scoring and the choice
DECISION_INTERNALS = {"score_grid", "greedy", "best_option", "explore"}


def test_only_the_decision_engine_combines_grid_scores_and_rules() -> None:
    """Every entry point decides through `decision.engine.Engine`: no product module outside
    `decision/` imports the scoring or the choice to take a decision of its own."""
    import ast

    offenders = []
    for package in PACKAGES:
        if package == "decision":
            continue
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("decision"):
                    used = {a.name for a in node.names} & DECISION_INTERNALS
                    if used:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {', '.join(sorted(used))}")
    assert not offenders, "decisions taken outside decision/:\n" + "\n".join(offenders)
