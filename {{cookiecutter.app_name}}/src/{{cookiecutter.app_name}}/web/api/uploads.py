"""Turning request bodies into typed frames, and predictions into a CSV that is safe to open in a spreadsheet."""

from __future__ import annotations

import io
import math
import urllib.parse
from typing import Any

import pandas as pd
import pyarrow as pa
from pyarrow import csv

from ...datastore import SchemaMismatchError, UnreadableFileError, conform, parse_csv

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_START = r"^[=+\-@\t\r]"


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


def json_records(body: Any, mimetype: str) -> list[dict[str, Any]]:
    if body is None and mimetype != "application/json":
        raise BadRequest(
            f"the body is {mimetype or 'of no declared type'}: send JSON with Content-Type: "
            "application/json, or a CSV file as multipart/form-data"
        )
    if body is None:
        raise BadRequest('the body is not valid JSON; send {"records": [{"column": value, ...}, ...]}')
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        raise BadRequest('expected a JSON object with a non-empty list "records"')
    not_objects = [position for position, record in enumerate(records) if not isinstance(record, dict)]
    if not_objects:
        raise BadRequest(f"every record must be a JSON object of column: value; records {not_objects[:5]} are not")
    for position, record in enumerate(records):
        for column, value in record.items():
            if isinstance(value, (dict, list)):
                raise BadRequest(
                    f"record {position}: {column!r} holds a {type(value).__name__}; each value must be "
                    "a single value (text, a number, true/false or null)"
                )
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not finite(value):
                shown = str(value) if len(str(value)) < 40 else f"a {len(str(value))}-digit number"
                raise BadRequest(f"record {position}: {column!r} holds {shown}, which is not a finite number")
    return records


def finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer too large for a float
        return False


def model_input(
    frame: pd.DataFrame, input_schema: dict[str, str], time_formats: dict[str, str] | None = None
) -> pd.DataFrame:
    """The columns the model reads, typed; other columns are ignored here (and echoed back by the caller)."""
    try:
        return conform(
            frame.astype(object).where(frame.notna(), None), input_schema, ignore_extra=True, time_formats=time_formats
        )
    except SchemaMismatchError as error:
        raise BadRequest(str(error)) from error


def attachment(file_name: str) -> str:
    """A Content-Disposition for any file name: an ASCII fallback (no quotes, no line breaks: a header cannot hold
    them) and the name itself, percent-encoded (RFC 6266)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in file_name)
    if fallback == file_name:
        return f'attachment; filename="{file_name}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(file_name, safe='')}"


def neutralise(column: pd.Series) -> pd.Series:
    """Prefix text cells a spreadsheet would run as a formula with a quote; numbers such as -12.5 stay numbers."""
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return column
    text = column.astype("string")
    formula = text.str.contains(FORMULA_START, regex=True, na=False)
    if not formula.any():
        return column
    formula[formula] = pd.to_numeric(text[formula], errors="coerce").isna()
    return column.where(~formula, "'" + text)


def refuse_a_predictions_file(uploaded: pd.DataFrame, written: list[str]) -> None:
    """Before predicting: the columns the app would add (`written`) must not be in the file already."""
    found = [column for column in written if column in uploaded.columns]
    if found:
        raise BadRequest(
            f"the file holds columns this app writes ({found}): is it a predictions file? Send the rows without them"
        )


def predictions_csv(uploaded: pd.DataFrame, predictions: pd.DataFrame) -> bytes:
    table = pd.concat([uploaded.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
    table = table.apply(neutralise)
    # Arrow's writer: several times faster than pandas' on a large table of probabilities.
    buffer = io.BytesIO()
    csv.write_csv(pa.Table.from_pandas(table, preserve_index=False), buffer, csv.WriteOptions(quoting_style="needed"))
    return buffer.getvalue()
