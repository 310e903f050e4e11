"""Coerce raw feed columns to a contract's kinds, vectorised.

A coercer never turns a bad value into a silent null: it returns the typed values (null
where the source is empty or unreadable) plus a mask of values that were present but could
not be read, so validation can quarantine those rows with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

from optichannel.contracts import Column, Kind
from optichannel.localtime import is_valid_tz

BOOL_WORDS: Final[dict[str, bool]] = {
    "true": True,
    "t": True,
    "yes": True,
    "1": True,
    "false": False,
    "f": False,
    "no": False,
    "0": False,
}
PROBLEM: Final[dict[Kind, str]] = {
    "str": "not a string",
    "int": "not an integer",
    "float": "not a number",
    "bool": "not a boolean",
    "timestamp": "not a timestamp",
    "date": "not a date",
    "tz": "not an IANA time zone",
}
UTC_US: Final = pd.DatetimeTZDtype("us", "UTC")
NAIVE_US: Final = np.dtype("datetime64[us]")
# a clock time followed by `Z` or a UTC offset: `10:00+03:00`, `10:00:00.5Z`, `10:00 -0500`
_OFFSET_RE: Final = r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class Coerced:
    """Typed values of one column and the rows whose value could not be read."""

    values: pd.Series
    valid: np.ndarray  # bool per row: a typed value exists (computed once: isna is slow on text)
    bad: np.ndarray  # bool per row: present in the source but not coercible
    problem: str  # e.g. "not a number"


def coerce(raw: pd.Series, kind: Kind) -> Coerced:
    """Typed version of `raw` for `kind`; blank or whitespace-only text counts as null."""
    source = _blank_to_null(raw)
    values = _COERCERS[kind](source)
    present = source.notna().to_numpy()
    valid = present if values is source else values.notna().to_numpy()
    return Coerced(values=values, valid=valid, bad=present & ~valid, problem=PROBLEM[kind])


def _blank_to_null(raw: pd.Series) -> pd.Series:
    """Text stripped of surrounding whitespace, empty text as null; other values unchanged."""
    if not (ptypes.is_object_dtype(raw) or ptypes.is_string_dtype(raw)):
        return raw
    raw = raw.astype(object, copy=False)
    inferred = ptypes.infer_dtype(raw, skipna=True)
    if inferred == "string":
        if _is_trimmed(raw):  # the usual case: skip a slow per-value strip
            return raw
        stripped = raw.str.strip()
    elif inferred in ("mixed", "mixed-integer"):
        stripped = raw.str.strip()
        stripped = stripped.where(stripped.notna(), raw)  # non-str objects stay as they are
    else:
        return raw
    blank = stripped.eq("")
    return stripped.mask(blank) if blank.any() else stripped


def _is_trimmed(text: pd.Series) -> bool:
    """No value is empty or has surrounding whitespace (checked in Arrow, far faster than pandas)."""
    arr = pa.chunked_array([pa.array(text, from_pandas=True)])
    trimmed = pc.utf8_trim_whitespace(arr)
    changed = pc.any(pc.not_equal(trimmed, arr)).as_py()
    empty = pc.any(pc.equal(arr, "")).as_py()
    return not changed and not empty


def _has_text(s: pd.Series) -> bool:
    """Whether an object column holds some text (the `.str` accessor refuses dates, bools...)."""
    return ptypes.infer_dtype(s, skipna=True) in ("string", "empty", "mixed", "mixed-integer")


def _to_str(s: pd.Series) -> pd.Series:
    """Text as object dtype; integral floats (ids read as float because of nulls) lose the `.0`."""
    if ptypes.is_float_dtype(s):
        finite = s.dropna()
        if (finite == np.floor(finite)).all():
            s = s.astype("Int64")
    if ptypes.is_datetime64_any_dtype(s):
        return pd.Series(s.dt.strftime("%Y-%m-%dT%H:%M:%S%z"), index=s.index, dtype=object)
    s = s.astype(object)
    if ptypes.infer_dtype(s, skipna=True) in ("string", "empty"):
        return s
    return s.where(s.isna(), s.astype(str))


def _to_number(s: pd.Series) -> pd.Series:
    """float64, NaN where absent, unparseable or not finite (inf is not an amount)."""
    if ptypes.is_bool_dtype(s) or ptypes.is_datetime64_any_dtype(s):
        return pd.Series(np.nan, index=s.index)
    if ptypes.is_numeric_dtype(s):
        num = s.astype("float64")
    elif ptypes.infer_dtype(s, skipna=True) == "boolean":  # a bool column is not a number column
        return pd.Series(np.nan, index=s.index)
    else:
        num = pd.to_numeric(s, errors="coerce").astype("float64")
    return num.where(np.isfinite(num))


def _to_int(s: pd.Series) -> pd.Series:
    if ptypes.is_integer_dtype(s):
        return s.astype("Int64")
    num = _to_number(s)
    return num.where(num == np.floor(num)).astype("Int64")


def _to_float(s: pd.Series) -> pd.Series:
    return _to_number(s)


def _to_bool(s: pd.Series) -> pd.Series:
    if ptypes.is_bool_dtype(s):
        return s.astype("boolean")
    if ptypes.is_numeric_dtype(s):
        return s.map({1: True, 0: False}).astype("boolean")
    if ptypes.is_datetime64_any_dtype(s):
        return pd.Series(pd.NA, index=s.index, dtype="boolean")
    words = s.astype(str).str.lower()  # nulls become "nan"/"none", which map to null
    return words.map(BOOL_WORDS).astype("boolean")


def _to_timestamp(s: pd.Series) -> pd.Series:
    """UTC instants: naive values are UTC, offset-aware text is converted to UTC.

    Naive and offset-aware text are parsed apart: pandas applies the last seen offset to
    naive strings that follow an offset-aware one in the same call.
    """
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").astype(UTC_US)
    if ptypes.is_datetime64_dtype(s):
        return s.dt.tz_localize("UTC").astype(UTC_US)
    out = pd.Series(pd.NaT, index=s.index, dtype=UTC_US)
    if ptypes.is_numeric_dtype(s) or ptypes.is_bool_dtype(s):
        return out  # epoch numbers have no unit we could trust
    if not _has_text(s):  # datetime objects carry their own zone
        return pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601").astype(UTC_US)
    present = s.notna()
    aware = present & s.str.contains(_OFFSET_RE, regex=True, na=False)
    for part in (aware, present & ~aware):
        if part.any():
            parsed = pd.to_datetime(s[part], utc=True, errors="coerce", format="ISO8601")
            out[part] = parsed.astype(UTC_US)
    return out


def _to_date(s: pd.Series) -> pd.Series:
    """Calendar days as naive midnight; a time part is dropped, an offset first taken to UTC."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        naive = s.dt.tz_localize(None)
    elif ptypes.is_datetime64_dtype(s):
        naive = s
    else:
        naive = _to_timestamp(s).dt.tz_localize(None)
    return naive.dt.normalize().astype(NAIVE_US)


def _to_tz(s: pd.Series) -> pd.Series:
    """IANA zone names; anything else is a coercion failure (checked once per distinct value)."""
    text = _to_str(s)
    known = [z for z in pd.unique(text.dropna()) if is_valid_tz(z)]
    return text.where(text.isin(known), None)


_COERCERS: Final[dict[Kind, Callable[[pd.Series], pd.Series]]] = {
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "timestamp": _to_timestamp,
    "date": _to_date,
    "tz": _to_tz,
}


def finalize(values: pd.Series, column: Column) -> pd.Series:
    """Accepted values in the column's final dtype (numpy dtypes where nulls are impossible)."""
    if column.kind == "int":
        return values.astype("Int64" if column.nullable else "int64")
    if column.kind == "bool":
        return values.astype("boolean" if column.nullable else "bool")
    if column.kind == "float":
        return values.astype("float64")
    if column.kind == "timestamp":
        return values.astype(UTC_US)
    if column.kind == "date":
        return values.astype(NAIVE_US)
    text = values.astype(object)
    if not column.nullable:
        return text
    return text.where(text.notna(), None)  # one null marker, whatever the source used


def arrow_type(column: Column) -> pa.DataType:
    """Parquet type of a column, fixed by the contract (so an all-null column still has one)."""
    return {
        "str": pa.string(),
        "tz": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.timestamp("us"),
    }[column.kind]
