"""/metrics on the probes port, in Prometheus's text format: requests, latency, the version served, predictions by
class; under uWSGI, the sum of every web process."""

from __future__ import annotations

import dataclasses
import io

import pandas as pd
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.app_name }}.config import APP_NAME, load_settings
from {{ cookiecutter.app_name }}.datastore import open_datastore
from {{ cookiecutter.app_name }}.laptop.stack import local_stack
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port
from {{ cookiecutter.app_name }}.web import create_app
from {{ cookiecutter.app_name }}.web.metrics import SERVED_VERSION, exposition
from {{ cookiecutter.app_name }}.web.probes import only_probes

from .conftest import FIRST_MODEL_ROWS, wait_until_ready
from .support.data import APP_ROOT, data_rows, table_schema

KEY = {"X-API-Key": "test-key"}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of metric sample `name` (without the app's prefix) with these labels; 0 if there is none yet."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == f"{APP_NAME}_{name}" and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


@pytest.mark.unit
def test_metrics_count_requests_by_route_and_status_and_predictions_by_class(served):
    wait_until_ready(served.client)
    target = served.settings.app.target
    rows = data_rows("dataset_2.csv", 30).drop(columns=[target])
    before = exposition(served.settings)[0].decode()

    single = served.client.post("/predict", json={"records": rows.head(1).to_dict(orient="records")}, headers=KEY)
    upload = {"file": (io.BytesIO(rows.to_csv(index=False).encode()), "rows.csv")}
    batch = served.client.post("/predict", data=upload, headers=KEY)
    refused = served.client.post("/predict", json={"records": []})  # no key
    missing = served.client.get("/jobs/no-such-job", headers=KEY)
    text, content_type = exposition(served.settings)
    after = text.decode()

    assert (single.status_code, batch.status_code, refused.status_code, missing.status_code) == (200, 200, 401, 404)
    assert content_type.startswith("text/plain; version=")

    def change(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert change("requests_total", endpoint="/predict", method="POST", status="200") == 2
    assert change("requests_total", endpoint="/predict", method="POST", status="401") == 1
    assert change("requests_total", endpoint="/jobs/<job_id>", method="GET", status="404") == 1  # the route, not ids
    assert change("request_seconds_count", endpoint="/predict") == 3
    assert sample(after, "served_model_version") == served.version
    predicted = [row[f"predicted_{target}"] for row in single.json["predictions"]]
    predicted += list(pd.read_csv(io.BytesIO(batch.data), dtype=str)[f"predicted_{target}"])
    counts = {label: predicted.count(label) for label in set(predicted)}
    by_class = counts if served.settings.app.problem_type == "classification" else dict.fromkeys(counts, 0)
    assert {label: change("predictions_total", predicted=label) for label in counts} == by_class


@pytest.mark.unit
def test_the_served_version_is_on_metrics_once_the_model_loads_before_any_prediction(served):
    SERVED_VERSION.set(0)  # as in a process that has not loaded a model yet
    wait_until_ready(create_app(served.settings, load_model_now=True).test_client())

    assert sample(exposition(served.settings)[0].decode(), "served_model_version") == served.version


@pytest.mark.unit
def test_the_probes_port_answers_metrics_and_nothing_else_but_the_probes(served):
    probes = only_probes(served.client.application, served.settings)
    answers = {}

    def start_response(status, headers):
        answers["status"], answers["headers"] = status, dict(headers)

    body = b"".join(probes({"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET"}, start_response))
    assert answers["status"] == "200 OK" and f"{APP_NAME}_requests_total".encode() in body
    refused = b"".join(probes({"PATH_INFO": "/predict", "REQUEST_METHOD": "POST"}, start_response))
    assert answers["status"] == "404 Not Found" and b"/metrics" in refused


@pytest.fixture(scope="module")
def stack_with_probes(tmp_path_factory: pytest.TempPathFactory):
    """The app as a pod runs it: uWSGI (two processes), a worker and Redis, each process also on a probes port."""
    state = tmp_path_factory.mktemp("state")
    loaded = load_settings("integration", root=APP_ROOT)
    settings = dataclasses.replace(loaded.with_state_dir(state), api_key="integration-key")
    store = open_datastore(settings)
    store.create(table_schema())
    store.append(data_rows("dataset_1.csv", FIRST_MODEL_ROWS))
    retrain(settings=settings)
    probe_port = free_port()
    with local_stack(settings, free_port(), log_folder=state, probe_port=probe_port) as stack:
        yield settings, stack.url, f"http://127.0.0.1:{probe_port}"


@pytest.mark.integration
def test_under_uwsgi_metrics_sum_every_web_process(stack_with_probes):
    settings, url, probe_url = stack_with_probes
    assert settings.app.processes > 1, "one web process: nothing to sum"
    record = data_rows("dataset_2.csv", 1).drop(columns=[settings.app.target]).to_dict(orient="records")
    before = requests.get(f"{probe_url}/metrics", timeout=10).text

    for _ in range(40):  # each on a connection of its own (uWSGI closes them), spread over the processes
        answer = requests.post(f"{url}/predict", json={"records": record}, headers={"X-API-Key": settings.api_key},
                               timeout=30)  # fmt: skip
        assert answer.status_code == 200, answer.text

    # Whichever process answers (the kernel spreads the probe port's connections), it reports all 40.
    for _ in range(6):
        after = requests.get(f"{probe_url}/metrics", timeout=10).text
        served = sample(after, "requests_total", endpoint="/predict", method="POST", status="200")
        assert served - sample(before, "requests_total", endpoint="/predict", method="POST", status="200") == 40
    assert requests.get(f"{url}/metrics", timeout=10).status_code == 404  # not on the app's own port
