"""The configuration reference, generated from `optichannel.settings.Settings` so a setting cannot
be added, renamed or re-defaulted without the page following."""

from __future__ import annotations

import json
import typing
from typing import Any

from markdown_text import HEADER, cell, code, table

#: variables read outside `Settings` (tests/test_docs.py finds every one the code reads)
OUTSIDE_SETTINGS = {
    "OPTICHANNEL_FEAST_DIR": (
        "from `OPTICHANNEL_DATA_DIR`",
        "set by optichannel for Feast's own CLI: `features/feature_repo/feature_store.yaml` reads the "
        "registry and online store under it (see [the Feast store](../data-scientist/feature-store.md))",
    ),
    "OPTICHANNEL_NOTEBOOK_DIR": (
        "a new temporary directory",
        "where the notebooks write their worlds, stores and MLflow runs",
    ),
}


def env_name(name: str, field: Any) -> str:
    """The environment variable a field is read from."""
    return str(field.validation_alias or f"OPTICHANNEL_{name.upper()}")


def _type(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return " or ".join(code(v) for v in typing.get_args(annotation))
    text = str(annotation) if typing.get_origin(annotation) else annotation.__name__
    for noise in ("typing.", "pathlib.", "optichannel.channels."):
        text = text.replace(noise, "")
    return code(text)


def _default(field: Any) -> str:
    from pydantic import TypeAdapter

    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    value = TypeAdapter(field.annotation).dump_python(value, mode="json")
    return code(value if isinstance(value, str) else json.dumps(value))


def _limits(field: Any) -> str:
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    found = [
        f"{sign} {getattr(m, key)}" for m in field.metadata for key, sign in words.items() if hasattr(m, key)
    ]
    return "; " + ", ".join(found) if found else ""


def render() -> str:
    from optichannel.settings import Settings

    rows = [
        [code(env_name(name, f)), _type(f.annotation), _default(f), cell(f.description) + _limits(f)]
        for name, f in Settings.model_fields.items()
    ]
    extra = [
        [code(name), "", cell(default), cell(meaning)]
        for name, (default, meaning) in OUTSIDE_SETTINGS.items()
    ]
    return (
        HEADER.format(source="optichannel.settings.Settings") + "# Configuration reference\n\n"
        "Every setting is an environment variable (or a line of a `.env` file in the working "
        "directory), read once per process through `optichannel.settings.get_settings()`. Lists and "
        "mappings are JSON, e.g. `OPTICHANNEL_PLANS='[\"a.yaml\"]'`. The local profile needs nothing "
        "running; `OPTICHANNEL_PROFILE=production` switches to Redis, PostgreSQL and optionally "
        "Spark ([production profile](index.md)).\n\n"
        + table(["variable", "type", "default", "meaning"], rows)
        + "\n## Read outside the settings\n\n"
        + table(["variable", "type", "default", "meaning"], extra)
    )


def pages() -> dict[str, str]:
    return {"operator/configuration.md": render()}
