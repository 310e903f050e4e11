"""The README cannot drift from the code: every setting and every command it should name."""

from __future__ import annotations

import re
from pathlib import Path

from typer.main import get_command

from optichannel.settings import Settings
from pipeline.cli import build_app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    table = README[README.index("## Configuration") :]
    fields = Settings.model_fields.items()
    names = {str(f.validation_alias or f"OPTICHANNEL_{name.upper()}") for name, f in fields}
    for package in ("optichannel", "features", "training", "serving", "experiments", "pipeline", "notebooks"):
        for path in (ROOT / package).rglob("*.py"):
            names |= set(re.findall(r"OPTICHANNEL_[A-Z_]+[A-Z]", path.read_text()))
    missing = sorted(n for n in names if f"`{n}`" not in table)
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_every_command_is_in_the_command_line_section() -> None:
    block = README[README.index("## The command line") : README.index("## Features")]
    group = get_command(build_app())
    commands = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        commands += [f"optichannel {name} {sub}" for sub in subs] if subs else [f"optichannel {name}"]
    missing = [c for c in commands if c not in block]
    assert not missing, f"commands missing from the README's command line section: {missing}"
