"""Predictions: the predicted value, and for classification the probability of each class."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline


def used_columns(model: Pipeline) -> list[str]:
    """The input columns the model's preprocessing reads (ignored columns may be left out)."""
    return list(column_roles(model))


def column_roles(model: Pipeline) -> dict[str, str]:
    """Each input column the model reads, with the role its preprocessing gives it: numeric, categorical, text or
    datetime."""
    preprocessor = model.named_steps["features"]
    return {
        column: "text" if name.startswith("text_") else name
        for name, _, columns in preprocessor.transformers_
        if name != "remainder"
        for column in columns
    }


def predict_scores(model: Pipeline, features: pd.DataFrame) -> np.ndarray:
    """Class probabilities (a row per input row, a column per class) for a classifier; values for a regressor."""
    return model.predict_proba(features) if hasattr(model, "predict_proba") else model.predict(features)


def predicted_values(model: Pipeline, scores: np.ndarray) -> np.ndarray:
    # The predicted class is the likeliest one: deriving it from the probabilities runs the preprocessing once.
    return model.classes_[scores.argmax(axis=1)] if scores.ndim == 2 else scores


def prediction_columns(model: Pipeline, target: str) -> list[str]:
    """What predict_table writes: `predicted_<target>`, then `probability_<class>` for each class if it has them."""
    classes = model.classes_ if hasattr(model, "predict_proba") else []
    return [f"predicted_{target}", *(f"probability_{label}" for label in classes)]


def predict_table(model: Pipeline, features: pd.DataFrame, target: str) -> pd.DataFrame:
    """One row per input row, with the prediction_columns."""
    scores = predict_scores(model, features)
    predicted, *probabilities = prediction_columns(model, target)
    table = pd.DataFrame({predicted: predicted_values(model, scores)}, index=features.index)
    for position, column in enumerate(probabilities):
        table[column] = scores[:, position].round(6)
    return table


def prediction_records(model: Pipeline, scores: np.ndarray, target: str) -> list[dict[str, Any]]:
    """The predictions as JSON objects: `predicted_<target>`, and for classification `probabilities` by class."""
    predicted = f"predicted_{target}"
    values = predicted_values(model, scores).tolist()
    if scores.ndim == 1:
        return [{predicted: value} for value in values]
    classes = model.classes_.tolist()
    return [
        {predicted: value, "probabilities": dict(zip(classes, row, strict=True))}
        for value, row in zip(values, scores.round(6).tolist(), strict=True)
    ]
