"""Labelled rows, however they arrive (POST /train, the page's training upload, `data upload`), take one way in:
they are appended to the environment's table, the champion is scored on them for the monitor (its score on rows it
has never seen is what score_drop watches), and a retrain is queued when retrain_when says so (without retrain_when,
after every load).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import redis

from .config import FixFirstError, Settings, names_list
from .datastore import DataStore, Schema, conform
from .monitoring.reports import check, labelled_record, record_labelled
from .worker.celery_app import retrain_queue
from .worker.queue import RetrainQueue

if TYPE_CHECKING:
    from .registry import ModelRegistry

logger = logging.getLogger(__name__)


class NoTargetError(FixFirstError):
    """Rows without the target column: they cannot teach a model anything."""


@dataclass(frozen=True)
class Champion:
    version: int
    model: Any  # the fitted pipeline


@dataclass
class Loaded:
    """What a load did: rows added, columns left out, the champion's score on the rows, and the retrain."""

    rows_added: int
    ignored_columns: list[str]
    champion_score: float | None = None
    champion_version: int | None = None
    job_id: str | None = None
    newly_queued: bool = False
    trigger: str | None = None  # what queued the retrain
    message: str | None = None  # why no retrain was queued

    def answer(self) -> dict[str, Any]:
        """As /train answers: the champion's score when it scored, the trigger or why no retrain was queued."""
        answer: dict[str, Any] = {"rows_added": self.rows_added, "ignored_columns": self.ignored_columns}
        if self.champion_version is not None:
            answer |= {"champion_score": self.champion_score, "champion_version": self.champion_version}
        answer |= {"job_id": self.job_id, "newly_queued": self.newly_queued}
        return answer | ({"trigger": self.trigger} if self.trigger else {"message": self.message})


def require_target(rows: pd.DataFrame, target: str, source: str) -> None:
    if target not in rows.columns:
        raise NoTargetError(
            f"{source} has no {target!r} column: a training file must hold the correct {target} of every row. "
            f"Its columns are {names_list(list(rows.columns))}"
        )


def load_labelled_rows(
    settings: Settings,
    store: DataStore,
    registry: ModelRegistry,
    rows: pd.DataFrame,
    source: str,
    champion: Callable[[], Champion | None],
    queue: RetrainQueue | None,
    no_queue: str = "",
) -> Loaded:
    """Append `rows` (read from `source`, a file name) to the table, all or none: the store's errors (a missing table,
    rows already added, rows that do not fit) reach the caller, which words them. Then score the `champion` on them
    and queue a retrain on `queue`; with no queue (`no_queue` says why) the rows are in and no retrain is queued."""
    require_target(rows, settings.app.target, source)
    schema = store.schema()
    ignored = [column for column in rows.columns if column not in schema]
    kept = rows.drop(columns=ignored)
    loaded = Loaded(store.append(kept), ignored)
    loaded.champion_score, loaded.champion_version = score_new_labels(settings, kept, schema, source, champion)
    conditions = settings.app.retrain_when.conditions
    trigger = upload_trigger(settings, registry) if conditions else "upload"
    if trigger is None:
        loaded.message = f"no retrain yet: none of retrain_when {conditions} is met"
    elif queue is None:
        loaded.message = f"no retrain was queued: {no_queue}"
    else:
        reason = f"{loaded.rows_added} rows from {source}"
        loaded.job_id, loaded.newly_queued = queue.enqueue(settings.environment, reason, trigger)
        loaded.trigger = trigger
    return loaded


def upload_trigger(settings: Settings, registry: ModelRegistry) -> str | None:
    """Where retrain_when decides: the condition a load meets, else None. With no champion to judge yet, or when the
    check itself fails, the load retrains as it would without retrain_when: new rows are never left unused."""
    try:
        report = check(settings, registry, drift_too=False)
    except Exception:  # noqa: BLE001  the rows are in; retraining on them is the safe side
        logger.exception("retrain_when could not be checked after a load of labelled rows; retraining")
        return "upload"
    if report.champion_version is None:
        return "upload"
    return report.triggers[0] if report.triggers else None


def score_new_labels(
    settings: Settings, rows: pd.DataFrame, schema: Schema, source: str, champion: Callable[[], Champion | None]
) -> tuple[float | None, int | None]:
    """The champion's score on rows it has never seen (they were just added) and its version, kept for the monitor.
    A failure here costs the load nothing: the monitor only misses this score."""
    app = settings.app
    try:
        served = champion()
        if served is None:
            return None, None
        labelled = conform(rows, schema, required=[app.target], time_formats=app.time_formats)
        record = labelled_record(served.model, labelled, app.target, app.score_type, source)
        record_labelled(settings, served.version, record)
    except Exception:  # noqa: BLE001  the rows are in
        logger.exception("the champion could not score the labelled rows from %s", source)
        return None, None
    return record["score"], served.version


def registry_champion(settings: Settings, registry: ModelRegistry) -> Callable[[], Champion | None]:
    """The environment's champion, loaded from the registry when it is asked for (for a command; the web app has its
    own, already loaded)."""

    def load() -> Champion | None:
        version = registry.champion_version(settings.environment)
        return None if version is None else Champion(version, registry.load(version))

    return load


def reachable_queue(settings: Settings) -> tuple[RetrainQueue | None, str]:
    """The retrain queue for a command, or None and why there is none: a load without a worker still loads."""
    if not settings.redis_url:
        return None, "REDIS_URL is not set (local/run_server.py starts Redis and a worker; or run local_retrain.py)"
    queue = retrain_queue(settings, patience_seconds=1)
    try:
        queue.redis.ping()
    except redis.RedisError as problem:
        return None, f"the Redis at REDIS_URL cannot be reached: {problem}"
    return queue, ""
