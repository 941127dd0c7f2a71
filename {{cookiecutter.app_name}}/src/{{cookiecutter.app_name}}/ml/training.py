"""Train a model: preprocessing fitted once, a time-boxed Optuna search over LightGBM, an ensemble of the best few
settings, each refitted on every row.

How settings are compared depends on the rows: with a time column, on the newest rows (the model will meet rows
newer than it learnt from); else by k-fold cross-validation while the rows are few enough for it (every row is
validated on once, so small tables give steady scores), or on one random share of a large table. LightGBM's own
defaults come first, as they are; every setting the search tries is trained with early stopping. The ensemble is
picked greedily from the best settings' validation predictions (adding, with repeats, whichever setting improves
the average most), then each picked setting is refitted on all rows with the trees early stopping chose.

Up to `workers` trials run at once, and each is told to the search in the order it was asked: for a given seed and
data the search asks for the same parameters in the same order however fast each trial runs, so the result is
deterministic unless the wall-clock budget cuts the search short.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder

from .ensemble import AveragedModels
from .features import ColumnRoles, build_preprocessor, categorical_positions, infer_roles
from .metrics import greater_is_better, score_outputs

Progress = Callable[[float], None]  # fraction of the search done, 0..1
VALIDATION_FRACTION = 0.15  # of a large table, or the newest rows of a table with a time column
MOST_ROWS_TO_CROSS_VALIDATE = 10_000  # more rows give steady scores on one share, and k fits would cost k times
MAX_TREES = 2000
EARLY_STOPPING_ROUNDS = 30  # LightGBM diverges on some multiclass tables without it
REFIT_TREES = 1.1  # a refit on all rows learns from more rows than early stopping saw: a few more trees
NOTABLE_GAIN = 0.003  # a better validation score by less than 0.3 % does not restart the search's patience
ENSEMBLE_CANDIDATES = 10  # the best settings the ensemble is picked from
ENSEMBLE_PICKS = 20
# Tried first, as they are: LightGBM's own defaults, 100 trees and all. Early stopping watches the log loss, which
# often settles before a score that counts right answers (f1, accuracy) does; these trees have not been cut short.
LIGHTGBM_DEFAULTS = {"learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20, "colsample_bytree": 1.0,
                     "subsample": 1.0, "reg_lambda": 0.0}  # fmt: skip
LIGHTGBM_DEFAULT_TREES = 100
# Then the search starts from the same with early stopping, and from a slower-learning, finer one.
FIRST_PARAMS = (
    {**LIGHTGBM_DEFAULTS, "reg_lambda": 1e-3},
    {"learning_rate": 0.05, "num_leaves": 63, "min_child_samples": 10, "colsample_bytree": 0.8, "subsample": 0.9,
     "reg_lambda": 1.0},
)  # fmt: skip

optuna.logging.set_verbosity(optuna.logging.WARNING)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchBudget:
    max_seconds: float
    patience: int  # stop after this many trials without a better validation score
    workers: int = 1
    max_trials: int = 200
    folds: int = 5  # of the cross-validation of a small table without a time column; 1: one validation share


@dataclass
class TrainedModel:
    model: Pipeline
    roles: ColumnRoles
    validation_score: float  # of the ensemble, on the validation rows
    params: dict[str, Any]  # the best setting's, with its trees and the ensemble's size
    trials: int
    seconds: float
    stopped_because: str
    history: list[float] = field(default_factory=list)  # each trial's validation score, in order


@dataclass
class Trial:
    params: dict[str, Any]
    score: float
    predictions: np.ndarray  # on the validation rows: class probabilities, or values
    trees: int  # what early stopping chose, on average over the splits
    seconds: float


def split_features(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target]), frame[target]


def stratify_by(truth: pd.Series, problem_type: str, share: float) -> pd.Series | None:
    """Stratify a classification split when every class has two rows to share out and the share can hold them all."""
    counts = truth.value_counts()
    if problem_type == "classification" and counts.min() >= 2 and len(truth) * share >= len(counts):
        return truth
    return None


def validation_splits(
    features: pd.DataFrame, truth: pd.Series, problem_type: str, seed: int, folds: int, time_column: str | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, validation rows) pairs, as positions: the newest rows with a time column; else k folds of a small
    table, or one random share of a large one (stratified for classification where the classes allow)."""
    rows = np.arange(len(features))
    if time_column is not None and time_column in features.columns:
        newest = features[time_column].rank(method="first", na_option="top") > len(features) * (1 - VALIDATION_FRACTION)
        if 0 < newest.sum() < len(features):
            return [(rows[~newest.to_numpy()], rows[newest.to_numpy()])]
    if folds > 1 and 2 * folds <= len(features) <= MOST_ROWS_TO_CROSS_VALIDATE:
        stratified = problem_type == "classification" and truth.value_counts().min() >= folds
        splitter = StratifiedKFold if stratified else KFold
        return list(splitter(folds, shuffle=True, random_state=seed).split(rows, truth if stratified else None))
    fit, valid = train_test_split(
        rows,
        test_size=VALIDATION_FRACTION,
        random_state=seed,
        stratify=stratify_by(truth, problem_type, VALIDATION_FRACTION),
    )
    return [(np.sort(fit), np.sort(valid))]


def train_model(
    frame: pd.DataFrame,
    target: str,
    problem_type: str,
    score_type: str,
    budget: SearchBudget,
    seed: int,
    feature_overrides: Mapping[str, Sequence[str]] | None = None,
    progress: Progress | None = None,
    time_column: str | None = None,
) -> TrainedModel:
    started = time.monotonic()
    # The model takes every column but the target; its preprocessing drops the ignored ones itself,
    # so callers can pass rows exactly as they are stored or uploaded.
    features, truth = split_features(frame, target)
    roles = infer_roles(frame, target, feature_overrides)
    preprocessor = build_preprocessor(roles).fit(features)
    matrix = preprocessor.transform(features)
    categories = categorical_positions(roles)
    classes: np.ndarray | None = None
    labels = truth.to_numpy(dtype="float64") if problem_type == "regression" else truth.to_numpy(dtype=object)
    final_labels = labels
    if problem_type == "classification":
        # Integer labels: LightGBM's eval_y does not encode text labels itself, and folds may miss a class.
        encoder = LabelEncoder().fit(truth)
        classes, labels = encoder.classes_, encoder.transform(truth)
    splits = validation_splits(features, truth, problem_type, seed, budget.folds, time_column)
    validated = np.concatenate([valid for _, valid in splits])
    threads = (os.cpu_count() or 1) if budget.workers == 1 else 1
    codes = np.arange(len(classes)) if classes is not None else None
    refit_share = len(labels) / max(1, np.mean([len(fit) for fit, _ in splits]))
    trials: list[Trial] = []
    best: Trial | None = None
    search_over = threading.Event()

    def time_is_up() -> bool:
        # The refits come after the search, within the budget: keep time for the best setting's, twice over.
        refit_seconds = 2 * best.seconds / len(splits) * refit_share if best else 0.0
        return time.monotonic() - started + refit_seconds >= budget.max_seconds

    def measure(predictions: np.ndarray) -> float:
        return score_outputs(labels[validated], predictions[validated], score_type, codes)

    def evaluate(params: dict[str, Any], fixed_trees: int | None = None) -> Trial:
        """Fit on each split's fit rows, early-stopped on its validation rows (or with `fixed_trees`), and score."""
        trial_started = time.monotonic()
        predictions = np.zeros((len(labels), len(classes)) if classes is not None else len(labels))
        trees = []
        stopping = [] if fixed_trees else [lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)]
        for fit, valid in splits:
            estimator = make_estimator(problem_type, params, seed, threads, fixed_trees or MAX_TREES)
            estimator.fit(
                matrix[fit],
                labels[fit],
                eval_X=(matrix[valid],),
                eval_y=(labels[valid],),
                categorical_feature=categories,
                callbacks=[*stopping, stop_when(lambda: search_over.is_set() or time_is_up())],
            )
            predictions[valid] = predict_all_classes(estimator, matrix[valid], classes)
            trees.append(estimator.best_iteration_ or estimator.n_estimators)
        seconds = time.monotonic() - trial_started
        return Trial(params, measure(predictions), predictions, max(1, round(float(np.mean(trees)))), seconds)

    direction = "maximize" if greater_is_better(score_type) else "minimize"
    better = (lambda a, b: a > b) if direction == "maximize" else (lambda a, b: a < b)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    for params in FIRST_PARAMS:
        study.enqueue_trial(params)

    def settings_to_try() -> Iterator[tuple[optuna.trial.Trial | None, dict[str, Any], int | None]]:
        """LightGBM's own defaults, as they are, then whatever the search asks for."""
        yield None, LIGHTGBM_DEFAULTS, LIGHTGBM_DEFAULT_TREES
        while True:
            asked = study.ask()
            yield asked, suggest(asked), None

    since_better, stopped_because, done = 0, "max trials", 0.0

    def record(asked: optuna.trial.Trial | None, trial: Trial) -> bool:
        """Tell the search how a trial scored; whether the search is over."""
        nonlocal best, since_better, stopped_because, done
        if asked is not None:
            study.tell(asked, trial.score)
        trials.append(trial)
        if best is None:
            best = trial
        elif better(trial.score, best.score):
            # Patience restarts only for a gain worth the wait: on a table the search has all but
            # exhausted, settings keep winning by hairs that no ensemble or test would notice.
            worth_waiting = abs(trial.score - best.score) > NOTABLE_GAIN * abs(best.score)
            best, since_better = trial, 0 if worth_waiting else since_better + 1
        else:
            since_better += 1
        done = min(1.0, max(done, since_better / budget.patience, (time.monotonic() - started) / budget.max_seconds))
        if progress:
            progress(done)
        if since_better >= budget.patience:
            stopped_because = f"no better score in {budget.patience} models"
        elif time_is_up():
            stopped_because = f"time budget of {budget.max_seconds:.0f} s"
        else:
            return False
        return True

    # One worker trains in this thread: LightGBM's OpenMP team must live in one thread only, since idle teams
    # left behind in other threads spin and slowed later fits tenfold here. Several workers train one thread each.
    with ThreadPoolExecutor(max_workers=budget.workers) if budget.workers > 1 else InThisThread() as pool:
        try:
            run_in_order(settings_to_try(), evaluate, record, pool, budget.workers, budget.max_trials)
        finally:
            # Trials after the one that ended the search (or after an error) stop at once and are not heard: the
            # search's result must not depend on how far they got.
            search_over.set()

        weights, validation_score = pick_ensemble(trials, measure, better)

        # Refitted on the real labels: the model then predicts them, and its classes_ are in the encoder's order.
        # By the same workers, side by side: LightGBM on all cores in this thread, after the workers' threads have
        # used it, ran four times slower here.
        def refit(index: int):
            return fit_estimator(problem_type, trials[index], seed, matrix, final_labels, categories, threads)

        members = list(zip(weights.values(), pool.map(refit, weights), strict=True))
    model = Pipeline([("features", preprocessor), ("model", AveragedModels(members) if len(members) > 1 else
                                                           members[0][1])])  # fmt: skip
    logger.info(
        "search stopped (%s) after %d models; ensemble of %d; validation %s %.4f",
        stopped_because,
        len(trials),
        len(members),
        score_type,
        validation_score,
    )
    return TrainedModel(
        model=model,
        roles=roles,
        validation_score=validation_score,
        params={**best.params, "n_estimators": best.trees, "ensemble_members": len(members)},
        trials=len(trials),
        seconds=time.monotonic() - started,
        stopped_because=stopped_because,
        history=[trial.score for trial in trials],
    )


def run_in_order(
    upcoming: Iterator[tuple[Any, dict[str, Any], int | None]],
    evaluate: Callable[..., Trial],
    record: Callable[[Any, Trial], bool],
    pool: Executor,
    workers: int,
    max_trials: int,
) -> None:
    """Run the upcoming (asked, params, fixed trees) trials on `workers` at once, and `record` each in the order it
    was asked until `record` says the search is over.

    Each trial is asked for as soon as the one 2 x workers - 1 places before it is recorded, and started when a
    worker is free: a worker need not wait for an older, slower trial to end, and yet every trial is asked knowing
    the same earlier ones, so for a seed and data the search asks for the same settings however fast each runs.
    """
    ahead = 2 * workers - 1
    waiting: deque[tuple[int, Any, dict[str, Any], int | None]] = deque()
    started: dict[int, tuple[Any, Future[Trial]]] = {}
    recorded = 0

    def ask_ahead() -> None:
        asked = recorded + len(started) + len(waiting)
        for index in range(asked, min(max_trials, recorded + ahead)):
            waiting.append((index, *next(upcoming)))

    ask_ahead()
    while True:
        busy = sum(not future.done() for _, future in started.values())
        while waiting and busy < workers:
            index, question, params, fixed_trees = waiting.popleft()
            started[index] = (question, pool.submit(evaluate, params, fixed_trees))
            busy += 1
        if recorded not in started:
            return  # every trial allowed has been recorded
        wait([future for _, future in started.values() if not future.done()], return_when=FIRST_COMPLETED)
        while recorded in started and started[recorded][1].done():
            question, future = started.pop(recorded)
            recorded += 1
            if record(question, future.result()):
                return
            ask_ahead()


def pick_ensemble(trials: list[Trial], measure, better) -> tuple[dict[int, float], float]:
    """Weights of the trials whose averaged validation predictions score best, picked greedily with repeats from
    the best few (Caruana et al., 2004), starting from the best one alone."""
    ranked = sorted(range(len(trials)), key=lambda i: trials[i].score, reverse=better(1, 0))[:ENSEMBLE_CANDIDATES]
    picked = [ranked[0]]
    total, current = trials[ranked[0]].predictions.copy(), trials[ranked[0]].score
    for _ in range(ENSEMBLE_PICKS - 1):
        scores = {i: measure((total + trials[i].predictions) / (len(picked) + 1)) for i in ranked}
        candidate = ranked[0]
        for i in ranked:
            if better(scores[i], scores[candidate]):
                candidate = i
        if not better(scores[candidate], current):
            break
        picked.append(candidate)
        total += trials[candidate].predictions
        current = scores[candidate]
    weights = {index: picked.count(index) / len(picked) for index in dict.fromkeys(picked)}
    return weights, current


def predict_all_classes(estimator, matrix, classes: np.ndarray | None) -> np.ndarray:
    """Predicted values, or the probability of every class (a fold may have lacked some: they get 0)."""
    if classes is None:
        return estimator.predict(matrix)
    probabilities = np.zeros((matrix.shape[0], len(classes)))
    probabilities[:, estimator.classes_] = estimator.predict_proba(matrix)
    return probabilities


def fit_estimator(
    problem_type: str, trial: Trial, seed: int, matrix, labels: np.ndarray, categories: list[int], threads: int
):
    """The trial's setting refitted on every row, with the trees early stopping chose (and a few more)."""
    trees = max(1, math.ceil(trial.trees * REFIT_TREES))
    estimator = make_estimator(problem_type, trial.params, seed, threads, trees)
    return estimator.fit(matrix, labels, categorical_feature=categories)


def stop_when(should_stop: Callable[[], bool]) -> Callable:
    """A LightGBM callback that ends training once `should_stop()`, keeping the trees grown so far.

    Without it one slow model on a large table could overrun the whole search budget.
    """

    def callback(env: lgb.callback.CallbackEnv) -> None:
        if should_stop():
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callback.order = 40  # after early stopping has had its say on this iteration
    return callback


class InThisThread(Executor):
    """Runs each task in the calling thread as it is submitted: the search's single worker."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to whoever asks for the result, as a thread pool would
            future.set_exception(error)
        return future


def suggest(trial: optuna.trial.Trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 2, 100, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }


def make_estimator(problem_type: str, params: Mapping[str, Any], seed: int, threads: int, trees: int):
    estimator = lgb.LGBMClassifier if problem_type == "classification" else lgb.LGBMRegressor
    return estimator(
        **params,
        n_estimators=trees,
        subsample_freq=1,
        random_state=seed,
        n_jobs=threads,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
    )
