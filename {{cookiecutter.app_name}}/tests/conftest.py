"""Fixtures that give each test its own real DuckDB file and MLflow registry, in a temporary folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.app_name }}.config import Settings, load_settings
from {{ cookiecutter.app_name }}.datastore import DataStore, conform, infer_schema, open_datastore, read_csv
from {{ cookiecutter.app_name }}.registry import ModelRegistry, open_registry

APP_ROOT = Path(__file__).resolve().parents[1]
DATA = APP_ROOT / "data"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The app's own config on a fresh state folder, with a small training budget so tests stay quick."""
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_ARTIFACT_ROOT", "DUCKDB_PATH", "APP_ENVIRONMENT", "API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("APP_STATE_DIR", str(tmp_path / "state"))
    loaded = load_settings("integration", root=APP_ROOT)
    small_budget = dataclasses.replace(
        loaded.app, number_of_train_workers=1, max_models_with_no_score_change=3, max_minutes_to_train=2
    )
    return dataclasses.replace(loaded, app=small_budget)


@pytest.fixture
def store(settings: Settings) -> DataStore:
    """The integration table, created with the demo data's columns and empty."""
    datastore = open_datastore(settings)
    datastore.create(infer_schema(read_csv(DATA / "dataset_1.csv")))
    return datastore


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return open_registry(settings)


def demo_rows(file_name: str, rows: int) -> pd.DataFrame:
    """The first `rows` rows of a demo CSV, as text: what an upload looks like."""
    return read_csv(DATA / file_name).head(rows)


def typed_demo_rows(rows: int) -> pd.DataFrame:
    """The first `rows` rows of dataset_1.csv with the types the table gives them."""
    raw = demo_rows("dataset_1.csv", rows)
    return conform(raw, infer_schema(raw))
