"""The generated app is the product: install it in its own venv and run its own tests and journey."""

from __future__ import annotations

import json
import os
import re

import pytest

from .conftest import VARIANTS, run_in_app

READ_REGISTRY = """
import json
from {app}.config import load_settings
from {app}.registry import open_registry
registry = open_registry(load_settings())
print(json.dumps({{
    "aliases": registry.aliases(),
    "versions": {{v.version: {{"passed": v.passed, "score": v.score, "champion_score": v.champion_score}}
                 for v in registry.versions()}},
}}))
"""


def app_env(tmp_path) -> dict[str, str]:
    outside = ("MLFLOW_TRACKING_URI", "APP_ENVIRONMENT", "BIGQUERY_API_ENDPOINT")  # the tests choose these themselves
    env = {key: value for key, value in os.environ.items() if key not in outside}
    return {**env, "APP_STATE_DIR": str(tmp_path / "state")}


@pytest.mark.parametrize(
    "answers, marks",
    # The git hook and the workflows are the same whatever the model predicts: one variant runs them.
    [({}, "unit or git or workflows"), ({"problem_type": "regression", "target": "Amount"}, "unit")],
    ids=["classification", "regression"],
)
def test_the_app_passes_its_own_unit_tests(bake, tmp_path, answers, marks):
    app = bake(**answers)

    finished = run_in_app(app, "-m", "pytest", "-m", marks, "-q", "-p", "no:cacheprovider", env=app_env(tmp_path))

    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-2000:]
    assert " passed" in finished.stdout and " failed" not in finished.stdout


def test_the_app_passes_its_own_integration_and_browser_tests(bake, tmp_path):
    app = bake()

    finished = run_in_app(
        app, "-m", "pytest", "-m", "integration", "-q", "-rs", "-p", "no:cacheprovider", env=app_env(tmp_path)
    )

    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-2000:]
    summary = re.findall(r"(\d+) (passed|skipped|failed|errors?)", finished.stdout)
    outcomes = {outcome: int(count) for count, outcome in summary}
    if outcomes.get("skipped"):
        # Only the browser test may skip, where no Chromium is installed; CI installs it (.ci/run), so not there.
        assert not os.environ.get("CI") and outcomes["skipped"] == 1, finished.stdout[-2000:]
        assert "Chromium" in finished.stdout, finished.stdout[-2000:]
    else:
        assert (app / "artifacts" / "browser_journey.png").stat().st_size > 0
    # The UI journey, run_server stopped by Ctrl-C and by kill, and the image's commands passing the smoke tests.
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == 5, finished.stdout[-2000:]


def test_a_bigquery_app_passes_its_own_tests_on_the_bigquery_emulator(bake, tmp_path):
    app = bake(**VARIANTS["classification-bigquery"])

    finished = run_in_app(
        app, "-m", "pytest", "-m", "unit or bigquery", "-q", "-rs", "-p", "no:cacheprovider", env=app_env(tmp_path)
    )

    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-2000:]
    assert " passed" in finished.stdout, finished.stdout[-2000:]
    if "skipped" in finished.stdout:
        # Only where no Python 3.13 can run the emulator, and never in CI (.ci/run): there every test must run.
        assert not os.environ.get("CI") and "needs Python 3.13" in finished.stdout, finished.stdout[-2000:]


def test_local_retrain_promotes_v1_then_v2_after_corrected_data_arrives(bake, tmp_path):
    app = bake()
    env = app_env(tmp_path)

    def run(*args: str) -> str:
        finished = run_in_app(app, *args, env=env)
        assert finished.returncode == 0, f"{args}: {finished.stdout[-3000:]}{finished.stderr[-3000:]}"
        return finished.stdout

    run("local/create_database.py")
    run("local/upload_data.py", "data/dataset_1.csv")
    first = run("local_retrain.py")
    run("local/upload_data.py", "data/dataset_2.csv")
    second = run("local_retrain.py")

    assert "Promoted v1 to [integration]" in first
    assert "Promoted v2 to [integration]" in second and "beats champion" in second
    registry = json.loads(run("-c", READ_REGISTRY.format(app=app.name)))
    assert registry["aliases"] == {"integration": 2}
    v2 = registry["versions"]["2"]
    assert v2["passed"] and v2["score"] > v2["champion_score"]
