"""The quick path for online requests gives exactly the pipeline's numbers, and leaves anything unusual to it."""

import json

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import conform, infer_schema, read_csv
from {{ cookiecutter.app_name }}.ml import RecordScorer, SearchBudget, predict_scores, train_model, used_columns

from .conftest import APP_ROOT, DATA, typed_demo_rows

pytestmark = pytest.mark.unit


def as_json_records(frame: pd.DataFrame) -> list[dict]:
    """What a JSON client sends: numbers as numbers, dates as ISO text, missing values as null."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def pipeline_scores(model, records: list[dict], input_schema: dict) -> np.ndarray:
    return predict_scores(model, conform(pd.DataFrame.from_records(records), input_schema, ignore_extra=True))


def table_schema() -> dict[str, str]:
    """The column types the app's table gives the demo data (and so the types its models are registered with)."""
    return infer_schema(read_csv(DATA / "dataset_1.csv"))


@pytest.fixture(scope="module")
def every_demo_row() -> pd.DataFrame:
    raw = pd.concat([read_csv(DATA / "dataset_1.csv"), read_csv(DATA / "dataset_2.csv")], ignore_index=True)
    return conform(raw, table_schema())


def trained_model(frame: pd.DataFrame, target: str, problem_type: str, score_type: str, overrides=None):
    budget = SearchBudget(max_seconds=60, patience=2, workers=1)
    model = train_model(frame, target, problem_type, score_type, budget, seed=3, feature_overrides=overrides).model
    return model, {column: table_schema()[column] for column in used_columns(model)}


@pytest.fixture(scope="module")
def served(every_demo_row):
    """A model of the app's own target, trained on the first 800 rows; the quick path compiled from it."""
    app = load_settings("integration", root=APP_ROOT).app
    rows = every_demo_row.head(800).copy()
    rows.loc[:4, "Supplier"] = [
        f"One-off supplier {n}" for n in range(5)
    ]  # rare: the encoder groups them as infrequent
    model, input_schema = trained_model(rows, app.target, app.problem_type, app.score_type)
    return model, input_schema, RecordScorer.compile(model, input_schema), app.target


def test_every_demo_row_scores_exactly_as_through_the_pipeline(served, every_demo_row):
    model, input_schema, scorer, target = served
    records = as_json_records(every_demo_row.drop(columns=[target]))

    for start in range(0, len(records), scorer.most_records):
        batch = records[start : start + scorer.most_records]

        quick = scorer.predict_scores(batch)

        assert quick is not None, f"the quick path declined clean demo rows {start} to {start + len(batch)}"
        np.testing.assert_allclose(quick, pipeline_scores(model, batch, input_schema), rtol=0, atol=1e-12)


def test_missing_values_unseen_categories_and_unknown_words_score_as_through_the_pipeline(served, every_demo_row):
    model, input_schema, scorer, target = served
    base = as_json_records(every_demo_row.drop(columns=[target]).head(1))[0]
    unusual = [{**base, column: None} for column in input_schema]
    unusual += [{**base, column: "zyxw never seen before"} for column, kind in input_schema.items() if kind == "string"]
    unusual += [{**base, column: ""} for column, kind in input_schema.items() if kind == "string"]
    unusual.append({**base, "Date": "2024-02-29T00:00:00.000"} if "Date" in input_schema else base)

    quick = scorer.predict_scores(unusual)

    assert quick is not None
    np.testing.assert_allclose(quick, pipeline_scores(model, unusual, input_schema), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "change",
    [
        {"VAT": "12.5"},  # a number sent as text: the pipeline reads it (or words the error)
        {"VAT": True},
        {"VAT": float("inf")},
        {"Date": "01/02/2024"},
        {"Date": "2024-02-30"},  # matches the pattern, but no such day
        {"Date": "2024-02-01T10:30:00"},  # a time of day in a date column is refused by the pipeline
        {"Supplier": 5},
        {"Description": ["a", "list"]},
    ],
    ids=str,
)
def test_values_the_pipeline_must_judge_are_declined(served, every_demo_row, change):
    _, input_schema, scorer, target = served
    record = {**as_json_records(every_demo_row.drop(columns=[target]).head(1))[0], **change}

    assert scorer.predict_scores([record]) is None


def test_a_record_without_a_column_is_declined(served, every_demo_row):
    _, input_schema, scorer, target = served
    record = as_json_records(every_demo_row.drop(columns=[target]).head(1))[0]
    del record[next(iter(input_schema))]

    assert scorer.predict_scores([record]) is None


def test_too_many_records_are_left_to_the_pipeline(served, every_demo_row):
    _, _, scorer, target = served
    records = as_json_records(every_demo_row.drop(columns=[target]).head(scorer.most_records + 1))

    assert scorer.predict_scores(records) is None


def test_binary_probabilities_match_the_pipeline(every_demo_row):
    large = every_demo_row["Amount"] > every_demo_row["Amount"].median()
    frame = every_demo_row.assign(Size=large.map({True: "large", False: "small"})).drop(columns=["Amount", "VAT"])
    model, input_schema = trained_model(frame.head(600), "Size", "classification", "roc_auc")
    records = as_json_records(frame.drop(columns=["Size"]).tail(300))

    quick = RecordScorer.compile(model, input_schema).predict_scores(records)

    assert quick.shape == (300, 2)
    np.testing.assert_allclose(quick, pipeline_scores(model, records, input_schema), rtol=0, atol=1e-12)


def test_a_model_with_a_part_it_does_not_know_is_left_to_its_pipeline(settings):
    app = settings.app
    frame = typed_demo_rows(300)
    # Config may make a text column numeric; the pipeline then reads it as numbers, which the quick path does not do.
    overrides = {"numeric": ["Supplier"]}
    model, input_schema = trained_model(frame, app.target, app.problem_type, app.score_type, overrides)

    assert RecordScorer.compile(model, input_schema) is None
