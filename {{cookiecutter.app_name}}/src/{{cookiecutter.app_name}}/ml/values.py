"""How a column's values are read as its logical type (string, integer, float, boolean, date, timestamp): one reading
for uploads, the data stores, and the callers of a packaged model, so that each sees the same values."""

from __future__ import annotations

import numpy as np
import pandas as pd

TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0"}
# A date column holds calendar dates; a midnight timestamp is read as its own date, whatever its offset.
DATE = r"(\d{4}-\d{2}-\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"


def read_as(column: pd.Series, logical_type: str) -> tuple[pd.Series, pd.Series]:
    """The column as `logical_type`, and a mask of the values that could not be read as it."""
    present = column.notna()
    if logical_type == "string":
        return column.astype("string"), pd.Series(False, index=column.index)
    if logical_type in ("integer", "float"):
        numbers = pd.to_numeric(column, errors="coerce")
        numbers = numbers.where(np.isfinite(numbers.astype(float)))  # inf, or too large for a float, is no number
        unreadable = present & numbers.isna()
        if logical_type == "integer":
            unusable = numbers.notna() & ((numbers != numbers.round()) | (numbers.abs() >= 2**63))
            unreadable |= unusable
            numbers = numbers.where(~unusable).astype("Int64")
        return numbers.astype("Float64") if logical_type == "float" else numbers, unreadable
    if logical_type == "boolean":
        words = column.astype("string").str.strip().str.lower()
        values = pd.Series(pd.NA, index=column.index, dtype="boolean")
        values[words.isin(TRUE_WORDS).fillna(False)] = True
        values[words.isin(FALSE_WORDS).fillna(False)] = False
        if pd.api.types.is_bool_dtype(column):
            values = column.astype("boolean")
        return values, present & values.isna()
    if logical_type == "date":
        days = column.astype("string").str.strip().str.extract(f"^{DATE}$", expand=False)
        moments = pd.to_datetime(days, errors="coerce", format="%Y-%m-%d")
        return moments, present & moments.isna()
    if logical_type == "timestamp":
        # Offsets may differ from row to row (summer time): every moment is kept in UTC; one without an offset is UTC.
        moments = pd.to_datetime(column, errors="coerce", format="ISO8601", utc=True).dt.tz_localize(None)
        return moments, present & moments.isna()
    raise ValueError(f"unknown column type {logical_type!r}")
