"""Journals: tables of timestamped records kept beside an environment's table, on every backend.

An environment has two: `predictions` (what the served model was asked and answered, for drift reports) and
`monitoring` (each monitor report, and the champion's score on each upload of labelled rows). Each record is a JSON
object, so a journal's table never changes shape when the model's input columns do.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

JOURNALS = ("predictions", "monitoring")
EPOCH = datetime(1970, 1, 1)


def journal_table(table: str, kind: str) -> str:
    """The name of an environment table's journal of `kind`."""
    if kind not in JOURNALS:
        raise ValueError(f"no journal {kind!r}; the journals are {list(JOURNALS)}")
    return f"{table}_{kind}"


def naive_utc(moment: datetime | None) -> datetime:
    """A moment as the journals store it: UTC without a zone (both backends' TIMESTAMP); None is the beginning."""
    if moment is None:
        return EPOCH
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def journal_frame(records: pd.DataFrame | None) -> pd.DataFrame:
    """Records in the journals' shape: `logged_at` (UTC, no zone), `model_version` (nullable) and `record` (JSON
    text)."""
    if records is None or records.empty:
        return pd.DataFrame(
            {
                "logged_at": pd.Series(dtype="datetime64[us]"),
                "model_version": pd.Series(dtype="Int64"),
                "record": pd.Series(dtype="string"),
            }
        )
    # ISO 8601 of any precision: Python writes a moment on a whole second without its fraction.
    logged_at = pd.to_datetime(records["logged_at"], utc=True, format="ISO8601")
    logged_at = logged_at.dt.tz_localize(None).astype("datetime64[us]")
    return pd.DataFrame(
        {
            "logged_at": logged_at.to_numpy(),
            "model_version": pd.array(records["model_version"], dtype="Int64"),
            "record": pd.array(records["record"], dtype="string"),
        }
    )


def entry(record: dict[str, Any], model_version: int | None, at: datetime | None = None) -> dict[str, Any]:
    """One row of a journal."""
    logged_at = at or datetime.now(UTC)
    return {"logged_at": logged_at, "model_version": model_version, "record": json.dumps(record, default=str)}
