"""The whole app as deployed: uWSGI, a Celery worker process and Redis (see the app_client fixture)."""

from __future__ import annotations

import io
import threading
import time

import pandas as pd
import pytest
import requests

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import read_csv

from .support.data import APP_ROOT, DATA

pytestmark = pytest.mark.integration
SWAP_TIMEOUT_SECONDS = 60
CONSISTENT_ANSWERS = 20
KEEP_ALIVE_CLIENTS, KEEP_ALIVE_REQUESTS = 4, 250


def first_new_record(target: str) -> list[dict]:
    """The first row of dataset_2.csv as a JSON client sends it: no target, missing values as null (not NaN)."""
    row = read_csv(DATA / "dataset_2.csv").drop(columns=[target]).head(1)
    return row.astype(object).where(row.notna(), None).to_dict(orient="records")


def test_predict_then_train_then_the_new_champion_answers(app_client):
    target = load_settings(root=APP_ROOT).app.target
    new_rows = read_csv(DATA / "dataset_2.csv")
    before = app_client.health()["model_version"]
    predictions = pd.read_csv(io.BytesIO(app_client.predict_csv(DATA / "dataset_2.csv")), dtype=str)
    assert len(predictions) == len(new_rows) and f"predicted_{target}" in predictions.columns

    # Keep predicting while the worker retrains and the app swaps models: no request may fail.
    record = first_new_record(target)
    failures, versions_seen, stop = [], set(), threading.Event()

    def keep_predicting() -> None:
        while not stop.is_set():
            try:
                versions_seen.add(app_client.predict_records(record)["model_version"])
            except Exception as error:  # noqa: BLE001  every failure is a finding
                failures.append(error)

    predictor = threading.Thread(target=keep_predicting)
    predictor.start()
    try:
        queued = app_client.train(DATA / "dataset_2.csv")
        assert queued["rows_added"] == len(new_rows)
        job = app_client.follow(queued["job_id"], timeout=600)
        assert job["state"] == "done", job["message"]
        report = job["report"]
        assert report["promoted"], report["reason"]
        assert app_client.models()["serving"][report["environment"]] == report["challenger_version"]
        # Every web process checks the alias on its own: wait until answers in a row all come from the new model.
        deadline, in_a_row = time.monotonic() + SWAP_TIMEOUT_SECONDS, 0
        while in_a_row < CONSISTENT_ANSWERS:
            assert time.monotonic() < deadline, "the app did not start serving the new champion"
            served = app_client.predict_records(record)["model_version"]
            in_a_row = in_a_row + 1 if served == report["challenger_version"] else 0
        # The other client too: its requests may have queued behind the swap.
        deadline = time.monotonic() + SWAP_TIMEOUT_SECONDS
        while report["challenger_version"] not in versions_seen:
            assert time.monotonic() < deadline, f"the other client saw only {versions_seen}"
            time.sleep(0.1)
    finally:
        stop.set()
        predictor.join()

    assert failures == []
    assert report["challenger_version"] != before and {before, report["challenger_version"]} <= versions_seen


def test_clients_that_keep_connections_open_get_every_answer(app_client):
    # requests.Session, like most HTTP clients and proxies, sends the next request on the same connection unless the
    # server said it would close it.
    record = first_new_record(load_settings(root=APP_ROOT).app.target)
    failures, answered = [], []

    def client() -> None:
        with requests.Session() as session:
            session.headers["X-API-Key"] = app_client.api_key
            for _ in range(KEEP_ALIVE_REQUESTS):
                try:
                    answer = session.post(f"{app_client.url}/predict", json={"records": record}, timeout=30)
                    answered.append(answer.status_code)
                except requests.RequestException as error:
                    failures.append(repr(error))

    clients = [threading.Thread(target=client) for _ in range(KEEP_ALIVE_CLIENTS)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()

    assert failures == [], f"{len(failures)} of {KEEP_ALIVE_CLIENTS * KEEP_ALIVE_REQUESTS} failed, e.g. {failures[0]}"
    assert answered == [200] * KEEP_ALIVE_CLIENTS * KEEP_ALIVE_REQUESTS
