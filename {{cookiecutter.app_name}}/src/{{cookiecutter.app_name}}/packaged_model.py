"""What a registered version carries so that any MLflow tool can load and serve it without this app installed.

A pyfunc model that answers with the app's own prediction table (`predicted_<target>`, and a `probability_<class>`
column per class), the code its pickle refers to (this module, `ml/`, the `config/` that `ml/` reads its words and
messages from, and the package's `__init__.py`, as MLflow `code_paths`), requirements pinned to the versions it was
trained with, a signature and an input example. So `mlflow models serve -m models:/<model>@<environment>` in a venv
of MLflow and the model's requirements.txt works.

Imports only MLflow, pandas and `ml/`: it travels with every model.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.pyfunc import PythonModel

from .ml import predict_table, used_columns
from .ml.values import read_as

PACKAGE = Path(__file__).parent
# The files the pickle needs, relative to the package: the app's other modules (web, worker, ...) stay home.
CODE = ("__init__.py", "packaged_model.py", "config", "ml")
# The distributions the code above imports, pinned to what trained the model; MLflow adds itself.
REQUIREMENTS = ("cloudpickle", "lightgbm", "numpy", "optuna", "pandas", "scikit-learn", "scipy")
EXAMPLE_ROWS = 5

# Dates and timestamps in the input example: ISO 8601 text, as a CSV holds them.
ISO_FORMATS = {"date": "%Y-%m-%d", "timestamp": "%Y-%m-%dT%H:%M:%S"}


class PredictionTable(PythonModel):
    """The fitted pipeline, answering every caller with the table the app's CSV download holds."""

    def __init__(
        self, pipeline: Any, target: str, input_schema: Mapping[str, str], time_formats: Mapping[str, str] | None = None
    ):
        self.pipeline = pipeline
        self.target = target
        self.input_schema = dict(input_schema)
        self.time_formats = dict(time_formats or {})

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        missing = [column for column in used_columns(self.pipeline) if column not in model_input]
        if missing:
            raise ValueError(
                f"the rows have no column(s) {missing}, which the model reads; it reads "
                f"{used_columns(self.pipeline)} (of {list(self.input_schema)})"
            )
        # Versions packaged before time formats were recorded read every date as ISO 8601.
        time_formats = getattr(self, "time_formats", {})
        return predict_table(
            self.pipeline, typed(pd.DataFrame(model_input), self.input_schema, time_formats), self.target
        )


def typed(
    frame: pd.DataFrame, input_schema: Mapping[str, str], time_formats: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The columns read as the app reads an upload's (ml/values.py); a ValueError naming any that cannot be."""
    frame = frame.copy()
    for column in (column for column in input_schema if column in frame):
        values, unreadable = read_as(frame[column], input_schema[column], (time_formats or {}).get(column))
        if unreadable.any():
            examples = frame[column][unreadable].astype(str).unique()[:3].tolist()
            raise ValueError(f"column {column!r} expects {input_schema[column]} but holds e.g. {examples}")
        frame[column] = values
    return frame


def signature(pipeline: Any, target: str, example: pd.DataFrame) -> ModelSignature:
    """The prediction table's columns, and no input schema: callers hand over columns as their tools typed them
    (pandas reads whole numbers in a float column as int64, and a number column with a gap as float64; BigQuery gives
    dates as dates), which MLflow's types refuse (`double` refuses int64, `long` a missing value), and `mlflow models
    serve` cannot read a CSV against its `any` type. The model reads each column as the app reads an upload and names
    any column it lacks or cannot read; the columns and their types are in the input example and the version's
    input_schema tag."""
    return ModelSignature(
        inputs=None, outputs=infer_signature(model_output=predict_table(pipeline, example, target)).outputs
    )


def as_signature_types(frame: pd.DataFrame, input_schema: Mapping[str, str]) -> pd.DataFrame:
    """Rows typed as the signature says (plain numpy types), for an input example MLflow can write and check."""
    plain = {"string": object, "integer": "float64", "float": "float64", "boolean": object}
    example = pd.DataFrame(index=frame.index)
    for column in (column for column in input_schema if column in frame):
        kind = input_schema[column]
        values = frame[column]
        example[column] = values.dt.strftime(ISO_FORMATS[kind]) if kind in ISO_FORMATS else values.astype(plain[kind])
    return example.astype(object).where(example.notna(), None)


def requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in REQUIREMENTS]


def log_packaged_model(pipeline: Any, served_as: Any, name: str) -> Any:
    """Log the model in the active run, answering as `served_as` (the registry's ServedAs) says; MLflow's ModelInfo."""
    target, input_schema, time_formats = served_as.target, served_as.input_schema, served_as.time_formats
    example = as_signature_types(served_as.example.head(EXAMPLE_ROWS).reset_index(drop=True), input_schema)
    with tempfile.TemporaryDirectory() as staging:
        code = Path(staging) / PACKAGE.name
        for part in CODE:
            source, copy = PACKAGE / part, code / part
            if source.is_dir():
                shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, copy)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=PredictionTable(pipeline, target, input_schema, time_formats),
            code_paths=[str(code)],
            pip_requirements=requirements(),
            signature=signature(pipeline, target, typed(example, input_schema, time_formats)),
            input_example=example,
        )
