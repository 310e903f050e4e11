"""`feeds.yaml`: how a company's own export maps onto the four feed contracts, instead of a converter.

A company's files rarely use our names: `crm_profiles.csv` with `id` and `became_member_on`, channels
called `mobile` and `social`, times in epoch milliseconds. A mapping says, per table, which file to
read, which source column feeds each contract column, how source values translate (a channel the
company does not use maps to `unused`), how times are written, and constants for columns the export
lacks. It is read and checked here, before any row is touched, so a mistake in it is one line naming
the key and the file; `features.feed_remap` applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.feed_io import FeedError
from optichannel.contracts import CONTRACTS, Contract

#: the target value of a value mapping that sets a row aside as deliberately not used (counted, said)
UNUSED = "unused"
#: time units besides a strftime format; `hours since <ISO time>` and `days since <ISO time>` too
EPOCHS: dict[str, str] = {"epoch_s": "s", "epoch_ms": "ms"}
SINCE_UNITS = ("hours", "days")
_SECTION_KEYS = ("file", "columns", "values", "times", "fill")


class MappingError(FeedError):
    """A `feeds.yaml` that cannot be applied; the message names the file and the key."""


@dataclass(frozen=True)
class TableMapping:
    """One table's mapping: where its rows come from and how they become the contract's."""

    table: str
    file: str | None = None  # relative to the feed directory; None: the table's usual name there
    columns: dict[str, str] = field(default_factory=dict)  # contract column -> source column
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # contract column -> source -> ours
    times: dict[str, str] = field(default_factory=dict)  # contract column -> unit or strftime format
    fill: dict[str, Any] = field(default_factory=dict)  # contract column -> constant

    def source(self, column: str) -> str:
        """The source column read for a contract column."""
        return self.columns.get(column, column)


@dataclass(frozen=True)
class FeedMapping:
    """Every table's mapping, and the file it was read from (named in every message about it)."""

    path: Path
    tables: dict[str, TableMapping]


def load_mapping(path: str | Path) -> FeedMapping:
    """Read and check a `feeds.yaml`; a MappingError in one line naming the file and key otherwise."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise MappingError(f"{path}: not valid YAML{line}") from None
    if not isinstance(raw, Mapping) or not raw:
        raise MappingError(f"{path}: a mapping needs one section per table ({', '.join(CONTRACTS)})")
    tables = {}
    for name, section in raw.items():
        if name not in CONTRACTS:
            raise MappingError(f"{path}: {name}: not a table; known: {', '.join(CONTRACTS)}")
        tables[name] = _table(path, CONTRACTS[name], section or {})
    return FeedMapping(path, tables)


def _table(path: Path, contract: Contract, section: object) -> TableMapping:
    name = contract.table
    if not isinstance(section, Mapping):
        raise MappingError(f"{path}: {name}: must be a section with {', '.join(_SECTION_KEYS)}")
    unknown = sorted(set(map(str, section)) - set(_SECTION_KEYS))
    if unknown:
        raise MappingError(f"{path}: {name}.{unknown[0]}: unknown key; known: {', '.join(_SECTION_KEYS)}")
    file = section.get("file")
    if file is not None and (not isinstance(file, str) or not file.strip()):
        raise MappingError(f"{path}: {name}.file: must be a file name in the feed directory")
    columns = {k: _text(path, f"{name}.columns.{k}", v) for k, v in _section(path, section, name, "columns")}
    values = {}
    for column, table in _section(path, section, name, "values"):
        values[column] = _values(path, contract, column, table)
    times = {}
    for column, unit in _section(path, section, name, "times"):
        times[column] = _time_unit(path, contract, column, unit)
    fill = dict(_section(path, section, name, "fill"))
    for key, column in (("columns", c) for c in columns):
        _known_column(path, contract, key, column)
    for key, column in (("fill", c) for c in fill):
        _known_column(path, contract, key, column)
    return TableMapping(name, file, columns, values, times, fill)


def _section(path: Path, section: Mapping[str, Any], table: str, key: str) -> list[tuple[str, Any]]:
    value = section.get(key) or {}
    if not isinstance(value, Mapping):
        raise MappingError(f"{path}: {table}.{key}: must map contract columns to values")
    return [(str(k), v) for k, v in value.items()]


def _text(path: Path, where: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
        raise MappingError(f"{path}: {where}: must be a name or value, got {value!r}")
    return str(value)


def _known_column(path: Path, contract: Contract, key: str, column: str) -> None:
    if column not in contract.names:
        raise MappingError(
            f"{path}: {contract.table}.{key}.{column}: not a column of {contract.table}; "
            f"known: {', '.join(contract.names)}"
        )


def _values(path: Path, contract: Contract, column: str, table: object) -> dict[str, str]:
    _known_column(path, contract, "values", column)
    where = f"{contract.table}.values.{column}"
    if not isinstance(table, Mapping) or not table:
        raise MappingError(f"{path}: {where}: must map source values to the contract's")
    allowed = contract.column(column).allowed
    out = {}
    for source, target in table.items():
        ours = _text(path, f"{where}.{source}", target)
        if allowed is not None and ours != UNUSED and ours not in allowed:
            raise MappingError(
                f"{path}: {where}.{source}: {ours!r} is not allowed; use one of {', '.join(allowed)} "
                f"or {UNUSED}"
            )
        out[str(source)] = ours
    return out


def _time_unit(path: Path, contract: Contract, column: str, unit: object) -> str:
    _known_column(path, contract, "times", column)
    where = f"{contract.table}.times.{column}"
    if contract.column(column).kind not in ("timestamp", "date"):
        raise MappingError(f"{path}: {where}: {column} is not a time or date column")
    text = _text(path, where, unit)
    if text in EPOCHS or "%" in text or since(text) is not None:
        return text
    raise MappingError(
        f"{path}: {where}: {text!r} is not a time unit; use epoch_s, epoch_ms, "
        "'hours since 2024-01-01', 'days since 2024-01-01' or a strftime format such as '%Y%m%d'"
    )


def since(unit: str) -> tuple[str, str] | None:
    """('hours' | 'days', origin) of an `<unit> since <ISO time>` time unit, else None."""
    import pandas as pd

    parts = unit.split(maxsplit=2)
    if len(parts) != 3 or parts[0] not in SINCE_UNITS or parts[1] != "since":
        return None
    try:
        pd.Timestamp(parts[2])
    except ValueError:
        return None
    return parts[0], parts[2]
