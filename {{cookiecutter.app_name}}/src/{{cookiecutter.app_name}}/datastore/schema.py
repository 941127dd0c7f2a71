"""Column types shared by every backend, and the checks an upload must pass before anything is written.

Types are logical (string, integer, float, boolean, date, timestamp) so that DuckDB and BigQuery
tables described by the same schema accept exactly the same frames.
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import FALSE_WORDS, LOGICAL_TYPES, TRUE_WORDS, FixFirstError, names_list
from ..ml.values import AmbiguousDatesError, read_as, time_format_reading, time_type

Schema = Mapping[str, str]  # column -> logical type, in table order

# What pandas reads as a missing value by default: R, Excel and databases write these (a blank cell is one too).
MISSING_VALUES = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
INTEGER = r"[-+]?\d+"
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
SHOWN_EXAMPLES = 3
SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}  # what spreadsheets write when they do not write commas


class DataStoreError(FixFirstError):
    """Something about the data store that a person can act on; nothing was changed."""


def refuse_unmarked(table: str, columns: Sequence[str], marked_by: Sequence[str]) -> None:
    """DataStoreError unless the table is new (no `columns`) or has every column of `marked_by`."""
    missing = [column for column in marked_by if column not in columns]
    if columns and missing:
        raise DataStoreError(
            f"{table} exists and was not written by this command (it has no {', '.join(missing)} column); "
            "name a new table, or one this command wrote"
        )


class TableMissingError(DataStoreError):
    """The environment's table does not exist yet."""


class SchemaMismatchError(DataStoreError):
    """A frame does not fit the table: wrong columns, unreadable values or missing required values."""


class AlreadyAppendedError(DataStoreError):
    """These very rows were added before: adding them again would count them twice (an upload sent twice, or a retry
    of one whose answer was lost)."""


class UnreadableFileError(DataStoreError):
    """A file that is not UTF-8 CSV with a header and at least one row."""


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV file as text columns: types are decided by the table's schema, never guessed twice."""
    path = Path(path)
    if not path.is_file():
        raise DataStoreError(f"{path} does not exist")
    return parse_csv(path.read_bytes(), path.name)


def parse_csv(content: bytes, name: str = "the file") -> pd.DataFrame:
    """CSV bytes (an upload, a file) as text columns, or an UnreadableFileError saying what is wrong with them."""
    if not content.strip():
        raise UnreadableFileError(f"{name} is empty; expected a CSV file with a header row and data rows")
    # Read from the bytes themselves: a decoded copy (and pandas' buffer of it) would take several times the upload
    try:
        content.decode("utf-8-sig")  # checked whole; the text is dropped at once
    except UnicodeDecodeError as error:
        raise UnreadableFileError(
            f"{name} is not UTF-8 text (byte {error.start} cannot be read); save it as CSV UTF-8 and try again"
        ) from error
    if b"\x00" in content:
        raise UnreadableFileError(f"{name} holds binary data, not CSV text")
    if re.match(rb"(\xef\xbb\xbf)?\s*[{[]", content) and is_json(content):
        raise UnreadableFileError(
            f"{name} is a JSON document, not CSV; expected a CSV file with a header row and data rows"
        )
    header = next(csv.reader(io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")), [])
    if len(header) == 1 and (separator := next((s for s in SEPARATORS if s in header[0]), None)):
        raise UnreadableFileError(
            f"{name} is separated by {SEPARATORS[separator]}, not commas; save it as CSV (comma delimited)"
        )
    named_twice = sorted(column for column, times in Counter(header).items() if times > 1)
    if named_twice:  # pandas would rename the second one and a column would silently go unused
        raise UnreadableFileError(f"{name} names column(s) {names_list(named_twice)} more than once in the header")
    try:
        with warnings.catch_warnings():
            # A row with more fields than the header: pandas would make the first column the index (and report the
            # shifted values as wrong types), or with index_col=False drop the extra values with only a warning.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(content), encoding="utf-8-sig", dtype=str, keep_default_na=False, index_col=False
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning) as error:
        problem = first_long_row(content, len(header)) or str(error).strip()
        raise UnreadableFileError(f"{name} is not a readable CSV file: {problem}") from error
    except pd.errors.EmptyDataError as error:
        raise UnreadableFileError(f"{name} is not a readable CSV file: {error}") from error
    if frame.empty:
        raise UnreadableFileError(f"{name} has a header but no data rows")
    return frame.mask(frame.apply(lambda column: column.str.strip().isin(MISSING_VALUES)))


def is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:  # a CSV whose first column's name starts with a bracket
        return False
    return True


def first_long_row(content: bytes, width: int) -> str:
    """Where the first row with more fields than the header's `width` is, or "" if none is."""
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline=""))
    for fields in reader:
        if len(fields) > width:
            return (
                f"line {reader.line_num} has {len(fields)} fields where the header has {width}; each row needs one "
                "value per column"
            )
    return ""


def infer_schema(frame: pd.DataFrame, time_formats: Mapping[str, str] | None = None) -> dict[str, str]:
    """The narrowest logical type that reads every value of each column; the time column (`time_formats`: its name
    and format) is a date or timestamp also when it is written another way than ISO 8601."""
    schema = {str(column): _infer_type(frame[column]) for column in frame.columns}
    for column, time_format in (time_formats or {}).items():
        if schema.get(column) == "string" and frame[column].notna().any():
            schema[column] = _time_type(frame[column].dropna(), time_format) or "string"
    return schema


def _time_type(values: pd.Series, time_format: str) -> str | None:
    """date or timestamp, if every value is ISO 8601 or written in `time_format` (when empty: in the one common way
    of writing dates that reads them all); None if some value is neither."""
    _, written = read_as(values, "timestamp")
    try:
        form = time_format or (time_format_reading(values[written]) if written.any() else "")
        _, unreadable = read_as(values, "timestamp", form)
    except AmbiguousDatesError as error:  # dates, whichever way they are read: time_format will settle it
        form, unreadable = error.formats[0], pd.Series(False, index=values.index)
    if unreadable.any():
        return None
    iso_type = _infer_type(values[~written]) if (~written).any() else "date"
    return "timestamp" if "timestamp" in (iso_type, time_type(form or "%Y-%m-%d")) else "date"


def _infer_type(column: pd.Series) -> str:
    values = column.dropna()
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_integer_dtype(column):
        return "integer"
    if pd.api.types.is_float_dtype(column):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "timestamp"
    if values.empty:
        return "string"
    text = values.astype(str).str.strip()
    if text.str.fullmatch(NUMBER).all():
        return "integer" if text.str.fullmatch(INTEGER).all() else "float"
    if text.str.lower().isin(TRUE_WORDS | FALSE_WORDS).all() and text.str.lower().isin({"true", "false"}).any():
        return "boolean"
    if text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all() and pd.to_datetime(text, errors="coerce").notna().all():
        return "date"
    if (
        text.str.match(r"\d{4}-\d{2}-\d{2}[ T]\d").all()
        and pd.to_datetime(text, errors="coerce", format="ISO8601").notna().all()
    ):
        return "timestamp"
    return "string"


def conform(
    frame: pd.DataFrame,
    schema: Schema,
    required: Iterable[str] = (),
    ignore_extra: bool = False,
    time_formats: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The frame with the schema's columns, order and types; SchemaMismatchError naming every problem if it can't be.

    `required` columns must hold a value in every row (the target: a row without one teaches nothing).
    Columns the schema does not have are an error, or dropped with `ignore_extra`. `time_formats`: the time column
    and the format its dates may be written in (ml/values.py).
    """
    expected, got = list(schema), [str(column) for column in frame.columns]
    problems = []
    missing = [column for column in expected if column not in got]
    unexpected = [] if ignore_extra else [column for column in got if column not in schema]
    duplicated = sorted(column for column, times in Counter(got).items() if times > 1)
    if missing:
        problems.append(f"missing column(s) {names_list(missing)}")
    if unexpected:
        problems.append(f"unexpected column(s) {names_list(unexpected)}")
    if duplicated:
        problems.append(f"duplicated column(s) {names_list(duplicated)}")
    if problems:
        raise SchemaMismatchError(
            f"{'; '.join(problems)}. Expected columns {names_list(expected)}, got {names_list(got)}."
        )
    if frame.empty:
        raise SchemaMismatchError("the data has no rows")

    frame = frame.set_axis(got, axis=1)
    converted = {}
    for column, logical_type in schema.items():
        try:
            values, unreadable = _convert(frame[column], logical_type, (time_formats or {}).get(column))
        except AmbiguousDatesError as error:
            problems.append(f"column {column!r}: {error}")
            continue
        if unreadable.any():
            examples = frame[column][unreadable].astype(str).unique()[:SHOWN_EXAMPLES].tolist()
            rows = first_rows(unreadable)
            problems.append(
                f"column {column!r} expects {logical_type} but {int(unreadable.sum())} value(s) are not, "
                f"e.g. {examples} (rows {rows})"
            )
        converted[column] = values
    for column in required:
        empty = converted[column].isna()
        if empty.any():
            rows = first_rows(empty)
            problems.append(
                f"column {column!r} must have a value in every row; {int(empty.sum())} are empty (rows {rows})"
            )
    if problems:
        raise SchemaMismatchError("; ".join(problems) + ".")
    return pd.DataFrame(converted).reset_index(drop=True)


def first_rows(mask: pd.Series) -> list[int]:
    """Data row numbers (1 = the first row after the header) where `mask` holds, the first few."""
    return (np.flatnonzero(mask.to_numpy()) + 1)[:SHOWN_EXAMPLES].tolist()


def _convert(column: pd.Series, logical_type: str, time_format: str | None) -> tuple[pd.Series, pd.Series]:
    if logical_type not in LOGICAL_TYPES:
        raise DataStoreError(f"unknown column type {logical_type!r}; expected one of {LOGICAL_TYPES}")
    return read_as(column, logical_type, time_format)
