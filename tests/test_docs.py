"""The docs cannot drift from the code: the generated reference pages are current, and every
setting the code reads and every command the app has is on them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from typer.main import get_command

from optichannel.settings import Settings
from pipeline.cli import build_app

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGES = (
    "optichannel",
    "simulator",
    "features",
    "decision",
    "training",
    "serving",
    "experiments",
    "pipeline",
)


def test_generated_pages_are_current() -> None:
    done = subprocess.run(
        [sys.executable, str(DOCS / "gen" / "generate.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_setting_is_in_the_configuration_reference() -> None:
    page = (DOCS / "operator" / "configuration.md").read_text()
    fields = Settings.model_fields.items()
    names = {str(f.validation_alias or f"OPTICHANNEL_{name.upper()}") for name, f in fields}
    for package in (*PACKAGES, "notebooks"):
        for path in (ROOT / package).rglob("*.py"):
            names |= set(re.findall(r"OPTICHANNEL_[A-Z_]+[A-Z]", path.read_text()))
    for path in (ROOT / "features" / "feature_repo").glob("*.yaml"):
        names |= set(re.findall(r"OPTICHANNEL_[A-Z_]+[A-Z]", path.read_text()))
    missing = sorted(n for n in names if f"| `{n}` |" not in page)
    assert not missing, f"settings missing from docs/operator/configuration.md: {missing}"


def test_every_command_is_in_the_command_line_reference() -> None:
    page = (DOCS / "reference" / "cli.md").read_text()
    group = get_command(build_app())
    commands = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        commands += [f"optichannel {name} {sub}" for sub in subs] if subs else [f"optichannel {name}"]
    missing = [c for c in commands if f"## {c} {{#" not in page]
    assert not missing, f"commands missing from docs/reference/cli.md: {missing}"
