"""What a registered version carries so that any MLflow tool can load and serve it without this app installed.

A pyfunc model that answers with the app's own prediction table (`predicted_<target>`, and a `probability_<class>`
column per class), the code its pickle refers to (this module, `ml/` and the package's `__init__.py`, as MLflow
`code_paths`), requirements pinned to the versions it was trained with, a signature and an input example. So
`mlflow models serve -m models:/<model>@<environment>` in a venv of MLflow and the model's requirements.txt works.

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
from mlflow.types import ColSpec, Schema

from .ml import predict_table, used_columns
from .ml.values import read_as

PACKAGE = Path(__file__).parent
# The files the pickle needs, relative to the package: the app's other modules (web, worker, ...) stay home.
CODE = ("__init__.py", "packaged_model.py", "ml")
# The distributions the code above imports, pinned to what trained the model; MLflow adds itself.
REQUIREMENTS = ("cloudpickle", "lightgbm", "numpy", "optuna", "pandas", "scikit-learn", "scipy")
EXAMPLE_ROWS = 5

# The app's column types (config/app_config.yml `schema`) in MLflow's words. MLflow's long cannot be missing, so
# integers travel as doubles; its datetime refuses offsets and cannot be read from a CSV, so dates and timestamps
# travel as ISO 8601 text. Whatever MLflow hands over is then read as the app reads an upload (`typed`).
SIGNATURE_TYPES = {
    "string": "string",
    "integer": "double",
    "float": "double",
    "boolean": "boolean",
    "date": "string",
    "timestamp": "string",
}
ISO_FORMATS = {"date": "%Y-%m-%d", "timestamp": "%Y-%m-%dT%H:%M:%S"}


class PredictionTable(PythonModel):
    """The fitted pipeline, answering every caller with the table the app's CSV download holds."""

    def __init__(self, pipeline: Any, target: str, input_schema: Mapping[str, str]):
        self.pipeline = pipeline
        self.target = target
        self.input_schema = dict(input_schema)

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return predict_table(self.pipeline, typed(pd.DataFrame(model_input), self.input_schema), self.target)


def typed(frame: pd.DataFrame, input_schema: Mapping[str, str]) -> pd.DataFrame:
    """The columns read as the app reads an upload's (ml/values.py); a ValueError naming any that cannot be."""
    frame = frame.copy()
    for column in (column for column in input_schema if column in frame):
        values, unreadable = read_as(frame[column], input_schema[column])
        if unreadable.any():
            examples = frame[column][unreadable].astype(str).unique()[:3].tolist()
            raise ValueError(f"column {column!r} expects {input_schema[column]} but holds e.g. {examples}")
        frame[column] = values
    return frame


def signature(pipeline: Any, target: str, input_schema: Mapping[str, str], example: pd.DataFrame) -> ModelSignature:
    """Every input column with its type (those the model ignores may be left out), and the prediction table's."""
    used = set(used_columns(pipeline))
    inputs = Schema(
        [ColSpec(SIGNATURE_TYPES[kind], column, required=column in used) for column, kind in input_schema.items()]
    )
    outputs = infer_signature(model_output=predict_table(pipeline, example, target)).outputs
    return ModelSignature(inputs=inputs, outputs=outputs)


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


def log_packaged_model(
    pipeline: Any, target: str, input_schema: Mapping[str, str], example: pd.DataFrame, name: str
) -> Any:
    """Log the model in the active run; MLflow's ModelInfo."""
    example = as_signature_types(example.head(EXAMPLE_ROWS).reset_index(drop=True), input_schema)
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
            python_model=PredictionTable(pipeline, target, input_schema),
            code_paths=[str(code)],
            pip_requirements=requirements(),
            signature=signature(pipeline, target, input_schema, typed(example, input_schema)),
            input_example=example,
        )
