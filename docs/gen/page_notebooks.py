"""The jupytext notebooks as pages: their Markdown cells as text and their code cells as code, so
the site shows the notebooks the tests execute, not a copy that could fall behind."""

from __future__ import annotations

from pathlib import Path

from markdown_text import HEADER

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def render(path: Path) -> str:
    import jupytext

    notebook = jupytext.read(path)
    out = [HEADER.format(source=f"notebooks/{path.name}")]
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            out.append(cell.source + "\n")
        elif cell.source.strip():
            out.append(f"```python\n{cell.source}\n```\n")
        if number == 0:
            out.append(
                f'!!! note "Run it"\n    This page is `notebooks/{path.name}`, a jupytext notebook, '
                "shown without outputs. `.venv/bin/jupytext --to notebook "
                f"notebooks/{path.name}` makes an `.ipynb` for Jupyter; "
                "`tests/integration/test_notebooks.py` executes it top to bottom in `make test`.\n"
            )
    return "\n".join(out)


def pages() -> dict[str, str]:
    return {f"data-scientist/notebooks/{p.stem}.md": render(p) for p in sorted(NOTEBOOKS.glob("*.py"))}
