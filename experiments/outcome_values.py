"""What an outcome column in an experiment export means: a 0/1 flag, a timestamp or a number.

Exports name their outcomes freely ("visit", "converted_at", "spend") and encode them in several
ways. Guessing wrong is the worst failure an analysis can have: a 0/1 flag read as
"timestamp-or-null" makes every 0 a conversion. So the kind is decided from the values, every
conversion from one kind to another is explicit, and anything that does not fit is an error
naming the column and an offending value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

#: spellings read as a true / false flag (compared lower-cased, stripped)
TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n"})
#: outcome names worded as conversions in reports
CONVERSION_NAMES = frozenset({"converted", "converted_at", "conversion", "conversions"})


@dataclass(frozen=True)
class Outcome:
    """An outcome as the analysis sees it: its name in the export, and how it is compared.

    Binary outcomes (flags and timestamps) compare rates; numeric ones compare means. In the
    per-customer frame a binary outcome lives in `converted` (0/1), a numeric one in `value`.
    """

    name: str
    kind: Literal["binary", "numeric"]
    source: Literal["flag", "timestamp", "number"]

    @property
    def column(self) -> str:
        """The per-customer frame's column holding this outcome."""
        return "converted" if self.kind == "binary" else "value"

    @property
    def is_conversion(self) -> bool:
        """A conversion flag or time under any usual name: the report then says "converted"."""
        return self.binary and self.name.lower() in CONVERSION_NAMES

    @property
    def binary(self) -> bool:
        """True when arms are compared on rates."""
        return self.kind == "binary"


#: the outcome of the project's own contacts feed (`converted_at` not null)
CONVERSION = Outcome("converted", "binary", "timestamp")


@dataclass(frozen=True)
class OutcomeValues:
    """The outcome as floats per row (0/1 for binary), its kind, and what reading it found."""

    values: pd.Series
    outcome: Outcome
    warnings: list[str]


def _flag(text: pd.Series) -> pd.Series | None:
    """Strings -> 0/1 when every value is a recognised true/false word, else None."""
    words = text.str.strip().str.lower()
    if not words.isin(TRUE_WORDS | FALSE_WORDS).all():
        return None
    return words.isin(TRUE_WORDS).astype(np.float64)


def _example(column: pd.Series, mask: pd.Series) -> str:
    first = mask.to_numpy().nonzero()[0][0]
    return f"{column.iloc[first]!r} in row {first + 1:,}"


def _classify(name: str, present: pd.Series) -> tuple[pd.Series, Literal["flag", "timestamp", "number"]]:
    """Non-null values -> floats (flags, numbers) or UTC timestamps, with the kind they were read as."""
    if pd.api.types.is_bool_dtype(present):
        return present.astype(np.float64), "flag"
    if pd.api.types.is_datetime64_any_dtype(present):
        return pd.to_datetime(present, utc=True), "timestamp"
    if pd.api.types.is_numeric_dtype(present):
        numbers = present.astype(np.float64)
    else:
        text = present.astype(str)
        flags = _flag(text)
        if flags is not None:
            return flags, "flag"
        numbers = pd.to_numeric(text.str.strip(), errors="coerce")
        if numbers.isna().any():
            stamps = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
            if stamps.isna().any():
                bad = numbers.isna() & stamps.isna()
                raise ValueError(
                    f"outcome column {name!r} is neither a 0/1 flag, a number nor a timestamp: "
                    f"{_example(present, bad)}"
                )
            return stamps, "timestamp"
    infinite = ~np.isfinite(numbers)
    if infinite.any():
        raise ValueError(f"outcome column {name!r} has {int(infinite.sum()):,} infinite values, e.g. "
                         f"{_example(present, infinite)}")  # fmt: skip
    if numbers.isin([0.0, 1.0]).all():
        return numbers, "flag"
    return numbers, "number"


def read_outcome(column: pd.Series, decided_at: pd.Series | None = None) -> OutcomeValues:
    """Interpret one outcome column (rows = customers).

    Flags: 0/1, true/false, yes/no; a missing flag counts as 0, loudly. Timestamps: converted when
    not null and not before the customer's decision time (`decided_at`, when the export has one).
    Numbers (e.g. spend): compared on means; a missing value counts as 0, loudly.
    """
    name = str(column.name)
    missing = column.isna()
    present = column[~missing]
    if present.empty:
        raise ValueError(f"outcome column {name!r} is empty: no customer has a value")
    parsed, source = _classify(name, present)
    warnings: list[str] = []
    if source == "timestamp":
        hit = ~missing
        if decided_at is not None:
            stamps = pd.Series(pd.NaT, index=column.index, dtype=parsed.dtype)
            stamps[~missing] = parsed
            early = (stamps < pd.to_datetime(decided_at, utc=True)).to_numpy()
            if early.any():
                hit &= ~early
                warnings.append(
                    f"{int(early.sum()):,} {name} timestamps are before the customer's decision time: "
                    "not counted (the outcome cannot have been caused by the test)"
                )
        else:
            warnings.append(
                f"{name} is a timestamp but the export has no decision time (assigned_at): outcomes "
                "before the test could not be excluded"
            )
        return OutcomeValues(hit.astype(np.float64), Outcome(name, "binary", "timestamp"), warnings)
    values = parsed.reindex(column.index).astype(np.float64)
    if missing.any():
        warnings.append(
            f"{int(missing.sum()):,} of {len(column):,} customers have no {name} value: counted as 0"
        )
        values = values.fillna(0.0)
    kind: Literal["binary", "numeric"] = "binary" if source == "flag" else "numeric"
    return OutcomeValues(values, Outcome(name, kind, source), warnings)
