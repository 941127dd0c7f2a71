"""What a prediction costs: milliseconds per 1,000 rows on one thread, measured on real rows.

Every upload to /predict and every single-row request pays for the model's trees, so a model's cost is chosen with
its score (training.py) and recorded with it. It is measured on a batch of MEASURED_ROWS rows (the rows given,
repeated), as a large upload or a batch scoring pays it: each call also has a fixed cost, some milliseconds of pandas
and scikit-learn checking the frame, which the online path for a few records does not pay (record_scorer.py).
Timings are the CPU time of the measuring thread, the quickest of a few runs: a machine busy with something else
(another retrain, the tests of a CI run) would otherwise make the same model look dearer and change which one is picked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

MEASURED_ROWS = 5000  # enough rows that the cost per row, not per call, is measured
REPEATS = 3
# A run this long is measured well enough alone: a dear model (thousands of trees) took a minute to measure 3 times.
ENOUGH_SECONDS = 1.0


def ms_per_1000_rows(predict: Callable[[], object], rows: int) -> float:
    """The cost of `predict()`, which predicts `rows` rows: the quickest of a few runs (or of those that fit in
    ENOUGH_SECONDS), per 1,000 rows."""
    quickest, spent = float("inf"), 0.0
    for _ in range(REPEATS):
        started = time.thread_time()
        predict()
        took = time.thread_time() - started
        quickest, spent = min(quickest, took), spent + took
        if spent >= ENOUGH_SECONDS:
            break
    return quickest / max(1, rows) * 1e6


def lightgbm_models(model: Pipeline) -> list:
    """The LightGBM models a pipeline predicts with: its model, or each member of its ensemble."""
    step = model.named_steps["model"]
    return [member for _, member in step.members] if hasattr(step, "members") else [step]


def trees(model: Pipeline) -> int:
    """The trees a prediction walks through: every class's, of every member."""
    return sum(estimator.booster_.num_trees() for estimator in lightgbm_models(model))


@contextmanager
def one_thread(model: Pipeline) -> Iterator[None]:
    """The pipeline's models predicting on one thread while inside, as a web process serving one request does."""
    estimators = lightgbm_models(model)
    threads = [estimator.n_jobs for estimator in estimators]
    for estimator in estimators:
        estimator.set_params(n_jobs=1)
    try:
        yield
    finally:
        for estimator, count in zip(estimators, threads, strict=True):
            estimator.set_params(n_jobs=count)


def batch(rows: int) -> np.ndarray:
    """Positions of MEASURED_ROWS rows among `rows`: each in turn, again from the first once all were taken."""
    return np.resize(np.arange(rows), MEASURED_ROWS)


def pipeline_cost(model: Pipeline, features: pd.DataFrame) -> float:
    """Milliseconds the whole pipeline (preprocessing and model) takes per 1,000 of these rows, on one thread."""
    rows = features.iloc[batch(len(features))]
    predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    with one_thread(model):
        return ms_per_1000_rows(lambda: predict(rows), len(rows))
