"""Model versions, their scores and lineage, and what each environment runs, in the MLflow model registry.

Every trained model is a registered version carrying its scores and lineage as tags; each environment is an alias
naming the version it serves, and a registered-model tag naming the app version it runs with its app config.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ..config import switch_off_mlflow_telemetry

switch_off_mlflow_telemetry()

import mlflow  # noqa: E402  (after the telemetry switch)
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from .audit_trail import AuditTrail  # noqa: E402
from .records import (  # noqa: E402
    APP_TAG,
    CHALLENGER_TAG,
    ENVIRONMENT_TAG,
    SHADOW_TAG,
    Deployment,
    RegistryError,
    Shadow,
)


class _NotTheCloudpickleWarning(logging.Filter):
    """MLflow warns, at every model it logs or loads, that unpickling can run code: the app loads only its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "cloudpickle" not in record.getMessage().lower()


logging.getLogger("mlflow.sklearn").addFilter(_NotTheCloudpickleWarning())  # versions from before packaged models
logging.getLogger("mlflow.pyfunc").addFilter(_NotTheCloudpickleWarning())
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)
logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)  # we pass pip_requirements ourselves

MODEL_ARTIFACT = "model"


@dataclass(frozen=True)
class ServedAs:
    """What a model answers and what it is asked: the column it predicts, and the input columns with their types
    (config/app_config.yml `schema`), shown by a few rows of them."""

    target: str
    input_schema: dict[str, str]
    example: pd.DataFrame
    time_formats: dict[str, str] = field(default_factory=dict)  # the time column, and how its dates may be written


@dataclass(frozen=True)
class ModelVersion:
    version: int
    score: float | None
    score_type: str
    champion_score: float | None
    passed: bool
    environment: str
    training_rows: int | None
    held_out_rows: int | None  # rows of the table then that it never trained on
    test_rows: int | None  # the rows it and the champion it met were scored on
    data_hash: str
    git_sha: str
    created_by: str
    created: datetime
    params: dict[str, Any] = field(default_factory=dict)
    input_schema: dict[str, str] = field(default_factory=dict)  # column -> type a prediction request must have
    holdout: str = ""  # the rule that chose the rows it never trained on (JSON; empty in versions from before rules)
    serving: tuple[str, ...] = ()  # environments whose alias names this version
    trigger: str = ""  # what started the retrain that made it
    awaiting_approval: bool = False  # it beat the champion where a person promotes (auto_promote: false)
    trees: int | None = None  # that each prediction walks through (every class's, every ensemble member's)
    predict_ms_per_1000_rows: float | None = None  # measured when it was trained, on one thread

    @classmethod
    def from_mlflow(cls, version, serving: tuple[str, ...]) -> ModelVersion:
        tags = version.tags

        def number(key: str, kind=float):
            return kind(tags[key]) if tags.get(key) not in (None, "", "None") else None

        return cls(
            version=int(version.version),
            score=number("score"),
            score_type=tags.get("score_type", ""),
            champion_score=number("champion_score"),
            passed=tags.get("passed") == "true",
            environment=tags.get(ENVIRONMENT_TAG, ""),
            training_rows=number("training_rows", int),
            held_out_rows=number("held_out_rows", int),
            test_rows=number("test_rows", int),
            data_hash=tags.get("data_hash", ""),
            git_sha=tags.get("git_sha", ""),
            created_by=tags.get("created_by", ""),
            created=datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC),
            params=json.loads(tags.get("params", "{}")),
            input_schema=json.loads(tags.get("input_schema", "{}")),
            holdout=tags.get("holdout", ""),
            serving=serving,
            trigger=tags.get("trigger", ""),
            awaiting_approval=tags.get("awaiting_approval") == "true",
            trees=number("trees", int),
            predict_ms_per_1000_rows=number("predict_ms_per_1000_rows"),
        )


class ModelRegistry(AuditTrail):
    """The registered model's versions, the version (alias) and app version each environment runs, the challengers;
    and, from AuditTrail, the history of every change."""

    def __init__(self, tracking_uri: str, artifact_root: str, model_name: str):
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.model_name = model_name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def prepare(self) -> None:
        """Create the registry's database if it is new. Do it in one process before starting several: processes
        that each find a new SQLite database run MLflow's schema migrations at once, and all but one fail."""
        self.client.search_experiments(max_results=1)  # the tracking store's tables
        self.aliases()  # the model registry's

    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.model_name)
        if experiment is not None:
            return experiment.experiment_id
        # An explicit artifact location: otherwise MLflow writes to ./mlruns of whatever folder it runs in.
        location = f"{self.artifact_root.rstrip('/')}/{self.model_name}"
        return self.client.create_experiment(self.model_name, artifact_location=location)

    def aliases(self) -> dict[str, int]:
        """environment -> the version it serves."""
        model = self._registered_model()
        return {alias: int(version) for alias, version in model.aliases.items()} if model else {}

    def champion_version(self, environment: str) -> int | None:
        return self.aliases().get(environment)

    def _use_globally(self) -> None:
        # MLflow's logging and loading functions read the process-wide URIs, not the client's.
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    def load(self, version: int):
        """The fitted pipeline of `version`."""
        self._use_globally()
        paths = set(sys.path)
        loaded = mlflow.pyfunc.load_model(f"models:/{self.model_name}/{version}")
        # MLflow puts the version's code (a partial copy of this app) ahead of the app on sys.path, for good; the
        # processes started from this one afterwards (a Dask cluster's workers) then imported that copy, which lacks
        # most of the app. This process already holds the app's modules, which the model uses.
        sys.path[:] = [path for path in sys.path if path in paths]
        try:
            return loaded.unwrap_python_model().pipeline
        except MlflowException:  # a version logged before models were packaged: scikit-learn's flavor
            return loaded.get_raw_model()

    def register(
        self,
        model,
        served_as: ServedAs,
        tags: dict[str, Any],
        params: dict[str, Any],
        metrics: dict[str, float],
    ) -> int:
        """Log `model` in a run of its own, packaged to be served by any MLflow tool (packaged_model.py), and register
        it as a new version carrying `tags`."""
        # Here, not at the top: the tracking server loads this module (tracking_server/) without the model's libraries.
        from ..packaged_model import log_packaged_model

        self._use_globally()
        tags = {**tags, "input_schema": json.dumps(served_as.input_schema)}
        with mlflow.start_run(experiment_id=self._experiment_id()) as run:
            mlflow.log_params(params)
            mlflow.log_metrics({key: value for key, value in metrics.items() if value is not None})
            mlflow.set_tags({key: str(value) for key, value in tags.items()})
            logged = log_packaged_model(model, served_as, name=MODEL_ARTIFACT)
        self._create_registered_model()
        version = self.client.create_model_version(
            self.model_name,
            source=logged.model_uri,
            run_id=run.info.run_id,
            model_id=logged.model_id,
            tags={key: str(value) for key, value in {**tags, "params": json.dumps(params)}.items()},
        )
        return int(version.version)

    def _create_registered_model(self) -> None:
        try:
            self.client.create_registered_model(self.model_name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def set_alias(self, environment: str, version: int) -> None:
        self.client.set_registered_model_alias(self.model_name, environment, str(version))

    def delete_alias(self, environment: str) -> bool:
        """Stop `environment` serving any version; False if it served none."""
        if environment not in self.aliases():
            return False
        self.client.delete_registered_model_alias(self.model_name, environment)
        return True

    def challengers(self) -> dict[str, str]:
        """challenger environment -> the environment it was copied from."""
        model = self._registered_model()
        tags = model.tags if model else {}
        return {
            key.removeprefix(CHALLENGER_TAG): json.loads(value)["from"]
            for key, value in tags.items()
            if key.startswith(CHALLENGER_TAG)
        }

    def challenger_created(self, name: str) -> datetime | None:
        """When challenger `name` was created (or made again with --replace); None if it is no challenger."""
        model = self._registered_model()
        record = model.tags.get(CHALLENGER_TAG + name) if model else None
        return datetime.fromisoformat(json.loads(record)["created_at"]) if record else None

    def record_challenger(self, name: str, from_environment: str, created_by: str) -> None:
        self._create_registered_model()
        record = {"from": from_environment, "created_by": created_by, "created_at": datetime.now(UTC).isoformat()}
        self.client.set_registered_model_tag(self.model_name, CHALLENGER_TAG + name, json.dumps(record))

    def forget_challenger(self, name: str) -> None:
        if name in self.challengers():
            self.client.delete_registered_model_tag(self.model_name, CHALLENGER_TAG + name)

    def shadows(self) -> list[Shadow]:
        """The environments that shadow another, by name."""
        return shadows_in(self._registered_model())

    def serving(self, environment: str) -> tuple[int | None, list[Shadow]]:
        """The version `environment` serves and the environments that shadow it, read in one request (what its web
        processes check every model_refresh_seconds)."""
        model = self._registered_model()
        version = model.aliases.get(environment) if model else None
        shadows = [shadow for shadow in shadows_in(model) if shadow.shadow_of == environment]
        return (None if version is None else int(version)), shadows

    def record_shadow(self, shadow: Shadow) -> None:
        self._create_registered_model()
        record = {"shadow_of": shadow.shadow_of, "share": shadow.share, "url": shadow.url}
        self.client.set_registered_model_tag(self.model_name, SHADOW_TAG + shadow.name, json.dumps(record))

    def forget_shadow(self, name: str) -> None:
        if any(shadow.name == name for shadow in self.shadows()):
            self.client.delete_registered_model_tag(self.model_name, SHADOW_TAG + name)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn a registry that cannot be reached or read into one RegistryError that names it."""
        try:
            yield
        except MlflowException as error:
            raise RegistryError(f"the model registry at {self.tracking_uri} could not be read: {error}") from error

    def _registered_model(self):
        """The registered model, or None before the first version; a RegistryError if the registry cannot be read."""
        with self._reading():
            try:
                return self.client.get_registered_model(self.model_name)
            except MlflowException as error:
                if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return None
                raise

    def deployment(self, environment: str) -> Deployment:
        """What `environment` runs now, read in one request."""
        return self.deployments().get(environment, Deployment())

    def deployments(self) -> dict[str, Deployment]:
        """What every environment that runs something runs, read in one request."""
        model = self._registered_model()
        if model is None:
            return {}
        apps = {
            key.removeprefix(APP_TAG): json.loads(value) for key, value in model.tags.items() if key.startswith(APP_TAG)
        }
        return {
            environment: Deployment(
                int(model.aliases[environment]) if environment in model.aliases else None,
                apps.get(environment, {}).get("version"),
                apps.get(environment, {}).get("app_config") or {},
            )
            for environment in sorted({*model.aliases, *apps})
        }

    def set_app(self, environment: str, version: str, app_config: dict[str, Any]) -> None:
        self._create_registered_model()
        record = json.dumps({"version": version, "app_config": app_config})
        self.client.set_registered_model_tag(self.model_name, APP_TAG + environment, record)

    def delete_app(self, environment: str) -> None:
        model = self._registered_model()
        if model is not None and APP_TAG + environment in model.tags:
            self.client.delete_registered_model_tag(self.model_name, APP_TAG + environment)

    def version(self, version: int) -> ModelVersion | None:
        """Version `version`, or None if the registry holds no such version."""
        with self._reading():
            try:
                found = self.client.get_model_version(self.model_name, str(version))
            except MlflowException as error:
                if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return None
                raise
        serving = tuple(sorted(env for env, served in self.aliases().items() if served == version))
        return ModelVersion.from_mlflow(found, serving)

    def versions(self) -> list[ModelVersion]:
        """Every version, newest first, each with the environments it serves."""
        serving: dict[int, list[str]] = {}
        for environment, version in self.aliases().items():
            serving.setdefault(version, []).append(environment)
        with self._reading():
            found = self.client.search_model_versions(f"name = '{self.model_name}'")
        versions = [ModelVersion.from_mlflow(v, tuple(sorted(serving.get(int(v.version), [])))) for v in found]
        return sorted(versions, key=lambda v: v.version, reverse=True)


def open_registry(settings) -> ModelRegistry:
    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root, settings.app.model_name)


def shadows_in(model) -> list[Shadow]:
    """The shadow records among a registered model's tags (none before its first version), by name."""
    tags = model.tags if model else {}
    found = [Shadow(key.removeprefix(SHADOW_TAG), **json.loads(value)) for key, value in tags.items()
             if key.startswith(SHADOW_TAG)]  # fmt: skip
    return sorted(found, key=lambda shadow: shadow.name)
