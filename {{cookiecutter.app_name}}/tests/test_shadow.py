"""Shadow traffic: a share of production's /predict requests answered again by a shadow environment's own web app,
off the request path, both answers kept side by side in production's prediction log, and the shadow report on them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
import redis
import yaml
from prometheus_client import REGISTRY
from werkzeug.serving import make_server

from {{ cookiecutter.app_name }}.__main__ import main
from {{ cookiecutter.app_name }}.comparison.shadow import agrees, shadow_report
from {{ cookiecutter.app_name }}.config import APP_NAME, Settings, environment_config_path
from {{ cookiecutter.app_name }}.datastore import conform, open_datastore, open_journal
from {{ cookiecutter.app_name }}.environments import create_challenger
from {{ cookiecutter.app_name }}.environments.shadows import ShadowError, record_shadow
from {{ cookiecutter.app_name }}.ml.scores import score_predictions
from {{ cookiecutter.app_name }}.monitoring.prediction_log import drain, logged_inputs
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port
from {{ cookiecutter.app_name }}.registry import open_registry
from {{ cookiecutter.app_name }}.web import create_app
from {{ cookiecutter.app_name }}.web.services import Services

from .conftest import for_the_web
from .support.data import data_rows, table_schema
from .test_environments import trained_environment
from .test_run_server import wait_for

pytestmark = pytest.mark.unit


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The web app of `settings` on a port of this machine, served by a thread; its URL."""
    server = make_server("127.0.0.1", free_port(), create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def shadow_of_integration(settings: Settings, share: float, retrained: bool = True) -> Settings:
    """Challenger pr-7 of integration shadowing it; `retrained` on rows that arrived later: a model of its own."""
    trained_environment(settings, "integration")
    create_challenger(settings, "pr-7", "integration")
    if retrained:
        open_datastore(settings, "pr-7").append(data_rows("dataset_2.csv", 300))
        retrain(settings.for_environment("pr-7"))
    path = environment_config_path(settings.root, "pr-7")
    config = {**yaml.safe_load(path.read_text()), "shadow_of": "integration", "shadow_share": share}
    path.write_text(yaml.safe_dump(config))
    return settings.for_environment("pr-7")


def asked(rows: pd.DataFrame, target: str, requests: int) -> list[list[dict]]:
    """`rows` without their target, as a JSON client sends them (typed as the table types them, a missing value as
    null), in requests of one to three records each."""
    schema = {column: kind for column, kind in table_schema().items() if column != target}
    records = json.loads(conform(rows.drop(columns=[target]), schema).to_json(orient="records", date_format="iso"))
    sizes = [1 + position % 3 for position in range(requests)]
    assert len(records) >= sum(sizes), f"{requests} requests take {sum(sizes)} rows; {len(records)} given"
    starts = np.cumsum([0, *sizes[:-1]])
    return [records[start : start + size] for start, size in zip(starts, sizes, strict=True)]


def predict(client, records: list[dict]):
    return client.post("/predict", json={"records": records}, headers={"X-API-Key": "test-key"})


def mirrored(outcome: str) -> float:
    """How many requests this process has mirrored to pr-7 with `outcome` (answered, failed, dropped)."""
    labels = {"shadow": "pr-7", "outcome": outcome}
    return REGISTRY.get_sample_value(f"{APP_NAME}_shadow_requests_total", labels) or 0.0


def prediction_log(settings: Settings, redis_url: str, production, rows: int) -> pd.DataFrame:
    """The shadowed environment's prediction log once it holds `rows` rows: production's processes send theirs to
    Redis, and the worker moves them into the journal, as they do every few seconds."""
    services, journal = production.application.extensions[Services.__name__], open_journal(settings, "predictions")

    def moved() -> bool:
        services.prediction_log.flush()
        drain(redis.Redis.from_url(redis_url), journal, "integration")
        return len(journal.read()) >= rows

    wait_for(moved, 60, f"the prediction log did not reach {rows} rows")
    return journal.read()


def test_mirrored_requests_are_answered_by_the_shadow_and_reported_as_both_models_answer_them_again(
    own_root, redis_url, capsys
):
    settings = for_the_web(own_root, redis_url)
    shadow_settings = shadow_of_integration(settings, share=1.0)
    registry, target = open_registry(settings), settings.app.target
    later = data_rows("dataset_2.csv").iloc[300:400].reset_index(drop=True)  # rows neither trained on
    requests = asked(later, target, 40)
    production = create_app(settings).test_client()
    before = mirrored("answered")

    with serving(for_the_web(shadow_settings, redis_url)) as url:
        record_shadow(shadow_settings, registry, url)  # as its stack or its deploy does
        answered = [predict(production, records) for records in requests]
        wait_for(lambda: mirrored("answered") >= before + len(requests), 60, "the shadow did not answer every request")
    rows = sum(len(records) for records in requests)
    logged = prediction_log(settings, redis_url, production, rows)
    open_datastore(settings, "integration").append(later.head(rows))  # their true values arrive by upload

    report = shadow_report(shadow_settings, registry)

    assert [answer.status_code for answer in answered] == [200] * len(requests)
    # Each mirrored row is logged once, with both answers, and is part of what drift is measured on
    assert len(logged) == rows and len(logged_inputs(logged)) == rows
    assert (report.requests, report.rows) == (len(requests), rows)
    assert report.versions == {"production": [1], "shadow": [2]}
    # Both versions loaded from the registry again, predicting the same requests
    schema = {column: kind for column, kind in settings.app.schema.items() if column != target}
    features = conform(pd.DataFrame.from_records([r for records in requests for r in records]), schema,
                       ignore_extra=True, time_formats=settings.app.time_formats)  # fmt: skip
    production_says = pd.Series(registry.load(1).predict(features))
    shadow_says = pd.Series(registry.load(2).predict(features))
    assert report.agreed_rows == agrees(production_says, shadow_says, settings.app.problem_type).sum()
    truth = conform(later.head(rows), settings.app.schema, time_formats=settings.app.time_formats)[target]
    assert report.labelled_rows == rows
    for side, said in (("production", production_says), ("shadow", shadow_says)):
        assert report.scores[side] == pytest.approx(score_predictions(truth, said.to_numpy(), report.score_type))

    # Promoting the shadow shows how it answered, beside what moved.
    assert main(["promote", "--from", "pr-7"]) == 0
    shown = capsys.readouterr().out
    assert f"They agree on {report.agreed_rows:,} rows" in shown and "Promoted [pr-7] to [integration]" in shown


def test_a_stopped_shadow_fails_no_production_request(own_root, redis_url):
    settings = for_the_web(own_root, redis_url)
    shadow_settings = shadow_of_integration(settings, share=1.0, retrained=False)
    record_shadow(shadow_settings, open_registry(settings), f"http://127.0.0.1:{free_port()}")  # nothing answers
    production = create_app(settings).test_client()
    later = data_rows("dataset_2.csv").iloc[300:320]
    before = mirrored("failed")

    requests = asked(later, settings.app.target, 5)

    answered = [predict(production, records) for records in requests]

    assert [answer.status_code for answer in answered] == [200] * 5
    wait_for(lambda: mirrored("failed") >= before + 5, 60, "the failed requests were not counted")
    rows = sum(len(records) for records in requests)
    logged = prediction_log(settings, redis_url, production, rows)  # as any request is, without a shadow's answer
    assert len(logged) == rows and len(logged_inputs(logged)) == rows


def test_a_shadow_recorded_anywhere_but_its_own_service_is_sent_nothing(own_root, redis_url):
    # A pull request's job may write its shadow record: production's requests still go only to pr-7's own service.
    settings = for_the_web(own_root, redis_url)
    shadow_settings = shadow_of_integration(settings, share=1.0, retrained=False)
    received = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  the name http.server calls
            received.append(self.path)
            self.send_response(500)
            self.end_headers()

    elsewhere = ThreadingHTTPServer(("127.0.0.2", 0), Elsewhere)  # another address, as another host would be
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    try:
        record_shadow(shadow_settings, open_registry(settings), f"http://127.0.0.2:{elsewhere.server_port}")
        production = create_app(settings).test_client()
        before = mirrored("failed")
        later = data_rows("dataset_2.csv").iloc[300:310]
        answered = [predict(production, records) for records in asked(later, settings.app.target, 3)]
        wait_for(lambda: mirrored("failed") >= before + 3, 60, "the requests kept from it were not counted")
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()

    assert [answer.status_code for answer in answered] == [200] * 3 and received == []


def test_an_environment_cannot_shadow_itself_or_one_that_does_not_exist(own_root):
    settings = own_root
    path = environment_config_path(settings.root, "integration")
    for shadow_of in ("integration", "staging"):
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "shadow_of": shadow_of}))
        with pytest.raises(ShadowError, match=f"shadow_of is '{shadow_of}'; expected another environment"):
            record_shadow(settings.for_environment("integration"), open_registry(settings), "http://127.0.0.1:1")
