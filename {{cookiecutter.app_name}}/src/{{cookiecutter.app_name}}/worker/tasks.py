"""The retrain task: the one retrain() pipeline, one run at a time per environment, with progress as task state.

The worker and beat load this module by name:
    celery --app {{ cookiecutter.app_name }}.worker.tasks worker --concurrency 1
    celery --app {{ cookiecutter.app_name }}.worker.tasks beat        (when retrain_schedule or monitor_schedule is set)
"""

from __future__ import annotations

import logging
from typing import Any

from celery import states
from celery.exceptions import Ignore
from celery.signals import task_postrun

from ..config import load_settings
from ..datastore import open_journal
from ..monitoring.prediction_log import drain
from ..monitoring.reports import run_monitor
from ..monitoring.worker_metrics import count_retrain
from ..pipeline import retrain
from ..registry import open_registry
from . import DRAIN_PREDICTIONS_TASK, MONITOR_TASK, RETRAIN_TASK, SCHEDULED_RETRAIN_TASK
from .celery_app import make_celery
from .queue import MAX_ATTEMPTS, REDIS_RESTART_SECONDS, WAIT_FOR_RUNNING_SECONDS, RetrainQueue, redis_client

logger = logging.getLogger(__name__)
settings = load_settings()
app = make_celery(settings)


def retrain_queue() -> RetrainQueue:
    client = redis_client(settings.redis_url, REDIS_RESTART_SECONDS)
    return RetrainQueue(app, client, settings.app.retrain_time_limit_minutes * 60)


class RetrainAbandoned(Exception):
    """A retrain whose worker died on every try: trying again would only loop."""


@app.task(bind=True, name=RETRAIN_TASK, max_retries=None, default_retry_delay=WAIT_FOR_RUNNING_SECONDS)
def retrain_task(self, environment: str, trigger: str = "manual") -> dict:
    queue, job_id = retrain_queue(), self.request.id
    if self.AsyncResult(job_id).state in states.READY_STATES:
        # Delivered again after it ended: Redis crashed within a second of handing it out, and lost that it had.
        logger.warning("retrain %s has already ended; it is not run again", job_id)
        raise Ignore()
    if not queue.claim_running(environment, job_id):  # at most one retrain per environment
        raise self.retry(countdown=WAIT_FOR_RUNNING_SECONDS)
    with queue.renewing_claim(environment, job_id):
        attempt = queue.count_attempt(job_id)
        if attempt > MAX_ATTEMPTS:
            raise RetrainAbandoned(
                f"stopped after {MAX_ATTEMPTS} tries: its worker process died during each one (out of memory? "
                "see the worker's log and retrain_time_limit_minutes); nothing was promoted"
            )
        queue.mark_started(environment, job_id)

        def progress(stage: str, fraction: float) -> None:
            self.update_state(state="PROGRESS", meta={"stage": stage, "progress": round(fraction, 3)})

        try:
            report = retrain(load_settings(environment), progress=progress, trigger=trigger)
        except Exception:
            count_retrain(queue.redis, environment, "failed", trigger)
            raise
        outcome = "promoted" if report.promoted else "awaiting_approval" if report.awaiting_approval else "kept"
        count_retrain(queue.redis, environment, outcome, trigger)
        logger.info("retrain of %s (%s) finished: %s", environment, trigger, report.reason)
        return report.to_dict()


@task_postrun.connect(sender=retrain_task)
def release_claim(task_id: str, args: tuple, **_) -> None:
    """After the job's result is stored, so that it never reads "running" with no claim behind it."""
    retrain_queue().release_claim(args[0], task_id)


@app.task(name=SCHEDULED_RETRAIN_TASK)
def scheduled_retrain(environment: str) -> str:
    """Beat's entry: the same queue as the web app, so a schedule never doubles a retrain already waiting."""
    job_id, _ = retrain_queue().enqueue(environment, reason="schedule", trigger="schedule")
    return job_id


@app.task(name=MONITOR_TASK)
def monitor_task(environment: str) -> dict[str, Any]:
    """Beat's entry on monitor_schedule: a report on the champion, and a retrain if retrain_when says so."""
    queue = retrain_queue()

    def enqueue(environment: str, reason: str, trigger: str) -> str:
        return queue.enqueue(environment, reason, trigger)[0]

    environment_settings = load_settings(environment)
    report = run_monitor(environment_settings, open_registry(environment_settings), queue.redis, enqueue)
    # The whole report is in the environment's monitoring journal; the task's result says what it decided.
    return {key: getattr(report, key) for key in ("drift_share", "score_drop", "new_rows", "triggers", "retrain_job")}


@app.task(name=DRAIN_PREDICTIONS_TASK)
def drain_predictions(environment: str) -> int:
    """Beat's entry every few minutes: the web processes' logged predictions into the environment's journal."""
    return drain(retrain_queue().redis, open_journal(load_settings(environment), "predictions"), environment)
