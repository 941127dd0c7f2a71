"""Putting retrains on the queue, at most one running and one waiting per environment, and reading their state.

A request that arrives while a retrain runs is queued once: if a retrain is already waiting, the request joins
it (that run has not read the data yet, so it will see the new rows) instead of starting another.

The running retrain holds a claim on its environment that lives only while its worker renews it: when a worker
dies, the claim lapses within RUNNING_CLAIM_SECONDS, the next run can start, and the job stops reading "running".
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from celery import Celery
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from . import RETRAIN_TASK

JOB_TTL_SECONDS = 7 * 24 * 3600
RUNNING_CLAIM_SECONDS = 60  # how soon a dead worker's retrain is known to have stopped
MAX_ATTEMPTS = 3  # tries of a job whose worker dies during each, before it ends failed
WAIT_FOR_RUNNING_SECONDS = 5  # how often a retrain waiting for another to finish looks again
REDIS_RESTART_SECONDS = 30  # how long a retrain waits for Redis to come back before it fails
# Delete, or renew, a key only if it still holds our value: another run may have replaced it meanwhile.
DELETE_IF_EQUAL = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
RENEW_IF_EQUAL = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"
)
# Claim a key that is free, or that an earlier try of the same job left behind when its process died.
CLAIM = (
    "local holder = redis.call('get', KEYS[1]) "
    "if holder == false or holder == ARGV[1] then return redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2]) end "
    "return false"
)
STATES = {
    "PENDING": "queued",
    "RETRY": "queued",
    "RECEIVED": "queued",
    "STARTED": "running",
    "PROGRESS": "running",
    "SUCCESS": "done",
    "FAILURE": "failed",
    "REVOKED": "failed",
}


def redis_client(url: str, patience_seconds: float) -> redis.Redis:
    """A client that retries, once a second for `patience_seconds`, a command whose connection failed: a Redis that
    restarts (or whose pod is rescheduled) is back within that, and no retrain should fail for it meanwhile."""
    retry = Retry(ConstantBackoff(1.0), retries=max(1, round(patience_seconds)))
    return redis.Redis.from_url(url, retry=retry, retry_on_error=[redis.ConnectionError, redis.TimeoutError])


def running_key(environment: str) -> str:
    return f"retrain:{environment}:running"


def waiting_key(environment: str) -> str:
    return f"retrain:{environment}:waiting"


def job_key(job_id: str) -> str:
    return f"retrain:job:{job_id}"


class RunningClaims:
    """Which retrain runs each environment now: a job of the worker, or a `retrain` command given REDIS_URL."""

    def __init__(self, redis_client: redis.Redis):
        self.redis = redis_client
        self._delete_if_equal = redis_client.register_script(DELETE_IF_EQUAL)
        self._renew_if_equal = redis_client.register_script(RENEW_IF_EQUAL)
        self._claim = redis_client.register_script(CLAIM)

    def claim_running(self, environment: str, job_id: str) -> bool:
        """Whether `job_id` may run now: no other retrain of `environment` runs (or its worker has died)."""
        return bool(self._claim(keys=[running_key(environment)], args=[job_id, RUNNING_CLAIM_SECONDS]))

    @contextmanager
    def renewing_claim(self, environment: str, job_id: str) -> Iterator[None]:
        """Renew the claim from a background thread while the retrain runs (`release_claim` gives it up once the
        job's result is stored: until then, the job must still read as running)."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(RUNNING_CLAIM_SECONDS / 3):
                try:
                    self._renew_if_equal(keys=[running_key(environment)], args=[job_id, RUNNING_CLAIM_SECONDS])
                except redis.RedisError:
                    continue  # Redis restarting: try again at the next beat

        renewer = threading.Thread(target=renew, name="retrain-claim", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()

    def release_claim(self, environment: str, job_id: str) -> None:
        self._delete_if_equal(keys=[running_key(environment)], args=[job_id])

    @contextmanager
    def running_alone(self, environment: str, holder: str, on_wait: Callable[[], None]) -> Iterator[None]:
        """Wait until no other retrain runs `environment` (`on_wait` is called once if it must), then hold its claim
        until the block ends."""
        waited = False
        while not self.claim_running(environment, holder):
            if not waited:
                on_wait()
                waited = True
            time.sleep(WAIT_FOR_RUNNING_SECONDS)
        try:
            with self.renewing_claim(environment, holder):
                yield
        finally:
            self.release_claim(environment, holder)


class RetrainQueue(RunningClaims):
    def __init__(self, celery: Celery, redis_client: redis.Redis, time_limit_seconds: float):
        super().__init__(redis_client)
        self.celery = celery
        self.time_limit_seconds = time_limit_seconds

    def enqueue(self, environment: str, reason: str, trigger: str) -> tuple[str, bool]:
        """The id of the retrain that will see the data as it is now, and whether this call queued it. `trigger` says
        what started it (upload, schedule, drift, score_drop, new_rows, manual): the retrain records it."""
        job_id = uuid.uuid4().hex
        # The waiting marker expires in case a worker never picks the job up (say, the broker lost it).
        if not self.redis.set(waiting_key(environment), job_id, nx=True, ex=int(self.time_limit_seconds * 3)):
            waiting = self.redis.get(waiting_key(environment))
            if waiting:
                return waiting.decode(), False
            return self.enqueue(environment, reason, trigger)  # it started in between: queue a new one
        self.redis.hset(
            job_key(job_id),
            mapping={"environment": environment, "reason": reason, "trigger": trigger, "queued": time.time()},
        )
        self.redis.expire(job_key(job_id), JOB_TTL_SECONDS)
        try:
            self.celery.send_task(RETRAIN_TASK, args=[environment], kwargs={"trigger": trigger}, task_id=job_id)
        except Exception:
            self._delete_if_equal(keys=[waiting_key(environment)], args=[job_id])
            self.redis.delete(job_key(job_id))
            raise
        return job_id, True

    def mark_started(self, environment: str, job_id: str) -> None:
        """From now on a new request needs a new run: this one may already have read the data."""
        self._delete_if_equal(keys=[waiting_key(environment)], args=[job_id])

    def count_attempt(self, job_id: str) -> int:
        """This start of `job_id`, counting from 1: a job whose worker dies each time must end, not loop."""
        attempt = self.redis.hincrby(job_key(job_id), "attempts", 1)
        self.redis.expire(job_key(job_id), JOB_TTL_SECONDS)
        return attempt

    def status(self, job_id: str) -> dict[str, Any] | None:
        """What a client polls: state, stage, progress 0..1, message, and the report once done; None if unknown."""
        job = self.redis.hgetall(job_key(job_id))
        if not job:
            return None
        result = self.celery.AsyncResult(job_id)
        state = STATES.get(result.state, result.state.lower())
        status: dict[str, Any] = {
            "job_id": job_id,
            "environment": job[b"environment"].decode(),
            "trigger": job.get(b"trigger", b"").decode(),
            "state": state,
            "stage": None,
            "progress": 0.0,
            "message": "waiting for the worker" if state == "queued" else "",
            "report": None,
        }
        environment = status["environment"]
        if state == "running" and (self.redis.get(running_key(environment)) or b"").decode() != job_id:
            status["state"] = "queued"  # its claim lapsed: nothing runs it now
            status["message"] = "its worker stopped mid-run; it runs again when a worker takes it back"
            return status
        if result.state == "PROGRESS" and isinstance(result.info, dict):
            status.update(stage=result.info.get("stage"), progress=result.info.get("progress", 0.0))
            status["message"] = f"{status['stage']}"
        elif state == "done":
            report = result.result
            status.update(stage="done", progress=1.0, report=report, message=report.get("reason", ""))
        elif state == "failed":
            status.update(stage="failed", message=str(result.result))
        return status
