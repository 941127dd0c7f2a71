import dataclasses
import threading
import time

import pytest
import redis
from celery.schedules import crontab

from {{ cookiecutter.app_name }}.config import AppConfig, ConfigError
from {{ cookiecutter.app_name }}.laptop.embedded_redis import EmbeddedRedis
from {{ cookiecutter.app_name }}.worker import DRAIN_PREDICTIONS_TASK, MONITOR_TASK, SCHEDULED_RETRAIN_TASK
from {{ cookiecutter.app_name }}.worker import queue as queue_module
from {{ cookiecutter.app_name }}.worker.celery_app import make_celery
from {{ cookiecutter.app_name }}.worker.queue import RUNNING_CLAIM_SECONDS, RetrainQueue, redis_client, running_key

pytestmark = pytest.mark.unit


@pytest.fixture
def queue(web_settings):
    return RetrainQueue(make_celery(web_settings), redis.Redis.from_url(web_settings.redis_url), time_limit_seconds=60)


def test_requests_while_one_retrain_waits_join_it_and_after_it_starts_queue_one_more(queue):
    first, first_new = queue.enqueue("integration", reason="upload 1", trigger="upload")
    joined, joined_new = queue.enqueue("integration", reason="upload 2", trigger="upload")

    assert first_new and not joined_new and joined == first  # not duplicated
    queue.mark_started("integration", first)  # the worker has begun reading the data
    second, second_new = queue.enqueue("integration", reason="upload 3", trigger="upload")

    assert second_new and second != first  # not lost: rows added now need a run of their own
    assert queue.status(first)["state"] == queue.status(second)["state"] == "queued"


def test_each_environment_has_its_own_queue(queue):
    integration, _ = queue.enqueue("integration", reason="upload", trigger="upload")
    uat, uat_new = queue.enqueue("uat", reason="upload", trigger="upload")

    assert uat_new and uat != integration
    assert queue.status(uat)["environment"] == "uat"


def test_a_retrain_schedule_becomes_a_beat_entry_for_the_environment(web_settings):
    scheduled = dataclasses.replace(
        web_settings, app=dataclasses.replace(web_settings.app, retrain_schedule="30 2 * * 1")
    )

    entry = make_celery(scheduled).conf.beat_schedule["scheduled-retrain"]

    assert entry["task"] == SCHEDULED_RETRAIN_TASK and entry["args"] == ["integration"]
    assert entry["schedule"] == crontab(minute="30", hour="2", day_of_week="1")


def test_the_monitor_schedule_runs_the_monitor_and_takes_the_prediction_log_in_and_none_without_it(web_settings):
    def schedule(monitor_schedule):
        app = dataclasses.replace(web_settings.app, monitor_schedule=monitor_schedule)
        return make_celery(dataclasses.replace(web_settings, app=app)).conf.beat_schedule

    entries = schedule("*/10 * * * *")

    assert entries["monitor"]["task"] == MONITOR_TASK and entries["monitor"]["args"] == ["integration"]
    assert entries["monitor"]["schedule"] == crontab(minute="*/10")
    assert entries["drain-predictions"]["task"] == DRAIN_PREDICTIONS_TASK
    assert schedule(None) == {}


@pytest.mark.parametrize("schedule", ["every day", "61 * * * *", "* * * *"])
def test_a_bad_retrain_schedule_is_refused_with_the_reason(schedule):
    with pytest.raises(ConfigError, match="retrain_schedule"):
        AppConfig.from_dict({"model_name": "m", "target": "t", "retrain_schedule": schedule})


def test_a_running_claim_belongs_to_one_job_and_lapses_unless_renewed(queue):
    assert queue.claim_running("integration", "job-a")
    assert not queue.claim_running("integration", "job-b")  # one retrain per environment
    assert queue.claim_running("integration", "job-a")  # a retry of the same job, after its process died
    assert 0 < queue.redis.ttl(running_key("integration")) <= RUNNING_CLAIM_SECONDS  # a dead owner's claim lapses

    queue.release_claim("integration", "job-b")  # not the holder: changes nothing
    assert not queue.claim_running("integration", "job-b")
    queue.release_claim("integration", "job-a")
    assert queue.claim_running("integration", "job-b")


def test_a_job_whose_worker_died_mid_run_stops_reading_running(queue):
    job_id, _ = queue.enqueue("integration", reason="upload", trigger="upload")
    queue.claim_running("integration", job_id)
    queue.celery.backend.store_result(job_id, {"stage": "train", "progress": 0.4}, "PROGRESS")
    assert queue.status(job_id)["state"] == "running"

    queue.redis.delete(running_key("integration"))  # what the claim's expiry does once its worker is dead

    status = queue.status(job_id)
    assert status["state"] == "queued" and "worker stopped mid-run" in status["message"]


def test_a_job_counts_its_tries(queue):
    job_id, _ = queue.enqueue("integration", reason="upload", trigger="upload")

    assert [queue.count_attempt(job_id) for _ in range(3)] == [1, 2, 3]
    assert queue.status(job_id)["state"] == "queued"


def test_a_claim_outlives_its_lifetime_while_renewed_and_lapses_after(queue, monkeypatch):
    monkeypatch.setattr(queue_module, "RUNNING_CLAIM_SECONDS", 2)
    key = running_key("integration")
    assert queue.claim_running("integration", "job-a")

    with queue.renewing_claim("integration", "job-a"):
        outlived = time.monotonic() + 3  # longer than the claim lives without renewal
        while time.monotonic() < outlived:
            assert queue.redis.get(key) == b"job-a", "the claim lapsed while its worker was alive"
            time.sleep(0.1)

    deadline = time.monotonic() + 5  # no renewal now: as when the worker has died
    while queue.redis.get(key) is not None:
        assert time.monotonic() < deadline, "the claim of a stopped worker did not lapse"
        time.sleep(0.1)


def test_a_command_sent_while_redis_restarts_waits_for_it_instead_of_failing(tmp_path):
    """A retrain's own calls (its attempt count, its claim) ride out a Redis restart: without, one in three retrains
    running across a restart failed with "Connection refused"."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        client = redis_client(server.url, patience_seconds=10)
        client.set("attempts", 1)
        server.stop()
        restart = threading.Timer(2.0, server.start)  # down for two seconds, as a restart is
        restart.start()

        # Sent while Redis is down, so its answer proves it waited; kept across the restart, and counted once.
        assert client.incr("attempts") == 2
        restart.join()
    finally:
        server.stop()
