"""Train on a Dask cluster, for tables larger than one process can hold: the same kind of model as the search's,
fitted on every training row by LightGBM's own Dask interface, and handed back as an ordinary pipeline.

LightGBM on Dask has no early stopping (and asking for it has left fits hanging), so the rounds are chosen another way:
1. the settings are searched on a sample of the training rows, on one node, by the same search as a local retrain
   (the best single setting is taken: an ensemble would multiply the fits on the cluster);
2. the features step is fitted with the category counts of every training row, gathered on the cluster (text
   vocabularies come from the sample);
3. that setting is fitted on the cluster on the training rows less a validation share (never the gate's held-out rows),
   and its rounds are chosen on that share as the search chooses them: the fewest that score as well as the best
   within the predict budget;
4. and it is fitted again, with those rounds, on every training row.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dask.array as da
import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from dask import delayed
from distributed import KilledWorker
from scipy import sparse
from sklearn.pipeline import Pipeline

from .cost import batch, pipeline_cost, trees
from .features import MISSING_CATEGORY, as_category_strings
from .holdout import time_holdout
from .row_hash import row_hashes
from .scores import score_outputs
from .training import (
    MAX_ROUNDS,
    VALIDATION_FRACTION,
    Fold,
    Search,
    SearchBudget,
    TrainedModel,
    estimator_settings,
    fewest_best_rounds,
    outputs_by_rounds,
)

Progress = Callable[[float], None]
SEARCH_ROWS = 100_000  # the sample the settings are searched on
VALIDATION_ROWS = 200_000  # at most, of the validation share, to choose the rounds on
ROUNDS_BEYOND_SEARCH = 4  # the validation fit grows up to this many times the rounds the sample's best setting took
MIN_ROUNDS = 50
SEARCH_SHARE = 0.6  # of the progress: the search; the fits on the cluster take the rest
FIT_ATTEMPTS = 2  # of a fit on the cluster, before the retrain gives up
MIN_FREQUENCY = 3  # the category encoder's min_frequency (features.build_preprocessor)
logger = logging.getLogger(__name__)


class ClusterTrainingError(ValueError):
    """The rows cannot be trained on the cluster as they are; the message says why."""


def train_on_cluster(
    training: dd.DataFrame,
    rows: int,
    target: str,
    problem_type: str,
    score_type: str,
    budget: SearchBudget,
    seed: int,
    client,
    feature_overrides: Mapping[str, Sequence[str]] | None = None,
    time_column: str | None = None,
    progress: Progress | None = None,
) -> TrainedModel:
    """A model of the `rows` training rows of `training`, spread over the cluster of `client`."""
    started = time.monotonic()
    sample = training.sample(frac=min(1.0, SEARCH_ROWS / rows), random_state=seed).compute().reset_index(drop=True)
    search = Search(
        sample,
        target,
        problem_type,
        score_type,
        budget,
        seed,
        feature_overrides,
        progress=(lambda done: progress(SEARCH_SHARE * done)) if progress else None,
        time_column=time_column,
    )
    searched = search.run()
    best = search.best
    preprocessor = search.preprocessor
    encode_categories_of_all_rows(preprocessor, training, list(search.roles.categorical))

    in_validation = validation_rule(training, time_column)
    validation = training.map_partitions(rows_where, in_validation, True)
    fit_rows = training.map_partitions(rows_where, in_validation, False)
    shown = validation.map_partitions(len).compute().sum()
    if not shown or shown == rows:
        raise ClusterTrainingError(f"the validation share of {rows} training rows holds {shown}: load more rows")
    validation = validation.sample(frac=min(1.0, VALIDATION_ROWS / shown), random_state=seed).compute()

    round_ms = best.cost_ms / best.rounds
    affordable = int(search.model_budget / round_ms) if search.model_budget is not None and round_ms else None
    most_rounds = min(max(MIN_ROUNDS, ROUNDS_BEYOND_SEARCH * best.rounds), affordable or np.inf, MAX_ROUNDS)
    settings = estimator_settings(best.params, seed, int(max(1, most_rounds)))
    categories = search.categories
    validated = fit(fit_rows, preprocessor, target, problem_type, settings, categories, client)
    if progress:
        progress(SEARCH_SHARE + (1 - SEARCH_SHARE) / 2)
    rounds, validation_score = choose_rounds(
        validated,
        preprocessor.transform(validation.drop(columns=[target])),
        validation[target],
        score_type,
        search.better,
        round_ms,
        search.model_budget,
    )
    model = fit(training, preprocessor, target, problem_type, {**settings, "n_estimators": rounds}, categories, client)
    pipeline = Pipeline([("features", preprocessor), ("model", model)])
    timed = sample.drop(columns=[target]).iloc[batch(len(sample))]
    predict_ms = pipeline_cost(pipeline, timed)
    if progress:
        progress(1.0)
    logger.info(
        "trained on the cluster: %d rows, %d rounds (%d trees), %.1f ms per 1,000 rows; validation %s %.4f",
        rows,
        rounds,
        trees(pipeline),
        predict_ms,
        score_type,
        validation_score,
    )
    return TrainedModel(
        model=pipeline,
        roles=search.roles,
        validation_score=validation_score,
        params={**best.params, "n_estimators": rounds, "ensemble_members": 1, "search_rows": len(sample)},
        trials=searched.trials,
        seconds=time.monotonic() - started,
        stopped_because=searched.stopped_because,
        trees=trees(pipeline),
        predict_ms_per_1000_rows=round(predict_ms, 2),
        history=searched.history,
    )


def encode_categories_of_all_rows(preprocessor, training: dd.DataFrame, columns: list[str]) -> None:
    """Refit the category encoder of `preprocessor` (fitted on the sample) to the categories of every training row:
    a category frequent in the whole table but rare in the sample gets its own code, as a local retrain gives it.

    The encoder learns only which categories there are and which are rarer than MIN_FREQUENCY, so it is fitted on
    each category repeated min(its count, MIN_FREQUENCY) times (a column short of the longest is filled up with its
    most frequent category, which is frequent either way)."""
    if not columns:
        return
    counts = training.map_partitions(category_counts, columns, meta=COUNTS_META).compute()
    counts = counts.groupby(["column", "category"], sort=False)["count"].sum()
    repeated = {
        column: np.repeat(found.index.get_level_values("category"), np.minimum(found.to_numpy(), MIN_FREQUENCY))
        for column, found in counts.groupby(level="column", sort=False)
    }
    length = max(len(values) for values in repeated.values())
    summary = np.empty((length, len(columns)), dtype=object)
    for position, column in enumerate(columns):
        values = repeated.get(column, np.array([MISSING_CATEGORY], dtype=object))
        most = counts[column].idxmax() if column in counts.index.get_level_values("column") else MISSING_CATEGORY
        summary[:, position] = np.concatenate([values, np.full(length - len(values), most, dtype=object)])
    encoder = preprocessor.named_transformers_["categorical"][-1]
    encoder.fit(summary)


COUNTS_META = pd.DataFrame(
    {"column": pd.Series(dtype=object), "category": pd.Series(dtype=object), "count": pd.Series(dtype="int64")}
)


def category_counts(partition: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """How often each category (as the encoder reads it) occurs in each of `columns` of a partition."""
    strings = as_category_strings(partition[columns])
    found = [
        pd.DataFrame({"column": column, "category": values, "count": counts})
        for position, column in enumerate(columns)
        for values, counts in [np.unique(strings[:, position].astype(str), return_counts=True)]
    ]
    return pd.concat(found, ignore_index=True) if found else COUNTS_META


def validation_rule(training: dd.DataFrame, time_column: str | None) -> Callable[[pd.DataFrame], np.ndarray]:
    """Which training rows choose the rounds: the newest by time_column, else a share by each row's hash (over every
    column, the target too: unrelated to the hash of the gate's holdout)."""
    if time_column is not None and time_column in training.columns:
        rule = time_holdout(training[[time_column]].compute(), time_column, VALIDATION_FRACTION)
        return rule.mask
    return HashShare(VALIDATION_FRACTION)


class HashShare:
    """A share of rows chosen by their hash; picklable, for the workers."""

    def __init__(self, share: float):
        self.share = share

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        return row_hashes(frame).astype(np.float64) / 2.0**64 < self.share


def rows_where(partition: pd.DataFrame, rule: Callable[[pd.DataFrame], np.ndarray], keep: bool) -> pd.DataFrame:
    return partition[rule(partition) == keep]


def fit(
    frame: dd.DataFrame,
    preprocessor,
    target: str,
    problem_type: str,
    settings: dict[str, Any],
    categories: list[int],
    client,
):
    """LightGBM fitted on every row of `frame` across the cluster, as a local estimator."""
    lengths = frame.map_partitions(len).compute().tolist()
    if sum(lengths) == 0:
        raise ClusterTrainingError("no rows to train on")
    example = preprocessor.transform(frame.head(1, npartitions=-1).drop(columns=[target]))
    width, is_sparse = example.shape[1], sparse.issparse(example)
    shared = delayed(preprocessor, pure=True)  # one copy in the graph, however many partitions use it
    labels_type = np.float64 if problem_type == "regression" else object
    matrices, labels = [], []
    for part, length in zip(frame.to_delayed(), lengths, strict=True):
        if not length:
            continue  # LightGBM's Dask interface fails on an empty part
        matrices.append(
            da.from_delayed(
                delayed(features_of)(part, shared, target),
                shape=(length, width),
                dtype=np.float64,
                meta=sparse.csr_matrix((0, width)) if is_sparse else np.empty((0, width)),
            )
        )
        labels.append(da.from_delayed(delayed(labels_of)(part, target), shape=(length,), dtype=labels_type))
    matrix, label = client.persist([da.concatenate(matrices), da.concatenate(labels)])
    estimator = lgb.DaskLGBMClassifier if problem_type == "classification" else lgb.DaskLGBMRegressor
    for _ in range(FIT_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                # Each worker trains on its own threads: LightGBM says so of the n_jobs that every estimator carries.
                warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored")
                fitted = estimator(client=client, **settings).fit(matrix, label, categorical_feature=categories)
            return fitted.to_local()
        except (lgb.basic.LightGBMError, KilledWorker) as error:
            # LightGBM's workers train as one network: when one is lost (its process crashed here once in several
            # runs, at the start of a fit), the others fail. Dask restarts the lost worker and recomputes its rows.
            failure = error
            logger.warning("LightGBM failed on the cluster (%s)", error)
    raise ClusterTrainingError(f"LightGBM failed on the cluster {FIT_ATTEMPTS} times: {failure}") from failure


def features_of(partition: pd.DataFrame, preprocessor, target: str):
    matrix = preprocessor.transform(partition.drop(columns=[target]))
    return matrix.tocsr() if sparse.issparse(matrix) else np.asarray(matrix, dtype=np.float64)


def labels_of(partition: pd.DataFrame, target: str) -> np.ndarray:
    return partition[target].to_numpy()


def choose_rounds(
    estimator, matrix, truth: pd.Series, score_type: str, better, round_ms: float, budget: float | None
) -> tuple[int, float]:
    """The rounds of `estimator` to keep, chosen on validation rows as the search chooses them, and their score."""
    rows = np.arange(len(truth))
    truth = truth.to_numpy()
    if hasattr(estimator, "classes_"):
        classes = np.unique(np.concatenate([estimator.classes_, truth]).astype(object))
        codes = np.searchsorted(classes, truth)
        known = np.searchsorted(classes, estimator.classes_)
        fold = Fold(rows[:0], rows, rows, codes[:0], codes, known)
        measured = lambda outputs: score_outputs(codes, outputs, score_type, np.arange(len(classes)))  # noqa: E731
    else:
        classes = None
        fold = Fold(rows[:0], rows, rows, truth[:0], truth, None)
        measured = lambda outputs: score_outputs(truth, outputs, score_type)  # noqa: E731
    choices = {
        rounds: (measured(outputs), outputs)
        for rounds, outputs in outputs_by_rounds([estimator], [fold], matrix, len(rows), classes, threads=1)
    }
    rounds = fewest_best_rounds(choices, better, round_ms, budget)
    return rounds, choices[rounds][0]
