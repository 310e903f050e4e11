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
