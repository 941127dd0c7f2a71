"""The pre-generation hook refuses bad answers with a reason a person can act on."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cookiecutter.exceptions import FailedHookException

from .conftest import TEMPLATE

BAD_ANSWERS = [
    ({"app_name": "Bad-Name"}, "app_name 'Bad-Name' must be a lowercase Python identifier"),
    ({"app_name": "class"}, "app_name 'class' must be a lowercase Python identifier"),
    ({"target": " "}, "target must name the column to predict"),
    ({"data_source": "bigquery", "gcp_project": ""}, "data_source bigquery needs a gcp_project"),
    ({"gcp_project": "My Project"}, "gcp_project 'My Project' is not a Google Cloud project id"),
    ({"bigquery_dataset": "2024-data"}, "bigquery_dataset '2024-data' may hold only letters, digits and _"),
    ({"python_version": "3.9"}, "python_version '3.9' must be 3.11 or newer"),
    ({"model_name": "my model"}, "model_name 'my model' must start with a letter or digit"),
]


@pytest.mark.parametrize(
    ("answers", "reason"), BAD_ANSWERS, ids=[next(iter(a)) + "=" + repr(next(iter(a.values()))) for a, _ in BAD_ANSWERS]
)
def test_bad_answers_stop_generation_with_the_reason(cookies, capfd, answers, reason):
    result = cookies.bake(extra_context=answers)

    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None or not result.project_path.exists()
    assert reason in capfd.readouterr().err


def test_the_cookiecutter_command_refuses_a_bad_app_name_in_one_line(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "cookiecutter", str(TEMPLATE), "--no-input", "app_name=Bad-Name", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
    )

    assert finished.returncode != 0
    reasons = [line for line in finished.stderr.splitlines() if line.startswith("ERROR:")]
    assert reasons == [
        "ERROR: app_name 'Bad-Name' must be a lowercase Python identifier "
        "(letters, digits and _, starting with a letter), e.g. bookkeeping_retrain"
    ]
    assert list(tmp_path.iterdir()) == []
