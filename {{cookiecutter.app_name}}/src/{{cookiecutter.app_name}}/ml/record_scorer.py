"""Scoring a few records without pandas: the quick path for online requests.

Through the pipeline, one record costs about 10 ms, nearly all of it pandas and scikit-learn checking a one-row
frame; LightGBM itself takes 0.04 ms. A `RecordScorer` builds each record's feature row straight from the fitted
parts' learned state (the category encoder's own code for each category, the vectorizer's own analyzer,
vocabulary and idf) and hands the rows to the booster (to each booster of an ensemble, averaging as it does). It
gives the pipeline's numbers (the tests compare them on every row of the app's data), and declines (None) any
record it cannot treat exactly as the pipeline would: the caller then uses the pipeline, which also words any
error.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

from .ensemble import AveragedModels
from .features import MISSING_CATEGORY, as_category_strings, as_float, as_text, date_parts

ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")  # no time zone
UNSEEN = "\x00unseen"  # stands for any category the encoder never saw
EXACT_INTEGERS = 2.0**53  # beyond this a float cannot hold every integer


class Declined(Exception):
    """A value the quick path would not treat exactly as the pipeline does."""


class Unsupported(Exception):
    """A fitted part the quick path does not know; the model is always scored through its pipeline."""


Row = list[tuple[int, float]]  # (feature position, value) pairs of one record


class Numbers:
    """`as_float` of integer and float columns."""

    def __init__(self, columns: Sequence[str], input_schema: Mapping[str, str]):
        if any(input_schema[column] not in ("integer", "float") for column in columns):
            raise Unsupported("numeric features that are not integer or float columns")
        self.columns = [(column, input_schema[column] == "integer") for column in columns]
        self.width = len(columns)

    def encode(self, record: Mapping[str, Any], offset: int, row: Row) -> None:
        for position, (column, whole) in enumerate(self.columns, offset):
            value = record[column]
            if value is None or (type(value) is float and math.isnan(value)):
                row.append((position, math.nan))
            elif type(value) in (int, float) and abs(value) < EXACT_INTEGERS and (not whole or value == int(value)):
                row.append((position, float(value)))
            else:  # text, booleans, fractions in an integer column, huge numbers: the pipeline decides
                raise Declined(column)


class Categories:
    """Category codes: each known category's code, and the code of any other, taken from the fitted encoder itself."""

    def __init__(self, columns: Sequence[str], input_schema: Mapping[str, str], encoder: OrdinalEncoder):
        if any(input_schema[column] != "string" for column in columns):
            raise Unsupported("categorical features that are not string columns")
        if any(UNSEEN in categories for categories in encoder.categories_):
            raise Unsupported("a category equal to the unseen marker")
        # One row per category (and a last row of unseen values), each column taking its own categories in turn.
        longest = max(len(categories) for categories in encoder.categories_)
        probe = np.array(
            [[c[i] if i < len(c) else UNSEEN for c in encoder.categories_] for i in range(longest + 1)], dtype=object
        )
        codes = encoder.transform(probe)
        self.tables = [
            (column, {str(category): float(codes[i, j]) for i, category in enumerate(categories)}, float(codes[-1, j]))
            for j, (column, categories) in enumerate(zip(columns, encoder.categories_, strict=True))
        ]
        self.width = len(columns)

    def encode(self, record: Mapping[str, Any], offset: int, row: Row) -> None:
        for position, (column, known, unseen) in enumerate(self.tables, offset):
            value = record[column]
            if value is None:
                value = MISSING_CATEGORY
            elif type(value) is not str:
                raise Declined(column)
            row.append((position, known.get(value, unseen)))


class Text:
    """TF-IDF of one text column, with the fitted vectorizer's analyzer, vocabulary and idf."""

    def __init__(self, column: str, vectorizer: TfidfVectorizer):
        if vectorizer.norm not in ("l2", None) or vectorizer.dtype is not np.float64:
            raise Unsupported("a TF-IDF norm or dtype other than l2 and float64")
        self.column = column
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary = vectorizer.vocabulary_
        self.idf = vectorizer.idf_ if vectorizer.use_idf else None
        self.binary, self.sublinear, self.l2 = vectorizer.binary, vectorizer.sublinear_tf, vectorizer.norm == "l2"
        self.width = len(self.vocabulary)

    def encode(self, record: Mapping[str, Any], offset: int, row: Row) -> None:
        value = record[self.column]
        if value is None:
            value = ""
        elif type(value) is not str:
            raise Declined(self.column)
        counts = Counter(self.vocabulary[term] for term in self.analyze(value) if term in self.vocabulary)
        if not counts:
            return
        # The same operations, in the same order, as the vectorizer: the numbers come out identical.
        positions = np.array(sorted(counts))
        weights = np.ones(len(positions)) if self.binary else np.array([counts[p] for p in positions], dtype=float)
        if self.sublinear:
            np.log(weights, weights)
            weights += 1
        if self.idf is not None:
            weights *= self.idf[positions]
        if self.l2:
            total = 0.0
            for weight in weights:
                total += weight * weight
            weights /= math.sqrt(total)
        row.extend(zip((positions + offset).tolist(), weights.tolist(), strict=True))


class DateParts:
    """`date_parts` of date and timestamp columns: month, day, day of week, day of year."""

    def __init__(self, columns: Sequence[str], input_schema: Mapping[str, str]):
        if any(input_schema[column] not in ("date", "timestamp") for column in columns):
            raise Unsupported("datetime features that are not date or timestamp columns")
        self.columns = [(column, input_schema[column] == "date") for column in columns]
        self.width = 4 * len(columns)

    def encode(self, record: Mapping[str, Any], offset: int, row: Row) -> None:
        for position, (column, whole_days) in zip(range(offset, offset + self.width, 4), self.columns, strict=True):
            value = record[column]
            if value is None:
                row.extend((position + part, math.nan) for part in range(4))
                continue
            if type(value) is not str or not ISO_MOMENT.fullmatch(value):
                raise Declined(column)
            moment = datetime.fromisoformat(value)
            if whole_days and moment.time() != time():  # the pipeline refuses a time of day in a date column
                raise Declined(column)
            parts = (moment.month, moment.day, moment.weekday(), moment.timetuple().tm_yday)
            row.extend((position + part, float(number)) for part, number in enumerate(parts))


def split_part(part: Any) -> tuple[Any, Any]:
    """A fitted part of the preprocessor as (the function it applies first, the fitted step after it)."""
    steps = [step for _, step in part.steps] if isinstance(part, Pipeline) else [part]
    first = steps[0].func if isinstance(steps[0], FunctionTransformer) else None
    return first, (steps[1] if len(steps) == 2 else None)


def feature_block(part: Any, columns: list[str], input_schema: Mapping[str, str]):
    function, fitted = split_part(part)
    if function is as_float and fitted is None:
        return Numbers(columns, input_schema)
    if function is as_category_strings and isinstance(fitted, OrdinalEncoder):
        return Categories(columns, input_schema, fitted)
    if function is as_text and isinstance(fitted, TfidfVectorizer) and len(columns) == 1:
        return Text(columns[0], fitted)
    if function is date_parts and fitted is None:
        return DateParts(columns, input_schema)
    raise Unsupported(f"a preprocessing step {part!r}")


class RecordScorer:
    """Scores JSON-like records (column: value) as the model's pipeline would."""

    # Past this many records the pipeline's column-wise work is quicker (measured: about 400 on the demo model).
    MOST_RECORDS = 400
    MOST_CELLS = 2_000_000  # the rows go to LightGBM dense (twice as quick as sparse for a few rows): 16 MB at most

    def __init__(self, blocks: list[tuple[int, Any]], width: int, boosters: list[tuple[float, Any]], classifier: bool):
        self.blocks, self.width, self.boosters, self.classifier = blocks, width, boosters, classifier
        self.most_records = min(self.MOST_RECORDS, self.MOST_CELLS // width)

    @classmethod
    def compile(cls, model: Pipeline, input_schema: Mapping[str, str]) -> RecordScorer | None:
        """The quick path for this model, or None when it has a part the quick path does not know."""
        preprocessor, estimator = model.named_steps["features"], model.steps[-1][1]
        members = estimator.members if isinstance(estimator, AveragedModels) else [(1.0, estimator)]
        boosters = [(weight, getattr(member, "booster_", None)) for weight, member in members]
        if any(booster is None for _, booster in boosters) or preprocessor.remainder != "drop":
            return None
        blocks, width = [], 0
        try:
            for name, part, columns in preprocessor.transformers_:
                if name != "remainder":
                    block = feature_block(part, list(columns), input_schema)
                    blocks.append((width, block))
                    width += block.width
        except Unsupported:
            return None
        if any(width != booster.num_feature() for _, booster in boosters):
            return None
        return cls(blocks, width, boosters, hasattr(model, "predict_proba"))

    def predict_scores(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
        """As `predict_scores` of the pipeline (probabilities per class, or values); None if a record is declined."""
        if len(records) > self.most_records:
            return None
        features = np.zeros((len(records), self.width))
        try:
            for number, record in enumerate(records):
                row: Row = []
                for offset, block in self.blocks:
                    block.encode(record, offset, row)
                if row:
                    positions, values = zip(*row, strict=True)
                    features[number, list(positions)] = values
        # KeyError: a record without a column; ValueError: a date that matches the pattern but does not exist.
        except (Declined, KeyError, ValueError):
            return None
        # One thread: a few rows are done before a thread team would start, and uWSGI runs a process per core.
        return sum(weight * self.booster_scores(booster, features) for weight, booster in self.boosters)

    def booster_scores(self, booster: Any, features: np.ndarray) -> np.ndarray:
        scores = booster.predict(features, num_threads=1)
        if self.classifier and scores.ndim == 1:  # binary: LightGBM gives the probability of the second class
            return np.column_stack((1.0 - scores, scores))
        return scores
