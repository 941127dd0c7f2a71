"""The retrain workflow, written once: read -> split -> train -> score both -> gate -> register -> promote.

`local_retrain.py`, the worker and CI all call `retrain()`; a progress callback receives each
stage's name and how far the whole run has got (0..1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from .config import FixFirstError, Settings, names_list
from .datastore import open_datastore
from .engines import Rules, choose_engine, open_table
from .environments.deployments import move
from .ml import greater_is_better
from .ml.dask_training import ClusterTrainingError
from .ml.holdout import Holdout, HoldoutError, hash_holdout, time_holdout
from .provenance import created_by, git_sha
from .registry import ENVIRONMENT_TAG, ModelRegistry, ModelVersion, ServedAs, open_registry

Progress = Callable[[str, float], None]
MIN_TRAINING_ROWS = 30
MIN_COMPARED_ROWS = 30  # fewer rows shared by two holdouts is no fair basis for a comparison
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
    awaiting_approval: bool = False  # better, in an environment that promotes by hand (auto_promote: false)
    reason: str = ""
    trigger: str = "manual"  # what started it: upload, schedule, drift, score_drop, new_rows or manual
    serving_version: int | None = None
    engine: str = "local"  # where it trained: local (the worker's memory) or dask
    engine_reason: str = ""
    dask_workers: int = 0  # on dask: the workers that held rows
    training_rows: int = 0  # the rows the challenger was trained on
    search_rows: int = 0  # the rows its settings were searched on: all the training rows, or (on dask) a sample
    held_out_rows: int = 0  # the rows this retrain held out of training
    holdout: str = ""  # how they were chosen
    test_rows: int = 0  # the rows both models were scored on
    test_rows_hash: str = ""
    compared_on: str = ""  # why those rows are fair to both
    data_hash: str = ""
    validation_score: float | None = None
    models_tried: int = 0
    search_stopped_because: str = ""
    trees: int = 0  # the challenger's: every class's, of every ensemble member
    predict_ms_per_1000_rows: float | None = None  # the challenger's, measured on one thread
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def holdout_rule(frame: pd.DataFrame, settings: Settings) -> Holdout:
    """The rule that holds rows out of this retrain's training: the newest by time_column, else a hash of each row."""
    app = settings.app
    try:
        if app.time_column:
            return time_holdout(frame, app.time_column, app.test_fraction)
        return hash_holdout(frame, app.target, app.test_fraction, app.id_column)
    except HoldoutError as error:
        raise RetrainError(str(error)) from error


def compared_rows(holdout: Holdout, table, champion: ModelVersion | None) -> tuple[Rules, str]:
    """The rules whose shared held-out rows a challenger (held out by `holdout`) and `champion` are compared on: rows
    neither trained on.

    Those are the rows that both holdout rules held out. When the champion's rule is unknown (a version from before
    rules were recorded) or shares too few rows with this one (say, test_fraction or time_column changed), there is
    no such set: the comparison then uses this retrain's held-out rows, and says that it favours the champion.
    """
    if champion is None:
        return (holdout,), "which the model never trained on"
    held_out = table.held_out_by((holdout,))[0]
    try:
        both = (holdout, Holdout.from_json(champion.holdout)) if champion.holdout else None
        shared = table.held_out_by(both)[0] if both else None
        problem = "recorded no holdout"
    except HoldoutError as error:
        shared, problem = None, f"held out rows by another rule ({error})"
    if shared is not None and shared >= min(MIN_COMPARED_ROWS, held_out):
        return both, "which neither model trained on"
    if shared is not None:
        problem = f"held out rows by another rule, which shares {shared} rows with this one"
    return (holdout,), (
        f"which the challenger never trained on; champion v{champion.version} {problem}, so it may have trained on "
        "some of them, which favours it"
    )


def retrain(
    settings: Settings, progress: Progress | None = None, registry: ModelRegistry | None = None, trigger: str = "manual"
) -> RetrainReport:
    """Train a challenger on the settings' environment's data and promote it if it beats the champion on the same
    rows (or, where the environment's auto_promote is false, leave it waiting for a person). `trigger` says what
    started it: it is recorded on the model version and in the environment's history."""
    app = settings.app
    registry = registry or open_registry(settings)
    report = RetrainReport(settings.environment, app.model_name, app.score_type, trigger=trigger)

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        if progress:
            progress(name, STAGE_STARTS[name])
        started = time.monotonic()
        yield
        report.seconds[name] = round(time.monotonic() - started, 3)

    with ExitStack() as cleanup:  # a Dask cluster started for this retrain stops however the retrain ends
        with stage("read"):
            store = open_datastore(settings)
            choice = choose_engine(settings, store)
            report.engine, report.engine_reason = choice.engine, choice.reason
            table = cleanup.enter_context(open_table(store, settings, choice.engine))
            report.data_hash, report.dask_workers = table.data_hash, getattr(table, "workers", 0)
            # What a prediction request must look like: the table's columns and types, less the target.
            input_schema = {column: kind for column, kind in store.schema().items() if column != app.target}
        if app.target not in table.columns:
            raise RetrainError(
                f"the data has no target column {app.target!r}; its columns are {names_list(table.columns)}"
            )
        if table.rows < MIN_TRAINING_ROWS:
            raise RetrainError(
                f"the {settings.environment} data has {table.rows} rows, too few to train and test a model "
                f"(at least {MIN_TRAINING_ROWS}); load some with:\n"
                f"  python local/upload_data.py data/dataset_1.csv --environment {settings.environment}"
            )

        with stage("split"):
            holdout = holdout_rule(table.rule_frame(settings), settings)
            report.training_rows, report.held_out_rows = table.split(holdout)
            report.holdout = holdout.describe()
            if not report.held_out_rows or report.training_rows < MIN_TRAINING_ROWS:
                raise RetrainError(
                    f"{holdout.describe()} leaves {report.held_out_rows} rows to test on and {report.training_rows} "
                    f"to train on, of {table.rows}: load more rows, or change test_fraction in config/app_config.yml"
                )

        with stage("train"):
            train_start, train_span = STAGE_STARTS["train"], STAGE_STARTS["score"] - STAGE_STARTS["train"]
            try:
                trained = table.train(
                    settings,
                    progress=(lambda done: progress("train", train_start + train_span * done)) if progress else None,
                )
            except ClusterTrainingError as error:
                raise RetrainError(f"training on the Dask cluster stopped: {error}") from error
            report.validation_score = trained.validation_score
            report.search_rows = trained.params.get("search_rows", report.training_rows)
            report.models_tried, report.search_stopped_because = trained.trials, trained.stopped_because
            report.trees, report.predict_ms_per_1000_rows = trained.trees, trained.predict_ms_per_1000_rows

        with stage("score"):
            report.champion_version = registry.champion_version(settings.environment)
            champion = registry.version(report.champion_version) if report.champion_version is not None else None
            compared, report.compared_on = compared_rows(holdout, table, champion)
            report.test_rows, report.test_rows_hash = table.held_out_by(compared)
            report.challenger_score = table.score(trained.model, compared, app.target, app.score_type)
            champion_problem = ""
            if report.champion_version is not None:
                try:
                    champion = registry.load(report.champion_version)
                    report.champion_score = table.score(champion, compared, app.target, app.score_type)
                except Exception as error:  # noqa: BLE001  a champion that cannot score today's rows cannot block a fix
                    champion_problem = (
                        f"champion v{report.champion_version} could not score the test rows ({error}), so "
                    )
            decision = decide(
                report.challenger_score, report.champion_score, app.score_type, app.min_score, app.min_improvement
            )
            report.passed, report.reason = decision.passed, champion_problem + decision.reason
            report.awaiting_approval = report.passed and not settings.environment_config.auto_promote
        example = table.example(app.target)

    with stage("register"):
        report.challenger_version = registry.register(
            trained.model,
            ServedAs(app.target, input_schema, example, app.time_formats),
            tags={
                "score": report.challenger_score,
                "score_type": app.score_type,
                "champion_score": report.champion_score,
                "champion_version": report.champion_version,
                "passed": str(report.passed).lower(),
                "awaiting_approval": str(report.awaiting_approval).lower(),
                "trigger": trigger,
                ENVIRONMENT_TAG: settings.environment,
                "training_rows": report.training_rows,
                "engine": report.engine,
                "holdout": holdout.to_json(),
                "held_out_rows": report.held_out_rows,
                "test_rows": report.test_rows,
                "test_rows_hash": report.test_rows_hash,
                "data_hash": report.data_hash,
                "git_sha": git_sha(settings),
                "created_by": created_by(settings),
                "validation_score": report.validation_score,
                "models_tried": report.models_tried,
                "trees": report.trees,
                "predict_ms_per_1000_rows": report.predict_ms_per_1000_rows,
            },
            params=trained.params,
            metrics={
                "score": report.challenger_score,
                "champion_score": report.champion_score,
                "predict_ms_per_1000_rows": report.predict_ms_per_1000_rows,
            },
        )

    with stage("promote"):
        before = registry.deployment(settings.environment)
        serving = before.model_version
        if report.passed and serving != report.champion_version:
            report.reason += f"; not promoted: the environment moved to v{serving} while this model trained"
        elif report.awaiting_approval:
            approve = f"promote --version {report.challenger_version} --environment {settings.environment}"
            report.reason += f"; waiting for approval ({settings.environment} has auto_promote: false): {approve}"
        elif report.passed:
            # The same all-or-nothing move as promote, rollback and deploy: alias and audit entry, or neither.
            move(
                registry,
                settings.environment,
                "retrain",
                created_by(settings),
                trigger=trigger,
                model_version=report.challenger_version,
            )
            report.promoted, serving = True, report.challenger_version
        report.serving_version = serving
    if progress:
        progress("done", STAGE_STARTS["done"])
    return report
