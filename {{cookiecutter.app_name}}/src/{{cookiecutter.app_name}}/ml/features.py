"""Column roles, inferred from the data unless config decides them, and the preprocessing for each role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

ROLES = ("numeric", "categorical", "text", "datetime", "ignore")
SAMPLE_ROWS = 5000  # enough to judge a column's role; keeps inference fast on large tables
MIN_ROWS_FOR_IDENTIFIERS = 50  # fewer rows than this are too few to tell an identifier from a measurement
DENSE_SPAN = 3  # unique integers spread over at most 3 times as many values as there are rows: numbering rows
TEXT_MIN_DISTINCT = 50  # fewer different values, however many words each has, are categories ("1. < HS Grad")
MISSING_CATEGORY = "(missing)"  # a category of its own: that a value is missing can tell something
UNKNOWN_CODE = -1  # a category the encoder never saw; LightGBM sends negative categories the way of missing values


@dataclass(frozen=True)
class ColumnRoles:
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    datetime: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical + self.text + self.datetime

    def describe(self) -> dict[str, list[str]]:
        return {role: list(getattr(self, role)) for role in ROLES if getattr(self, role)}


def infer_roles(frame: pd.DataFrame, target: str, overrides: Mapping[str, Sequence[str]] | None = None) -> ColumnRoles:
    """Each column's role: the one config gives it, else the one its values suggest."""
    overrides = {role: list(columns) for role, columns in (overrides or {}).items() if columns}
    decided = {column: role for role, columns in overrides.items() for column in columns}
    unknown = sorted(set(decided) - set(frame.columns))
    if unknown:
        raise ValueError(f"features config names column(s) {unknown} that the data does not have")
    sample = frame.sample(min(len(frame), SAMPLE_ROWS), random_state=0) if len(frame) > SAMPLE_ROWS else frame
    roles: dict[str, list[str]] = {role: [] for role in ROLES}
    for column in frame.columns:
        if column == target:
            continue
        role = decided.get(column) or ("ignore" if numbers_rows(frame[column]) else _infer_role(sample[column]))
        roles[role].append(column)
    return ColumnRoles(**{role: tuple(columns) for role, columns in roles.items()})


def numbers_rows(column: pd.Series) -> bool:
    """Whether an integer column numbers the rows (a row number, an order id): different in every row, and packed
    densely, as 1..n is even after rows are removed. It tells the model where a row sits in a file, nothing more."""
    if not pd.api.types.is_integer_dtype(column) or len(column) < MIN_ROWS_FOR_IDENTIFIERS or column.hasnans:
        return False
    return column.is_unique and (column.max() - column.min() + 1) <= DENSE_SPAN * len(column)


def _infer_role(column: pd.Series) -> str:
    values = column.dropna()
    if values.empty:
        return "ignore"
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    text = values.astype(str)
    distinct = text.nunique() / len(text)
    words = text.str.split().str.len().mean()
    if distinct > 0.95 and words <= 1:
        return "ignore"  # an identifier: unique per row, says nothing about the target
    if text.nunique() > TEXT_MIN_DISTINCT and (words >= 3 or (distinct > 0.5 and words >= 2)):
        return "text"
    return "categorical"


def as_text(values: pd.Series | pd.DataFrame) -> np.ndarray:
    """Text with missing values as empty strings; keeps one dimension for a single text column."""
    return np.asarray(pd.DataFrame(values).fillna("").astype(str)).squeeze(axis=1)


def as_category_strings(values: pd.DataFrame) -> np.ndarray:
    return np.asarray(pd.DataFrame(values).astype("string").fillna(MISSING_CATEGORY), dtype=object)


def as_float(values: pd.DataFrame) -> np.ndarray:
    return pd.DataFrame(values).apply(pd.to_numeric, errors="coerce").astype("float64").to_numpy()


def date_parts(values: pd.DataFrame) -> np.ndarray:
    # No year: a model meets future years it has never seen, and the calendar repeats.
    parts = []
    for column in pd.DataFrame(values).columns:
        moments = pd.to_datetime(values[column], errors="coerce")
        parts += [moments.dt.month, moments.dt.day, moments.dt.day_of_week, moments.dt.day_of_year]
    return pd.concat(parts, axis=1).astype("float64").to_numpy()


def build_preprocessor(roles: ColumnRoles) -> ColumnTransformer:
    """Numbers as they are (LightGBM handles missing values), categories as codes (which LightGBM splits on as
    categories: see `categorical_positions`), TF-IDF text, date parts."""
    transformers = []
    if roles.numeric:
        transformers.append(("numeric", FunctionTransformer(as_float), list(roles.numeric)))
    if roles.categorical:
        # Rare categories share one code: a category seen once or twice teaches only noise.
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=UNKNOWN_CODE, min_frequency=3)
        transformers.append(
            ("categorical", make_pipeline(FunctionTransformer(as_category_strings), encoder), list(roles.categorical))
        )
    for column in roles.text:
        # Words, not word pairs: pairs doubled the model's work and scored no better on rows it never saw.
        vectorizer = TfidfVectorizer(min_df=2, max_features=20_000, sublinear_tf=True)
        transformers.append((f"text_{column}", make_pipeline(FunctionTransformer(as_text), vectorizer), [column]))
    if roles.datetime:
        transformers.append(("datetime", FunctionTransformer(date_parts), list(roles.datetime)))
    if not transformers:
        raise ValueError("no feature columns are left to learn from: check the features config")
    # Sparse when there is text (TF-IDF columns are mostly zeros, and LightGBM reads CSR directly), else dense.
    return ColumnTransformer(transformers, sparse_threshold=1.0)


def categorical_positions(roles: ColumnRoles) -> list[int]:
    """Where the category codes sit among the preprocessor's output columns: right after the numbers."""
    return list(range(len(roles.numeric), len(roles.numeric) + len(roles.categorical)))
