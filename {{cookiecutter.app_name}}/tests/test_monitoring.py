"""Monitoring on data of another shape than the app's own: the prediction log, drift and score reports, the
conditions that start a retrain, and approval where an environment promotes by hand."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import redis
import requests

from {{ cookiecutter.app_name }}.__main__ import main
from {{ cookiecutter.app_name }}.datastore import entry, open_datastore, open_journal
from {{ cookiecutter.app_name }}.laptop.client import AppClient
from {{ cookiecutter.app_name }}.laptop.stack import local_stack
from {{ cookiecutter.app_name }}.monitoring import drift as drift_module
from {{ cookiecutter.app_name }}.monitoring.drift import drift
from {{ cookiecutter.app_name }}.monitoring.prediction_log import (
    MAX_ROWS_PER_REQUEST,
    PredictionLog,
    as_lines,
    drain,
    waiting_key,
)
from {{ cookiecutter.app_name }}.monitoring.reports import recent_records, run_monitor
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port
from {{ cookiecutter.app_name }}.registry import open_registry
from {{ cookiecutter.app_name }}.web.metrics import exposition
from {{ cookiecutter.app_name }}.worker.celery_app import make_celery
from {{ cookiecutter.app_name }}.worker.queue import RetrainQueue

from .conftest import for_the_web, sensor_app, wait_until_ready
from .support.data import sensor_rows
from .test_metrics import sample

KEY = {"X-API-Key": "test-key"}
ROLES = {"temperature": "numeric", "vibration": "numeric", "site": "categorical", "load": "numeric"}


def inputs(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["status"])


def flipped(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows labelled the other way round: a world in which the champion is wrong."""
    return frame.assign(status=frame["status"].map({"ok": "fault", "fault": "ok"}))


@pytest.mark.unit
@pytest.mark.parametrize("reference_rows", [600, 3000])  # the tests for small references, then for large ones
def test_drift_finds_the_columns_that_moved_and_only_those(reference_rows):
    reference = inputs(sensor_rows(reference_rows, seed=1))
    unchanged = drift(reference, inputs(sensor_rows(400, seed=2)), ROLES)
    moved = drift(reference, inputs(sensor_rows(400, seed=3, shifted=True)), ROLES)

    assert [column.column for column in unchanged if column.drifted] == []
    assert sorted(column.column for column in moved if column.drifted) == ["site", "temperature"]
    small = reference_rows <= drift_module.SMALL_REFERENCE_ROWS
    expected = {"numeric": "ks" if small else "wasserstein", "categorical": "chi2" if small else "jensen_shannon"}
    assert {column.column: column.test for column in moved} == {c: expected[role] for c, role in ROLES.items()}


@pytest.mark.unit
def test_text_and_dates_are_not_tested_and_a_number_of_few_values_is_tested_as_categories():
    reference = pd.DataFrame({"note": ["a b c"] * 50, "day": pd.date_range("2026-01-01", periods=50),
                              "grade": [1, 2, 3] * 16 + [1, 2]})  # fmt: skip
    current = pd.DataFrame({"note": ["x y z"] * 50, "day": pd.date_range("2026-06-01", periods=50),
                            "grade": [3] * 50})  # fmt: skip

    [grade] = drift(reference, current, {"note": "text", "day": "datetime", "grade": "numeric"})

    assert (grade.column, grade.test, grade.drifted) == ("grade", "chi2", True)


@pytest.mark.unit
def test_predictions_go_through_redis_into_the_journal_sampled_and_bounded_and_old_ones_are_forgotten(
    tmp_path, monkeypatch, request, redis_url
):
    settings = sensor_app(tmp_path, monkeypatch, request)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    rows = inputs(sensor_rows(3000, seed=4))
    log = PredictionLog(redis_url, settings.environment, sample_rate=1.0)
    single = rows.head(1).to_dict(orient="records")
    log.record(7, single, [{"predicted_status": "ok", "probabilities": {"fault": 0.1, "ok": 0.9}}])
    log.record(7, rows, pd.DataFrame({"predicted_status": ["ok"] * len(rows)}, index=rows.index))  # a large CSV
    sampled = PredictionLog(redis_url, settings.environment, sample_rate=0.5)
    sampled.record(8, rows.head(2000).to_dict(orient="records"), [{"predicted_status": "ok"}] * 2000)

    sent = log.flush() + sampled.flush()
    journal = open_journal(settings, "predictions")
    moved = drain(client, journal, settings.environment)
    logged = journal.read()

    assert moved == sent == len(logged)
    records = [json.loads(record) for record in logged["record"]]
    from_csv = (logged["model_version"] == 7).sum() - 1
    assert from_csv == MAX_ROWS_PER_REQUEST  # a random sample of a large CSV, not all of it
    assert 850 <= (logged["model_version"] == 8).sum() <= 1150  # half of 2,000 rows, give or take 7 deviations
    assert records[0] == {"inputs": single[0], "output": {"predicted_status": "ok",
                                                          "probabilities": {"fault": 0.1, "ok": 0.9}}}  # fmt: skip
    assert drain(client, journal, settings.environment) == 0  # nothing is taken in twice
    assert journal.delete_before(datetime.now(UTC) - timedelta(days=1)) == 0
    assert journal.delete_before(datetime.now(UTC) + timedelta(seconds=1)) == len(logged)
    assert journal.read().empty


@pytest.mark.unit
def test_entries_logged_on_a_whole_second_are_taken_in_beside_the_others(tmp_path, monkeypatch, request, redis_url):
    settings = sensor_app(tmp_path, monkeypatch, request)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    whole_second, later = datetime(2026, 12, 1, 3, 46, 34, tzinfo=UTC), datetime(2026, 12, 1, 3, 46, 34, 500, UTC)
    for moment in (whole_second, later):  # isoformat() leaves out the fraction of the first
        client.rpush(
            waiting_key(settings.environment), *as_lines(moment, 1, [{"load": 1}], [{"predicted_status": "ok"}])
        )

    journal = open_journal(settings, "predictions")

    assert drain(client, journal, settings.environment) == 2
    assert list(journal.read()["logged_at"]) == [whole_second.replace(tzinfo=None), later.replace(tzinfo=None)]


@pytest.mark.unit
def test_while_redis_is_away_predictions_wait_in_the_process_and_are_sent_once_it_is_back(
    tmp_path, monkeypatch, request, redis_url
):
    settings = sensor_app(tmp_path, monkeypatch, request)
    environment = "redis-away"  # a queue of its own: web apps of earlier tests may still send to integration's
    log = PredictionLog(f"redis://127.0.0.1:{free_port()}/0", environment, sample_rate=1.0)  # no Redis there
    rows = inputs(sensor_rows(5, seed=5)).to_dict(orient="records")

    log.record(1, rows, [{"predicted_status": "ok"}] * 5)
    assert log.flush() == 0  # refused, and kept

    log.redis = redis.Redis.from_url(redis_url)
    assert log.flush() == 5
    assert drain(redis.Redis.from_url(redis_url), open_journal(settings, "predictions"), environment) == 5


@pytest.fixture
def monitored(tmp_path, monkeypatch, request, redis_url):
    """A sensor app whose retrains start on drift or a score drop, serving v1 trained on 600 rows, with its web app
    and retrain queue on a real Redis (no worker: the queued retrains wait)."""
    settings = sensor_app(tmp_path, monkeypatch, request, retrain_when={"drift_share": 0.5, "score_drop": 0.1})
    open_datastore(settings).append(sensor_rows(600, seed=6))
    retrain(settings)
    return for_the_web(settings, redis_url)


@pytest.mark.unit
def test_shifted_inputs_and_labels_the_champion_gets_wrong_queue_one_retrain_that_records_what_started_it(monitored):
    from {{ cookiecutter.app_name }}.web import create_app

    settings, registry = monitored, open_registry(monitored)
    web = create_app(settings).test_client()
    wait_until_ready(web)
    shifted = sensor_rows(300, seed=7, shifted=True)
    predicted = web.post("/predict", json={"records": inputs(shifted).to_dict(orient="records")}, headers=KEY)
    web.application.extensions["Services"].prediction_log.flush()
    upload = {"file": (io.BytesIO(flipped(sensor_rows(100, seed=8)).to_csv(index=False).encode()), "labels.csv")}
    trained = web.post("/train", data=upload, headers=KEY)
    queue = RetrainQueue(make_celery(settings), redis.Redis.from_url(settings.redis_url), 60)

    def enqueue(environment: str, reason: str, trigger: str) -> str:
        return queue.enqueue(environment, reason, trigger)[0]

    report = run_monitor(settings, registry, queue.redis, enqueue)
    again = run_monitor(settings, registry, queue.redis, enqueue)

    assert predicted.status_code == 200
    # The upload: scored by the champion, which gets most of them wrong, and that alone starts a retrain.
    assert trained.status_code == 202 and trained.json["trigger"] == "score_drop"
    assert trained.json["champion_score"] < 0.5 and trained.json["champion_version"] == 1
    assert queue.status(trained.json["job_id"])["trigger"] == "score_drop"
    # The monitor: the inputs drifted and the score fell; the retrain it asks for is the one already waiting.
    assert report.predictions == 300 and report.drift_share >= 0.5
    assert {column["column"] for column in report.drift if column["drifted"]} >= {"temperature", "site"}
    assert report.labelled_rows == 100 and report.score_drop > 0.1
    assert report.triggers == ["drift", "score_drop"] and report.retrain_job == trained.json["job_id"]
    # Asked again about the same champion and rows, it queues nothing more.
    assert again.retrain_job is None and "already" in again.notes[-1]
    assert [r["retrain_job"] for _, r in recent_records(settings, "report")] == [report.retrain_job, None]
    monitoring = web.get("/monitoring", headers=KEY).json
    assert [r["checked_at"] for r in monitoring["reports"]] == [report.checked_at, again.checked_at]
    assert monitoring["labelled"][0]["rows"] == 100
    # The newest report's figures are metrics of the web app too.
    metrics = exposition(settings)[0].decode()
    assert sample(metrics, "drift_share") == pytest.approx(again.drift_share)
    assert sample(metrics, "labelled_score") == pytest.approx(again.labelled_score)
    assert sample(metrics, "registered_score") == pytest.approx(again.registered_score)


@pytest.mark.unit
def test_data_upload_scores_the_champion_on_new_labels_and_queues_a_retrain_as_train_does(
    monitored, tmp_path, monkeypatch, capsys
):
    from {{ cookiecutter.app_name }}.web import create_app

    assert main(["promote", "--from", "integration"]) == 0  # v1 serves uat too
    labels = flipped(sensor_rows(100, seed=8))
    web = create_app(monitored).test_client()
    wait_until_ready(web)
    upload = {"file": (io.BytesIO(labels.to_csv(index=False).encode()), "labels.csv")}
    trained = web.post("/train", data=upload, headers=KEY)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    monkeypatch.setenv("REDIS_URL", monitored.redis_url)
    capsys.readouterr()

    assert main(["data", "upload", str(tmp_path / "labels.csv"), "--environment", "uat"]) == 0
    printed = capsys.readouterr().out

    def labelled(environment: str) -> tuple[int | None, dict]:
        [(version, record)] = recent_records(monitored.for_environment(environment), "labelled")
        return version, {key: value for key, value in record.items() if key != "labelled_at"}

    assert trained.status_code == 202 and trained.json["trigger"] == "score_drop"
    assert labelled("uat") == labelled("integration") and labelled("uat")[0] == 1
    assert labelled("uat")[1]["score"] == trained.json["champion_score"] < 0.5
    assert f"scores {monitored.app.score_type} {trained.json['champion_score']:.4f}" in printed
    [job_id] = re.findall(r"Retrain (\w+) queued \(trigger: score_drop\)", printed)
    queue = RetrainQueue(make_celery(monitored), redis.Redis.from_url(monitored.redis_url), 60)
    assert queue.status(job_id)["trigger"] == queue.status(trained.json["job_id"])["trigger"] == "score_drop"


@pytest.mark.unit
def test_without_retrain_when_an_upload_retrains_at_once_and_is_still_scored_by_the_champion(
    tmp_path, monkeypatch, request, redis_url
):
    from {{ cookiecutter.app_name }}.web import create_app

    settings = sensor_app(tmp_path, monkeypatch, request)
    open_datastore(settings).append(sensor_rows(300, seed=9))
    retrain(settings)
    web = create_app(for_the_web(settings, redis_url)).test_client()
    wait_until_ready(web)
    upload = {"file": (io.BytesIO(sensor_rows(50, seed=10).to_csv(index=False).encode()), "more.csv")}

    trained = web.post("/train", data=upload, headers=KEY)

    assert trained.status_code == 202 and trained.json["trigger"] == "upload"
    assert 0.5 < trained.json["champion_score"] <= 1


@pytest.mark.unit
def test_with_retrain_when_an_upload_to_an_environment_with_no_model_yet_trains_its_first(
    tmp_path, monkeypatch, request, redis_url
):
    from {{ cookiecutter.app_name }}.web import create_app

    settings = sensor_app(tmp_path, monkeypatch, request, retrain_when={"new_rows": 10_000})
    web = create_app(for_the_web(settings, redis_url)).test_client()
    wait_until_ready(web)
    upload = {"file": (io.BytesIO(sensor_rows(100, seed=15).to_csv(index=False).encode()), "first.csv")}

    trained = web.post("/train", data=upload, headers=KEY)

    assert trained.status_code == 202 and trained.json["trigger"] == "upload"


@pytest.mark.unit
def test_where_auto_promote_is_false_a_better_model_waits_until_promote_version_serves_it(
    tmp_path, monkeypatch, request, capsys
):
    settings = sensor_app(tmp_path, monkeypatch, request).for_environment("production")
    assert not settings.environment_config.auto_promote  # production's default
    store, registry = open_datastore(settings), open_registry(settings)
    store.create(open_datastore(settings, "integration").schema())
    store.append(sensor_rows(80, seed=11))

    first = retrain(settings, trigger="manual")
    assert first.passed and first.awaiting_approval and not first.promoted
    assert registry.champion_version("production") is None
    assert main(["promote", "--version", str(first.challenger_version), "--environment", "production"]) == 0
    store.append(sensor_rows(900, seed=12))
    better = retrain(settings, trigger="new_rows")
    waiting = registry.version(better.challenger_version)

    assert better.passed and better.awaiting_approval and "waiting for approval" in better.reason
    assert registry.champion_version("production") == first.challenger_version  # still
    assert waiting.awaiting_approval and waiting.trigger == "new_rows"
    capsys.readouterr()
    assert main(["promote", "--version", str(better.challenger_version), "--environment", "production"]) == 0
    assert registry.champion_version("production") == better.challenger_version
    assert main(["history", "production"]) == 0
    assert capsys.readouterr().out.count("approve") == 2
    # Only a version that passed the gate in this very environment can be approved in it.
    refused = main(["promote", "--version", "99", "--environment", "production"])
    assert refused == 2 and "there is no model version v99" in capsys.readouterr().err


@pytest.mark.integration
def test_the_scheduled_monitor_sees_shifted_inputs_and_starts_a_retrain_that_records_drift(
    tmp_path, monkeypatch, request
):
    """On real parts: uWSGI logs the predictions, Celery beat runs the monitor each minute, the worker takes the log
    in, finds the drift and runs the retrain it starts."""
    settings = sensor_app(tmp_path, monkeypatch, request, monitor_schedule="* * * * *",
                          retrain_when={"drift_share": 0.5})  # fmt: skip
    open_datastore(settings).append(sensor_rows(600, seed=13))
    retrain(settings)
    probes = free_port()
    with local_stack(settings, free_port(), log_folder=tmp_path, probe_port=probes) as stack:
        app = AppClient(stack.url, settings.api_key)
        for rows in range(0, 300, 50):  # as clients send them
            app.predict_records(inputs(sensor_rows(50, seed=14 + rows, shifted=True)).to_dict(orient="records"))
        deadline = time.monotonic() + 180  # the next minute, the monitor's run, and the retrain
        while not (found := [r for r in app.monitoring()["reports"] if r["retrain_job"]]):
            assert time.monotonic() < deadline, f"no report queued a retrain: {app.monitoring()['reports']}"
            time.sleep(1)
        job = app.follow(found[0]["retrain_job"], timeout=max(1.0, deadline - time.monotonic()))
        versions = {v["version"]: v for v in app.models()["versions"]}
        metrics = requests.get(f"http://127.0.0.1:{probes}/metrics", timeout=10).text

    assert found[0]["triggers"] == ["drift"] and found[0]["predictions"] == 300
    assert job["state"] == "done" and job["trigger"] == "drift"
    assert versions[job["report"]["challenger_version"]]["trigger"] == "drift"
    outcome = "promoted" if job["report"]["promoted"] else "kept"
    assert sample(metrics, "retrains_total", outcome=outcome, trigger="drift") == 1
    assert sample(metrics, "drift_share") == found[0]["drift_share"]


@pytest.mark.bigquery
def test_a_journal_on_bigquery_keeps_records_in_order_and_forgets_the_old_ones(bigquery_settings):
    journal = open_journal(bigquery_settings, "monitoring")
    now = datetime.now(UTC)
    records = pd.DataFrame(
        [entry({"kind": "report", "n": n}, n, now - timedelta(hours=3 - n)) for n in range(3)]  # oldest first
    )

    assert journal.read().empty  # before its table exists
    assert journal.append(records.iloc[::-1]) == 3

    assert [json.loads(r)["n"] for r in journal.read()["record"]] == [0, 1, 2]
    assert list(journal.read(limit=2)["model_version"]) == [1, 2]  # the newest two
    assert list(journal.read(since=now - timedelta(hours=2, minutes=30))["model_version"]) == [1, 2]
    assert journal.delete_before(now - timedelta(hours=1, minutes=30)) == 2
    assert list(journal.read()["model_version"]) == [2]
