"""The notebooks run top to bottom in a real Jupyter kernel and say what they should.

Each jupytext notebook is executed with nbclient in a kernel of this very interpreter (a kernel
spec installed into a temporary prefix, so a user-level `python3` spec pointing at another Python
cannot interfere), with `OPTICHANNEL_NOTEBOOK_DIR` pointing at a temporary directory: nothing lands
in the repository. A cell that raises fails the test.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "optichannel-notebook-test"


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data directory holding one kernel spec that runs `sys.executable -m ipykernel_launcher`."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name=KERNEL, display_name="optichannel tests", prefix=str(prefix))
    spec = json.loads((prefix / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    return prefix / "share" / "jupyter"


def execute(nb, kernel_path: Path, monkeypatch: pytest.MonkeyPatch, out: Path | None = None):
    """Run every cell of `nb` in place (cwd = repo root); the kernel inherits this environment."""
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))  # searched before the user's and the venv's specs
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    if out is not None:
        monkeypatch.setenv("OPTICHANNEL_NOTEBOOK_DIR", str(out))
    client = NotebookClient(nb, timeout=600, kernel_name=KERNEL, resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    return nb


def run_notebook(name: str, kernel_path: Path, monkeypatch: pytest.MonkeyPatch, out: Path) -> str:
    """Execute notebooks/<name>.py and return everything it printed or displayed as text."""
    import jupytext

    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    began = time.perf_counter()
    execute(nb, kernel_path, monkeypatch, out)
    print(f"{name}: {time.perf_counter() - began:.1f} s")
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output["text"])
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def test_kernel_runs_this_interpreter(kernel_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")])
    execute(nb, kernel_path, monkeypatch)
    assert nb.cells[0].outputs[0]["text"].strip() == sys.executable


def test_notebooks_are_jupytext_percent_files_that_write_nothing_in_the_repo() -> None:
    import jupytext

    names = sorted(p.stem for p in NOTEBOOKS.glob("*.py"))
    assert names == ["01_explore_feeds", "02_train_and_compare", "03_read_an_experiment"]
    for name in names:
        text = (NOTEBOOKS / f"{name}.py").read_text()
        assert text.startswith("# ---\n# jupyter:") and "format_name: percent" in text
        nb = jupytext.read(NOTEBOOKS / f"{name}.py")
        code = [c for c in nb.cells if c.cell_type == "code"]
        params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and code.index(params[0]) == 1, name  # imports, then the parameters
        assert "OPTICHANNEL_NOTEBOOK_DIR" in params[0].source
        assert any(c.cell_type == "markdown" for c in nb.cells)


def test_explore_feeds(kernel_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = run_notebook("01_explore_feeds", kernel_path, monkeypatch, tmp_path)
    work = tmp_path / "01_explore_feeds"
    for figure in ("payday_pattern", "travel_pattern", "hour_of_day", "channel_mix"):
        assert (work / f"{figure}.png").stat().st_size > 10_000, figure
    assert "tz: not an IANA time zone" in text and "duplicate customer_id" in text
    assert (work / "data" / "validated" / "report.json").exists()


def test_train_and_compare(kernel_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = run_notebook("02_train_and_compare", kernel_path, monkeypatch, tmp_path)
    work = tmp_path / "02_train_and_compare"
    assert "no champion yet: the first model becomes champion" in text
    assert "promoted = False" in text  # the weak challenger is not promoted, and says why
    assert any(
        why in text
        for why in (
            "does not beat the champion",
            "is worse than the champion",
            "is estimated to be worth more",
        )
    )
    assert "champion = version 1, challenger = version 2" in text
    assert "aliases: {'challenger': 2, 'champion': 1}" in text
    assert (work / "mlflow" / "mlflow.db").exists()
    report = json.loads((work / "reports" / "first" / "evaluation.json").read_text())
    assert report["model_version"] == "1" and report["policies"]["oracle"]["capture_value"] == pytest.approx(
        1
    )
    assert (work / "capture_compare.png").exists()


def test_read_an_experiment(kernel_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = run_notebook("03_read_an_experiment", kernel_path, monkeypatch, tmp_path)
    work = tmp_path / "03_read_an_experiment"
    assert "champion: models:/optichannel-nbc@champion = version 1" in text
    assert "sample-ratio check: ok" in text
    assert re.search(r"verdict: \w+; model uplift [+-]0\.\d+ \(95% CI [+-]0\.\d+ to [+-]0\.\d+\), true", text)
    assert "Qini AUC" in text
    report = work / "reports" / "ab_test.html"
    assert f"HTML report: {report}" in text
    html = report.read_text(encoding="utf-8")
    assert "Truth check" in html and "Qini curve" in html
