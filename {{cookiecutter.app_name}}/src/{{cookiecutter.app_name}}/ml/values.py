"""How a column's values are read as its logical type (string, integer, float, boolean, date, timestamp): one reading
for uploads, the data stores, and the callers of a packaged model, so that each sees the same values.

Dates and timestamps are ISO 8601. The time column may also be written as people write dates (`Jan-2018`,
`31/01/2018`, ...): in its `time_format` (a strftime format) when app config sets one, else in the one format of
TIME_FORMATS that reads every value. The hook that bakes an app reads time columns by the same list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import FALSE_WORDS, TRUE_WORDS

# A date column holds calendar dates; a midnight timestamp is read as its own date, whatever its offset.
DATE = r"(\d{4}-\d{2}-\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
# Dates as people write them, besides ISO 8601. Two of them may read one value two ways ("01/02/2023": 2 January or
# 1 February); a time column whose values do not settle which is meant needs time_format.
TIME_FORMATS = (
    "%b-%Y", "%b %Y", "%B %Y", "%B-%Y", "%Y-%m", "%Y/%m", "%m/%Y", "%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d-%m-%Y", "%m-%d-%Y", "%d %b %Y", "%d %B %Y", "%b %d, %Y",
    "%B %d, %Y", "%d-%b-%Y", "%d-%b-%y",
)  # fmt: skip
TIME_PARTS = ("%H", "%M", "%S")  # a format with any of these reads timestamps; without, dates


class AmbiguousDatesError(ValueError):
    """Time values that two formats read as different moments; the message names one, and `formats` the two."""

    def __init__(self, message: str, formats: tuple[str, str]):
        super().__init__(message)
        self.formats = formats


def time_type(time_format: str) -> str:
    """The logical type a format reads: timestamp when it holds a time of day, else date."""
    return "timestamp" if any(part in time_format for part in TIME_PARTS) else "date"


def time_format_reading(values: pd.Series, column: str = "the time column") -> str:
    """The format of TIME_FORMATS that reads every one of `values` (text, none missing); when none does, the one
    reading the most of them. AmbiguousDatesError when several read them all, as different moments."""
    distinct = pd.Series(values.astype("string").str.strip().unique())
    readings = {form: pd.to_datetime(distinct, format=form, errors="coerce") for form in TIME_FORMATS}
    complete = [form for form, moments in readings.items() if moments.notna().all()]
    if not complete:
        return max(TIME_FORMATS, key=lambda form: int(readings[form].notna().sum()))
    first = complete[0]
    for other in complete[1:]:
        differ = readings[first] != readings[other]
        if differ.any():
            example = distinct[differ.to_numpy()].iloc[0]
            raise AmbiguousDatesError(
                f"{column} holds dates such as {example!r} that read two ways ({first}: "
                f"{readings[first][differ.to_numpy()].iloc[0]:%Y-%m-%d}, {other}: "
                f"{readings[other][differ.to_numpy()].iloc[0]:%Y-%m-%d}); set time_format in config/app_config.yml "
                f"to the one they are written in, e.g. time_format: '{first}'",
                (first, other),
            )
    return first


def read_as(column: pd.Series, logical_type: str, time_format: str | None = None) -> tuple[pd.Series, pd.Series]:
    """The column as `logical_type`, and a mask of the values that could not be read as it.

    `time_format` is for the time column only: dates or timestamps that are not ISO 8601 are read in it, or, when it
    is empty, in the one format that reads them all (AmbiguousDatesError when that is not settled).
    """
    if logical_type in ("date", "timestamp") and time_format is not None:
        moments, unreadable = read_as(column, logical_type)
        if unreadable.any():
            written = column[unreadable].astype("string").str.strip()
            form = time_format or time_format_reading(written)
            moments[unreadable] = pd.to_datetime(written, format=form, errors="coerce")
            if logical_type == "date":
                moments = moments.dt.normalize()
            unreadable &= moments.isna()
        return moments, unreadable
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
