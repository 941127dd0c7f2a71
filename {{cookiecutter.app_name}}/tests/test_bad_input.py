"""Every kind of bad input (tests/bad_inputs.py) sent to the app as deployed, under uWSGI: each answer a 4xx naming
the problem, and nothing queued."""

from __future__ import annotations

import pytest
import requests

from {{ cookiecutter.app_name }}.config import load_settings

from .support.bad_inputs import requests_arguments, sample_for, sends_that_apply
from .support.data import APP_ROOT

pytestmark = pytest.mark.integration


def test_every_kind_of_bad_input_is_refused_under_uwsgi_and_queues_nothing(app_client):
    sample, wrong, sends = sample_for(load_settings(root=APP_ROOT).app), [], sends_that_apply()

    for bad, endpoint in sends:
        arguments = requests_arguments(bad.request(sample), app_client.api_key)
        answer = requests.post(f"{app_client.url}{endpoint}", **arguments, timeout=120)
        said = answer.json().get("error", "") if answer.headers.get("Content-Type") == "application/json" else ""
        if answer.status_code != bad.status or bad.message not in said:
            wrong.append(f"{bad.kind} to {endpoint}: {answer.status_code} {answer.text[:300]}")

    assert wrong == [], f"{len(wrong)} of {len(sends)} answered otherwise:\n" + "\n".join(wrong)
    assert app_client.retrain()["newly_queued"]  # no bad upload left a retrain waiting
