"""Held-out rows: which rows a model is never trained on, decided by a rule that any later retrain can apply again.

A challenger and the champion are compared only on rows that neither trained on. A holdout drawn afresh at every
retrain breaks that: the champion is then scored on rows it learnt. So each version records the rule that chose its
held-out rows, and a retrain compares the two models on the rows that both rules held out:
- `hash`: a row is held out when a hash of its content (or of its id column) falls below `fraction`. The same row is
  held out by every version with the same rule, however many rows arrive around it.
- `time`: the rows at or after `cutoff` in `column`, the newest `fraction` when the rule was made. Rows without a time
  are never held out: nobody can say whether they are new.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..config import names_list
from .row_hash import ROW_HASH_SCHEME, row_hashes
from .values import AmbiguousDatesError, read_as

HASH_SCHEME = ROW_HASH_SCHEME  # a rule made by another scheme holds out other rows: it no longer applies


class HoldoutError(ValueError):
    """No held-out rows can be formed from these rows with this config; the message says why."""


@dataclass(frozen=True)
class Holdout:
    method: str  # "hash" or "time"
    fraction: float
    columns: tuple[str, ...] = ()  # hash: the columns hashed, in this order; time: the time column
    cutoff: str | float | None = None  # time: the first held-out moment (ISO text) or number
    scheme: int = HASH_SCHEME

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows of `frame` this rule holds out; HoldoutError if `frame` lacks a column the rule reads."""
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise HoldoutError(f"the rows have no column(s) {missing}, which this holdout is decided by")
        if self.method == "hash":
            if self.scheme != HASH_SCHEME:
                raise HoldoutError(f"this holdout hashed rows another way (scheme {self.scheme})")
            return row_positions(frame, self.columns) < self.fraction
        [column] = self.columns
        times = frame[column]
        return (times >= cutoff_like(self.cutoff, times)).fillna(False).to_numpy(dtype=bool)

    def describe(self) -> str:
        if self.method == "hash":
            by = "its content" if len(self.columns) != 1 else f"its {self.columns[0]}"
            return f"{self.fraction:.0%} of rows, each held out or not by a hash of {by}"
        return f"the rows from {self.columns[0]} {self.cutoff} on (the newest {self.fraction:.0%})"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Holdout:
        raw = json.loads(text)
        return cls(**{**raw, "columns": tuple(raw["columns"])})


def hash_holdout(frame: pd.DataFrame, target: str, fraction: float, id_column: str | None = None) -> Holdout:
    """A rule holding out about `fraction` of rows by a hash of each row (without its target), or of `id_column`."""
    if id_column is not None and id_column not in frame.columns:
        raise HoldoutError(f"id_column {id_column!r} is not a column of the data {names_list(list(frame.columns))}")
    columns = (id_column,) if id_column else tuple(sorted(column for column in frame.columns if column != target))
    return Holdout("hash", fraction, columns)


def time_holdout(frame: pd.DataFrame, column: str, fraction: float) -> Holdout:
    """A rule holding out the newest `fraction` of the rows by `column` (at least one row, and never all of them)."""
    if column not in frame.columns:
        raise HoldoutError(
            f"time_column {column!r} is not a column of the data {names_list(list(frame.columns))}; set time_column in "
            "config/app_config.yml to one of them, or to null to hold rows out by a hash of their content"
        )
    times = frame[column]
    if not (pd.api.types.is_datetime64_any_dtype(times) or pd.api.types.is_numeric_dtype(times)):
        raise HoldoutError(f"time_column {column!r} must hold dates, timestamps or numbers, {not_times(times)}")
    ordered = np.sort(times.dropna().to_numpy())
    if len(ordered) == 0 or ordered[0] == ordered[-1]:
        raise HoldoutError(
            f"time_column {column!r} holds {'no value' if len(ordered) == 0 else 'the same value in every row'}, "
            "so no rows are newer than others; set time_column: null to hold rows out by a hash of their content"
        )
    cutoff = ordered[len(ordered) - max(1, math.ceil(len(ordered) * fraction))]
    after = np.searchsorted(ordered, cutoff, side="right")
    if (ordered >= cutoff).mean() > 0.5 and after < len(ordered):
        # Many rows share the cutoff's time: hold out only the times after it, not over half of the data.
        cutoff = ordered[after]
    as_text = pd.Timestamp(cutoff).isoformat() if pd.api.types.is_datetime64_any_dtype(times) else float(cutoff)
    return Holdout("time", fraction, (column,), as_text)


def not_times(values: pd.Series) -> str:
    """What is wrong with a time column of text: the first value no date format reads, or that it is stored as text."""
    try:
        _, unreadable = read_as(values.dropna(), "timestamp", "")
    except AmbiguousDatesError as error:
        return f"but it {str(error).removeprefix('the time column ')}"
    if unreadable.any():
        return f"but it holds {values.dropna()[unreadable].iloc[0]!r}, which no date format reads"
    return (
        "but the table stores them as text: set the table's schema for it to date (or timestamp) and load the rows "
        "again, or set time_format in config/app_config.yml before the table is created"
    )


def cutoff_like(cutoff: str | float, times: pd.Series):
    """The cutoff as a value comparable with `times`: a number, or a Timestamp in the column's time zone (none: UTC)."""
    if not pd.api.types.is_datetime64_any_dtype(times):
        return cutoff
    moment = pd.Timestamp(cutoff)
    if times.dt.tz is None:
        return moment.tz_convert("UTC").tz_localize(None) if moment.tzinfo else moment
    return moment.tz_convert(times.dt.tz) if moment.tzinfo else moment.tz_localize("UTC").tz_convert(times.dt.tz)


def row_positions(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Each row's place in [0, 1), from the hash of its values in `columns`: the same row gets the same place always."""
    return row_hashes(frame, columns).astype(np.float64) / 2.0**64
