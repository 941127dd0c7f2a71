"""The retrain workflow, written once: read -> split -> train -> score both -> gate -> register -> promote.

`local_retrain.py`, the worker and CI all call `retrain()`; a progress callback receives each
stage's name and how far the whole run has got (0..1).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .config import FixFirstError, Settings, load_settings
from .datastore import open_datastore
from .ml import SearchBudget, greater_is_better, score, split_features, stratify_by, train_model
from .provenance import created_by, git_sha
from .registry import EnvironmentEvent, ModelRegistry, open_registry

Progress = Callable[[str, float], None]
MIN_TRAINING_ROWS = 30
# Where each stage starts in the whole run's progress; training takes most of the time.
STAGE_STARTS = {"read": 0.0, "split": 0.05, "train": 0.1, "score": 0.85, "register": 0.9, "promote": 0.97, "done": 1.0}


class RetrainError(FixFirstError):
    """The data or config cannot give a model; nothing was registered or promoted."""


@dataclass(frozen=True)
class Decision:
    passed: bool
    reason: str


def decide(
    challenger: float, champion: float | None, score_type: str, min_score: float | None, min_improvement: float
) -> Decision:
    """The quality gate: at least min_score, and better than the champion by min_improvement (when there is one)."""
    higher = greater_is_better(score_type)
    if min_score is not None and (challenger < min_score if higher else challenger > min_score):
        bound = "at least" if higher else "at most"
        return Decision(False, f"{score_type} {challenger:.4f} is below the floor: min_score needs {bound} {min_score}")
    if champion is None:
        return Decision(True, f"first model for this environment; {score_type} {challenger:.4f} meets min_score")
    improvement = challenger - champion if higher else champion - challenger
    if improvement <= 0 or improvement < min_improvement:
        return Decision(
            False,
            f"{score_type} {challenger:.4f} vs champion {champion:.4f}: not better by min_improvement "
            f"{min_improvement}",
        )
    return Decision(True, f"{score_type} {challenger:.4f} beats champion {champion:.4f} by {improvement:.4f}")


@dataclass
class RetrainReport:
    environment: str
    model_name: str
    score_type: str
    challenger_version: int | None = None
    challenger_score: float | None = None
    champion_version: int | None = None
    champion_score: float | None = None
    passed: bool = False
    promoted: bool = False
    reason: str = ""
    serving_version: int | None = None
    training_rows: int = 0
    test_rows: int = 0
    test_rows_hash: str = ""
    data_hash: str = ""
    validation_score: float | None = None
    models_tried: int = 0
    search_stopped_because: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def canonical_order(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Rows in an order that depends only on their content, and a hash of that content.

    Backends return rows in whatever order they like; the split, and so the scores, must not depend on it.
    """
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    order = np.argsort(row_hashes, kind="stable")
    data_hash = hashlib.sha256(row_hashes[order].tobytes()).hexdigest()[:16]
    return frame.iloc[order].reset_index(drop=True), data_hash


def split_holdout(frame: pd.DataFrame, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The held-out rows both models are scored on: the newest when time_column is set, else a stratified sample."""
    app = settings.app
    test_rows = max(1, math.ceil(len(frame) * app.test_fraction))
    if app.time_column:
        if app.time_column not in frame.columns:
            raise RetrainError(
                f"time_column {app.time_column!r} is not a column of the data {list(frame.columns)}; "
                "set time_column in config/app_config.yml to one of them, or to null for a random holdout"
            )
        ordered = frame.sort_values(app.time_column, kind="stable")
        return ordered.iloc[:-test_rows], ordered.iloc[-test_rows:]
    return train_test_split(
        frame,
        test_size=test_rows,
        random_state=app.random_seed,
        stratify=stratify_by(frame[app.target], app.problem_type),
    )


def rows_hash(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[:16]


def retrain(
    environment: str | None = None,
    progress: Progress | None = None,
    settings: Settings | None = None,
    registry: ModelRegistry | None = None,
) -> RetrainReport:
    """Train a challenger on the environment's data and promote it if it beats the champion on the same rows."""
    settings = settings or load_settings(environment)
    if environment and environment != settings.environment:
        settings = settings.for_environment(environment)
    app = settings.app
    registry = registry or open_registry(settings)
    report = RetrainReport(settings.environment, app.model_name, app.score_type)

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        if progress:
            progress(name, STAGE_STARTS[name])
        started = time.monotonic()
        yield
        report.seconds[name] = round(time.monotonic() - started, 3)

    with stage("read"):
        store = open_datastore(settings)
        frame, report.data_hash = canonical_order(store.read())
        # What a prediction request must look like: the table's columns and types, less the target.
        input_schema = {column: kind for column, kind in store.schema().items() if column != app.target}
    if app.target not in frame.columns:
        raise RetrainError(f"the data has no target column {app.target!r}; its columns are {list(frame.columns)}")
    if len(frame) < MIN_TRAINING_ROWS:
        raise RetrainError(
            f"the {settings.environment} data has {len(frame)} rows, too few to train and test a model "
            f"(at least {MIN_TRAINING_ROWS}); load some with:\n"
            f"  python local/upload_data.py data/dataset_1.csv --environment {settings.environment}"
        )

    with stage("split"):
        train, test = split_holdout(frame, settings)
        report.training_rows, report.test_rows, report.test_rows_hash = len(train), len(test), rows_hash(test)

    with stage("train"):
        train_start, train_span = STAGE_STARTS["train"], STAGE_STARTS["score"] - STAGE_STARTS["train"]
        trained = train_model(
            train,
            app.target,
            app.problem_type,
            app.score_type,
            SearchBudget(
                max_seconds=app.max_minutes_to_train * 60,
                patience=app.max_models_with_no_score_change,
                workers=app.number_of_train_workers,
            ),
            seed=app.random_seed,
            feature_overrides=asdict(app.features),
            progress=(lambda done: progress("train", train_start + train_span * done)) if progress else None,
        )
        report.validation_score = trained.validation_score
        report.models_tried, report.search_stopped_because = trained.trials, trained.stopped_because

    with stage("score"):
        test_features, test_truth = split_features(test, app.target)
        report.challenger_score = score(trained.model, test_features, test_truth, app.score_type)
        report.champion_version = registry.champion_version(settings.environment)
        champion_problem = ""
        if report.champion_version is not None:
            try:
                champion = registry.load(report.champion_version)
                report.champion_score = score(champion, test_features, test_truth, app.score_type)
            except Exception as error:  # noqa: BLE001  a champion that cannot score today's rows cannot block a fix
                champion_problem = f"champion v{report.champion_version} could not score the test rows ({error}), so "
        decision = decide(
            report.challenger_score, report.champion_score, app.score_type, app.min_score, app.min_improvement
        )
        report.passed, report.reason = decision.passed, champion_problem + decision.reason

    with stage("register"):
        report.challenger_version = registry.register(
            trained.model,
            tags={
                "score": report.challenger_score,
                "score_type": app.score_type,
                "champion_score": report.champion_score,
                "champion_version": report.champion_version,
                "passed": str(report.passed).lower(),
                "environment": settings.environment,
                "training_rows": report.training_rows,
                "test_rows": report.test_rows,
                "test_rows_hash": report.test_rows_hash,
                "data_hash": report.data_hash,
                "split_seed": app.random_seed,
                "git_sha": git_sha(settings.root),
                "created_by": created_by(),
                "validation_score": report.validation_score,
                "models_tried": report.models_tried,
                "input_schema": json.dumps(input_schema),
            },
            params=trained.params,
            metrics={"score": report.challenger_score, "champion_score": report.champion_score},
        )

    with stage("promote"):
        before = registry.deployment(settings.environment)
        serving = before.model_version
        if report.passed and serving != report.champion_version:
            report.reason += f"; not promoted: the environment moved to v{serving} while this model trained"
        elif report.passed:
            registry.set_alias(settings.environment, report.challenger_version)
            report.promoted, serving = True, report.challenger_version
            after = replace(before, model_version=serving)
            registry.record_event(EnvironmentEvent("retrain", settings.environment, before, after, who=created_by()))
        report.serving_version = serving
    if progress:
        progress("done", STAGE_STARTS["done"])
    return report
