"""The app's data at bake time: check a CSV of labelled rows against the answers, read its columns' types, split it.

Both hooks import this module (from the template folder, `_repo_dir`). It uses the standard library only: the hooks
run in whatever Python runs cookiecutter. Types follow the app's own rules (`datastore/schema.py` in the app:
`infer_schema`), and the template tests check that both read the same files the same way.
"""

from __future__ import annotations

import ast
import csv
import functools
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

# What pandas reads as a missing value by default, and so what the app does: R, Excel and databases write these.
MISSING = {
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
    "NULL", "NaN", "None", "n/a", "nan", "null",
}  # fmt: skip
INTEGER = re.compile(r"[-+]?\d+")
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d")
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a column name YAML reads as itself without quotes
YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}
TIME_TYPES = ("date", "timestamp", "integer", "float")  # what a time column may hold: it is sorted by it
# The app's own ways of writing dates besides ISO 8601 (ml/values.py) and yes and no (config/variables.py), read from
# its source without importing it (it needs pandas).
APP_PACKAGE = "{{cookiecutter.app_name}}"  # the app's folder and package, named as they are before the bake
APP_SOURCE = Path(__file__).resolve().parents[1] / APP_PACKAGE / "src" / APP_PACKAGE
TIME_PARTS = ("%H", "%M", "%S")  # a format with any of these reads timestamps; without, dates

DEMO_FILES = ("dataset_1.csv", "dataset_2.csv")  # the demo data, in the app template's data/ folder
MIN_LABELLED_ROWS = 50  # the first load (FIRST_LOAD_SHARE of them) must be enough to train and test a model
FIRST_LOAD_SHARE = 0.6  # dataset_1.csv: the first load; dataset_2.csv: the rows that arrive later
SHUFFLE_SEED = 42
SHOWN = 5  # examples or columns named in a message


class UnusableFile(Exception):
    """The file cannot be read as a CSV with a header and rows; the message says why, in one line."""


def is_missing(value: str) -> bool:
    return value.strip() in MISSING


class ColumnTypes:
    """Which logical types every value of a column seen so far fits: the app's infer_schema, one value at a time."""

    def __init__(self) -> None:
        self.fits = {"integer", "float", "boolean", "date", "timestamp"}
        self.seen = False
        self.true_or_false_word = False  # "1"/"0" alone is a number; a boolean column needs a word

    def add(self, value: str) -> None:
        text = value.strip()
        self.seen = True
        if "integer" in self.fits and not INTEGER.fullmatch(text):
            self.fits.discard("integer")
        if "float" in self.fits and not NUMBER.fullmatch(text):
            self.fits.discard("float")
        if "boolean" in self.fits:
            word = text.lower()
            if word not in boolean_words():
                self.fits.discard("boolean")
            self.true_or_false_word |= word in ("true", "false")
        if "date" in self.fits and not (DATE.fullmatch(text) and _parses(date.fromisoformat, text)):
            self.fits.discard("date")
        if "timestamp" in self.fits and not (TIMESTAMP.match(text) and _parses(datetime.fromisoformat, text)):
            self.fits.discard("timestamp")

    def logical_type(self) -> str:
        if not self.seen:
            return "string"
        for kind in ("integer", "float"):
            if kind in self.fits:
                return kind
        if "boolean" in self.fits and self.true_or_false_word:
            return "boolean"
        for kind in ("date", "timestamp"):
            if kind in self.fits:
                return kind
        return "string"


def _parses(parse, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def column_names(header: list[str]) -> list[str]:
    """The header as the app reads it (pandas): a column with no name is called 'Unnamed: <position>'."""
    return [name if name.strip() else f"Unnamed: {position}" for position, name in enumerate(header)]


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the data rows of a CSV file, each with the line it ends on, or UnusableFile saying what is
    wrong with it."""
    if not path.is_file():
        raise UnusableFile(f"training_data {path} {'is not a file' if path.exists() else 'does not exist'}")
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            sample = file.read(1 << 16)
    except UnicodeDecodeError as error:
        raise UnusableFile(f"{path.name} is not UTF-8 text (byte {error.start}); save it as CSV UTF-8") from error
    if "\x00" in sample:
        raise UnusableFile(f"{path.name} holds binary data, not CSV text")
    if not sample.strip():
        raise UnusableFile(f"{path.name} is empty; expected a CSV file with a header row and data rows")

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            with path.open(encoding="utf-8-sig", newline="") as file:
                reader = csv.reader(file, strict=True)
                next(reader)
                for row in reader:
                    if row:  # blank lines, as pandas skips them
                        yield reader.line_num, row
        except UnicodeDecodeError as error:
            raise UnusableFile(f"{path.name} is not UTF-8 text; save it as CSV UTF-8") from error
        except csv.Error as error:
            raise UnusableFile(f"{path.name} is not a readable CSV file: {error}") from error

    with path.open(encoding="utf-8-sig", newline="") as file:
        try:
            header = next(csv.reader(file, strict=True))
        except csv.Error as error:
            raise UnusableFile(f"{path.name} is not a readable CSV file: {error}") from error
    return column_names(header), rows()


def read_moment(text: str, time_format: str = "") -> datetime:
    """A time column's value: ISO 8601, else written in `time_format`; ValueError if it is neither."""
    text = text.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        if not time_format:
            raise
        return datetime.strptime(text, time_format)


@functools.cache
def app_constant(module: str, name: str):
    """A constant of one of the app's modules (a literal): the hook reads values by the very words the app does."""
    tree = ast.parse((APP_SOURCE / module).read_text(encoding="utf-8"))
    assignments = [node for node in tree.body if isinstance(node, ast.Assign)]
    [value] = [node.value for node in assignments if getattr(node.targets[0], "id", "") == name]
    return ast.literal_eval(value)


def app_time_formats() -> tuple[str, ...]:
    return app_constant("ml/values.py", "TIME_FORMATS")


@functools.cache
def boolean_words() -> frozenset[str]:
    """The words the app reads as true or false."""
    words = "config/variables.py"
    return frozenset(app_constant(words, "TRUE_WORDS") | app_constant(words, "FALSE_WORDS"))


def time_format_problem(values: list[str], time_column: str, time_format: str) -> tuple[str, str]:
    """(the format a time column of text is written in, "") or ("", what is wrong): `time_format`, else the one
    format of the app's TIME_FORMATS that reads every value, as the app reads it. `values`: its distinct values, in
    file order."""
    candidates = [time_format] if time_format else list(app_time_formats())
    readings = {form: [_parsed(form, value) for value in values] for form in candidates}
    complete = [form for form in candidates if None not in readings[form]]
    if not complete:
        nearest = max(candidates, key=lambda form: sum(moment is not None for moment in readings[form]))
        first = next(value for value, moment in zip(values, readings[nearest], strict=True) if moment is None)
        how = f"time_format {time_format!r}" if time_format else "a date format"
        return "", (
            f"time_column {time_column!r} must hold dates, timestamps or numbers to order the rows by, but {how} "
            f"cannot read its value {first!r}" + ("" if time_format else "; answer time_format with how it is written")
        )
    for other in complete[1:]:
        for value, one, another in zip(values, readings[complete[0]], readings[other], strict=True):
            if one != another:
                return "", (
                    f"time_column {time_column!r} holds dates such as {value!r} that read two ways ({complete[0]}: "
                    f"{one:%Y-%m-%d}, {other}: {another:%Y-%m-%d}); answer time_format with the one they are written in"
                )
    return complete[0], ""


def _parsed(time_format: str, text: str) -> datetime | None:
    try:
        return read_moment(text, time_format)
    except ValueError:
        return None


@dataclass
class Profile:
    """What the bake needs to know of the data: its columns and types, and what is wrong with it for these answers."""

    columns: list[str]
    types: dict[str, str]
    labelled_rows: int
    unlabelled_rows: int
    problems: list[str] = field(default_factory=list)
    time_format: str = ""  # how the time column is written, when it is not ISO 8601 dates or times


def profile(paths: list[Path], target: str, problem_type: str, time_column: str = "", time_format: str = "") -> Profile:
    """Read every row of `paths` (CSV files with one header) and check them against the answers."""
    columns: list[str] = []
    times: dict[str, None] = {}  # the time column's distinct values, in file order
    types: dict[str, ColumnTypes] = {}
    classes: set[str] = set()
    labelled = unlabelled = 0
    problems: list[str] = []
    names = ", ".join(path.name for path in paths)
    for path in paths:
        try:
            header, rows = read_rows(path)
            if not columns:
                columns = header
                duplicated = sorted({name for name in header if header.count(name) > 1})
                if duplicated:
                    raise UnusableFile(f"{path.name} names column(s) {duplicated} more than once; name each once")
                if target not in header:
                    raise UnusableFile(f"target {target!r} is not a column of {path.name}; its columns are {header}")
                types = {name: ColumnTypes() for name in header}
            elif header != columns:
                raise UnusableFile(f"{path.name} has the columns {header}, unlike {paths[0].name}: {columns}")
            position = columns.index(target)
            for line, row in rows:
                if len(row) != len(columns):
                    raise UnusableFile(
                        f"{path.name} line {line} has {len(row)} fields where the header has {len(columns)}"
                    )
                for name, value in zip(columns, row, strict=True):
                    if not is_missing(value):
                        types[name].add(value)
                        if name == time_column:
                            times[value.strip()] = None
                if is_missing(row[position]):
                    unlabelled += 1
                    continue
                labelled += 1
                if len(classes) < 2:
                    classes.add(row[position].strip())
        except UnusableFile as error:
            return Profile(columns, {}, 0, 0, [str(error)])
    inferred = {name: column.logical_type() for name, column in types.items()}
    found_format = ""
    target_type = inferred[target]
    if problem_type == "regression" and target_type not in ("integer", "float"):
        problems.append(
            f"regression needs a numeric target, but {target!r} in {names} holds {target_type} values; "
            "choose classification, or another target"
        )
    if problem_type == "classification" and len(classes) < 2:
        problems.append(
            f"classification needs at least two classes, but every labelled row of {names} has {target!r} = "
            f"{next(iter(classes), 'nothing')!r}"
        )
    if labelled < MIN_LABELLED_ROWS:
        problems.append(
            f"{names} has {labelled} rows with a {target!r} value; at least {MIN_LABELLED_ROWS} are needed "
            "to train and test a model"
        )
    if time_column:
        if time_column not in columns:
            problems.append(f"time_column {time_column!r} is not a column of {names}; its columns are {columns}")
        elif time_column == target:
            problems.append(f"time_column {time_column!r} is the target; leave it empty or name a column of dates")
        elif inferred[time_column] == "string":
            found_format, problem = time_format_problem(list(times), time_column, time_format)
            if problem:
                problems.append(problem)
            else:
                inferred[time_column] = "timestamp" if any(part in found_format for part in TIME_PARTS) else "date"
        elif inferred[time_column] not in TIME_TYPES:
            problems.append(
                f"time_column {time_column!r} must hold dates, timestamps or numbers to order the rows by, "
                f"but it holds {inferred[time_column]} values"
            )
    return Profile(columns, inferred, labelled, unlabelled, problems, found_format)


def training_files(answers: dict[str, str]) -> list[Path]:
    """The CSV files the app's data comes from: the training_data answer, else the demo data of the template."""
    if answers["training_data"].strip():
        return [Path(answers["__training_data_path"])]
    # The app's folder in the template is the one named after a cookiecutter variable.
    [app] = [folder for folder in Path(answers["_repo_dir"]).iterdir() if folder.name.startswith("{{")]
    return [app / "data" / name for name in DEMO_FILES]


def sort_key(logical_type: str, time_format: str = ""):
    """A key that orders the values of a time column of `logical_type` (written in `time_format` when that is set),
    missing values first."""
    parse = {"date": date.fromisoformat, "timestamp": _moment, "integer": int, "float": float}[logical_type]
    if time_format:
        parse = _moment_written(time_format)

    def key(value: str):
        return (0, None) if is_missing(value) else (1, parse(value.strip()))

    return key


def _moment(text: str, time_format: str = "") -> float:
    # Seconds since the epoch, so that moments with and without a time zone sort together (no zone: UTC).
    moment = read_moment(text, time_format)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _moment_written(time_format: str):
    return lambda text: _moment(text, time_format)


def split_into_loads(source: Path, first: Path, later: Path, data: Profile, target: str, time_column: str = "") -> int:
    """Write the labelled rows of `source` into `first` (the first load) and `later` (rows that arrive later).

    With a time column, the oldest rows come first; without one, the rows are shuffled with a fixed seed, so that a
    file sorted by its target still gives a first load with every kind of row. Returns the rows left out for having
    no target value.
    """
    header, rows = read_rows(source)
    position = header.index(target)
    labelled = [row for _, row in rows if not is_missing(row[position])]
    if time_column:
        key = sort_key(data.types[time_column], data.time_format)
        at = header.index(time_column)
        labelled.sort(key=lambda row: key(row[at]))
    else:
        random.Random(SHUFFLE_SEED).shuffle(labelled)
    cut = round(len(labelled) * FIRST_LOAD_SHARE)
    for path, part in ((first, labelled[:cut]), (later, labelled[cut:])):
        with path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(part)
    return data.unlabelled_rows


def schema_yaml(types: dict[str, str]) -> str:
    """The `schema:` block of app_config.yml: one `column: type` line per column, in the file's order."""
    lines = ["schema:"]
    for name, kind in types.items():
        # A JSON string is a YAML double-quoted scalar: any other name survives, quotes and colons included.
        key = name if PLAIN_NAME.fullmatch(name) and name.lower() not in YAML_WORDS else json.dumps(name)
        lines.append(f"  {key}: {kind}")
    return "\n".join(lines) + "\n"
