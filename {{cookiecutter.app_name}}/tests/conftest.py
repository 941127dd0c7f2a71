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

import numpy as np
import pandas as pd
import pytest
import redis
import yaml
from flask.testing import FlaskClient
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from {{ cookiecutter.app_name }}.config import Settings, load_settings, read_variables
from {{ cookiecutter.app_name }}.datastore import DataStore, conform, infer_schema, open_datastore, read_csv
from {{ cookiecutter.app_name }}.laptop.bigquery_emulator import bigquery_emulator, python_3_13
from {{ cookiecutter.app_name }}.laptop.client import AppClient
from {{ cookiecutter.app_name }}.laptop.embedded_redis import embedded_redis
from {{ cookiecutter.app_name }}.laptop.stack import local_stack
from {{ cookiecutter.app_name }}.ml import ColumnRoles, build_preprocessor
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port
from {{ cookiecutter.app_name }}.registry import ModelRegistry, ServedAs, open_registry

APP_ROOT = Path(__file__).resolve().parents[1]
DATA = APP_ROOT / "data"
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
    with bigquery_emulator(python, tmp_path_factory.mktemp("bigquery")) as endpoint:
        yield endpoint


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
def bigquery_settings(settings: Settings, bigquery_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings on the BigQuery emulator, whatever the app's data_source."""
    return on_bigquery(settings, bigquery_endpoint, monkeypatch)


def table_schema() -> dict[str, str]:
    """The columns and types of the app's table: `schema` in app config, else those of data/dataset_1.csv."""
    configured = load_settings("integration", root=APP_ROOT).app.schema
    return dict(configured) or infer_schema(read_csv(DATA / "dataset_1.csv"))


def features_of_type(*kinds: str) -> list[str]:
    """The columns of the app's data, other than the target, whose type is one of `kinds` (string, float, ...)."""
    target = load_settings("integration", root=APP_ROOT).app.target
    return [column for column, kind in table_schema().items() if kind in kinds and column != target]


def a_feature_of_type(*kinds: str) -> str:
    """The first column of one of `kinds`; the test is skipped when the app's data has none (it cannot apply)."""
    columns = features_of_type(*kinds)
    if not columns:
        pytest.skip(f"the app's data has no column of type {' or '.join(kinds)} besides the target")
    return columns[0]


@pytest.fixture
def store(settings: Settings) -> DataStore:
    """The integration table, created with the app's schema and empty."""
    datastore = open_datastore(settings)
    datastore.create(table_schema())
    return datastore


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return open_registry(settings)


def copy_app_config(root: Path, **changes) -> Path:
    """A copy of the app's config folder in `root`, with `changes` made to app_config.yml: an app folder of the
    test's own, for commands that write config files or read their config from APP_ROOT."""
    (root / "config").mkdir(parents=True)
    for path in (APP_ROOT / "config").glob("environment_*.yml"):
        (root / "config" / path.name).write_text(path.read_text())
    config = yaml.safe_load((APP_ROOT / "config" / "app_config.yml").read_text())
    (root / "config" / "app_config.yml").write_text(yaml.safe_dump({**config, **changes}, sort_keys=False))
    shutil.copy(APP_ROOT / "uwsgi.ini", root / "uwsgi.ini")  # what `serve` and the local stack start uWSGI with
    return root


SENSOR_CONFIG = {
    "target": "status",
    "problem_type": "classification",
    "score_type": "f1_weighted",
    "min_score": 0.5,
    "schema": {},
    "features": {},
    "time_column": None,
    "id_column": None,
    # small, so that tests stay quick
    "number_of_train_workers": 1,
    "max_models_with_no_score_change": 3,
    "max_minutes_to_train": 2,
    "validation_folds": 2,
}


def sensor_rows(rows: int, seed: int, shifted: bool = False) -> pd.DataFrame:
    """Readings of machines at four sites, and whether each was at fault: data of another shape than the app's own.
    `shifted`: the machines run 3 standard deviations hotter, and most readings come from the sites that were rare."""
    generator = np.random.default_rng(seed)
    temperature = generator.normal(84 if shifted else 60, 8, rows)
    vibration = generator.gamma(2.0, 1.5, rows)
    sites = generator.choice(["north", "south", "east", "west"], rows, p=[0.1, 0.1, 0.4, 0.4] if shifted else
                             [0.4, 0.3, 0.2, 0.1])  # fmt: skip
    load = generator.integers(10, 100, rows)
    risk = 0.1 * (temperature - 60) + 0.6 * vibration + 0.02 * load + 1.0 * (sites == "east") - 3
    status = np.where(risk + generator.normal(0, 0.5, rows) > 0, "fault", "ok")
    return pd.DataFrame({"temperature": temperature.round(2), "vibration": vibration.round(3), "site": sites,
                         "load": load, "status": status})  # fmt: skip


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


@dataclasses.dataclass
class RecordingKubectl:
    """Stands in for kubectl and the cluster, which cannot run here: records the arguments and manifests sent, and
    `port-forward` forwards to KUBECTL_SERVICE_ADDRESS (see kubectl_port_forward.py). `kustomize` needs no cluster:
    the real kubectl runs it."""

    bin_dir: Path

    def env(self) -> dict[str, str]:
        """os.environ with this kubectl first on PATH."""
        return {**os.environ, "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}"}

    def calls(self) -> list[list[str]]:
        """The arguments of every call, in order; [] if kubectl was never called."""
        calls = self.bin_dir / "calls"
        return [line.split() for line in calls.read_text().splitlines()] if calls.exists() else []

    def manifests(self, apply: int = -1) -> list[dict]:
        """The objects sent to the last `kubectl apply -f -` (or to the apply-th, counting from 0)."""
        sent = sorted(self.bin_dir.glob("applied-*.yaml"), key=lambda path: int(path.stem.removeprefix("applied-")))
        return [doc for doc in yaml.safe_load_all(sent[apply].read_text()) if doc]

    def deployed(self, deploy: int = -1) -> list[dict]:
        """What the deploy-th `deploy apply` sent (counting from 0; -1, the last), in one list: its first apply (the
        namespace and the Secret), then its second (the rest, as the namespace's ApplySet)."""
        applies = [call for call in self.calls() if call[0] == "apply"]
        second = [index for index, call in enumerate(applies) if "--prune" in call][deploy]
        return self.manifests(second - 1) + self.manifests(second)

    def cluster(self) -> dict[tuple[str, str, str], dict]:
        """The objects a cluster holds after the recorded applies, (kind, namespace, name) -> object, as kubectl's
        ApplySet pruning leaves them: an apply with `--prune --applyset=SET` deletes what an earlier apply to SET
        sent and this one does not; an apply without leaves everything there."""
        live: dict[tuple[str, str, str], dict] = {}
        members: dict[str, set[tuple[str, str, str]]] = {}
        applies = [call for call in self.calls() if call[0] == "apply"]
        for index, call in enumerate(applies):
            sent = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
                    for o in self.manifests(index)}  # fmt: skip
            live.update(sent)
            applyset = next((flag for flag in call if flag.startswith("--applyset=")), None)
            if applyset and "--prune" in call:
                key = f"{applyset}@{call[call.index('--namespace') + 1]}"
                for gone in members.get(key, set()) - set(sent):
                    live.pop(gone, None)
                members[key] = set(sent)
        return live


@pytest.fixture
def kubectl(tmp_path: Path) -> RecordingKubectl:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    forwarder = Path(__file__).with_name("kubectl_port_forward.py")
    real = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {bin_dir}/calls\n'
        f'if [ "$1" = kustomize ]; then exec "{real}" "$@"; fi\n'
        f'if [ "$1" = port-forward ]; then exec "{sys.executable}" "{forwarder}" "$@"; fi\n'
        # as kubectl does: ApplySet pruning is behind a switch
        'case "$*" in *--applyset*) if [ "$KUBECTL_APPLYSET" != true ]; then\n'
        '  echo "error: unknown flag: --applyset" >&2; exit 1; fi;; esac\n'
        f'if [ "$1" = apply ]; then cat > {bin_dir}/applied-$(ls {bin_dir} | grep -c ^applied-).yaml; fi\n'
        'echo "kubectl $1: done"\n'
    )
    script.chmod(0o755)
    return RecordingKubectl(bin_dir)


def data_rows(file_name: str, rows: int | None = None) -> pd.DataFrame:
    """The first `rows` rows (all without a number) of one of the app's CSVs in data/, as text: what an upload is."""
    frame = read_csv(DATA / file_name)
    return frame if rows is None else frame.head(rows)


def typed_rows(rows: int | None = None, file_name: str = "dataset_1.csv") -> pd.DataFrame:
    """The first `rows` rows of a data file with the types the table gives them."""
    return conform(data_rows(file_name, rows), table_schema())


@pytest.fixture
def trained(settings: Settings, store: DataStore) -> int:
    """The integration environment with 600 rows of the first load and a model (v1) serving them."""
    store.append(data_rows("dataset_1.csv", 600))
    return retrain(settings=settings).challenger_version


def a_small_model() -> tuple[Pipeline, ServedAs]:
    """A model shaped as the app's (preprocessing, then an estimator) that takes no training: to register a version."""
    rows = pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0], "kind": ["a", "b", "a", "b"]})
    features = build_preprocessor(ColumnRoles(numeric=("amount",), categorical=("kind",)))
    model = Pipeline([("features", features), ("model", DummyClassifier())]).fit(rows, ["x", "y", "x", "y"])
    return model, ServedAs("label", {"amount": "float", "kind": "string"}, example=rows)


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
