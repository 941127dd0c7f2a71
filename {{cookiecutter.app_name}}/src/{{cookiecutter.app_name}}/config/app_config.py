"""App config (config/app_config.yml), which travels with the code, and environment config
(config/environment_<name>.yml), which stays with its environment: read, and checked before anything uses them."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# A pull request's challenger (.github/workflows/challenger-test.yml): its images, cluster rights
# (k8s/challenger_access.yml) and registry rights (tracking_server/) are kept apart from every other environment's
PULL_REQUEST_ENVIRONMENT = re.compile(r"pr-[0-9]+")


TRAINING_ENGINES = ("local", "dask", "auto")
LOGICAL_TYPES = ("string", "integer", "float", "boolean", "date", "timestamp")  # as the data stores know them
CLASSIFICATION_SCORES = ("f1_weighted", "f1_macro", "accuracy", "roc_auc")
REGRESSION_SCORES = ("rmse", "mae", "r2")


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
    training_engine: str = "local"  # local | dask | auto: where a retrain trains (auto: by the table's size)
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
        if self.training_engine not in TRAINING_ENGINES:
            fail(f"training_engine {self.training_engine!r} must be one of {list(TRAINING_ENGINES)}")
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
        positive = (
            "model_refresh_seconds",
            "retrain_time_limit_minutes",
            "max_upload_mb",
            "drift_window_hours",
            "prediction_retention_days",
        )
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
    worker_memory_gb: float = 4  # the worker pod's memory limit: training_engine auto trains on Dask above it
    dask_workers: int = 2  # Dask workers of a retrain's cluster (training_engine dask), each a process of its own
    dask_worker_memory_gb: float = 4  # what each Dask worker may hold
    dask_worker_cpu: float = 1  # in the cluster: the cores each Dask worker pod requests (and its threads)
    # Shadow traffic: the environment whose /predict requests this one answers too, unseen by their callers.
    shadow_of: str | None = None
    shadow_share: float = 0.1  # the share of those requests mirrored here

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
        for name, unit in (("worker_memory_gb", "gigabytes"), ("dask_worker_memory_gb", "gigabytes"),
                           ("dask_worker_cpu", "cores")):  # fmt: skip
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{source}: {name} must be a number of {unit} above 0, not {value!r}")
        for name in ("replicas", "worker_replicas", "dask_workers"):
            value = getattr(config, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{source}: {name} must be a whole number >= 1, not {value!r}")
        if config.shadow_of is not None and not isinstance(config.shadow_of, str):
            raise ConfigError(f"{source}: shadow_of must be the name of an environment, not {config.shadow_of!r}")
        share = config.shadow_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise ConfigError(
                f"{source}: shadow_share must be a share of requests above 0 and at most 1, not {share!r}"
            )
        level = config.log_level
        if level is not None and not isinstance(level, int) and level not in logging.getLevelNamesMapping():
            raise ConfigError(f"{source}: log_level must be a number or a level name such as INFO, not {level!r}")
        return config

    def to_dict(self) -> dict[str, Any]:
        """The settings as a file holds them, leaving out what is not set."""
        return {key: value for key, value in asdict(self).items() if value is not None}


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


def app_config_path(root: Path) -> Path:
    return root / "config" / "app_config.yml"


def environment_config_path(root: Path, environment: str) -> Path:
    return root / "config" / f"environment_{environment}.yml"


def load_environment_config(root: Path, environment: str) -> EnvironmentConfig:
    """The environment's config file, checked; the defaults where it has none."""
    path = environment_config_path(root, environment)
    return EnvironmentConfig.from_dict(read_yaml(path), path.name) if path.is_file() else EnvironmentConfig()
