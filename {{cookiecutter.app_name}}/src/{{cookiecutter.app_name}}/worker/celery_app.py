"""The Celery app's settings. Broker and result backend are the Redis at REDIS_URL."""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from ..config import ConfigError, Settings, cron_fields
from . import DRAIN_PREDICTIONS_TASK, MONITOR_TASK, SCHEDULED_RETRAIN_TASK
from .queue import REDIS_RESTART_SECONDS, RetrainQueue, redis_client

# How long after a retrain's time limit Redis waits before it hands the job of a dead worker out again: time for the
# hard limit to stop it and for its worker to acknowledge it. No longer, as that is how long such a job waits.
VISIBILITY_MARGIN_SECONDS = 60
DRAIN_SECONDS = 120  # how often logged predictions move from Redis into the journal: 720 BigQuery loads a day


def make_celery(settings: Settings, redis_patience_seconds: float = REDIS_RESTART_SECONDS) -> Celery:
    """The Celery app; a result read or written while Redis restarts is retried for about `redis_patience_seconds`."""
    if not settings.redis_url:
        raise ConfigError("REDIS_URL is not set: the worker needs a Redis (local/run_server.py starts one for you)")
    celery = Celery("{{ cookiecutter.app_name }}", broker=settings.redis_url, backend=settings.redis_url)
    time_limit = settings.app.retrain_time_limit_minutes * 60
    celery.conf.update(
        # A retrain is acknowledged only once it has finished. If its pool process dies (say, out of memory), it is
        # retried at once, as the same job; if the whole worker dies, Redis hands it to another worker after the
        # visibility timeout, which is longer than any retrain may run so that none ever runs twice at once.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_retry_on_worker_lost=True,
        # Look for such jobs every 10 s (kombu's default looks every 100 s).
        broker_transport_options={
            "visibility_timeout": time_limit + VISIBILITY_MARGIN_SECONDS,
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
        },
        worker_prefetch_multiplier=1,
        task_time_limit=time_limit,
        task_soft_time_limit=max(1, time_limit - 30),
        # A fresh child process per retrain: memory of a large training run is given back at once,
        # and LightGBM's OpenMP threads never outlive the task that started them.
        worker_max_tasks_per_child=1,
        result_expires=7 * 24 * 3600,
        broker_connection_retry_on_startup=True,
        # Retried with jitter, at most a second apart: a retrain is not lost for want of its progress update.
        result_backend_always_retry=True,
        result_backend_base_sleep_between_retries_ms=100,
        result_backend_max_sleep_between_retries_ms=1000,
        result_backend_max_retries=round(2 * redis_patience_seconds),
    )
    schedule, environment = {}, [settings.environment]
    if settings.app.retrain_schedule:
        cron = crontab(**cron_fields(settings.app.retrain_schedule))
        schedule["scheduled-retrain"] = {"task": SCHEDULED_RETRAIN_TASK, "schedule": cron, "args": environment}
    if settings.app.monitor_schedule:
        cron = crontab(**cron_fields(settings.app.monitor_schedule))
        schedule["monitor"] = {"task": MONITOR_TASK, "schedule": cron, "args": environment}
        # Queued behind a retrain, a drain is soon stale: the next one does its work.
        schedule["drain-predictions"] = {
            "task": DRAIN_PREDICTIONS_TASK,
            "schedule": DRAIN_SECONDS,
            "args": environment,
            "options": {"expires": DRAIN_SECONDS},
        }
    celery.conf.beat_schedule = schedule
    return celery


def retrain_queue(settings: Settings, patience_seconds: float) -> RetrainQueue:
    """The environment's retrain queue on REDIS_URL, whose commands ride out a Redis restart of `patience_seconds`."""
    return RetrainQueue(
        make_celery(settings, patience_seconds),
        redis_client(settings.redis_url, patience_seconds),
        settings.app.retrain_time_limit_minutes * 60,
    )
