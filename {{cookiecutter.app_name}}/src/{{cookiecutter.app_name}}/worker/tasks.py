"""The retrain task: the one retrain() pipeline, one run at a time per environment, with progress as task state.

The worker and beat load this module by name:
    celery --app {{ cookiecutter.app_name }}.worker.tasks worker --concurrency 1
    celery --app {{ cookiecutter.app_name }}.worker.tasks beat        (when retrain_schedule is set)
"""

from __future__ import annotations

import logging

import redis

from ..config import load_settings
from ..pipeline import retrain
from . import RETRAIN_TASK, SCHEDULED_RETRAIN_TASK
from .celery_app import make_celery
from .queue import RetrainQueue, running_key

WAIT_FOR_RUNNING_SECONDS = 5
logger = logging.getLogger(__name__)
settings = load_settings()
app = make_celery(settings)


def retrain_queue() -> RetrainQueue:
    return RetrainQueue(app, redis.Redis.from_url(settings.redis_url), settings.app.retrain_time_limit_minutes * 60)


@app.task(bind=True, name=RETRAIN_TASK, max_retries=None)
def retrain_task(self, environment: str) -> dict:
    queue = retrain_queue()
    # At most one retrain per environment: the lock outlives a crashed worker only until the time limit.
    lock = queue.redis.lock(running_key(environment), timeout=app.conf.task_time_limit + 60, blocking=False)
    if not lock.acquire():
        raise self.retry(countdown=WAIT_FOR_RUNNING_SECONDS)
    try:
        queue.mark_started(environment, self.request.id)

        def progress(stage: str, fraction: float) -> None:
            self.update_state(state="PROGRESS", meta={"stage": stage, "progress": round(fraction, 3)})

        report = retrain(load_settings(environment), progress=progress)
        logger.info("retrain of %s finished: %s", environment, report.reason)
        return report.to_dict()
    finally:
        lock.release()


@app.task(name=SCHEDULED_RETRAIN_TASK)
def scheduled_retrain(environment: str) -> str:
    """Beat's entry: the same queue as the web app, so a schedule never doubles a retrain already waiting."""
    job_id, _ = retrain_queue().enqueue(environment, reason="schedule")
    return job_id
