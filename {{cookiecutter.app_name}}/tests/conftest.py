"""Fixtures that give each test its own real data store (a DuckDB file, or a dataset on the BigQuery emulator)
and MLflow registry, in a temporary folder."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from {{ cookiecutter.app_name }}.config import Settings, load_settings, read_variables
from {{ cookiecutter.app_name }}.datastore import DataStore, infer_schema, open_datastore
from {{ cookiecutter.app_name }}.laptop.bigquery_emulator import bigquery_emulator, python_3_13
from {{ cookiecutter.app_name }}.laptop.client import AppClient
from {{ cookiecutter.app_name }}.laptop.embedded_redis import embedded_redis
from {{ cookiecutter.app_name }}.laptop.stack import local_stack
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port
from {{ cookiecutter.app_name }}.registry import ModelRegistry, open_registry

from .support.data import (
    APP_ROOT,
    SENSOR_CONFIG,
    copy_app_config,
    data_rows,
    sensor_rows,
    table_schema,
)
from .support.kubectl import RecordingKubectl

FIRST_MODEL_ROWS = 200  # the rows the served app's first model learns from


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis started for this test session, or TEST_REDIS_URL (tests empty it: never point it at live data)."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    with embedded_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def bigquery_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """BIGQUERY_API_ENDPOINT when set (an emulator of your own), else an emulator started for this test session."""
    if os.environ.get("BIGQUERY_API_ENDPOINT"):
        yield os.environ["BIGQUERY_API_ENDPOINT"]
        return
    python = python_3_13()
    if python is None:
        pytest.skip("the BigQuery emulator needs Python 3.13: install it, or set BIGQUERY_EMULATOR_PYTHON to one")
    emulator = bigquery_emulator(python, tmp_path_factory.mktemp("bigquery"))
    with emulator as started, pytest.MonkeyPatch.context() as patch:
        # Every test, and every process it starts, reads whole tables through the emulator's Storage Read API.
        patch.setenv("BIGQUERY_STORAGE_API_ENDPOINT", started.storage_endpoint)
        yield started.endpoint


def on_bigquery(
    settings: Settings, endpoint: str, monkeypatch: pytest.MonkeyPatch, bigquery: dict | None = None
) -> Settings:
    """The same settings on the BigQuery emulator, in datasets no other test uses (or in `bigquery`'s)."""
    monkeypatch.setenv("BIGQUERY_API_ENDPOINT", endpoint)
    bigquery = bigquery or {"project": "emulated-project", "dataset_name": f"test_{uuid.uuid4().hex[:12]}"}
    return dataclasses.replace(
        started_now(settings), app=dataclasses.replace(settings.app, data_source="bigquery", bigquery=bigquery)
    )


def started_now(settings: Settings) -> Settings:
    """`settings` with the environment variables read again, as a process started now would read them."""
    return dataclasses.replace(settings, variables=read_variables())


def fresh_settings(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, root: Path = APP_ROOT
) -> Settings:
    """The app's own config (or that of `root`) on a fresh state folder, with a small training budget so tests stay
    quick.

    An app whose data_source is bigquery runs its tests on the BigQuery emulator, in datasets of its own unless
    `root`'s config already names emulated ones."""
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_ARTIFACT_ROOT", "DUCKDB_PATH", "APP_ENVIRONMENT", "API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("APP_STATE_DIR", str(state_dir))
    loaded = load_settings("integration", root=root)
    small_budget = dataclasses.replace(
        loaded.app,
        number_of_train_workers=1,
        max_models_with_no_score_change=3,
        max_minutes_to_train=2,
        validation_folds=2,
    )
    settings = dataclasses.replace(loaded, app=small_budget)
    if settings.app.data_source == "bigquery":
        emulated = settings.app.bigquery if settings.app.bigquery.get("project") == "emulated-project" else None
        return on_bigquery(settings, request.getfixturevalue("bigquery_endpoint"), monkeypatch, emulated)
    return settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Settings:
    return fresh_settings(tmp_path / "state", monkeypatch, request)


def create_database_script(settings: Settings) -> str:
    """The script that creates an environment's table on the settings' backend."""
    return "local/bigquery/create_database.py" if settings.app.data_source == "bigquery" else "local/create_database.py"


@pytest.fixture
def own_root(settings, tmp_path, monkeypatch):
    """The settings with a config folder of the test's own (challengers' config files land in it), which the
    commands find through APP_ROOT."""
    root = copy_app_config(tmp_path / "app", data_source=settings.app.data_source, bigquery=settings.app.bigquery)
    monkeypatch.setenv("APP_ROOT", str(root))
    quickest = dataclasses.replace(settings.app, max_models_with_no_score_change=1)  # any model will do here
    return dataclasses.replace(settings, root=root, app=quickest)


@pytest.fixture
def bigquery_settings(settings: Settings, bigquery_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings on the BigQuery emulator, whatever the app's data_source."""
    return on_bigquery(settings, bigquery_endpoint, monkeypatch)


@pytest.fixture
def store(settings: Settings) -> DataStore:
    """The integration table, created with the app's schema and empty."""
    datastore = open_datastore(settings)
    datastore.create(table_schema())
    return datastore


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return open_registry(settings)


def sensor_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, **config) -> Settings:
    """Settings of an app made for sensor_rows (app config `config` on top), with a config folder of its own that
    the commands find through APP_ROOT, on a fresh state folder; its integration table exists, empty."""
    settings = fresh_settings(tmp_path / "state", monkeypatch, request)  # the backend this app's tests use
    backend = {"data_source": settings.app.data_source, "bigquery": settings.app.bigquery}
    root = copy_app_config(tmp_path / "sensor_app", **SENSOR_CONFIG, **backend, **config)
    monkeypatch.setenv("APP_ROOT", str(root))
    settings = fresh_settings(tmp_path / "state", monkeypatch, request, root=root)
    open_datastore(settings).create(infer_schema(sensor_rows(10, seed=0)))
    return settings


# The tracking server's environment as k8s/mlflow.yml sets it: without MLflow's job runner (its GenAI jobs, which the
# app never starts), 8 processes fewer
TRACKING_SERVER_ENVIRONMENT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


@pytest.fixture
def kubectl(tmp_path: Path) -> RecordingKubectl:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    forwarder = Path(__file__).parent / "support" / "kubectl_port_forward.py"
    real = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {bin_dir}/calls\n'
        f'if [ "$1" = kustomize ]; then exec "{real}" "$@"; fi\n'
        f'if [ "$1" = port-forward ]; then exec "{sys.executable}" "{forwarder}" "$@"; fi\n'
        # as kubectl does: ApplySet pruning is behind a switch
        'case "$*" in *--applyset*) if [ "$KUBECTL_APPLYSET" != true ]; then\n'
        '  echo "error: unknown flag: --applyset" >&2; exit 1; fi;; esac\n'
        f'if [ "$1" = apply ]; then cat > {bin_dir}/applied-$(ls {bin_dir} | grep -c ^applied-).yaml; fi\n'
        f'if [ "$1" = create ]; then cat > {bin_dir}/created-$(ls {bin_dir} | grep -c ^created-).yaml; fi\n'
        'echo "kubectl $1: done"\n'
    )
    script.chmod(0o755)
    return RecordingKubectl(bin_dir)


@pytest.fixture
def trained(settings: Settings, store: DataStore) -> int:
    """The integration environment with 600 rows of the first load and a model (v1) serving them."""
    store.append(data_rows("dataset_1.csv", 600))
    return retrain(settings=settings).challenger_version


def for_the_web(settings: Settings, redis_url: str) -> Settings:
    """Settings for the web app: an empty Redis database of its own, a known key, and no refresh delay."""
    redis.Redis.from_url(redis_url).flushdb()
    app = dataclasses.replace(settings.app, model_refresh_seconds=0.001)
    return dataclasses.replace(settings, app=app, redis_url=redis_url, api_key="test-key")


@pytest.fixture
def web_settings(settings: Settings, redis_url: str) -> Settings:
    return for_the_web(settings, redis_url)


@pytest.fixture
def client(web_settings: Settings):
    from {{ cookiecutter.app_name }}.web import create_app

    return create_app(web_settings).test_client()


@dataclasses.dataclass(frozen=True)
class ServedEnvironment:
    settings: Settings  # for the web app
    store: DataStore
    version: int  # the model it serves


@pytest.fixture(scope="module")
def served_environment(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, request: pytest.FixtureRequest
) -> Iterator[ServedEnvironment]:
    """An environment with 600 rows of the first load and a model (v1) serving them, shared by a module's tests
    that change nothing in it: training a model for each of them would cost seconds apiece."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        settings = fresh_settings(tmp_path_factory.mktemp("served") / "state", monkeypatch, request)
        store = open_datastore(settings)
        store.create(table_schema())
        store.append(data_rows("dataset_1.csv", 600))
        version = retrain(settings=settings).challenger_version
        yield ServedEnvironment(for_the_web(settings, redis_url), store, version)


@dataclasses.dataclass(frozen=True)
class Served(ServedEnvironment):
    client: FlaskClient


@pytest.fixture
def served(served_environment: ServedEnvironment) -> Served:
    """The shared environment with a fresh web client and nothing queued."""
    from {{ cookiecutter.app_name }}.web import create_app

    redis.Redis.from_url(served_environment.settings.redis_url).flushdb()
    client = create_app(served_environment.settings).test_client()
    return Served(**vars(served_environment), client=client)


def wait_until_ready(client: FlaskClient, timeout: float = 60) -> None:
    """Until the app has learnt from the registry which model to serve, as a readiness probe waits."""
    deadline = time.monotonic() + timeout
    while (answer := client.get("/ready")).status_code != 200:
        assert time.monotonic() < deadline, f"not ready after {timeout} s: {answer.json}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppClient]:
    """A client of the whole app: APP_URL (with API_KEY) when set, e.g. a challenger environment in CI;
    otherwise the app started on this machine as a deployment runs it (uWSGI, a Celery worker, Redis) on a fresh
    environment holding the first rows of dataset_1.csv and a first model trained on them, one per test module so none
    sees another's retrains. Few rows: a model trained later on many more is better, whatever the data."""
    if os.environ.get("APP_URL"):
        yield AppClient(os.environ["APP_URL"], os.environ["API_KEY"])
        return
    state = tmp_path_factory.mktemp("state")
    loaded = load_settings("integration", root=APP_ROOT)
    settings = dataclasses.replace(
        loaded.with_state_dir(state),
        api_key="integration-key",
        app=dataclasses.replace(loaded.app, model_refresh_seconds=1),
    )
    store = open_datastore(settings)
    store.create(table_schema())
    store.append(data_rows("dataset_1.csv", FIRST_MODEL_ROWS))
    retrain(settings=settings)
    with local_stack(settings, free_port(), log_folder=state) as stack:
        yield AppClient(stack.url, settings.api_key)
