"""The command-line reference, generated from the Typer app (`pipeline.cli.build_app`) so every
command, argument, option and default on the page is the command's own."""

from __future__ import annotations

import enum
from typing import Any

from markdown_text import HEADER, cell, code, prose, table


def leaves(group: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """Every runnable command under `group`, in the order the app registers them."""
    subs = getattr(group, "commands", None)
    if not subs:
        return [(path, group)]
    return [leaf for name, sub in subs.items() for leaf in leaves(sub, [*path, name])]


def _default(param: Any) -> str:
    if param.required:
        return "required"
    value = param.default
    if callable(value) or value is None or value in ((), []):
        return ""
    if getattr(param, "is_flag", False):
        return "on" if value else "off"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, list | tuple):
        value = " ".join(map(str, value))
    return code(value)


def _kind(param: Any, ctx: Any) -> str:
    """Typer (0.29 vendors its own click) names the type: `<int range>`, `<duckdb|spark>`, `<path>`."""
    if getattr(param, "is_flag", False):
        return "flag"
    text = param.display_type(ctx).strip("<>")
    if "%" in text:  # a date or time format
        return "time " + code(text)
    if "|" in text:
        return " or ".join(code(c) for c in text.split("|"))
    if text.endswith(" range"):
        low, high = getattr(param, "min", None), getattr(param, "max", None)
        text = text.removesuffix(" range") + (f" ≥ {low}" if low is not None else "")
        text += f" ≤ {high}" if high is not None else ""
    if getattr(param, "multiple", False) or param.nargs != 1:
        text += ", repeatable"
    return text


def _row(param: Any, ctx: Any) -> list[str]:
    if param.param_type_name == "argument":
        name = code(param.name.upper()) + (" ..." if param.nargs != 1 else "")
    else:
        name = ", ".join(code(o) for o in [*param.opts, *param.secondary_opts])
    return [name, _kind(param, ctx), _default(param), cell(getattr(param, "help", None))]


def render() -> str:
    from typer.main import get_command

    from pipeline.cli import build_app

    root = get_command(build_app())
    out = [HEADER.format(source="pipeline.cli (the Typer app)"), "# Command line\n"]
    out.append(
        prose(root.help)
        + " Installed as `.venv/bin/optichannel` by `make setup` (or `make demo`); every command "
        "takes `--help`. Settings come from `OPTICHANNEL_*` variables "
        "([configuration](../operator/configuration.md)).\n"
    )
    commands = leaves(root, ["optichannel"])
    out.append(
        table(
            ["command", "what it does"],
            [
                [f"[{' '.join(p)}](#{'-'.join(p[1:])})", cell((c.help or "").split("\n\n")[0])]
                for p, c in commands
            ],
        )
    )
    for path, command in commands:
        name = " ".join(path)
        out.append(f"## {name} {{#{'-'.join(path[1:])}}}\n")
        ctx = command.make_context(name, [], resilient_parsing=True)
        out.append("```\n" + " ".join([name, *command.collect_usage_pieces(ctx)]) + "\n```\n")
        out.append(prose(command.help) + "\n")
        params = [p for p in command.params if not getattr(p, "hidden", False)]
        if params:
            out.append(
                table(["argument or option", "kind", "default", "meaning"], [_row(p, ctx) for p in params])
            )
    return "\n".join(out)


def pages() -> dict[str, str]:
    return {"reference/cli.md": render()}
