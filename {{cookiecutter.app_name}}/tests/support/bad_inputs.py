"""Every kind of bad input the web app refuses: what is sent, to which endpoint, the status and the words of the
answer. The API tests send each through Flask, the integration tests through uWSGI, and the table of bad input in
docs/reliability.md is checked against this list.

Each kind is built from the app's own data (a few rows of data/dataset_2.csv), so it applies to any table; a kind
that needs a column type the table lacks (say, an integer feature) does not apply to it and is skipped.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from {{ cookiecutter.app_name }}.config import AppConfig, load_settings

from .data import APP_ROOT, data_rows, table_schema

PREDICT, TRAIN = "/predict", "/train"
BOTH = (PREDICT, TRAIN)


@dataclass(frozen=True)
class Sample:
    """Good rows to spoil: text as a user's CSV holds it, with the target column."""

    rows: pd.DataFrame
    target: str
    schema: dict[str, str]
    problem_type: str
    max_upload_mb: float

    def feature(self, *kinds: str) -> str | None:
        return next((c for c, kind in self.schema.items() if kind in kinds and c != self.target), None)

    def csv(self, rows: pd.DataFrame | None = None) -> bytes:
        return (self.rows if rows is None else rows).to_csv(index=False).encode()

    def with_value(self, column: str | None, value: str) -> bytes | None:
        if column is None:
            return None
        rows = self.rows.copy()
        rows.loc[1, column] = value
        return self.csv(rows)

    def records(self) -> list[dict]:
        features = self.rows.drop(columns=[self.target]).head(2)
        return features.astype(object).where(features.notna(), None).to_dict(orient="records")


@dataclass(frozen=True)
class Upload:
    """A multipart upload: the file's bytes under a form field."""

    content: bytes
    name: str = "rows.csv"
    field: str | None = "file"  # None: a form with no file at all


@dataclass(frozen=True)
class Body:
    """A raw request body and its content type (JSON, or whatever a client sends)."""

    text: str
    content_type: str = "application/json"


@dataclass(frozen=True)
class BadInput:
    kind: str
    endpoints: tuple[str, ...]
    status: int
    message: str  # words the answer's error holds
    request: Callable[[Sample], Upload | Body | None]  # None: the app's data has no column this kind needs


def upload(content: bytes | None, name: str = "rows.csv") -> Upload | None:
    return None if content is None else Upload(content, name)


def records_with(sample: Sample, column: str | None, value) -> Body | None:
    if column is None:
        return None
    records = sample.records()
    records[0][column] = value
    return Body(json.dumps({"records": records}))


def separated_by(sample: Sample, separator: str) -> bytes:
    return sample.rows.to_csv(index=False, sep=separator).encode()


def duplicated_header(sample: Sample) -> bytes:
    column = next(c for c in sample.rows.columns if c != sample.target)
    rows = sample.rows.copy()
    rows.insert(len(rows.columns), f"{column}_again", rows[column])
    return sample.csv(rows).replace(f"{column}_again".encode(), column.encode(), 1)


def predictions_file(sample: Sample) -> bytes:
    rows = sample.rows.drop(columns=[sample.target]).assign(
        **{f"predicted_{sample.target}": sample.rows[sample.target]}
    )
    return sample.csv(rows)


def ragged(sample: Sample, line: int = 2) -> bytes:
    lines = sample.csv().decode().splitlines()
    lines[line] += ",one too many"
    return "\n".join(lines).encode() + b"\n"


def wide(columns: int) -> bytes:
    """A header and one row of `columns` columns, none of them the app's."""
    return (",".join(f"c{i}" for i in range(columns)) + "\n" + ",".join("1" * columns) + "\n").encode()


def target_of(sample: Sample, value: str) -> bytes:
    return sample.with_value(sample.target, value)


def numeric_target(sample: Sample, value: str) -> bytes | None:
    return target_of(sample, value) if sample.problem_type == "regression" else None


NOT_UTF8 = "not UTF-8 text"
NUMBER_KINDS = ("integer", "float")

BAD_INPUTS = [
    # The file itself
    BadInput("no file in the form", BOTH, 400, "attach a CSV file", lambda s: Upload(b"", field=None)),
    BadInput(
        "the file under another form field",
        BOTH,
        400,
        "in the form field 'file'",
        lambda s: Upload(s.csv(), field="upload"),
    ),
    BadInput(
        "JSON instead of a CSV file",
        (TRAIN,),
        400,
        "attach a CSV file",
        lambda s: Body(json.dumps({"records": s.records()})),
    ),
    BadInput("an empty file", BOTH, 400, "is empty", lambda s: upload(b"")),
    BadInput("a file of blank lines", BOTH, 400, "is empty", lambda s: upload(b"\n \n\r\n")),
    BadInput("a binary file (an image)", BOTH, 400, NOT_UTF8, lambda s: upload(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")),
    BadInput("an Excel workbook", BOTH, 400, NOT_UTF8, lambda s: upload(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\xff\xfe")),
    BadInput("a gzip-compressed CSV", BOTH, 400, NOT_UTF8, lambda s: upload(gzip.compress(s.csv()))),
    BadInput("Latin-1 text", BOTH, 400, NOT_UTF8, lambda s: upload("shop,note\ncaf\u00e9,Nero\n".encode("latin-1"))),
    BadInput(
        "UTF-16 text (Excel's Unicode text)", BOTH, 400, NOT_UTF8, lambda s: upload(s.csv().decode().encode("utf-16"))
    ),
    BadInput("text with NUL bytes", BOTH, 400, "binary data", lambda s: upload(s.csv().replace(b"\n", b"\x00\n", 2))),
    BadInput(
        "a header and no rows", BOTH, 400, "header but no data rows", lambda s: upload(s.csv().splitlines()[0] + b"\n")
    ),
    BadInput("an unclosed quote", BOTH, 400, "not a readable CSV", lambda s: upload(b'a,"b\n1,2\n')),
    BadInput("a row with more fields than the header", BOTH, 400, "not a readable CSV", lambda s: upload(ragged(s))),
    BadInput(
        "the first row with one field more than the header",
        BOTH,
        400,
        "line 2 has",
        lambda s: upload(ragged(s, line=1)),
    ),
    BadInput(
        "a JSON document as the file",
        BOTH,
        400,
        "is a JSON document, not CSV",
        lambda s: upload(json.dumps({"records": s.records()}).encode(), "rows.json"),
    ),
    BadInput("a file of 20,000 columns", BOTH, 400, "(19,980 more)", lambda s: upload(wide(20_000))),
    BadInput("separated by semicolons", BOTH, 400, "separated by ';'", lambda s: upload(separated_by(s, ";"))),
    BadInput("separated by tabs", BOTH, 400, "separated by tabs", lambda s: upload(separated_by(s, "\t"))),
    BadInput(
        "larger than max_upload_mb",
        BOTH,
        413,
        "max_upload_mb",
        lambda s: upload(b"x" * int((s.max_upload_mb + 2) * 1024 * 1024)),  # uWSGI once dropped these unanswered
    ),
    # Its columns
    BadInput(
        "a column missing",
        (TRAIN,),
        400,
        "missing column(s)",
        lambda s: upload(s.csv(s.rows.drop(columns=[next(c for c in s.rows.columns if c != s.target)]))),
    ),
    BadInput("none of the columns", (PREDICT,), 400, "missing column(s)", lambda s: upload(b"Colour\nred\n")),
    BadInput(
        "a column named twice in the header",
        BOTH,
        400,
        "more than once in the header",
        lambda s: upload(duplicated_header(s)),
    ),
    BadInput(
        "a file of predictions sent back",
        (PREDICT,),
        400,
        "columns this app writes",
        lambda s: upload(predictions_file(s)),
    ),
    BadInput(
        "no target column",
        (TRAIN,),
        400,
        "a training file must hold the correct",
        lambda s: upload(s.csv(s.rows.drop(columns=[s.target]))),
    ),
    # Its values
    BadInput(
        "text in a number column",
        BOTH,
        400,
        "expects",
        lambda s: upload(s.with_value(s.feature(*NUMBER_KINDS), "a lot")),
    ),
    BadInput(
        "a thousands separator in a number",
        BOTH,
        400,
        "expects",
        lambda s: upload(s.with_value(s.feature(*NUMBER_KINDS), "1,234.50")),
    ),
    BadInput(
        "infinity in a number column",
        BOTH,
        400,
        "expects",
        lambda s: upload(s.with_value(s.feature(*NUMBER_KINDS), "inf")),
    ),
    BadInput(
        "a number too large for a float",
        BOTH,
        400,
        "expects",
        lambda s: upload(s.with_value(s.feature(*NUMBER_KINDS), "1e400")),
    ),
    BadInput(
        "a fraction in an integer column",
        BOTH,
        400,
        "expects integer",
        lambda s: upload(s.with_value(s.feature("integer"), "2.5")),
    ),
    BadInput(
        "an integer too large for 64 bits",
        BOTH,
        400,
        "expects integer",
        lambda s: upload(s.with_value(s.feature("integer"), "9" * 25)),
    ),
    BadInput(
        "a word in a true/false column",
        BOTH,
        400,
        "expects boolean",
        lambda s: upload(s.with_value(s.feature("boolean"), "maybe")),
    ),
    BadInput(
        "an impossible date", BOTH, 400, "expects date", lambda s: upload(s.with_value(s.feature("date"), "2024-13-45"))
    ),
    BadInput(
        "a time in a date column",
        BOTH,
        400,
        "expects date",
        lambda s: upload(s.with_value(s.feature("date"), "2024-01-02 10:30")),
    ),
    BadInput(
        "an impossible timestamp",
        BOTH,
        400,
        "expects timestamp",
        lambda s: upload(s.with_value(s.feature("timestamp"), "2024-01-02 25:61")),
    ),
    BadInput("an empty target", (TRAIN,), 400, "must have a value in every row", lambda s: upload(target_of(s, ""))),
    BadInput("a blank target", (TRAIN,), 400, "must have a value in every row", lambda s: upload(target_of(s, "   "))),
    BadInput(
        '"NaN" as the target', (TRAIN,), 400, "must have a value in every row", lambda s: upload(target_of(s, "NaN"))
    ),
    BadInput(
        '"null" as the target', (TRAIN,), 400, "must have a value in every row", lambda s: upload(target_of(s, "null"))
    ),
    BadInput("infinity as a number target", (TRAIN,), 400, "expects", lambda s: upload(numeric_target(s, "inf"))),
    BadInput("text as a number target", (TRAIN,), 400, "expects", lambda s: upload(numeric_target(s, "unknown"))),
    # JSON records
    BadInput("a body that is not JSON", (PREDICT,), 400, "not valid JSON", lambda s: Body("{not json")),
    BadInput(
        "JSON sent as plain text",
        (PREDICT,),
        400,
        "Content-Type: application/json",
        lambda s: Body(json.dumps({"records": s.records()}), content_type="text/plain"),
    ),
    BadInput("a list instead of an object", (PREDICT,), 400, '"records"', lambda s: Body(json.dumps(s.records()))),
    BadInput('no "records"', (PREDICT,), 400, '"records"', lambda s: Body('{"rows": []}')),
    BadInput("no records", (PREDICT,), 400, '"records"', lambda s: Body('{"records": []}')),
    BadInput(
        "records that are not objects",
        (PREDICT,),
        400,
        "must be a JSON object",
        lambda s: Body('{"records": [1, "two"]}'),
    ),
    BadInput(
        "a record without a column",
        (PREDICT,),
        400,
        "missing column(s)",
        lambda s: Body('{"records": [{"Colour": "red"}]}'),
    ),
    BadInput(
        "text for a number", (PREDICT,), 400, "expects", lambda s: records_with(s, s.feature(*NUMBER_KINDS), "a lot")
    ),
    BadInput(
        "a 400-digit number",
        (PREDICT,),
        400,
        "not a finite number",
        lambda s: records_with(s, s.feature(*NUMBER_KINDS), int("9" * 400)),
    ),
    BadInput(
        "Infinity for a number",
        (PREDICT,),
        400,
        "not a finite number",
        lambda s: records_with(s, s.feature(*NUMBER_KINDS), float("inf")),
    ),
    BadInput(
        "a list as a value", (PREDICT,), 400, "a single value", lambda s: records_with(s, s.feature("string"), [1, 2])
    ),
    BadInput(
        "an object as a value",
        (PREDICT,),
        400,
        "a single value",
        lambda s: records_with(s, next(iter(s.schema.keys() - {s.target})), {"a": 1}),
    ),
]


def flask_arguments(request: Upload | Body) -> dict:
    """Keyword arguments for a Flask test client's post."""
    if isinstance(request, Body):
        return {"data": request.text.encode(), "content_type": request.content_type}
    if request.field is None:
        return {"data": {"note": "no file"}, "content_type": "multipart/form-data"}
    return {"data": {request.field: (io.BytesIO(request.content), request.name)}}


def requests_arguments(request: Upload | Body, api_key: str) -> dict:
    """Keyword arguments for requests' post."""
    headers = {"X-API-Key": api_key}
    if isinstance(request, Body):
        return {"data": request.text.encode(), "headers": {**headers, "Content-Type": request.content_type}}
    if request.field is None:
        return {"files": {"note": (None, "no file")}, "headers": headers}
    return {"files": {request.field: (request.name, request.content, "text/csv")}, "headers": headers}


def bad_input_row(bad: BadInput) -> str:
    """The row of docs/reliability.md's table for `bad`."""
    return f"| {bad.kind} | {', '.join(f'`{e}`' for e in bad.endpoints)} | {bad.status} | `{bad.message}` |"


def sample_for(app: AppConfig, max_upload_mb: float | None = None) -> Sample:
    limit = app.max_upload_mb if max_upload_mb is None else max_upload_mb
    return Sample(data_rows("dataset_2.csv", 5), app.target, table_schema(), app.problem_type, limit)


def sends_that_apply() -> list[tuple[BadInput, str]]:
    """Each kind with each of its endpoints, leaving out the kinds that need a column type the app's table lacks."""
    small = sample_for(load_settings(root=APP_ROOT).app, max_upload_mb=0)  # nothing large is built to find out
    return [(bad, endpoint) for bad in BAD_INPUTS if bad.request(small) is not None for endpoint in bad.endpoints]
