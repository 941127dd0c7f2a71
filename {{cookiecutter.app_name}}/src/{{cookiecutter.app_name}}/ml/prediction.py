"""Predictions as a table: the predicted value, and for classification the probability of each class."""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline


def used_columns(model: Pipeline) -> list[str]:
    """The input columns the model's preprocessing reads (ignored columns may be left out)."""
    preprocessor = model.named_steps["features"]
    return [column for name, _, columns in preprocessor.transformers_ if name != "remainder" for column in columns]


def predict_table(model: Pipeline, features: pd.DataFrame, target: str) -> pd.DataFrame:
    """One row per input row: `predicted_<target>`, then `probability_<class>` for each class if it has them."""
    if not hasattr(model, "predict_proba"):
        return pd.DataFrame({f"predicted_{target}": model.predict(features)}, index=features.index)
    # The predicted class is the likeliest one: deriving it from the probabilities runs the preprocessing once.
    probabilities = model.predict_proba(features)
    table = pd.DataFrame({f"predicted_{target}": model.classes_[probabilities.argmax(axis=1)]}, index=features.index)
    for position, label in enumerate(model.classes_):
        table[f"probability_{label}"] = probabilities[:, position].round(6)
    return table
