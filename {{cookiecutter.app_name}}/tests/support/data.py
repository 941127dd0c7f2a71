"""Rows and config for tests: the app's own data and schema, data of another shape (sensor readings), an app config
folder of a test's own, and a model that takes no training."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import conform, infer_schema, read_csv
from {{ cookiecutter.app_name }}.ml import ColumnRoles, build_preprocessor
from {{ cookiecutter.app_name }}.registry import ServedAs

APP_ROOT = Path(__file__).resolve().parents[2]
DATA = APP_ROOT / "data"


def table_schema() -> dict[str, str]:
    """The columns and types of the app's table: `schema` in app config, else those of data/dataset_1.csv."""
    configured = load_settings("integration", root=APP_ROOT).app.schema
    return dict(configured) or infer_schema(read_csv(DATA / "dataset_1.csv"))


def features_of_type(*kinds: str) -> list[str]:
    """The columns of the app's data, other than the target, whose type is one of `kinds` (string, float, ...)."""
    target = load_settings("integration", root=APP_ROOT).app.target
    return [column for column, kind in table_schema().items() if kind in kinds and column != target]


def a_feature_of_type(*kinds: str) -> str:
    """The first column of one of `kinds`; the test is skipped when the app's data has none (it cannot apply)."""
    columns = features_of_type(*kinds)
    if not columns:
        pytest.skip(f"the app's data has no column of type {' or '.join(kinds)} besides the target")
    return columns[0]


def copy_app_config(root: Path, **changes) -> Path:
    """A copy of the app's config folder in `root`, with `changes` made to app_config.yml: an app folder of the
    test's own, for commands that write config files or read their config from APP_ROOT."""
    (root / "config").mkdir(parents=True)
    for path in (APP_ROOT / "config").glob("environment_*.yml"):
        (root / "config" / path.name).write_text(path.read_text())
    config = yaml.safe_load((APP_ROOT / "config" / "app_config.yml").read_text())
    (root / "config" / "app_config.yml").write_text(yaml.safe_dump({**config, **changes}, sort_keys=False))
    shutil.copy(APP_ROOT / "uwsgi.ini", root / "uwsgi.ini")  # what `serve` and the local stack start uWSGI with
    return root


SENSOR_CONFIG = {
    "target": "status",
    "problem_type": "classification",
    "score_type": "f1_weighted",
    "min_score": 0.5,
    "schema": {},
    "features": {},
    "time_column": None,
    "id_column": None,
    # small, so that tests stay quick
    "number_of_train_workers": 1,
    "max_models_with_no_score_change": 3,
    "max_minutes_to_train": 2,
    "validation_folds": 2,
}


def sensor_rows(rows: int, seed: int, shifted: bool = False) -> pd.DataFrame:
    """Readings of machines at four sites, and whether each was at fault: data of another shape than the app's own.
    `shifted`: the machines run 3 standard deviations hotter, and most readings come from the sites that were rare."""
    generator = np.random.default_rng(seed)
    temperature = generator.normal(84 if shifted else 60, 8, rows)
    vibration = generator.gamma(2.0, 1.5, rows)
    sites = generator.choice(["north", "south", "east", "west"], rows, p=[0.1, 0.1, 0.4, 0.4] if shifted else
                             [0.4, 0.3, 0.2, 0.1])  # fmt: skip
    load = generator.integers(10, 100, rows)
    risk = 0.1 * (temperature - 60) + 0.6 * vibration + 0.02 * load + 1.0 * (sites == "east") - 3
    status = np.where(risk + generator.normal(0, 0.5, rows) > 0, "fault", "ok")
    return pd.DataFrame({"temperature": temperature.round(2), "vibration": vibration.round(3), "site": sites,
                         "load": load, "status": status})  # fmt: skip


def data_rows(file_name: str, rows: int | None = None) -> pd.DataFrame:
    """The first `rows` rows (all without a number) of one of the app's CSVs in data/, as text: what an upload is."""
    frame = read_csv(DATA / file_name)
    return frame if rows is None else frame.head(rows)


def typed_rows(rows: int | None = None, file_name: str = "dataset_1.csv") -> pd.DataFrame:
    """The first `rows` rows of a data file with the types the table gives them."""
    return conform(data_rows(file_name, rows), table_schema())


def a_small_model() -> tuple[Pipeline, ServedAs]:
    """A model shaped as the app's (preprocessing, then an estimator) that takes no training: to register a version."""
    rows = pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0], "kind": ["a", "b", "a", "b"]})
    features = build_preprocessor(ColumnRoles(numeric=("amount",), categorical=("kind",)))
    model = Pipeline([("features", features), ("model", DummyClassifier())]).fit(rows, ["x", "y", "x", "y"])
    return model, ServedAs("label", {"amount": "float", "kind": "string"}, example=rows)
