"""The monitor: is the champion still fit for what it is asked? And does that call for a retrain?

A report measures, for the environment's champion:
- drift: the logged prediction inputs of the last drift_window_hours against the environment's training rows (drift.py);
- its score on newly labelled rows: each upload to /train is scored by the champion before it retrains on it (those
  rows are new to it), and the report weighs those scores by rows, beside the score it was registered with;
- the rows added since it was trained.
Then app config's retrain_when says which of these starts a retrain. Reports are kept in the environment's
`monitoring` journal with their time; `python -m <app> monitor` makes one on demand, the worker on monitor_schedule.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import redis

from ..config import RetrainWhen, Settings
from ..datastore import TableMissingError, entry, open_datastore, open_journal
from ..ml import greater_is_better, score, split_features
from ..ml.prediction import column_roles
from ..registry import ModelRegistry
from .drift import drift, drifted_share
from .prediction_log import drain, logged_inputs
from .worker_metrics import keep_report

MIN_DRIFT_ROWS = 100  # fewer logged predictions are too few to say that a distribution moved
MIN_LABELLED_ROWS = 30  # and fewer labelled rows too few to say that a score fell
MAX_REFERENCE_ROWS = 100_000  # a sample of a larger table shows its distribution as well
RECENT_RECORDS = 1000  # the monitoring journal's records read to find the champion's labelled rows and past reports
TRIGGERS = ("upload", "schedule", "drift", "score_drop", "new_rows", "manual")  # what can start a retrain


@dataclass
class MonitorReport:
    environment: str
    checked_at: str
    champion_version: int | None = None
    score_type: str = ""
    predictions: int = 0  # logged predictions in the window, compared with
    reference_rows: int = 0  # training rows
    drift: list[dict[str, Any]] = field(default_factory=list)  # per column
    drift_share: float | None = None  # of the tested columns, the share that drifted
    registered_score: float | None = None  # the champion's score when it was chosen
    labelled_rows: int = 0  # rows labelled since, which it never trained on
    labelled_score: float | None = None  # its score on them
    score_drop: float | None = None  # how much worse that is (in the score's units; negative: better)
    table_rows: int | None = None
    new_rows: int | None = None  # added since it was trained
    triggers: list[str] = field(default_factory=list)  # the retrain_when conditions met
    retrain_job: str | None = None  # the retrain they queued
    notes: list[str] = field(default_factory=list)  # what was not measured, or not done, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def labelled_record(model, rows: pd.DataFrame, target: str, score_type: str, source: str) -> dict[str, Any]:
    """The champion's score on rows it never saw (an upload to /train), as the monitoring journal keeps it."""
    features, truth = split_features(rows, target)
    return {
        "kind": "labelled",
        "rows": len(rows),
        "score": score(model, features, truth, score_type),
        "score_type": score_type,
        "source": source,
        "labelled_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def record_labelled(settings: Settings, version: int, record: dict[str, Any]) -> None:
    open_journal(settings, "monitoring").append(pd.DataFrame([entry(record, version)]))


def recent_records(settings: Settings, kind: str | None = None) -> list[tuple[int | None, dict[str, Any]]]:
    """The monitoring journal's newest records (of `kind`, labelled or report, if given), oldest first, each with the
    version of the champion then."""
    found = open_journal(settings, "monitoring").read(limit=RECENT_RECORDS)
    records = [
        (version, json.loads(text)) for version, text in zip(found["model_version"], found["record"], strict=True)
    ]
    return [(None if pd.isna(v) else int(v), r) for v, r in records if kind is None or r.get("kind") == kind]


def measure_labels(settings: Settings, registry: ModelRegistry, report: MonitorReport) -> None:
    """Fill in the champion's registered score, its score on rows labelled since, and the rows added since."""
    champion = registry.version(report.champion_version)
    report.registered_score = champion.score
    labelled = [r for v, r in recent_records(settings, "labelled") if v == report.champion_version]
    labelled = [r for r in labelled if r["score_type"] == settings.app.score_type]
    report.labelled_rows = sum(r["rows"] for r in labelled)
    if report.labelled_rows:
        report.labelled_score = sum(r["score"] * r["rows"] for r in labelled) / report.labelled_rows
        if report.registered_score is not None:
            drop = report.registered_score - report.labelled_score
            report.score_drop = drop if greater_is_better(settings.app.score_type) else -drop
    report.table_rows = open_datastore(settings).count()
    if champion.training_rows is not None and champion.held_out_rows is not None:
        report.new_rows = report.table_rows - champion.training_rows - champion.held_out_rows


def measure_drift(settings: Settings, registry: ModelRegistry, report: MonitorReport, now: datetime) -> None:
    since = now - timedelta(hours=settings.app.drift_window_hours)
    current = logged_inputs(open_journal(settings, "predictions").read(since=since))
    report.predictions = len(current)
    if report.predictions < MIN_DRIFT_ROWS:
        report.notes.append(
            f"drift not measured: {report.predictions} predictions logged in the last "
            f"{settings.app.drift_window_hours:g} h, and it takes {MIN_DRIFT_ROWS}"
        )
        return
    reference = open_datastore(settings).read()
    if len(reference) > MAX_REFERENCE_ROWS:
        reference = reference.sample(MAX_REFERENCE_ROWS, random_state=0)
    report.reference_rows = len(reference)
    columns = drift(reference, current, column_roles(registry.load(report.champion_version)))
    report.drift = [column.to_dict() for column in columns]
    report.drift_share = drifted_share(columns)


def conditions_met(report: MonitorReport, retrain_when: RetrainWhen) -> list[str]:
    """The retrain_when conditions this report meets, by name."""
    met = []
    if retrain_when.drift_share is not None and (report.drift_share or 0) >= retrain_when.drift_share:
        met.append("drift")
    if (
        retrain_when.score_drop is not None
        and report.score_drop is not None
        and report.labelled_rows >= MIN_LABELLED_ROWS
        and report.score_drop >= retrain_when.score_drop
    ):
        met.append("score_drop")
    if retrain_when.new_rows is not None and (report.new_rows or 0) >= retrain_when.new_rows:
        met.append("new_rows")
    return met


def check(settings: Settings, registry: ModelRegistry, now: datetime | None = None, drift_too: bool = True):
    """A report on the environment's champion, with the retrain_when conditions it meets (not yet acted on)."""
    now = now or datetime.now(UTC)
    report = MonitorReport(settings.environment, now.isoformat(timespec="seconds"), score_type=settings.app.score_type)
    report.champion_version = registry.champion_version(settings.environment)
    if report.champion_version is None:
        report.notes.append(f"no model serves {settings.environment} yet: nothing to monitor")
        return report
    try:
        measure_labels(settings, registry, report)
        if drift_too:
            measure_drift(settings, registry, report, now)
    except TableMissingError as problem:
        report.notes.append(str(problem))
    report.triggers = conditions_met(report, settings.app.retrain_when)
    return report


def already_acted_on(settings: Settings, report: MonitorReport) -> bool:
    """Whether an earlier report queued a retrain for the same champion and the same rows: training again on the
    same data would give the same challenger, which lost to that champion, so wait for new rows or a new champion."""
    for _, earlier in reversed(recent_records(settings, "report")):
        if earlier.get("retrain_job"):
            return (earlier["champion_version"], earlier["table_rows"]) == (report.champion_version, report.table_rows)
    return False


def save(settings: Settings, report: MonitorReport) -> None:
    record = {"kind": "report", **report.to_dict()}
    # Logged now, to the microsecond: two reports within a second keep their order.
    open_journal(settings, "monitoring").append(pd.DataFrame([entry(record, report.champion_version)]))


Enqueue = Callable[[str, str, str], str]  # (environment, reason, trigger) -> the id of the retrain that will run


def run_monitor(
    settings: Settings, registry: ModelRegistry, redis_client: redis.Redis | None, enqueue: Enqueue | None
) -> MonitorReport:
    """Take the logged predictions in, forget those past retention, report, start a retrain if a condition is met
    (with `enqueue`: the worker's queue), and keep the report."""
    now = datetime.now(UTC)
    predictions = open_journal(settings, "predictions")
    moved = drain(redis_client, predictions, settings.environment) if redis_client is not None else 0
    predictions.delete_before(now - timedelta(days=settings.app.prediction_retention_days))
    report = check(settings, registry, now)
    if moved:
        report.notes.append(f"{moved} predictions moved from Redis into the log")
    if report.triggers and enqueue is None:
        report.notes.append("no retrain queued: there is no REDIS_URL, so no worker to run one")
    elif report.triggers and already_acted_on(settings, report):
        report.notes.append(
            f"no retrain queued: one was queued for v{report.champion_version} on these {report.table_rows} rows "
            "already; waiting for new rows or a new champion"
        )
    elif report.triggers:
        reason = "monitor: " + ", ".join(report.triggers)
        report.retrain_job = enqueue(settings.environment, reason, report.triggers[0])
    save(settings, report)
    if redis_client is not None:
        keep_report(redis_client, report)
    return report
