"""Train a model: preprocessing fitted once, then a time-boxed Optuna search over LightGBM, then a refit.

Trials run in batches of `workers` so that, for a given seed and data, the search asks for the same
parameters in the same order however fast each trial finishes: the result is deterministic unless
the wall-clock budget cuts the search short.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import optuna
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder

from .features import ColumnRoles, build_preprocessor, infer_roles
from .metrics import greater_is_better, score

Progress = Callable[[float], None]  # fraction of the search done, 0..1
VALIDATION_FRACTION = 0.15
MAX_TREES = 2000
EARLY_STOPPING_ROUNDS = 30  # LightGBM diverges on some multiclass tables without it
DEFAULT_PARAMS = {
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_child_samples": 20,
    "colsample_bytree": 1.0,
    "subsample": 1.0,
    "reg_lambda": 1e-3,
}

optuna.logging.set_verbosity(optuna.logging.WARNING)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchBudget:
    max_seconds: float
    patience: int  # stop after this many trials without a better validation score
    workers: int = 1
    max_trials: int = 200


@dataclass
class TrainedModel:
    model: Pipeline
    roles: ColumnRoles
    validation_score: float
    params: dict[str, Any]
    trials: int
    seconds: float
    stopped_because: str
    history: list[float] = field(default_factory=list)


def split_features(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target]), frame[target]


def stratify_by(truth: pd.Series, problem_type: str, share: float) -> pd.Series | None:
    """Stratify a classification split when every class has two rows to share out and the share can hold them all."""
    counts = truth.value_counts()
    if problem_type == "classification" and counts.min() >= 2 and len(truth) * share >= len(counts):
        return truth
    return None


def validation_split(
    features: pd.DataFrame, truth: pd.Series, problem_type: str, seed: int, time_column: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Rows to fit on and rows to early-stop and compare settings on: the newest with a time column, as the model
    will meet newer rows than it learnt from; else a (stratified) random share.

    A class seen only once stays in the fitting rows: the model cannot be checked on a label it never learnt.
    """
    if time_column is not None and time_column in features.columns:
        newest = features[time_column].rank(method="first", na_option="top") > len(features) * (1 - VALIDATION_FRACTION)
        if 0 < newest.sum() < len(features):
            return features[~newest], features[newest], truth[~newest], truth[newest]
    single = pd.Series(False, index=truth.index)
    if problem_type == "classification":
        single = truth.map(truth.value_counts()) < 2
    fit_x, valid_x, fit_y, valid_y = train_test_split(
        features[~single],
        truth[~single],
        test_size=VALIDATION_FRACTION,
        random_state=seed,
        stratify=stratify_by(truth[~single], problem_type, VALIDATION_FRACTION),
    )
    return pd.concat([fit_x, features[single]]), valid_x, pd.concat([fit_y, truth[single]]), valid_y


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
    fit_x, valid_x, fit_y, valid_y = validation_split(features, truth, problem_type, seed, time_column)
    preprocessor = build_preprocessor(roles).fit(fit_x)
    fit_matrix, valid_matrix = preprocessor.transform(fit_x), preprocessor.transform(valid_x)
    if problem_type == "classification":
        # Integer labels for the search: LightGBM's eval_y does not encode text labels itself.
        # Scores are the same on codes; the final refit below learns the real labels.
        encoder = LabelEncoder().fit(truth)
        fit_y, valid_y = encoder.transform(fit_y), encoder.transform(valid_y)
    threads = (os.cpu_count() or 1) if budget.workers == 1 else 1
    deadline = started + budget.max_seconds

    def evaluate(params: dict[str, Any]) -> tuple[float, int]:
        estimator = make_estimator(problem_type, params, seed, threads, MAX_TREES)
        estimator.fit(
            fit_matrix,
            fit_y,
            eval_X=(valid_matrix,),
            eval_y=(valid_y,),
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False), stop_at(deadline)],
        )
        return score(estimator, valid_matrix, valid_y, score_type), max(1, estimator.best_iteration_ or MAX_TREES)

    direction = "maximize" if greater_is_better(score_type) else "minimize"
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(DEFAULT_PARAMS)
    best: tuple[float, dict[str, Any], int] | None = None
    since_better, history, stopped_because, done = 0, [], "max trials", 0.0
    # One worker trains in this thread: LightGBM's OpenMP team must live in one thread only, since idle teams
    # left behind in other threads spin and slowed later fits tenfold here. Several workers train one thread each.
    with ThreadPoolExecutor(max_workers=budget.workers) if budget.workers > 1 else nullcontext() as pool:
        run_batch = pool.map if pool else map
        while len(history) < budget.max_trials:
            trials = [study.ask() for _ in range(min(budget.workers, budget.max_trials - len(history)))]
            params = [suggest(trial) for trial in trials]
            for trial, trial_params, (value, trees) in zip(trials, params, run_batch(evaluate, params), strict=True):
                study.tell(trial, value)
                history.append(value)
                if best is None or (value > best[0] if direction == "maximize" else value < best[0]):
                    best, since_better = (value, trial_params, trees), 0
                else:
                    since_better += 1
            elapsed = time.monotonic() - started
            # Whichever limit is nearer says how far the search has got; never let the bar go back.
            done = min(1.0, max(done, since_better / budget.patience, elapsed / budget.max_seconds))
            if progress:
                progress(done)
            if since_better >= budget.patience:
                stopped_because = f"no better score in {budget.patience} models"
                break
            if elapsed >= budget.max_seconds:
                stopped_because = f"time budget of {budget.max_seconds:.0f} s"
                break

    validation_score, params, trees = best
    # Refit on every training row with the trees early stopping chose: the validation rows are data too.
    model = Pipeline(
        [
            ("features", build_preprocessor(roles)),
            ("model", make_estimator(problem_type, params, seed, os.cpu_count() or 1, trees)),
        ]
    ).fit(features, truth)
    logger.info(
        "search stopped (%s) after %d models; best validation %s %.4f",
        stopped_because,
        len(history),
        score_type,
        validation_score,
    )
    return TrainedModel(
        model=model,
        roles=roles,
        validation_score=validation_score,
        params={**params, "n_estimators": trees},
        trials=len(history),
        seconds=time.monotonic() - started,
        stopped_because=stopped_because,
        history=history,
    )


def stop_at(deadline: float) -> Callable:
    """A LightGBM callback that ends training at the deadline, keeping the trees grown so far.

    Without it one slow model on a large table could overrun the whole search budget.
    """

    def callback(env: lgb.callback.CallbackEnv) -> None:
        if time.monotonic() > deadline:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callback.order = 40  # after early stopping has had its say on this iteration
    return callback


def suggest(trial: optuna.trial.Trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
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
