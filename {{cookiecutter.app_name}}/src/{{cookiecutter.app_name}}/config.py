"""App config, environment config and the environment variables that override them.

App config (config/app_config.yml) travels with the code. Environment config
(config/environment_<name>.yml) stays with an environment. Secrets and locations come from
environment variables, so the same files work on a laptop and in a cluster. This module is the only one
that reads them: `Variables` declares each, and the rest of the app is handed typed values.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

APP_NAME = __package__  # the app's name: its package, its component in component_config.yml, its namespaces
DEFAULT_ENVIRONMENT = "integration"
SELECTED_ENVIRONMENT_FILE = ".selected_environment"  # per checkout, gitignored
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# A pull request's challenger (.github/workflows/challenger-test.yml): its images, cluster rights
# (k8s/challenger_access.yml) and registry rights (tracking_server/) are kept apart from every other environment's
PULL_REQUEST_ENVIRONMENT = re.compile(r"pr-[0-9]+")

LOGICAL_TYPES = ("string", "integer", "float", "boolean", "date", "timestamp")  # as the data stores know them
CLASSIFICATION_SCORES = ("f1_weighted", "f1_macro", "accuracy", "roc_auc")
REGRESSION_SCORES = ("rmse", "mae", "r2")


class FixFirstError(Exception):
    """Something a person must put right before a command can work; the message says what (commands exit with 2)."""


SHOWN_NAMES = 20  # a message lists at most this many columns: a file of 20,000 would make a message of 200 KB


def names_list(names: list, shown: int = SHOWN_NAMES) -> str:
    """`names` as a message shows them: all of a short list, the first `shown` of a long one and how many more."""
    if len(names) <= shown:
        return str(list(names))
    return f"{str(list(names[:shown]))[:-1]}, ...] ({len(names) - shown:,} more)"


class ConfigError(FixFirstError, ValueError):
    """A config file or environment variable holds something the app cannot use."""


@dataclass(frozen=True)
class FeatureOverrides:
    """Columns whose role a person has decided; every other column's role is inferred."""

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    datetime: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetrainWhen:
    """What starts a retrain besides a person and the schedule; none set: every upload of labelled rows does."""

    new_rows: int | None = None  # rows added since the champion was trained
    drift_share: float | None = None  # the share of the model's input columns that drifted (0..1]
    score_drop: float | None = None  # how far the champion's score on newly labelled rows fell below its registered one

    @property
    def conditions(self) -> dict[str, float]:
        return {name: value for name, value in asdict(self).items() if value is not None}

    def check(self, fail) -> None:
        if self.new_rows is not None and (not isinstance(self.new_rows, int) or self.new_rows < 1):
            fail(f"retrain_when.new_rows must be a whole number >= 1, not {self.new_rows!r}")
        if self.drift_share is not None and not 0 < self.drift_share <= 1:
            fail(f"retrain_when.drift_share must be more than 0 and at most 1, not {self.drift_share!r}")
        if self.score_drop is not None and not self.score_drop > 0:
            fail(f"retrain_when.score_drop must be more than 0 (in the score's own units), not {self.score_drop!r}")


@dataclass(frozen=True)
class AppConfig:
    model_name: str
    target: str
    problem_type: str = "classification"
    log_level: int = 20
    api_key: str = "changeme"
    app_title: str = "Model Retraining App"
    logo_image_url: str = "static/images/logo.svg"
    data_source: str = "duckdb"
    table_name: str = "data"
    bigquery: dict[str, Any] = field(default_factory=dict)  # project, dataset_name
    schema: dict[str, str] = field(default_factory=dict)  # the table's columns and logical types; empty: from a CSV
    number_of_train_workers: int = 2
    max_minutes_to_train: float = 5
    max_models_with_no_score_change: int = 12
    validation_folds: int = 5
    max_predict_ms_per_1000_rows: float | None = 30  # what predicting 1,000 rows may cost, on one thread; None: any
    score_type: str = "f1_weighted"
    min_score: float | None = None
    min_improvement: float = 0.0
    test_fraction: float = 0.2
    time_column: str | None = None
    time_format: str = ""  # how time_column's values are written when not ISO 8601, e.g. %d/%m/%Y; empty: inferred
    id_column: str | None = None  # decides a row's holdout membership when there is no time_column
    random_seed: int = 42
    features: FeatureOverrides = field(default_factory=FeatureOverrides)
    # Serving and the worker
    model_refresh_seconds: float = 10
    retrain_schedule: str | None = None
    retrain_time_limit_minutes: float = 30
    # Monitoring: the prediction log, drift and score reports, and what they may start
    monitor_schedule: str | None = "*/30 * * * *"
    drift_window_hours: float = 24  # the predictions a drift report compares with the training rows
    prediction_sample_rate: float = 1.0  # the share of predicted rows logged
    prediction_retention_days: float = 30
    retrain_when: RetrainWhen = field(default_factory=RetrainWhen)
    max_upload_mb: float = 100
    processes: int = 2
    threads: int = 1
    environments: tuple[str, ...] = ("integration", "uat", "production")  # the promotion chain, in order
    container_registry: str = ""  # where images are pushed: <container_registry>/<app_name>:<app version>
    pull_request_container_registry: str = ""  # a pull request's images, if set: a repository only its jobs write

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "app config") -> AppConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys are {sorted(known)}")
        missing = [name for name in ("model_name", "target") if not raw.get(name)]
        if missing:
            raise ConfigError(f"{source}: {missing} must be set")
        values = dict(raw)
        features = values.pop("features", None) or {}
        bad_roles = sorted(set(features) - {f.name for f in fields(FeatureOverrides)})
        if bad_roles:
            raise ConfigError(f"{source}: features has unknown role(s) {bad_roles}")
        values["features"] = FeatureOverrides(**{role: tuple(cols or ()) for role, cols in features.items()})
        retrain_when = values.get("retrain_when") or {}
        if not isinstance(retrain_when, dict) or set(retrain_when) - {f.name for f in fields(RetrainWhen)}:
            raise ConfigError(
                f"{source}: retrain_when must map some of {[f.name for f in fields(RetrainWhen)]} to a value, "
                f"not {retrain_when!r}"
            )
        values["retrain_when"] = RetrainWhen(**retrain_when)
        values["bigquery"] = values.get("bigquery") or {}
        values["schema"] = values.get("schema") or {}
        if "environments" in values:
            values["environments"] = tuple(values["environments"] or ())
        config = cls(**values)
        config.validate(source)
        return config

    @property
    def time_formats(self) -> dict[str, str]:
        """The time column and the format its dates may be written in, for the readers of values (ml/values.py)."""
        return {self.time_column: self.time_format or ""} if self.time_column else {}

    @property
    def runs_beat(self) -> bool:
        """Whether anything runs on a schedule (Celery beat): retrains, or the monitor with its prediction log."""
        return bool(self.retrain_schedule or self.monitor_schedule)

    def validate(self, source: str) -> None:
        def fail(message: str) -> None:
            raise ConfigError(f"{source}: {message}")

        if self.problem_type not in ("classification", "regression"):
            fail(f"problem_type {self.problem_type!r} must be classification or regression")
        allowed = CLASSIFICATION_SCORES if self.problem_type == "classification" else REGRESSION_SCORES
        if self.score_type not in allowed:
            fail(f"score_type {self.score_type!r} does not fit {self.problem_type}; use one of {list(allowed)}")
        if self.data_source not in ("duckdb", "bigquery"):
            fail(f"data_source {self.data_source!r} must be duckdb or bigquery")
        unknown_bigquery = sorted(set(self.bigquery) - {"project", "dataset_name"})
        if unknown_bigquery:
            fail(f"bigquery has unknown key(s) {unknown_bigquery}; known keys are ['dataset_name', 'project']")
        if self.data_source == "bigquery" and not self.bigquery.get("project"):
            fail("data_source bigquery needs bigquery.project: the Google Cloud project that holds the datasets")
        bad_types = {column: kind for column, kind in self.schema.items() if kind not in LOGICAL_TYPES}
        if bad_types:
            fail(f"schema has unknown column type(s) {bad_types}; use one of {list(LOGICAL_TYPES)}")
        if not self.environments or len(set(self.environments)) != len(self.environments):
            fail(f"environments {list(self.environments)} must list each environment of the chain once, in order")
        for name in self.environments:
            check_environment_name(name)
        if self.time_format and ("%" not in str(self.time_format) or not self.time_column):
            fail(f"time_format {self.time_format!r} must be a strftime format such as '%d/%m/%Y', for a time_column")
        if not 0 < self.test_fraction < 1:
            fail(f"test_fraction {self.test_fraction} must be between 0 and 1")
        if min(self.number_of_train_workers, self.max_models_with_no_score_change, self.validation_folds) < 1:
            fail("number_of_train_workers, max_models_with_no_score_change and validation_folds must be at least 1")
        if self.max_minutes_to_train <= 0:
            fail("max_minutes_to_train must be more than 0")
        budget = self.max_predict_ms_per_1000_rows
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0):
            fail(f"max_predict_ms_per_1000_rows must be a number of milliseconds above 0, or null, not {budget!r}")
        if self.min_improvement < 0:
            fail("min_improvement must not be negative")
        for key in ("retrain_schedule", "monitor_schedule"):
            if getattr(self, key) is not None:
                check_cron(key, getattr(self, key), fail)
        positive = ("model_refresh_seconds", "retrain_time_limit_minutes", "max_upload_mb", "drift_window_hours",
                    "prediction_retention_days")  # fmt: skip
        if min(getattr(self, key) for key in positive) <= 0:
            fail(f"{', '.join(positive)} must be more than 0")
        if not 0 <= self.prediction_sample_rate <= 1:
            fail(f"prediction_sample_rate {self.prediction_sample_rate} must be from 0 (log none) to 1 (log all)")
        self.retrain_when.check(fail)
        if self.processes < 1 or self.threads < 1:
            fail("processes and threads must be at least 1")


CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")  # in cron's order, crontab's names


def cron_fields(expression: str) -> dict[str, str]:
    """A cron expression's five fields by name, as celery's crontab takes them."""
    return dict(zip(CRON_FIELDS, expression.split(), strict=True))


def check_cron(key: str, expression: str, fail) -> None:
    if len(expression.split()) != len(CRON_FIELDS):
        fail(f"{key} {expression!r} must be a cron expression of 5 fields, e.g. '0 3 * * *' (03:00 daily)")
    from celery.schedules import crontab  # only needed when a schedule is set

    try:
        crontab(**cron_fields(expression))
    except ValueError as error:
        fail(f"{key} {expression!r} is not a valid cron expression: {error}")


@dataclass(frozen=True)
class EnvironmentConfig:
    """One environment's own settings (config/environment_<name>.yml): they stay with it and are never promoted."""

    app_title_extension: str = ""  # added to the page's title, e.g. " - (uat)"
    log_level: int | str | None = None  # None: app config's log_level
    colour1: str = "slategray"  # the page's colours
    colour2: str = "#ff8800"
    replicas: int = 1  # web pods in the cluster
    worker_replicas: int = 1  # Celery workers, each running one retrain at a time
    auto_promote: bool = True  # false: a better challenger waits for a person to promote it (promote --version N)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str) -> EnvironmentConfig:
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys are {known}")
        config = cls(**raw)
        for name in ("app_title_extension", "colour1", "colour2"):
            if not isinstance(getattr(config, name), str):
                raise ConfigError(f"{source}: {name} must be text, not {getattr(config, name)!r}")
        if not isinstance(config.auto_promote, bool):
            raise ConfigError(f"{source}: auto_promote must be true or false, not {config.auto_promote!r}")
        for name in ("replicas", "worker_replicas"):
            value = getattr(config, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{source}: {name} must be a whole number >= 1, not {value!r}")
        level = config.log_level
        if level is not None and not isinstance(level, int) and level not in logging.getLevelNamesMapping():
            raise ConfigError(f"{source}: log_level must be a number or a level name such as INFO, not {level!r}")
        return config

    def to_dict(self) -> dict[str, Any]:
        """The settings as a file holds them, leaving out what is not set."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def variable(does: str, unset: str, kind: type = str) -> Any:
    """A field of Variables: what the variable does, and what holds when it is unset (as docs/configuration.md shows
    both)."""
    return field(default=None, metadata={"does": does, "unset": unset, "kind": kind})


@dataclass(frozen=True)
class Variables:
    """Every environment variable the app reads, by its name in lower case; None where it is unset or empty."""

    app_environment: str | None = variable("the environment to work on", "the one `env select` chose, else integration")
    api_key: str | None = variable("the key of the web app and API", "app config's `api_key`")
    redis_url: str | None = variable("the Redis of the retrain queue", "none: `run_server.py` starts one of its own")
    mlflow_tracking_uri: str | None = variable("the registry", "`sqlite:///.app_state/mlflow.db`")
    mlflow_tracking_username: str | None = variable(
        "the user the app signs in to the tracking server as (read by MLflow's client; `deploy apply` gives it to the "
        "pods)",
        "no sign-in",
    )
    mlflow_tracking_password: str | None = variable("that user's password (likewise)", "no sign-in")
    mlflow_challenger_users: str | None = variable(
        "on the tracking server (`--app-name <app>-auth`): the users, comma-separated, who change only pull-request "
        "environments (tracking_server/registry_guard.py)",
        "every user may change every environment",
    )
    cluster_mlflow_tracking_uri: str | None = variable(
        "the registry as the pods reach it, for `deploy render`/`apply`", "`MLFLOW_TRACKING_URI`"
    )
    mlflow_artifact_root: str | None = variable(
        "where model files go when the registry is created",
        "`.app_state/mlartifacts`; in the cluster, the tracking server's own (`mlflow-artifacts:/`)",
    )
    app_version: str | None = variable("this checkout's app version, for `deploy` and `deploy build`", "its git commit")
    git_sha: str | None = variable("the commit recorded on each model version", "`git rev-parse HEAD`")
    created_by: str | None = variable("who is recorded on model versions and environment changes", "your user name")
    app_url: str | None = variable(
        "the app `deploy test` and `pytest -m smoke` call", "for `deploy test`: a port-forward to it"
    )
    app_root: str | None = variable("the app folder", "the nearest folder holding `config/app_config.yml`")
    app_state_dir: str | None = variable("the folder of the local state", "`.app_state`")
    duckdb_path: str | None = variable("the DuckDB file", "`.app_state/data.duckdb`")
    bigquery_api_endpoint: str | None = variable(
        "a BigQuery emulator to use instead of Google (anonymous credentials)", "Google's BigQuery"
    )
    google_application_credentials: str | None = variable(
        "a key file for BigQuery (read by Google's client)", "`config/service_account_key.json`, else your gcloud login"
    )
    bigquery_emulator_python: str | None = variable(
        "a Python 3.13 for the BigQuery emulator", "`python3.13` on PATH, else one of pyenv or uv"
    )
    xdg_cache_home: str | None = variable("where the BigQuery emulator's venv is kept", "`~/.cache`")
    port: int | None = variable("the port `serve` listens on", "5001", int)
    probe_port: int | None = variable(
        "a port where each web process answers `/health` and `/ready` even while busy (8081 in the cluster)",
        "the probes are answered on the app's port only",
        int,
    )
    prometheus_multiproc_dir: str | None = variable(
        "where each web process keeps its metrics, for /metrics to sum them (set by `serve` and the local stack)",
        "unset: /metrics has the metrics of the process that answers",
    )
    app_deployed: bool | None = variable(
        "`true`: refuse the placeholder or a short `api_key`, as in a cluster (the image sets it)", "false", bool
    )
    kubernetes_service_host: str | None = variable("set by Kubernetes in every pod: the app is deployed", "unset")
    mlflow_port_forward_pid: int | None = variable(
        "set by `registry connect`: its port-forward, replaced if it stopped", "unset", int
    )
    mlflow_disable_telemetry: str | None = variable(
        "`false` lets MLflow send its usage reports", "the app sets it to `true`: none are sent"
    )
    mlflow_http_request_timeout: int | None = variable(
        "seconds MLflow waits for each answer of a tracking server", "120; the web app sets 10", int
    )
    mlflow_http_request_max_retries: int | None = variable(
        "how often MLflow retries a tracking server call that failed", "7; the web app sets 1", int
    )
    github_env: str | None = variable("set by GitHub Actions: where `registry connect` writes its settings", "unset")
    github_output: str | None = variable("set by GitHub Actions: where `env next` writes the target", "unset")
    github_step_summary: str | None = variable("set by GitHub Actions: where `deploy test` writes results", "unset")
    git_index_file: str | None = variable("set by git in a hook: `component-config snapshot` runs as one", "unset")

    @property
    def deployed(self) -> bool:
        """In a cluster (Kubernetes sets KUBERNETES_SERVICE_HOST in every pod), or told so with APP_DEPLOYED."""
        return bool(self.kubernetes_service_host) or bool(self.app_deployed)


# How people write yes and no, in data and in environment variables alike (any case, spaces around).
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0"}


def boolean_word(text: str) -> bool | None:
    """True or False for a word of TRUE_WORDS or FALSE_WORDS, else None."""
    word = text.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def read_variables() -> Variables:
    """The environment variables, each as its declared type; a ConfigError naming one that cannot be read."""
    values: dict[str, Any] = {}
    for spec in fields(Variables):
        name, raw = spec.name.upper(), os.environ.get(spec.name.upper(), "").strip()
        kind = spec.metadata["kind"]
        if not raw:
            values[spec.name] = None
        elif kind is bool and boolean_word(raw) is not None:
            values[spec.name] = boolean_word(raw)
        elif kind is int and raw.isdigit():
            values[spec.name] = int(raw)
        elif kind is str:
            values[spec.name] = raw
        else:
            expected = "true or false" if kind is bool else "a whole number"
            raise ConfigError(f"environment variable {name} is {raw!r}; expected {expected}")
    return Variables(**values)


def child_environment(variables: dict[str, str], path_first: Path | None = None) -> dict[str, str]:
    """This process's environment with `variables` set: for a process started to run part of the app. `path_first`
    goes ahead on PATH, as a venv's `activate` puts its bin."""
    environment = {**os.environ, **variables}
    if path_first is not None:
        environment["PATH"] = os.pathsep.join(filter(None, (str(path_first), environment.get("PATH"))))
    return environment


def switch_off_mlflow_telemetry() -> None:
    """Before MLflow is imported: no look-ups of a telemetry host from laptops or CI, unless asked for."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def bound_registry_waits() -> None:
    """In web processes: with MLflow's defaults a check of a hung or stopped tracking server takes minutes (7 retries
    with back-off, 120 s each). The champion is checked again a few seconds later anyway, so fail fast."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")


@dataclass(frozen=True)
class Settings:
    """Everything one process needs to know about the app and the environment it works on."""

    root: Path
    environment: str
    app: AppConfig
    environment_config: EnvironmentConfig
    state_dir: Path
    duckdb_path: Path
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    api_key: str
    redis_url: str | None
    variables: Variables = field(default_factory=Variables)

    @property
    def kubernetes_namespace(self) -> str:
        """Where the environment's app, worker and Redis run in the cluster: one namespace per environment."""
        return f"{APP_NAME}-{self.environment}".replace("_", "-")

    def for_environment(self, environment: str) -> Settings:
        """The same settings working on another environment (its own environment config, same app config)."""
        check_environment_name(environment)
        return replace(
            self, environment=environment, environment_config=load_environment_config(self.root, environment)
        )

    def with_state_dir(self, state_dir: Path) -> Settings:
        """The same settings with all local state (DuckDB file, MLflow registry and artifacts) in `state_dir`."""
        return replace(self, state_dir=state_dir, **state_locations(state_dir))


def state_locations(state_dir: Path) -> dict[str, Any]:
    """Where the embedded default keeps its data and registry inside a state folder."""
    return {
        "duckdb_path": state_dir / "data.duckdb",
        "mlflow_tracking_uri": f"sqlite:///{state_dir / 'mlflow.db'}",
        "mlflow_artifact_root": (state_dir / "mlartifacts").as_uri(),
    }


def find_app_root(variables: Variables, start: Path | None = None) -> Path:
    """The folder holding config/app_config.yml: APP_ROOT, else the nearest above the working folder."""
    if variables.app_root:
        return Path(variables.app_root).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if app_config_path(folder).is_file():
            return folder
    # An editable install: src/<package>/config.py sits two folders below the app.
    package_root = Path(__file__).resolve().parents[2]
    if app_config_path(package_root).is_file():
        return package_root
    raise ConfigError(f"no config/app_config.yml in {here} or above it; run from the app folder or set APP_ROOT")


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path.name} is not valid YAML: {error}") from error
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path.name} must hold a mapping of keys to values")
    return content


def load_app_config(root: Path) -> AppConfig:
    path = app_config_path(root)
    return AppConfig.from_dict(read_yaml(path), source=str(path.relative_to(root)))


def is_pull_request(environment: str) -> bool:
    return PULL_REQUEST_ENVIRONMENT.fullmatch(environment) is not None


def check_environment_name(name: str) -> str:
    if not ENVIRONMENT_NAME.match(name):
        raise ConfigError(
            f"environment name {name!r} must start with a lowercase letter and hold only lowercase letters, "
            "digits, '_' and '-' (at most 40 characters)"
        )
    return name


def selected_environment(root: Path, variables: Variables) -> str:
    """APP_ENVIRONMENT, else the environment selected in this checkout, else integration."""
    if variables.app_environment:
        return check_environment_name(variables.app_environment)
    selected = root / SELECTED_ENVIRONMENT_FILE
    if selected.is_file() and selected.read_text().strip():
        return check_environment_name(selected.read_text().strip())
    return DEFAULT_ENVIRONMENT


def app_config_path(root: Path) -> Path:
    return root / "config" / "app_config.yml"


def environment_config_path(root: Path, environment: str) -> Path:
    return root / "config" / f"environment_{environment}.yml"


def load_environment_config(root: Path, environment: str) -> EnvironmentConfig:
    """The environment's config file, checked; the defaults where it has none."""
    path = environment_config_path(root, environment)
    return EnvironmentConfig.from_dict(read_yaml(path), path.name) if path.is_file() else EnvironmentConfig()


def load_settings(environment: str | None = None, root: Path | None = None) -> Settings:
    variables = read_variables()
    root = root or find_app_root(variables)
    environment = check_environment_name(environment) if environment else selected_environment(root, variables)
    app = load_app_config(root)
    state_dir = Path(variables.app_state_dir or root / ".app_state").resolve()
    defaults = state_locations(state_dir)
    return Settings(
        root=root,
        environment=environment,
        app=app,
        environment_config=load_environment_config(root, environment),
        state_dir=state_dir,
        duckdb_path=Path(variables.duckdb_path or defaults["duckdb_path"]),
        mlflow_tracking_uri=variables.mlflow_tracking_uri or defaults["mlflow_tracking_uri"],
        mlflow_artifact_root=variables.mlflow_artifact_root or defaults["mlflow_artifact_root"],
        api_key=variables.api_key or app.api_key,
        redis_url=variables.redis_url,
        variables=variables,
    )
