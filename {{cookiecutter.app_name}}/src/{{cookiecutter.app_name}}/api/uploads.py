"""Turning request bodies into typed frames, and predictions into a CSV that is safe to open in a spreadsheet."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from ..datastore import SchemaMismatchError, UnreadableFileError, conform, parse_csv

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class BadRequest(ValueError):
    """The request cannot be used as it is; the message says what was expected."""


def uploaded_csv(files, field: str = "file") -> tuple[pd.DataFrame, str]:
    upload = files.get(field)
    if upload is None or not upload.filename:
        raise BadRequest(f"attach a CSV file in the form field {field!r}")
    try:
        return parse_csv(upload.read(), upload.filename), upload.filename
    except UnreadableFileError as error:
        raise BadRequest(str(error)) from error


def json_records(body: Any) -> pd.DataFrame:
    if body is None:
        raise BadRequest('the body is not valid JSON; send {"records": [{"column": value, ...}, ...]}')
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        raise BadRequest('expected a JSON object with a non-empty list "records"')
    not_objects = [position for position, record in enumerate(records) if not isinstance(record, dict)]
    if not_objects:
        raise BadRequest(f"every record must be a JSON object of column: value; records {not_objects[:5]} are not")
    return pd.DataFrame.from_records(records)


def model_input(frame: pd.DataFrame, input_schema: dict[str, str]) -> pd.DataFrame:
    """The columns the model reads, typed; other columns are ignored here (and echoed back by the caller)."""
    try:
        return conform(frame.astype(object).where(frame.notna(), None), input_schema, ignore_extra=True)
    except SchemaMismatchError as error:
        raise BadRequest(str(error)) from error


def neutralise(value: object) -> object:
    """Prefix a text cell a spreadsheet would run as a formula with a quote; numbers such as -12.5 stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def predictions_csv(uploaded: pd.DataFrame, predictions: pd.DataFrame) -> bytes:
    table = pd.concat([uploaded.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
    table = table.map(neutralise)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")
