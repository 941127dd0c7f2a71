"""Scores by name, and which direction is better for each."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics

GREATER_IS_BETTER = {
    "f1_weighted": True,
    "f1_macro": True,
    "accuracy": True,
    "roc_auc": True,
    "rmse": False,
    "mae": False,
    "r2": True,
}


def greater_is_better(score_type: str) -> bool:
    try:
        return GREATER_IS_BETTER[score_type]
    except KeyError:
        raise ValueError(f"unknown score_type {score_type!r}; expected one of {sorted(GREATER_IS_BETTER)}") from None


def score(model, features: pd.DataFrame, truth: pd.Series, score_type: str) -> float:
    """`model`'s score on these rows: anything with predict (and predict_proba and classes_ for roc_auc)."""
    classes = list(model.classes_) if score_type == "roc_auc" else None
    return score_predicted(truth, predictions_to_score(model, features, score_type), score_type, classes)


def predictions_to_score(model, features: pd.DataFrame, score_type: str) -> np.ndarray:
    """What `score_type` scores: class probabilities for roc_auc (a column per class of model.classes_), else the
    predictions. Made where the rows are (say, on each Dask worker), scored with `score_predicted` where they meet."""
    return model.predict_proba(features) if score_type == "roc_auc" else np.asarray(model.predict(features))


def score_predicted(truth, predicted: np.ndarray, score_type: str, classes: list | None = None) -> float:
    if score_type == "roc_auc":
        return roc_auc(truth, predicted, classes)
    return score_predictions(truth, predicted, score_type)


def score_outputs(truth: np.ndarray, outputs: np.ndarray, score_type: str, classes: np.ndarray | None = None) -> float:
    """The score of a model's raw outputs: class probabilities (a column per class of `classes`), or values."""
    if classes is None:
        return score_predictions(truth, outputs, score_type)
    if score_type == "roc_auc":
        return roc_auc(truth, outputs, list(classes))
    return score_predictions(truth, np.asarray(classes)[outputs.argmax(axis=1)], score_type)


def score_predictions(truth: pd.Series, predicted: np.ndarray, score_type: str) -> float:
    if score_type == "f1_weighted":
        return float(metrics.f1_score(truth, predicted, average="weighted", zero_division=0))
    if score_type == "f1_macro":
        return float(metrics.f1_score(truth, predicted, average="macro", zero_division=0))
    if score_type == "accuracy":
        return float(metrics.accuracy_score(truth, predicted))
    if score_type == "rmse":
        return float(metrics.root_mean_squared_error(truth, predicted))
    if score_type == "mae":
        return float(metrics.mean_absolute_error(truth, predicted))
    if score_type == "r2":
        return float(metrics.r2_score(truth, predicted))
    greater_is_better(score_type)  # raises for an unknown name
    raise ValueError(f"{score_type} needs probabilities; use score()")


def roc_auc(truth: pd.Series, probabilities: np.ndarray, classes: list) -> float:
    truth = pd.Series(truth).reset_index(drop=True)
    known = truth.isin(classes).to_numpy()  # a class the model never saw has no probability column
    truth, probabilities = truth[known], probabilities[known]
    if len(classes) == 2:
        return float(metrics.roc_auc_score(truth == classes[1], probabilities[:, 1]))
    return float(metrics.roc_auc_score(truth, probabilities, multi_class="ovr", average="weighted", labels=classes))
