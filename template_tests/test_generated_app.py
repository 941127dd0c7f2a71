"""The generated app is the product: install it in its own venv and run its own tests and journey."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from dev.app_venv import app_python

from .conftest import VARIANTS, house_sales, monthly_orders, run_in_app

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


# The keys an upload of the demo's data/dataset_1.csv is stored under: computed once, they must stay these (a change
# would let a file loaded before it be loaded again).
READ_STORED_KEYS = """
import json
import duckdb
from {app}.config import load_settings
from {app}.datastore import open_datastore
from {app}.ml.row_hash import row_hashes
store = open_datastore(load_settings())
with duckdb.connect(str(store.path)) as connection:
    keys = connection.execute("SELECT digest, key_scheme FROM appended_rows").fetchall()
print(json.dumps({{"keys": keys, "first_rows": [f"{{value:016x}}" for value in row_hashes(store.read().head(3))]}}))
"""
DATASET_1_KEYS = {
    "keys": [["2c27dd48174a1fff", 1]],
    "first_rows": ["8b46e262c8f81745", "146df309dfe81af2", "11581c0ac61854be"],
}


def app_env(tmp_path) -> dict[str, str]:
    # the tests choose these themselves
    outside = ("MLFLOW_TRACKING_URI", "APP_ENVIRONMENT", "BIGQUERY_API_ENDPOINT", "BIGQUERY_STORAGE_API_ENDPOINT")
    env = {key: value for key, value in os.environ.items() if key not in outside}
    return {**env, "APP_STATE_DIR": str(tmp_path / "state")}


def runner(app, tmp_path):
    """`run(*args)`: `python args...` in the app, failing with its output unless it succeeds; its stdout."""
    env = app_env(tmp_path)

    def run(*args: str) -> str:
        finished = run_in_app(app, *args, env=env)
        assert finished.returncode == 0, f"{args}: {finished.stdout[-3000:]}{finished.stderr[-3000:]}"
        return finished.stdout

    return run


def run_marked(app, marker: str, tmp_path, *paths: str) -> tuple[dict[str, int], str]:
    """Run the app's tests with `marker`, in `paths` or all (failing if any did): how many passed, skipped, ..., and
    the output's end."""
    finished = run_in_app(
        app, "-m", "pytest", "-m", marker, "-q", "-rs", "-p", "no:cacheprovider", *paths, env=app_env(tmp_path)
    )
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-2000:]
    summary = re.findall(r"(\d+) (passed|skipped|failed|errors?)", finished.stdout)
    return {outcome: int(count) for count, outcome in summary}, finished.stdout[-2000:]


def test_the_app_passes_its_own_unit_git_workflow_and_ecosystem_tests(bake, tmp_path):
    # A regression app's unit tests run in the quick start of the app made from house sales, below.
    app = bake()

    finished = run_in_app(app, "-m", "pytest", "-m", "unit or git or workflows or ecosystem", "-q", "-p",
                          "no:cacheprovider", env=app_env(tmp_path))  # fmt: skip

    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-2000:]
    assert " passed" in finished.stdout and " failed" not in finished.stdout


def test_the_app_passes_its_own_integration_and_browser_tests(bake, tmp_path):
    app = bake()

    outcomes, output = run_marked(app, "integration", tmp_path)

    if outcomes.get("skipped"):
        # Only the browser tests may skip, where no Chromium is installed; CI installs it (.ci/run), so not there.
        assert not os.environ.get("CI") and outcomes["skipped"] == 2, output
        assert "Chromium" in output, output
    else:
        assert (app / "artifacts" / "browser_journey.png").stat().st_size > 0
        assert (app / "artifacts" / "monitoring_view.png").stat().st_size > 0
    assert outcomes.get("passed", 0) > 0, output


def test_the_app_survives_its_own_fault_tests(bake, tmp_path):
    # The registry down then hung under load; a pool process killed once, and on every try; probes answered while
    # large uploads keep every web process busy.
    outcomes, output = run_marked(bake(), "faults", tmp_path)

    assert set(outcomes) == {"passed"}, output


# The app's tests that never touch its data store, or touch it only as the datastore contract tests check on both
# backends, which the default app's run covers: on BigQuery they would only repeat. (test_pipeline.py retrains on Dask
# from BigQuery; test_dask_engine.py starts and stops clusters; the manifests, the queue and the packaged model do not
# depend on where the rows are; the challenger and shadow reports read a table and a journal whole.)
BACKEND_FREE_TESTS = ("test_ml.py", "test_record_scorer.py", "test_builds.py", "test_component_config.py",
                      "test_structure.py", "test_dask_engine.py", "test_deployment.py", "test_dask_deployment.py",
                      "test_worker.py", "test_packaged_model.py", "test_comparison.py", "test_shadow.py")  # fmt: skip


def test_a_bigquery_app_passes_its_own_tests_on_the_bigquery_emulator(bake, tmp_path):
    app = bake(**VARIANTS["classification-bigquery"])
    skipped = [f"--ignore=tests/{name}" for name in BACKEND_FREE_TESTS]

    finished = run_in_app(app, "-m", "pytest", "-m", "unit or bigquery", "-q", "-rs", "-p", "no:cacheprovider",
                          *skipped, env=app_env(tmp_path))  # fmt: skip

    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-2000:]
    assert " passed" in finished.stdout, finished.stdout[-2000:]
    if "skipped" in finished.stdout:
        # Only where no Python 3.13 can run the emulator, and never in CI (.ci/run): there every test must run.
        assert not os.environ.get("CI") and "needs Python 3.13" in finished.stdout, finished.stdout[-2000:]


def test_local_retrain_promotes_v1_then_v2_after_corrected_data_arrives(bake, tmp_path):
    app = bake()
    run = runner(app, tmp_path)

    run("local/create_database.py")
    run("local/upload_data.py", "data/dataset_1.csv")
    assert json.loads(run("-c", READ_STORED_KEYS.format(app=app.name))) == DATASET_1_KEYS
    first = run("local_retrain.py")
    run("local/upload_data.py", "data/dataset_2.csv")
    second = run("local_retrain.py")

    assert "Promoted v1 to [integration]" in first
    assert "Promoted v2 to [integration]" in second and "beats champion" in second
    registry = json.loads(run("-c", READ_REGISTRY.format(app=app.name)))
    assert registry["aliases"] == {"integration": 2}
    v2 = registry["versions"]["2"]
    assert v2["passed"] and v2["score"] > v2["champion_score"]


def test_a_time_column_written_as_month_and_year_orders_the_held_out_rows(bake, tmp_path):
    app = bake(training_data=str(monthly_orders(tmp_path / "orders.csv")), target="product", time_column="month")
    run = runner(app, tmp_path)

    run("local/create_database.py")
    run("local/upload_data.py", "data/dataset_1.csv")
    first = run("local_retrain.py")

    config = (app / "config" / "app_config.yml").read_text()
    assert 'time_format: "%b-%Y"' in config and "  month: date\n" in config
    # The newest 20 % of the first load (the oldest 60 % of the orders) are held out: from the first of a month on.
    assert "Promoted v1 to [integration]" in first
    assert re.search(r"held out: \d+ rows, the rows from month 201[78]-\d\d-01T00:00:00 on", first), first


SCHEMA_AGREES = """
import pandas as pd
from {app}.config import load_settings
from {app}.datastore import infer_schema, read_csv
rows = pd.concat([read_csv("data/dataset_1.csv"), read_csv("data/dataset_2.csv")], ignore_index=True)
app = load_settings().app
assert infer_schema(rows, app.time_formats) == dict(app.schema), (infer_schema(rows, app.time_formats), app.schema)
"""


def quick_start_block(app) -> str:
    """The bash block of the README's quick start."""
    return re.search(r"## Quick start.*?```bash\n(.*?)```", (app / "README.md").read_text(), re.DOTALL).group(1)


def quick_start(app) -> list[list[str]]:
    """The commands of the README's quick start that run the app (not those that make its venv), as written."""
    commands = [line.split("#")[0].split() for line in quick_start_block(app).splitlines()]
    return [command for command in commands if command and command[0] in ("python", "pytest")]


def test_the_quick_start_installs_the_app_with_the_pip_that_python_ships(bake, tmp_path):
    """The quick start's install lines (its first paragraph) as written, in a venv made by `python3.11 -m venv` with
    the pip Python 3.11.7 ships (23.2.1, whose hash checking refuses extras such as google-auth[pyopenssl])."""
    if not shutil.which("python3.11"):
        assert not os.environ.get("CI"), "CI must have python3.11 (the app's default python_version)"
        pytest.skip("no python3.11 on this machine")
    app = bake()
    make_venv, *install = quick_start_block(app).split("\n\n")[0].splitlines()
    assert make_venv.startswith("python3.11 -m venv .venv && source .venv/bin/activate"), make_venv
    script = "\n".join(["set -e", make_venv, "python -m pip install --quiet pip==23.2.1", *install,
                        f"python -m {app.name} --help"])  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}

    finished = subprocess.run(["bash", "-c", script], cwd=app, env=env, capture_output=True, text=True, timeout=1200)

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert f"python -m {app.name} COMMAND" in finished.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def test_an_app_made_from_a_csv_of_another_shape_runs_its_quick_start_and_server_as_written(bake, tmp_path):
    houses = house_sales(tmp_path / "houses.csv")
    app = bake(training_data=str(houses), target="sale_price", problem_type="regression", app_name="house_prices")
    env = app_env(tmp_path)

    commands = quick_start(app)
    assert [command[:2] for command in commands] == [
        ["python", "local/create_database.py"],
        ["python", "local/upload_data.py"],
        ["python", "local_retrain.py"],
        ["python", "local/upload_data.py"],
        ["python", "local_retrain.py"],
        ["pytest", "-m"],
    ]
    # Its tests as written, but for those that do not depend on the data's shape (the default app's run has them:
    # the image build, the git hook, structure, the Dask cluster's start and stop, the manifests, the queue).
    shape_free = [f"--ignore=tests/{name}" for name in ("test_builds.py", "test_component_config.py",
                                                        "test_structure.py", "test_dask_engine.py",
                                                        "test_deployment.py", "test_dask_deployment.py",
                                                        "test_worker.py")]  # fmt: skip
    outputs = []
    for command in commands:
        args = command[1:] if command[0] == "python" else ["-m", "pytest", *command[1:], "-q", "-p", "no:cacheprovider",
                                                           *shape_free]  # fmt: skip
        finished = run_in_app(app, *args, env=env)
        # local_retrain.py: 0 promoted, 3 kept the champion; both are a retrain that worked.
        assert finished.returncode in ((0, 3) if command[1] == "local_retrain.py" else (0,)), (
            f"{command}: {finished.stdout[-4000:]}{finished.stderr[-3000:]}"
        )
        outputs.append(finished.stdout)
    assert "Promoted v1 to [integration]" in outputs[2]
    assert "v2" in outputs[4] and "which neither model trained on" in outputs[4]
    assert " passed" in outputs[5] and " failed" not in outputs[5]
    agrees = run_in_app(app, "-c", SCHEMA_AGREES.format(app=app.name), env=env)
    assert agrees.returncode == 0, agrees.stderr[-2000:]
    # Its model, served by MLflow's own server in a venv without the app, answers as the app does.
    # (The lock files are the template's own, not the CSV's: the default bake checks how they install.)
    outcomes, output = run_marked(app, "ecosystem", tmp_path, "tests/test_packaged_model.py")
    assert outcomes == {"passed": 1}, output

    # The web app on the model the quick start trained: it answers, then Ctrl-C stops it.
    port = free_port()
    server = subprocess.Popen([str(app_python(app)), "local/run_server.py", "--port", str(port)], cwd=app, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline, health = time.monotonic() + 120, None
        while health is None:
            assert time.monotonic() < deadline and server.poll() is None, server.stdout.read() if server.poll() else ""
            try:
                health = get_json(f"http://127.0.0.1:{port}/health")
            except OSError:
                time.sleep(0.5)
        assert health["model_version"] in (1, 2)
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
