"""Every kind of bad input (tests/bad_inputs.py) sent to the app as deployed, under uWSGI: each answer a 4xx naming
the problem, and nothing queued."""

from __future__ import annotations

import pytest
import requests

from {{ cookiecutter.app_name }}.config import load_settings

from .bad_inputs import BAD_INPUTS, Sample, requests_arguments
from .conftest import APP_ROOT, data_rows, table_schema

pytestmark = pytest.mark.integration


def test_every_kind_of_bad_input_is_refused_under_uwsgi_and_queues_nothing(app_client):
    app = load_settings(root=APP_ROOT).app
    sample = Sample(data_rows("dataset_2.csv", 5), app.target, table_schema(), app.problem_type, app.max_upload_mb)
    wrong, sent = [], 0

    for bad in BAD_INPUTS:
        request = bad.request(sample)
        for endpoint in bad.endpoints if request is not None else ():
            arguments = requests_arguments(request, app_client.api_key)
            answer = requests.post(f"{app_client.url}{endpoint}", **arguments, timeout=120)
            sent += 1
            said = answer.json().get("error", "") if answer.headers.get("Content-Type") == "application/json" else ""
            if answer.status_code != bad.status or bad.message not in said:
                wrong.append(f"{bad.kind} to {endpoint}: {answer.status_code} {answer.text[:300]}")

    assert wrong == [], f"{len(wrong)} of {sent} answered otherwise:\n" + "\n".join(wrong)
    assert app_client.retrain()["newly_queued"]  # no bad upload left a retrain waiting
