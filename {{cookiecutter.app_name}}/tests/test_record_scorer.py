"""The quick path for online requests gives exactly the pipeline's numbers, and leaves anything unusual to it."""

import json

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import conform
from {{ cookiecutter.app_name }}.ml import RecordScorer, SearchBudget, predict_scores, train_model, used_columns

from .support.data import APP_ROOT, a_feature_of_type, features_of_type, table_schema, typed_rows

pytestmark = pytest.mark.unit


def as_json_records(frame: pd.DataFrame) -> list[dict]:
    """What a JSON client sends: numbers as numbers, dates as ISO text, missing values as null."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def pipeline_scores(model, records: list[dict], input_schema: dict) -> np.ndarray:
    return predict_scores(model, conform(pd.DataFrame.from_records(records), input_schema, ignore_extra=True))


@pytest.fixture(scope="module")
def every_row() -> pd.DataFrame:
    return pd.concat([typed_rows(), typed_rows(file_name="dataset_2.csv")], ignore_index=True)


def trained_model(frame: pd.DataFrame, target: str, problem_type: str, score_type: str, overrides=None):
    budget = SearchBudget(max_seconds=60, patience=2, workers=1, folds=2)
    model = train_model(frame, target, problem_type, score_type, budget, seed=3, feature_overrides=overrides).model
    return model, {column: table_schema()[column] for column in used_columns(model)}


def used_of_type(input_schema: dict[str, str], *kinds: str) -> str:
    columns = [column for column, kind in input_schema.items() if kind in kinds]
    if not columns:
        pytest.skip(f"the model reads no column of type {' or '.join(kinds)}")
    return columns[0]


@pytest.fixture(scope="module")
def served(every_row):
    """A model of the app's own target, trained on the first 800 rows; the quick path compiled from it."""
    app = load_settings("integration", root=APP_ROOT).app
    rows = every_row.head(800).copy()
    for column in features_of_type("string")[:1]:  # rare: the encoder groups them as infrequent
        rows.loc[:4, column] = [f"One-off value {n}" for n in range(5)]
    model, input_schema = trained_model(rows, app.target, app.problem_type, app.score_type)
    return model, input_schema, RecordScorer.compile(model, input_schema), app.target


def test_every_row_scores_exactly_as_through_the_pipeline(served, every_row):
    model, input_schema, scorer, target = served
    records = as_json_records(every_row.drop(columns=[target]))

    for start in range(0, len(records), scorer.most_records):
        batch = records[start : start + scorer.most_records]

        quick = scorer.predict_scores(batch)

        assert quick is not None, f"the quick path declined clean rows {start} to {start + len(batch)}"
        np.testing.assert_allclose(quick, pipeline_scores(model, batch, input_schema), rtol=0, atol=1e-12)


def test_missing_values_unseen_categories_and_unknown_words_score_as_through_the_pipeline(served, every_row):
    model, input_schema, scorer, target = served
    base = as_json_records(every_row.drop(columns=[target]).head(1))[0]
    unusual = [{**base, column: None} for column in input_schema]
    unusual += [{**base, column: "zyxw never seen before"} for column, kind in input_schema.items() if kind == "string"]
    unusual += [{**base, column: ""} for column, kind in input_schema.items() if kind == "string"]
    unusual += [{**base, column: "2024-02-29T00:00:00.000"} for column, kind in input_schema.items() if kind == "date"]

    quick = scorer.predict_scores(unusual)

    assert quick is not None
    np.testing.assert_allclose(quick, pipeline_scores(model, unusual, input_schema), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("kinds", "value"),
    [
        (("integer", "float"), "12.5"),  # a number sent as text: the pipeline reads it (or words the error)
        (("integer", "float"), True),
        (("integer", "float"), float("inf")),
        (("date",), "01/02/2024"),
        (("date",), "2024-02-30"),  # matches the pattern, but no such day
        (("date",), "2024-02-01T10:30:00"),  # a time of day in a date column is refused by the pipeline
        (("string",), 5),
        (("string",), ["a", "list"]),
    ],
    ids=str,
)
def test_values_the_pipeline_must_judge_are_declined(served, every_row, kinds, value):
    _, input_schema, scorer, target = served
    column = used_of_type(input_schema, *kinds)
    record = {**as_json_records(every_row.drop(columns=[target]).head(1))[0], column: value}

    assert scorer.predict_scores([record]) is None


def test_a_record_without_a_column_is_declined(served, every_row):
    _, input_schema, scorer, target = served
    record = as_json_records(every_row.drop(columns=[target]).head(1))[0]
    del record[next(iter(input_schema))]

    assert scorer.predict_scores([record]) is None


def test_too_many_records_are_left_to_the_pipeline(served, every_row):
    _, _, scorer, target = served
    records = as_json_records(every_row.drop(columns=[target]).head(scorer.most_records + 1))

    assert scorer.predict_scores(records) is None


def test_binary_probabilities_match_the_pipeline(every_row):
    app = load_settings("integration", root=APP_ROOT).app
    truth = every_row[app.target]
    # A two-class question about the app's own target: its commonest class or not; above its median or not.
    usual = truth == truth.mode()[0] if app.problem_type == "classification" else truth > truth.median()
    frame = every_row.assign(usual=usual.map({True: "usual", False: "other"})).drop(columns=[app.target])
    model, input_schema = trained_model(frame.head(600), "usual", "classification", "roc_auc")
    records = as_json_records(frame.drop(columns=["usual"]).tail(300))

    quick = RecordScorer.compile(model, input_schema).predict_scores(records)

    assert quick.shape == (len(records), 2)
    np.testing.assert_allclose(quick, pipeline_scores(model, records, input_schema), rtol=0, atol=1e-12)


def test_a_model_with_a_part_it_does_not_know_is_left_to_its_pipeline(settings):
    app = settings.app
    # Config may make a text column numeric; the pipeline then reads it as numbers, which the quick path does not do.
    overrides = {"numeric": [a_feature_of_type("string")]}
    model, input_schema = trained_model(typed_rows(300), app.target, app.problem_type, app.score_type, overrides)

    assert RecordScorer.compile(model, input_schema) is None
