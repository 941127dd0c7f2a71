"""A registered model travels on its own: MLflow's tools load and serve it in a venv without this app, and it answers
as the app does."""

import io
import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests

from {{ cookiecutter.app_name }}.laptop.mlflow_model_server import mlflow_model_server, model_venv
from {{ cookiecutter.app_name }}.ml import used_columns
from {{ cookiecutter.app_name }}.registry import open_registry

from .conftest import wait_until_ready
from .support.data import data_rows, typed_rows

KEY = {"X-API-Key": "test-key"}
ROWS = 40


@pytest.fixture(autouse=True)
def import_path_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests load models with MLflow's own loader, which puts each model's code (a partial copy of the app) first
    on sys.path for good: the path is put back after each, as the app's own loader does (registry.load), for the
    processes later tests start from this one (a Dask cluster's workers) to import the app itself."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def request_rows(target: str) -> list[dict]:
    """Rows of the second load (which no model here trained on) without their target, as JSON objects."""
    rows = typed_rows(ROWS, file_name="dataset_2.csv").drop(columns=[target])
    return json.loads(rows.to_json(orient="records", date_format="iso"))


@pytest.mark.ecosystem
def test_mlflow_serves_a_registered_model_in_a_venv_without_the_app_and_answers_as_the_app_does(served, tmp_path):
    settings, target = served.settings, served.settings.app.target
    registry = open_registry(settings)
    model_uri = f"models:/{settings.app.model_name}@{settings.environment}"
    mlflow.set_tracking_uri(registry.tracking_uri)
    requirements = Path(mlflow.pyfunc.get_model_dependencies(model_uri))
    rows = request_rows(target)
    schema = registry.version(served.version).input_schema
    as_csv = as_a_user_writes_them(pd.DataFrame.from_records(rows), schema).to_csv(index=False)

    python = model_venv(requirements)
    with mlflow_model_server(model_uri, registry.tracking_uri, requirements, log=tmp_path / "serve.log") as url:
        answer = requests.post(f"{url}/invocations", json={"dataframe_records": rows}, timeout=60)
        csv_answer = requests.post(f"{url}/invocations", data=as_csv, headers={"Content-Type": "text/csv"}, timeout=60)
    wait_until_ready(served.client)
    app_answer = served.client.post("/predict", json={"records": rows}, headers=KEY)

    without_the_app = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    imported = subprocess.run([python, "-c", "import {{ cookiecutter.app_name }}"], env=without_the_app, capture_output=True)
    assert imported.returncode != 0
    assert answer.status_code == 200, answer.text
    assert app_answer.status_code == 200, app_answer.json
    served_rows, app_rows = answer.json()["predictions"], app_answer.json["predictions"]
    assert len(served_rows) == len(app_rows) == ROWS
    predicted = f"predicted_{target}"
    for served_row, app_row in zip(served_rows, app_rows, strict=True):
        expected = app_row[predicted]
        assert served_row[predicted] == (expected if isinstance(expected, str) else pytest.approx(expected))
        probabilities = {column.removeprefix("probability_"): value for column, value in served_row.items()
                         if column.startswith("probability_")}  # fmt: skip
        assert probabilities == pytest.approx(app_row.get("probabilities", {}), abs=1e-6)
    # A CSV as a user writes one (gaps in number columns, a category never seen) is answered as the app answers it.
    assert csv_answer.status_code == 200, csv_answer.text
    upload = {"file": (io.BytesIO(as_csv.encode()), "rows.csv")}
    from_the_app = pd.read_csv(io.BytesIO(served.client.post("/predict", data=upload, headers=KEY).data))
    from_mlflow = pd.DataFrame(csv_answer.json()["predictions"])
    pd.testing.assert_frame_equal(from_mlflow, from_the_app[from_mlflow.columns], check_dtype=False, atol=1e-6)


def as_a_user_writes_them(rows: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """The rows with a missing value in each column that reads numbers, and a category no model has seen."""
    rows = rows.copy()
    for position, column in enumerate(column for column in rows if schema.get(column) in ("integer", "float")):
        rows.loc[rows.index[position % len(rows)], column] = None
    text = next((column for column in rows if schema.get(column) == "string"), None)
    if text is not None:
        rows.loc[rows.index[-1], text] = "a value no model has seen"
    return rows


@pytest.mark.unit
def test_the_registered_model_predicts_a_csv_as_pandas_reads_it_as_the_app_does(served, tmp_path):
    # pandas reads whole numbers as int64 (in a float column too), a number column with a gap as float64.
    settings, target = served.settings, served.settings.app.target
    registry = open_registry(settings)
    mlflow.set_tracking_uri(registry.tracking_uri)
    schema = registry.version(served.version).input_schema
    rows = as_a_user_writes_them(data_rows("dataset_2.csv", ROWS).drop(columns=[target]), schema)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    as_pandas_reads = pd.read_csv(tmp_path / "rows.csv")

    predicted = mlflow.pyfunc.load_model(f"models:/{settings.app.model_name}/{served.version}").predict(as_pandas_reads)
    wait_until_ready(served.client)
    upload = {"file": (io.BytesIO((tmp_path / "rows.csv").read_bytes()), "rows.csv")}
    answer = served.client.post("/predict", data=upload, headers=KEY)

    assert answer.status_code == 200, answer.json
    from_the_app = pd.read_csv(io.BytesIO(answer.data))[predicted.columns]
    pd.testing.assert_frame_equal(predicted.reset_index(drop=True), from_the_app, check_dtype=False, atol=1e-6)


@pytest.mark.unit
def test_a_registered_version_pins_what_trained_it_and_says_what_it_reads_and_answers(served):
    settings = served.settings
    registry = open_registry(settings)
    model_uri = f"models:/{settings.app.model_name}/{served.version}"
    mlflow.set_tracking_uri(registry.tracking_uri)

    requirements = Path(mlflow.pyfunc.get_model_dependencies(model_uri)).read_text().split()
    signature = mlflow.models.get_model_info(model_uri).signature

    for name in ("scikit-learn", "lightgbm", "pandas", "numpy", "mlflow"):
        assert f"{name}=={version(name)}" in requirements
    schema = registry.version(served.version).input_schema
    used = used_columns(registry.load(served.version))
    packaged = mlflow.pyfunc.load_model(model_uri)
    example = packaged.input_example
    # No input schema (callers' types vary: see packaged_model.py); the example shows every column, and a row that
    # lacks a column the model reads is refused, naming it.
    assert signature.inputs is None and list(example.columns) == list(schema)
    assert signature.outputs.input_names()[0] == f"predicted_{settings.app.target}"
    with pytest.raises(ValueError, match=re.escape(f"the rows have no column(s) ['{used[0]}'], which the model reads")):
        packaged.predict(example.drop(columns=[used[0]]))


@pytest.mark.unit
def test_a_version_logged_before_models_were_packaged_still_loads_and_predicts_the_same(served):
    registry = open_registry(served.settings)
    packaged = registry.load(served.version)
    with mlflow.start_run(experiment_id=registry.client.get_experiment_by_name(registry.model_name).experiment_id):
        logged = mlflow.sklearn.log_model(packaged, name="model", serialization_format="cloudpickle")
    version = registry.client.create_model_version(registry.model_name, source=logged.model_uri,
                                                   model_id=logged.model_id).version  # fmt: skip
    rows = typed_rows(ROWS, file_name="dataset_2.csv").drop(columns=[served.settings.app.target])

    loaded = registry.load(int(version))

    assert (loaded.predict(rows) == packaged.predict(rows)).all()


@pytest.mark.unit
def test_the_packaged_model_reads_values_as_an_upload_is_read_and_names_a_column_it_cannot_read(served):
    registry = open_registry(served.settings)
    mlflow.set_tracking_uri(registry.tracking_uri)
    packaged = mlflow.pyfunc.load_model(f"models:/{served.settings.app.model_name}/{served.version}")
    schema = registry.version(served.version).input_schema
    used = used_columns(registry.load(served.version))
    numeric = next((column for column in used if schema[column] in ("integer", "float")), None)
    if numeric is None:
        pytest.skip("the served model reads no numeric column")
    rows = typed_rows(3, file_name="dataset_2.csv").drop(columns=[served.settings.app.target])
    model = packaged.unwrap_python_model()

    as_text = model.predict(None, rows.astype("string"))  # every value as text, as a CSV gives it
    rows[numeric] = rows[numeric].astype(object)
    rows.loc[rows.index[0], numeric] = "twelve"

    pd.testing.assert_frame_equal(as_text, model.predict(None, typed_rows(3, file_name="dataset_2.csv")))
    refusal = f"column {numeric!r} expects {schema[numeric]} but holds e.g. ['twelve']"
    with pytest.raises(ValueError, match=re.escape(refusal)):
        model.predict(None, rows)
