"""Settings: app config, one environment's config and the environment variables, resolved into what one process
needs to know."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .app_config import (
    AppConfig,
    EnvironmentConfig,
    app_config_path,
    check_environment_name,
    load_app_config,
    load_environment_config,
)
from .errors import ConfigError
from .variables import Variables, read_variables

# The app's name: its package, its component in component_config.yml, its namespaces.
APP_NAME = __package__.partition(".")[0]
DEFAULT_ENVIRONMENT = "integration"
SELECTED_ENVIRONMENT_FILE = ".selected_environment"  # per checkout, gitignored


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
        return kubernetes_namespace(self.environment)

    def for_environment(self, environment: str) -> Settings:
        """The same settings working on another environment (its own environment config, same app config)."""
        check_environment_name(environment)
        return replace(
            self, environment=environment, environment_config=load_environment_config(self.root, environment)
        )

    def with_state_dir(self, state_dir: Path) -> Settings:
        """The same settings with all local state (DuckDB file, MLflow registry and artifacts) in `state_dir`."""
        return replace(self, state_dir=state_dir, **state_locations(state_dir))


def kubernetes_namespace(environment: str) -> str:
    """Where `environment`'s app, worker and Redis run in the cluster: one namespace per environment."""
    return f"{APP_NAME}-{environment}".replace("_", "-")


def cluster_service_url(environment: str) -> str:
    """`environment`'s web app as the cluster's other pods reach it: its Service, in its namespace."""
    return f"http://{APP_NAME.replace('_', '-')}.{kubernetes_namespace(environment)}.svc.cluster.local"


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
    # An editable install: src/<package>/config/settings.py sits three folders below the app.
    package_root = Path(__file__).resolve().parents[3]
    if app_config_path(package_root).is_file():
        return package_root
    raise ConfigError(f"no config/app_config.yml in {here} or above it; run from the app folder or set APP_ROOT")


def selected_environment(root: Path, variables: Variables) -> str:
    """APP_ENVIRONMENT, else the environment selected in this checkout, else integration."""
    if variables.app_environment:
        return check_environment_name(variables.app_environment)
    selected = root / SELECTED_ENVIRONMENT_FILE
    if selected.is_file() and selected.read_text().strip():
        return check_environment_name(selected.read_text().strip())
    return DEFAULT_ENVIRONMENT


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
