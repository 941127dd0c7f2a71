"""Quick checks that a deployed environment answers: run after every deploy and promotion, with APP_URL and API_KEY
pointing at it (`pytest -m smoke`). They change nothing: no upload, no retrain."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import read_csv

from .support.data import APP_ROOT, DATA

pytestmark = pytest.mark.smoke


def test_the_app_is_healthy_and_serves_a_model(app_client):
    health = app_client.health()

    assert health["status"] == "ok" and health["model_version"] is not None, health


def test_a_record_gets_a_prediction_from_the_served_model(app_client):
    target = load_settings(root=APP_ROOT).app.target
    record = read_csv(DATA / "dataset_2.csv").drop(columns=[target]).head(1).to_dict(orient="records")

    answer = app_client.predict_records(record)

    assert answer["model_version"] == app_client.health()["model_version"]
    assert len(answer["predictions"]) == 1, answer


def test_a_csv_gets_a_prediction_for_every_row(app_client, tmp_path):
    target = load_settings(root=APP_ROOT).app.target
    rows = read_csv(DATA / "dataset_2.csv").drop(columns=[target]).head(50)
    upload = tmp_path / "rows.csv"
    rows.to_csv(upload, index=False)

    predicted = pd.read_csv(io.BytesIO(app_client.predict_csv(upload)), dtype=str)

    assert len(predicted) == 50 and f"predicted_{target}" in predicted.columns
